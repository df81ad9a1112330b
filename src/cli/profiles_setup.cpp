#include "cli/profiles_setup.hpp"

#include "authz/profile.hpp"

namespace skiff::cli {

using Type = SettingSpec::Type;

std::vector<SettingSpec> ProfileSettingSpecs() {
  return {
      {"profiles.autoCreate", Type::kBool, "true",
       "give a user who signs in without a namespace of their own a Profile (namespace) named "
       "after their e-mail",
       ""},
      {"profiles.registrationFlow", Type::kBool, "true",
       "users without a namespace may create one from the dashboard (/api/workgroup/create)", ""},
      {"profiles.namePrefix", Type::kString, "",
       "prefix of automatically created namespace names (e.g. u-)", ""},
      {"profiles.nameFrom", Type::kString, "local-part",
       "namespace name from the e-mail's local-part (alice@example.com -> alice) or the whole "
       "email (-> alice-example-com)",
       ""},
  };
}

Status RegisterProfileKinds(api::KindRegistry& kinds) { return authz::RegisterProfileKind(kinds); }

void ProfilesStack::Mount(http::Router& router) {
  authz::KfamApi* api = kfam.get();
  auto handler = http::SyncHandler([api](http::Request& req) { return api->Handle(req); });
  router.Add({}, "/kfam/*", handler, http::Execution::kBlocking, "kfam");
  router.Add({}, "/api/workgroup/*", handler, http::Execution::kBlocking, "workgroup");
}

gateway::BuiltinRoute ProfilesStack::KfamRoute() {
  gateway::BuiltinRoute r;
  r.name = "kfam";
  r.description = "Kubeflow access management (contributors)";
  r.path_kind = gateway::BuiltinRoute::PathKind::kPrefix;
  r.path = "/kfam";
  r.service = "api";
  return r;
}

Result<std::unique_ptr<ProfilesStack>> MakeProfiles(
    const Settings& settings, store::Store& store, const api::KindRegistry& kinds,
    const authz::Authorizer& authorizer, http::TaskRunner& blocking, Clock& clock,
    std::function<void(const store::Object& obj, bool deleted)> on_write) {
  authz::RegistrationOptions ro;
  ro.auto_create = settings.GetBool("profiles.autoCreate");
  ro.name_prefix = settings.GetString("profiles.namePrefix");
  ro.name_from = settings.GetString("profiles.nameFrom");
  SKIFF_RETURN_IF_ERROR(authz::ValidateRegistrationOptions(ro));
  authz::KfamOptions ko;
  ko.registration_flow = settings.GetBool("profiles.registrationFlow");
  ko.kubeflow_version = std::string("skiff-") + SKIFF_VERSION;
  ko.on_write = on_write;
  // auth.admins: a list, or one comma-separated string.
  if (settings.Has("auth.admins")) {
    const json::value& admins = settings.GetSection("auth.admins");
    std::vector<std::string> items;
    if (admins.is_array()) {
      for (const auto& a : admins.get_array()) {
        if (a.is_string()) items.emplace_back(a.get_string());
      }
    } else if (admins.is_string()) {
      std::string_view rest = admins.get_string();
      while (!rest.empty()) {
        size_t comma = rest.find(',');
        std::string_view item = rest.substr(0, comma);
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        if (!item.empty()) items.emplace_back(item);
      }
    }
    ko.admin_users = std::move(items);
  }
  authz::ProfileControllerOptions co;
  co.on_write = std::move(on_write);
  auto stack = std::make_unique<ProfilesStack>();
  stack->controller = std::make_unique<authz::ProfileController>(store, kinds, clock, co);
  stack->registration = std::make_unique<authz::Registration>(store, blocking, clock, ro);
  stack->kfam =
      std::make_unique<authz::KfamApi>(store, authorizer, *stack->registration, clock, ko);
  stack->quota = std::make_unique<authz::QuotaGuard>(store);
  return stack;
}

}  // namespace skiff::cli
