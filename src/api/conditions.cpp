#include "api/conditions.hpp"

#include <utility>

namespace skiff::api {

json::object MakeCondition(std::string_view type, std::string_view status, std::string_view reason,
                           std::string_view message, const std::string& now,
                           const json::array* previous) {
  std::string when = now;
  if (previous != nullptr) {
    for (const auto& c : *previous) {
      if (GetString(c, "type") == type && GetString(c, "status") == status) {
        when = GetString(c, "lastTransitionTime", now);
      }
    }
  }
  json::object c{{"type", type}, {"status", status}, {"lastTransitionTime", when}};
  if (!reason.empty()) c["reason"] = reason;
  if (!message.empty()) c["message"] = message;
  return c;
}

std::string ConditionStatus(const json::object& obj, std::string_view type) {
  const json::value* conds = Find(obj, "status.conditions");
  if (conds == nullptr || !conds->is_array()) return {};
  for (const auto& c : conds->get_array()) {
    if (GetString(c, "type") == type) return GetString(c, "status");
  }
  return {};
}

PrinterColumn ConditionColumn(std::string name, std::string_view type, std::string description) {
  PrinterColumn c;
  c.name = std::move(name);
  c.type = "string";
  c.description = std::move(description);
  c.compute = [type = std::string(type)](const json::object& o) -> json::value {
    std::string s = ConditionStatus(o, type);
    return s.empty() ? json::value(nullptr) : json::value(json::string(s));
  };
  return c;
}

}  // namespace skiff::api
