#include "pipelines/run_state.hpp"

#include <gtest/gtest.h>

namespace skiff::pipelines {
namespace {

RunState SampleState() {
  RunState s;
  s.phase = RunPhase::kRunning;
  s.started_at_ms = 1000;
  Node root;
  root.id = NodeId("wf-abc", "wf-abc");
  root.name = "wf-abc";
  root.display_name = "wf-abc";
  root.type = "DAG";
  root.phase = NodePhase::kRunning;
  s.Add(root);
  Node pod;
  pod.name = "wf-abc.train";
  pod.id = NodeId("wf-abc", pod.name);
  pod.display_name = "train";
  pod.type = "Pod";
  pod.parent = root.id;
  pod.phase = NodePhase::kSucceeded;
  pod.inputs["lr"] = "0.1";
  pod.output_parameters["acc"] = 0.93;
  pod.output_artifacts.push_back({"model", "file:///d/m", "/tmp/m", "system.Model", {{"k", 1}}});
  pod.result = "out";
  pod.exit_code = 0;
  LaunchSpec l;
  l.image = "python:3";
  l.argv = {"sh", "-c", "echo hi"};
  l.env["A"] = "b";
  l.files.push_back({"/tmp/script", "print(1)", true});
  l.input_artifacts.push_back({"data", "/tmp/in", "file:///d/in"});
  OutputFile of;
  of.name = "acc";
  of.path = "/tmp/acc";
  of.type = "NUMBER_DOUBLE";
  of.default_value = "0";
  l.output_parameters.push_back(of);
  l.output_artifacts.push_back({"model", "/tmp/m", "", std::nullopt, true});
  l.capture_result = true;
  l.timeout_ms = 5000;
  l.retry.limit = 3;
  l.retry.on = RetryPolicy::On::kAlways;
  l.retry.backoff_ms = 100;
  l.cache_key = "abc";
  pod.launch = l;
  pod.attempts = 2;
  pod.cached = true;
  pod.cached_from = "r/n";
  pod.state["loop"] = 1;
  s.Add(pod);
  return s;
}

TEST(RunStateTest, RoundTripsThroughJson) {
  RunState s = SampleState();
  json::object j = s.ToJson();
  auto back = RunState::FromJson(j);
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_EQ(Serialize(back->ToJson()), Serialize(j));
  const Node* pod = back->Find(NodeId("wf-abc", "wf-abc.train"));
  ASSERT_NE(pod, nullptr);
  EXPECT_EQ(pod->parent, back->root);
  ASSERT_TRUE(pod->launch);
  EXPECT_EQ(pod->launch->retry.on, RetryPolicy::On::kAlways);
  EXPECT_EQ(pod->launch->output_parameters[0].default_value, "0");
  EXPECT_TRUE(pod->launch->output_artifacts[0].optional);
  EXPECT_EQ(back->Find(back->root)->children, std::vector<std::string>{pod->id});
}

TEST(RunStateTest, RejectsDamagedState) {
  json::object j = SampleState().ToJson();
  j["phase"] = "Exploded";
  EXPECT_FALSE(RunState::FromJson(j));
  j = SampleState().ToJson();
  j["root"] = "nope";
  EXPECT_FALSE(RunState::FromJson(j));
  j = SampleState().ToJson();
  j["nodes"].as_object().begin()->value().as_object()["children"] = 5;
  EXPECT_FALSE(RunState::FromJson(j));
}

TEST(RunStateTest, NodeIdsAreStableAndDistinct) {
  EXPECT_EQ(NodeId("wf", "wf.a"), NodeId("wf", "wf.a"));
  EXPECT_NE(NodeId("wf", "wf.a"), NodeId("wf", "wf.b"));
  EXPECT_EQ(NodeId("wf", "wf.a").rfind("wf-", 0), 0u);
}

}  // namespace
}  // namespace skiff::pipelines
