#include "api/request_info.hpp"

#include <vector>

namespace skiff::api {

namespace {

std::vector<std::string_view> Split(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t pos = 0;
  while (pos < path.size()) {
    while (pos < path.size() && path[pos] == '/') ++pos;
    if (pos >= path.size()) break;
    size_t end = path.find('/', pos);
    if (end == path.npos) end = path.size();
    parts.push_back(path.substr(pos, end - pos));
    pos = end;
  }
  return parts;
}

}  // namespace

Result<RequestInfo> ParseRequestInfo(std::string_view method, std::string_view path,
                                     std::string_view watch_param) {
  RequestInfo info;
  auto parts = Split(path);
  if (parts.empty() || (parts[0] != "api" && parts[0] != "apis")) {
    info.verb = method == "GET" || method == "HEAD" ? "get" : "unknown";
    return info;
  }
  info.api_prefix = std::string(parts[0]);
  size_t i = 1;
  if (info.api_prefix == "apis") {
    if (parts.size() < 3) return info;  // /apis or /apis/GROUP: discovery
    info.group = std::string(parts[1]);
    info.version = std::string(parts[2]);
    i = 3;
  } else {
    if (parts.size() < 2) return info;  // /api: discovery
    info.version = std::string(parts[1]);
    i = 2;
  }
  if (i >= parts.size()) return info;  // /api/v1 or /apis/G/V: discovery
  info.is_resource_request = true;

  bool legacy_watch = false;
  if (parts[i] == "watch") {
    legacy_watch = true;
    ++i;
    if (i >= parts.size()) return NotFound("the server could not find the requested resource");
  }
  std::vector<std::string_view> rest(parts.begin() + static_cast<std::ptrdiff_t>(i), parts.end());
  // /namespaces/NAME[/status|/finalize] is the Namespace object itself; /namespaces/NS/RESOURCE...
  // is a resource inside namespace NS (even when RESOURCE is "namespaces": that one then is not
  // found, as namespaces are not namespaced).
  bool namespace_object = false;
  if (rest[0] == "namespaces" && rest.size() > 1) {
    info.ns = std::string(rest[1]);
    if (rest.size() > 2 && rest[2] != "status" && rest[2] != "finalize") {
      rest.erase(rest.begin(), rest.begin() + 2);
    } else {
      namespace_object = true;
    }
  }
  info.resource = std::string(rest[0]);
  if (rest.size() > 1) info.name = std::string(rest[1]);
  if (rest.size() > 2) info.subresource = std::string(rest[2]);
  if (rest.size() > 3) return NotFound("the server could not find the requested resource");
  if (namespace_object) info.ns.clear();

  bool watch = legacy_watch || watch_param == "true" || watch_param == "1";
  if (method == "GET" || method == "HEAD") {
    if (watch) {
      info.verb = "watch";
    } else {
      info.verb = info.name.empty() ? "list" : "get";
    }
  } else if (method == "POST") {
    info.verb = "create";
  } else if (method == "PUT") {
    info.verb = "update";
  } else if (method == "PATCH") {
    info.verb = "patch";
  } else if (method == "DELETE") {
    info.verb = info.name.empty() ? "deletecollection" : "delete";
  } else {
    info.verb = "unknown";
  }
  return info;
}

}  // namespace skiff::api
