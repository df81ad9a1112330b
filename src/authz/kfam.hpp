#pragma once
// KfamApi: Kubeflow's access-management API (kfam) and the central dashboard's workgroup API,
// with Kubeflow's paths and JSON shapes, so that Kubeflow's dashboard and kfam clients work
// against skiff:
//
//   GET    /kfam/v1/bindings?user=&namespace=&role=   {"bindings": [Binding...]}
//   POST   /kfam/v1/bindings      body Binding         add a contributor (RoleBinding)
//   DELETE /kfam/v1/bindings      body Binding         remove it
//   GET    /kfam/v1/role/clusteradmin?user=            true | false
//   POST   /kfam/v1/profiles      body Profile         create (rules of /api/workgroup/create)
//   DELETE /kfam/v1/profiles/NAME                      delete (its owner or a cluster admin)
//   GET    /api/workgroup/exists      {hasAuth, user, hasWorkgroup, registrationFlowAllowed}
//   GET    /api/workgroup/env-info    {user, groups, platform, namespaces: [{namespace, role,
//                                      user}], isClusterAdmin}
//   POST   /api/workgroup/create      body {namespace?, user?}  -> {message}
//   DELETE /api/workgroup/nuke-self   the caller's own Profile (first by name) -> {message}
//   GET    /api/workgroup/get-contributors/NS                   -> ["bob@example.com", ...]
//   POST   /api/workgroup/add-contributor/NS     body {contributor}  -> contributors
//   DELETE /api/workgroup/remove-contributor/NS  body {contributor}  -> contributors
//
// Binding: {"user": {"kind": "User", "name": "bob@example.com"}, "referredNamespace": "alice",
// "RoleRef": {"kind": "ClusterRole", "name": "edit"}} (role names admin | edit | view stand for
// the ClusterRoles kubeflow-admin | -edit | -view; "roleRef" is accepted in requests too). A
// binding is the RoleBinding kfam creates: `user-<sanitised email>-clusterrole-<role>` with
// annotations user and role.
//
// Authorization (the Authorizer, not kfam's owner-only check): adding or removing a binding
// needs create / delete on rolebindings.rbac.authorization.k8s.io in that namespace (cluster
// admins and the namespace's kubeflow-admins). A listing shows a binding when the caller may
// list RoleBindings in its namespace or is the binding's user. Errors are
// {"error", "code", "message"} with 400, 401, 403, 404 or 409.
//
// Threading: Handle blocks (store) and must run on the blocking pool; thread-safe.

#include <functional>
#include <string>
#include <vector>

#include "authz/authz.hpp"
#include "authz/registration.hpp"
#include "core/clock.hpp"
#include "http/http.hpp"
#include "store/store.hpp"

namespace skiff::authz {

struct KfamOptions {
  // profiles.registrationFlow: users without a namespace may create one with
  // /api/workgroup/create (the dashboard's registration page). Cluster admins always may.
  bool registration_flow = true;
  std::string kubeflow_version;        // platform.kubeflowVersion in env-info
  std::string logout_url = "/logout";  // platform.logoutUrl
  // auth.admins: users who are cluster admins. /kfam/v1/role/clusteradmin about another user
  // (whose Principal, groups and admin flag, are not at hand) answers from this list and the
  // Authorizer's RoleBindings.
  std::vector<std::string> admin_users;
  // Called after each RoleBinding this API creates or deletes (the store's result), so that the
  // Authorizer applies it before the response: the next request already sees it. May be empty.
  std::function<void(const store::Object& obj, bool deleted)> on_write;
};

class KfamApi {
 public:
  // All references must outlive this object.
  KfamApi(store::Store& store, const Authorizer& authorizer, Registration& registration,
          Clock& clock, KfamOptions options);

  // Whether `path` is one this API serves (/kfam/... or /api/workgroup/...).
  static bool Serves(std::string_view path);

  // Serves one request; uses req.principal (401 without one). Blocking.
  http::Response Handle(http::Request& req);

  // Whether `who` is a cluster admin (Principal::cluster_admin, or the Authorizer lets them
  // create Profiles, which only cluster admins may).
  bool IsClusterAdmin(const Principal& who) const;

 private:
  http::Response ListBindings(const http::Request& req, const Principal& who);
  http::Response ChangeBinding(const http::Request& req, const Principal& who, bool create);
  http::Response ClusterAdmin(const http::Request& req, const Principal& who);
  http::Response Exists(const Principal& who);
  http::Response EnvInfo(const Principal& who);
  http::Response Create(const http::Request& req, const Principal& who);
  http::Response CreateProfile(const http::Request& req, const Principal& who);
  http::Response NukeSelf(const Principal& who);
  // Creates Profile `ns` (empty: derived from the owner) for `owner` (empty: `who`): cluster
  // admins for anyone; others for themselves, once, while registration_flow is on.
  Result<std::string> CreateFor(const Principal& who, std::string ns, std::string owner);
  // Deletes Profile `name` if `who` owns it or is a cluster admin.
  Status DeleteOwnedProfile(const Principal& who, const std::string& name);
  http::Response Contributors(const http::Request& req, const Principal& who, const std::string& ns,
                              int change);

  store::Store& store_;
  const Authorizer& authorizer_;
  Registration& registration_;
  Clock& clock_;
  const KfamOptions options_;
};

}  // namespace skiff::authz
