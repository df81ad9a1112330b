#include "store/store_util.hpp"

#include <charconv>

#include "core/crypto.hpp"

namespace skiff::store {

std::string_view EventTypeName(EventType t) {
  switch (t) {
    case EventType::kAdded:
      return "ADDED";
    case EventType::kModified:
      return "MODIFIED";
    case EventType::kDeleted:
      return "DELETED";
  }
  return "UNKNOWN";
}

std::string Describe(const Key& key) {
  std::string out = key.resource + " \"" + key.name + "\"";
  if (!key.ns.empty()) out += " in namespace \"" + key.ns + "\"";
  return out;
}

Status ValidateKey(const Key& key) {
  if (key.resource.empty()) return InvalidArgument("store key has an empty resource");
  if (key.name.empty())
    return InvalidArgument("store key for " + key.resource + " has an empty name");
  return Status::Ok();
}

Status AlreadyExistsError(const Key& key) {
  return AlreadyExists(Describe(key) + " already exists");
}

Status NotFoundError(const Key& key) { return NotFound(Describe(key) + " not found"); }

Status ConflictError(const Key& key) {
  return Conflict("Operation cannot be fulfilled on " + Describe(key) +
                  ": the object has been modified; please apply your changes to the latest "
                  "version and try again");
}

void StampVersion(json::object& object, int64_t version) {
  EnsureObject(object, "metadata")["resourceVersion"] = std::to_string(version);
}

int64_t VersionOf(const json::object& object) {
  const json::value* meta = object.if_contains("metadata");
  const json::value* rv = meta != nullptr && meta->is_object()
                              ? meta->get_object().if_contains("resourceVersion")
                              : nullptr;
  if (rv == nullptr || !rv->is_string()) return 0;
  std::string_view s = rv->get_string();
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return 0;
  return v;
}

std::string LabelsJson(const json::object& object) {
  // Navigated by hand: core's Find/GetObject take a json::value, and a json::object argument
  // would be copied into a temporary that the returned pointer outlives.
  const json::value* meta = object.if_contains("metadata");
  const json::value* labels =
      meta != nullptr && meta->is_object() ? meta->get_object().if_contains("labels") : nullptr;
  return labels != nullptr && labels->is_object() ? Serialize(*labels) : std::string("{}");
}

std::string EncodeContinue(const ContinuePoint& point) {
  json::object o;
  o["v"] = 1;
  o["rv"] = point.version;
  o["ns"] = point.ns;
  o["name"] = point.name;
  return Base64UrlEncode(Serialize(o));
}

Result<ContinuePoint> DecodeContinue(std::string_view token) {
  const Status invalid =
      InvalidArgument("invalid continue token: it must be the continue value of a previous list");
  Result<std::string> raw = Base64UrlDecode(token);
  if (!raw) return invalid;
  Result<json::object> o = ParseJsonObject(*raw);
  if (!o) return invalid;
  const json::value* v = o->if_contains("v");
  const json::value* rv = o->if_contains("rv");
  const json::value* ns = o->if_contains("ns");
  const json::value* name = o->if_contains("name");
  if (v == nullptr || !v->is_int64() || v->get_int64() != 1 || rv == nullptr || !rv->is_int64() ||
      rv->get_int64() < 0 || ns == nullptr || !ns->is_string() || name == nullptr ||
      !name->is_string()) {
    return invalid;
  }
  return ContinuePoint{rv->get_int64(), std::string(ns->get_string()),
                       std::string(name->get_string())};
}

}  // namespace skiff::store
