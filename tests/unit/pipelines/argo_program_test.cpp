// The Argo Program driven to the end by a fake engine: every KFP v1 sample and each feature.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/yaml.hpp"
#include "pipelines/argo.hpp"

namespace skiff::pipelines {
namespace {

namespace fs = std::filesystem;
using testing::ElementsAre;
using testing::HasSubstr;

constexpr char kRun[] = "wf-x7k2p";

std::string SamplesDir() {
  if (const char* env = std::getenv("SKIFF_KFP_SAMPLES")) return env;
  fs::path root = fs::path(__FILE__).parent_path().parent_path().parent_path().parent_path();
  return (root.parent_path() / "shared" / "kfp-samples").string();
}

json::object Yaml(const std::string& text) {
  auto v = ParseYaml(text);
  EXPECT_TRUE(v) << (v ? "" : v.error().ToString());
  if (!v || !v->is_object()) return {};
  return v->as_object();
}

json::object Sample(const std::string& name) {
  std::ifstream in(SamplesDir() + "/v1-argo/" + name);
  EXPECT_TRUE(in.good()) << SamplesDir() << "/v1-argo/" << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return Yaml(ss.str());
}

std::shared_ptr<const Program> Compile(const json::object& wf) {
  auto p = CompileArgoWorkflow(wf);
  EXPECT_TRUE(p) << (p ? "" : p.error().ToString());
  return p ? *p : nullptr;
}

// Plays the engine: every Pending Pod node ends as `on_pod` decides (default: Succeeded with
// "<name>-value" for each output parameter and a file:// artifact for each output artifact).
class FakeEngine {
 public:
  explicit FakeEngine(std::shared_ptr<const Program> p, json::object params = {})
      : program_(std::move(p)) {
    ctx.run_id = "0b5c-uid";
    ctx.run_name = kRun;
    ctx.ns = "team-a";
    ctx.created_at_ms = 1700000000000;
    ctx.now_ms = 1700000001000;
    ctx.parameters = std::move(params);
  }

  std::function<void(Node&)> on_pod;
  int per_round = 0;  // pods finished per round; 0 = all
  RunState st;
  RunContext ctx;
  std::vector<std::string> ran;  // pod node names, in the order they ended
  size_t max_pending = 0;

  Status Advance() {
    ctx.now_ms += 1000;
    return program_->Advance(st, ctx);
  }

  // Runs to the end (or until stuck); returns the last Advance error.
  Status Run(int max_rounds = 200) {
    for (int round = 0; round < max_rounds; ++round) {
      SKIFF_RETURN_IF_ERROR(Advance());
      if (st.phase != RunPhase::kRunning && st.phase != RunPhase::kPending) return Status::Ok();
      std::vector<Node*> pending;
      for (auto& [id, n] : st.nodes) {
        if (n.type == "Pod" && n.phase == NodePhase::kPending) pending.push_back(&n);
      }
      max_pending = std::max(max_pending, pending.size());
      if (pending.empty()) return Internal("stuck: no pending pod and the run is not finished");
      std::sort(pending.begin(), pending.end(),
                [](const Node* a, const Node* b) { return a->name < b->name; });
      size_t n = per_round == 0 ? pending.size() : std::min<size_t>(per_round, pending.size());
      for (size_t i = 0; i < n; ++i) Finish(*pending[i]);
    }
    return Internal("too many rounds");
  }

  void Finish(Node& n) {
    EXPECT_TRUE(n.launch.has_value()) << n.name;
    n.attempts = 1;
    n.started_at_ms = ctx.now_ms;
    n.phase = NodePhase::kRunning;
    if (on_pod) on_pod(n);
    if (n.phase == NodePhase::kRunning) n.phase = NodePhase::kSucceeded;
    n.finished_at_ms = ctx.now_ms;
    n.exit_code = n.phase == NodePhase::kSucceeded ? 0 : 1;
    if (n.phase == NodePhase::kSucceeded && n.launch) {
      for (const OutputFile& f : n.launch->output_parameters) {
        if (!n.output_parameters.contains(f.name)) n.output_parameters[f.name] = f.name + "-value";
      }
      for (const OutputFile& f : n.launch->output_artifacts) {
        n.output_artifacts.push_back(
            {f.name, "file:///store/" + n.id + "/" + f.name, f.path, "", {}});
      }
    }
    ran.push_back(n.name);
  }

