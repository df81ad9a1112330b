#pragma once
// Label selectors as Kubernetes writes them: "a=b", "a==b", "a!=b", "a in (x,y)",
// "a notin (x)", "a", "!a", comma-separated (all must hold). Value type; thread-compatible.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.hpp"

namespace skiff::store {

struct Requirement {
  enum class Op { kEquals, kNotEquals, kIn, kNotIn, kExists, kDoesNotExist };
  std::string key;
  Op op;
  std::vector<std::string> values;
};

class Selector {
 public:
  // InvalidArgument naming the problem (and its position) on malformed input; label keys and
  // values are checked as Kubernetes checks them.
  static Result<Selector> Parse(std::string_view text);

  bool empty() const { return requirements_.empty(); }
  bool Matches(const std::map<std::string, std::string>& labels) const;
  // Reads metadata.labels from an object.
  bool MatchesObject(const json::object& object) const;
  const std::vector<Requirement>& requirements() const { return requirements_; }
  std::string ToString() const;

 private:
  std::vector<Requirement> requirements_;
};

}  // namespace skiff::store
