#pragma once
// The Profile kind (kubeflow.org/v1, cluster-scoped): one user's namespace. And the objects a
// Profile stands for, built the way Kubeflow's profile controller and access-management API
// (kfam) build them, so that Kubeflow tools reading them find what they expect:
// - the Namespace of the same name, labelled as Kubeflow labels user namespaces and annotated
//   `owner: <email>`;
// - the owner RoleBinding `namespaceAdmin` (ClusterRole kubeflow-admin, annotations user/role);
// - contributor RoleBindings `user-<sanitised email>-clusterrole-<edit|view|admin>`.
// Pure functions over JSON; thread-safe.

#include <string>
#include <string_view>

#include "api/kind.hpp"
#include "authz/roles.hpp"  // kAdminRole, kEditRole, kViewRole
#include "core/clock.hpp"
#include "core/json.hpp"

namespace skiff::authz {

inline constexpr std::string_view kProfileGroup = "kubeflow.org";
inline constexpr std::string_view kProfileKind = "Profile";
// Store resource names.
inline constexpr std::string_view kProfileResource = "profiles.kubeflow.org";
inline constexpr std::string_view kNamespaceResource = "namespaces";
// (Also in rolebinding.hpp as kRoleBindingResource / kRbacGroup.)
inline constexpr std::string_view kRoleBindingsResource = "rolebindings.rbac.authorization.k8s.io";
inline constexpr std::string_view kResourceQuotaResource = "resourcequotas";
inline constexpr std::string_view kRbacApiGroup = "rbac.authorization.k8s.io";

// Names Kubeflow uses.
inline constexpr std::string_view kOwnerBindingName = "namespaceAdmin";
inline constexpr std::string_view kProfileQuotaName = "kf-resource-quota";

// Registers kubeflow.org/v1 Profile (plural profiles, status subresource, validated spec), and
// v1beta1 (the same objects) for kfam-era manifests.
Status RegisterProfileKind(api::KindRegistry& registry);

// spec.owner{kind: User, name} required; spec.resourceQuotaSpec.hard values are quantities
// (strings or non-negative integers; object counts "count/..." must be integers).
api::FieldErrors ValidateProfile(const json::object& profile);

// spec.owner.name, or empty.
std::string ProfileOwner(const json::object& profile);

// The labels a profile namespace carries (Kubeflow's defaults).
const json::object& ProfileNamespaceLabels();

// The Namespace for `profile` (labels, owner annotation, ownerReference to the Profile).
json::object ProfileNamespace(const json::object& profile, Clock& clock);
// An ownerReference entry pointing at `profile` (controller: true).
json::object ProfileOwnerReference(const json::object& profile);
// Whether `obj` has an ownerReference to a Profile named `name` (any uid).
bool OwnedByProfile(const json::object& obj, std::string_view name);

// The owner RoleBinding `namespaceAdmin` in the profile's namespace.
json::object OwnerRoleBinding(const json::object& profile, Clock& clock);

// Short role names of the kfam API ("admin", "edit", "view") <-> ClusterRoles
// ("kubeflow-admin", ...). Empty when not one of them.
std::string ClusterRoleForShortRole(std::string_view short_role);
std::string ShortRoleForClusterRole(std::string_view cluster_role);

// kfam's binding name: "<kind>-<user>-<roleRefKind>-<role>" lower-cased with every run of
// characters outside [a-z0-9] replaced by '-': ("User", "alice@example.com", "ClusterRole",
// "edit") -> "user-alice-example-com-clusterrole-edit". (kfam replaces upper-case letters of the
// user name as well; skiff lower-cases them first, which gives the same names for lower-case
// e-mail addresses.)
std::string KfamBindingName(std::string_view subject_kind, std::string_view user,
                            std::string_view role_ref_kind, std::string_view short_role);

// A contributor RoleBinding as kfam creates it: subject {kind: User, name: user}, roleRef
// ClusterRole kubeflow-<short_role>, annotations {user, role: short_role}.
json::object ContributorRoleBinding(std::string_view ns, std::string_view user,
                                    std::string_view short_role, Clock& clock);

// Object metadata for a server-created object (uid, creationTimestamp, generation 1).
json::object NewMetadata(std::string_view name, std::string_view ns, Clock& clock);

}  // namespace skiff::authz
