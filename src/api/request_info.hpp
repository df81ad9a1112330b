#pragma once
// RequestInfo: what a resource API request is about (verb, group, version, resource, namespace,
// name, subresource), parsed from the method and path as the Kubernetes API server's
// RequestInfoResolver does. Authorization (RBAC) decides on this; the handlers dispatch on it.

#include <string>
#include <string_view>

#include "core/result.hpp"

namespace skiff::api {

struct RequestInfo {
  bool is_resource_request = false;  // false for /api, /apis, /version, /openapi
  // Kubernetes verbs: get, list, watch, create, update, patch, delete, deletecollection.
  std::string verb;
  std::string api_prefix;  // "api" or "apis"
  std::string group;       // "" for core
  std::string version;
  std::string resource;     // plural
  std::string subresource;  // "status" or empty
  std::string ns;
  std::string name;
};

// `path` is the normalized request path; `watch_param` is the value of ?watch (empty if none).
Result<RequestInfo> ParseRequestInfo(std::string_view method, std::string_view path,
                                     std::string_view watch_param);

}  // namespace skiff::api
