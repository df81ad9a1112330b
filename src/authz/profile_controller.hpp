#pragma once
// ProfileController: keeps every Profile's Namespace, owner RoleBinding and ResourceQuota in
// step with the Profile, as Kubeflow's profile controller does, and writes status.conditions.
//
// - Create/update: the Namespace of the same name is created (labels, `owner` annotation,
//   ownerReference to the Profile) or, when it already exists, adopted only if it is this
//   Profile's (ownerReference) or its `owner` annotation names the same owner; otherwise the
//   Profile reports Ready=False / Failed "namespace already exist, but not owned by profile
//   creator <owner>" and nothing is touched. Then the RoleBinding `namespaceAdmin`
//   (kubeflow-admin for spec.owner) and, when spec.resourceQuotaSpec.hard is set, the
//   ResourceQuota `kf-resource-quota`.
// - Delete: a Namespace whose ownerReference names the Profile is deleted with everything in it
//   (as the API deletes a namespace); in an adopted namespace only the objects the Profile
//   owns (the owner RoleBinding, the quota) go.
// - Idempotent: reconciling twice writes nothing the second time. At Start every Profile is
//   reconciled and objects owned by a Profile that no longer exists (deleted while skiff was
//   down) are collected. Namespaces and RoleBindings are watched too, so a hand-deleted
//   namespace or owner binding comes back.
//
// Threading: one controller thread reconciles (blocking store calls); watch callbacks only
// enqueue names. Start and Stop from one thread.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "api/kind.hpp"
#include "core/clock.hpp"
#include "store/store.hpp"

namespace skiff::authz {

struct ProfileControllerOptions {
  // A reconcile that failed on a store error is retried after this long.
  std::chrono::milliseconds retry_delay{1000};
  // Called after each write the controller commits (the store's result; for a delete the last
  // state), so that the Authorizer sees the owner binding before its watch delivers it. May be
  // empty.
  std::function<void(const store::Object& obj, bool deleted)> on_write;
};

class ProfileController {
 public:
  // `store`, `kinds` (namespaced kinds are deleted with a profile's namespace) and `clock` must
  // outlive the controller.
  ProfileController(store::Store& store, const api::KindRegistry& kinds, Clock& clock,
                    ProfileControllerOptions options = {});
  ~ProfileController();  // Stop()
  ProfileController(const ProfileController&) = delete;
  ProfileController& operator=(const ProfileController&) = delete;

  // Lists Profiles, Namespaces and RoleBindings, queues what needs a look, starts watching and
  // the controller thread. Blocking.
  Status Start();
  void Stop();

  // Reconciles one profile name now, on the calling thread (tests; the controller thread uses
  // it too). Blocking.
  Status Reconcile(const std::string& name);

  // Waits until nothing is queued or running (tests). A write made just before may not have
  // reached the watch yet: wait for its effect.
  bool WaitIdle(std::chrono::milliseconds timeout);

 private:
  void Enqueue(const std::string& name);
  void Run();
  // Lists Profiles, Namespaces and RoleBindings, queues what needs a look and watches all three.
  Status ListAndWatch();
  Status StartWatch(const std::string& resource, int64_t from_version);
  Status EnsureProfile(const store::Object& profile);
  Status CollectOrphans(const std::string& name);
  Status WriteStatus(const store::Object& profile, bool ready, const std::string& reason,
                     const std::string& message);
  // Deletes namespace `ns` and every namespaced object in it, in one transaction.
  Status DeleteNamespace(const std::string& ns);

  store::Store& store_;
  const api::KindRegistry& kinds_;
  Clock& clock_;
  const ProfileControllerOptions options_;

  std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::deque<std::string> queue_;
  std::set<std::string> queued_;
  std::map<std::string, std::chrono::steady_clock::time_point> retries_;
  bool busy_ = false;
  bool stopping_ = false;
  std::vector<std::unique_ptr<store::Watch>> watches_;
  std::thread thread_;
};

}  // namespace skiff::authz
