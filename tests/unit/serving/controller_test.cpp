// The InferenceService controller over the real SQLite store and model storage, with a fake
// runtime: revisions, the canary split and promotion, KServe status, loads that block or fail
// (and their retry), invalid specs, deletion, restart, the KFServing v1alpha2 form, conflicts
// between the two API groups, and status writes that settle.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "unit/serving/serving_fixture.hpp"

namespace skiff::serving::ctltest {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

using RouteMap = std::map<std::string, int64_t>;

class ControllerTest : public ServingFixture {
 protected:
  // Applies `predictor` to ns/name and waits until the controller has settled on it.
  int64_t Apply(const std::string& ns, const std::string& name, json::object predictor) {
    int64_t generation = ApplyKServe(ns, name, std::move(predictor));
    EXPECT_TRUE(WaitObserved(KServeKey(ns, name), generation)) << ns << "/" << name;
    return generation;
  }
  // Counts each marker in `n` answers.
  std::map<std::string, int> Answers(const std::string& ns, const std::string& name, int n) {
    std::map<std::string, int> out;
    for (int i = 0; i < n; ++i) ++out[Answer(ns, name)];
    return out;
  }
  bool WaitRoutes(const std::string& ns, const std::string& name, const RouteMap& want) {
    return WaitUntil([&] { return RoutesOf(ns, name) == want; });
  }
  // Drops every reference the test holds to table snapshots, then reports whether the model is
  // gone.
  bool Released(const std::weak_ptr<MarkerModel>& model) {
    table_.reset();
    return WaitUntil([&] { return model.expired(); });
  }
};

// ---------------------------------------------------------------------------------------------
// ServedModel::Pick

std::shared_ptr<const LoadedRevision> Revision(const std::string& name) {
  auto r = std::make_shared<LoadedRevision>();
  r->name = name;
  return r;
}

ServedModel Split(int64_t first_percent) {
  ServedModel m;
  m.ready = true;
  m.routes = {{Revision("first"), first_percent}, {Revision("second"), 100 - first_percent}};
  return m;
}

TEST(ServedModelTest, EveryWindowOfHundredGetsExactlyThePercents) {
  for (int64_t p : {1, 10, 30, 50, 70, 90, 99}) {
    ServedModel m = Split(p);
    std::vector<int> first;  // 1 when request i went to "first"
    for (int i = 0; i < 1000; ++i) first.push_back(m.Pick()->name == "first" ? 1 : 0);
    for (size_t start = 0; start + 100 <= first.size(); ++start) {
      int n = 0;
      for (size_t i = start; i < start + 100; ++i) n += first[i];
      ASSERT_EQ(n, p) << "split " << p << "/" << 100 - p << ", window at " << start;
    }
  }
}

TEST(ServedModelTest, MinorityRouteIsInterleavedNotBunched) {
  for (int64_t p : {1, 10, 30, 50, 70, 90, 99}) {
    ServedModel m = Split(p);
    const std::string minority = p <= 50 ? "first" : "second";
    int run = 0, longest = 0;
    for (int i = 0; i < 1000; ++i) {
      run = m.Pick()->name == minority ? run + 1 : 0;
      longest = std::max(longest, run);
    }
    EXPECT_LE(longest, p == 10 || p == 90 ? 1 : 3) << "split " << p << "/" << 100 - p;
  }
}

TEST(ServedModelTest, SingleRouteNotReadyAndSharedCounter) {
  ServedModel one;
  one.ready = true;
  one.routes = {{Revision("only"), 100}};
  for (int i = 0; i < 10; ++i) EXPECT_EQ(one.Pick()->name, "only");
  EXPECT_EQ(one.counter->load(), 0u) << "a single route needs no counter";

  ServedModel down = Split(50);
  down.ready = false;
  EXPECT_EQ(down.Pick(), nullptr);
  EXPECT_EQ(ServedModel{}.Pick(), nullptr);

  // Copies (successive table snapshots) share the counter, so the split stays exact across them.
  ServedModel a = Split(30);
  ServedModel b = a;
  int first = 0;
  for (int i = 0; i < 50; ++i) first += a.Pick()->name == "first";
  for (int i = 0; i < 50; ++i) first += b.Pick()->name == "first";
  EXPECT_EQ(first, 30);
}

// ---------------------------------------------------------------------------------------------
// Rollout

TEST_F(ControllerTest, FirstRevisionServesWithKServeStatus) {
  StartController();
  Apply("ns1", "iris", FakePredictor(ModelDir("a")));

  ASSERT_TRUE(WaitRoutes("ns1", "iris", {{"iris-predictor-00001", 100}}));
  const ServedModel* m = Served("ns1", "iris");
  ASSERT_NE(m, nullptr);
  EXPECT_TRUE(m->ready);
  EXPECT_EQ(m->group, kKServeGroup);
  ASSERT_EQ(m->routes.size(), 1u);
  EXPECT_EQ(m->routes[0].revision->service, "iris");
  EXPECT_EQ(m->routes[0].revision->ns, "ns1");
  EXPECT_EQ(m->routes[0].revision->metadata.name, "iris");
  EXPECT_EQ(Answer("ns1", "iris"), "a");

  json::object st = StatusOf(KServeKey("ns1", "iris"));
  for (const char* type : {"Ready", "PredictorReady", "IngressReady"}) {
    EXPECT_EQ(GetString(ConditionOf(st, type), "status"), "True") << type << ": " << Serialize(st);
    EXPECT_FALSE(GetString(ConditionOf(st, type), "lastTransitionTime").empty()) << type;
  }
  EXPECT_EQ(GetString(st, "url"), "http://iris.ns1.example.com");
  EXPECT_EQ(GetString(st, "address.url"), "http://iris.ns1.svc.cluster.local");
  EXPECT_EQ(Find(st, "observedGeneration")->as_int64(), 1);
  EXPECT_EQ(GetString(st, "components.predictor.latestCreatedRevision"), "iris-predictor-00001");
  EXPECT_EQ(GetString(st, "components.predictor.latestReadyRevision"), "iris-predictor-00001");
  EXPECT_EQ(GetString(st, "components.predictor.latestRolledoutRevision"), "iris-predictor-00001");
  EXPECT_EQ(Find(st, "components.predictor.previousRolledoutRevision"), nullptr);
  const json::value* traffic = Find(st, "components.predictor.traffic");
  ASSERT_NE(traffic, nullptr);
  EXPECT_EQ(*traffic, *ParseJson(R"([{"revisionName": "iris-predictor-00001", "percent": 100,
                                      "latestRevision": true, "tag": "latest"}])"));
  EXPECT_EQ(GetString(st, "modelStatus.states.activeModelState"), "Loaded");
  EXPECT_EQ(GetString(st, "modelStatus.states.targetModelState"), "Loaded");
  EXPECT_EQ(GetString(st, "modelStatus.transitionStatus"), "UpToDate");
  EXPECT_EQ(Find(st, "modelStatus.lastFailureInfo"), nullptr);

