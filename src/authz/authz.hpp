#pragma once
// skiff_authz: authorization. Owns the roles (kubeflow-admin / kubeflow-edit / kubeflow-view and
// cluster admin), the RoleBinding and Profile kinds, the group mapping from skiff.yaml, and the
// one decision function every service asks: `Decide(who, attributes) -> Decision`. Profiles
// (per-user namespaces), the registration flow and the Kubeflow access-management API (kfam)
// live here too. Depends on skiff_core, skiff_store and skiff_api (kinds, RequestInfo); knows
// nothing of routing, serving or pipelines: they translate their requests into Attributes.
//
// Threading: Authorizer::Decide is non-blocking and thread-safe (it reads an immutable policy
// snapshot swapped atomically), so I/O threads may call it.

#include <memory>
#include <string>
#include <vector>

#include "core/principal.hpp"

namespace skiff::authz {

// What a request wants to do, as Kubernetes' authorization attributes.
struct Attributes {
  // get, list, watch, create, update, patch, delete, deletecollection; "predict" for model
  // inference calls (resource inferenceservices); KFP's verbs (archive, unarchive, terminate,
  // retry, readArtifact, reportMetrics) on pipelines.kubeflow.org resources.
  std::string verb;
  std::string group;        // API group: "" (core), "serving.kserve.io", "kubeflow.org", ...
  std::string resource;     // plural: "inferenceservices", "rolebindings", "runs", "profiles"
  std::string subresource;  // "status", "versions", or empty
  std::string ns;           // empty: cluster scope (or all namespaces for list/watch)
  std::string name;         // empty: the collection

  // "delete inferenceservices.serving.kserve.io "m" in namespace "team-b"" (for messages).
  std::string ToString() const;
};

struct Decision {
  bool allowed = false;
  // Why, for people: `alice@example.com may "delete" inferenceservices.serving.kserve.io in
  // namespace "team-a" (kubeflow-edit)` or `... may not ...: needs kubeflow-edit in "team-b"; no
  // RoleBinding or group mapping gives alice@example.com a role there` (the missing permission).
  // Never contains a credential.
  std::string reason;
  // What decided: `RoleBinding team-a/user-alice-example-com-clusterrole-edit (kubeflow-edit)`,
  // `auth.admins (user root@example.com)`, `auth.adminGroups (group ops)`,
  // `authz.groups.datascience (kubeflow-edit in team-a)`, `bootstrap token`; empty on a deny that
  // no rule matched.
  std::string rule;
};

// A namespace where a principal holds a role, and which one (for kfam, the dashboard's
// namespace selector and list filtering).
struct NamespaceRole {
  std::string ns;
  std::string role;  // "kubeflow-admin", "kubeflow-edit", "kubeflow-view"
  std::string rule;  // as Decision::rule
};

class Authorizer {
 public:
  virtual ~Authorizer() = default;
  // Never blocks. Cluster admins are allowed everything; everyone else only what a role bound
  // to them (RoleBinding or group mapping) grants in `what.ns`.
  virtual Decision Decide(const Principal& who, const Attributes& what) const = 0;
  // Decide(who, what).allowed without writing the reason: for request paths (every model call)
  // that want the reason only when refusing (then call Decide). Never blocks.
  virtual bool Allows(const Principal& who, const Attributes& what) const {
    return Decide(who, what).allowed;
  }
  // Every namespace where `who` holds a role, sorted by name (cluster admins: only their bound
  // or mapped namespaces, not all of them).
  virtual std::vector<NamespaceRole> NamespacesOf(const Principal& who) const = 0;
};

}  // namespace skiff::authz
