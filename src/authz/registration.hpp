#pragma once
// The registration flow: a user who signs in and has no namespace of their own gets a Profile
// (and so a namespace) named after their e-mail, as Kubeflow's central dashboard offers on first
// login, but without the form when `profiles.autoCreate` is on.
//
// Where it hooks: every authenticated request passes the gateway's dispatch step, which calls
// Registration::OnRequest with the Principal (browser sessions, bearer JWTs, ALB and trusted
// headers alike; static tokens such as the bootstrap admin token are not people and are
// skipped). OnRequest answers from a per-thread set of users already registered (no shared
// state touched), then from the shared one under a reader lock; the first request of a user posts
// EnsureProfile to the blocking pool and does not wait for it (a failure is retried on a request
// after retry_after). A user seen once is not looked at again by this process: a Profile deleted
// later comes back at the next start, or from the dashboard. The dashboard's /api/workgroup/exists
// calls EnsureProfile directly (blocking handler), so the dashboard's first answer already has the
// workgroup.
//
// "Has no namespace": owns no Profile (spec.owner.name) and holds no admin RoleBinding
// (annotations user=<name>, role=admin, as kfam and Kubeflow's dashboard count owners). Being a
// contributor elsewhere does not count, as in Kubeflow.
//
// Names: ProfileNameFor("alice@example.com") = "alice" (or "alice-example-com" with
// name_from = "email"), with the configured prefix, DNS-1123 sanitised; when that name is a
// Profile or a Namespace already (or reserved: default, kube-system, kubeflow, ...), the
// next of "alice-2", "alice-3", ... that is free. An existing namespace is never taken.
//
// Threading: OnRequest never blocks. EnsureProfile blocks (store) and is serialised by one
// mutex, so concurrent first requests create one Profile.

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "core/clock.hpp"
#include "core/principal.hpp"
#include "core/result.hpp"
#include "http/http.hpp"
#include "store/store.hpp"

namespace skiff::authz {

struct RegistrationOptions {
  bool auto_create = true;  // profiles.autoCreate
  std::string name_prefix;  // profiles.namePrefix, e.g. "u-"
  // profiles.nameFrom: "local-part" (alice@example.com -> alice) or "email" (-> alice-example-com).
  std::string name_from = "local-part";
  int max_suffix = 1000;  // alice-2 .. alice-<max_suffix>
  // After a failed background creation, the user's requests do not try again for this long.
  std::chrono::milliseconds retry_after{30'000};
};

// Validates the options (name_from, prefix characters). InvalidArgument naming the setting.
Status ValidateRegistrationOptions(const RegistrationOptions& options);

// The base name for `user` (before collision handling): DNS-1123 label, at most 57 characters
// (room for a "-NNNNN" suffix). Never empty ("user" when nothing usable is left).
std::string ProfileNameFor(std::string_view user, const RegistrationOptions& options);

// Names that are never given to a user: Kubernetes' and Kubeflow's system namespaces (default,
// kube-system, kube-public, kube-node-lease, kubeflow, istio-system, auth, cert-manager,
// knative-serving, skiff-system).
bool IsReservedNamespace(std::string_view name);

// Whether the principal is a person the registration flow is for (not a static token, not a
// system: identity, not empty).
bool IsRegistrable(const Principal& who);

class Registration {
 public:
  // `store`, `blocking` and `clock` must outlive this object (and every task it posted: stop
  // the blocking pool first).
  Registration(store::Store& store, http::TaskRunner& blocking, Clock& clock,
               RegistrationOptions options);

  const RegistrationOptions& options() const { return options_; }

  // Non-blocking. With auto_create, starts EnsureProfile in the background for a registrable
  // user not seen before.
  void OnRequest(const Principal& who);

  // Blocking. The name of a namespace `user` owns (a Profile they own, or a namespace where an
  // admin RoleBinding names them), or empty.
  Result<std::string> OwnedWorkgroup(const std::string& user);

  // Blocking. Returns the owned workgroup, creating a Profile when there is none. `created` is
  // set when this call created it.
  Result<std::string> EnsureProfile(const std::string& user, bool* created = nullptr);

  // Blocking. Creates Profile `name` owned by `owner` (the dashboard's /api/workgroup/create).
  // AlreadyExists when a Profile or Namespace of that name exists; InvalidArgument when the name
  // is not a DNS-1123 label or is reserved.
  Status CreateProfile(const std::string& name, const std::string& owner);

 private:
  Result<bool> NameTaken(const std::string& name);
  Status CreateLocked(const std::string& name, const std::string& owner);

  store::Store& store_;
  http::TaskRunner& blocking_;
  Clock& clock_;
  const RegistrationOptions options_;

  const uint64_t id_;  // tells instances apart in OnRequest's per-thread cache

  std::shared_mutex seen_mu_;  // guards seen_ and retry_at_
  // Users handled: true once their workgroup exists, false while the creation runs.
  std::unordered_map<std::string, bool> seen_;
  // Users whose creation failed (store error, no free name): not retried before this time
  // (clock_'s steady time), so a failing store is not asked again on every request.
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> retry_at_;
  std::mutex create_mu_;  // serialises look-up + create
};

}  // namespace skiff::authz