  EXPECT_THAT(RevisionRecords("ns1", "iris"), ElementsAre("iris-predictor-00001"));
  auto calls = runtime_->calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].model_name, "iris");
  EXPECT_EQ(calls[0].path, ModelDir("a"));
  EXPECT_THAT(calls[0].work_dir, HasSubstr("/ns1/iris-predictor-00001"));
  EXPECT_THAT(metrics_.back()->Render(),
              HasSubstr("skiff_model_loaded_revisions{namespace=\"ns1\",model=\"iris\"} 1"));
}

TEST_F(ControllerTest, ChangingOnlyCanaryTrafficPercentCreatesNoRevision) {
  StartController();
  Apply("ns1", "iris", FakePredictor(ModelDir("a")));
  ASSERT_TRUE(WaitRoutes("ns1", "iris", {{"iris-predictor-00001", 100}}));

  int64_t gen = Apply("ns1", "iris", FakePredictor(ModelDir("a"), 30));
  EXPECT_EQ(gen, 2);
  EXPECT_THAT(RevisionRecords("ns1", "iris"), ElementsAre("iris-predictor-00001"));
  EXPECT_EQ(runtime_->TotalLoads(), 1);
  EXPECT_EQ(RoutesOf("ns1", "iris"), (RouteMap{{"iris-predictor-00001", 100}}));
  json::object st = StatusOf(KServeKey("ns1", "iris"));
  EXPECT_EQ(Traffic(st), (RouteMap{{"iris-predictor-00001", 100}}));
  EXPECT_EQ(GetString(st, "components.predictor.latestCreatedRevision"), "iris-predictor-00001");
  EXPECT_EQ(GetString(ConditionOf(st, "Ready"), "status"), "True");
}

TEST_F(ControllerTest, CanarySplitThenPromotionUnloadsThePreviousRevision) {
  StartController();
  Apply("ns1", "iris", FakePredictor(ModelDir("a")));
  ASSERT_TRUE(WaitRoutes("ns1", "iris", {{"iris-predictor-00001", 100}}));

  // A new template with canaryTrafficPercent 30: 70/30 once the new revision is ready.
  Apply("ns1", "iris", FakePredictor(ModelDir("b"), 30));
  ASSERT_TRUE(
      WaitRoutes("ns1", "iris", {{"iris-predictor-00001", 70}, {"iris-predictor-00002", 30}}));
  EXPECT_THAT(RevisionRecords("ns1", "iris"),
              UnorderedElementsAre("iris-predictor-00001", "iris-predictor-00002"));
  json::object st = StatusOf(KServeKey("ns1", "iris"));
  const json::value* traffic = Find(st, "components.predictor.traffic");
  ASSERT_NE(traffic, nullptr);
  EXPECT_EQ(*traffic, *ParseJson(R"([
      {"revisionName": "iris-predictor-00001", "percent": 70, "latestRevision": false,
       "tag": "prev"},
      {"revisionName": "iris-predictor-00002", "percent": 30, "latestRevision": true,
       "tag": "latest"}])"));
  EXPECT_EQ(GetString(st, "components.predictor.latestCreatedRevision"), "iris-predictor-00002");
  EXPECT_EQ(GetString(st, "components.predictor.latestReadyRevision"), "iris-predictor-00002");
  EXPECT_EQ(GetString(st, "components.predictor.latestRolledoutRevision"), "iris-predictor-00001");
  EXPECT_EQ(GetString(ConditionOf(st, "Ready"), "status"), "True");
  EXPECT_EQ(Answers("ns1", "iris", 100), (std::map<std::string, int>{{"a", 70}, {"b", 30}}));

  // Only the percent moves: no new revision, no new load.
  Apply("ns1", "iris", FakePredictor(ModelDir("b"), 10));
  ASSERT_TRUE(
      WaitRoutes("ns1", "iris", {{"iris-predictor-00001", 90}, {"iris-predictor-00002", 10}}));
  EXPECT_EQ(runtime_->TotalLoads(), 2);
  EXPECT_EQ(RevisionRecords("ns1", "iris").size(), 2u);
  EXPECT_EQ(Answers("ns1", "iris", 200), (std::map<std::string, int>{{"a", 180}, {"b", 20}}));

  // A request in flight on the old revision keeps its model alive through the promotion.
  auto in_flight = Served("ns1", "iris")->routes[0].revision;
  ASSERT_EQ(in_flight->name, "iris-predictor-00001");
  std::weak_ptr<MarkerModel> old_model = runtime_->Models("a").at(0);

  // Removing canaryTrafficPercent promotes the latest revision.
  Apply("ns1", "iris", FakePredictor(ModelDir("b")));
  ASSERT_TRUE(WaitRoutes("ns1", "iris", {{"iris-predictor-00002", 100}}));
  st = StatusOf(KServeKey("ns1", "iris"));
  EXPECT_EQ(Traffic(st), (RouteMap{{"iris-predictor-00002", 100}}));
  EXPECT_EQ(GetString(st, "components.predictor.latestRolledoutRevision"), "iris-predictor-00002");
  EXPECT_EQ(GetString(st, "components.predictor.previousRolledoutRevision"),
            "iris-predictor-00001");
  EXPECT_EQ(Answers("ns1", "iris", 20), (std::map<std::string, int>{{"b", 20}}));
  table_.reset();
  EXPECT_FALSE(old_model.expired()) << "unloaded under a running request";
  EXPECT_EQ(in_flight->model->Infer({})->outputs[0].strings[0], "a");
  in_flight.reset();
  EXPECT_TRUE(Released(old_model)) << "the promoted-away revision's model is still held";
  EXPECT_FALSE(runtime_->Models("b").at(0).expired());
  EXPECT_THAT(metrics_.back()->Render(),
              HasSubstr("skiff_model_loaded_revisions{namespace=\"ns1\",model=\"iris\"} 1"));
}

