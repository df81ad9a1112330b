#include "core/clock.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace skiff {
namespace {

using namespace std::chrono;
using testing::HasSubstr;

system_clock::time_point At(int64_t unix_seconds, int64_t nanos = 0) {
  return system_clock::time_point(
      duration_cast<system_clock::duration>(seconds(unix_seconds) + nanoseconds(nanos)));
}

TEST(Rfc3339Test, Format) {
  EXPECT_EQ(FormatRfc3339(At(0)), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(At(1700000000)), "2023-11-14T22:13:20Z");
  // Fractions are dropped (truncated) unless asked for.
  EXPECT_EQ(FormatRfc3339(At(1700000000, 999999999)), "2023-11-14T22:13:20Z");
  EXPECT_EQ(FormatRfc3339(At(1700000000, 123456789), true), "2023-11-14T22:13:20.123456Z");
  EXPECT_EQ(FormatRfc3339(At(1700000000), true), "2023-11-14T22:13:20.000000Z");
  EXPECT_EQ(FormatRfc3339(At(951782400)), "2000-02-29T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(At(4102444799)), "2099-12-31T23:59:59Z");
}

TEST(Rfc3339Test, FormatBeforeEpochRoundsDown) {
  EXPECT_EQ(FormatRfc3339(At(-1)), "1969-12-31T23:59:59Z");
  // -0.5 s is 23:59:59.5, not 00:00:00.
  EXPECT_EQ(FormatRfc3339(At(0, -500000000), true), "1969-12-31T23:59:59.500000Z");
}

TEST(Rfc3339Test, Parse) {
  EXPECT_EQ(*ParseRfc3339("1970-01-01T00:00:00Z"), At(0));
  EXPECT_EQ(*ParseRfc3339("2023-11-14T22:13:20Z"), At(1700000000));
  EXPECT_EQ(*ParseRfc3339("2023-11-14t22:13:20z"), At(1700000000));
  EXPECT_EQ(*ParseRfc3339("2023-11-14 22:13:20Z"), At(1700000000));
  EXPECT_EQ(*ParseRfc3339("2023-11-14T22:13:20.5Z"), At(1700000000, 500000000));
  EXPECT_EQ(*ParseRfc3339("2023-11-14T22:13:20.123456789Z"), At(1700000000, 123456789));
  // Digits past nanoseconds are dropped.
  EXPECT_EQ(*ParseRfc3339("2023-11-14T22:13:20.1234567891234Z"), At(1700000000, 123456789));
  EXPECT_EQ(*ParseRfc3339("2000-02-29T12:00:00Z"), At(951825600));
}

TEST(Rfc3339Test, ParseOffsets) {
  EXPECT_EQ(*ParseRfc3339("2023-11-15T00:13:20+02:00"), At(1700000000));
  EXPECT_EQ(*ParseRfc3339("2023-11-14T17:13:20-05:00"), At(1700000000));
  EXPECT_EQ(*ParseRfc3339("2023-11-15T03:43:20.25+05:30"), At(1700000000, 250000000));
  EXPECT_EQ(*ParseRfc3339("2023-11-14T22:13:20+00:00"), At(1700000000));
  EXPECT_EQ(*ParseRfc3339("2023-11-14T22:13:20-00:00"), At(1700000000));
}

TEST(Rfc3339Test, RoundTrip) {
  for (int64_t t : {int64_t{0}, int64_t{1}, int64_t{951782400}, int64_t{1700000000},
                    int64_t{4102444800}, int64_t{-86400 * 365}}) {
    for (int64_t us : {int64_t{0}, int64_t{1}, int64_t{500000}, int64_t{999999}}) {
      auto tp = At(t, us * 1000);
      auto micros = ParseRfc3339(FormatRfc3339(tp, true));
      ASSERT_TRUE(micros) << t;
      EXPECT_EQ(*micros, tp) << FormatRfc3339(tp, true);
      auto secs = ParseRfc3339(FormatRfc3339(tp));
      ASSERT_TRUE(secs);
      EXPECT_EQ(*secs, At(t)) << FormatRfc3339(tp);
    }
  }
}

TEST(Rfc3339Test, Invalid) {
  for (const char* s : {
           "",
           "2023-11-14",
           "2023-11-14T22:13:20",        // no zone
           "2023-11-14T22:13Z",          // no seconds
           "2023-11-14X22:13:20Z",       // bad separator
           "2023/11/14T22:13:20Z",       // bad date separator
           "23-11-14T22:13:20Z",         // short year
           "2023-1-14T22:13:20Z",        // one-digit month
           "2023-13-01T00:00:00Z",       // month 13
           "2023-00-01T00:00:00Z",       // month 0
           "2023-11-00T00:00:00Z",       // day 0
           "2023-11-31T00:00:00Z",       // November has 30 days
           "2023-02-29T00:00:00Z",       // not a leap year
           "1900-02-29T00:00:00Z",       // not a leap year either
           "2023-11-14T24:00:00Z",       // hour 24
           "2023-11-14T22:60:00Z",       // minute 60
           "2023-11-14T22:13:60Z",       // leap second: Go rejects it too
           "2023-11-14T22:13:20.Z",      // empty fraction
           "2023-11-14T22:13:20+0200",   // offset without colon
           "2023-11-14T22:13:20+02",     // short offset
           "2023-11-14T22:13:20+24:00",  // offset hour out of range
           "2023-11-14T22:13:20+02:60",  // offset minute out of range
           "2023-11-14T22:13:20Zjunk",   // trailing text
           " 2023-11-14T22:13:20Z",      // leading space
           "2023-11-14T22:13:20ZZ",
           "abcd-ef-ghTij:kl:mnZ",
       }) {
    auto r = ParseRfc3339(s);
    EXPECT_FALSE(r) << "accepted \"" << s << "\"";
    if (!r) {
      EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
      EXPECT_THAT(r.error().message(), HasSubstr("RFC 3339"));
    }
  }
}

struct DurationCase {
  std::string text;
  int64_t ms;
};

void PrintTo(const DurationCase& c, std::ostream* os) { *os << "\"" << c.text << "\""; }

class ParseDurationTest : public testing::TestWithParam<DurationCase> {};

TEST_P(ParseDurationTest, Parses) {
  auto d = ParseDuration(GetParam().text);
  ASSERT_TRUE(d) << GetParam().text << ": " << d.error();
  EXPECT_EQ(d->count(), GetParam().ms) << GetParam().text;
}

INSTANTIATE_TEST_SUITE_P(
    Forms, ParseDurationTest,
    testing::Values(DurationCase{"300ms", 300}, DurationCase{"30s", 30000},
                    DurationCase{"5m", 300000}, DurationCase{"1h", 3600000},
                    DurationCase{"1h30m", 5400000}, DurationCase{"2h45m30s500ms", 9930500},
                    DurationCase{"1.5s", 1500}, DurationCase{".5s", 500}, DurationCase{"5.s", 5000},
                    DurationCase{"0.25h", 900000}, DurationCase{"1500us", 2},
                    DurationCase{"1500\u00b5s", 2}, DurationCase{"1500\u03bcs", 2},
                    DurationCase{"2000000ns", 2}, DurationCase{"0s", 0}, DurationCase{"0", 0},
                    DurationCase{"30", 30000}, DurationCase{"+30s", 30000},
                    DurationCase{"90m", 5400000}, DurationCase{"1m1m", 120000},
                    DurationCase{"999999999999", 999999999999000}));

TEST(ParseDurationErrorsTest, Rejected) {
  for (const char* s : {"", "s", "ms", "1", "1x", "1d", "1 s", " 1s", "1s ", "1h30", "1.5.5s", ".s",
                        "-5s", "-5", "+", "1e3s", "abc", "1000000000000000h", "9999999999999"}) {
    if (std::string(s) == "1") continue;  // bare seconds are fine
    auto d = ParseDuration(s);
    EXPECT_FALSE(d) << "accepted \"" << s << "\" as " << (d ? d->count() : 0) << "ms";
    if (!d) {
      EXPECT_EQ(d.error().code(), Code::kInvalidArgument);
    }
  }
  EXPECT_THAT(ParseDuration("1h30").error().message(), HasSubstr("missing unit"));
  EXPECT_THAT(ParseDuration("3d").error().message(), HasSubstr("unknown unit \"d\""));
  EXPECT_THAT(ParseDuration("-1s").error().message(), HasSubstr("negative"));
}

TEST(FormatDurationTest, Forms) {
  EXPECT_EQ(FormatDuration(milliseconds(0)), "0s");
  EXPECT_EQ(FormatDuration(milliseconds(250)), "250ms");
  EXPECT_EQ(FormatDuration(milliseconds(1000)), "1s");
  EXPECT_EQ(FormatDuration(milliseconds(1500)), "1.5s");
  EXPECT_EQ(FormatDuration(milliseconds(1050)), "1.05s");
  EXPECT_EQ(FormatDuration(milliseconds(30000)), "30s");
  EXPECT_EQ(FormatDuration(milliseconds(90000)), "1m30s");
  EXPECT_EQ(FormatDuration(milliseconds(300000)), "5m");
  EXPECT_EQ(FormatDuration(milliseconds(3600000)), "1h");
  EXPECT_EQ(FormatDuration(milliseconds(5400000)), "1h30m");
  EXPECT_EQ(FormatDuration(milliseconds(3601001)), "1h1.001s");
  EXPECT_EQ(FormatDuration(milliseconds(100 * 3600000LL)), "100h");
  EXPECT_EQ(FormatDuration(milliseconds(-1500)), "-1.5s");
}

TEST(FormatDurationTest, RoundTripsThroughParse) {
  for (int64_t ms :
       {int64_t{0}, int64_t{1}, int64_t{999}, int64_t{1000}, int64_t{1001}, int64_t{59999},
        int64_t{60000}, int64_t{61000}, int64_t{3599999}, int64_t{3600000}, int64_t{86400000},
        int64_t{90061001}, int64_t{999999999999000}}) {
    auto back = ParseDuration(FormatDuration(milliseconds(ms)));
    ASSERT_TRUE(back) << FormatDuration(milliseconds(ms));
    EXPECT_EQ(back->count(), ms) << FormatDuration(milliseconds(ms));
  }
}

struct AgeCase {
  system_clock::duration d;
  std::string want;
};

void PrintTo(const AgeCase& c, std::ostream* os) {
  *os << duration_cast<milliseconds>(c.d).count() << "ms -> " << c.want;
}

class ShortAgeTest : public testing::TestWithParam<AgeCase> {};

TEST_P(ShortAgeTest, MatchesKubectlHumanDuration) {
  EXPECT_EQ(ShortAge(GetParam().d), GetParam().want)
      << duration_cast<milliseconds>(GetParam().d).count() << "ms";
}

constexpr auto kDay = hours(24);
constexpr auto kYear = hours(24 * 365);

// The table of k8s.io/apimachinery/pkg/util/duration's HumanDuration tests, plus boundaries.
INSTANTIATE_TEST_SUITE_P(
    Table, ShortAgeTest,
    testing::Values(AgeCase{seconds(-3), "<invalid>"}, AgeCase{seconds(-2), "<invalid>"},
                    AgeCase{milliseconds(-1999), "0s"}, AgeCase{seconds(-1), "0s"},
                    AgeCase{milliseconds(-500), "0s"}, AgeCase{seconds(0), "0s"},
                    AgeCase{milliseconds(999), "0s"}, AgeCase{seconds(1), "1s"},
                    AgeCase{seconds(59), "59s"}, AgeCase{seconds(60), "60s"},
                    AgeCase{seconds(90), "90s"}, AgeCase{seconds(119), "119s"},
                    AgeCase{seconds(120), "2m"}, AgeCase{minutes(2) + seconds(1), "2m1s"},
                    AgeCase{minutes(5) + seconds(30), "5m30s"},
                    AgeCase{minutes(9) + seconds(59), "9m59s"}, AgeCase{minutes(10), "10m"},
                    AgeCase{minutes(10) + seconds(59), "10m"}, AgeCase{minutes(90), "90m"},
                    AgeCase{minutes(179), "179m"}, AgeCase{minutes(180), "3h"},
                    AgeCase{hours(3), "3h"}, AgeCase{hours(3) + minutes(1), "3h1m"},
                    AgeCase{hours(7) + minutes(59), "7h59m"}, AgeCase{hours(8), "8h"},
                    AgeCase{hours(8) + minutes(59), "8h"}, AgeCase{hours(47), "47h"},
                    AgeCase{hours(47) + minutes(59), "47h"}, AgeCase{hours(48), "2d"},
                    AgeCase{hours(48) + minutes(1), "2d"}, AgeCase{hours(49), "2d1h"},
                    AgeCase{kDay * 7 + hours(23), "7d23h"}, AgeCase{kDay * 8, "8d"},
                    AgeCase{kDay * 8 + hours(23), "8d"}, AgeCase{kDay * 364, "364d"},
                    AgeCase{kDay * 365, "365d"}, AgeCase{kDay * 729, "729d"},
                    AgeCase{kYear * 2, "2y"}, AgeCase{kYear * 2 + kDay, "2y1d"},
                    AgeCase{kYear * 7 + kDay * 364, "7y364d"}, AgeCase{kYear * 8, "8y"},
                    AgeCase{kYear * 8 + kDay * 100, "8y"}, AgeCase{kYear * 100, "100y"}));

TEST(FakeClockTest, StartsAtGivenTimeAndAdvances) {
  FakeClock clock;
  EXPECT_EQ(clock.Now(), At(1700000000));
  const auto steady0 = clock.Steady();
  clock.Advance(seconds(90));
  EXPECT_EQ(clock.Now(), At(1700000090));
  EXPECT_EQ(clock.Steady() - steady0, seconds(90));
  clock.Advance(milliseconds(1));
  clock.Advance(nanoseconds(5));
  EXPECT_EQ(clock.Now(), At(1700000090, 1000005));
  EXPECT_EQ(clock.Steady() - steady0, seconds(90) + milliseconds(1) + nanoseconds(5));
  EXPECT_EQ(ShortAge(clock.Now() - At(1700000000)), "90s");

  FakeClock other(At(0));
  EXPECT_EQ(FormatRfc3339(other.Now()), "1970-01-01T00:00:00Z");
}

TEST(FakeClockTest, UsableThroughTheInterface) {
  FakeClock fake(At(1000));
  Clock& clock = fake;
  const auto before = clock.Now();
  fake.Advance(hours(1));
  EXPECT_EQ(clock.Now() - before, hours(1));
}

TEST(FakeClockTest, ConcurrentAdvanceSums) {
  FakeClock clock(At(0));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&clock] {
      for (int i = 0; i < 1000; ++i) clock.Advance(milliseconds(1));
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(clock.Now(), At(4));
}

TEST(SystemClockTest, IsCloseToTheRealClock) {
  Clock& clock = SystemClock();
  EXPECT_EQ(&clock, &SystemClock());
  const auto now = system_clock::now();
  EXPECT_LT(abs(clock.Now() - now), seconds(5));
  const auto s1 = clock.Steady();
  const auto s2 = clock.Steady();
  EXPECT_LE(s1, s2);
}

}  // namespace
}  // namespace skiff
