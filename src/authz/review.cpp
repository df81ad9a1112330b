#include "authz/review.hpp"

#include <map>
#include <set>

#include "api/protobuf.hpp"
#include "authz/roles.hpp"

namespace skiff::authz {

namespace {

constexpr std::string_view kAuthorizationGroup = "authorization.k8s.io";

// k8s.io/api/authorization/v1/generated.proto: what kubectl's typed client sends (protobuf).
// The status it sends is empty and skipped (unknown fields are).
using api::ProtoEmit;
using api::ProtoField;
using api::ProtoMessage;
using api::ProtoType;
constexpr ProtoField kResourceAttributesFields[] = {
    {.number = 1, .json_name = "namespace"}, {.number = 2, .json_name = "verb"},
    {.number = 3, .json_name = "group"},     {.number = 4, .json_name = "version"},
    {.number = 5, .json_name = "resource"},  {.number = 6, .json_name = "subresource"},
    {.number = 7, .json_name = "name"},
};
constexpr ProtoMessage kResourceAttributesProto{"ResourceAttributes", kResourceAttributesFields};
constexpr ProtoField kNonResourceAttributesFields[] = {
    {.number = 1, .json_name = "path"},
    {.number = 2, .json_name = "verb"},
};
constexpr ProtoMessage kNonResourceAttributesProto{"NonResourceAttributes",
                                                   kNonResourceAttributesFields};
// A field holding an embedded message.
constexpr ProtoField MessageField(uint32_t number, std::string_view json_name,
                                  const ProtoMessage* message, ProtoEmit emit) {
  return {.number = number,
          .json_name = json_name,
          .type = ProtoType::kMessage,
          .emit = emit,
          .message = message};
}
// Fields 1 and 2 of both access review specs: what is asked about.
constexpr ProtoField kResourceAttributesField =
    MessageField(1, "resourceAttributes", &kResourceAttributesProto, ProtoEmit::kPresence);
constexpr ProtoField kNonResourceAttributesField =
    MessageField(2, "nonResourceAttributes", &kNonResourceAttributesProto, ProtoEmit::kPresence);
constexpr ProtoField kAccessReviewSpecFields[] = {kResourceAttributesField,
                                                  kNonResourceAttributesField};
constexpr ProtoMessage kAccessReviewSpecProto{"SelfSubjectAccessReviewSpec",
                                              kAccessReviewSpecFields};
constexpr ProtoField kRulesReviewSpecFields[] = {{.number = 1, .json_name = "namespace"}};
constexpr ProtoMessage kRulesReviewSpecProto{"SelfSubjectRulesReviewSpec", kRulesReviewSpecFields};
constexpr ProtoField kSubjectReviewSpecFields[] = {
    kResourceAttributesField,     // 1
    kNonResourceAttributesField,  // 2
    {.number = 3, .json_name = "user"}, {.number = 4, .json_name = "groups", .repeated = true},
    {.number = 6, .json_name = "uid"},
};
constexpr ProtoMessage kSubjectReviewSpecProto{"SubjectAccessReviewSpec", kSubjectReviewSpecFields};
// Every review object: metadata and its kind's spec (the status it carries is computed).
template <const ProtoMessage* Spec>
constexpr ProtoField kReviewFields[] = {
    MessageField(1, "metadata", &api::kObjectMetaProto, ProtoEmit::kAlways),
    MessageField(2, "spec", Spec, ProtoEmit::kAlways),
};
constexpr ProtoMessage kAccessReviewProto{"SelfSubjectAccessReview",
                                          kReviewFields<&kAccessReviewSpecProto>};
constexpr ProtoMessage kRulesReviewProto{"SelfSubjectRulesReview",
                                         kReviewFields<&kRulesReviewSpecProto>};
constexpr ProtoMessage kSubjectReviewProto{"SubjectAccessReview",
                                           kReviewFields<&kSubjectReviewSpecProto>};

std::string Str(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

// Kubernetes' system:discovery and system:public-info-viewer: what every user may GET.
bool DiscoveryPath(std::string_view path) {
  for (std::string_view exact :
       {"/api", "/apis", "/version", "/version/", "/openapi", "/healthz", "/livez", "/readyz"}) {
    if (path == exact) return true;
  }
  for (std::string_view prefix : {"/api/", "/apis/", "/openapi/"}) {
    if (path.substr(0, prefix.size()) == prefix) return true;
  }
  return false;
}

// Whether `who` is a cluster admin (by any rule): only cluster admins may create namespaces.
bool IsClusterAdmin(const Authorizer& authorizer, const Principal& who) {
  Attributes a;
  a.verb = "create";
  a.resource = "namespaces";
  return authorizer.Decide(who, a).allowed;
}

json::array Strings(const std::vector<std::string>& v) {
  json::array out;
  for (const auto& s : v) out.emplace_back(s);
  return out;
}

json::object ResourceRule(std::vector<std::string> verbs, std::vector<std::string> groups,
                          std::vector<std::string> resources, std::vector<std::string> names = {}) {
  json::object r{
      {"verbs", Strings(verbs)}, {"apiGroups", Strings(groups)}, {"resources", Strings(resources)}};
  if (!names.empty()) r["resourceNames"] = Strings(names);
  return r;
}

api::KindInfo ReviewKind(std::string kind, std::string plural, std::string_view description,
                         const ProtoMessage* proto,
                         std::function<Result<json::object>(const Principal*, json::object)> fn) {
  api::KindInfo k;
  k.group = std::string(kAuthorizationGroup);
  k.version = "v1";
  k.kind = std::move(kind);
  k.singular.clear();
  for (char c : k.kind) k.singular += static_cast<char>(std::tolower(c));
  k.plural = std::move(plural);
  k.namespaced = false;
  k.verbs = {"create"};
  auto schema = ParseJson(R"({"type": "object", "description": ")" + std::string(description) +
                          R"(", "properties": {
      "apiVersion": {"type": "string"}, "kind": {"type": "string"},
      "metadata": {"type": "object"},
      "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
      "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}})");
  if (schema) k.schema = std::move(*schema);
  k.protobuf = proto;
  k.review = std::move(fn);
  return k;
}

}  // namespace

Result<json::object> AccessReview(const Authorizer& authorizer, const Principal& who,
                                  json::object obj, const api::KindRegistry* kinds) {
  const json::object* spec = GetObject(obj, "spec");
  const json::object* ra = spec != nullptr ? GetObject(*spec, "resourceAttributes") : nullptr;
  const json::object* nra = spec != nullptr ? GetObject(*spec, "nonResourceAttributes") : nullptr;
  if ((ra == nullptr) == (nra == nullptr)) {
    return Status(Code::kInvalidArgument,
                  "SelfSubjectAccessReview.authorization.k8s.io is invalid: "
                  "spec.resourceAttributes: Invalid value: exactly one of "
                  "nonResourceAttributes or resourceAttributes must be specified",
                  "Invalid");
  }
  json::object status;
  if (ra != nullptr) {
    Attributes a;
    a.verb = Str(*ra, "verb");
    a.group = Str(*ra, "group");
    a.resource = Str(*ra, "resource");
    a.subresource = Str(*ra, "subresource");
    a.ns = Str(*ra, "namespace");
    a.name = Str(*ra, "name");
    // kubectl sends its context's namespace even for cluster-scoped kinds (with a warning); the
    // API server's authorizer would see no namespace for such a request.
    if (kinds != nullptr && !a.ns.empty()) {
      for (const auto& k : kinds->kinds()) {
        if (k->group == a.group && k->plural == a.resource && !k->namespaced) {
          a.ns.clear();
          break;
        }
      }
    }
    if (a.group == "*" || a.resource == "*" || a.verb == "*") {
      // Wildcards ask about every resource at once: only cluster admins have them.
      bool admin = IsClusterAdmin(authorizer, who);
      status["allowed"] = admin;
      if (!admin) status["reason"] = "wildcards are granted to cluster admins only";
    } else {
      Decision d = authorizer.Decide(who, a);
      status["allowed"] = d.allowed;
      if (!d.reason.empty()) status["reason"] = d.reason;
    }
  } else {
    std::string path = Str(*nra, "path");
    std::string verb = Str(*nra, "verb");
    if (IsClusterAdmin(authorizer, who)) {
      status["allowed"] = true;
      status["reason"] = "cluster admin";
    } else if (verb == "get" && DiscoveryPath(path)) {
      status["allowed"] = true;
      status["reason"] = "discovery paths are readable by every user";
    } else {
      status["allowed"] = false;
      status["reason"] = "only cluster admins may " + verb + " " + path;
    }
  }
  obj["status"] = std::move(status);
  return obj;
}

Result<json::object> RulesReview(const Authorizer& authorizer, const Principal& who,
                                 json::object obj) {
  std::string ns = GetString(obj, "spec.namespace");
  json::array resource_rules;
  json::array non_resource_rules;
  if (IsClusterAdmin(authorizer, who)) {
    resource_rules.push_back(ResourceRule({"*"}, {"*"}, {"*"}));
    non_resource_rules.push_back(
        json::object{{"verbs", json::array{"*"}}, {"nonResourceURLs", json::array{"*"}}});
  } else {
    for (const auto& r : BasicUserRules()) {
      resource_rules.push_back(ResourceRule(r.verbs, r.groups, r.resources));
    }
    if (!ns.empty()) {
      for (const auto& held : authorizer.NamespacesOf(who)) {
        if (held.ns != ns) continue;
        resource_rules.push_back(ResourceRule({"get"}, {""}, {"namespaces"}, {ns}));
        if (const Role* role = FindRole(held.role)) {
          for (const auto& r : role->rules) {
            resource_rules.push_back(ResourceRule(r.verbs, r.groups, r.resources));
          }
        }
      }
    }
    non_resource_rules.push_back(
        json::object{{"verbs", json::array{"get"}},
                     {"nonResourceURLs",
                      json::array{"/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez",
                                  "/openapi", "/openapi/*", "/readyz", "/version", "/version/"}}});
  }
  obj["status"] = json::object{{"resourceRules", std::move(resource_rules)},
                               {"nonResourceRules", std::move(non_resource_rules)},
                               {"incomplete", false}};
  return obj;
}

Result<json::object> SubjectReview(const RbacAuthorizer& authorizer, json::object obj,
                                   const api::KindRegistry* kinds) {
  Principal who;
  who.name = GetString(obj, "spec.user");
  if (const json::value* groups = Find(obj, "spec.groups"); groups && groups->is_array()) {
    for (const auto& g : groups->get_array()) {
      if (g.is_string()) who.groups.emplace_back(g.get_string());
    }
  }
  if (who.name.empty() && who.groups.empty()) {
    return Status(Code::kInvalidArgument,
                  "SubjectAccessReview.authorization.k8s.io is invalid: spec.user: Invalid "
                  "value: \"\": at least one of user or group must be specified",
                  "Invalid");
  }
  who.method = "review";
  who.cluster_admin = authorizer.ConfiguredAdmin(who);
  return AccessReview(authorizer, who, std::move(obj), kinds);
}

Status RegisterReviewKinds(api::KindRegistry& registry, const RbacAuthorizer& authorizer) {
  const RbacAuthorizer* a = &authorizer;
  const api::KindRegistry* kinds = &registry;  // complete (and immutable) once the API serves
  SKIFF_RETURN_IF_ERROR(registry.Register(ReviewKind(
      "SubjectAccessReview", "subjectaccessreviews",
      "SubjectAccessReview checks whether or not a user or group can perform an action.",
      &kSubjectReviewProto, [a, kinds](const Principal*, json::object obj) -> Result<json::object> {
        // The resource API has authorized the requester (cluster admins only).
        return SubjectReview(*a, std::move(obj), kinds);
      })));
  SKIFF_RETURN_IF_ERROR(registry.Register(
      ReviewKind("SelfSubjectAccessReview", "selfsubjectaccessreviews",
                 "SelfSubjectAccessReview checks whether the current user can perform an action.",
                 &kAccessReviewProto,
                 [a, kinds](const Principal* who, json::object obj) -> Result<json::object> {
                   if (who == nullptr) return Unauthenticated("Unauthorized");
                   return AccessReview(*a, *who, std::move(obj), kinds);
                 })));
  return registry.Register(ReviewKind(
      "SelfSubjectRulesReview", "selfsubjectrulesreviews",
      "SelfSubjectRulesReview enumerates the set of actions the current user can perform "
      "within a namespace.",
      &kRulesReviewProto, [a](const Principal* who, json::object obj) -> Result<json::object> {
        if (who == nullptr) return Unauthenticated("Unauthorized");
        return RulesReview(*a, *who, std::move(obj));
      }));
}

}  // namespace skiff::authz