TEST_F(ControllerTest, PreviousRevisionKeepsAllTrafficWhileTheNewOneLoads) {
  StartController();
  Apply("ns1", "iris", FakePredictor(ModelDir("a")));
  ASSERT_TRUE(WaitRoutes("ns1", "iris", {{"iris-predictor-00001", 100}}));

  runtime_->Block("b");
  ApplyKServe("ns1", "iris", FakePredictor(ModelDir("b")));
  ASSERT_TRUE(runtime_->WaitLoads("b", 1));
  ASSERT_TRUE(WaitUntil([&] {
    return GetString(StatusOf(KServeKey("ns1", "iris")),
                     "components.predictor.latestCreatedRevision") == "iris-predictor-00002";
  }));
  json::object st = StatusOf(KServeKey("ns1", "iris"));
  json::object predictor_ready = ConditionOf(st, "PredictorReady");
  EXPECT_EQ(GetString(predictor_ready, "status"), "Unknown") << Serialize(st);
  EXPECT_THAT(GetString(predictor_ready, "message"),
              HasSubstr("loading revision iris-predictor-00002"));
  EXPECT_THAT(GetString(predictor_ready, "message"),
              HasSubstr("revision iris-predictor-00001 keeps serving"));
  EXPECT_NE(GetString(ConditionOf(st, "Ready"), "status"), "False");
  EXPECT_EQ(Traffic(st), (RouteMap{{"iris-predictor-00001", 100}}));
  EXPECT_EQ(GetString(st, "components.predictor.latestReadyRevision"), "iris-predictor-00001");
  EXPECT_EQ(GetString(st, "modelStatus.states.activeModelState"), "Loaded");
  EXPECT_EQ(GetString(st, "modelStatus.transitionStatus"), "InProgress");
  EXPECT_EQ(RoutesOf("ns1", "iris"), (RouteMap{{"iris-predictor-00001", 100}}));
  EXPECT_EQ(Answers("ns1", "iris", 10), (std::map<std::string, int>{{"a", 10}}));

  runtime_->Release("b");
  ASSERT_TRUE(WaitRoutes("ns1", "iris", {{"iris-predictor-00002", 100}}));
  ASSERT_TRUE(controller_->WaitIdle(kWait));
  EXPECT_TRUE(Released(runtime_->Models("a").at(0)));
}

TEST_F(ControllerTest, SupersededLoadNeverTakesTraffic) {
  StartController();
  Apply("ns1", "iris", FakePredictor(ModelDir("a")));
  runtime_->Block("b");
  ApplyKServe("ns1", "iris", FakePredictor(ModelDir("b")));
  ASSERT_TRUE(runtime_->WaitLoads("b", 1));
  // The user moves on to a third template before the second one is loaded.
  ApplyKServe("ns1", "iris", FakePredictor(ModelDir("c")));
  ASSERT_TRUE(WaitRoutes("ns1", "iris", {{"iris-predictor-00003", 100}}));
  runtime_->Release("b");
  ASSERT_TRUE(WaitUntil([&] { return runtime_->Models("b").size() == 1; }));
  ASSERT_TRUE(controller_->WaitIdle(kWait));
  EXPECT_EQ(RoutesOf("ns1", "iris"), (RouteMap{{"iris-predictor-00003", 100}}));
  EXPECT_TRUE(Released(runtime_->Models("b").at(0)));
  EXPECT_TRUE(Released(runtime_->Models("a").at(0)));
}

// ---------------------------------------------------------------------------------------------
// Failures

