#pragma once
// Label selectors as Kubernetes writes them: "a=b", "a==b", "a!=b", "a in (x,y)",
// "a notin (x)", "a", "!a", "a>1", "a<1", comma-separated (all must hold). Parsing, validation,
// matching and printing follow k8s.io/apimachinery/pkg/labels (selector.go) and
// pkg/util/validation: requirements are sorted by key, set values are sorted and de-duplicated,
// "!=" and "notin" match objects that lack the label. Value type; thread-compatible.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.hpp"

namespace skiff::store {

struct Requirement {
  // kGreaterThan/kLessThan ("a>1", "a<1") compare the label's value as a 64-bit integer; a
  // label that is missing or not an integer does not match (as Kubernetes' Gt/Lt).
  enum class Op {
    kEquals,
    kNotEquals,
    kIn,
    kNotIn,
    kExists,
    kDoesNotExist,
    kGreaterThan,
    kLessThan
  };
  std::string key;
  Op op;
  std::vector<std::string> values;  // sorted; one value for =, !=, >, <; none for (!)exists
  friend bool operator==(const Requirement&, const Requirement&) = default;
};

// Label keys: an optional DNS-1123 subdomain prefix (<= 253 chars) and '/', then a name of
// 1-63 characters [A-Za-z0-9][-A-Za-z0-9_.]*[A-Za-z0-9] (validation.IsQualifiedName).
// InvalidArgument naming the key and the rule it breaks.
Status ValidateLabelKey(std::string_view key);
// Label values: empty, or <= 63 characters of the same charset as a key's name part.
Status ValidateLabelValue(std::string_view value);

class Selector {
 public:
  // InvalidArgument naming the problem (and its position) on malformed input; label keys and
  // values are checked as Kubernetes checks them.
  static Result<Selector> Parse(std::string_view text);

  bool empty() const { return requirements_.empty(); }
  bool Matches(const std::map<std::string, std::string>& labels) const;
  // Reads metadata.labels from an object.
  bool MatchesObject(const json::object& object) const;
  // `labels` is a metadata.labels object; values that are not strings count as absent.
  bool MatchesLabels(const json::object& labels) const;
  const std::vector<Requirement>& requirements() const { return requirements_; }
  // The canonical text: requirements sorted by key, joined by ','. Parse(ToString()) == *this.
  std::string ToString() const;
  friend bool operator==(const Selector&, const Selector&) = default;

 private:
  std::vector<Requirement> requirements_;
};

}  // namespace skiff::store
