// Decoding Kubernetes protobuf bodies against ProtoMessage tables. Wire format:
// https://protobuf.dev/programming-guides/encoding/. Envelope and JSON mapping:
// k8s.io/apimachinery/pkg/runtime/serializer/protobuf and the json tags of the Go types.
#include "api/protobuf.hpp"

#include <array>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

namespace skiff::api {

namespace {

enum WireType : uint32_t {
  kVarint = 0,
  kFixed64 = 1,
  kLengthDelimited = 2,
  kStartGroup = 3,
  kEndGroup = 4,
  kFixed32 = 5,
};

constexpr int kMaxVarintBytes = 10;

// A cursor over untrusted bytes. Every read is bounds-checked; a failed read returns false and
// leaves a description (without location: the decoder adds the field path) in error().
class WireReader {
 public:
  explicit WireReader(std::string_view data) : data_(data) {}

  bool AtEnd() const { return pos_ == data_.size(); }
  const char* error() const { return error_; }

  bool ReadVarint(uint64_t& out) {
    uint64_t v = 0;
    for (int i = 0; i < kMaxVarintBytes; ++i) {
      if (pos_ == data_.size()) return Fail("truncated varint");
      auto b = static_cast<uint8_t>(data_[pos_++]);
      // The tenth byte holds bit 63 only; anything more is not a 64-bit varint.
      if (i == kMaxVarintBytes - 1 && b > 1) {
        return Fail((b & 0x80) != 0 ? "varint longer than 10 bytes" : "varint overflows 64 bits");
      }
      v |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
      if ((b & 0x80) == 0) {
        out = v;
        return true;
      }
    }
    return Fail("varint longer than 10 bytes");
  }

  bool ReadKey(uint32_t& number, uint32_t& wire) {
    uint64_t key = 0;
    if (!ReadVarint(key)) return false;
    // Field numbers are 29 bits: a key is a 32-bit value.
    if (key > 0xffffffffu) return Fail("field key out of range");
    number = static_cast<uint32_t>(key >> 3);
    wire = static_cast<uint32_t>(key & 7);
    if (number == 0) return Fail("field number 0 is not valid");
    return true;
  }

  bool ReadLengthDelimited(std::string_view& out) {
    uint64_t len = 0;
    if (!ReadVarint(len)) return false;
    if (len > data_.size() - pos_) return Fail("truncated length-delimited field");
    out = data_.substr(pos_, static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
    return true;
  }

  // Skips the value of a field the descriptor does not know.
  bool Skip(uint32_t wire) {
    switch (wire) {
      case kVarint: {
        uint64_t ignored = 0;
        return ReadVarint(ignored);
      }
      case kFixed64:
        return Advance(8);
      case kLengthDelimited: {
        std::string_view ignored;
        return ReadLengthDelimited(ignored);
      }
      case kFixed32:
        return Advance(4);
      case kStartGroup:
      case kEndGroup:
        return Fail("groups (wire types 3 and 4) are not used by Kubernetes");
      default:
        return Fail("invalid wire type");
    }
  }

 private:
  bool Advance(size_t n) {
    if (n > data_.size() - pos_) return Fail("truncated fixed-width field");
    pos_ += n;
    return true;
  }
  bool Fail(const char* e) {
    error_ = e;
    return false;
  }

  std::string_view data_;
  size_t pos_ = 0;
  const char* error_ = "";
};

// Strict UTF-8 (no overlong forms, surrogates or code points past U+10FFFF). Strings go into
// JSON that the store parses back, and Boost.JSON rejects invalid UTF-8 when parsing.
bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<uint8_t>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    uint32_t cp = 0;
    if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1fu;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0fu;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07u;
    } else {
      return false;
    }
    if (s.size() - i < len) return false;
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3fu);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += len;
  }
  return true;
}

// The range meta.v1.Time documents: 0001-01-01T00:00:00Z (Go's zero time.Time) to
// 9999-12-31T23:59:59Z.
constexpr int64_t kMinTimeSeconds = -62135596800;
constexpr int64_t kMaxTimeSeconds = 253402300799;