TEST_F(ControllerTest, FailedLoadSaysWhyKeepsThePreviousServingAndRetriesAfterBackoff) {
  ControllerOptions options = Options();
  options.retry_backoff = std::chrono::seconds(10);  // on the fake clock
  StartController(options);
  Apply("ns1", "iris", FakePredictor(ModelDir("a")));
  ASSERT_TRUE(WaitRoutes("ns1", "iris", {{"iris-predictor-00001", 100}}));

  runtime_->FailNext("b", 1, "model.joblib is not a pickle: export it again with joblib.dump");
  ApplyKServe("ns1", "iris", FakePredictor(ModelDir("b")));
  ASSERT_TRUE(WaitUntil([&] {
    return GetString(ConditionOf(StatusOf(KServeKey("ns1", "iris")), "PredictorReady"), "status") ==
           "False";
  }));
  ASSERT_TRUE(controller_->WaitIdle(kWait));
  json::object st = StatusOf(KServeKey("ns1", "iris"));
  for (const char* type : {"PredictorReady", "Ready"}) {
    json::object c = ConditionOf(st, type);
    EXPECT_EQ(GetString(c, "status"), "False") << type;
    EXPECT_EQ(GetString(c, "reason"), "ModelLoadFailed") << type;
    EXPECT_THAT(GetString(c, "message"),
                HasSubstr("revision iris-predictor-00002 failed to load: fake-runtime: "
                          "model.joblib is not a pickle: export it again with joblib.dump"));
    EXPECT_THAT(GetString(c, "message"),
                HasSubstr("(revision iris-predictor-00001 keeps serving)"));
  }
  EXPECT_EQ(GetString(st, "modelStatus.lastFailureInfo.reason"), "ModelLoadFailed");
  EXPECT_THAT(GetString(st, "modelStatus.lastFailureInfo.message"),
              HasSubstr("model.joblib is not a pickle"));
  EXPECT_EQ(GetString(st, "modelStatus.lastFailureInfo.location"), "iris-predictor-00002");
  EXPECT_EQ(GetString(st, "modelStatus.lastFailureInfo.time"), FormatRfc3339(clock_.Now()));
  EXPECT_EQ(GetString(st, "modelStatus.transitionStatus"), "BlockedByFailedLoad");
  EXPECT_EQ(GetString(st, "modelStatus.states.activeModelState"), "Loaded");
  EXPECT_EQ(GetString(st, "modelStatus.states.targetModelState"), "FailedToLoad");
  EXPECT_EQ(GetString(st, "components.predictor.latestReadyRevision"), "iris-predictor-00001");
  EXPECT_EQ(Traffic(st), (RouteMap{{"iris-predictor-00001", 100}}));
  EXPECT_EQ(Answers("ns1", "iris", 5), (std::map<std::string, int>{{"a", 5}}));

  // Other work wakes the controller, but the backoff has not passed on its clock: no retry.
  Apply("ns1", "other", FakePredictor(ModelDir("o")));
  EXPECT_EQ(runtime_->Loads("b"), 1);

  clock_.Advance(std::chrono::seconds(11));
  ASSERT_TRUE(runtime_->WaitLoads("b", 2, std::chrono::seconds(5)))
      << "no retry within 5 s of the backoff passing";
  ASSERT_TRUE(WaitRoutes("ns1", "iris", {{"iris-predictor-00002", 100}}));
  ASSERT_TRUE(WaitUntil([&] {
    return GetString(ConditionOf(StatusOf(KServeKey("ns1", "iris")), "Ready"), "status") == "True";
  }));
  st = StatusOf(KServeKey("ns1", "iris"));
  EXPECT_EQ(Find(st, "modelStatus.lastFailureInfo"), nullptr);
  EXPECT_EQ(GetString(st, "modelStatus.transitionStatus"), "UpToDate");
  EXPECT_EQ(runtime_->Loads("b"), 2);
}

TEST_F(ControllerTest, FirstLoadFailureLeavesTheModelNotReady) {
  StartController();
  runtime_->FailNext("a", 1000, "bad model");
  Apply("ns1", "iris", FakePredictor(ModelDir("a")));
  ASSERT_TRUE(WaitUntil([&] {
    return GetString(ConditionOf(StatusOf(KServeKey("ns1", "iris")), "Ready"), "status") == "False";
  }));
  const ServedModel* m = Served("ns1", "iris");
  ASSERT_NE(m, nullptr);
  EXPECT_FALSE(m->ready);
  EXPECT_THAT(m->reason, HasSubstr("bad model"));
  EXPECT_EQ(m->Pick(), nullptr);
  json::object st = StatusOf(KServeKey("ns1", "iris"));
  EXPECT_EQ(GetString(st, "modelStatus.states.activeModelState"), "FailedToLoad");
  EXPECT_THAT(GetString(ConditionOf(st, "Ready"), "message"), Not(HasSubstr("keeps serving")));
  EXPECT_EQ(Traffic(st), RouteMap{});
}

TEST_F(ControllerTest, MissingModelFilesSayWhichPath) {
  StartController();
  std::string missing = scratch_.path() + "/models/not-there";
  Apply("ns1", "iris", FakePredictor(missing));
  json::object ready = ConditionOf(StatusOf(KServeKey("ns1", "iris")), "Ready");
  EXPECT_EQ(GetString(ready, "status"), "False");
  EXPECT_EQ(GetString(ready, "reason"), "ModelLoadFailed");
  EXPECT_THAT(GetString(ready, "message"), HasSubstr(missing));
  EXPECT_EQ(runtime_->TotalLoads(), 0);
}

