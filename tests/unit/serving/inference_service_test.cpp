// Reading KServe (v1beta1) and KFServing (v1alpha2) InferenceService specs, and their checks.

#include "serving/inference_service.hpp"

#include <gtest/gtest.h>

#include "api/kind.hpp"

namespace skiff::serving {
namespace {

json::object Obj(std::string_view text) {
  auto v = ParseJson(text);
  EXPECT_TRUE(v.has_value()) << text;
  return v->as_object();
}

std::string Fields(const api::FieldErrors& errs) {
  std::string out;
  for (const auto& e : errs) out += e.field + ";";
  return out;
}

TEST(InferenceServiceSpec, KServeFrameworkForm) {
  auto r = ReadSpec(kKServeGroup, Obj(R"({
    "metadata": {"name": "sklearn-iris"},
    "spec": {"predictor": {"sklearn": {"storageUri": "gs://kfserving-examples/models/sklearn/1.0/model",
                                        "env": [{"name": "PREDICT_PROBA", "value": "true"}]},
                           "minReplicas": 1, "maxReplicas": 3, "timeout": 30,
                           "containerConcurrency": 4}}})"));
  ASSERT_TRUE(r.state) << Fields(r.errors);
  EXPECT_EQ(r.state->latest.format, "sklearn");
  EXPECT_EQ(r.state->latest.storage_uri, "gs://kfserving-examples/models/sklearn/1.0/model");
  EXPECT_EQ(r.state->latest.protocol, "v1");
  EXPECT_EQ(r.state->latest.env.at("PREDICT_PROBA"), "true");
  EXPECT_EQ(r.state->latest.timeout, std::chrono::seconds(30));
  EXPECT_EQ(r.state->latest.container_concurrency, 4);
  EXPECT_EQ(r.state->max_replicas, 3);
  EXPECT_FALSE(r.state->canary_percent);
  EXPECT_FALSE(r.state->stable);
}

TEST(InferenceServiceSpec, KServeModelFormatForm) {
  auto r = ReadSpec(kKServeGroup, Obj(R"({
    "metadata": {"name": "xgb"},
    "spec": {"predictor": {"canaryTrafficPercent": 10,
                           "model": {"modelFormat": {"name": "XGBoost"}, "runtime": "skiff-xgboost",
                                     "protocolVersion": "v2", "storageUri": "s3://m/x"}}}})"));
  ASSERT_TRUE(r.state) << Fields(r.errors);
  EXPECT_EQ(r.state->latest.format, "xgboost");
  EXPECT_EQ(r.state->latest.runtime, "skiff-xgboost");
  EXPECT_EQ(r.state->latest.protocol, "v2");
  EXPECT_EQ(r.state->canary_percent, 10);
}

TEST(InferenceServiceSpec, KfservingDefaultAndCanary) {
  auto r = ReadSpec(kKfservingGroup, Obj(R"({
    "metadata": {"name": "flowers"},
    "spec": {"default": {"predictor": {"sklearn": {"storageUri": "/models/v1"}}},
             "canary": {"predictor": {"sklearn": {"storageUri": "/models/v2"}}},
             "canaryTrafficPercent": 25}})"));
  ASSERT_TRUE(r.state) << Fields(r.errors);
  ASSERT_TRUE(r.state->stable);
  EXPECT_EQ(r.state->stable->storage_uri, "/models/v1");
  EXPECT_EQ(r.state->latest.storage_uri, "/models/v2");
  EXPECT_EQ(r.state->canary_percent, 25);
}

TEST(InferenceServiceSpec, KfservingWithoutCanaryIgnoresPercent) {
  auto r = ReadSpec(kKfservingGroup, Obj(R"({
    "metadata": {"name": "a"},
    "spec": {"default": {"predictor": {"xgboost": {"storageUri": "/m"}}}, "canaryTrafficPercent": 5}})"));
  ASSERT_TRUE(r.state) << Fields(r.errors);
  EXPECT_FALSE(r.state->stable);
  EXPECT_FALSE(r.state->canary_percent);
}

TEST(InferenceServiceSpec, ErrorsNameTheField) {
  struct Case {
    const char* body;
    const char* field;
  };
  const Case cases[] = {
      {R"({"metadata": {"name": "a"}, "spec": {}})", "spec.predictor;"},
      {R"({"metadata": {"name": "a"}, "spec": {"predictor": {}}})", "spec.predictor;"},
      {R"({"metadata": {"name": "a"}, "spec": {"predictor": {"sklearn": {}}}})",
       "spec.predictor.sklearn.storageUri;"},
      {R"({"metadata": {"name": "a"}, "spec": {"predictor": {"sklearn": {"storageUri": "/m"},
          "xgboost": {"storageUri": "/m"}}}})",
       "spec.predictor;"},
      {R"({"metadata": {"name": "a"}, "spec": {"predictor": {"canaryTrafficPercent": 101,
          "sklearn": {"storageUri": "/m"}}}})",
       "spec.predictor.canaryTrafficPercent;"},
      {R"({"metadata": {"name": "a"}, "spec": {"predictor": {"canaryTrafficPercent": "ten",
          "sklearn": {"storageUri": "/m"}}}})",
       "spec.predictor.canaryTrafficPercent;"},
      {R"({"metadata": {"name": "a"}, "spec": {"predictor": {"minReplicas": 3, "maxReplicas": 1,
          "sklearn": {"storageUri": "/m"}}}})",
       "spec.predictor.maxReplicas;"},
      {R"({"metadata": {"name": "a"}, "spec": {"predictor": {"model": {"storageUri": "/m"}}}})",
       "spec.predictor.model.modelFormat.name;"},
      {R"({"metadata": {"name": "a"}, "spec": {"predictor": {"sklearn": {"storageUri": "/m",
          "protocolVersion": "v9"}}}})",
       "spec.predictor.sklearn.protocolVersion;"},
      {R"({"metadata": {"name": "1abc"}, "spec": {"predictor": {"sklearn": {"storageUri": "/m"}}}})",
       "metadata.name;"},
  };
  for (const auto& c : cases) {
    auto r = ReadSpec(kKServeGroup, Obj(c.body));
    EXPECT_FALSE(r.state) << c.body;
    EXPECT_EQ(Fields(r.errors), c.field) << c.body;
  }
}

