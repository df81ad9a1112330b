#pragma once
// Builds the RBAC Authorizer from the settings (authz.groups; auth.admins and auth.adminGroups
// name the rule that made someone a cluster admin) and connects it to the resource API.
// Start-up code: blocking.

#include <memory>
#include <vector>

#include "api/api.hpp"
#include "authz/authorizer.hpp"
#include "core/config.hpp"

namespace skiff::cli {

// The authz.* settings.
std::vector<SettingSpec> AuthzSettingSpecs();

// Validates authz.groups (errors name the key) and starts the authorizer (lists RoleBindings,
// then watches). `store` must outlive it.
Result<std::unique_ptr<authz::RbacAuthorizer>> MakeAuthorizer(const Settings& settings,
                                                              store::Store& store);

// Sets api_options.authorize (every resource request asks `authorizer`; a deny's detail goes in
// the 403 message) and api_options.on_write (RoleBinding writes reach the authorizer before the
// API answers: the next request sees them). `authorizer` must outlive the API.
void ConnectAuthorizer(authz::RbacAuthorizer& authorizer, api::ApiOptions& api_options);

}  // namespace skiff::cli
