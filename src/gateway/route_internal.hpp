#pragma once
// Helpers shared by route_table.cpp and route_render.cpp. Not part of the module's API.

#include <string>
#include <string_view>
#include <vector>

#include "gateway/route_table.hpp"

namespace skiff::gateway::internal {

inline std::string Join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

inline std::string_view OpName(HeaderOp::Kind k) {
  switch (k) {
    case HeaderOp::Kind::kRemove:
      return "remove";
    case HeaderOp::Kind::kSet:
      return "set";
    case HeaderOp::Kind::kAdd:
      return "add";
  }
  return "";
}

inline std::string DescribeOp(const HeaderOp& op) {
  std::string out = std::string(OpName(op.kind)) + " " + op.name;
  if (op.kind != HeaderOp::Kind::kRemove) out += ": " + op.value;
  return out;
}

inline std::string DescribeDestination(const Destination& d) {
  std::string out = d.host;
  if (d.port) out += ":" + std::to_string(*d.port);
  if (!d.subset.empty()) out += " (subset " + d.subset + ")";
  return out;
}

}  // namespace skiff::gateway::internal
