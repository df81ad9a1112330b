#include "authz/rolebinding.hpp"

#include <algorithm>

#include "api/protobuf.hpp"
#include "authz/roles.hpp"
#include "core/crypto.hpp"
#include "core/log.hpp"

namespace skiff::authz {

using api::FieldError;
using api::FieldErrors;
using Type = FieldError::Type;

namespace {

constexpr std::string_view kSchema = R"({
  "type": "object",
  "description": "RoleBinding references a role, but does not contain it. It adds who information via Subjects and namespace information by which namespace it exists in.",
  "properties": {
    "apiVersion": {"type": "string"}, "kind": {"type": "string"},
    "metadata": {"type": "object"},
    "subjects": {"type": "array", "description": "Subjects holds references to the objects the role applies to.",
      "items": {"type": "object", "properties": {
        "kind": {"type": "string"}, "apiGroup": {"type": "string"},
        "name": {"type": "string"}, "namespace": {"type": "string"}}}},
    "roleRef": {"type": "object", "description": "RoleRef names the ClusterRole: kubeflow-admin, kubeflow-edit or kubeflow-view.",
      "properties": {
        "apiGroup": {"type": "string"}, "kind": {"type": "string"}, "name": {"type": "string"}}}
  }
})";

json::value Schema() {
  auto v = ParseJson(kSchema);
  SKIFF_CHECK(v.has_value());
  return *v;
}

std::string Str(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

void Require(FieldErrors& errs, const json::object& o, std::string_view key,
             const std::string& path) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_string() || v->get_string().empty()) {
    errs.push_back(FieldError{Type::kRequired, path, "", {}});
  }
}

std::string RoleNames() {
  return std::string(kAdminRole) + ", " + std::string(kEditRole) + " or " + std::string(kViewRole);
}

// A cell of `kubectl get rolebindings -o wide`: the names of one kind of subject.
json::value SubjectNames(const json::object& obj, std::string_view kind) {
  const json::value* subjects = obj.if_contains("subjects");
  if (subjects == nullptr || !subjects->is_array()) return nullptr;
  std::string out;
  for (const auto& s : subjects->get_array()) {
    if (!s.is_object() || Str(s.get_object(), "kind") != kind) continue;
    if (!out.empty()) out += ", ";
    if (kind == "ServiceAccount") out += Str(s.get_object(), "namespace") + "/";
    out += Str(s.get_object(), "name");
  }
  if (out.empty()) return nullptr;
  return json::string(out);
}

api::KindInfo RoleBindingKind() {
  api::KindInfo k;
  k.group = std::string(kRbacGroup);
  k.version = "v1";
  k.kind = "RoleBinding";
  k.plural = "rolebindings";
  k.singular = "rolebinding";
  k.schema = Schema();
  k.protobuf = &api::kRbacV1RoleBindingProto;
  // kubectl's own columns for RoleBindings.
  k.columns = {
      {"Role", "string", "", "The role the binding grants", 0, "",
       [](const json::object& o) -> json::value {
         const json::value root(o);
         std::string kind = GetString(root, "roleRef.kind");
         std::string name = GetString(root, "roleRef.name");
         if (kind.empty() && name.empty()) return nullptr;
         return json::string(kind + "/" + name);
       }},
      {"Users", "string", "", "Users bound", 1, "",
       [](const json::object& o) { return SubjectNames(o, "User"); }},
      {"Groups", "string", "", "Groups bound", 1, "",
       [](const json::object& o) { return SubjectNames(o, "Group"); }},
      {"ServiceAccounts", "string", "", "ServiceAccounts bound", 1, "",
       [](const json::object& o) { return SubjectNames(o, "ServiceAccount"); }},
  };
  k.validate = [](const json::object& obj) { return ValidateRoleBinding(obj); };
  k.validate_update = [](const json::object& obj, const json::object& old) {
    return ValidateRoleBindingUpdate(obj, old);
  };
  return k;
}