TEST_F(ControllerTest, UnknownFormatIsNoSupportingRuntime) {
  StartController();
  Apply("ns1", "tf", FakePredictor(ModelDir("a"), std::nullopt, "tensorflow"));
  json::object st = StatusOf(KServeKey("ns1", "tf"));
  json::object c = ConditionOf(st, "PredictorReady");
  EXPECT_EQ(GetString(c, "status"), "False");
  EXPECT_EQ(GetString(c, "reason"), "NoSupportingRuntime");
  EXPECT_THAT(GetString(c, "message"), HasSubstr("\"tensorflow\""));
  EXPECT_THAT(GetString(c, "message"), HasSubstr("fake-runtime"));
  EXPECT_EQ(GetString(ConditionOf(st, "Ready"), "reason"), "NoSupportingRuntime");
  EXPECT_EQ(GetString(st, "modelStatus.lastFailureInfo.reason"), "NoSupportingRuntime");
  EXPECT_EQ(runtime_->TotalLoads(), 0);
  ASSERT_NE(Served("ns1", "tf"), nullptr);
  EXPECT_FALSE(Served("ns1", "tf")->ready);
}

TEST_F(ControllerTest, InvalidStoredSpecIsReportedAndNothingLoads) {
  StartController();
  // Written past the API's validation (an older skiff, a restore): no storageUri.
  json::object predictor{{"model", json::object{{"modelFormat", json::object{{"name", "fake"}}}}}};
  int64_t gen = ApplyKServe("ns1", "broken", predictor);
  ASSERT_TRUE(WaitObserved(KServeKey("ns1", "broken"), gen));
  json::object st = StatusOf(KServeKey("ns1", "broken"));
  for (const char* type : {"PredictorReady", "Ready"}) {
    json::object c = ConditionOf(st, type);
    EXPECT_EQ(GetString(c, "status"), "False") << type;
    EXPECT_EQ(GetString(c, "reason"), "InvalidSpec") << type;
    EXPECT_THAT(GetString(c, "message"), HasSubstr("spec.predictor.model.storageUri")) << type;
  }
  EXPECT_EQ(GetString(st, "modelStatus.lastFailureInfo.reason"), "InvalidPredictorSpec");
  EXPECT_EQ(GetString(st, "modelStatus.transitionStatus"), "InvalidSpec");
  const ServedModel* m = Served("ns1", "broken");
  ASSERT_NE(m, nullptr);
  EXPECT_FALSE(m->ready);
  EXPECT_EQ(m->reason, "the InferenceService spec is invalid");
  EXPECT_EQ(runtime_->TotalLoads(), 0);
  EXPECT_THAT(RevisionRecords("ns1", "broken"), IsEmpty());

  // Reconciled again later with the same errors: the failure keeps its time (no status churn).
  std::string failed_at = GetString(st, "modelStatus.lastFailureInfo.time");
  std::string transition = GetString(ConditionOf(st, "Ready"), "lastTransitionTime");
  clock_.Advance(std::chrono::minutes(3));
  predictor["minReplicas"] = 1;  // a new generation, still invalid
  gen = ApplyKServe("ns1", "broken", predictor);
  ASSERT_TRUE(WaitObserved(KServeKey("ns1", "broken"), gen));
  st = StatusOf(KServeKey("ns1", "broken"));
  EXPECT_EQ(GetString(st, "modelStatus.lastFailureInfo.time"), failed_at);
  EXPECT_EQ(GetString(ConditionOf(st, "Ready"), "lastTransitionTime"), transition);

  // Fixing the spec serves it.
  Apply("ns1", "broken", FakePredictor(ModelDir("a")));
  ASSERT_TRUE(WaitRoutes("ns1", "broken", {{"broken-predictor-00001", 100}}));
  EXPECT_EQ(GetString(ConditionOf(StatusOf(KServeKey("ns1", "broken")), "Ready"), "status"),
            "True");
}

// ---------------------------------------------------------------------------------------------
// Deletion and restart

TEST_F(ControllerTest, DeletionUnloadsAndDropsRevisionRecords) {
  StartController();
  Apply("ns1", "iris", FakePredictor(ModelDir("a")));
  Apply("ns1", "iris", FakePredictor(ModelDir("b"), 50));
  ASSERT_TRUE(
      WaitRoutes("ns1", "iris", {{"iris-predictor-00001", 50}, {"iris-predictor-00002", 50}}));
  Apply("ns1", "keep", FakePredictor(ModelDir("k")));
  ASSERT_EQ(RevisionRecords("ns1", "iris").size(), 2u);

  ASSERT_TRUE(store_->Delete(KServeKey("ns1", "iris"), 0).has_value());
  ASSERT_TRUE(WaitUntil([&] { return Served("ns1", "iris") == nullptr; }));
  ASSERT_TRUE(controller_->WaitIdle(kWait));
  EXPECT_THAT(RevisionRecords("ns1", "iris"), IsEmpty());
  EXPECT_TRUE(Released(runtime_->Models("a").at(0)));
  EXPECT_TRUE(Released(runtime_->Models("b").at(0)));
  EXPECT_EQ(Answer("ns1", "keep"), "k") << "other models keep serving";
  EXPECT_THAT(RevisionRecords("ns1", "keep"), ElementsAre("keep-predictor-00001"));
  EXPECT_THAT(metrics_.back()->Render(),
              HasSubstr("skiff_model_loaded_revisions{namespace=\"ns1\",model=\"iris\"} 0"));
}

