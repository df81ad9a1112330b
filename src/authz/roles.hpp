#pragma once
// The roles skiff knows, as data: Kubeflow's aggregated ClusterRoles kubeflow-view,
// kubeflow-edit and kubeflow-admin (each the one before plus more), and what every
// authenticated user may do (Kubernetes' system:basic-user: ask what it may do). Cluster admin
// is not a role here: the Authorizer allows cluster admins everything before roles are read.
// Constant data; thread-safe.

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace skiff::authz {

inline constexpr std::string_view kViewRole = "kubeflow-view";
inline constexpr std::string_view kEditRole = "kubeflow-edit";
inline constexpr std::string_view kAdminRole = "kubeflow-admin";

// One RBAC PolicyRule: every verb on every resource of every group listed. Resources are
// plurals, "plural/subresource" for a subresource; "*" in verbs matches any verb.
struct PolicyRule {
  std::vector<std::string> groups;
  std::vector<std::string> resources;
  std::vector<std::string> verbs;
};

struct Role {
  std::string name;  // "kubeflow-edit"
  // Rank: view 1, edit 2, admin 3. A role grants everything a lower-ranked one grants.
  int rank = 0;
  std::string description;
  std::vector<PolicyRule> rules;  // this role's own rules and those of the roles it aggregates
};

// kubeflow-view, kubeflow-edit, kubeflow-admin, in rank order.
std::span<const Role> Roles();
// The role of that name, or null ("kubeflow-edit"; not "edit").
const Role* FindRole(std::string_view name);

// What every authenticated user may do in any scope: create SelfSubjectAccessReviews,
// SelfSubjectRulesReviews and SelfSubjectReviews (Kubernetes' system:basic-user).
const std::vector<PolicyRule>& BasicUserRules();

// Whether `rules` grant `verb` on group/resource[/subresource].
bool RulesAllow(const std::vector<PolicyRule>& rules, std::string_view verb, std::string_view group,
                std::string_view resource, std::string_view subresource);
// The same for one of Roles() (REQUIRES: `role` is one of them), from an index built once: a
// few map lookups, no allocation without a subresource (Decide runs on request paths).
bool RoleAllows(const Role& role, std::string_view verb, std::string_view group,
                std::string_view resource, std::string_view subresource);
// RulesAllow(BasicUserRules(), ...), indexed likewise.
bool BasicUserAllows(std::string_view verb, std::string_view group, std::string_view resource,
                     std::string_view subresource);

// The lowest-ranked role granting the permission, or null when none does (only cluster admins
// have it: cluster-scoped kinds, unknown resources).
const Role* LowestRoleAllowing(std::string_view verb, std::string_view group,
                               std::string_view resource, std::string_view subresource);

}  // namespace skiff::authz
