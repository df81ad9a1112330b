#pragma once
// Kubernetes status conditions ({type, status, lastTransitionTime, reason, message}): building
// them as the controllers write them, reading them back for printer columns. Pure functions;
// thread-safe.

#include <string>
#include <string_view>

#include "api/kind.hpp"
#include "core/json.hpp"

namespace skiff::api {

// One condition. lastTransitionTime is `now` unless `previous` (the object's current
// status.conditions; may be null) holds a condition of the same type and status: then its
// lastTransitionTime is kept (the last such entry wins), so the time changes only when the
// status does. Empty `reason` and `message` are left out.
json::object MakeCondition(std::string_view type, std::string_view status, std::string_view reason,
                           std::string_view message, const std::string& now,
                           const json::array* previous);

// The status ("True", "False", "Unknown") of the condition of `type` in obj's
// status.conditions; empty when there is none.
std::string ConditionStatus(const json::object& obj, std::string_view type);

// A string printer column showing the status of the condition of `type` (null when the object
// has none), e.g. the Ready column of `kubectl get`.
PrinterColumn ConditionColumn(std::string name, std::string_view type, std::string description);

}  // namespace skiff::api