  // The node named kRun + suffix (".flip", "" for the root).
  const Node* Get(const std::string& suffix) const {
    const Node* n = st.Find(NodeId(kRun, std::string(kRun) + suffix));
    EXPECT_NE(n, nullptr) << suffix;
    return n;
  }
  bool Has(const std::string& suffix) const {
    return st.Find(NodeId(kRun, std::string(kRun) + suffix)) != nullptr;
  }
  int CountRan(const std::string& template_name) const {
    int count = 0;
    for (const auto& [id, n] : st.nodes) {
      if (n.type == "Pod" && n.template_name == template_name && IsFinished(n.phase)) ++count;
    }
    return count;
  }

 private:
  std::shared_ptr<const Program> program_;
};

// Sets each output parameter of pods of `tmpl` from `values`, in order.
std::function<void(Node&)> Outputs(std::map<std::string, std::vector<std::string>> values) {
  auto state = std::make_shared<std::map<std::string, std::vector<std::string>>>(std::move(values));
  return [state](Node& n) {
    auto it = state->find(n.template_name);
    if (it == state->end() || it->second.empty()) return;
    std::string v = it->second.front();
    it->second.erase(it->second.begin());
    for (const OutputFile& f : n.launch->output_parameters) n.output_parameters[f.name] = v;
  };
}

// --- The KFP v1 samples ---

TEST(ArgoSamplesTest, CoinHeadsThenTails) {
  auto p = Compile(Sample("coin.yaml"));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->name(), "pipeline flip coin");
  EXPECT_EQ(p->description(), "shows how to use dsl.Condition.");
  FakeEngine e(p);
  e.on_pod = Outputs({{"flip", {"heads"}}, {"flip-again", {"tails"}}});
  ASSERT_TRUE(e.Run().ok());
  EXPECT_EQ(e.st.phase, RunPhase::kSucceeded) << e.st.message;
  // heads: condition-1 ran; flip-again said tails, so condition-2 printed it; condition-3 did not.
  const Node* print1 = e.Get(".condition-1.condition-2.print1");
  ASSERT_TRUE(print1 && print1->launch);
  EXPECT_THAT(print1->launch->argv, ElementsAre("echo", "tails"));
  EXPECT_EQ(print1->phase, NodePhase::kSucceeded);
  const Node* c3 = e.Get(".condition-3");
  EXPECT_EQ(c3->phase, NodePhase::kSkipped);
  EXPECT_EQ(c3->type, "Skipped");
  EXPECT_EQ(c3->message, R"(when '"heads" == "tails"' evaluated false)");
  EXPECT_EQ(e.CountRan("print2"), 0);
  // The DAG's output came from its task.
  EXPECT_EQ(e.Get(".condition-1")->output_parameters.at("flip-again-output"), "tails");
  // Argo's node shapes.
  const Node* root = e.Get("");
  EXPECT_EQ(root->type, "DAG");
  EXPECT_EQ(root->id, e.st.root);
  EXPECT_EQ(root->display_name, kRun);
  const Node* flip = e.Get(".flip");
  EXPECT_EQ(flip->display_name, "flip");
  EXPECT_EQ(flip->parent, root->id);
  EXPECT_EQ(flip->boundary_id, root->id);
  EXPECT_EQ(flip->launch->image, "python:alpine3.6");
  EXPECT_THAT(root->children, testing::Contains(flip->id));
  EXPECT_EQ(print1->boundary_id, e.Get(".condition-1.condition-2")->id);
}

TEST(ArgoSamplesTest, CoinTailsTakesTheOtherBranch) {
  FakeEngine e(Compile(Sample("coin.yaml")));
  e.on_pod = Outputs({{"flip", {"tails"}}});
  ASSERT_TRUE(e.Run().ok());
  EXPECT_EQ(e.st.phase, RunPhase::kSucceeded) << e.st.message;
  EXPECT_EQ(e.Get(".condition-1")->phase, NodePhase::kSkipped);
  EXPECT_EQ(e.CountRan("flip-again"), 0);
  const Node* print2 = e.Get(".condition-3.print2");
  ASSERT_TRUE(print2->launch);
  // The skipped condition's output stays as written, as Argo leaves it.
  EXPECT_THAT(print2->launch->argv,
              ElementsAre("echo", "{{tasks.condition-1.outputs.parameters.flip-again-output}}"));
}

TEST(ArgoSamplesTest, RecursiveWhileLoopsUntilTails) {
  FakeEngine e(Compile(Sample("recursive_while.yaml")));
  e.on_pod = Outputs({{"flip", {"heads"}}, {"flip-3", {"heads", "heads", "tails"}}});
  ASSERT_TRUE(e.Run().ok());
  EXPECT_EQ(e.st.phase, RunPhase::kSucceeded) << e.st.message;
  EXPECT_EQ(e.CountRan("flip-3"), 3);
  EXPECT_EQ(e.CountRan("print"), 3);
  // The third level printed what the second flip-3 said; the fourth level's condition skipped.
  const std::string level = ".graph-flip-component-1.condition-2";
  const Node* third = e.Get(level + level + level + ".print");
  EXPECT_THAT(third->launch->argv, ElementsAre("echo", "heads"));
  EXPECT_EQ(e.Get(level + level + level + ".graph-flip-component-1.condition-2")->phase,
            NodePhase::kSkipped);
  EXPECT_THAT(e.Get(".print-2")->launch->argv, ElementsAre("echo", "cool, it is over. heads"));
}

TEST(ArgoSamplesTest, RecursiveWhileTailsAtOnce) {
  FakeEngine e(Compile(Sample("recursive_while.yaml")));
  e.on_pod = Outputs({{"flip", {"tails"}}});
  ASSERT_TRUE(e.Run().ok());
  EXPECT_EQ(e.st.phase, RunPhase::kSucceeded);
  EXPECT_EQ(e.CountRan("flip-3"), 0);
  EXPECT_EQ(e.CountRan("print-2"), 1);
}

TEST(ArgoSamplesTest, WithParamOutputFansOut) {
  auto p = Compile(Sample("withparam_output.yaml"));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->name(), "my-pipeline");
  FakeEngine e(p);
  e.on_pod = Outputs({{"my-out-cop0", {"[20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30]"}}});
  ASSERT_TRUE(e.Run().ok());
  EXPECT_EQ(e.st.phase, RunPhase::kSucceeded) << e.st.message;
  const Node* group = e.Get(".for-loop-1");
  EXPECT_EQ(group->type, "TaskGroup");
  ASSERT_EQ(group->children.size(), 11u);
  for (int i = 0; i <= 10; ++i) {
    std::string child = ".for-loop-1(" + std::to_string(i) + ":" + std::to_string(20 + i) + ")";
    const Node* loop = e.Get(child);
    ASSERT_NE(loop, nullptr);
    EXPECT_EQ(loop->type, "DAG");
    EXPECT_EQ(loop->display_name,
              "for-loop-1(" + std::to_string(i) + ":" + std::to_string(20 + i) + ")");
    EXPECT_EQ(loop->parent, group->id);
    EXPECT_EQ(loop->boundary_id, e.st.root);
    const Node* pod = e.Get(child + ".my-in-cop1");
    ASSERT_TRUE(pod && pod->launch);
    EXPECT_THAT(pod->launch->argv,
                ElementsAre("sh", "-c", "echo do output op1 item: " + std::to_string(20 + i)));
  }
  EXPECT_EQ(e.CountRan("my-in-cop1"), 11);
  EXPECT_THAT(
      e.Get(".my-out-cop2")->launch->argv,
      ElementsAre("sh", "-c",
                  "echo do output op2, outp: [20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30]"));
  // KFP v1's enable_caching "true": cacheable.
  EXPECT_EQ(e.Get(".my-out-cop2")->launch->cache_key.size(), 64u);
}

