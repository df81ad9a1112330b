#pragma once
// The RoleBinding kind (rbac.authorization.k8s.io/v1, namespaced): who holds which Kubeflow role
// in a namespace. Validation follows Kubernetes' (field paths "subjects[0].kind",
// "roleRef.name"; roleRef immutable) and skiff's roles: roleRef must name the ClusterRole
// kubeflow-admin, kubeflow-edit or kubeflow-view. Pure functions; thread-safe.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "api/kind.hpp"
#include "core/clock.hpp"
#include "core/principal.hpp"
#include "store/store.hpp"

namespace skiff::authz {

inline constexpr std::string_view kRbacGroup = "rbac.authorization.k8s.io";
// The store's resource name of RoleBindings.
inline constexpr std::string_view kRoleBindingResource = "rolebindings.rbac.authorization.k8s.io";

struct Subject {
  std::string kind;  // "User", "Group" or "ServiceAccount"
  std::string name;
  std::string ns;  // ServiceAccount only
};

// A RoleBinding as the Authorizer indexes it.
struct Binding {
  std::string ns;
  std::string name;
  std::string role;  // "kubeflow-edit"
  std::vector<Subject> subjects;
  int64_t resource_version = 0;

  // Whether `who` is one of the subjects (User by name, Group by any of who's groups,
  // ServiceAccount as the user "system:serviceaccount:NS:NAME").
  bool Matches(const Principal& who) const;
};

// The RoleBinding's field errors (metadata aside).
api::FieldErrors ValidateRoleBinding(const json::object& obj);
// Errors of an update: roleRef cannot change (as in Kubernetes).
api::FieldErrors ValidateRoleBindingUpdate(const json::object& obj, const json::object& old);

// Reads a stored RoleBinding. InvalidArgument when it does not validate (written by an older
// skiff or directly into the store): the Authorizer then leaves it out.
Result<Binding> ParseBinding(const store::Object& obj);

// The store's resource name of ClusterRoles.
inline constexpr std::string_view kClusterRoleResource = "clusterroles.rbac.authorization.k8s.io";

// Registers RoleBinding and ClusterRole (rbac.authorization.k8s.io/v1). ClusterRoles are
// read-only through the API: skiff's three roles, written by EnsureClusterRoles so that
// `kubectl get clusterroles` and `kubectl describe clusterrole kubeflow-edit` show their rules.
Status RegisterRbacKinds(api::KindRegistry& registry);

// Writes the ClusterRoles kubeflow-view, kubeflow-edit and kubeflow-admin (rules from roles.hpp)
// when missing or different. Start-up code: blocking.
Status EnsureClusterRoles(store::Store& store, Clock& clock);

}  // namespace skiff::authz
