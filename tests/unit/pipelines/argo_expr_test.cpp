#include "pipelines/argo_expr.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

namespace skiff::pipelines::argo {
namespace {

using testing::HasSubstr;

bool When(std::string_view e) {
  auto r = EvaluateWhen(e);
  EXPECT_TRUE(r) << e << ": " << (r ? "" : r.error().message());
  return r && *r;
}

TEST(ArgoWhenTest, StringComparisonsAsKfpCompilesThem) {
  EXPECT_TRUE(When(R"("heads" == "heads")"));
  EXPECT_FALSE(When(R"("heads" == "tails")"));
  EXPECT_TRUE(When(R"('heads' != 'tails')"));
  // Bare words are strings (Argo turns govaluate variables into strings).
  EXPECT_TRUE(When("heads == heads"));
  EXPECT_FALSE(When("tails == heads"));
  // Lexical order for strings.
  EXPECT_TRUE(When("'abc' < 'abd'"));
}

TEST(ArgoWhenTest, NumbersAndTypes) {
  EXPECT_TRUE(When("7 > 5"));
  EXPECT_FALSE(When("3 >= 5"));
  EXPECT_TRUE(When("2.5 <= 2.5"));
  EXPECT_TRUE(When("-1 < 0"));
  EXPECT_TRUE(When("10 == 10.0"));
  // A number and a string are never equal (govaluate compares typed values).
  EXPECT_FALSE(When("'5' == 5"));
  auto mixed = EvaluateWhen("'5' < 6");
  ASSERT_FALSE(mixed);
  EXPECT_THAT(mixed.error().message(), HasSubstr("cannot compare"));
}

TEST(ArgoWhenTest, LogicAndParentheses) {
  EXPECT_TRUE(When("1 == 1 && (2 == 3 || 'a' == 'a')"));
  EXPECT_FALSE(When("!(1 == 1)"));
  EXPECT_TRUE(When("true"));
  EXPECT_FALSE(When("false || false"));
  EXPECT_TRUE(When("1 == 2 || 2 == 2 && 3 == 3"));  // && binds tighter
  EXPECT_FALSE(When("(1 == 2 || 2 == 2) && 3 == 4"));
}

TEST(ArgoWhenTest, RegexMatch) {
  EXPECT_TRUE(When("'model-v2' =~ '^model-v[0-9]+$'"));
  EXPECT_TRUE(When("'model' !~ 'v[0-9]'"));
}

TEST(ArgoWhenTest, ErrorsNameTheExpression) {
  for (std::string_view bad : {"'unclosed == 'x'", "1 ==", "(1 == 1", "1 == 1)", "", "a $ b"}) {
    auto r = EvaluateWhen(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_THAT(r.error().message(), HasSubstr("'when'")) << bad;
    EXPECT_FALSE(CheckWhenSyntax(bad).ok()) << bad;
  }
  auto not_bool = EvaluateWhen("'x'");
  ASSERT_FALSE(not_bool);
  EXPECT_THAT(not_bool.error().message(), HasSubstr("not a boolean"));
  EXPECT_TRUE(CheckWhenSyntax("'0' == 'heads' && 0 > 3").ok());
}

TEST(ArgoDependsTest, ParsesTasksAndResults) {
  auto e =
      DependsExpr::Parse("(flip-coin.Succeeded || flip-again.Failed) && !other && x.AnySucceeded");
  ASSERT_TRUE(e) << e.error();
  EXPECT_THAT(e->tasks(), testing::ElementsAre("flip-coin", "flip-again", "other", "x"));
  std::map<std::string, std::string> results = {{"flip-coin", "Failed"},
                                                {"flip-again", "Failed"},
                                                {"other", "Skipped"},
                                                {"x", "AnySucceeded"}};
  auto query = [&](const std::string& task, const std::string& result) {
    if (result.empty()) return results[task] == "Succeeded" || results[task] == "Skipped";
    return results[task] == result;
  };
  // other is bare and Skipped, so `!other` is false.
  EXPECT_FALSE(e->Evaluate(query));
  results["other"] = "Failed";
  EXPECT_TRUE(e->Evaluate(query));
  results["flip-again"] = "Succeeded";
  EXPECT_FALSE(e->Evaluate(query));
}

TEST(ArgoDependsTest, AllOfIsBareConjunction) {
  auto e = DependsExpr::AllOf({"a", "b", "a"});
  EXPECT_THAT(e.tasks(), testing::ElementsAre("a", "b"));
  EXPECT_EQ(e.text(), "a && b");
  EXPECT_TRUE(e.Evaluate([](const std::string&, const std::string& r) { return r.empty(); }));
  EXPECT_FALSE(e.Evaluate([](const std::string& t, const std::string&) { return t == "a"; }));
}

TEST(ArgoDependsTest, Errors) {
  for (std::string_view bad : {"a.Finished", "a &&", "(a || b", "a b", ".Succeeded", ""}) {
    auto e = DependsExpr::Parse(bad);
    ASSERT_FALSE(e) << bad;
    EXPECT_THAT(e.error().message(), HasSubstr("'depends'")) << bad;
  }
}

}  // namespace
}  // namespace skiff::pipelines::argo