TEST_F(ControllerTest, DeletedAndRecreatedServiceStartsFreshRevisions) {
  StartController();
  Apply("ns1", "iris", FakePredictor(ModelDir("a")));
  Apply("ns1", "iris", FakePredictor(ModelDir("b")));
  ASSERT_TRUE(WaitRoutes("ns1", "iris", {{"iris-predictor-00002", 100}}));
  // Deleted and created again (kubectl delete; kubectl apply) faster than the controller looks:
  // a new object (new uid), whose history starts over as KServe's would.
  controller_->Stop();
  ASSERT_TRUE(store_->Delete(KServeKey("ns1", "iris"), 0).has_value());
  ApplyKServe("ns1", "iris", FakePredictor(ModelDir("c")));
  table_.reset();
  controller_.reset();
  StartController();
  ASSERT_TRUE(WaitObserved(KServeKey("ns1", "iris"), 1));
  ASSERT_TRUE(WaitRoutes("ns1", "iris", {{"iris-predictor-00001", 100}}));
  EXPECT_EQ(Answer("ns1", "iris"), "c");
  EXPECT_THAT(RevisionRecords("ns1", "iris"), ElementsAre("iris-predictor-00001"));
  json::object st = StatusOf(KServeKey("ns1", "iris"));
  EXPECT_EQ(Find(st, "components.predictor.previousRolledoutRevision"), nullptr);
}

TEST_F(ControllerTest, ObjectReplacedInOneTransactionIsANewService) {
  StartController();
  Apply("ns1", "iris", FakePredictor(ModelDir("a")));
  Apply("ns1", "iris", FakePredictor(ModelDir("b")));
  ASSERT_TRUE(WaitRoutes("ns1", "iris", {{"iris-predictor-00002", 100}}));
  // Deletion and creation land together, so the controller only ever sees the new object.
  json::object fresh{{"apiVersion", KServeApiVersion()},
                     {"kind", "InferenceService"},
                     {"metadata", json::object{{"name", "iris"},
                                               {"namespace", "ns1"},
                                               {"uid", "uid-replacement"},
                                               {"creationTimestamp", FormatRfc3339(clock_.Now())},
                                               {"generation", 1}}},
                     {"spec", json::object{{"predictor", FakePredictor(ModelDir("c"))}}}};
  std::vector<store::Mutation> muts;
  muts.push_back({store::Mutation::Op::kDelete, KServeKey("ns1", "iris"), {}, 0});
  muts.push_back({store::Mutation::Op::kCreate, KServeKey("ns1", "iris"), fresh, 0});
  ASSERT_TRUE(store_->Commit(std::move(muts)).has_value());
  ASSERT_TRUE(WaitObserved(KServeKey("ns1", "iris"), 1));
  ASSERT_TRUE(WaitRoutes("ns1", "iris", {{"iris-predictor-00001", 100}}));
  EXPECT_EQ(Answer("ns1", "iris"), "c");
  EXPECT_THAT(RevisionRecords("ns1", "iris"), ElementsAre("iris-predictor-00001"));
  json::object st = StatusOf(KServeKey("ns1", "iris"));
  EXPECT_EQ(GetString(st, "components.predictor.latestRolledoutRevision"), "iris-predictor-00001");
  EXPECT_EQ(Find(st, "components.predictor.previousRolledoutRevision"), nullptr);
  EXPECT_TRUE(Released(runtime_->Models("b").at(0)));
}

class ControllerRestartTest : public ControllerTest {
 protected:
  void SetUp() override { SetUpParts(/*file_backed=*/true); }

  // Stops the controller and closes the store, as a process exit would; then opens both again.
  void Restart() {
    table_.reset();
    controller_.reset();
    store_.reset();
    OpenStore();
    StartController();
  }
};

TEST_F(ControllerRestartTest, CanaryInProgressSurvivesRestart) {
  StartController();
  Apply("ns1", "iris", FakePredictor(ModelDir("a")));
  Apply("ns1", "iris", FakePredictor(ModelDir("b"), 30));
  ASSERT_TRUE(
      WaitRoutes("ns1", "iris", {{"iris-predictor-00001", 70}, {"iris-predictor-00002", 30}}));
  json::object before = StatusOf(KServeKey("ns1", "iris"));

  Restart();
  ASSERT_TRUE(
      WaitRoutes("ns1", "iris", {{"iris-predictor-00001", 70}, {"iris-predictor-00002", 30}}));
  ASSERT_TRUE(controller_->WaitIdle(kWait));
  EXPECT_EQ(Answers("ns1", "iris", 100), (std::map<std::string, int>{{"a", 70}, {"b", 30}}));
  EXPECT_THAT(RevisionRecords("ns1", "iris"),
              UnorderedElementsAre("iris-predictor-00001", "iris-predictor-00002"));
  json::object after = StatusOf(KServeKey("ns1", "iris"));
  EXPECT_EQ(Traffic(after), Traffic(before));
  EXPECT_EQ(*Find(after, "components"), *Find(before, "components"));
  EXPECT_EQ(GetString(ConditionOf(after, "Ready"), "status"), "True");
  EXPECT_EQ(runtime_->Loads("a"), 2);
  EXPECT_EQ(runtime_->Loads("b"), 2);

  // The restored state still promotes correctly.
  Apply("ns1", "iris", FakePredictor(ModelDir("b")));
  ASSERT_TRUE(WaitRoutes("ns1", "iris", {{"iris-predictor-00002", 100}}));
  after = StatusOf(KServeKey("ns1", "iris"));
  EXPECT_EQ(GetString(after, "components.predictor.previousRolledoutRevision"),
            "iris-predictor-00001");
  EXPECT_EQ(RevisionRecords("ns1", "iris").size(), 2u);
}

