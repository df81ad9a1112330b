#pragma once
// Kubernetes status conditions ({type, status, lastTransitionTime, reason, message}) as the
// controllers write them. Pure functions; thread-safe.

#include <string>
#include <string_view>

#include "core/json.hpp"

namespace skiff::api {

// One condition. lastTransitionTime is `now` unless `previous` (the object's current
// status.conditions; may be null) holds a condition of the same type and status: then its
// lastTransitionTime is kept (the last such entry wins), so the time changes only when the
// status does. Empty `reason` and `message` are left out.
json::object MakeCondition(std::string_view type, std::string_view status, std::string_view reason,
                           std::string_view message, const std::string& now,
                           const json::array* previous);

}  // namespace skiff::api
