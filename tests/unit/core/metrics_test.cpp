#include "core/metrics.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace skiff {
namespace {

using testing::HasSubstr;
using testing::Not;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// Checks the text exposition format line by line: comments are HELP or TYPE, samples are
// name{labels} value with properly escaped label values, and every sample belongs to the family
// announced by the TYPE line before it.
void ExpectValidExposition(const std::string& text) {
  ASSERT_TRUE(text.empty() || text.back() == '\n');
  static const std::regex help(R"(^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*$)");
  static const std::regex type(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram)$)");
  static const std::regex sample(
      R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")"
      R"((,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")*\})? )"
      R"((-?[0-9][0-9.e+-]*|\+Inf|-Inf|NaN)$)");
  std::string family;
  for (const auto& line : Lines(text)) {
    std::smatch m;
    if (std::regex_match(line, help)) continue;
    if (std::regex_match(line, m, type)) {
      family = m[1];
      continue;
    }
    ASSERT_TRUE(std::regex_match(line, m, sample)) << "bad line: " << line;
    const std::string name = m[1];
    EXPECT_TRUE(name == family || name == family + "_bucket" || name == family + "_sum" ||
                name == family + "_count")
        << line << " under " << family;
  }
}

TEST(MetricsTest, CounterWithLabels) {
  MetricsRegistry reg;
  auto& requests =
      reg.AddCounter("skiff_http_requests_total", "HTTP requests.", {"method", "code"});
  requests.With({"GET", "200"}).Inc();
  requests.With({"GET", "200"}).Inc(4);
  requests.With({"POST", "201"}).Inc();
  EXPECT_EQ(requests.With({"GET", "200"}).Value(), 5u);
  const std::string out = reg.Render();
  EXPECT_EQ(out,
            "# HELP skiff_http_requests_total HTTP requests.\n"
            "# TYPE skiff_http_requests_total counter\n"
            "skiff_http_requests_total{method=\"GET\",code=\"200\"} 5\n"
            "skiff_http_requests_total{method=\"POST\",code=\"201\"} 1\n");
  ExpectValidExposition(out);
}

TEST(MetricsTest, SameLabelsSameChild) {
  MetricsRegistry reg;
  auto& c = reg.AddCounter("c_total", "c", {"a"});
  Counter& x = c.With({"1"});
  EXPECT_EQ(&x, &c.With({"1"}));
  EXPECT_NE(&x, &c.With({"2"}));
}

TEST(MetricsTest, LabelLessFamiliesRenderZeroBeforeFirstUse) {
  MetricsRegistry reg;
  reg.AddCounter("skiff_restarts_total", "Restarts.", {});
  reg.AddGauge("skiff_ready", "Ready.", {});
  reg.AddHistogram("skiff_load_seconds", "Load.", {}, {1});
  const std::string out = reg.Render();
  EXPECT_THAT(out, HasSubstr("\nskiff_restarts_total 0\n"));
  EXPECT_THAT(out, HasSubstr("\nskiff_ready 0\n"));
  EXPECT_THAT(out, HasSubstr("\nskiff_load_seconds_bucket{le=\"1\"} 0\n"));
  EXPECT_THAT(out, HasSubstr("\nskiff_load_seconds_count 0\n"));
  ExpectValidExposition(out);
}

TEST(MetricsTest, LabelledFamilyWithoutChildrenHasOnlyComments) {
  MetricsRegistry reg;
  reg.AddCounter("skiff_x_total", "X.", {"kind"});
  EXPECT_EQ(reg.Render(), "# HELP skiff_x_total X.\n# TYPE skiff_x_total counter\n");
}

