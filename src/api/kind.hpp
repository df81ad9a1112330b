#pragma once
// Kinds: what the resource API serves. A KindRegistry holds one KindInfo per
// (group, version, kind); the generic API code (discovery, CRUD, watch, patch, tables,
// OpenAPI) works from these descriptions alone, so later modules add InferenceService,
// VirtualService, Profile or RoleBinding by registering a KindInfo, with no change here.
// The registry is filled at start-up and immutable afterwards; thread-safe to read.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/json.hpp"
#include "core/principal.hpp"
#include "core/result.hpp"

namespace skiff::api {

// A field-level validation failure, reported as a Kubernetes StatusCause.
struct FieldError {
  enum class Type { kInvalid, kRequired, kNotSupported, kDuplicate, kForbidden, kTooLong };
  Type type = Type::kInvalid;
  std::string field;  // "metadata.name", "spec.predictor.sklearn.storageUri"
  std::string detail;
  std::optional<json::value> bad_value;  // shown as `Invalid value: "x"`
};
using FieldErrors = std::vector<FieldError>;

// A printer column for `kubectl get` (Kubernetes additionalPrinterColumns).
struct PrinterColumn {
  std::string name;         // "Status"
  std::string type;         // "string", "integer", "date", "boolean", "number"
  std::string json_path;    // ".status.phase"; empty when `compute` is used
  std::string description;  //
  int priority = 0;         // 0 = shown by default, >0 only with -o wide
  std::string format;       // "name" for the name column
  // Optional computed cell (takes the object); overrides json_path.
  std::function<json::value(const json::object&)> compute;
};

struct ProtoMessage;  // api/protobuf.hpp

struct KindInfo {
  std::string group;                     // "" for the core group
  std::string version;                   // "v1"
  std::string kind;                      // "Namespace"
  std::string plural;                    // "namespaces"
  std::string singular;                  // "namespace"
  std::vector<std::string> short_names;  // {"ns"}
  std::vector<std::string> categories;   // {"all"}
  bool namespaced = true;
  bool status_subresource = false;  // PUT/PATCH .../status changes only .status
  // Name rule: DNS-1123 label (63 chars, no dots) or subdomain (253 chars, dots allowed).
  bool name_is_label = false;
  // Verbs advertised in discovery.
  std::vector<std::string> verbs = {"create", "delete", "deletecollection", "get",
                                    "list",   "patch",  "update",           "watch"};
  // OpenAPI v3 schema of the whole object (without metadata, which is added). Used for
  // /openapi/v3, strict field validation and pruning. Null = accept any fields.
  json::value schema;
  std::vector<PrinterColumn> columns;  // after NAME; AGE is appended unless listed
  // The generated.proto message of a built-in kind, for create and update bodies sent as
  // application/vnd.kubernetes.protobuf by kubectl's typed clients. Null: JSON and YAML only.
  const ProtoMessage* protobuf = nullptr;

  // Hooks (all optional). They run inside a store transaction's retry loop: keep them pure.
  // Fill defaults and server-owned fields on create (e.g. status.phase).
  std::function<void(json::object& obj)> prepare_for_create;
  // Carry server-owned fields from `old` into `obj` on update (e.g. keep status).
  std::function<void(json::object& obj, const json::object& old)> prepare_for_update;
  // Kind-specific rules on the whole object (after generic metadata checks).
  std::function<FieldErrors(const json::object& obj)> validate;
  // Rules on an update beyond validate (immutable fields).
  std::function<FieldErrors(const json::object& obj, const json::object& old)> validate_update;
  // A kind that is computed, not stored (SelfSubjectAccessReview, SelfSubjectRulesReview):
  // create decodes the body, calls this with the requester (null for in-process callers without
  // one) and answers 201 with the object it returns; every other verb is 405 (advertise only
  // "create" in `verbs`). Runs on the blocking pool; must not block for long.
  std::function<Result<json::object>(const Principal* who, json::object obj)> review;

  std::string GroupVersion() const { return group.empty() ? version : group + "/" + version; }
  // The store's resource name: "namespaces" or "inferenceservices.serving.kserve.io".
  std::string StorageResource() const { return group.empty() ? plural : plural + "." + group; }
  std::string ListKind() const { return kind + "List"; }
};

class KindRegistry {
 public:
  // Refuses duplicates (same group/version/kind or same group/version/plural).
  Status Register(KindInfo info);

  const KindInfo* ByPlural(std::string_view group, std::string_view version,
                           std::string_view plural) const;
  const KindInfo* ByKind(std::string_view group, std::string_view version,
                         std::string_view kind) const;
  // All registered kinds, in registration order.
  const std::vector<std::shared_ptr<const KindInfo>>& kinds() const { return kinds_; }
  // Group names in registration order (the core group "" first if present), and the versions
  // of each group, preferred first.
  std::vector<std::string> Groups() const;
  std::vector<std::string> Versions(std::string_view group) const;
  // Kinds whose objects live in namespaces (deleted with their namespace).
  std::vector<std::shared_ptr<const KindInfo>> NamespacedKinds() const;

 private:
  std::vector<std::shared_ptr<const KindInfo>> kinds_;
};

// Registers the core kinds skiff serves itself: Namespace, plus the namespaced ResourceQuota,
// LimitRange and Event kinds kubectl reads for `describe`.
Status RegisterCoreKinds(KindRegistry& registry);

}  // namespace skiff::api
