#pragma once
// The access reviews kubectl asks (authorization.k8s.io/v1, computed, never stored):
// SelfSubjectAccessReview (`kubectl auth can-i VERB RESOURCE [-n NS]`),
// SelfSubjectRulesReview (`kubectl auth can-i --list [-n NS]`) and SubjectAccessReview (about
// another user: `skiff auth can-i --as USER`; cluster admins only, as RBAC allows nobody else
// to create it), answered by the Authorizer.
// Registered as kinds with a KindInfo::review hook, so they appear in discovery and go through
// the resource API (and its authorization: every authenticated user may create them).

#include "api/kind.hpp"
#include "authz/authorizer.hpp"

namespace skiff::authz {

// The review of one SelfSubjectAccessReview body: `obj` with status{allowed, reason} filled.
// InvalidArgument when the spec names neither (or both) resourceAttributes and
// nonResourceAttributes. With `kinds`, a namespace given for a cluster-scoped kind is ignored.
Result<json::object> AccessReview(const Authorizer& authorizer, const Principal& who,
                                  json::object obj, const api::KindRegistry* kinds = nullptr);
// The review of one SelfSubjectRulesReview body (spec.namespace): `obj` with
// status{resourceRules, nonResourceRules, incomplete} filled.
Result<json::object> RulesReview(const Authorizer& authorizer, const Principal& who,
                                 json::object obj);

// The review of a SubjectAccessReview (spec.user, spec.groups, spec.resourceAttributes): as
// AccessReview for that user, a cluster admin when auth.admins/adminGroups name it.
Result<json::object> SubjectReview(const RbacAuthorizer& authorizer, json::object obj,
                                   const api::KindRegistry* kinds = nullptr);

// Registers the three kinds. `authorizer` must outlive the registry's users.
Status RegisterReviewKinds(api::KindRegistry& registry, const RbacAuthorizer& authorizer);

}  // namespace skiff::authz