TEST(MetricsTest, Gauge) {
  MetricsRegistry reg;
  auto& g = reg.AddGauge("skiff_models_loaded", "Loaded models.", {"runtime"});
  g.With({"onnx"}).Set(3);
  g.With({"onnx"}).Add(-1.5);
  g.With({"python"}).Set(0.1);
  g.With({"big"}).Set(2.5e9);
  g.With({"tiny"}).Set(1e-7);
  EXPECT_DOUBLE_EQ(g.With({"onnx"}).Value(), 1.5);
  const std::string out = reg.Render();
  EXPECT_THAT(out, HasSubstr("skiff_models_loaded{runtime=\"onnx\"} 1.5\n"));
  EXPECT_THAT(out, HasSubstr("skiff_models_loaded{runtime=\"python\"} 0.1\n"));
  EXPECT_THAT(out, HasSubstr("skiff_models_loaded{runtime=\"big\"} 2.5e+09\n"));
  EXPECT_THAT(out, HasSubstr("skiff_models_loaded{runtime=\"tiny\"} 1e-07\n"));
  EXPECT_THAT(out, HasSubstr("# TYPE skiff_models_loaded gauge\n"));
  ExpectValidExposition(out);
}

TEST(MetricsTest, GaugeSpecialValues) {
  MetricsRegistry reg;
  auto& g = reg.AddGauge("g", "g", {"v"});
  g.With({"inf"}).Set(std::numeric_limits<double>::infinity());
  g.With({"ninf"}).Set(-std::numeric_limits<double>::infinity());
  g.With({"nan"}).Set(std::numeric_limits<double>::quiet_NaN());
  g.With({"neg"}).Set(-1);
  g.With({"int"}).Set(123456);
  const std::string out = reg.Render();
  EXPECT_THAT(out, HasSubstr("g{v=\"inf\"} +Inf\n"));
  EXPECT_THAT(out, HasSubstr("g{v=\"ninf\"} -Inf\n"));
  EXPECT_THAT(out, HasSubstr("g{v=\"nan\"} NaN\n"));
  EXPECT_THAT(out, HasSubstr("g{v=\"neg\"} -1\n"));
  EXPECT_THAT(out, HasSubstr("g{v=\"int\"} 123456\n"));
  ExpectValidExposition(out);
}

TEST(MetricsTest, LabelValuesAreEscaped) {
  MetricsRegistry reg;
  auto& c = reg.AddCounter("skiff_errors_total", "Errors.", {"msg"});
  c.With({"say \"hi\"\\now\nnext line"}).Inc();
  c.With({"caf\xC3\xA9 {x=1}"}).Inc();
  const std::string out = reg.Render();
  EXPECT_THAT(out, HasSubstr(R"(skiff_errors_total{msg="say \"hi\"\\now\nnext line"} 1)"));
  EXPECT_THAT(out, HasSubstr("skiff_errors_total{msg=\"caf\xC3\xA9 {x=1}\"} 1\n"));
  ExpectValidExposition(out);
}

TEST(MetricsTest, HelpIsEscaped) {
  MetricsRegistry reg;
  reg.AddGauge("g", "first line\nsecond \\ \"quoted\"", {});
  const std::string out = reg.Render();
  EXPECT_THAT(out, HasSubstr("# HELP g first line\\nsecond \\\\ \"quoted\"\n"));
  ExpectValidExposition(out);
}

TEST(MetricsTest, HistogramBucketsAreCumulative) {
  MetricsRegistry reg;
  auto& h =
      reg.AddHistogram("skiff_request_duration_seconds", "Latency.", {"route"}, {0.1, 0.5, 1});
  auto& child = h.With({"/api"});
  for (double v : {0.05, 0.1, 0.3, 0.7, 2.0, 5.0}) child.Observe(v);
  EXPECT_EQ(child.Count(), 6u);
  EXPECT_DOUBLE_EQ(child.Sum(), 8.15);
  EXPECT_EQ(child.CumulativeCounts(), (std::vector<uint64_t>{2, 3, 4, 6}));
  const std::string out = reg.Render();
  EXPECT_EQ(out,
            "# HELP skiff_request_duration_seconds Latency.\n"
            "# TYPE skiff_request_duration_seconds histogram\n"
            "skiff_request_duration_seconds_bucket{route=\"/api\",le=\"0.1\"} 2\n"
            "skiff_request_duration_seconds_bucket{route=\"/api\",le=\"0.5\"} 3\n"
            "skiff_request_duration_seconds_bucket{route=\"/api\",le=\"1\"} 4\n"
            "skiff_request_duration_seconds_bucket{route=\"/api\",le=\"+Inf\"} 6\n"
            "skiff_request_duration_seconds_sum{route=\"/api\"} 8.15\n"
            "skiff_request_duration_seconds_count{route=\"/api\"} 6\n");
  ExpectValidExposition(out);
}

