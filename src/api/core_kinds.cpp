// The kinds of the core group that skiff serves itself.
#include "api/kind.hpp"

namespace skiff::api {

namespace {

json::value Schema(std::string_view text) {
  auto v = ParseJson(text);
  SKIFF_CHECK(v.has_value());
  return std::move(*v);
}

KindInfo NamespaceKind() {
  KindInfo k;
  k.version = "v1";
  k.kind = "Namespace";
  k.plural = "namespaces";
  k.singular = "namespace";
  k.short_names = {"ns"};
  k.namespaced = false;
  k.name_is_label = true;
  k.status_subresource = true;
  k.schema = Schema(R"({
    "type": "object",
    "description": "Namespace provides a scope for Names.",
    "properties": {
      "apiVersion": {"type": "string"}, "kind": {"type": "string"},
      "metadata": {"type": "object"},
      "spec": {"type": "object", "properties": {
        "finalizers": {"type": "array", "items": {"type": "string"}}}},
      "status": {"type": "object", "properties": {
        "phase": {"type": "string"},
        "conditions": {"type": "array", "items": {"type": "object",
          "x-kubernetes-preserve-unknown-fields": true}}}}
    }
  })");
  k.columns = {
      {"Status", "string", ".status.phase", "The status of the namespace", 0, "", nullptr}};
  k.prepare_for_create = [](json::object& obj) {
    json::object& spec = EnsureObject(obj, "spec");
    if (!spec.contains("finalizers")) spec["finalizers"] = json::array{"kubernetes"};
    json::object& status = EnsureObject(obj, "status");
    status["phase"] = "Active";
  };
  return k;
}

KindInfo ResourceQuotaKind() {
  KindInfo k;
  k.version = "v1";
  k.kind = "ResourceQuota";
  k.plural = "resourcequotas";
  k.singular = "resourcequota";
  k.short_names = {"quota"};
  k.status_subresource = true;
  k.schema = Schema(R"({
    "type": "object",
    "properties": {
      "apiVersion": {"type": "string"}, "kind": {"type": "string"},
      "metadata": {"type": "object"},
      "spec": {"type": "object", "properties": {
        "hard": {"type": "object", "additionalProperties": {"x-kubernetes-int-or-string": true}},
        "scopes": {"type": "array", "items": {"type": "string"}},
        "scopeSelector": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
      "status": {"type": "object", "properties": {
        "hard": {"type": "object", "additionalProperties": {"x-kubernetes-int-or-string": true}},
        "used": {"type": "object", "additionalProperties": {"x-kubernetes-int-or-string": true}}}}
    }
  })");
  return k;
}

KindInfo LimitRangeKind() {
  KindInfo k;
  k.version = "v1";
  k.kind = "LimitRange";
  k.plural = "limitranges";
  k.singular = "limitrange";
  k.short_names = {"limits"};
  k.schema = Schema(R"({
    "type": "object",
    "properties": {
      "apiVersion": {"type": "string"}, "kind": {"type": "string"},
      "metadata": {"type": "object"},
      "spec": {"type": "object", "properties": {
        "limits": {"type": "array", "items": {"type": "object",
          "x-kubernetes-preserve-unknown-fields": true}}}}
    }
  })");
  return k;
}

KindInfo EventKind() {
  KindInfo k;
  k.version = "v1";
  k.kind = "Event";
  k.plural = "events";
  k.singular = "event";
  k.short_names = {"ev"};
  k.schema = Schema(R"({
    "type": "object",
    "properties": {
      "apiVersion": {"type": "string"}, "kind": {"type": "string"},
      "metadata": {"type": "object"},
      "involvedObject": {"type": "object", "properties": {
        "apiVersion": {"type": "string"}, "kind": {"type": "string"},
        "name": {"type": "string"}, "namespace": {"type": "string"},
        "uid": {"type": "string"}, "resourceVersion": {"type": "string"},
        "fieldPath": {"type": "string"}}},
      "reason": {"type": "string"}, "message": {"type": "string"},
      "type": {"type": "string"}, "count": {"type": "integer"},
      "firstTimestamp": {"type": "string"}, "lastTimestamp": {"type": "string"},
      "eventTime": {"type": "string"},
      "source": {"type": "object", "properties": {
        "component": {"type": "string"}, "host": {"type": "string"}}},
      "reportingComponent": {"type": "string"}, "reportingInstance": {"type": "string"},
      "action": {"type": "string"},
      "related": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
      "series": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
    }
  })");
  k.columns = {
      {"Last Seen", "date", ".lastTimestamp", "Time of the last occurrence", 0, "", nullptr},
      {"Type", "string", ".type", "Type of this event", 0, "", nullptr},
      {"Reason", "string", ".reason", "Why the action was taken", 0, "", nullptr},
      {"Object", "string", "", "The object this event is about", 0, "",
       [](const json::object& o) -> json::value {
         const json::value root(o);
         std::string kind = GetString(root, "involvedObject.kind");
         for (auto& c : kind) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
         return json::string(kind + "/" + GetString(root, "involvedObject.name"));
       }},
      {"Message", "string", ".message", "A human-readable description", 0, "", nullptr},
  };
  return k;
}

}  // namespace

Status RegisterCoreKinds(KindRegistry& registry) {
  SKIFF_RETURN_IF_ERROR(registry.Register(NamespaceKind()));
  SKIFF_RETURN_IF_ERROR(registry.Register(ResourceQuotaKind()));
  SKIFF_RETURN_IF_ERROR(registry.Register(LimitRangeKind()));
  SKIFF_RETURN_IF_ERROR(registry.Register(EventKind()));
  return Status::Ok();
}

}  // namespace skiff::api
