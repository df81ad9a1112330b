#pragma once
// RbacAuthorizer: the Authorizer of authz.hpp over skiff's roles (roles.hpp), the RoleBindings in
// the store and the group mapping of skiff.yaml (`authz.groups`).
//
// Decision order: (1) cluster admins (Principal::cluster_admin, or a group mapped to
// clusterAdmin) may do everything; (2) every authenticated user may create the self reviews
// (SelfSubjectAccessReview, SelfSubjectRulesReview, SelfSubjectReview); (3) cluster scope
// (an empty namespace: cluster-scoped kinds, and list/watch across all namespaces) is denied,
// except `get` (and `watch`) of a Namespace or Profile named like a namespace where the user holds
// a role; (4) in a namespace, a RoleBinding there naming the user (or one of its groups), or a
// group mapping listing the namespace, grants its role's rules. Deny reasons name the missing
// permission: the lowest role that would grant it.
//
// Staleness bound: 0 for writes made through skiff. The index of RoleBindings is an immutable
// snapshot swapped atomically; it is kept by a list+watch of the store (other writers, e.g. a
// second skiff on the same database: bounded by the watch's delivery, typically milliseconds),
// and the resource API feeds every RoleBinding write it commits to Observe() before it answers
// (api::ApiOptions::on_write), so the request after a `kubectl delete rolebinding` already
// decides without it. Watch events and Observe calls are applied idempotently by
// resourceVersion (an older event never undoes a newer one, deletions included).
//
// Threading: Decide and NamespacesOf never block and are thread-safe (one snapshot load).
// Observe and the watch callback take a short mutex; Start/Stop from one thread.

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "authz/authz.hpp"
#include "authz/rolebinding.hpp"
#include "core/json.hpp"
#include "store/store.hpp"

namespace skiff::authz {

// One entry of `authz.groups`:
//   authz:
//     groups:
//       admin:       {clusterAdmin: true}
//       datascience: {role: kubeflow-edit, namespaces: [team-a, team-b]}
//       validator:   {role: kubeflow-view, namespaces: [team-a, team-b]}
// A member of the group (the identity provider's group name, exact match) is a cluster admin,
// or holds `role` in each listed namespace, as if a RoleBinding there named the group.
struct GroupMapping {
  std::string group;
  bool cluster_admin = false;
  std::string role;                     // empty when cluster_admin
  std::vector<std::string> namespaces;  // non-empty when role is set
};

// Parses and validates the `authz.groups` section (null or an empty map: no mapping). Errors
// name the setting path: `authz.groups.datascience.role: "editor" is not a role: use ...`.
Result<std::vector<GroupMapping>> ParseGroupMappings(const json::value& section);

struct RbacOptions {
  // auth.admins and auth.adminGroups: only to name the rule that made someone a cluster admin
  // (Principal::cluster_admin, set by authentication, is what decides).
  std::vector<std::string> admin_users;
  std::vector<std::string> admin_groups;
  std::vector<GroupMapping> groups;
};

class RbacAuthorizer final : public Authorizer {
 public:
  // `store` must outlive this object.
  RbacAuthorizer(store::Store& store, RbacOptions options);
  ~RbacAuthorizer() override;  // Stop()
  RbacAuthorizer(const RbacAuthorizer&) = delete;
  RbacAuthorizer& operator=(const RbacAuthorizer&) = delete;

  // Lists the RoleBindings (the first snapshot is published before it returns) and watches.
  // Blocking (store I/O). Errors are the store's.
  Status Start();
  void Stop();

  Decision Decide(const Principal& who, const Attributes& what) const override;
  // No strings: about 5x cheaper than Decide on an allowed request.
  bool Allows(const Principal& who, const Attributes& what) const override;
  // The same, and `detail` (when not null) gets the reason without the request restated: for a
  // deny, what is missing (`needs kubeflow-edit in "team-b"; holds RoleBinding team-b/x
  // (kubeflow-view)`), which the resource API appends to its 403 message; for an allow, the
  // role (`kubeflow-edit`, `cluster admin`).
  Decision Decide(const Principal& who, const Attributes& what, std::string* detail) const;
  std::vector<NamespaceRole> NamespacesOf(const Principal& who) const override;

  // Whether auth.admins or auth.adminGroups name `who` (for SubjectAccessReview, which asks
  // about a user authentication has not seen).
  bool ConfiguredAdmin(const Principal& who) const;

  // A RoleBinding write committed to the store: the object as the store returned it (for a
  // delete, the last state with the deletion's resource version). Applied before returning, so
  // the next Decide sees it. Objects of other resources are ignored. Thread-safe.
  void Observe(const store::Object& obj, bool deleted);

  // How many snapshots have been published (tests wait on it).
  uint64_t generation() const { return generation_.load(); }

 private:
  struct Snapshot;
  struct Entry {
    int64_t resource_version = 0;
    std::shared_ptr<const Binding> binding;  // null: deleted (a tombstone) or invalid
  };

  // REQUIRES: mu_ held.
  void ApplyLocked(const store::Object& obj, bool deleted);
  void PublishLocked();
  Status Relist();
  Status StartWatch(int64_t from_version);
  void Run();

  store::Store& store_;
  const RbacOptions options_;
  std::atomic<std::shared_ptr<const Snapshot>> snapshot_;
  std::atomic<uint64_t> generation_{0};

  std::mutex mu_;  // guards the fields below
  // "ns/name" -> latest known state. Tombstones are dropped once the watch has passed their
  // version (it delivers in order, so nothing older can arrive after).
  std::map<std::string, Entry> entries_;
  int64_t watch_version_ = 0;  // highest version the list or the watch has delivered
  std::condition_variable cv_;
  bool rewatch_ = false;
  bool stopping_ = false;
  std::unique_ptr<store::Watch> watch_;
  std::thread thread_;
};

}  // namespace skiff::authz