TEST(ArgoSamplesTest, WithItemsOfMapsAndARunParameter) {
  auto p = Compile(Sample("withitem_basic.yaml"));
  ASSERT_TRUE(p);
  ASSERT_EQ(p->parameters().size(), 1u);
  EXPECT_EQ(p->parameters()[0].name, "my_pipe_param");
  EXPECT_EQ(p->parameters()[0].type, "STRING");
  EXPECT_EQ(p->parameters()[0].default_value, json::value("10"));
  FakeEngine e(p, json::object{{"my_pipe_param", "7"}});
  ASSERT_TRUE(e.Run().ok());
  EXPECT_EQ(e.st.phase, RunPhase::kSucceeded) << e.st.message;
  const Node* first = e.Get(R"(.for-loop-2(0:{"a":1,"b":2}).my-in-coop1)");
  EXPECT_THAT(first->launch->argv, ElementsAre("sh", "-c", "echo op1 1 7"));
  EXPECT_THAT(e.Get(R"(.for-loop-2(1:{"a":10,"b":20}).my-in-coop2)")->launch->argv,
              ElementsAre("sh", "-c", "echo op2 20"));
  EXPECT_THAT(e.Get(".my-out-cop")->launch->argv, ElementsAre("sh", "-c", "echo 7"));
  EXPECT_EQ(e.Get("")->inputs.at("my_pipe_param"), "7");
}

