#pragma once
// JSON helpers over Boost.JSON, the one JSON library of the program: parsing with positioned
// error messages, lookups by dotted path or JSON pointer, and compact serialization.

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace skiff {

namespace json = boost::json;

// Parses one JSON text. Errors name the line and column. Depth is limited to kMaxJsonDepth.
inline constexpr int kMaxJsonDepth = 100;
Result<json::value> ParseJson(std::string_view text);
// Parses and requires a JSON object at the top level.
Result<json::object> ParseJsonObject(std::string_view text);

// Compact JSON. Doubles are written as Go's encoding/json writes them ("0.5", "1e+21", "1e-7",
// never "5E-1"); NaN and infinities, which JSON cannot express, are written as null.
std::string Serialize(const json::value& v);
// The same for an object or an array, without first copying it into a json::value.
std::string Serialize(const json::object& o);
std::string Serialize(const json::array& a);
// Appends `s` as a JSON string literal (quotes and escapes). REQUIRES: valid UTF-8.
void AppendJsonString(std::string& out, std::string_view s);
// One double as Serialize writes it.
std::string FormatJsonNumber(double d);

// Looks up "a.b.c" (dots) or "/a/b/c" (JSON pointer, RFC 6901, with ~0 ~1 escapes); "" is the
// root. Returns nullptr when any step is missing, is not a container, or the pointer is malformed.
// Array indexes are decimal segments without leading zeros ("spec.containers.0.image"). Keys
// that contain dots need the pointer form ("/metadata/labels/app.kubernetes.io~1name").
const json::value* Find(const json::value& root, std::string_view path);
// The same, starting at an object (the empty path finds nothing: there is no json::value).
const json::value* Find(const json::object& root, std::string_view path);
// A temporary would die before the returned pointer is used.
const json::value* Find(json::value&& root, std::string_view path) = delete;
const json::value* Find(json::object&& root, std::string_view path) = delete;
json::value* FindMutable(json::value& root, std::string_view path);

// Typed lookups that return the fallback when missing or of another type.
std::string GetString(const json::value& root, std::string_view path,
                      std::string_view fallback = {});
std::string GetString(const json::object& root, std::string_view path,
                      std::string_view fallback = {});
const json::object* GetObject(const json::value& root, std::string_view path);
const json::object* GetObject(const json::object& root, std::string_view path);
const json::object* GetObject(json::value&& root, std::string_view path) = delete;
const json::object* GetObject(json::object&& root, std::string_view path) = delete;

// Returns obj[key] as an object, creating (or replacing a non-object) when needed.
json::object& EnsureObject(json::object& obj, std::string_view key);

}  // namespace skiff
