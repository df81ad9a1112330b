#include "cli/gateway_authz.hpp"

#include "http/http.hpp"

namespace skiff::cli {

std::optional<authz::Attributes> ApiAttributes(const api::RequestInfo& info) {
  if (!info.is_resource_request) return std::nullopt;
  authz::Attributes a;
  a.verb = info.verb;
  a.group = info.group;
  a.resource = info.resource;
  a.subresource = info.subresource;
  a.ns = info.ns;
  a.name = info.name;
  return a;
}

DestinationAttributesFn DestinationAttributes(const serving::Frontend& frontend) {
  return [&frontend](const gateway::Decision& d,
                     const gateway::RouteRequest& rr) -> std::optional<authz::Attributes> {
    if (d.kind != gateway::Decision::Kind::kService) return std::nullopt;
    if (d.service == "serving") return frontend.AttributesFor(rr.authority, rr.path);
    if (d.service == "api") {
      http::Request query;
      query.raw_query = rr.query;
      auto info = api::ParseRequestInfo(rr.method, rr.path, query.Query("watch").value_or(""));
      if (!info) return std::nullopt;  // the API answers 404/400 itself
      return ApiAttributes(*info);
    }
    return std::nullopt;
  };
}

}  // namespace skiff::cli