constexpr std::string_view kClusterRoleSchema = R"({
  "type": "object",
  "description": "ClusterRole is a cluster level, logical grouping of PolicyRules. skiff's are built in: kubeflow-admin, kubeflow-edit, kubeflow-view.",
  "properties": {
    "apiVersion": {"type": "string"}, "kind": {"type": "string"},
    "metadata": {"type": "object"},
    "rules": {"type": "array", "items": {"type": "object", "properties": {
      "apiGroups": {"type": "array", "items": {"type": "string"}},
      "resources": {"type": "array", "items": {"type": "string"}},
      "resourceNames": {"type": "array", "items": {"type": "string"}},
      "nonResourceURLs": {"type": "array", "items": {"type": "string"}},
      "verbs": {"type": "array", "items": {"type": "string"}}}}},
    "aggregationRule": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
  }
})";

api::KindInfo ClusterRoleKind() {
  api::KindInfo k;
  k.group = std::string(kRbacGroup);
  k.version = "v1";
  k.kind = "ClusterRole";
  k.plural = "clusterroles";
  k.singular = "clusterrole";
  k.namespaced = false;
  k.verbs = {"get", "list", "watch"};
  auto schema = ParseJson(kClusterRoleSchema);
  SKIFF_CHECK(schema.has_value());
  k.schema = std::move(*schema);
  // Writes through the API are refused (EnsureClusterRoles writes to the store directly).
  k.validate = [](const json::object&) {
    return FieldErrors{FieldError{
        Type::kForbidden,
        "metadata.name",
        "skiff's ClusterRoles are built in (" + RoleNames() + ") and cannot be created or changed",
        {}}};
  };
  return k;
}

json::array StringArray(const std::vector<std::string>& v) {
  json::array out;
  for (const auto& s : v) out.emplace_back(s);
  return out;
}

}  // namespace

bool Binding::Matches(const Principal& who) const {
  for (const auto& s : subjects) {
    if (s.kind == "User") {
      if (s.name == who.name) return true;
    } else if (s.kind == "Group") {
      if (std::find(who.groups.begin(), who.groups.end(), s.name) != who.groups.end()) {
        return true;
      }
    } else if (s.kind == "ServiceAccount") {
      if (who.name == "system:serviceaccount:" + s.ns + ":" + s.name) return true;
    }
  }
  return false;
}

FieldErrors ValidateRoleBinding(const json::object& obj) {
  FieldErrors errs;
  if (const json::value* subjects = obj.if_contains("subjects");
      subjects != nullptr && !subjects->is_null()) {
    if (!subjects->is_array()) {
      errs.push_back(FieldError{Type::kInvalid, "subjects", "must be a list", {}});
    } else {
      size_t i = 0;
      for (const auto& sv : subjects->get_array()) {
        std::string path = "subjects[" + std::to_string(i++) + "]";
        if (!sv.is_object()) {
          errs.push_back(FieldError{Type::kInvalid, path, "must be an object", {}});
          continue;
        }
        const json::object& s = sv.get_object();
        std::string kind = Str(s, "kind");
        std::string api_group = Str(s, "apiGroup");
        Require(errs, s, "name", path + ".name");
        if (kind == "User" || kind == "Group") {
          if (!api_group.empty() && api_group != kRbacGroup) {
            errs.push_back(FieldError{Type::kNotSupported, path + ".apiGroup",
                                      "supported values: \"rbac.authorization.k8s.io\"",
                                      json::string(api_group)});
          }
        } else if (kind == "ServiceAccount") {
          if (!api_group.empty()) {
            errs.push_back(FieldError{Type::kNotSupported, path + ".apiGroup",
                                      "supported values: \"\"", json::string(api_group)});
          }
          Require(errs, s, "namespace", path + ".namespace");
        } else if (kind.empty()) {
          errs.push_back(FieldError{Type::kRequired, path + ".kind", "", {}});
        } else {
          errs.push_back(FieldError{Type::kNotSupported, path + ".kind",
                                    "supported values: \"Group\", \"ServiceAccount\", \"User\"",
                                    json::string(kind)});
        }
      }
    }
  }
  const json::value* ref_v = obj.if_contains("roleRef");
  if (ref_v == nullptr || !ref_v->is_object()) {
    errs.push_back(FieldError{Type::kRequired, "roleRef", "", {}});
    return errs;
  }
  const json::object& ref = ref_v->get_object();
  std::string api_group = Str(ref, "apiGroup");
  std::string kind = Str(ref, "kind");
  std::string name = Str(ref, "name");
  if (api_group != kRbacGroup) {
    errs.push_back(FieldError{Type::kNotSupported, "roleRef.apiGroup",
                              "supported values: \"rbac.authorization.k8s.io\"",
                              json::string(api_group)});
  }
  if (kind == "Role") {
    errs.push_back(FieldError{Type::kNotSupported, "roleRef.kind",
                              "supported values: \"ClusterRole\" (skiff has no namespaced Roles: "
                              "bind the ClusterRole " +
                                  RoleNames() + ")",
                              json::string(kind)});
  } else if (kind != "ClusterRole") {
    errs.push_back(FieldError{Type::kNotSupported, "roleRef.kind",
                              "supported values: \"ClusterRole\"", json::string(kind)});
  }
  if (name.empty()) {
    errs.push_back(FieldError{Type::kRequired, "roleRef.name", "", {}});
  } else if (FindRole(name) == nullptr) {
    errs.push_back(
        FieldError{Type::kNotSupported, "roleRef.name",
                   "supported values: \"kubeflow-admin\", \"kubeflow-edit\", \"kubeflow-view\"",
                   json::string(name)});
  }
  return errs;
}

