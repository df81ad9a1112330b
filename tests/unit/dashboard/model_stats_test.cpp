// The model stats endpoint without sockets: counts by status class and latency from requests
// run through a real ModelExecutor, the recent-errors ring (20, newest first, messages as the
// client saw them, cut to 300 bytes), histogram quantiles, authorization (403 before 404) and
// path parsing.
#include "dashboard/model_stats.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "core/json.hpp"
#include "core/metrics.hpp"

namespace skiff::dashboard {
namespace {

using ::testing::HasSubstr;

// Runs posted tasks at once, on the caller's thread.
class InlineRunner : public http::TaskRunner {
 public:
  void Post(std::function<void()> task) override { task(); }
};

// Answers `fail` when set, else one prediction; advances the clock by `cost` per call.
class ScriptedModel : public serving::Model {
 public:
  explicit ScriptedModel(FakeClock* clock) : clock_(clock) {}
  serving::ModelMetadata Metadata() const override { return {}; }
  bool Cheap() const override { return true; }
  Result<serving::InferResponse> Infer(const serving::InferRequest&) override {
    clock_->Advance(cost);
    if (!fail.ok()) return fail;
    serving::InferResponse r;
    r.outputs.push_back(serving::Tensor::FromInt64s("predict", {1}, {1}));
    return r;
  }
  Status fail = Status::Ok();
  std::chrono::microseconds cost{2000};

 private:
  FakeClock* clock_;
};

// Grants "get" on inferenceservices in the namespaces listed per user.
class FakeAuthorizer : public authz::Authorizer {
 public:
  std::map<std::string, std::set<std::string>> may_get;  // user -> namespaces
  mutable std::vector<std::string> asked;
  authz::Decision Decide(const Principal& who, const authz::Attributes& what) const override {
    asked.push_back(who.name + " " + what.verb + " " + what.group + "/" + what.resource + " " +
                    what.ns + "/" + what.name);
    authz::Decision d;
    auto it = may_get.find(who.name);
    d.allowed = what.verb == "get" && what.resource == "inferenceservices" && it != may_get.end() &&
                it->second.count(what.ns) > 0;
    d.reason = d.allowed ? "ok" : who.name + " may not get inferenceservices in " + what.ns;
    return d;
  }
  std::vector<authz::NamespaceRole> NamespacesOf(const Principal&) const override { return {}; }
};

class ModelStatsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = std::make_shared<ScriptedModel>(&clock_);
    executor_ = serving::ModelExecutor::Create(model_, {"team-a", "iris", "iris-predictor-00001"},
                                               &cpu_, &metrics_, &clock_);
    auto rev = std::make_shared<serving::LoadedRevision>();
    rev->ns = "team-a";
    rev->service = "iris";
    rev->name = "iris-predictor-00001";
    rev->model = model_;
    rev->executor = executor_;
    serving::ServedModel m;
    m.group = "serving.kserve.io";
    m.ns = "team-a";
    m.name = "iris";
    m.ready = true;
    m.routes.push_back({rev, 100});
    auto table = std::make_shared<serving::ServingTable>();
    table->models.emplace(std::make_pair(std::string("team-a"), std::string("iris")), m);
    table_ = table;
    authz_.may_get["alice@example.com"] = {"team-a"};
    api_ = std::make_unique<ModelStatsApi>([this] { return table_; }, &metrics_, &authz_, clock_);
  }

  Result<serving::InferResponse> Predict() {
    std::optional<Result<serving::InferResponse>> out;
    executor_->Submit(serving::InferRequest{},
                      [&](Result<serving::InferResponse> r) { out.emplace(std::move(r)); });
    EXPECT_TRUE(out.has_value());
    return out ? std::move(*out) : Result<serving::InferResponse>(Internal("no answer"));
  }

  http::Response Stats(const std::string& user, const std::string& path) {
    http::Request req;
    req.method = "GET";
    req.path = path;
    if (!user.empty()) req.principal = Principal{user, {}, "session", false};
    return api_->Handle(req);
  }

  json::value Body(const http::Response& r) {
    auto v = ParseJson(r.body);
    EXPECT_TRUE(v.has_value()) << r.body;
    return v ? *v : json::value();
  }

