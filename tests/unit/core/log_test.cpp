#include "core/log.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "core/json.hpp"

namespace skiff {
namespace {

using testing::HasSubstr;
using testing::Not;

TEST(RedactTest, ShowsLittle) {
  EXPECT_EQ(Redact(""), "…(0 chars)");
  EXPECT_EQ(Redact("short"), "…(5 chars)");
  EXPECT_EQ(Redact("12345678"), "…(8 chars)");
  EXPECT_EQ(Redact("abcdefghijklmnopqrstuvwxyz012345"), "abcd…(32 chars)");
  EXPECT_THAT(Redact("supersecretpassword"), Not(HasSubstr("secret")));
}

TEST(LoggingTest, JsonLinesStayValidJson) {
  InitLogging("info", "json");
  testing::internal::CaptureStderr();
  spdlog::info("user \"{}\" said {}", "alice", "back\\slash\nnew line\ttab");
  spdlog::debug("not shown at info");
  const std::string out = testing::internal::GetCapturedStderr();
  ASSERT_FALSE(out.empty());
  ASSERT_EQ(out.back(), '\n');
  const std::string line = out.substr(0, out.size() - 1);
  ASSERT_EQ(line.find('\n'), std::string::npos) << out;  // one line per record
  auto v = ParseJsonObject(line);
  ASSERT_TRUE(v) << line << ": " << v.error();
  EXPECT_EQ(v->at("msg").as_string(), "user \"alice\" said back\\slash\nnew line\ttab");
  EXPECT_EQ(v->at("level").as_string(), "info");
  EXPECT_EQ(v->at("time").as_string().size(), std::string("2024-01-01T00:00:00.000000Z").size());
}

TEST(LoggingTest, ReinitializingWorksAndLevelsApply) {
  InitLogging("warn", "text");
  InitLogging("debug", "text");  // a second call must not throw
  testing::internal::CaptureStderr();
  spdlog::debug("visible debug");
  spdlog::trace("hidden trace");
  std::string out = testing::internal::GetCapturedStderr();
  EXPECT_THAT(out, HasSubstr("debug visible debug"));
  EXPECT_THAT(out, Not(HasSubstr("hidden trace")));

  InitLogging("off");
  testing::internal::CaptureStderr();
  spdlog::error("silenced");
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");

  // An unknown level does not silence the process.
  InitLogging("verbose");
  testing::internal::CaptureStderr();
  spdlog::info("still here");
  spdlog::debug("below info");
  out = testing::internal::GetCapturedStderr();
  EXPECT_THAT(out, HasSubstr("still here"));
  EXPECT_THAT(out, Not(HasSubstr("below info")));
  InitLogging("info");
}

}  // namespace
}  // namespace skiff
