#include "cli/contributors.hpp"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "cli/api_client.hpp"
#include "core/json.hpp"
#include "http/http.hpp"

namespace skiff::cli {

namespace {

Status CheckRole(const std::string& role) {
  if (role == "view" || role == "edit" || role == "admin") return Status::Ok();
  return InvalidArgument("--role \"" + role + "\": use view, edit or admin");
}

json::object Binding(const std::string& ns, const std::string& user, const std::string& role) {
  return json::object{{"user", json::object{{"kind", "User"}, {"name", user}}},
                      {"referredNamespace", ns},
                      {"RoleRef", json::object{{"kind", "ClusterRole"}, {"name", role}}}};
}

// The contributors of `ns` as kfam lists them: (user, role) pairs, sorted.
Result<std::vector<std::pair<std::string, std::string>>> List(ApiClient& client,
                                                              const std::string& ns,
                                                              json::value* raw = nullptr) {
  SKIFF_ASSIGN_OR_RETURN(
      auto resp, client.Do("GET", "/kfam/v1/bindings?namespace=" + http::PercentEncode(ns)));
  if (resp.status != 200) return ServerError(resp);
  SKIFF_ASSIGN_OR_RETURN(json::value doc, ParseJson(resp.body));
  std::vector<std::pair<std::string, std::string>> out;
  if (const json::value* list = Find(doc, "bindings"); list != nullptr && list->is_array()) {
    for (const auto& b : list->get_array()) {
      if (!b.is_object() || GetString(b.get_object(), "referredNamespace") != ns) continue;
      out.emplace_back(GetString(b.get_object(), "user.name"),
                       GetString(b.get_object(), "RoleRef.name"));
    }
  }
  std::sort(out.begin(), out.end());
  if (raw != nullptr) *raw = std::move(doc);
  return out;
}

int Change(const Settings& settings, const std::string& method, const std::string& ns,
           const std::string& user, const std::string& role) {
  auto client = ApiClient::FromSettings(settings);
  if (!client) return Fail(client.error());
  auto resp = client->Do(method, "/kfam/v1/bindings", Serialize(Binding(ns, user, role)));
  if (!resp) return Fail(resp.error());
  if (resp->status != 200) return Fail(ServerError(*resp));
  return 0;
}

}  // namespace

int RunContributorsList(const Settings& settings, const ContributorsOptions& options) {
  if (!options.output.empty() && options.output != "json") {
    return Fail(InvalidArgument("unknown output format \"" + options.output + "\": use json"));
  }
  auto client = ApiClient::FromSettings(settings);
  if (!client) return Fail(client.error());
  json::value raw;
  auto rows = List(*client, options.ns, &raw);
  if (!rows) return Fail(rows.error());
  if (options.output == "json") {
    std::printf("%s\n", Serialize(raw).c_str());
    return 0;
  }
  if (rows->empty()) {
    std::printf("No contributors in namespace %s.\n", options.ns.c_str());
    return 0;
  }
  size_t width = 4;
  for (const auto& [user, _] : *rows) width = std::max(width, user.size());
  std::printf("%-*s   %s\n", static_cast<int>(width), "USER", "ROLE");
  for (const auto& [user, role] : *rows) {
    std::printf("%-*s   %s\n", static_cast<int>(width), user.c_str(), role.c_str());
  }
  return 0;
}

int RunContributorsAdd(const Settings& settings, const ContributorsOptions& options) {
  const std::string role = options.role.empty() ? "edit" : options.role;
  if (Status s = CheckRole(role); !s.ok()) return Fail(s);
  if (int rc = Change(settings, "POST", options.ns, options.user, role); rc != 0) return rc;
  std::printf("%s is now a contributor of %s (%s)\n", options.user.c_str(), options.ns.c_str(),
              role.c_str());
  return 0;
}

int RunContributorsRemove(const Settings& settings, const ContributorsOptions& options) {
  std::vector<std::string> roles;
  if (!options.role.empty()) {
    if (Status s = CheckRole(options.role); !s.ok()) return Fail(s);
    roles.push_back(options.role);
  } else {
    auto client = ApiClient::FromSettings(settings);
    if (!client) return Fail(client.error());
    auto rows = List(*client, options.ns);
    if (!rows) return Fail(rows.error());
    for (const auto& [user, role] : *rows) {
      if (user == options.user) roles.push_back(role);
    }
    if (roles.empty()) {
      return Fail(NotFound(options.user + " is not a contributor of " + options.ns));
    }
  }
  for (const auto& role : roles) {
    if (int rc = Change(settings, "DELETE", options.ns, options.user, role); rc != 0) return rc;
  }
  std::printf("%s is no longer a contributor of %s\n", options.user.c_str(), options.ns.c_str());
  return 0;
}

}  // namespace skiff::cli