// RFC 3339 in UTC with whole seconds, as metav1.Time marshals. REQUIRES: secs in range.
std::string FormatTime(int64_t secs) {
  int64_t days = secs / 86400;
  int64_t rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  // Civil date from days since 1970-01-01 (H. Hinnant, "chrono-Compatible Low-Level Date
  // Algorithms"), proleptic Gregorian.
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const int64_t doe = days - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t day = doy - (153 * mp + 2) / 5 + 1;
  const int64_t month = mp < 10 ? mp + 3 : mp - 9;
  const int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  // Bounded by the range check: year 1..9999, so the text is exactly 20 characters.
  std::array<char, 64> buf{};
  std::snprintf(buf.data(), buf.size(), "%04d-%02d-%02dT%02d:%02d:%02dZ", static_cast<int>(year),
                static_cast<int>(month), static_cast<int>(day), static_cast<int>(rem / 3600),
                static_cast<int>(rem % 3600 / 60), static_cast<int>(rem % 60));
  return buf.data();
}

bool IsMap(ProtoType t) { return t == ProtoType::kStringMap || t == ProtoType::kQuantityMap; }

uint32_t ExpectedWireType(ProtoType t) {
  return t == ProtoType::kInt64 || t == ProtoType::kBool ? kVarint : kLengthDelimited;
}

json::value ZeroValue(ProtoType t) {
  switch (t) {
    case ProtoType::kString:
      return json::string();
    case ProtoType::kInt64:
      return json::value(int64_t{0});
    case ProtoType::kBool:
      return json::value(false);
    default:
      return nullptr;
  }
}

// Go's omitempty: "", 0 and false are empty; a struct never is.
bool IsEmptyScalar(const json::value& v) {
  if (const auto* s = v.if_string()) return s->empty();
  if (const auto* i = v.if_int64()) return *i == 0;
  if (const auto* b = v.if_bool()) return !*b;
  return false;
}

class Decoder {
 public:
  explicit Decoder(std::string_view root) { path_.emplace_back(root); }

  Result<json::object> Message(std::string_view bytes, const ProtoMessage& m, int depth) {
    if (depth > kMaxProtoDepth) {
      return Error("messages nested deeper than " + std::to_string(kMaxProtoDepth) + " levels");
    }
    struct Slot {
      bool present = false;
      json::value value;
    };
    std::vector<Slot> slots(m.fields.size());
    WireReader r(bytes);
    while (!r.AtEnd()) {
      uint32_t number = 0;
      uint32_t wire = 0;
      if (!r.ReadKey(number, wire)) return Error(r.error());
      size_t idx = 0;
      while (idx < m.fields.size() && m.fields[idx].number != number) ++idx;
      if (idx == m.fields.size()) {
        // Unknown fields are skipped, as Go's generated code does: newer clients may send
        // fields this table does not list.
        if (!r.Skip(wire)) return Error("field " + std::to_string(number) + ": " + r.error());
        continue;
      }
      const ProtoField& f = m.fields[idx];
      Slot& slot = slots[idx];
      if (wire != ExpectedWireType(f.type)) {
        return Error(std::string(f.json_name) + " (field " + std::to_string(number) +
                     ") has wire type " + std::to_string(wire) + ", expected " +
                     std::to_string(ExpectedWireType(f.type)));
      }
      if (f.repeated && !slot.present) slot.value = json::array();
      if (IsMap(f.type) && !slot.present) slot.value = json::object();
      slot.present = true;

      std::string segment(f.json_name);
      if (f.repeated) segment += "[" + std::to_string(slot.value.as_array().size()) + "]";
      path_.push_back(std::move(segment));
      Status s = Field(r, f, depth, slot.value);
      path_.pop_back();
      if (!s.ok()) return s;
    }

    json::object out;
    for (size_t i = 0; i < m.fields.size(); ++i) {
      const ProtoField& f = m.fields[i];
      Slot& slot = slots[i];
      if (f.type == ProtoType::kTime || f.type == ProtoType::kFieldsV1) {
        // Null here is a zero time or empty FieldsV1: Go writes null or nothing, never a value.
        if (slot.present && !slot.value.is_null()) out.emplace(f.json_name, std::move(slot.value));
        continue;
      }
      if (f.repeated || IsMap(f.type)) {
        // A present list or map has at least one element. An absent one is a nil slice or map,
        // which Go writes as null unless omitempty.
        if (slot.present) {
          out.emplace(f.json_name, std::move(slot.value));
        } else if (f.emit == ProtoEmit::kAlways) {
          out.emplace(f.json_name, nullptr);
        }
        continue;
      }
      switch (f.emit) {
        case ProtoEmit::kPresence:
          if (slot.present) out.emplace(f.json_name, std::move(slot.value));
          break;
        case ProtoEmit::kAlways:
        case ProtoEmit::kOmitEmpty:
          if (f.type == ProtoType::kMessage || f.emit == ProtoEmit::kAlways) {
            if (!slot.present) {
              // The zero struct is the empty message: {"limits": null}, not {}.
              if (f.type == ProtoType::kMessage) {
                SKIFF_ASSIGN_OR_RETURN(slot.value, Message({}, *f.message, depth + 1));
              } else {
                slot.value = ZeroValue(f.type);
              }
            }
            out.emplace(f.json_name, std::move(slot.value));
          } else if (slot.present && !IsEmptyScalar(slot.value)) {
            out.emplace(f.json_name, std::move(slot.value));
          }
          break;
      }
    }
    return out;
  }