  FakeClock clock_;
  InlineRunner cpu_;
  MetricsRegistry registry_;
  serving::ServingMetrics metrics_{registry_};
  std::shared_ptr<ScriptedModel> model_;
  std::shared_ptr<serving::ModelExecutor> executor_;
  std::shared_ptr<const serving::ServingTable> table_;
  FakeAuthorizer authz_;
  std::unique_ptr<ModelStatsApi> api_;
};

TEST_F(ModelStatsTest, CountsAnswersByClassWithLatency) {
  auto empty = Stats("alice@example.com", "/api/skiff/models/team-a/iris/stats");
  ASSERT_EQ(empty.status, 200) << empty.body;
  json::value v = Body(empty);
  EXPECT_EQ(v.at("requests").at("total").to_number<int64_t>(), 0);
  EXPECT_EQ(v.at("latency").at("count").to_number<int64_t>(), 0);
  EXPECT_FALSE(v.at("latency").as_object().contains("p50_ms"));  // no requests: no estimate
  EXPECT_TRUE(v.at("recentErrors").as_array().empty());
  EXPECT_EQ(GetString(v, "sampledAt"), FormatRfc3339(clock_.Now(), true));

  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Predict());
  model_->fail = InvalidArgument("expected 4 features, got 3");
  ASSERT_FALSE(Predict());
  model_->fail = Internal("worker crashed at /secret/path");
  ASSERT_FALSE(Predict());
  executor_->RecordRejected(InvalidArgument("instances must be a list"));  // parse error, a 400

  v = Body(Stats("alice@example.com", "/api/skiff/models/team-a/iris/stats"));
  EXPECT_EQ(v.at("requests").at("2xx").to_number<int64_t>(), 3);
  EXPECT_EQ(v.at("requests").at("4xx").to_number<int64_t>(), 2);
  EXPECT_EQ(v.at("requests").at("5xx").to_number<int64_t>(), 1);
  EXPECT_EQ(v.at("requests").at("total").to_number<int64_t>(), 6);
  // Five reached the executor, 2 ms each on the fake clock.
  EXPECT_EQ(v.at("latency").at("count").to_number<int64_t>(), 5);
  EXPECT_NEAR(v.at("latency").at("sum_seconds").to_number<double>(), 0.010, 1e-9);
  const double p50 = v.at("latency").at("p50_ms").to_number<double>();
  EXPECT_GT(p50, 1.0);  // inside the (1 ms, 2.5 ms] bucket
  EXPECT_LE(p50, 2.5);
  EXPECT_LE(v.at("latency").at("p99_ms").to_number<double>(), 2.5);

  const auto& errors = v.at("recentErrors").as_array();
  ASSERT_EQ(errors.size(), 3u);
  // Newest first; messages as the client saw them (a 500 says no more).
  EXPECT_EQ(GetString(errors[0], "message"), "instances must be a list");
  EXPECT_EQ(errors[0].at("status").to_number<int>(), 400);
  EXPECT_EQ(GetString(errors[1], "message"), "internal error");
  EXPECT_EQ(errors[1].at("status").to_number<int>(), 500);
  EXPECT_EQ(GetString(errors[2], "message"), "expected 4 features, got 3");
  EXPECT_EQ(GetString(errors[2], "revision"), "iris-predictor-00001");
  EXPECT_TRUE(ParseRfc3339(GetString(errors[2], "time")).has_value());
  EXPECT_THAT(empty.body + Stats("alice@example.com", "/api/skiff/models/team-a/iris/stats").body,
              ::testing::Not(HasSubstr("/secret/path")));
}

