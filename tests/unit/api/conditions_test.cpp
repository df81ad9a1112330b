#include "api/conditions.hpp"

#include <gtest/gtest.h>

namespace skiff::api {
namespace {

constexpr const char* kNow = "2026-11-28T12:00:00Z";
constexpr const char* kEarlier = "2026-11-01T08:00:00Z";

TEST(MakeConditionTest, NewConditionTakesNowAndOmitsEmptyReasonAndMessage) {
  json::object c = MakeCondition("Ready", "True", "", "", kNow, nullptr);
  EXPECT_EQ(c, (json::object{{"type", "Ready"}, {"status", "True"}, {"lastTransitionTime", kNow}}));
}

TEST(MakeConditionTest, ReasonAndMessageAreWrittenWhenGiven) {
  json::object c = MakeCondition("Ready", "False", "Failed", "it broke", kNow, nullptr);
  EXPECT_EQ(GetString(c, "reason"), "Failed");
  EXPECT_EQ(GetString(c, "message"), "it broke");
}

TEST(MakeConditionTest, SameTypeAndStatusKeepsTheTransitionTime) {
  json::array previous{
      json::object{{"type", "Ready"}, {"status", "True"}, {"lastTransitionTime", kEarlier}}};
  json::object c = MakeCondition("Ready", "True", "Other", "new message", kNow, &previous);
  EXPECT_EQ(GetString(c, "lastTransitionTime"), kEarlier);
  EXPECT_EQ(GetString(c, "reason"), "Other");
  EXPECT_EQ(GetString(c, "message"), "new message");
}

TEST(MakeConditionTest, ChangedStatusOrOtherTypeTakesNow) {
  json::array previous{
      json::object{{"type", "Ready"}, {"status", "False"}, {"lastTransitionTime", kEarlier}},
      json::object{{"type", "Failed"}, {"status", "True"}, {"lastTransitionTime", kEarlier}}};
  EXPECT_EQ(
      GetString(MakeCondition("Ready", "True", "", "", kNow, &previous), "lastTransitionTime"),
      kNow);
  EXPECT_EQ(
      GetString(MakeCondition("Other", "True", "", "", kNow, &previous), "lastTransitionTime"),
      kNow);
}

TEST(MakeConditionTest, PreviousWithoutATimeTakesNow) {
  json::array previous{json::object{{"type", "Ready"}, {"status", "True"}}};
  EXPECT_EQ(
      GetString(MakeCondition("Ready", "True", "", "", kNow, &previous), "lastTransitionTime"),
      kNow);
}

TEST(ConditionStatusTest, FindsTheConditionOfTheType) {
  json::object obj{
      {"status",
       json::object{
           {"conditions", json::array{json::object{{"type", "Failed"}, {"status", "True"}},
                                      json::object{{"type", "Ready"}, {"status", "False"}}}}}}};
  EXPECT_EQ(ConditionStatus(obj, "Ready"), "False");
  EXPECT_EQ(ConditionStatus(obj, "Failed"), "True");
  EXPECT_EQ(ConditionStatus(obj, "Other"), "");
  EXPECT_EQ(ConditionStatus(json::object{}, "Ready"), "");
  EXPECT_EQ(ConditionStatus(json::object{{"status", json::object{{"conditions", "x"}}}}, "Ready"),
            "");
}

TEST(ConditionColumnTest, ShowsTheStatusOrNull) {
  PrinterColumn c = ConditionColumn("Ready", "Ready", "Whether it is ready");
  EXPECT_EQ(c.name, "Ready");
  EXPECT_EQ(c.type, "string");
  EXPECT_EQ(c.description, "Whether it is ready");
  EXPECT_EQ(c.priority, 0);
  EXPECT_TRUE(c.json_path.empty());
  ASSERT_TRUE(c.compute);
  json::object ready{
      {"status", json::object{{"conditions",
                               json::array{json::object{{"type", "Ready"}, {"status", "True"}}}}}}};
  EXPECT_EQ(c.compute(ready), json::value("True"));
  EXPECT_TRUE(c.compute(json::object{}).is_null());
}

}  // namespace
}  // namespace skiff::api
