#pragma once
// Generic object validation as the Kubernetes API server does it: names (RFC 1123 label and
// subdomain), label keys and values, annotation sizes, and schema-driven field checks
// (types, unknown fields). Pure functions; thread-safe.

#include <string>
#include <string_view>

#include "api/kind.hpp"

namespace skiff::api {

// Empty when valid; otherwise the Kubernetes wording of the rule.
std::string CheckDns1123Label(std::string_view value);
std::string CheckDns1123Subdomain(std::string_view value);
std::string CheckLabelKey(std::string_view key);  // also used for annotation keys
std::string CheckLabelValue(std::string_view value);

// Checks metadata (name per kind, namespace presence, labels, annotations, generateName).
FieldErrors ValidateMetadata(const KindInfo& kind, const json::object& obj);

enum class FieldValidation { kIgnore, kWarn, kStrict };
Result<FieldValidation> ParseFieldValidation(std::string_view value);  // "" = kWarn

// Walks `obj` against the kind's schema (KindInfo::schema plus ObjectMeta). Wrong types are
// always errors (returned as BadRequest-style messages); unknown fields are errors under
// kStrict, collected as warnings under kWarn, and pruned (removed from `obj`) unless Strict.
struct SchemaCheck {
  std::vector<std::string> type_errors;     // always fatal
  std::vector<std::string> unknown_fields;  // dotted paths, e.g. "spec.foo"
};
SchemaCheck CheckSchema(const KindInfo& kind, json::object& obj, FieldValidation mode);

// Renders a FieldError as Kubernetes does: `metadata.name: Invalid value: "x": detail`.
std::string FormatFieldError(const FieldError& e);
std::string_view FieldErrorReason(FieldError::Type t);  // "FieldValueInvalid", ...

}  // namespace skiff::api
