#pragma once
// Kubernetes protobuf request bodies (Content-Type: application/vnd.kubernetes.protobuf), which
// kubectl's typed clients send for built-in kinds (`kubectl create namespace`, `create quota`,
// `create rolebinding`). The body is decoded into the JSON object the same request would have
// carried as application/json, so everything after DecodeObject is unchanged. Responses stay
// JSON: client-go decodes by the response Content-Type, and kubectl's Accept lists JSON too.
//
// Table-driven: a ProtoMessage lists the fields of one message of the Kubernetes generated.proto
// files, with the field numbers, the JSON names and the Go `omitempty` behaviour of the struct
// tags. Descriptors are constant data; decoding is pure and thread-safe. The input is untrusted:
// every read is bounds-checked, nesting is limited, and strings must be valid UTF-8.

#include <cstdint>
#include <span>
#include <string_view>

#include "core/json.hpp"
#include "core/result.hpp"

namespace skiff::api {

struct ProtoMessage;

// What a field holds on the wire and how it maps to JSON.
enum class ProtoType : uint8_t {
  kString,       // string -> JSON string
  kInt64,        // int64 (varint, two's complement) -> JSON number
  kBool,         // bool (varint) -> JSON boolean
  kMessage,      // embedded message described by ProtoField::message -> JSON object
  kTime,         // meta.v1.Time {1: int64 seconds, 2: int32 nanos} -> "2006-01-02T15:04:05Z"
  kFieldsV1,     // meta.v1.FieldsV1 {1: bytes Raw} -> the JSON value Raw holds
  kStringMap,    // map<string, string> -> JSON object of strings
  kQuantityMap,  // map<string, resource.Quantity {1: string}> -> JSON object of strings
};

// When a field appears in the JSON, following the json tag of the Go struct field.
enum class ProtoEmit : uint8_t {
  // `json:"x,omitempty"` on a string, number, bool, slice or map: left out when absent or
  // zero/empty. (Go never omits a struct value; use kAlways for those.)
  kOmitEmpty,
  // No omitempty, or a struct value: the zero value when absent ("", 0, false; null for a slice
  // or map; for a struct, what the empty message decodes to).
  kAlways,
  // A pointer (`*bool`, `*int64`, `*Struct`): present exactly when the field is on the wire.
  kPresence,
};
// A zero meta.v1.Time marshals as JSON null in Go; it is left out whatever the ProtoEmit.

// Packed repeated numbers are not supported: none of the described messages has one.
struct ProtoField {
  uint32_t number = 0;         // the field number in generated.proto
  std::string_view json_name;  // "creationTimestamp"
  ProtoType type = ProtoType::kString;
  bool repeated = false;  // `repeated` in the .proto; a JSON array (not for maps)
  ProtoEmit emit = ProtoEmit::kOmitEmpty;
  const ProtoMessage* message = nullptr;  // REQUIRES: set for kMessage, null otherwise
};

struct ProtoMessage {
  std::string_view name;               // "ObjectMeta", used in error messages
  std::span<const ProtoField> fields;  // in Go struct order, which is the order of JSON keys
};

// Shared descriptors of k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto. Constant-
// initialized, so other translation units may take their addresses in their own descriptors.
extern const ProtoMessage kObjectMetaProto;
// k8s.io/api/rbac/v1/generated.proto RoleBinding, for the RBAC kinds when they are registered.
extern const ProtoMessage kRbacV1RoleBindingProto;

// Deepest nesting of embedded messages the decoder follows (the envelope counts as one level).
inline constexpr int kMaxProtoDepth = 32;

// Decodes a whole request body: the magic "k8s\x00", then a runtime.Unknown whose typeMeta must
// name `api_version` and `kind` and whose raw bytes are a `message`. Returns the JSON object with
// "kind" and "apiVersion" first. Errors are InvalidArgument and name the problem and the field.
Result<json::object> DecodeKubernetesProtobuf(std::string_view body, const ProtoMessage& message,
                                              std::string_view api_version, std::string_view kind);

// Decodes one message (e.g. runtime.Unknown.raw) without envelope or type fields.
Result<json::object> DecodeProtoMessage(std::string_view bytes, const ProtoMessage& message);

}  // namespace skiff::api
