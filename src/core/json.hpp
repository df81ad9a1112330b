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

std::string Serialize(const json::value& v);

// Looks up "a.b.c" (dots) or "/a/b/c" (JSON pointer, with ~0 ~1 escapes). Returns nullptr when
// any step is missing or not an object (array indexes are accepted as decimal segments).
const json::value* Find(const json::value& root, std::string_view path);
json::value* FindMutable(json::value& root, std::string_view path);

// Typed lookups that return the fallback when missing or of another type.
std::string GetString(const json::value& root, std::string_view path, std::string_view fallback = {});
const json::object* GetObject(const json::value& root, std::string_view path);

// Returns obj[key] as an object, creating (or replacing a non-object) when needed.
json::object& EnsureObject(json::object& obj, std::string_view key);

}  // namespace skiff
