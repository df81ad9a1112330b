#include "api/validation.hpp"

#include <cmath>

namespace skiff::api {

namespace {

bool IsAlnumLower(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlnum(char c) { return IsAlnumLower(c) || (c >= 'A' && c <= 'Z'); }

bool MatchesLabel(std::string_view s) {
  if (s.empty() || !IsAlnumLower(s.front()) || !IsAlnumLower(s.back())) return false;
  for (char c : s) {
    if (!IsAlnumLower(c) && c != '-') return false;
  }
  return true;
}

// [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?
bool MatchesQualifiedName(std::string_view s) {
  if (s.empty() || !IsAlnum(s.front()) || !IsAlnum(s.back())) return false;
  for (char c : s) {
    if (!IsAlnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

constexpr size_t kMaxAnnotationsBytes = 256 * 1024;

const json::value& ObjectMetaSchema() {
  static const json::value kSchema = [] {
    auto r = ParseJson(R"({
      "type": "object",
      "properties": {
        "name": {"type": "string"}, "generateName": {"type": "string"},
        "namespace": {"type": "string"}, "selfLink": {"type": "string"},
        "uid": {"type": "string"}, "resourceVersion": {"type": "string"},
        "generation": {"type": "integer"}, "creationTimestamp": {"type": "string"},
        "deletionTimestamp": {"type": "string"},
        "deletionGracePeriodSeconds": {"type": "integer"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        "ownerReferences": {"type": "array", "items": {"type": "object",
          "x-kubernetes-preserve-unknown-fields": true}},
        "finalizers": {"type": "array", "items": {"type": "string"}},
        "managedFields": {"type": "array", "items": {"type": "object",
          "x-kubernetes-preserve-unknown-fields": true}}
      }
    })");
    return std::move(*r);
  }();
  return kSchema;
}

std::string TypeName(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return "boolean";
    case json::kind::int64:
    case json::kind::uint64:
      return "integer";
    case json::kind::double_:
      return "number";
    case json::kind::string:
      return "string";
    case json::kind::array:
      return "array";
    case json::kind::object:
      return "object";
  }
  return "unknown";
}

bool TypeMatches(std::string_view type, const json::value& v) {
  if (type.empty()) return true;
  if (v.is_null()) return true;  // null means "unset" in Kubernetes JSON
  if (type == "string") return v.is_string();
  if (type == "integer") {
    if (v.is_int64() || v.is_uint64()) return true;
    if (!v.is_double()) return false;
    // 3.0 is an integer; 1e300 is integral too, but no int64 can hold it.
    double d = v.get_double();
    return std::trunc(d) == d && std::fabs(d) < 9.2e18;
  }
  if (type == "number") return v.is_number();
  if (type == "boolean") return v.is_bool();
  if (type == "array") return v.is_array();
  if (type == "object") return v.is_object();
  return true;
}

void Walk(const json::value& schema, json::value& v, const std::string& path, FieldValidation mode,
          SchemaCheck& out);

// The members of `obj` against an object schema: known ones recursively, unknown ones reported
// (and pruned unless Strict) unless the schema keeps them (x-kubernetes-preserve-unknown-fields,
// additionalProperties). `skip_type_meta` leaves apiVersion, kind and metadata alone (the root,
// where CheckSchema checks them against fixed schemas).
void WalkObject(const json::value& schema, json::object& obj, const std::string& path,
                FieldValidation mode, SchemaCheck& out, bool skip_type_meta) {
  const json::object* s = schema.if_object();
  if (s == nullptr) return;
  std::string type = GetString(schema, "type");
  const json::value* preserve = s->if_contains("x-kubernetes-preserve-unknown-fields");
  bool keep_unknown = preserve != nullptr && preserve->is_bool() && preserve->get_bool();
  const json::object* props = GetObject(schema, "properties");
  const json::value* additional = s->if_contains("additionalProperties");
  std::vector<std::string> prune;
  for (auto& kv : obj) {
    if (skip_type_meta &&
        (kv.key() == "apiVersion" || kv.key() == "kind" || kv.key() == "metadata")) {
      continue;
    }
    std::string child = path.empty() ? std::string(kv.key()) : path + "." + std::string(kv.key());
    const json::value* child_schema = nullptr;
    if (props != nullptr) {
      if (auto it = props->find(kv.key()); it != props->end()) child_schema = &it->value();
    }
    if (child_schema == nullptr && additional != nullptr && additional->is_object()) {
      child_schema = additional;
    }
    if (child_schema == nullptr) {
      bool additional_ok = additional != nullptr && additional->is_bool() && additional->get_bool();
      if (keep_unknown || additional_ok ||
          (props == nullptr && additional == nullptr && type.empty())) {
        continue;
      }
      out.unknown_fields.push_back(child);
      if (mode != FieldValidation::kStrict) prune.emplace_back(kv.key());
      continue;
    }
    Walk(*child_schema, kv.value(), child, mode, out);
  }
  for (const auto& k : prune) obj.erase(k);
}

void Walk(const json::value& schema, json::value& v, const std::string& path, FieldValidation mode,
          SchemaCheck& out) {
  const json::object* s = schema.if_object();
  if (s == nullptr) return;
  std::string type = GetString(schema, "type");
  // int-or-string fields (x-kubernetes-int-or-string) accept both.
  const json::value* ios = s->if_contains("x-kubernetes-int-or-string");
  bool int_or_string = ios != nullptr && ios->is_bool() && ios->get_bool();
  if (int_or_string) {
    if (!v.is_null() && !v.is_string() && !v.is_int64() && !v.is_uint64()) {
      out.type_errors.push_back(path + ": expected an integer or a string, got " + TypeName(v));
    }
    return;
  }
  if (!TypeMatches(type, v)) {
    out.type_errors.push_back(path + ": expected " + type + ", got " + TypeName(v));
    return;
  }
  if (auto* obj = v.if_object()) {
    WalkObject(schema, *obj, path, mode, out, /*skip_type_meta=*/false);
  } else if (auto* arr = v.if_array()) {
    const json::value* items = s->if_contains("items");
    if (items == nullptr) return;
    for (size_t i = 0; i < arr->size(); ++i) {
      Walk(*items, (*arr)[i], path + "[" + std::to_string(i) + "]", mode, out);
    }
  }
}

}  // namespace

std::string CheckDns1123Label(std::string_view value) {
  if (value.size() > 63) return "must be no more than 63 characters";
  if (!MatchesLabel(value)) {
    return "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
           "'-', and must start and end with an alphanumeric character (e.g. 'my-name',  or "
           "'123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
  }
  return {};
}

std::string CheckDns1123Subdomain(std::string_view value) {
  if (value.size() > 253) return "must be no more than 253 characters";
  bool ok = !value.empty();
  size_t start = 0;
  while (ok) {
    size_t dot = value.find('.', start);
    std::string_view part = value.substr(start, dot == value.npos ? value.npos : dot - start);
    if (!MatchesLabel(part)) ok = false;
    if (dot == value.npos) break;
    start = dot + 1;
  }
  if (!ok) {
    return "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
           "'-' or '.', and must start and end with an alphanumeric character (e.g. "
           "'example.com', regex used for validation is "
           "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
  }
  return {};
}

std::string CheckLabelKey(std::string_view key) {
  std::string_view name = key;
  size_t slash = key.find('/');
  if (slash != key.npos) {
    std::string_view prefix = key.substr(0, slash);
    name = key.substr(slash + 1);
    if (prefix.empty()) return "prefix part must be non-empty";
    if (std::string e = CheckDns1123Subdomain(prefix); !e.empty()) return "prefix part " + e;
  }
  if (name.empty()) return "name part must be non-empty";
  if (name.size() > 63) return "name part must be no more than 63 characters";
  if (!MatchesQualifiedName(name)) {
    return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start "
           "and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
           "'123-abc', regex used for validation is "
           "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
  }
  return {};
}

std::string CheckLabelValue(std::string_view value) {
  if (value.empty()) return {};
  if (value.size() > 63) return "must be no more than 63 characters";
  if (!MatchesQualifiedName(value)) {
    return "a valid label must be an empty string or consist of alphanumeric characters, '-', "
           "'_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  "
           "or 'my_value',  or '12345', regex used for validation is "
           "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
  }
  return {};
}

FieldErrors ValidateMetadata(const KindInfo& kind, const json::object& obj) {
  FieldErrors errs;
  const json::value root(obj);
  std::string name = GetString(root, "metadata.name");
  if (name.empty()) {
    errs.push_back(
        {FieldError::Type::kRequired, "metadata.name", "name or generateName is required", {}});
  } else {
    std::string e = kind.name_is_label ? CheckDns1123Label(name) : CheckDns1123Subdomain(name);
    if (!e.empty())
      errs.push_back({FieldError::Type::kInvalid, "metadata.name", e, json::value(name)});
  }
  if (const json::object* labels = GetObject(root, "metadata.labels")) {
    for (const auto& kv : *labels) {
      std::string field = "metadata.labels";
      if (std::string e = CheckLabelKey(kv.key()); !e.empty()) {
        errs.push_back({FieldError::Type::kInvalid, field, e, json::value(kv.key())});
      }
      if (!kv.value().is_string()) continue;
      if (std::string e = CheckLabelValue(kv.value().get_string()); !e.empty()) {
        errs.push_back({FieldError::Type::kInvalid, field, e, kv.value()});
      }
    }
  }
  if (const json::object* ann = GetObject(root, "metadata.annotations")) {
    size_t total = 0;
    for (const auto& kv : *ann) {
      total += kv.key().size() + (kv.value().is_string() ? kv.value().get_string().size() : 0);
      if (std::string e = CheckLabelKey(kv.key()); !e.empty()) {
        errs.push_back(
            {FieldError::Type::kInvalid, "metadata.annotations", e, json::value(kv.key())});
      }
    }
    if (total > kMaxAnnotationsBytes) {
      errs.push_back({FieldError::Type::kTooLong,
                      "metadata.annotations",
                      "may not be more than 262144 bytes",
                      {}});
    }
  }
  return errs;
}

Result<FieldValidation> ParseFieldValidation(std::string_view value) {
  if (value.empty() || value == "Warn") return FieldValidation::kWarn;
  if (value == "Strict") return FieldValidation::kStrict;
  if (value == "Ignore") return FieldValidation::kIgnore;
  return InvalidArgument("fieldValidation must be one of Ignore, Warn or Strict, got \"" +
                         std::string(value) + "\"");
}

SchemaCheck CheckSchema(const KindInfo& kind, json::object& obj, FieldValidation mode) {
  SchemaCheck out;
  for (std::string_view key : {"apiVersion", "kind"}) {
    if (const json::value* v = obj.if_contains(key); v != nullptr && !v->is_string()) {
      out.type_errors.push_back(std::string(key) + ": expected string");
    }
  }
  if (json::value* md = obj.if_contains("metadata")) {
    Walk(ObjectMetaSchema(), *md, "metadata", mode, out);
  }
  // The rest against the kind's schema, whose root may itself keep unknown fields.
  if (!kind.schema.is_null()) {
    WalkObject(kind.schema, obj, "", mode, out, /*skip_type_meta=*/true);
  }
  return out;
}

std::string_view FieldErrorReason(FieldError::Type t) {
  switch (t) {
    case FieldError::Type::kInvalid:
      return "FieldValueInvalid";
    case FieldError::Type::kRequired:
      return "FieldValueRequired";
    case FieldError::Type::kNotSupported:
      return "FieldValueNotSupported";
    case FieldError::Type::kDuplicate:
      return "FieldValueDuplicate";
    case FieldError::Type::kForbidden:
      return "FieldValueForbidden";
    case FieldError::Type::kTooLong:
      return "FieldValueTooLong";
  }
  return "FieldValueInvalid";
}

std::string FormatFieldError(const FieldError& e) {
  std::string out = e.field + ": ";
  switch (e.type) {
    case FieldError::Type::kInvalid:
      out += "Invalid value";
      break;
    case FieldError::Type::kRequired:
      out += "Required value";
      break;
    case FieldError::Type::kNotSupported:
      out += "Unsupported value";
      break;
    case FieldError::Type::kDuplicate:
      out += "Duplicate value";
      break;
    case FieldError::Type::kForbidden:
      out += "Forbidden";
      break;
    case FieldError::Type::kTooLong:
      out += "Too long";
      break;
  }
  if (e.bad_value) out += ": " + Serialize(*e.bad_value);
  if (!e.detail.empty()) out += ": " + e.detail;
  return out;
}

}  // namespace skiff::api