TEST(ArgoSamplesTest, WithItemsDefaultParameter) {
  FakeEngine e(Compile(Sample("withitem_basic.yaml")));
  ASSERT_TRUE(e.Run().ok());
  EXPECT_THAT(e.Get(".my-out-cop")->launch->argv, ElementsAre("sh", "-c", "echo 10"));
}

TEST(ArgoSamplesTest, TimeoutDeadlinesAndAFailure) {
  auto p = Compile(Sample("timeout.yaml"));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->deadline_ms(), 50000);
  FakeEngine e(p);
  e.on_pod = [](Node& n) {
    if (n.template_name == "random-failure") {
      n.phase = NodePhase::kFailed;
      n.message = "Error (exit code 3)";
    }
  };
  ASSERT_TRUE(e.Run().ok());
  EXPECT_EQ(e.Get(".random-failure")->launch->timeout_ms, 10000);
  EXPECT_EQ(e.Get(".random-failure-2")->launch->timeout_ms, 0);
  EXPECT_EQ(e.st.phase, RunPhase::kFailed);
  EXPECT_THAT(e.st.message, HasSubstr("random-failure"));
  EXPECT_THAT(e.st.message, HasSubstr("exit code 3"));
  EXPECT_EQ(e.Get("")->message, "child '" + e.Get(".random-failure")->id + "' failed");
  // The other branch still ran.
  EXPECT_EQ(e.Get(".random-failure-2")->phase, NodePhase::kSucceeded);
}

TEST(ArgoSamplesTest, ParamSubstitutionsNeedsACluster) {
  auto p = CompileArgoWorkflow(Sample("param_substitutions.yaml"));
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(p.error().message(), HasSubstr("spec.templates[0]"));
}

TEST(ArgoSamplesTest, EverySampleCompilesOrIsRefused) {
  // Any new file in the samples directory is covered too.
  int seen = 0;
  for (const auto& entry : fs::directory_iterator(SamplesDir() + "/v1-argo")) {
    if (entry.path().extension() != ".yaml") continue;
    ++seen;
    std::string name = entry.path().filename().string();
    auto p = CompileArgoWorkflow(Sample(name));
    if (name == "param_substitutions.yaml") {
      EXPECT_FALSE(p) << name;
      continue;
    }
    ASSERT_TRUE(p) << name << ": " << p.error();
    FakeEngine e(*p);
    ASSERT_TRUE(e.Run().ok()) << name;
    EXPECT_TRUE(e.st.phase == RunPhase::kSucceeded || e.st.phase == RunPhase::kFailed) << name;
  }
  EXPECT_GE(seen, 6);
}

}  // namespace
}  // namespace skiff::pipelines
