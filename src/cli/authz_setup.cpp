#include "cli/authz_setup.hpp"

#include "cli/gateway_authz.hpp"

namespace skiff::cli {

namespace {

std::vector<std::string> Strings(const json::value& v) {
  std::vector<std::string> out;
  if (v.is_string()) {
    // auth.admins also accepts one comma-separated string.
    std::string_view s = v.get_string();
    size_t pos = 0;
    while (pos <= s.size()) {
      size_t comma = s.find(',', pos);
      std::string_view item = s.substr(pos, comma == s.npos ? s.npos : comma - pos);
      while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
      while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
      if (!item.empty()) out.emplace_back(item);
      if (comma == s.npos) break;
      pos = comma + 1;
    }
  } else if (v.is_array()) {
    for (const auto& item : v.get_array()) {
      if (item.is_string()) out.emplace_back(item.get_string());
    }
  }
  return out;
}

}  // namespace

std::vector<SettingSpec> AuthzSettingSpecs() {
  return {
      {"authz.groups", SettingSpec::Type::kSection, "",
       "identity-provider groups -> {clusterAdmin: true} or {role: kubeflow-admin|kubeflow-edit|"
       "kubeflow-view, namespaces: [NS, ...]}",
       ""},
  };
}

Result<std::unique_ptr<authz::RbacAuthorizer>> MakeAuthorizer(const Settings& settings,
                                                              store::Store& store) {
  authz::RbacOptions options;
  if (settings.Has("authz.groups")) {
    SKIFF_ASSIGN_OR_RETURN(options.groups,
                           authz::ParseGroupMappings(settings.GetSection("authz.groups")));
  }
  if (settings.Has("auth.admins"))
    options.admin_users = Strings(settings.GetSection("auth.admins"));
  if (settings.Has("auth.adminGroups")) {
    options.admin_groups = Strings(settings.GetSection("auth.adminGroups"));
  }
  auto authorizer = std::make_unique<authz::RbacAuthorizer>(store, std::move(options));
  SKIFF_RETURN_IF_ERROR(authorizer->Start());
  return authorizer;
}

void ConnectAuthorizer(authz::RbacAuthorizer& authorizer, api::ApiOptions& api_options) {
  authz::RbacAuthorizer* a = &authorizer;
  api_options.authorize = [a](const Principal& who, const api::RequestInfo& info) {
    // Non-resource requests (discovery) are not asked about; the API passes only the others.
    std::optional<authz::Attributes> attrs = ApiAttributes(info);
    if (!attrs) return api::ApiOptions::Verdict{true, std::string()};
    std::string detail;
    authz::Decision d = a->Decide(who, *attrs, &detail);
    return api::ApiOptions::Verdict{d.allowed, d.allowed ? std::string() : detail};
  };
  api_options.on_write = [a](const store::Object& obj, bool deleted) { a->Observe(obj, deleted); };
}

}  // namespace skiff::cli