FieldErrors ValidateRoleBindingUpdate(const json::object& obj, const json::object& old) {
  FieldErrors errs;
  const json::value* now = obj.if_contains("roleRef");
  const json::value* before = old.if_contains("roleRef");
  if (now != nullptr && before != nullptr && *now != *before) {
    errs.push_back(FieldError{Type::kInvalid, "roleRef", "cannot change roleRef", *now});
  }
  return errs;
}

Result<Binding> ParseBinding(const store::Object& obj) {
  FieldErrors errs = ValidateRoleBinding(obj.object);
  if (!errs.empty()) {
    return InvalidArgument("RoleBinding " + obj.key.ns + "/" + obj.key.name + ": " +
                           errs.front().field + ": " + errs.front().detail);
  }
  Binding b;
  b.ns = obj.key.ns;
  b.name = obj.key.name;
  b.resource_version = obj.resource_version;
  const json::value root(obj.object);
  b.role = GetString(root, "roleRef.name");
  if (const json::value* subjects = obj.object.if_contains("subjects");
      subjects != nullptr && subjects->is_array()) {
    for (const auto& s : subjects->get_array()) {
      const json::object& so = s.get_object();
      b.subjects.push_back({Str(so, "kind"), Str(so, "name"), Str(so, "namespace")});
    }
  }
  return b;
}

Status RegisterRbacKinds(api::KindRegistry& registry) {
  SKIFF_RETURN_IF_ERROR(registry.Register(RoleBindingKind()));
  return registry.Register(ClusterRoleKind());
}

Status EnsureClusterRoles(store::Store& store, Clock& clock) {
  for (const Role& role : Roles()) {
    json::array rules;
    for (const auto& r : role.rules) {
      rules.push_back(json::object{{"apiGroups", StringArray(r.groups)},
                                   {"resources", StringArray(r.resources)},
                                   {"verbs", StringArray(r.verbs)}});
    }
    store::Key key{std::string(kClusterRoleResource), "", role.name};
    auto existing = store.Get(key);
    if (!existing && existing.error().code() != Code::kNotFound) return existing.error();
    if (existing) {
      const json::value* now = existing->object.if_contains("rules");
      if (now != nullptr && *now == json::value(rules)) continue;
      json::object obj = existing->object;
      obj["rules"] = std::move(rules);
      auto updated = store.Update(key, std::move(obj), existing->resource_version);
      if (!updated && updated.error().code() != Code::kAborted) return updated.error();
      continue;
    }
    json::object obj{
        {"apiVersion", "rbac.authorization.k8s.io/v1"},
        {"kind", "ClusterRole"},
        {"metadata",
         json::object{{"name", role.name},
                      {"uid", NewUid()},
                      {"creationTimestamp", FormatRfc3339(clock.Now())},
                      {"labels", json::object{{"app.kubernetes.io/part-of", "skiff"}}},
                      {"annotations", json::object{{"skiff.dev/description", role.description}}}}},
        {"rules", std::move(rules)}};
    auto created = store.Create(key, std::move(obj));
    if (!created && created.error().code() != Code::kAlreadyExists) return created.error();
  }
  return Status::Ok();
}

}  // namespace skiff::authz