  Status Error(std::string_view problem) const {
    std::string where;
    for (const auto& p : path_) {
      if (p.empty()) continue;
      if (!where.empty()) where += '.';
      where += p;
    }
    return InvalidArgument("invalid protobuf body: " + where + ": " + std::string(problem));
  }

  void ResetPath(std::string_view root) {
    path_.clear();
    path_.emplace_back(root);
  }

 private:
  // Reads the value of `f` (wire type already checked) and stores it into `dest`: replacing a
  // scalar or message (last one wins, as for proto scalars), appending to a list, or setting a
  // map key. A message repeated on the wire is not merged with the earlier one; encoders of
  // Kubernetes objects never split a message.
  Status Field(WireReader& r, const ProtoField& f, int depth, json::value& dest) {
    json::value v;
    if (f.type == ProtoType::kInt64 || f.type == ProtoType::kBool) {
      uint64_t raw = 0;
      if (!r.ReadVarint(raw)) return Error(r.error());
      v = f.type == ProtoType::kBool ? json::value(raw != 0)
                                     : json::value(static_cast<int64_t>(raw));
    } else {
      std::string_view bytes;
      if (!r.ReadLengthDelimited(bytes)) return Error(r.error());
      switch (f.type) {
        case ProtoType::kString: {
          SKIFF_ASSIGN_OR_RETURN(v, String(bytes));
          break;
        }
        case ProtoType::kMessage: {
          SKIFF_CHECK(f.message != nullptr);
          SKIFF_ASSIGN_OR_RETURN(v, Message(bytes, *f.message, depth + 1));
          break;
        }
        case ProtoType::kTime: {
          SKIFF_ASSIGN_OR_RETURN(v, Time(bytes, depth + 1));
          break;
        }
        case ProtoType::kFieldsV1: {
          SKIFF_ASSIGN_OR_RETURN(v, FieldsV1(bytes, depth + 1));
          break;
        }
        case ProtoType::kStringMap:
        case ProtoType::kQuantityMap: {
          std::string key;
          SKIFF_RETURN_IF_ERROR(MapEntry(bytes, f.type, depth + 1, key, v));
          dest.as_object()[key] = std::move(v);  // a repeated key replaces, as in a Go map
          return Status::Ok();
        }
        default:
          SKIFF_CHECK(false);
      }
    }
    if (f.repeated) {
      dest.as_array().push_back(std::move(v));
    } else {
      dest = std::move(v);
    }
    return Status::Ok();
  }

  Result<json::value> String(std::string_view bytes) const {
    if (!IsValidUtf8(bytes)) return Error("string is not valid UTF-8");
    return json::value(json::string(bytes));
  }

  // meta.v1.Time {1: int64 seconds, 2: int32 nanos}. Null for the zero time, which Go marshals
  // as null (an empty message decodes to the zero time, as in metav1.Time.Unmarshal).
  Result<json::value> Time(std::string_view bytes, int depth) const {
    if (depth > kMaxProtoDepth) return Error("messages nested too deeply");
    int64_t seconds = 0;
    int64_t nanos = 0;
    WireReader r(bytes);
    while (!r.AtEnd()) {
      uint32_t number = 0;
      uint32_t wire = 0;
      if (!r.ReadKey(number, wire)) return Error(r.error());
      if (number == 1 || number == 2) {
        if (wire != kVarint) return Error("Time field " + std::to_string(number) + " is no varint");
        uint64_t raw = 0;
        if (!r.ReadVarint(raw)) return Error(r.error());
        if (number == 1) {
          seconds = static_cast<int64_t>(raw);
        } else {
          nanos = static_cast<int32_t>(static_cast<uint32_t>(raw));  // int32: low 32 bits
        }
      } else if (!r.Skip(wire)) {
        return Error("field " + std::to_string(number) + ": " + r.error());
      }
    }
    if (bytes.empty()) return json::value(nullptr);
    if (seconds < kMinTimeSeconds || seconds > kMaxTimeSeconds) {
      return Error("time " + std::to_string(seconds) +
                   "s is outside 0001-01-01T00:00:00Z..9999-12-31T23:59:59Z");
    }
    if (nanos < 0 || nanos > 999'999'999) {
      return Error("time nanos " + std::to_string(nanos) + " is outside 0..999999999");
    }
    if (seconds == kMinTimeSeconds && nanos == 0) return json::value(nullptr);
    return json::value(FormatTime(seconds));  // metav1.Time drops fractions of a second
  }

