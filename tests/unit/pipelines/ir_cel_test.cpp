#include "pipelines/ir_cel.hpp"

#include <gtest/gtest.h>

namespace skiff::pipelines {
namespace {

json::object Params() {
  return json::object{{"s", "heads"},
                      {"i", 7},
                      {"d", 2.5},
                      {"b", true},
                      {"n", "12"},
                      {"list", json::array{1, 2, 3}},
                      {"m", json::object{{"k", "v"}}}};
}

bool Eval(std::string_view text) {
  auto e = CelExpression::Parse(text);
  EXPECT_TRUE(e) << text << ": " << (e ? "" : e.error().message());
  if (!e) return false;
  auto r = e->EvaluateCondition(Params());
  EXPECT_TRUE(r) << text << ": " << (r ? "" : r.error().message());
  return r && *r;
}

TEST(IrCelTest, KfpConditionsAsTheCompilerWritesThem) {
  EXPECT_TRUE(Eval("inputs.parameter_values['s'] == 'heads'"));
  EXPECT_FALSE(Eval("inputs.parameter_values['s'] == 'tails'"));
  EXPECT_TRUE(Eval("int(inputs.parameter_values['i']) > 5"));
  EXPECT_FALSE(Eval("int(inputs.parameter_values['i'])\n  <= 5"));
  EXPECT_TRUE(Eval("int(inputs.parameter_values['n']) >= 12"));
  EXPECT_TRUE(Eval("double(inputs.parameter_values['d']) < 3.0"));
  EXPECT_TRUE(Eval("inputs.parameter_values[\"b\"] == true"));
  EXPECT_TRUE(Eval("!(inputs.parameter_values['s'] == 'tails')"));
  EXPECT_TRUE(
      Eval("inputs.parameter_values['s'] != 'tails' && int(inputs.parameter_values['i']) == 7"));
  EXPECT_TRUE(Eval("inputs.parameter_values['s'] == 'x' || inputs.parameter_values['i'] == 7.0"));
  EXPECT_TRUE(Eval("inputs.parameter_values['list'][1] == 2"));
  EXPECT_TRUE(Eval("inputs.parameter_values['m']['k'] == 'v'"));
  EXPECT_TRUE(Eval("int(inputs.parameter_values['d']) == 2"));
  EXPECT_TRUE(Eval("-1 < 0 && string(inputs.parameter_values['i']) == '7'"));
  // Equality across types is false, not an error (CEL heterogeneous equality).
  EXPECT_FALSE(Eval("inputs.parameter_values['s'] == 1"));
  EXPECT_TRUE(Eval("inputs.parameter_values['s'] != 1"));
}

TEST(IrCelTest, ShortCircuitSkipsTheErrorOnTheOtherSide) {
  EXPECT_FALSE(Eval("false && inputs.parameter_values['missing'] == 1"));
  EXPECT_TRUE(Eval("true || inputs.parameter_values['missing'] == 1"));
}

TEST(IrCelTest, RefusesWhatIsOutsideTheSubset) {
  for (std::string_view bad : {"inputs.parameter_values['s'] ==", "size(inputs.parameter_values)",
                               "inputs.parameter_values['s'] in ['a']", "'unterminated", "(1 == 1",
                               "inputs.other['x'] == 1", ""}) {
    auto e = CelExpression::Parse(bad);
    EXPECT_FALSE(e) << bad;
    if (!e) {
      EXPECT_EQ(e.error().code(), Code::kInvalidArgument);
    }
  }
}

TEST(IrCelTest, EvaluationErrorsAreReported) {
  auto missing = CelExpression::Parse("inputs.parameter_values['nope'] == 1");
  ASSERT_TRUE(missing);
  auto r = missing->EvaluateCondition(Params());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("nope"), std::string::npos);

  auto bad_int = CelExpression::Parse("int(inputs.parameter_values['s']) > 1");
  ASSERT_TRUE(bad_int);
  EXPECT_FALSE(bad_int->EvaluateCondition(Params()));

  auto ordering = CelExpression::Parse("inputs.parameter_values['s'] < 1");
  ASSERT_TRUE(ordering);
  EXPECT_FALSE(ordering->EvaluateCondition(Params()));

  auto not_bool = CelExpression::Parse("inputs.parameter_values['i']");
  ASSERT_TRUE(not_bool);
  EXPECT_FALSE(not_bool->EvaluateCondition(Params()));
}

}  // namespace
}  // namespace skiff::pipelines
