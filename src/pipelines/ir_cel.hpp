#pragma once
// The subset of CEL (https://github.com/google/cel-spec) that the KFP v2 compiler emits in a
// task's `triggerPolicy.condition` (dsl.If / dsl.Condition / dsl.Elif / dsl.Else):
//   inputs.parameter_values['k'] (and further ['key'] / [0] indexing into LIST/STRUCT values),
//   int(x), double(x), string(x), bool(x), literals (single- or double-quoted strings, integers,
//   doubles, true, false, null), ==, !=, <, <=, >, >=, &&, ||, !, unary minus, parentheses.
// Equality across types is false (CEL's heterogeneous equality), except that numbers compare by
// value (1 == 1.0); ordering across types is an evaluation error. && and || short-circuit.
//
// Threading: a parsed CelExpression is immutable and may be evaluated from any thread.

#include <memory>
#include <string>
#include <string_view>

#include "core/json.hpp"
#include "core/result.hpp"

namespace skiff::pipelines {

namespace cel_detail {
struct Node;
}

class CelExpression {
 public:
  // Parses `text`; InvalidArgument with the offending position for anything outside the subset.
  static Result<CelExpression> Parse(std::string_view text);

  // Evaluates with `parameter_values` as `inputs.parameter_values`.
  Result<json::value> Evaluate(const json::object& parameter_values) const;
  // Evaluates and requires a bool (a trigger condition).
  Result<bool> EvaluateCondition(const json::object& parameter_values) const;

  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::shared_ptr<const cel_detail::Node> root_;
};

}  // namespace skiff::pipelines
