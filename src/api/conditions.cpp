#include "api/conditions.hpp"

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

}  // namespace skiff::api
