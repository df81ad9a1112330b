#pragma once
// What the gateway's in-process destinations authorize per request, for `skiff routes explain`
// (gateway::ExplainContext::destination_attributes): a model call is "predict" (or "get") on its
// InferenceService (serving::Frontend::AttributesFor), a resource API request its Kubernetes
// verb on its resource (api::RequestInfo, as the API itself asks the Authorizer). Other
// services (health, identity, login) decide nothing per request.

#include <functional>
#include <optional>

#include "api/request_info.hpp"
#include "authz/authz.hpp"
#include "gateway/route_table.hpp"
#include "serving/frontend.hpp"

namespace skiff::cli {

// The attributes the resource API authorizes `info` with; nullopt for non-resource requests
// (discovery, /version, /openapi), which every authenticated user may read.
std::optional<authz::Attributes> ApiAttributes(const api::RequestInfo& info);

using DestinationAttributesFn = std::function<std::optional<authz::Attributes>(
    const gateway::Decision&, const gateway::RouteRequest&)>;

// `frontend` must outlive the function.
DestinationAttributesFn DestinationAttributes(const serving::Frontend& frontend);

}  // namespace skiff::cli