TEST(MetricsTest, HistogramBoundsAreSortedDeduplicatedAndFinite) {
  Histogram h({1, 0.5, 1, std::numeric_limits<double>::infinity(),
               std::numeric_limits<double>::quiet_NaN(), 0.25});
  EXPECT_EQ(h.bounds(), (std::vector<double>{0.25, 0.5, 1}));
  h.Observe(0.5);  // le is inclusive
  h.Observe(std::numeric_limits<double>::quiet_NaN());
  h.Observe(std::numeric_limits<double>::infinity());
  h.Observe(-3);
  EXPECT_EQ(h.CumulativeCounts(), (std::vector<uint64_t>{1, 2, 2, 4}));
  EXPECT_EQ(h.Count(), 4u);
}

TEST(MetricsTest, DefaultBucketsRenderAsWritten) {
  MetricsRegistry reg;
  auto& h = reg.AddHistogram("lat_seconds", "Latency.", {});
  h.With({}).Observe(0.003);
  const std::string out = reg.Render();
  for (const char* le : {"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
                         "0.25", "0.5", "1", "2.5", "5", "10", "30", "+Inf"}) {
    EXPECT_THAT(out, HasSubstr(std::string("lat_seconds_bucket{le=\"") + le + "\"}")) << le;
  }
  EXPECT_THAT(out, Not(HasSubstr("0.10000000000000001")));
  EXPECT_THAT(out, HasSubstr("lat_seconds_bucket{le=\"0.0025\"} 0\n"));
  EXPECT_THAT(out, HasSubstr("lat_seconds_bucket{le=\"0.005\"} 1\n"));
  EXPECT_THAT(out, HasSubstr("lat_seconds_sum 0.003\n"));
  ExpectValidExposition(out);
  EXPECT_EQ(DefaultLatencyBuckets().size(), 15u);
}

TEST(MetricsTest, GaugeFuncIsReadAtRenderTime) {
  MetricsRegistry reg;
  double value = 1;
  reg.AddGaugeFunc("skiff_open_connections", "Open connections.", [&value] { return value; });
  EXPECT_THAT(reg.Render(), HasSubstr("\nskiff_open_connections 1\n"));
  value = 42.5;
  const std::string out = reg.Render();
  EXPECT_THAT(out, HasSubstr("# TYPE skiff_open_connections gauge\n"));
  EXPECT_THAT(out, HasSubstr("\nskiff_open_connections 42.5\n"));
  ExpectValidExposition(out);
}

TEST(MetricsTest, GaugeFuncMayUseTheRegistry) {
  MetricsRegistry reg;
  reg.AddGauge("inner", "inner", {});
  // Rendering must not hold the registry lock while calling out (this would deadlock).
  bool inside = false;
  reg.AddGaugeFunc("outer", "outer", [&reg, &inside] {
    if (inside) return 0.0;
    inside = true;
    const bool rendered = !reg.Render().empty();
    inside = false;
    return rendered ? 1.0 : 0.0;
  });
  EXPECT_THAT(reg.Render(), HasSubstr("\nouter 1\n"));
}

TEST(MetricsTest, FamiliesRenderInRegistrationOrder) {
  MetricsRegistry reg;
  reg.AddGauge("zzz", "z", {});
  reg.AddCounter("aaa_total", "a", {});
  const std::string out = reg.Render();
  EXPECT_LT(out.find("zzz"), out.find("aaa_total"));
}

