// The kinds of the core group that skiff serves itself.
#include "api/kind.hpp"
#include "api/protobuf.hpp"

namespace skiff::api {

namespace {

// Protobuf descriptors: field numbers from k8s.io/api/core/v1/generated.proto, JSON names and
// omitempty from the json tags of k8s.io/api/core/v1/types.go.
constexpr ProtoField kNamespaceConditionFields[] = {
    {.number = 1, .json_name = "type", .emit = ProtoEmit::kAlways},
    {.number = 2, .json_name = "status", .emit = ProtoEmit::kAlways},
    {.number = 4, .json_name = "lastTransitionTime", .type = ProtoType::kTime},
    {.number = 5, .json_name = "reason"},
    {.number = 6, .json_name = "message"},
};
constexpr ProtoMessage kNamespaceConditionProto{"NamespaceCondition", kNamespaceConditionFields};

constexpr ProtoField kNamespaceSpecFields[] = {
    {.number = 1, .json_name = "finalizers", .repeated = true},
};
constexpr ProtoMessage kNamespaceSpecProto{"NamespaceSpec", kNamespaceSpecFields};

constexpr ProtoField kNamespaceStatusFields[] = {
    {.number = 1, .json_name = "phase"},
    {.number = 2,
     .json_name = "conditions",
     .type = ProtoType::kMessage,
     .repeated = true,
     .message = &kNamespaceConditionProto},
};
constexpr ProtoMessage kNamespaceStatusProto{"NamespaceStatus", kNamespaceStatusFields};

constexpr ProtoField kNamespaceFields[] = {
    {.number = 1,
     .json_name = "metadata",
     .type = ProtoType::kMessage,
     .emit = ProtoEmit::kAlways,
     .message = &kObjectMetaProto},
    {.number = 2,
     .json_name = "spec",
     .type = ProtoType::kMessage,
     .emit = ProtoEmit::kAlways,
     .message = &kNamespaceSpecProto},
    {.number = 3,
     .json_name = "status",
     .type = ProtoType::kMessage,
     .emit = ProtoEmit::kAlways,
     .message = &kNamespaceStatusProto},
};
constexpr ProtoMessage kNamespaceProto{"Namespace", kNamespaceFields};

constexpr ProtoField kScopedResourceSelectorRequirementFields[] = {
    {.number = 1, .json_name = "scopeName", .emit = ProtoEmit::kAlways},
    {.number = 2, .json_name = "operator", .emit = ProtoEmit::kAlways},
    {.number = 3, .json_name = "values", .repeated = true},
};
constexpr ProtoMessage kScopedResourceSelectorRequirementProto{
    "ScopedResourceSelectorRequirement", kScopedResourceSelectorRequirementFields};

constexpr ProtoField kScopeSelectorFields[] = {
    {.number = 1,
     .json_name = "matchExpressions",
     .type = ProtoType::kMessage,
     .repeated = true,
     .message = &kScopedResourceSelectorRequirementProto},
};
constexpr ProtoMessage kScopeSelectorProto{"ScopeSelector", kScopeSelectorFields};

constexpr ProtoField kResourceQuotaSpecFields[] = {
    {.number = 1, .json_name = "hard", .type = ProtoType::kQuantityMap},
    {.number = 2, .json_name = "scopes", .repeated = true},
    {.number = 3,
     .json_name = "scopeSelector",
     .type = ProtoType::kMessage,
     .emit = ProtoEmit::kPresence,
     .message = &kScopeSelectorProto},
};
constexpr ProtoMessage kResourceQuotaSpecProto{"ResourceQuotaSpec", kResourceQuotaSpecFields};

constexpr ProtoField kResourceQuotaStatusFields[] = {
    {.number = 1, .json_name = "hard", .type = ProtoType::kQuantityMap},
    {.number = 2, .json_name = "used", .type = ProtoType::kQuantityMap},
};
constexpr ProtoMessage kResourceQuotaStatusProto{"ResourceQuotaStatus", kResourceQuotaStatusFields};

constexpr ProtoField kResourceQuotaFields[] = {
    {.number = 1,
     .json_name = "metadata",
     .type = ProtoType::kMessage,
     .emit = ProtoEmit::kAlways,
     .message = &kObjectMetaProto},
    {.number = 2,
     .json_name = "spec",
     .type = ProtoType::kMessage,
     .emit = ProtoEmit::kAlways,
     .message = &kResourceQuotaSpecProto},
    {.number = 3,
     .json_name = "status",
     .type = ProtoType::kMessage,
     .emit = ProtoEmit::kAlways,
     .message = &kResourceQuotaStatusProto},
};
constexpr ProtoMessage kResourceQuotaProto{"ResourceQuota", kResourceQuotaFields};

constexpr ProtoField kLimitRangeItemFields[] = {
    {.number = 1, .json_name = "type", .emit = ProtoEmit::kAlways},
    {.number = 2, .json_name = "max", .type = ProtoType::kQuantityMap},
    {.number = 3, .json_name = "min", .type = ProtoType::kQuantityMap},
    {.number = 4, .json_name = "default", .type = ProtoType::kQuantityMap},
    {.number = 5, .json_name = "defaultRequest", .type = ProtoType::kQuantityMap},
    {.number = 6, .json_name = "maxLimitRequestRatio", .type = ProtoType::kQuantityMap},
};
constexpr ProtoMessage kLimitRangeItemProto{"LimitRangeItem", kLimitRangeItemFields};

constexpr ProtoField kLimitRangeSpecFields[] = {
    // `json:"limits"` without omitempty: no items is null, as Go writes a nil slice.
    {.number = 1,
     .json_name = "limits",
     .type = ProtoType::kMessage,
     .repeated = true,
     .emit = ProtoEmit::kAlways,
     .message = &kLimitRangeItemProto},
};
constexpr ProtoMessage kLimitRangeSpecProto{"LimitRangeSpec", kLimitRangeSpecFields};

constexpr ProtoField kLimitRangeFields[] = {
    {.number = 1,
     .json_name = "metadata",
     .type = ProtoType::kMessage,
     .emit = ProtoEmit::kAlways,
     .message = &kObjectMetaProto},
    {.number = 2,
     .json_name = "spec",
     .type = ProtoType::kMessage,
     .emit = ProtoEmit::kAlways,
     .message = &kLimitRangeSpecProto},
};
constexpr ProtoMessage kLimitRangeProto{"LimitRange", kLimitRangeFields};

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
  k.protobuf = &kNamespaceProto;
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
  k.protobuf = &kResourceQuotaProto;
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
  k.protobuf = &kLimitRangeProto;
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