  // meta.v1.FieldsV1 {1: bytes Raw}: Raw is JSON and is embedded as such. Null when empty.
  Result<json::value> FieldsV1(std::string_view bytes, int depth) const {
    if (depth > kMaxProtoDepth) return Error("messages nested too deeply");
    std::string_view raw;
    WireReader r(bytes);
    while (!r.AtEnd()) {
      uint32_t number = 0;
      uint32_t wire = 0;
      if (!r.ReadKey(number, wire)) return Error(r.error());
      if (number == 1) {
        if (wire != kLengthDelimited) return Error("FieldsV1 Raw is not length-delimited");
        if (!r.ReadLengthDelimited(raw)) return Error(r.error());
      } else if (!r.Skip(wire)) {
        return Error("field " + std::to_string(number) + ": " + r.error());
      }
    }
    if (raw.empty()) return json::value(nullptr);
    auto parsed = ParseJson(raw);
    if (!parsed) return Error("FieldsV1 is not valid JSON: " + parsed.error().message());
    return std::move(*parsed);
  }

  // A map entry {1: string key, 2: value}, the value a string or a resource.Quantity
  // {1: string}. Missing parts are their zero values; a zero Quantity is "0".
  Status MapEntry(std::string_view bytes, ProtoType type, int depth, std::string& key,
                  json::value& value) const {
    if (depth > kMaxProtoDepth) return Error("messages nested too deeply");
    std::string_view key_bytes;
    std::string_view value_bytes;
    bool has_value = false;
    WireReader r(bytes);
    while (!r.AtEnd()) {
      uint32_t number = 0;
      uint32_t wire = 0;
      if (!r.ReadKey(number, wire)) return Error(r.error());
      if (number == 1 || number == 2) {
        if (wire != kLengthDelimited) {
          return Error("map entry field " + std::to_string(number) + " is not length-delimited");
        }
        std::string_view& dest = number == 1 ? key_bytes : value_bytes;
        if (!r.ReadLengthDelimited(dest)) return Error(r.error());
        has_value = has_value || number == 2;
      } else if (!r.Skip(wire)) {
        return Error("field " + std::to_string(number) + ": " + r.error());
      }
    }
    if (!IsValidUtf8(key_bytes)) return Error("map key is not valid UTF-8");
    key.assign(key_bytes);
    if (type == ProtoType::kStringMap) {
      if (!IsValidUtf8(value_bytes))
        return Error("map value of \"" + key + "\" is not valid UTF-8");
      value = json::string(value_bytes);
      return Status::Ok();
    }
    std::string_view quantity;
    if (has_value) {
      if (depth + 1 > kMaxProtoDepth) return Error("messages nested too deeply");
      WireReader q(value_bytes);
      while (!q.AtEnd()) {
        uint32_t number = 0;
        uint32_t wire = 0;
        if (!q.ReadKey(number, wire)) return Error(q.error());
        if (number == 1) {
          if (wire != kLengthDelimited) return Error("Quantity string is not length-delimited");
          if (!q.ReadLengthDelimited(quantity)) return Error(q.error());
        } else if (!q.Skip(wire)) {
          return Error("field " + std::to_string(number) + ": " + q.error());
        }
      }
    }
    if (!IsValidUtf8(quantity)) return Error("quantity of \"" + key + "\" is not valid UTF-8");
    value = json::string(quantity.empty() ? std::string_view("0") : quantity);
    return Status::Ok();
  }

  std::vector<std::string> path_;  // "Namespace", "metadata", "ownerReferences[0]", ...
};