TEST_F(ControllerRestartTest, RecordsOfServicesDeletedWhileDownAreRemovedAtStart) {
  StartController();
  Apply("ns1", "gone", FakePredictor(ModelDir("a")));
  Apply("ns1", "stays", FakePredictor(ModelDir("b")));
  table_.reset();
  controller_.reset();
  ASSERT_TRUE(store_->Delete(KServeKey("ns1", "gone"), 0).has_value());
  Restart();
  ASSERT_TRUE(WaitRoutes("ns1", "stays", {{"stays-predictor-00001", 100}}));
  EXPECT_THAT(RevisionRecords("ns1", "gone"), IsEmpty());
  EXPECT_THAT(RevisionRecords("ns1", "stays"), ElementsAre("stays-predictor-00001"));
  EXPECT_EQ(Served("ns1", "gone"), nullptr);
}

// ---------------------------------------------------------------------------------------------
// KFServing v1alpha2 and the two API groups

json::object V1alpha2Spec(const std::string& default_uri,
                          std::optional<std::string> canary_uri = std::nullopt,
                          std::optional<int64_t> percent = std::nullopt) {
  json::object spec{
      {"default",
       json::object{
           {"predictor", json::object{{"sklearn", json::object{{"storageUri", default_uri}}}}}}}};
  if (canary_uri) {
    spec["canary"] = json::object{
        {"predictor", json::object{{"sklearn", json::object{{"storageUri", *canary_uri}}}}}};
  }
  if (percent) spec["canaryTrafficPercent"] = *percent;
  return spec;
}

TEST_F(ControllerTest, V1alpha2DefaultAndCanarySplit) {
  StartController();
  int64_t gen = ApplySpec(KfservingKey("ns1", "old"), V1alpha2Spec(ModelDir("a")));
  ASSERT_TRUE(WaitObserved(KfservingKey("ns1", "old"), gen));
  ASSERT_TRUE(WaitRoutes("ns1", "old", {{"old-predictor-default-00001", 100}}));
  EXPECT_EQ(Served("ns1", "old")->group, kKfservingGroup);
  json::object st = StatusOf(KfservingKey("ns1", "old"));
  for (const char* type : {"Ready", "PredictorReady", "DefaultPredictorReady", "RoutesReady"}) {
    EXPECT_EQ(GetString(ConditionOf(st, type), "status"), "True") << type;
  }
  EXPECT_EQ(Find(st, "traffic")->as_int64(), 100);
  EXPECT_EQ(GetString(st, "default.predictor.name"), "old-predictor-default-00001");
  EXPECT_EQ(GetString(st, "default.predictor.host"), "old.ns1.example.com");

  gen = ApplySpec(KfservingKey("ns1", "old"), V1alpha2Spec(ModelDir("a"), ModelDir("b"), 20));
  ASSERT_TRUE(WaitObserved(KfservingKey("ns1", "old"), gen));
  ASSERT_TRUE(WaitRoutes(
      "ns1", "old", {{"old-predictor-default-00001", 80}, {"old-predictor-default-00002", 20}}));
  EXPECT_EQ(Answers("ns1", "old", 100), (std::map<std::string, int>{{"a", 80}, {"b", 20}}));
  ASSERT_TRUE(WaitUntil([&] {
    json::object now = StatusOf(KfservingKey("ns1", "old"));
    const json::value* c = Find(now, "canaryTraffic");
    return c != nullptr && c->is_int64() && c->get_int64() == 20;
  }));
  st = StatusOf(KfservingKey("ns1", "old"));
  EXPECT_EQ(Find(st, "traffic")->as_int64(), 80);
  EXPECT_EQ(GetString(st, "default.predictor.name"), "old-predictor-default-00001");
  EXPECT_EQ(GetString(st, "canary.predictor.name"), "old-predictor-default-00002");
}

TEST_F(ControllerTest, V1alpha2CreatedWithCanaryNumbersTheDefaultFirst) {
  StartController();
  int64_t gen =
      ApplySpec(KfservingKey("ns1", "both"), V1alpha2Spec(ModelDir("a"), ModelDir("b"), 25));
  ASSERT_TRUE(WaitObserved(KfservingKey("ns1", "both"), gen));
  ASSERT_TRUE(WaitRoutes(
      "ns1", "both", {{"both-predictor-default-00001", 75}, {"both-predictor-default-00002", 25}}));
  EXPECT_EQ(Answers("ns1", "both", 100), (std::map<std::string, int>{{"a", 75}, {"b", 25}}));
  json::object st = StatusOf(KfservingKey("ns1", "both"));
  EXPECT_EQ(GetString(st, "default.predictor.name"), "both-predictor-default-00001");
  EXPECT_EQ(GetString(st, "canary.predictor.name"), "both-predictor-default-00002");
  EXPECT_EQ(GetString(st, "components.predictor.latestCreatedRevision"),
            "both-predictor-default-00002");
}

