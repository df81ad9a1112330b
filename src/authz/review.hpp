#pragma once
// The access reviews kubectl asks (authorization.k8s.io/v1, computed, never stored):
// SelfSubjectAccessReview (`kubectl auth can-i VERB RESOURCE [-n NS]`) and
// SelfSubjectRulesReview (`kubectl auth can-i --list [-n NS]`), answered by an Authorizer.
// Registered as kinds with a KindInfo::review hook, so they appear in discovery and go through
// the resource API (and its authorization: every authenticated user may create them).

#include "api/kind.hpp"
#include "authz/authz.hpp"

namespace skiff::authz {

// The review of one SelfSubjectAccessReview body: `obj` with status{allowed, reason} filled.
// InvalidArgument when the spec names neither (or both) resourceAttributes and
// nonResourceAttributes.
Result<json::object> AccessReview(const Authorizer& authorizer, const Principal& who,
                                  json::object obj);
// The review of one SelfSubjectRulesReview body (spec.namespace): `obj` with
// status{resourceRules, nonResourceRules, incomplete} filled.
Result<json::object> RulesReview(const Authorizer& authorizer, const Principal& who,
                                 json::object obj);

// Registers both kinds. `authorizer` must outlive the registry's users.
Status RegisterReviewKinds(api::KindRegistry& registry, const Authorizer& authorizer);

}  // namespace skiff::authz
