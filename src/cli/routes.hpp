#pragma once
// `skiff routes list` and `skiff routes explain`: the gateway's routing table and the decisions
// it would take for one request, asked of a running server (GET /api/skiff/routes and
// GET /api/skiff/explain). Nothing is sent to the route's destination.

#include <string>
#include <vector>

#include "core/config.hpp"

namespace skiff::cli {

struct RoutesOptions {
  std::string output;  // "" (text) or "json"
};
int RunRoutesList(const Settings& settings, const RoutesOptions& options);

struct ExplainOptions {
  std::string method;                  // GET, POST, ...
  std::string url;                     // "/path?query" or "http://host[:port]/path?query"
  std::vector<std::string> headers;    // "Name: value"
  std::string as;                      // explain as this user (admins only)
  std::vector<std::string> as_groups;  // with `as`: its groups
  std::string token;                   // explain as the bearer of this token
  std::string output;                  // "" (text) or "json"
};
int RunRoutesExplain(const Settings& settings, const ExplainOptions& options);

}  // namespace skiff::cli