TEST_F(ControllerTest, V1beta1WinsOverV1alpha2OfTheSameName) {
  StartController();
  // The v1alpha2 one comes first and serves...
  int64_t gen = ApplySpec(KfservingKey("ns1", "dup"), V1alpha2Spec(ModelDir("old")));
  ASSERT_TRUE(WaitObserved(KfservingKey("ns1", "dup"), gen));
  ASSERT_TRUE(WaitUntil([&] { return Answer("ns1", "dup") == "old"; }));

  // ...until a v1beta1 one of the same name arrives: that one serves, the other says why not.
  Apply("ns1", "dup", FakePredictor(ModelDir("new")));
  ASSERT_TRUE(WaitUntil([&] { return Answer("ns1", "dup") == "new"; }));
  EXPECT_EQ(Served("ns1", "dup")->group, kKServeGroup);
  ASSERT_TRUE(WaitUntil([&] {
    return GetString(ConditionOf(StatusOf(KfservingKey("ns1", "dup")), "Ready"), "reason") ==
           "Conflict";
  })) << Serialize(StatusOf(KfservingKey("ns1", "dup")));
  json::object c = ConditionOf(StatusOf(KfservingKey("ns1", "dup")), "Ready");
  EXPECT_EQ(GetString(c, "status"), "False");
  EXPECT_THAT(GetString(c, "message"), HasSubstr("serving.kserve.io/v1beta1"));
  EXPECT_EQ(GetString(ConditionOf(StatusOf(KServeKey("ns1", "dup")), "Ready"), "status"), "True");
  ASSERT_TRUE(controller_->WaitIdle(kWait));
  EXPECT_TRUE(Released(runtime_->Models("old").at(0))) << "the shadowed model stays loaded";

  // Deleting the v1beta1 one lets the v1alpha2 one serve again.
  ASSERT_TRUE(store_->Delete(KServeKey("ns1", "dup"), 0).has_value());
  ASSERT_TRUE(WaitUntil([&] { return Answer("ns1", "dup") == "old"; }));
  ASSERT_TRUE(WaitUntil([&] {
    return GetString(ConditionOf(StatusOf(KfservingKey("ns1", "dup")), "Ready"), "status") ==
           "True";
  }));
}

TEST_F(ControllerTest, V1alpha2CreatedAfterV1beta1ReportsConflictAndLoadsNothing) {
  StartController();
  Apply("ns1", "dup", FakePredictor(ModelDir("new")));
  int64_t gen = ApplySpec(KfservingKey("ns1", "dup"), V1alpha2Spec(ModelDir("old")));
  ASSERT_TRUE(WaitObserved(KfservingKey("ns1", "dup"), gen));
  json::object c = ConditionOf(StatusOf(KfservingKey("ns1", "dup")), "Ready");
  EXPECT_EQ(GetString(c, "status"), "False");
  EXPECT_EQ(GetString(c, "reason"), "Conflict");
  EXPECT_EQ(Served("ns1", "dup")->group, kKServeGroup);
  EXPECT_EQ(Answer("ns1", "dup"), "new");
  EXPECT_EQ(runtime_->Loads("old"), 0);
}

// ---------------------------------------------------------------------------------------------
// Status writes settle

TEST_F(ControllerTest, StatusWritesDoNotLoop) {
  controller_clock_ = &SystemClock();  // timestamps move as they do in production
  ControllerOptions options = Options();
  options.retry_backoff = std::chrono::hours(1);
  StartController(options);
  Apply("ns1", "ready", FakePredictor(ModelDir("a")));
  Apply("ns1", "canary", FakePredictor(ModelDir("a")));
  Apply("ns1", "canary", FakePredictor(ModelDir("b"), 40));
  runtime_->FailNext("f", 1000, "cannot load");
  Apply("ns1", "failing", FakePredictor(ModelDir("f")));
  Apply("ns1", "invalid",
        json::object{{"model", json::object{{"modelFormat", json::object{{"name", "fake"}}}}}});
  Apply("ns1", "unsupported", FakePredictor(ModelDir("a"), std::nullopt, "onnx"));
  Apply("ns1", "dup", FakePredictor(ModelDir("a")));
  int64_t gen = ApplySpec(KfservingKey("ns1", "dup"), V1alpha2Spec(ModelDir("a")));
  ASSERT_TRUE(WaitObserved(KfservingKey("ns1", "dup"), gen));
  gen = ApplySpec(KfservingKey("ns1", "alpha"), V1alpha2Spec(ModelDir("a"), ModelDir("b"), 10));
  ASSERT_TRUE(WaitObserved(KfservingKey("ns1", "alpha"), gen));
  ASSERT_TRUE(controller_->WaitIdle(kWait));

  // Count writes to any InferenceService over a quiet period of a few seconds (timestamps in
  // status have one-second resolution, so a write that stamps "now" would show).
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, int> writes;
  std::vector<std::unique_ptr<store::Watch>> watches;
  for (const std::string& resource : {KServeResource(), KfservingResource()}) {
    store::WatchOptions wo;
    wo.from_version = store_->CurrentVersion();
    auto w = store_->StartWatch(
        resource, wo,
        [&](const store::Event& ev) {
          std::lock_guard lock(mu);
          ++writes[ev.object.key.resource + " " + ev.object.key.name];
          cv.notify_all();
        },
        nullptr);
    ASSERT_TRUE(w.has_value());
    watches.push_back(std::move(*w));
  }
  std::unique_lock lock(mu);
  bool any = cv.wait_for(lock, std::chrono::milliseconds(3500), [&] {
    int total = 0;
    for (const auto& [k, n] : writes) total += n;
    return total > 3;  // a loop writes forever; a few straggling writes are not a loop
  });
  EXPECT_FALSE(any) << "status keeps being rewritten";
  for (const auto& [k, n] : writes) ADD_FAILURE() << k << " written " << n << " times";
}

}  // namespace
}  // namespace skiff::serving::ctltest
