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

}  // namespace
}  // namespace skiff::api