TEST_F(ModelStatsTest, RecentErrorsKeepTheLastTwentyCutTo300Bytes) {
  for (int i = 0; i < 25; ++i) {
    executor_->RecordRejected(InvalidArgument("bad request " + std::to_string(i)));
  }
  // A long message ending in multi-byte characters is cut on a character boundary.
  std::string long_message(298, 'x');
  long_message += "\xC3\xA9\xC3\xA9";  // "éé": bytes 298-301
  executor_->RecordRejected(InvalidArgument(long_message));
  json::value v = Body(Stats("alice@example.com", "/api/skiff/models/team-a/iris/stats"));
  const auto& errors = v.at("recentErrors").as_array();
  ASSERT_EQ(errors.size(), serving::ServingMetrics::kRecentErrors);
  std::string newest = GetString(errors[0], "message");
  EXPECT_EQ(newest.size(), 300u);
  EXPECT_EQ(newest.substr(298), "\xC3\xA9");
  EXPECT_EQ(GetString(errors[1], "message"), "bad request 24");
  EXPECT_EQ(GetString(errors[19], "message"), "bad request 6");
  EXPECT_EQ(v.at("requests").at("4xx").to_number<int64_t>(), 26);
}

TEST_F(ModelStatsTest, ModelsAreSeparate) {
  serving::ModelLabels other{"team-b", "iris", "r1"};
  metrics_.RecordError(other, serving::RecentError{clock_.Now(), 503, "overloaded", "r1"});
  ASSERT_TRUE(Predict());
  serving::ModelStats b = metrics_.Stats("team-b", "iris");
  EXPECT_EQ(b.recent_errors.size(), 1u);
  EXPECT_EQ(b.requests_total, 0u);
  serving::ModelStats a = metrics_.Stats("team-a", "iris");
  EXPECT_EQ(a.requests_total, 1u);
  EXPECT_TRUE(a.recent_errors.empty());
}

TEST_F(ModelStatsTest, ForbiddenBeforeNotFound) {
  auto denied = Stats("mallory@example.com", "/api/skiff/models/team-a/iris/stats");
  EXPECT_EQ(denied.status, 403);
  EXPECT_THAT(denied.body, HasSubstr("may not get"));
  // Another namespace's unknown model: still 403, so existence is not told.
  EXPECT_EQ(Stats("alice@example.com", "/api/skiff/models/team-b/iris/stats").status, 403);
  EXPECT_EQ(Stats("alice@example.com", "/api/skiff/models/team-a/nope/stats").status, 404);
  EXPECT_EQ(Stats("", "/api/skiff/models/team-a/iris/stats").status, 401);
  ASSERT_FALSE(authz_.asked.empty());
  EXPECT_EQ(authz_.asked.front(),
            "mallory@example.com get serving.kserve.io/inferenceservices team-a/iris");
}

TEST(ModelStatsPath, Parses) {
  auto p = ParseModelStatsPath("/api/skiff/models/team-a/iris/stats");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->first, "team-a");
  EXPECT_EQ(p->second, "iris");
  for (const char* bad :
       {"/api/skiff/models/team-a/iris", "/api/skiff/models/team-a/iris/stats/x",
        "/api/skiff/models//iris/stats", "/api/skiff/models/team-a//stats",
        "/api/skiff/models/team-a/iris/statsx", "/api/skiff/models/stats", "/api/skiff/routes"}) {
    EXPECT_FALSE(ParseModelStatsPath(bad).has_value()) << bad;
  }
}

TEST(HistogramQuantile, InterpolatesLikePrometheus) {
  const std::vector<double> bounds = {1, 2, 4};
  EXPECT_FALSE(serving::HistogramQuantile(0.5, bounds, {0, 0, 0, 0}).has_value());
  // 10 observations, all in (1, 2]: the median is halfway through that bucket.
  EXPECT_DOUBLE_EQ(*serving::HistogramQuantile(0.5, bounds, {0, 10, 10, 10}), 1.5);
  // 4 in [0, 1], 4 in (1, 2], 2 in (2, 4].
  EXPECT_DOUBLE_EQ(*serving::HistogramQuantile(0.25, bounds, {4, 8, 10, 10}), 0.625);
  EXPECT_DOUBLE_EQ(*serving::HistogramQuantile(0.9, bounds, {4, 8, 10, 10}), 3.0);
  // In the +Inf bucket: the highest finite bound.
  EXPECT_DOUBLE_EQ(*serving::HistogramQuantile(0.99, bounds, {0, 0, 1, 10}), 4.0);
}

}  // namespace
}  // namespace skiff::dashboard