TEST(InferenceServiceSpec, TemplateHashIgnoresTrafficButNotModel) {
  auto a = ReadSpec(kKServeGroup, Obj(R"({"metadata": {"name": "a"}, "spec": {"predictor":
      {"sklearn": {"storageUri": "/m1"}}}})"));
  auto b = ReadSpec(kKServeGroup, Obj(R"({"metadata": {"name": "a"}, "spec": {"predictor":
      {"canaryTrafficPercent": 20, "sklearn": {"storageUri": "/m1"}}}})"));
  auto c = ReadSpec(kKServeGroup, Obj(R"({"metadata": {"name": "a"}, "spec": {"predictor":
      {"sklearn": {"storageUri": "/m2"}}}})"));
  ASSERT_TRUE(a.state && b.state && c.state);
  EXPECT_EQ(a.state->latest.Hash(), b.state->latest.Hash());
  EXPECT_NE(a.state->latest.Hash(), c.state->latest.Hash());
  auto round = PredictorTemplate::FromJson(c.state->latest.ToJson());
  ASSERT_TRUE(round);
  EXPECT_EQ(round->Hash(), c.state->latest.Hash());
}

TEST(InferenceServiceKinds, RegisteredInBothGroupsWithShortName) {
  api::KindRegistry kinds;
  ASSERT_TRUE(RegisterInferenceServiceKinds(kinds).ok());
  const api::KindInfo* k = kinds.ByPlural(kKServeGroup, "v1beta1", "inferenceservices");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->short_names, std::vector<std::string>{"isvc"});
  EXPECT_TRUE(k->status_subresource);
  EXPECT_NE(kinds.ByPlural(kKfservingGroup, "v1alpha2", "inferenceservices"), nullptr);
  // validate is wired to ReadSpec.
  auto errs = k->validate(Obj(R"({"metadata": {"name": "a"}, "spec": {"predictor": {}}})"));
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].field, "spec.predictor");
}

}  // namespace
}  // namespace skiff::serving