// k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto and the json tags of types.go.
constexpr ProtoField kOwnerReferenceFields[] = {
    {.number = 5, .json_name = "apiVersion", .emit = ProtoEmit::kAlways},
    {.number = 1, .json_name = "kind", .emit = ProtoEmit::kAlways},
    {.number = 3, .json_name = "name", .emit = ProtoEmit::kAlways},
    {.number = 4, .json_name = "uid", .emit = ProtoEmit::kAlways},
    {.number = 6,
     .json_name = "controller",
     .type = ProtoType::kBool,
     .emit = ProtoEmit::kPresence},
    {.number = 7,
     .json_name = "blockOwnerDeletion",
     .type = ProtoType::kBool,
     .emit = ProtoEmit::kPresence},
};
constexpr ProtoMessage kOwnerReferenceProto{"OwnerReference", kOwnerReferenceFields};

constexpr ProtoField kManagedFieldsEntryFields[] = {
    {.number = 1, .json_name = "manager"},
    {.number = 2, .json_name = "operation"},
    {.number = 3, .json_name = "apiVersion"},
    {.number = 4, .json_name = "time", .type = ProtoType::kTime},
    {.number = 6, .json_name = "fieldsType"},
    {.number = 7, .json_name = "fieldsV1", .type = ProtoType::kFieldsV1},
    {.number = 8, .json_name = "subresource"},
};
constexpr ProtoMessage kManagedFieldsEntryProto{"ManagedFieldsEntry", kManagedFieldsEntryFields};

constexpr ProtoField kObjectMetaFields[] = {
    {.number = 1, .json_name = "name"},
    {.number = 2, .json_name = "generateName"},
    {.number = 3, .json_name = "namespace"},
    {.number = 4, .json_name = "selfLink"},
    {.number = 5, .json_name = "uid"},
    {.number = 6, .json_name = "resourceVersion"},
    {.number = 7, .json_name = "generation", .type = ProtoType::kInt64},
    {.number = 8, .json_name = "creationTimestamp", .type = ProtoType::kTime},
    {.number = 9, .json_name = "deletionTimestamp", .type = ProtoType::kTime},
    {.number = 10,
     .json_name = "deletionGracePeriodSeconds",
     .type = ProtoType::kInt64,
     .emit = ProtoEmit::kPresence},
    {.number = 11, .json_name = "labels", .type = ProtoType::kStringMap},
    {.number = 12, .json_name = "annotations", .type = ProtoType::kStringMap},
    {.number = 13,
     .json_name = "ownerReferences",
     .type = ProtoType::kMessage,
     .repeated = true,
     .message = &kOwnerReferenceProto},
    {.number = 14, .json_name = "finalizers", .repeated = true},
    {.number = 17,
     .json_name = "managedFields",
     .type = ProtoType::kMessage,
     .repeated = true,
     .message = &kManagedFieldsEntryProto},
};

// k8s.io/api/rbac/v1/generated.proto and types.go.
constexpr ProtoField kSubjectFields[] = {
    {.number = 1, .json_name = "kind", .emit = ProtoEmit::kAlways},
    {.number = 2, .json_name = "apiGroup"},
    {.number = 3, .json_name = "name", .emit = ProtoEmit::kAlways},
    {.number = 4, .json_name = "namespace"},
};
constexpr ProtoMessage kSubjectProto{"Subject", kSubjectFields};

constexpr ProtoField kRoleRefFields[] = {
    {.number = 1, .json_name = "apiGroup", .emit = ProtoEmit::kAlways},
    {.number = 2, .json_name = "kind", .emit = ProtoEmit::kAlways},
    {.number = 3, .json_name = "name", .emit = ProtoEmit::kAlways},
};
constexpr ProtoMessage kRoleRefProto{"RoleRef", kRoleRefFields};

}  // namespace

constinit const ProtoMessage kObjectMetaProto{"ObjectMeta", kObjectMetaFields};

namespace {
constexpr ProtoField kRoleBindingFields[] = {
    {.number = 1,
     .json_name = "metadata",
     .type = ProtoType::kMessage,
     .emit = ProtoEmit::kAlways,
     .message = &kObjectMetaProto},
    {.number = 2,
     .json_name = "subjects",
     .type = ProtoType::kMessage,
     .repeated = true,
     .message = &kSubjectProto},
    {.number = 3,
     .json_name = "roleRef",
     .type = ProtoType::kMessage,
     .emit = ProtoEmit::kAlways,
     .message = &kRoleRefProto},
};
}  // namespace