TEST(MetricsTest, ConcurrentIncrementsSum) {
  MetricsRegistry reg;
  auto& c = reg.AddCounter("c_total", "c", {"worker"});
  auto& g = reg.AddGauge("g", "g", {});
  auto& h = reg.AddHistogram("h", "h", {"k"}, {0.5});
  // Sixteen buckets: each shard's counts span two cache lines.
  const std::vector<double>& bounds = DefaultLatencyBuckets();
  ASSERT_EQ(bounds.size(), 15u);
  auto& d = reg.AddHistogram("d", "d", {}, bounds);
  // More threads than the counters' shards: threads sharing a shard still add up exactly.
  constexpr int kThreads = 12, kIters = 20000;
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < kIters; ++i) {
        c.With({"shared"}).Inc();
        c.With({std::to_string(t % 2)}).Inc(2);
        g.With({}).Add(1);
        h.With({"x"}).Observe(i % 2 ? 1.0 : 0.25);
        d.With({}).Observe(i % 16 < 15 ? bounds[i % 16] : 100.0);  // every bucket alike
        if (i % 1000 == 0) (void)reg.Render();                     // renders race with recording
      }
    });
  }
  go = true;
  for (auto& th : threads) th.join();
  EXPECT_EQ(c.With({"shared"}).Value(), uint64_t{kThreads} * kIters);
  EXPECT_EQ(c.With({"0"}).Value() + c.With({"1"}).Value(), uint64_t{kThreads} * kIters * 2);
  EXPECT_DOUBLE_EQ(g.With({}).Value(), double{kThreads} * kIters);
  auto& hist = h.With({"x"});
  EXPECT_EQ(hist.Count(), uint64_t{kThreads} * kIters);
  EXPECT_EQ(hist.CumulativeCounts(),
            (std::vector<uint64_t>{uint64_t{kThreads} * kIters / 2, uint64_t{kThreads} * kIters}));
  EXPECT_DOUBLE_EQ(hist.Sum(), kThreads * (kIters / 2) * 1.25);
  auto& dist = d.With({});
  EXPECT_EQ(dist.Count(), uint64_t{kThreads} * kIters);
  std::vector<uint64_t> want;
  for (uint64_t k = 1; k <= 16; ++k) want.push_back(k * kThreads * (kIters / 16));
  EXPECT_EQ(dist.CumulativeCounts(), want);
  ExpectValidExposition(reg.Render());
}

TEST(MetricsTest, ProcessResidentBytes) {
  const double rss = ProcessResidentBytes();
  EXPECT_GT(rss, 1024.0 * 1024);  // a process with gtest and OpenSSL loaded
  EXPECT_LT(rss, 64.0 * 1024 * 1024 * 1024);
  EXPECT_EQ(std::fmod(rss, 4096.0), 0.0);
}

TEST(MetricsDeathTest, ProgrammingErrorsAbort) {
  EXPECT_DEATH(
      {
        MetricsRegistry reg;
        reg.AddCounter("dup", "a", {});
        reg.AddGauge("dup", "b", {});
      },
      "check failed");
  EXPECT_DEATH(
      {
        MetricsRegistry reg;
        reg.AddCounter("bad-name", "a", {});
      },
      "check failed");
  EXPECT_DEATH(
      {
        MetricsRegistry reg;
        reg.AddCounter("ok", "a", {"bad label"});
      },
      "check failed");
  EXPECT_DEATH(
      {
        MetricsRegistry reg;
        reg.AddHistogram("h", "a", {"le"});
      },
      "check failed");
  EXPECT_DEATH(
      {
        MetricsRegistry reg;
        reg.AddCounter("c", "a", {"x", "y"}).With({"only-one"});
      },
      "check failed");
}

}  // namespace
}  // namespace skiff
