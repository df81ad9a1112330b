#pragma once
// The two small expression languages of an Argo Workflow, as far as KFP v1 pipelines use them:
//
//   `when`     a govaluate expression, evaluated after `{{...}}` substitution (Argo's
//              shouldExecute): numbers, 'single'/"double" quoted strings, true/false, bare words
//              (read as strings, as Argo turns govaluate variables into strings so that
//              `heads == heads` works), == != < > <= >= =~ !~, && || !, parentheses.
//              `==` between a number and a string is false (govaluate compares typed values);
//              < > <= >= need two numbers or two strings.
//   `depends`  Argo's enhanced dependency logic: TASK or TASK.RESULT (Succeeded, Failed,
//              Errored, Skipped, Omitted, Daemoned, AnySucceeded, AllFailed) joined with
//              && || ! and parentheses.
//
// Threading: immutable values; pure functions.

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace skiff::pipelines::argo {

// Evaluates a `when` expression (placeholders already substituted). An expression that does not
// parse, or whose value is not a boolean, is an InvalidArgument naming the expression.
Result<bool> EvaluateWhen(std::string_view expression);
// Only checks that `expression` parses (upload-time validation). Placeholders must have been
// replaced by something that parses (see argo.cpp).
Status CheckWhenSyntax(std::string_view expression);

// A parsed `depends` expression.
class DependsExpr {
 public:
  // Answers "does task T have result R?"; R is "" for a bare `T` (Argo: Succeeded, Skipped or
  // Daemoned), else one of the names above.
  using Query = std::function<bool(const std::string& task, const std::string& result)>;

  static Result<DependsExpr> Parse(std::string_view text);
  // `dependencies: [a, b]`: every task bare, joined with &&.
  static DependsExpr AllOf(const std::vector<std::string>& tasks);

  // The tasks named, in order of first appearance, without duplicates.
  const std::vector<std::string>& tasks() const { return tasks_; }
  bool Evaluate(const Query& query) const;
  const std::string& text() const { return text_; }

  struct Term;

 private:
  std::string text_;
  std::shared_ptr<const Term> root_;
  std::vector<std::string> tasks_;
};

}  // namespace skiff::pipelines::argo