constinit const ProtoMessage kRbacV1RoleBindingProto{"RoleBinding", kRoleBindingFields};

Result<json::object> DecodeProtoMessage(std::string_view bytes, const ProtoMessage& message) {
  Decoder d(message.name);
  return d.Message(bytes, message, 1);
}

Result<json::object> DecodeKubernetesProtobuf(std::string_view body, const ProtoMessage& message,
                                              std::string_view api_version, std::string_view kind) {
  // k8s.io/apimachinery/pkg/runtime/serializer/protobuf: the body is this prefix followed by a
  // runtime.Unknown {1: TypeMeta typeMeta {1: apiVersion, 2: kind}, 2: bytes raw,
  // 3: string contentEncoding, 4: string contentType}.
  constexpr std::string_view kMagic("k8s\0", 4);
  if (body.substr(0, kMagic.size()) != kMagic) {
    return InvalidArgument(
        "invalid protobuf body: it does not start with the Kubernetes prefix \"k8s\\x00\"");
  }
  Decoder d("runtime.Unknown");
  std::string_view type_meta;
  std::string_view raw;
  std::string_view content_encoding;
  std::string_view content_type;
  WireReader r(body.substr(kMagic.size()));
  while (!r.AtEnd()) {
    uint32_t number = 0;
    uint32_t wire = 0;
    if (!r.ReadKey(number, wire)) return d.Error(r.error());
    if (number >= 1 && number <= 4) {
      if (wire != kLengthDelimited) {
        return d.Error("field " + std::to_string(number) + " is not length-delimited");
      }
      std::string_view* dest[] = {&type_meta, &raw, &content_encoding, &content_type};
      if (!r.ReadLengthDelimited(*dest[number - 1])) return d.Error(r.error());
    } else if (!r.Skip(wire)) {
      return d.Error("field " + std::to_string(number) + ": " + r.error());
    }
  }
  std::string_view got_api_version;
  std::string_view got_kind;
  d.ResetPath("runtime.Unknown.typeMeta");
  WireReader t(type_meta);
  while (!t.AtEnd()) {
    uint32_t number = 0;
    uint32_t wire = 0;
    if (!t.ReadKey(number, wire)) return d.Error(t.error());
    if (number == 1 || number == 2) {
      if (wire != kLengthDelimited) {
        return d.Error("field " + std::to_string(number) + " is not length-delimited");
      }
      if (!t.ReadLengthDelimited(number == 1 ? got_api_version : got_kind)) {
        return d.Error(t.error());
      }
    } else if (!t.Skip(wire)) {
      return d.Error("field " + std::to_string(number) + ": " + t.error());
    }
  }
  if (!IsValidUtf8(got_api_version) || !IsValidUtf8(got_kind)) {
    return d.Error("apiVersion or kind is not valid UTF-8");
  }
  // The API server refuses an Unknown without kind or version (runtime.NewMissingKindErr).
  if (got_kind.empty()) return d.Error("the object has no kind");
  if (got_api_version.empty()) return d.Error("the object has no apiVersion");
  if (got_api_version != api_version) {
    return InvalidArgument("the API version in the data (" + std::string(got_api_version) +
                           ") does not match the expected API version (" +
                           std::string(api_version) + ")");
  }
  if (got_kind != kind) {
    return InvalidArgument("the kind in the data (" + std::string(got_kind) +
                           ") does not match the expected kind (" + std::string(kind) + ")");
  }
  d.ResetPath("runtime.Unknown");
  if (!content_encoding.empty()) {
    return d.Error("contentEncoding is not supported (got \"" +
                   std::string(IsValidUtf8(content_encoding) ? content_encoding : "?") + "\")");
  }
  if (!content_type.empty() && content_type != "application/vnd.kubernetes.protobuf") {
    return d.Error("contentType must be application/vnd.kubernetes.protobuf (got \"" +
                   std::string(IsValidUtf8(content_type) ? content_type : "?") + "\")");
  }

  d.ResetPath(message.name);
  SKIFF_ASSIGN_OR_RETURN(json::object fields, d.Message(raw, message, 2));
  json::object out;
  out.reserve(fields.size() + 2);
  out.emplace("kind", kind);
  out.emplace("apiVersion", api_version);
  for (auto& kv : fields) out.emplace(kv.key(), std::move(kv.value()));
  return out;
}

}  // namespace skiff::api
