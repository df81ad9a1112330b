#include "authz/kfam.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <tuple>

#include "authz/profile.hpp"
#include "core/log.hpp"
#include "http/router.hpp"

namespace skiff::authz {

namespace {

constexpr std::string_view kWorkgroup = "/api/workgroup";

std::string Str(std::string_view s) { return std::string(s); }

http::Response Json(int status, const json::value& v) {
  return http::Response::Json(status, Serialize(v));
}

http::Response Error(const Status& s) { return http::ErrorResponse(s); }

// A kfam Binding as read from a request body.
struct BindingRequest {
  std::string user_kind;
  std::string user;
  std::string ns;
  std::string role_kind;
  std::string role;  // short: admin, edit, view
};

Result<BindingRequest> ParseBinding(std::string_view body) {
  auto parsed = ParseJsonObject(body);
  if (!parsed)
    return InvalidArgument("the body must be a JSON Binding: " + parsed.error().message());
  const json::object& o = *parsed;
  BindingRequest b;
  b.user_kind = GetString(o, "user.kind", "User");
  b.user = GetString(o, "user.name");
  b.ns = GetString(o, "referredNamespace");
  const json::value* ref = o.if_contains("RoleRef");
  if (ref == nullptr) ref = o.if_contains("roleRef");
  std::string role;
  if (ref != nullptr) {
    b.role_kind = GetString(*ref, "kind", "ClusterRole");
    role = GetString(*ref, "name");
  }
  if (b.user.empty()) return InvalidArgument("user.name is required");
  if (b.user_kind != "User") {
    return InvalidArgument("user.kind \"" + b.user_kind + "\" is not supported: use User");
  }
  if (b.ns.empty()) return InvalidArgument("referredNamespace is required");
  if (ref == nullptr || role.empty()) return InvalidArgument("RoleRef.name is required");
  if (b.role_kind != "ClusterRole") {
    return InvalidArgument("RoleRef.kind \"" + b.role_kind +
                           "\" is not supported: use ClusterRole");
  }
  b.role = ClusterRoleForShortRole(role).empty() ? ShortRoleForClusterRole(role) : role;
  if (b.role.empty()) {
    return InvalidArgument("RoleRef.name \"" + role + "\" is not a role: use admin, edit or view");
  }
  return b;
}

// A RoleBinding as kfam lists it; nullopt for bindings kfam does not show (no user/role
// annotations).
std::optional<json::object> AsKfamBinding(const store::Object& rb) {
  const json::object& o = rb.object;
  const json::value* user = Find(o, "metadata.annotations.user");
  const json::value* role = Find(o, "metadata.annotations.role");
  if (user == nullptr || !user->is_string() || role == nullptr || !role->is_string()) {
    return std::nullopt;
  }
  const json::value* subjects = o.if_contains("subjects");
  if (subjects == nullptr || !subjects->is_array() || subjects->get_array().size() != 1) {
    return std::nullopt;
  }
  const json::value& subject = subjects->get_array()[0];
  return json::object{
      {"user",
       json::object{{"kind", GetString(subject, "kind")}, {"name", GetString(subject, "name")}}},
      {"referredNamespace", rb.key.ns},
      {"RoleRef", json::object{{"kind", GetString(o, "roleRef.kind")},
                               {"name", ShortRoleForClusterRole(GetString(o, "roleRef.name"))}}}};
}

Attributes RoleBindingAttributes(std::string verb, std::string ns, std::string name = {}) {
  Attributes a;
  a.verb = std::move(verb);
  a.group = Str(kRbacApiGroup);
  a.resource = "rolebindings";
  a.ns = std::move(ns);
  a.name = std::move(name);
  return a;
}

Status Denied(const Decision& d) {
  return PermissionDenied(d.reason.empty() ? "forbidden" : d.reason);
}

}  // namespace

KfamApi::KfamApi(store::Store& store, const Authorizer& authorizer, Registration& registration,
                 Clock& clock, KfamOptions options)
    : store_(store),
      authorizer_(authorizer),
      registration_(registration),
      clock_(clock),
      options_(std::move(options)) {}

bool KfamApi::Serves(std::string_view path) {
  auto under = [&](std::string_view prefix) {
    return path.rfind(prefix, 0) == 0 &&
           (path.size() == prefix.size() || path[prefix.size()] == '/');
  };
  return under("/kfam") || under(kWorkgroup);
}

bool KfamApi::IsClusterAdmin(const Principal& who) const {
  if (who.cluster_admin) return true;
  if (who.name.empty()) return false;
  Attributes a;
  a.verb = "create";
  a.group = Str(kProfileGroup);
  a.resource = "profiles";
  return authorizer_.Decide(who, a).allowed;
}

http::Response KfamApi::Handle(http::Request& req) {
  if (!req.principal || req.principal->name.empty()) {
    return Error(Unauthenticated("log in first: this API needs to know who you are"));
  }
  const Principal& who = *req.principal;
  const std::string& path = req.path;
  const std::string& m = req.method;
  const bool get = m == "GET" || m == "HEAD";
  if (path == "/kfam/v1/bindings") {
    if (get) return ListBindings(req, who);
    if (m == "POST") return ChangeBinding(req, who, true);
    if (m == "DELETE") return ChangeBinding(req, who, false);
  } else if (path == "/kfam/v1/role/clusteradmin") {
    if (get) return ClusterAdmin(req, who);
  } else if (path == "/kfam/v1/profiles") {
    if (m == "POST") return CreateProfile(req, who);
  } else if (path.rfind("/kfam/v1/profiles/", 0) == 0 &&
             path.find('/', sizeof("/kfam/v1/profiles/") - 1) == std::string::npos) {
    if (m == "DELETE") {
      Status s = DeleteOwnedProfile(who, path.substr(sizeof("/kfam/v1/profiles/") - 1));
      return s.ok() ? Json(200, json::object{}) : Error(s);
    }
  } else if (path == Str(kWorkgroup) + "/nuke-self") {
    if (m == "DELETE") return NukeSelf(who);
  } else if (path == Str(kWorkgroup) + "/exists") {
    if (get) return Exists(who);
  } else if (path == Str(kWorkgroup) + "/env-info") {
    if (get) return EnvInfo(who);
  } else if (path == Str(kWorkgroup) + "/create") {
    if (m == "POST") return Create(req, who);
  } else {
    for (auto [prefix, method, change] :
         {std::tuple{"/get-contributors/", "GET", 0}, std::tuple{"/add-contributor/", "POST", 1},
          std::tuple{"/remove-contributor/", "DELETE", -1}}) {
      std::string p = Str(kWorkgroup) + prefix;
      if (path.rfind(p, 0) != 0) continue;
      std::string ns = path.substr(p.size());
      if (ns.empty() || ns.find('/') != std::string::npos) break;
      if (m == method || (change == 0 && get)) return Contributors(req, who, ns, change);
      return http::ErrorResponse(405, "MethodNotAllowed", "use " + Str(method));
    }
    return Error(NotFound("no such endpoint: " + path));
  }
  return http::ErrorResponse(405, "MethodNotAllowed", m + " is not allowed on " + path);
}

http::Response KfamApi::ListBindings(const http::Request& req, const Principal& who) {
  std::string user = req.Query("user").value_or("");
  std::string ns = req.Query("namespace").value_or("");
  std::string role = req.Query("role").value_or("");
  store::ListOptions lo;
  lo.ns = ns;
  auto list = store_.List(Str(kRoleBindingsResource), lo);
  if (!list) return Error(list.error());
  json::array out;
  std::map<std::string, bool> may_list;  // namespace -> caller may list its RoleBindings
  for (const auto& rb : list->items) {
    if (!user.empty() && GetString(rb.object, "metadata.annotations.user") != user) continue;
    if (!role.empty() && GetString(rb.object, "metadata.annotations.role") != role) continue;
    auto binding = AsKfamBinding(rb);
    if (!binding) continue;
    bool visible = GetString(rb.object, "metadata.annotations.user") == who.name;
    if (!visible) {
      auto it = may_list.find(rb.key.ns);
      if (it == may_list.end()) {
        bool allowed = authorizer_.Decide(who, RoleBindingAttributes("list", rb.key.ns)).allowed;
        it = may_list.emplace(rb.key.ns, allowed).first;
      }
      visible = it->second;
    }
    if (visible) out.emplace_back(std::move(*binding));
  }
  return Json(200, json::object{{"bindings", std::move(out)}});
}

http::Response KfamApi::ChangeBinding(const http::Request& req, const Principal& who, bool create) {
  auto b = ParseBinding(req.body);
  if (!b) return Error(b.error());
  const std::string name = KfamBindingName("User", b->user, "ClusterRole", b->role);
  Decision d =
      authorizer_.Decide(who, RoleBindingAttributes(create ? "create" : "delete", b->ns, name));
  if (!d.allowed) return Error(Denied(d));
  store::Key key{Str(kRoleBindingsResource), b->ns, name};
  if (create) {
    auto ns = store_.Get({Str(kNamespaceResource), "", b->ns});
    if (!ns) {
      if (ns.error().code() == Code::kNotFound) {
        return Error(NotFound("namespace \"" + b->ns + "\" does not exist"));
      }
      return Error(ns.error());
    }
    auto created = store_.Create(key, ContributorRoleBinding(b->ns, b->user, b->role, clock_));
    if (!created) {
      if (created.error().code() == Code::kAlreadyExists) {
        return Error(AlreadyExists(b->user + " already has role " + b->role + " in namespace " +
                                   b->ns + " (RoleBinding " + name + ")"));
      }
      return Error(created.error());
    }
    if (options_.on_write) options_.on_write(*created, false);
    spdlog::info("kfam: {} gave {} the role {} in namespace {}", who.name, b->user, b->role, b->ns);
    return Json(200, json::object{});
  }
  auto current = store_.Get(key);
  if (!current) {
    if (current.error().code() == Code::kNotFound) {
      return Error(NotFound(b->user + " has no role " + b->role + " binding in namespace " + b->ns +
                            " (RoleBinding " + name + ")"));
    }
    return Error(current.error());
  }
  auto deleted = store_.Delete(key, current->resource_version);
  if (!deleted) return Error(deleted.error());
  if (options_.on_write) options_.on_write(*deleted, true);
  spdlog::info("kfam: {} removed the role {} of {} in namespace {}", who.name, b->role, b->user,
               b->ns);
  return Json(200, json::object{});
}

http::Response KfamApi::ClusterAdmin(const http::Request& req, const Principal& who) {
  std::string user = req.Query("user").value_or("");
  bool admin = false;
  if (user == who.name) {
    admin = IsClusterAdmin(who);
  } else if (!user.empty()) {
    // Another user's groups are unknown here: only what names them by user counts.
    Principal other;
    other.name = user;
    other.cluster_admin = std::find(options_.admin_users.begin(), options_.admin_users.end(),
                                    user) != options_.admin_users.end();
    admin = IsClusterAdmin(other);
  }
  return Json(200, json::value(admin));
}

http::Response KfamApi::Exists(const Principal& who) {
  auto owned = registration_.OwnedWorkgroup(who.name);
  if (!owned) return Error(owned.error());
  std::string ns = *owned;
  if (ns.empty() && registration_.options().auto_create && IsRegistrable(who)) {
    auto created = registration_.EnsureProfile(who.name);
    if (!created) return Error(created.error());
    ns = *created;
  }
  return Json(200, json::object{{"hasAuth", true},
                                {"user", who.name},
                                {"hasWorkgroup", !ns.empty()},
                                {"registrationFlowAllowed", options_.registration_flow}});
}

http::Response KfamApi::EnvInfo(const Principal& who) {
  json::array namespaces;
  for (const auto& nr : authorizer_.NamespacesOf(who)) {
    namespaces.emplace_back(json::object{{"namespace", nr.ns},
                                         {"role", nr.role == kAdminRole ? "owner" : "contributor"},
                                         {"user", who.name}});
  }
  json::object platform{{"provider", "skiff"},
                        {"providerName", "skiff"},
                        {"kubeflowVersion", options_.kubeflow_version},
                        {"logoutUrl", options_.logout_url}};
  // The user's groups as authentication saw them (the dashboard's header shows them).
  json::array groups;
  for (const auto& g : who.groups) groups.emplace_back(g);
  return Json(200, json::object{{"user", who.name},
                                {"groups", std::move(groups)},
                                {"platform", std::move(platform)},
                                {"namespaces", std::move(namespaces)},
                                {"isClusterAdmin", IsClusterAdmin(who)}});
}

Result<std::string> KfamApi::CreateFor(const Principal& who, std::string ns, std::string owner) {
  const bool admin = IsClusterAdmin(who);
  if (owner.empty()) owner = who.name;
  if (owner != who.name && !admin) {
    return PermissionDenied("only cluster admins may create a namespace for someone else");
  }
  if (!admin) {
    if (!options_.registration_flow) {
      return PermissionDenied(
          "self-registration is off (profiles.registrationFlow): ask a cluster admin for a "
          "namespace");
    }
    SKIFF_ASSIGN_OR_RETURN(std::string owned, registration_.OwnedWorkgroup(owner));
    if (!owned.empty()) return AlreadyExists("you already own namespace " + owned);
  }
  if (ns.empty()) ns = ProfileNameFor(owner, registration_.options());
  SKIFF_RETURN_IF_ERROR(registration_.CreateProfile(ns, owner));
  spdlog::info("profiles: {} created profile {} for {}", who.name, ns, owner);
  return ns;
}

http::Response KfamApi::Create(const http::Request& req, const Principal& who) {
  json::object body;
  if (!req.body.empty()) {
    auto parsed = ParseJsonObject(req.body);
    if (!parsed) {
      return Error(InvalidArgument("the body must be JSON: " + parsed.error().message()));
    }
    body = std::move(*parsed);
  }
  auto ns = CreateFor(who, GetString(body, "namespace"), GetString(body, "user"));
  if (!ns) return Error(ns.error());
  return Json(200, json::object{{"message", "Created namespace " + *ns}});
}

http::Response KfamApi::CreateProfile(const http::Request& req, const Principal& who) {
  auto body = ParseJsonObject(req.body);
  if (!body)
    return Error(InvalidArgument("the body must be a JSON Profile: " + body.error().message()));
  std::string name = GetString(*body, "metadata.name");
  if (name.empty()) return Error(InvalidArgument("metadata.name is required"));
  std::string kind = GetString(*body, "spec.owner.kind", "User");
  if (kind != "User") {
    return Error(InvalidArgument("spec.owner.kind \"" + kind + "\" is not supported: use User"));
  }
  auto ns = CreateFor(who, name, GetString(*body, "spec.owner.name"));
  if (!ns) return Error(ns.error());
  return Json(200, json::object{});
}

Status KfamApi::DeleteOwnedProfile(const Principal& who, const std::string& name) {
  store::Key key{Str(kProfileResource), "", name};
  SKIFF_ASSIGN_OR_RETURN(store::Object profile, store_.Get(key));
  if (ProfileOwner(profile.object) != who.name && !IsClusterAdmin(who)) {
    return PermissionDenied("only the owner of profile " + name +
                            " or a cluster admin may delete it");
  }
  SKIFF_RETURN_IF_ERROR(store_.Delete(key, profile.resource_version));
  spdlog::info("profiles: {} deleted profile {}", who.name, name);
  return Status::Ok();
}

http::Response KfamApi::NukeSelf(const Principal& who) {
  auto list = store_.List(Str(kProfileResource), {});
  if (!list) return Error(list.error());
  std::string name;
  for (const auto& p : list->items) {
    if (ProfileOwner(p.object) == who.name) {
      name = p.key.name;
      break;
    }
  }
  if (name.empty()) return Error(NotFound(who.name + " owns no profile"));
  if (Status s = DeleteOwnedProfile(who, name); !s.ok()) return Error(s);
  return Json(200, json::object{{"message", "Removed namespace/profile " + name}});
}

http::Response KfamApi::Contributors(const http::Request& req, const Principal& who,
                                     const std::string& ns, int change) {
  if (change != 0) {
    auto body = ParseJsonObject(req.body);
    std::string contributor = body ? GetString(*body, "contributor") : std::string();
    if (contributor.empty() || contributor.find('@') == std::string::npos) {
      return Error(InvalidArgument("contributor must be an e-mail address"));
    }
    std::string name = KfamBindingName("User", contributor, "ClusterRole", "edit");
    Decision d =
        authorizer_.Decide(who, RoleBindingAttributes(change > 0 ? "create" : "delete", ns, name));
    if (!d.allowed) return Error(Denied(d));
    store::Key key{Str(kRoleBindingsResource), ns, name};
    if (change > 0) {
      auto created = store_.Create(key, ContributorRoleBinding(ns, contributor, "edit", clock_));
      if (!created && created.error().code() != Code::kAlreadyExists) {
        return Error(created.error());
      }
      if (created && options_.on_write) options_.on_write(*created, false);
    } else {
      auto deleted = store_.Delete(key, 0);
      if (!deleted && deleted.error().code() != Code::kNotFound) return Error(deleted.error());
      if (deleted && options_.on_write) options_.on_write(*deleted, true);
    }
  } else {
    Decision d = authorizer_.Decide(who, RoleBindingAttributes("list", ns));
    if (!d.allowed) return Error(Denied(d));
  }
  store::ListOptions lo;
  lo.ns = ns;
  auto list = store_.List(Str(kRoleBindingsResource), lo);
  if (!list) return Error(list.error());
  json::array users;
  for (const auto& rb : list->items) {
    std::string role = GetString(rb.object, "metadata.annotations.role");
    if (role != "edit" && role != "view") continue;  // contributors, not owners
    if (!AsKfamBinding(rb)) continue;
    users.emplace_back(GetString(rb.object, "metadata.annotations.user"));
  }
  return Json(200, users);
}

}  // namespace skiff::authz
