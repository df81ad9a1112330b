#include "pipelines/cron.hpp"

#include <gtest/gtest.h>

#include <ctime>
#include <limits>
#include <random>

namespace skiff::pipelines {
namespace {

// Unix seconds of a UTC civil time.
int64_t T(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return static_cast<int64_t>(timegm(&tm));
}

CronSchedule Cron(std::string_view spec) {
  auto s = ParseCron(spec);
  EXPECT_TRUE(s) << spec << ": " << (s ? "" : s.error().message());
  return s ? *s : CronSchedule{};
}

std::optional<int64_t> Next(std::string_view spec, int64_t after) {
  return NextAfter(Cron(spec), after);
}

TEST(CronParse, EveryFiveSeconds) {
  EXPECT_EQ(Next("*/5 * * * * *", T(2024, 5, 1, 12, 0, 3)), T(2024, 5, 1, 12, 0, 5));
  EXPECT_EQ(Next("*/5 * * * * *", T(2024, 5, 1, 12, 0, 5)), T(2024, 5, 1, 12, 0, 10));
  EXPECT_EQ(Next("*/5 * * * * *", T(2024, 5, 1, 12, 59, 58)), T(2024, 5, 1, 13, 0, 0));
  // Year boundary.
  EXPECT_EQ(Next("*/5 * * * * *", T(2024, 12, 31, 23, 59, 57)), T(2025, 1, 1, 0, 0, 0));
}

TEST(CronParse, SixFieldsWithSeconds) {
  // KFP's documented example: every day at 00:00:00.
  EXPECT_EQ(Next("0 0 0 * * *", T(2024, 5, 1, 10, 30)), T(2024, 5, 2));
  EXPECT_EQ(Next("30 15 10 * * *", T(2024, 5, 1, 10, 15, 30)), T(2024, 5, 2, 10, 15, 30));
  EXPECT_EQ(Next("30 15 10 * * *", T(2024, 5, 1, 10, 15, 29)), T(2024, 5, 1, 10, 15, 30));
}

TEST(CronParse, FiveFieldsLeaveOutTheDayOfWeekNotTheSecond) {
  // robfig v1's default parser: "0 0 * * *" is second 0 of minute 0 of every hour.
  EXPECT_EQ(Next("0 0 * * *", T(2024, 5, 1, 10, 30)), T(2024, 5, 1, 11));
  EXPECT_EQ(Next("0 0 12 1 *", T(2024, 5, 1, 12)), T(2024, 6, 1, 12));
}

TEST(CronParse, ThirtiethOfEachMonthSkipsFebruary) {
  EXPECT_EQ(Next("0 0 0 30 * *", T(2024, 1, 30)), T(2024, 3, 30));
  EXPECT_EQ(Next("0 0 0 30 * *", T(2024, 3, 30)), T(2024, 4, 30));
  EXPECT_EQ(Next("0 0 0 31 * *", T(2024, 4, 1)), T(2024, 5, 31));
}

TEST(CronParse, TwentyNinthOfFebruary) {
  EXPECT_EQ(Next("0 0 0 29 2 *", T(2024, 3, 1)), T(2028, 2, 29));
  EXPECT_EQ(Next("0 0 0 29 FEB ?", T(2023, 6, 1)), T(2024, 2, 29));
  // 2100 is not a leap year: 2096 then 2104 (more than five years later: robfig gives up).
  EXPECT_EQ(Next("0 0 0 29 2 *", T(2096, 3, 1)), std::nullopt);
}

TEST(CronParse, ImpossibleDateNeverFires) {
  EXPECT_EQ(Next("0 0 0 30 2 *", T(2024, 1, 1)), std::nullopt);
  EXPECT_EQ(Next("0 0 0 31 4,6,9,11 *", T(2024, 1, 1)), std::nullopt);
}

TEST(CronParse, DayOfMonthOrDayOfWeekWhenBothRestricted) {
  // 2024-05-01 is a Wednesday. Both restricted: the 1st OR any Monday.
  CronSchedule s = Cron("0 0 0 1 * MON");
  EXPECT_EQ(NextAfter(s, T(2024, 4, 30)), T(2024, 5, 1));
  EXPECT_EQ(NextAfter(s, T(2024, 5, 1)), T(2024, 5, 6));   // Monday
  EXPECT_EQ(NextAfter(s, T(2024, 5, 27)), T(2024, 6, 1));  // the 1st (a Saturday)
  // Day of month "*": Mondays only.
  EXPECT_EQ(Next("0 0 0 * * MON", T(2024, 5, 1)), T(2024, 5, 6));
  // Day of week "?": the 15th only.
  EXPECT_EQ(Next("0 0 0 15 * ?", T(2024, 5, 1)), T(2024, 5, 15));
  // "*/2" counts as a star (robfig sets the star bit): both must match, odd days that are
  // Mondays. May 2024's Mondays: 6, 13, 20, 27; the 13th and 27th are odd.
  EXPECT_EQ(Next("0 0 0 */2 * MON", T(2024, 5, 1)), T(2024, 5, 13));
  EXPECT_EQ(Next("0 0 0 */2 * MON", T(2024, 5, 13)), T(2024, 5, 27));
}

TEST(CronParse, NamesRangesListsSteps) {
  // Weekdays 09:30 in the first quarter. 2024-03-29 is a Friday.
  CronSchedule s = Cron("0 30 9 * jan-MAR Mon-Fri");
  EXPECT_EQ(NextAfter(s, T(2024, 3, 29, 9, 30)), T(2025, 1, 1, 9, 30));  // a Wednesday
  EXPECT_EQ(NextAfter(s, T(2025, 1, 3, 10)), T(2025, 1, 6, 9, 30));      // Fri -> Mon
  EXPECT_EQ(Next("0 0,30 8-10 * * *", T(2024, 5, 1, 8, 30)), T(2024, 5, 1, 9));
  EXPECT_EQ(Next("0 0,30 8-10 * * *", T(2024, 5, 1, 10, 30)), T(2024, 5, 2, 8));
  EXPECT_EQ(Next("0 10-40/15 * * * *", T(2024, 5, 1, 8, 25)), T(2024, 5, 1, 8, 40));
  EXPECT_EQ(Next("0 10-40/15 * * * *", T(2024, 5, 1, 8, 40)), T(2024, 5, 1, 9, 10));
  // "a/n" is "a-max/n".
  EXPECT_EQ(Next("50/5 * * * * *", T(2024, 5, 1, 8, 0, 56)), T(2024, 5, 1, 8, 1, 50));
  // Tabs and repeated spaces separate fields too.
  EXPECT_EQ(Next("0\t0  0 * * *", T(2024, 5, 1, 1)), T(2024, 5, 2));
}

TEST(CronParse, Descriptors) {
  int64_t t = T(2024, 5, 1, 10, 30, 15);  // a Wednesday
  EXPECT_EQ(Next("@hourly", t), T(2024, 5, 1, 11));
  EXPECT_EQ(Next("@daily", t), T(2024, 5, 2));
  EXPECT_EQ(Next("@midnight", t), T(2024, 5, 2));
  EXPECT_EQ(Next("@weekly", t), T(2024, 5, 5));  // Sunday
  EXPECT_EQ(Next("@monthly", t), T(2024, 6, 1));
  EXPECT_EQ(Next("@yearly", t), T(2025, 1, 1));
  EXPECT_EQ(Next("@annually", t), T(2025, 1, 1));
  EXPECT_EQ(Next("@every 90s", t), t + 90);
  EXPECT_EQ(Next("@every 1h30m", t), t + 5400);
  EXPECT_EQ(Next("@every 1.5s", t), t + 1);   // rounded down to seconds
  EXPECT_EQ(Next("@every 500ms", t), t + 1);  // at least a second
}

TEST(CronParse, GarbageNeverCrashes) {
  std::mt19937 rng(1);
  const std::string alphabet = "0123456789*/-,?@ abcdefghijklmnopqrstuvwxyzJANMON\t";
  for (int i = 0; i < 20000; ++i) {
    std::string spec;
    size_t n = rng() % 24;
    for (size_t j = 0; j < n; ++j) spec += alphabet[rng() % alphabet.size()];
    auto s = ParseCron(spec);
    if (s) (void)NextAfter(*s, 1'700'000'000);
  }
  EXPECT_EQ(NextAfter(Cron("* * * * * *"), std::numeric_limits<int64_t>::max()), std::nullopt);
  EXPECT_EQ(NextAfter(Cron("* * * * * *"), std::numeric_limits<int64_t>::min()), std::nullopt);
}

TEST(CronParse, ErrorsAsRobfigWordsThem) {
  struct Case {
    const char* spec;
    const char* message;
  } cases[] = {
      {"", "Empty spec string"},
      {"* * *", "Expected 5 to 6 fields, found 3: * * *"},
      {"* * * * * * *", "Expected 5 to 6 fields, found 7"},
      {"60 * * * * *", "End of range (60) above maximum (59): 60"},
      {"0 0 0 0 * *", "Beginning of range (0) below minimum (1): 0"},
      {"0 0 0 * * 7", "End of range (7) above maximum (6): 7"},
      {"*/0 * * * * *", "Step of range should be a positive number: */0"},
      {"5-1 * * * * *", "Beginning of range (5) beyond end of range (1): 5-1"},
      {"1-2-3 * * * * *", "Too many hyphens: 1-2-3"},
      {"*/2/3 * * * * *", "Too many slashes: */2/3"},
      {"x * * * * *", "Failed to parse int from x"},
      {"0 0 0 * FOO *", "Failed to parse int from FOO"},
      {"@fortnightly", "Unrecognized descriptor: @fortnightly"},
      {"@every 5x", "Failed to parse duration @every 5x"},
      {"@every", "Unrecognized descriptor: @every"},
  };
  for (const Case& c : cases) {
    auto s = ParseCron(c.spec);
    ASSERT_FALSE(s) << c.spec;
    EXPECT_EQ(s.error().code(), Code::kInvalidArgument);
    EXPECT_NE(s.error().message().find(c.message), std::string::npos)
        << c.spec << " -> " << s.error().message();
  }
}

TEST(CronValidate, CreateTimeChecksAsKfp) {
  EXPECT_TRUE(ValidateRecurringRun("0 0 * * * *", std::nullopt, 1, false).ok());
  EXPECT_TRUE(ValidateRecurringRun(std::nullopt, 60, 10, true).ok());
  Status s = ValidateRecurringRun("1 * * ", std::nullopt, 1, false);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "Invalid input error: Schedule cron is not a supported "
            "format(https://godoc.org/github.com/robfig/cron). Error: Expected 5 to 6 fields, "
            "found 3: 1 * * ");
  EXPECT_EQ(ValidateRecurringRun(std::nullopt, 60, 0, false).message(),
            "Invalid input error: The max concurrency of the job is out of range. Support 1-10. "
            "Received 0.");
  EXPECT_EQ(ValidateRecurringRun(std::nullopt, 60, 11, true).message(),
            "Invalid input error: Max concurrency of a recurring run must be at least 1 and at "
            "most 10. Received 11");
  EXPECT_EQ(ValidateRecurringRun(std::nullopt, 0, 1, false).message(),
            "Invalid input error: Found invalid period schedule interval 0. Set at interval to "
            "least 1 second.");
}

// ------------------------------------------------------------------------------------------
// KFP controller semantics.

Trigger CronTrigger(std::string_view spec) {
  Trigger t;
  t.cron = Cron(spec);
  return t;
}

Trigger Periodic(int64_t interval) {
  Trigger t;
  t.interval_seconds = interval;
  return t;
}

TEST(CronTrigger, FirstCronRunAfterCreation) {
  int64_t created = T(2024, 5, 1, 10, 0, 30);
  Trigger t = CronTrigger("0 * * * * *");
  EXPECT_EQ(NextScheduled(t, std::nullopt, created, created, false), T(2024, 5, 1, 10, 1));
  EXPECT_TRUE(DueTimes(t, std::nullopt, created, created + 29, false, 10).empty());
  EXPECT_EQ(DueTimes(t, std::nullopt, created, created + 30, false, 10),
            std::vector<int64_t>{T(2024, 5, 1, 10, 1)});
}

TEST(CronTrigger, StartTimeInTheFuture) {
  int64_t created = T(2024, 5, 1);
  Trigger t = CronTrigger("0 0 * * * *");  // hourly
  t.start_time = T(2024, 5, 3, 6, 30);
  EXPECT_EQ(NextScheduled(t, std::nullopt, created, created, false), T(2024, 5, 3, 7));
  EXPECT_TRUE(DueTimes(t, std::nullopt, created, T(2024, 5, 3, 6, 59, 59), false, 10).empty());
  // A last fire before the start time (the trigger changed) also waits for the start.
  EXPECT_EQ(NextScheduled(t, T(2024, 5, 1, 5), created, created, false), T(2024, 5, 3, 7));
}

TEST(CronTrigger, EndTimeStopsTheSchedule) {
  int64_t created = T(2024, 5, 1);
  Trigger t = CronTrigger("0 0 * * * *");
  t.end_time = T(2024, 5, 1, 3);
  EXPECT_EQ(DueTimes(t, std::nullopt, created, T(2024, 5, 2), false, 100),
            (std::vector<int64_t>{T(2024, 5, 1, 1), T(2024, 5, 1, 2), T(2024, 5, 1, 3)}));
  EXPECT_EQ(NextScheduled(t, T(2024, 5, 1, 3), created, T(2024, 5, 2), false), std::nullopt);
  // Without catch-up: the latest time not after the end.
  EXPECT_EQ(DueTimes(t, std::nullopt, created, T(2024, 5, 2), true, 100),
            std::vector<int64_t>{T(2024, 5, 1, 3)});
}

TEST(CronTrigger, CatchUpFiresEveryMissedTimeInOrder) {
  int64_t last = T(2024, 5, 1, 10);
  Trigger t = CronTrigger("0 * * * * *");  // every minute
  int64_t now = T(2024, 5, 1, 10, 10, 5);
  std::vector<int64_t> due = DueTimes(t, last, T(2024, 5, 1), now, false, 100);
  ASSERT_EQ(due.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(due[i], last + 60 * (i + 1));
  // max_concurrency slots bound it; the rest stay due on the next call.
  due = DueTimes(t, last, T(2024, 5, 1), now, false, 3);
  ASSERT_EQ(due.size(), 3u);
  EXPECT_EQ(DueTimes(t, due.back(), T(2024, 5, 1), now, false, 100).size(), 7u);
  EXPECT_TRUE(DueTimes(t, last, T(2024, 5, 1), now, false, 0).empty());
}

TEST(CronTrigger, NoCatchUpFiresOnlyTheLatestMissedTime) {
  int64_t last = T(2024, 5, 1, 10);
  Trigger t = CronTrigger("0 * * * * *");
  int64_t now = T(2024, 5, 1, 10, 10, 5);
  EXPECT_EQ(DueTimes(t, last, T(2024, 5, 1), now, true, 100),
            std::vector<int64_t>{T(2024, 5, 1, 10, 10)});
  // Far behind (a year of every-second times): still one, and quickly.
  Trigger every_second = CronTrigger("* * * * * *");
  int64_t year_later = last + 366 * 86400;
  EXPECT_EQ(DueTimes(every_second, last, T(2024, 5, 1), year_later, true, 100),
            std::vector<int64_t>{year_later});
  // Nothing missed: the next time, not yet due.
  EXPECT_EQ(NextScheduled(t, last, T(2024, 5, 1), last + 30, true), last + 60);
}

TEST(CronTrigger, ImpossibleCronNeverFires) {
  Trigger t = CronTrigger("0 0 0 30 2 *");
  EXPECT_EQ(NextScheduled(t, std::nullopt, T(2024, 1, 1), T(2030, 1, 1), false), std::nullopt);
  EXPECT_TRUE(DueTimes(t, std::nullopt, T(2024, 1, 1), T(2030, 1, 1), false, 10).empty());
}

TEST(CronPeriodic, IntervalAfterCreationLastOrStart) {
  int64_t created = 1'000'000;
  Trigger t = Periodic(60);
  EXPECT_EQ(NextScheduled(t, std::nullopt, created, created, false), created + 60);
  EXPECT_EQ(NextScheduled(t, created + 60, created, created, false), created + 120);
  t.start_time = created + 3600;  // in the future
  EXPECT_EQ(NextScheduled(t, std::nullopt, created, created, false), created + 3660);
  EXPECT_TRUE(DueTimes(t, std::nullopt, created, created + 3659, false, 10).empty());
  // Interval 0 counts as 1 s, as in KFP.
  EXPECT_EQ(NextScheduled(Periodic(0), std::nullopt, created, created, false), created + 1);
}

TEST(CronPeriodic, CatchUpAndNoCatchUp) {
  int64_t created = 1'000'000;
  Trigger t = Periodic(5);  // every 5 s
  int64_t now = created + 23;
  EXPECT_EQ(DueTimes(t, std::nullopt, created, now, false, 100),
            (std::vector<int64_t>{created + 5, created + 10, created + 15, created + 20}));
  // No catch-up and more than an interval behind: KFP reschedules to now.
  EXPECT_EQ(DueTimes(t, std::nullopt, created, now, true, 100), std::vector<int64_t>{now});
  EXPECT_EQ(NextScheduled(t, now, created, now, true), now + 5);
  // Behind by less than an interval: the scheduled time.
  EXPECT_EQ(DueTimes(t, created + 15, created, now, true, 100), std::vector<int64_t>{created + 20});
}

TEST(CronPeriodic, EndTime) {
  int64_t created = 1'000'000;
  Trigger t = Periodic(10);
  t.end_time = created + 25;
  EXPECT_EQ(DueTimes(t, std::nullopt, created, created + 1000, false, 100),
            (std::vector<int64_t>{created + 10, created + 20}));
  EXPECT_EQ(NextScheduled(t, created + 20, created, created + 1000, false), std::nullopt);
}

TEST(CronOneOff, FiresOnceAtCreation) {
  Trigger t;
  EXPECT_EQ(DueTimes(t, std::nullopt, 500, 600, false, 10), std::vector<int64_t>{500});
  EXPECT_TRUE(DueTimes(t, 500, 500, 600, false, 10).empty());
}

}  // namespace
}  // namespace skiff::pipelines
