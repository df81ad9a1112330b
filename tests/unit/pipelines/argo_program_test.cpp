// The Argo Program driven to the end by a fake engine: every KFP v1 sample and each feature.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/yaml.hpp"
#include "pipelines/argo.hpp"
#include "pipelines/engine.hpp"

namespace skiff::pipelines {
namespace {

namespace fs = std::filesystem;
using testing::ElementsAre;
using testing::HasSubstr;

constexpr char kRun[] = "wf-x7k2p";

std::string SamplesDir() {
  if (const char* env = std::getenv("SKIFF_KFP_SAMPLES")) return env;
  fs::path root = SKIFF_TEST_SOURCE_DIR;
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
    // A workflow that did not compile has failed its test already (Compile): no program to run.
    if (program_ == nullptr) return FailedPrecondition("the workflow did not compile");
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
  // As the sample writes them (print | tee): Argo trims the one trailing newline.
  e.on_pod = Outputs({{"flip", {"heads\n"}}, {"flip-again", {"tails\n"}}});
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
  EXPECT_EQ(e.Get(".flip")->output_parameters.at("flip-output"), "heads");
  // Once only: an Advance more does not trim again.
  Node& flip_node = const_cast<Node&>(*e.Get(".flip"));
  flip_node.output_parameters["flip-output"] = "two\n\n";
  flip_node.state.erase("trimmed");
  e.st.phase = RunPhase::kRunning;
  ASSERT_TRUE(e.Advance().ok());
  ASSERT_TRUE(e.Advance().ok());
  EXPECT_EQ(e.Get(".flip")->output_parameters.at("flip-output"), "two\n");
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
  // Argo's edges: a task hangs under the outbound nodes of what it depends on (KFP's UI draws
  // them): condition-3 under flip and under print1 (the outbound node of condition-1).
  EXPECT_THAT(root->children, testing::Not(testing::Contains(c3->id)));
  EXPECT_THAT(flip->children, testing::Contains(c3->id));
  EXPECT_THAT(print1->children, ElementsAre(c3->id));
  EXPECT_EQ(c3->parent, root->id);
  EXPECT_THAT(e.Get(".condition-1.flip-again")->children,
              ElementsAre(e.Get(".condition-1.condition-2")->id));
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

// --- Features, one small workflow each ---

// A workflow with `templates` (YAML list items indented by two spaces) and entrypoint main.
json::object Wf(const std::string& templates, const std::string& spec_extra = "") {
  return Yaml(R"(apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: feature-
  labels: {team: blue}
spec:
  entrypoint: main
)" + spec_extra +
              "  templates:\n" + templates);
}

const char kEcho[] = R"(  - name: echo
    inputs:
      parameters:
      - {name: msg, default: none}
    container:
      image: alpine
      command: [echo, '{{inputs.parameters.msg}}']
    outputs:
      parameters:
      - name: out
        valueFrom: {path: /tmp/out}
)";

TEST(ArgoProgramTest, ContainerScriptEnvAndVariables) {
  auto p = Compile(Wf(R"(  - name: main
    dag:
      tasks:
      - {name: gen, template: gen}
      - name: show
        template: show
        dependencies: [gen]
        arguments:
          parameters:
          - {name: text, value: '{{tasks.gen.outputs.result}}'}
  - name: gen
    script:
      image: python:3.11
      command: [python3]
      source: |
        print("{{workflow.name}}")
  - name: show
    inputs:
      parameters:
      - {name: text}
    container:
      image: alpine
      command: [sh, -c]
      args: ['echo "$MSG" > {{outputs.parameters.o.path}}']
      workingDir: /tmp/work/here
      env:
      - {name: MSG, value: '{{inputs.parameters.text}} {{workflow.uid}} {{workflow.namespace}} {{pod.name}}'}
      - {name: CREATED, value: '{{workflow.creationTimestamp}}'}
      - {name: YEAR, value: '{{workflow.creationTimestamp.Y}}-{{workflow.creationTimestamp.s}}'}
      - {name: GEN_AT, value: '{{workflow.labels.team}}'}
      - name: KFP_POD_NAME
        valueFrom: {fieldRef: {fieldPath: metadata.name}}
      - name: KFP_NAMESPACE
        valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
      - name: WORKFLOW_ID
        valueFrom: {fieldRef: {fieldPath: "metadata.labels['workflows.argoproj.io/workflow']"}}
      - name: KFP_RUN_ID
        valueFrom: {fieldRef: {fieldPath: "metadata.labels['pipeline/runid']"}}
    outputs:
      parameters:
      - name: o
        valueFrom: {path: /tmp/o.txt, default: fallback}
)"));
  FakeEngine e(p);
  e.on_pod = [](Node& n) {
    if (n.template_name == "gen") n.result = "generated";
  };
  ASSERT_TRUE(e.Run().ok());
  EXPECT_EQ(e.st.phase, RunPhase::kSucceeded) << e.st.message;
  const LaunchSpec& gen = *e.Get(".gen")->launch;
  EXPECT_EQ(gen.image, "python:3.11");
  EXPECT_THAT(gen.argv, ElementsAre("python3", "/tmp/argo/staging/script"));
  ASSERT_EQ(gen.files.size(), 1u);
  EXPECT_EQ(gen.files[0].path, "/tmp/argo/staging/script");
  EXPECT_EQ(gen.files[0].content, std::string("print(\"") + kRun + "\")\n");
  EXPECT_TRUE(gen.files[0].executable);
  EXPECT_TRUE(gen.capture_result);
  const Node* show = e.Get(".show");
  const LaunchSpec& s = *show->launch;
  EXPECT_THAT(s.argv, ElementsAre("sh", "-c", "echo \"$MSG\" > /tmp/o.txt"));
  EXPECT_EQ(s.env.at("MSG"), "generated 0b5c-uid team-a " + show->id);
  EXPECT_EQ(s.env.at("CREATED"), "2023-11-14T22:13:20Z");
  EXPECT_EQ(s.env.at("YEAR"), "2023-1700000000");
  EXPECT_EQ(s.env.at("GEN_AT"), "blue");
  EXPECT_EQ(s.env.at("KFP_POD_NAME"), show->id);
  EXPECT_EQ(s.env.at("KFP_NAMESPACE"), "team-a");
  EXPECT_EQ(s.env.at("WORKFLOW_ID"), kRun);
  EXPECT_EQ(s.env.at("KFP_RUN_ID"), "0b5c-uid");
  EXPECT_EQ(s.working_dir, "/tmp/work/here");
  ASSERT_EQ(s.output_parameters.size(), 1u);
  EXPECT_EQ(s.output_parameters[0].path, "/tmp/o.txt");
  EXPECT_EQ(s.output_parameters[0].default_value, std::optional<std::string>("fallback"));
  EXPECT_EQ(show->inputs.at("text"), "generated");
}

TEST(ArgoProgramTest, NodeIdsAndIdempotence) {
  auto p = Compile(Wf(R"(  - name: main
    dag:
      tasks:
      - {name: a, template: echo}
      - {name: b, template: echo, dependencies: [a]}
)" + std::string(kEcho)));
  FakeEngine e(p);
  ASSERT_TRUE(e.Advance().ok());
  std::string once = Serialize(e.st.ToJson());
  ASSERT_TRUE(p->Advance(e.st, e.ctx).ok());
  ASSERT_TRUE(p->Advance(e.st, e.ctx).ok());
  EXPECT_EQ(Serialize(e.st.ToJson()), once);  // nothing changed, nothing new
  EXPECT_EQ(e.st.nodes.size(), 2u);           // root and a; b waits for a
  const Node* a = e.Get(".a");
  EXPECT_EQ(a->id, NodeId(kRun, std::string(kRun) + ".a"));
  EXPECT_EQ(a->type, "Pod");
  EXPECT_EQ(a->phase, NodePhase::kPending);
  EXPECT_EQ(a->task_name, "a");
  EXPECT_EQ(a->template_name, "echo");
  EXPECT_EQ(e.st.phase, RunPhase::kRunning);
  EXPECT_EQ(e.st.started_at_ms, e.ctx.now_ms);
  ASSERT_TRUE(e.Run().ok());
  EXPECT_EQ(e.st.phase, RunPhase::kSucceeded);
  EXPECT_THAT(e.ran, ElementsAre(std::string(kRun) + ".a", std::string(kRun) + ".b"));
  EXPECT_GT(e.st.finished_at_ms, 0);
  EXPECT_EQ(e.Get("")->phase, NodePhase::kSucceeded);
  // A finished run stays as it is.
  std::string done = Serialize(e.st.ToJson());
  ASSERT_TRUE(e.Advance().ok());
  EXPECT_EQ(Serialize(e.st.ToJson()), done);
}

TEST(ArgoProgramTest, DependsOnFailureHandlesIt) {
  auto wf = [](const std::string& extra) {
    return Wf(R"(  - name: main
    dag:
      tasks:
      - {name: a, template: echo}
      - {name: on-fail, template: echo, depends: a.Failed}
      - {name: on-ok, template: echo, depends: a.Succeeded || a.Skipped}
)" + extra + kEcho);
  };
  auto fail_a = [](Node& n) {
    if (n.task_name == "a") n.phase = NodePhase::kFailed;
  };
  {
    FakeEngine e(Compile(wf("")));
    e.on_pod = fail_a;
    ASSERT_TRUE(e.Run().ok());
    // a's failure is handled by on-fail; on-ok is omitted and carries a's failure: Argo fails.
    EXPECT_EQ(e.Get(".on-fail")->phase, NodePhase::kSucceeded);
    EXPECT_EQ(e.Get(".on-ok")->phase, NodePhase::kOmitted);
    EXPECT_EQ(e.Get(".on-ok")->type, "Skipped");
    EXPECT_EQ(e.Get(".on-ok")->message, "omitted: depends condition not met");
    EXPECT_EQ(e.st.phase, RunPhase::kFailed);
    EXPECT_EQ(e.Get("")->message, "child '" + e.Get(".a")->id + "' failed");
  }
  {
    // Only the failure handler depends on a: the DAG succeeds.
    FakeEngine e(Compile(Wf(R"(  - name: main
    dag:
      tasks:
      - {name: a, template: echo}
      - {name: on-fail, template: echo, depends: a.Failed || a.Errored}
)" + std::string(kEcho))));
    e.on_pod = fail_a;
    ASSERT_TRUE(e.Run().ok());
    EXPECT_EQ(e.st.phase, RunPhase::kSucceeded) << e.st.message;
  }
  {
    // a succeeds: the handler is omitted, and a success carries: Succeeded.
    FakeEngine e(Compile(wf("")));
    ASSERT_TRUE(e.Run().ok());
    EXPECT_EQ(e.Get(".on-fail")->phase, NodePhase::kOmitted);
    EXPECT_EQ(e.st.phase, RunPhase::kSucceeded);
  }
}

TEST(ArgoProgramTest, LegacyDependenciesStopAtAFailure) {
  FakeEngine e(Compile(Wf(R"(  - name: main
    dag:
      tasks:
      - {name: a, template: echo}
      - {name: b, template: echo, dependencies: [a]}
      - {name: c, template: echo, dependencies: [b]}
      - {name: d, template: echo}
)" + std::string(kEcho))));
  e.on_pod = [](Node& n) {
    if (n.task_name == "a") {
      n.phase = NodePhase::kError;
      n.message = "could not start";
    }
  };
  ASSERT_TRUE(e.Run().ok());
  EXPECT_EQ(e.Get(".b")->phase, NodePhase::kOmitted);
  EXPECT_EQ(e.Get(".c")->phase, NodePhase::kOmitted);
  EXPECT_EQ(e.Get(".d")->phase, NodePhase::kSucceeded);
  EXPECT_EQ(e.st.phase, RunPhase::kFailed);
  EXPECT_THAT(e.st.message, HasSubstr(std::string(kRun) + ".a"));
  EXPECT_THAT(e.st.message, HasSubstr("could not start"));
}

TEST(ArgoProgramTest, ContinueOnFailed) {
  FakeEngine e(Compile(Wf(R"(  - name: main
    dag:
      tasks:
      - {name: a, template: echo, continueOn: {failed: true}}
      - {name: b, template: echo, dependencies: [a]}
)" + std::string(kEcho))));
  e.on_pod = [](Node& n) {
    if (n.task_name == "a") n.phase = NodePhase::kFailed;
  };
  ASSERT_TRUE(e.Run().ok());
  EXPECT_EQ(e.Get(".b")->phase, NodePhase::kSucceeded);
  EXPECT_EQ(e.st.phase, RunPhase::kSucceeded);
}

TEST(ArgoProgramTest, FanOutResultsAnySucceededAllFailed) {
  auto p = Compile(Wf(R"(  - name: main
    dag:
      tasks:
      - name: fan
        template: echo
        arguments: {parameters: [{name: msg, value: '{{item}}'}]}
        withItems: [ax, by, cz]
      - {name: any, template: echo, depends: fan.AnySucceeded}
      - {name: all-failed, template: echo, depends: fan.AllFailed}
      - name: collect
        template: echo
        dependencies: [fan]
        arguments: {parameters: [{name: msg, value: '{{tasks.fan.outputs.parameters.out}}'}]}
)" + std::string(kEcho)));
  FakeEngine e(p);
  e.on_pod = [](Node& n) {
    if (n.name.find(".fan(1:by)") != std::string::npos) n.phase = NodePhase::kFailed;
    if (n.task_name == "fan" && n.phase != NodePhase::kFailed) {
      n.output_parameters["out"] = "got-" + n.launch->argv[1];
    }
  };
  ASSERT_TRUE(e.Run().ok());
  EXPECT_EQ(e.Get(".fan(0:ax)")->launch->argv[1], "ax");
  EXPECT_EQ(e.Get(".fan")->phase, NodePhase::kFailed);
  EXPECT_EQ(e.Get(".any")->phase, NodePhase::kSucceeded);
  EXPECT_EQ(e.Get(".all-failed")->phase, NodePhase::kOmitted);
  EXPECT_EQ(e.Get(".collect")->phase, NodePhase::kOmitted);
  EXPECT_EQ(e.Get(".fan")->output_parameters.at("out"), R"(["got-ax","got-cz"])");
  EXPECT_EQ(e.st.phase, RunPhase::kFailed);

  FakeEngine ok(p);
  ok.on_pod = [](Node& n) {
    if (n.task_name == "fan") n.output_parameters["out"] = "got-" + n.launch->argv[1];
  };
  ASSERT_TRUE(ok.Run().ok());
  EXPECT_EQ(ok.st.phase, RunPhase::kSucceeded);
  EXPECT_THAT(ok.Get(".collect")->launch->argv,
              ElementsAre("echo", R"(["got-ax","got-by","got-cz"])"));
}

TEST(ArgoProgramTest, WithSequenceAndItemConditions) {
  FakeEngine e(Compile(Wf(R"(  - name: main
    dag:
      tasks:
      - name: seq
        template: echo
        arguments: {parameters: [{name: msg, value: 'n={{item}}'}]}
        withSequence: {count: '3', start: '5', format: 'file-%02d'}
      - name: down
        template: echo
        arguments: {parameters: [{name: msg, value: '{{item}}'}]}
        withSequence: {start: '3', end: '1'}
      - name: odd
        template: echo
        arguments: {parameters: [{name: msg, value: '{{item}}'}]}
        withItems: [1, 2, 3]
        when: '{{item}} != 2'
)" + std::string(kEcho))));
  ASSERT_TRUE(e.Run().ok());
  EXPECT_EQ(e.st.phase, RunPhase::kSucceeded) << e.st.message;
  EXPECT_THAT(e.Get(".seq(0:file-05)")->launch->argv, ElementsAre("echo", "n=file-05"));
  EXPECT_THAT(e.Get(".seq(2:file-07)")->launch->argv, ElementsAre("echo", "n=file-07"));
  EXPECT_TRUE(e.Has(".down(0:3)") && e.Has(".down(1:2)") && e.Has(".down(2:1)"));
  EXPECT_EQ(e.Get(".odd(1:2)")->phase, NodePhase::kSkipped);
  EXPECT_EQ(e.Get(".odd(2:3)")->phase, NodePhase::kSucceeded);
  EXPECT_EQ(e.Get(".odd")->phase, NodePhase::kSucceeded);
}

TEST(ArgoProgramTest, WithParamNotAListErrorsTheTask) {
  FakeEngine e(Compile(Wf(R"(  - name: main
    dag:
      tasks:
      - {name: gen, template: echo}
      - name: fan
        template: echo
        dependencies: [gen]
        arguments: {parameters: [{name: msg, value: '{{item}}'}]}
        withParam: '{{tasks.gen.outputs.parameters.out}}'
)" + std::string(kEcho))));
  e.on_pod = Outputs({{"echo", {"not json"}}});
  ASSERT_TRUE(e.Run().ok());
  EXPECT_EQ(e.Get(".fan")->phase, NodePhase::kError);
  EXPECT_THAT(e.Get(".fan")->message, HasSubstr("could not be parsed as a JSON list"));
  EXPECT_EQ(e.st.phase, RunPhase::kFailed);

  FakeEngine empty(Compile(Wf(R"(  - name: main
    dag:
      tasks:
      - {name: gen, template: echo}
      - name: fan
        template: echo
        dependencies: [gen]
        withParam: '{{tasks.gen.outputs.parameters.out}}'
)" + std::string(kEcho))));
  empty.on_pod = Outputs({{"echo", {"[]"}}});
  ASSERT_TRUE(empty.Run().ok());
  EXPECT_EQ(empty.Get(".fan")->phase, NodePhase::kSkipped);
  EXPECT_EQ(empty.st.phase, RunPhase::kSucceeded);
}

TEST(ArgoProgramTest, NumericWhen) {
  auto p = Compile(Wf(R"(  - name: main
    inputs: {parameters: [{name: num}]}
    dag:
      tasks:
      - {name: big, template: echo, when: '{{inputs.parameters.num}} > 5'}
      - {name: small, template: echo, when: '{{inputs.parameters.num}} <= 5 && "{{workflow.parameters.num}}" == "{{inputs.parameters.num}}"'}
)" + std::string(kEcho),
                      "  arguments: {parameters: [{name: num, value: '3'}]}\n"));
  FakeEngine three(p);
  ASSERT_TRUE(three.Run().ok());
  EXPECT_EQ(three.Get(".big")->phase, NodePhase::kSkipped);
  EXPECT_EQ(three.Get(".small")->phase, NodePhase::kSucceeded);
  FakeEngine twelve(p, json::object{{"num", "12"}});
  ASSERT_TRUE(twelve.Run().ok());
  EXPECT_EQ(twelve.Get(".big")->phase, NodePhase::kSucceeded);
  EXPECT_EQ(twelve.Get(".small")->phase, NodePhase::kSkipped);
  EXPECT_EQ(twelve.Get(".big")->message, "");
}

TEST(ArgoProgramTest, StepsRunGroupsInOrder) {
  auto p = Compile(Wf(R"(  - name: main
    steps:
    - - {name: first, template: echo, arguments: {parameters: [{name: msg, value: one}]}}
      - {name: second, template: echo, arguments: {parameters: [{name: msg, value: two}]}}
    - - name: use
        template: echo
        arguments: {parameters: [{name: msg, value: '{{steps.first.outputs.parameters.out}}'}]}
      - {name: never, template: echo, when: '"{{steps.first.outputs.parameters.out}}" == "nope"'}
      - name: loop
        template: echo
        arguments: {parameters: [{name: msg, value: '{{item}}'}]}
        withItems: [p, q]
    - - name: last
        template: echo
        arguments: {parameters: [{name: msg, value: '{{steps.loop.outputs.parameters.out}}'}]}
    outputs:
      parameters:
      - name: final
        valueFrom: {parameter: '{{steps.use.outputs.parameters.out}}'}
)" + std::string(kEcho)));
  FakeEngine e(p);
  e.on_pod = [](Node& n) { n.output_parameters["out"] = "from-" + n.launch->argv[1]; };
  ASSERT_TRUE(e.Run().ok());
  EXPECT_EQ(e.st.phase, RunPhase::kSucceeded) << e.st.message;
  const Node* root = e.Get("");
  EXPECT_EQ(root->type, "Steps");
  const Node* g0 = e.Get("[0]");
  EXPECT_EQ(g0->type, "StepGroup");
  EXPECT_EQ(g0->display_name, "[0]");
  EXPECT_EQ(e.Get("[0].first")->parent, g0->id);
  EXPECT_EQ(e.Get("[0].first")->boundary_id, root->id);
  EXPECT_THAT(e.Get("[1].use")->launch->argv, ElementsAre("echo", "from-one"));
  EXPECT_EQ(e.Get("[1].never")->phase, NodePhase::kSkipped);
  EXPECT_THAT(e.Get("[1].loop(1:q)")->launch->argv, ElementsAre("echo", "q"));
  EXPECT_THAT(e.Get("[2].last")->launch->argv, ElementsAre("echo", R"(["from-p","from-q"])"));
  EXPECT_EQ(root->output_parameters.at("final"), "from-from-one");
  // Group [1] hangs under both steps of group [0], group [2] under [1]'s steps and loop items.
  EXPECT_THAT(e.Get("[0].first")->children, ElementsAre(e.Get("[1]")->id));
  EXPECT_THAT(e.Get("[0].second")->children, ElementsAre(e.Get("[1]")->id));
  EXPECT_THAT(e.Get("[1].loop(0:p)")->children, ElementsAre(e.Get("[2]")->id));
  EXPECT_THAT(e.Get("[1].never")->children, ElementsAre(e.Get("[2]")->id));
  EXPECT_THAT(root->children, ElementsAre(g0->id));
  // first and second ran together, use only after both.
  EXPECT_EQ(e.ran[0], std::string(kRun) + "[0].first");
  EXPECT_EQ(e.ran[1], std::string(kRun) + "[0].second");
}

TEST(ArgoProgramTest, StepFailureStopsLaterGroups) {
  FakeEngine e(Compile(Wf(R"(  - name: main
    steps:
    - - {name: a, template: echo}
    - - {name: b, template: echo}
)" + std::string(kEcho))));
  e.on_pod = [](Node& n) { n.phase = NodePhase::kFailed; };
  ASSERT_TRUE(e.Run().ok());
  EXPECT_FALSE(e.Has("[1]"));
  EXPECT_EQ(e.Get("[0]")->phase, NodePhase::kFailed);
  EXPECT_EQ(e.st.phase, RunPhase::kFailed);
}

TEST(ArgoProgramTest, ArtifactsFlowBetweenTasksAndOutOfDags) {
  auto p = Compile(Wf(R"(  - name: main
    dag:
      tasks:
      - {name: inner, template: inner}
      - name: consume
        template: consume
        dependencies: [inner]
        arguments:
          artifacts:
          - {name: data, from: '{{tasks.inner.outputs.artifacts.model}}'}
  - name: inner
    dag:
      tasks:
      - {name: make, template: make}
    outputs:
      artifacts:
      - {name: model, from: '{{tasks.make.outputs.artifacts.model}}'}
  - name: make
    container: {image: alpine, command: [sh, -c, 'echo > {{outputs.artifacts.model.path}}']}
    outputs:
      artifacts:
      - {name: model, path: /tmp/outputs/model/data}
      - {name: maybe, path: /tmp/outputs/maybe, optional: true}
  - name: consume
    inputs:
      artifacts:
      - {name: data, path: /tmp/inputs/data}
      - {name: conf, path: /tmp/conf.ini, raw: {data: 'k = {{workflow.name}}'}}
    container: {image: alpine, command: [cat, '{{inputs.artifacts.data.path}}']}
)"));
  FakeEngine e(p);
  ASSERT_TRUE(e.Run().ok());
  EXPECT_EQ(e.st.phase, RunPhase::kSucceeded) << e.st.message;
  const LaunchSpec& make = *e.Get(".inner.make")->launch;
  EXPECT_THAT(make.argv, ElementsAre("sh", "-c", "echo > /tmp/outputs/model/data"));
  ASSERT_EQ(make.output_artifacts.size(), 2u);
  EXPECT_FALSE(make.output_artifacts[0].optional);
  EXPECT_TRUE(make.output_artifacts[1].optional);
  const LaunchSpec& consume = *e.Get(".consume")->launch;
  EXPECT_THAT(consume.argv, ElementsAre("cat", "/tmp/inputs/data"));
  ASSERT_EQ(consume.input_artifacts.size(), 1u);
  EXPECT_EQ(consume.input_artifacts[0].path, "/tmp/inputs/data");
  EXPECT_EQ(consume.input_artifacts[0].uri, "file:///store/" + e.Get(".inner.make")->id + "/model");
  ASSERT_EQ(consume.files.size(), 1u);
  EXPECT_EQ(consume.files[0].path, "/tmp/conf.ini");
  EXPECT_EQ(consume.files[0].content, std::string("k = ") + kRun);
}

TEST(ArgoProgramTest, UnresolvableArgumentFailsTheNode) {
  FakeEngine e(Compile(Wf(R"(  - name: main
    dag:
      tasks:
      - {name: a, template: echo}
      - name: b
        template: echo
        dependencies: [a]
        arguments: {parameters: [{name: msg, value: '{{tasks.a.outputs.parameters.nope}}'}]}
)" + std::string(kEcho))));
  ASSERT_TRUE(e.Run().ok());
  const Node* b = e.Get(".b");
  EXPECT_EQ(b->phase, NodePhase::kError);
  EXPECT_EQ(b->message, "Unable to resolve: {{tasks.a.outputs.parameters.nope}}");
  EXPECT_FALSE(b->launch.has_value());
  EXPECT_EQ(e.st.phase, RunPhase::kFailed);
  EXPECT_THAT(e.st.message, HasSubstr("Unable to resolve"));
}

TEST(ArgoProgramTest, MissingInputFailsTheNode) {
  FakeEngine e(Compile(Wf(R"(  - name: main
    dag:
      tasks:
      - {name: a, template: needs}
  - name: needs
    inputs: {parameters: [{name: x}]}
    container: {image: alpine, command: [echo, '{{inputs.parameters.x}}']}
)")));
  ASSERT_TRUE(e.Run().ok());
  EXPECT_EQ(e.Get(".a")->phase, NodePhase::kError);
  EXPECT_EQ(e.Get(".a")->message, "inputs.parameters.x was not supplied");
}

TEST(ArgoProgramTest, RetryTimeoutAndParallelism) {
  auto p = Compile(Wf(R"(  - name: main
    parallelism: 2
    dag:
      tasks:
      - {name: t1, template: flaky}
      - {name: t2, template: echo}
      - {name: t3, template: echo}
      - {name: t4, template: echo}
      - {name: t5, template: echo}
  - name: flaky
    activeDeadlineSeconds: 30
    retryStrategy:
      limit: '3'
      retryPolicy: Always
      backoff: {duration: 1m30s, factor: 3, maxDuration: '2h'}
    container: {image: alpine, command: ['false']}
)" + std::string(kEcho),
                      "  parallelism: 7\n"));
  EXPECT_EQ(p->parallelism(), 7);
  FakeEngine e(p);
  e.per_round = 1;
  ASSERT_TRUE(e.Run().ok());
  EXPECT_EQ(e.st.phase, RunPhase::kSucceeded);
  EXPECT_EQ(e.max_pending, 2u);
  const LaunchSpec& flaky = *e.Get(".t1")->launch;
  EXPECT_EQ(flaky.timeout_ms, 30000);
  EXPECT_EQ(flaky.retry.limit, 3);
  EXPECT_EQ(flaky.retry.on, RetryPolicy::On::kAlways);
  EXPECT_EQ(flaky.retry.backoff_ms, 90000);
  EXPECT_EQ(flaky.retry.factor, 3);
  EXPECT_EQ(flaky.retry.max_backoff_ms, 7200000);
  EXPECT_EQ(e.Get(".t2")->launch->retry.limit, 0);
}

TEST(ArgoProgramTest, FanOutParallelism) {
  FakeEngine e(Compile(Wf(R"(  - name: main
    parallelism: 3
    dag:
      tasks:
      - name: fan
        template: echo
        withSequence: {count: '10'}
)" + std::string(kEcho))));
  e.per_round = 1;
  ASSERT_TRUE(e.Run().ok());
  EXPECT_EQ(e.max_pending, 3u);
  EXPECT_EQ(e.CountRan("echo"), 10);
}

TEST(ArgoProgramTest, CacheKeys) {
  auto wf = Wf(R"(  - name: main
    dag:
      tasks:
      - {name: a, template: cached, arguments: {parameters: [{name: msg, value: same}]}}
      - {name: b, template: cached, arguments: {parameters: [{name: msg, value: same}]}}
      - {name: c, template: cached, arguments: {parameters: [{name: msg, value: other}]}}
      - {name: d, template: nocache}
      - {name: e, template: stale}
      - {name: f, template: echo, arguments: {parameters: [{name: msg, value: same}]}}
  - name: cached
    metadata: {labels: {pipelines.kubeflow.org/enable_caching: 'true'}}
    inputs:
      parameters:
      - {name: msg}
    container: {image: alpine, command: [echo, '{{inputs.parameters.msg}}']}
  - name: nocache
    metadata: {labels: {pipelines.kubeflow.org/enable_caching: 'false'}}
    container: {image: alpine, command: [date]}
  - name: stale
    metadata:
      labels: {pipelines.kubeflow.org/enable_caching: 'true'}
      annotations: {pipelines.kubeflow.org/max_cache_staleness: P0D}
    container: {image: alpine, command: [date]}
)" + std::string(kEcho));
  FakeEngine e(Compile(wf));
  ASSERT_TRUE(e.Run().ok());
  std::string a = e.Get(".a")->launch->cache_key;
  EXPECT_EQ(a.size(), 64u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(e.Get(".b")->launch->cache_key, a);  // same template, same inputs
  EXPECT_NE(e.Get(".c")->launch->cache_key, a);
  EXPECT_EQ(e.Get(".d")->launch->cache_key, "");
  EXPECT_EQ(e.Get(".e")->launch->cache_key, "");
  // No enable_caching label (a hand-written Workflow): KFP v1's cache server leaves it alone.
  EXPECT_EQ(e.Get(".f")->launch->cache_key, "");
  // Another run of the same file computes the same key (no run name or id in it).
  FakeEngine again(Compile(wf));
  again.ctx.run_name = "wf-other";
  again.ctx.run_id = "another-uid";
  ASSERT_TRUE(again.Advance().ok());
  const Node* other = again.st.Find(NodeId("wf-other", "wf-other.a"));
  ASSERT_TRUE(other && other->launch);
  EXPECT_EQ(other->launch->cache_key, a);
}

TEST(ArgoProgramTest, ExitHandlerSeesStatusAndFailures) {
  auto wf = Wf(R"(  - name: main
    dag:
      tasks:
      - {name: exit-handler-1, template: exit-handler-1}
  - name: exit-handler-1
    dag:
      tasks:
      - {name: work, template: echo}
  - name: notify
    container: {image: alpine, command: [echo, '{{workflow.status}}', '{{workflow.failures}}', '{{workflow.duration}}']}
)" + std::string(kEcho),
               "  onExit: notify\n");
  {
    FakeEngine e(Compile(wf));
    e.on_pod = [](Node& n) {
      if (n.task_name == "work") {
        n.phase = NodePhase::kFailed;
        n.message = "boom";
      }
    };
    ASSERT_TRUE(e.Run().ok());
    const Node* exit = e.Get(".onExit");
    EXPECT_EQ(exit->display_name, std::string(kRun) + ".onExit");
    EXPECT_EQ(exit->parent, "");
    EXPECT_EQ(e.st.root, e.Get("")->id);  // the exit handler is not the root
    ASSERT_TRUE(exit->launch);
    EXPECT_EQ(exit->launch->argv[1], "Failed");
    EXPECT_THAT(exit->launch->argv[2], HasSubstr(R"("displayName":"work")"));
    EXPECT_THAT(exit->launch->argv[2], HasSubstr(R"("message":"boom")"));
    EXPECT_EQ(e.ran.back(), std::string(kRun) + ".onExit");
    EXPECT_EQ(e.st.phase, RunPhase::kFailed);
    EXPECT_THAT(e.st.message, HasSubstr("boom"));
  }
  {
    FakeEngine e(Compile(wf));
    e.on_pod = [](Node& n) {
      if (n.name.ends_with(".onExit")) n.phase = NodePhase::kFailed;
    };
    ASSERT_TRUE(e.Run().ok());
    EXPECT_EQ(e.Get(".onExit")->launch->argv[1], "Succeeded");
    EXPECT_EQ(e.Get(".onExit")->launch->argv[3], "1.000000");  // seconds since the run started
    EXPECT_EQ(e.Get("")->phase, NodePhase::kSucceeded);
    EXPECT_EQ(e.st.phase, RunPhase::kFailed);  // the exit handler failed
    EXPECT_THAT(e.st.message, HasSubstr("exit handler"));
  }
  {
    FakeEngine e(Compile(wf));
    ASSERT_TRUE(e.Run().ok());
    EXPECT_EQ(e.st.phase, RunPhase::kSucceeded);
  }
}

TEST(ArgoProgramTest, TerminateCreatesNothingAndFailsTheRun) {
  FakeEngine e(Compile(Wf(R"(  - name: main
    dag:
      tasks:
      - {name: a, template: echo}
      - {name: b, template: echo}
      - {name: c, template: echo, dependencies: [a]}
)" + std::string(kEcho),
                          "  onExit: echo\n")));
  ASSERT_TRUE(e.Advance().ok());
  Node& a = const_cast<Node&>(*e.Get(".a"));
  a.phase = NodePhase::kRunning;  // the engine started a; b still waits for a slot
  a.attempts = 1;
  e.st.shutdown = "Terminate";
  // The engine killed a's process and reports it failed.
  ASSERT_TRUE(e.Advance().ok());
  EXPECT_FALSE(e.Has(".c"));
  EXPECT_FALSE(e.Has(".onExit"));
  EXPECT_EQ(e.Get(".a")->phase, NodePhase::kFailed);
  EXPECT_EQ(e.Get(".a")->message, "terminated");
  EXPECT_EQ(e.Get(".b")->phase, NodePhase::kOmitted);
  EXPECT_EQ(e.Get("")->phase, NodePhase::kFailed);
  EXPECT_EQ(e.st.phase, RunPhase::kFailed);
  EXPECT_EQ(e.st.message, "Stopped with strategy 'Terminate'");
  for (const auto& [id, n] : e.st.nodes) EXPECT_TRUE(IsFinished(n.phase)) << n.name;
}

TEST(ArgoProgramTest, RunParametersAreChecked) {
  auto p = Compile(Wf(R"(  - name: main
    container: {image: alpine, command: [echo, '{{workflow.parameters.a}}', '{{workflow.parameters.b}}']}
)",
                      "  arguments: {parameters: [{name: a, value: x}, {name: b}]}\n"));
  {
    FakeEngine e(p, json::object{{"b", "y"}, {"zzz", "1"}});
    Status s = e.Advance();
    EXPECT_EQ(s.code(), Code::kInvalidArgument);
    EXPECT_THAT(s.message(), HasSubstr("unknown parameter 'zzz'"));
  }
  {
    FakeEngine e(p);
    Status s = e.Advance();
    EXPECT_THAT(s.message(), HasSubstr("parameter 'b' has no value"));
  }
  {
    FakeEngine e(p, json::object{{"b", 5}, {"a", "over"}});
    ASSERT_TRUE(e.Run().ok());
    // A Pod as the entrypoint: the root itself runs.
    EXPECT_EQ(e.Get("")->type, "Pod");
    EXPECT_THAT(e.Get("")->launch->argv, ElementsAre("echo", "over", "5"));
    EXPECT_EQ(e.st.phase, RunPhase::kSucceeded);
  }
}

TEST(ArgoProgramTest, DagOutputsFromExpressionAndDefault) {
  FakeEngine e(Compile(Wf(R"(  - name: main
    dag:
      tasks:
      - {name: sub, template: sub}
      - name: show
        template: echo
        dependencies: [sub]
        arguments: {parameters: [{name: msg, value: '{{tasks.sub.outputs.parameters.x}}/{{tasks.sub.outputs.parameters.why}}'}]}
  - name: sub
    dag:
      tasks:
      - {name: inner, template: echo}
      - {name: skipped, template: echo, when: 'a == b'}
    outputs:
      parameters:
      - name: x
        valueFrom: {expression: "tasks['inner'].outputs.parameters['out']"}
      - name: why
        valueFrom: {parameter: '{{tasks.skipped.outputs.parameters.out}}', default: dflt}
)" + std::string(kEcho))));
  e.on_pod = Outputs({{"echo", {"v1"}}});
  ASSERT_TRUE(e.Run().ok());
  EXPECT_EQ(e.st.phase, RunPhase::kSucceeded) << e.st.message;
  EXPECT_THAT(e.Get(".show")->launch->argv, ElementsAre("echo", "v1/dflt"));
}

TEST(ArgoProgramTest, RetryRerunsTheFailedPartAndTheExitHandler) {
  FakeEngine e(Compile(Wf(R"(  - name: main
    dag:
      tasks:
      - {name: a, template: echo}
      - {name: b, template: echo, dependencies: [a]}
      - {name: c, template: echo}
  - name: notify
    container: {image: alpine, command: [echo, '{{workflow.status}}']}
)" + std::string(kEcho),
                          "  onExit: notify\n")));
  bool fail = true;
  e.on_pod = [&](Node& n) {
    if (n.task_name == "a" && fail) n.phase = NodePhase::kFailed;
  };
  ASSERT_TRUE(e.Run().ok());
  ASSERT_EQ(e.st.phase, RunPhase::kFailed);
  EXPECT_EQ(e.Get(".onExit")->launch->argv[1], "Failed");
  ResetFailedNodes(e.st);  // what the engine does to retry a failed run
  fail = false;
  e.ran.clear();
  ASSERT_TRUE(e.Run().ok());
  EXPECT_EQ(e.st.phase, RunPhase::kSucceeded) << e.st.message;
  // a and b ran again, c did not; the exit handler ran again and saw the new outcome.
  EXPECT_THAT(e.ran, ElementsAre(std::string(kRun) + ".a", std::string(kRun) + ".b",
                                 std::string(kRun) + ".onExit"));
  EXPECT_EQ(e.Get(".onExit")->launch->argv[1], "Succeeded");
}

TEST(ArgoProgramTest, RunawayRecursionIsAnErrorNotACrash) {
  FakeEngine e(Compile(Wf(R"(  - name: main
    dag:
      tasks:
      - {name: again, template: main}
)")));
  ASSERT_TRUE(e.Run().ok());
  EXPECT_EQ(e.st.phase, RunPhase::kFailed);
  EXPECT_THAT(e.st.message, HasSubstr("nested DAG/steps templates"));
  EXPECT_LE(e.st.nodes.size(), 202u);
}

// Every value of every sample replaced by junk of each kind: compiling and running the result
// never crashes or throws; it is refused, or it runs to an end.
void Mutations(const json::value& v, std::vector<std::vector<std::string>>& paths,
               std::vector<std::string>& at) {
  paths.push_back(at);
  if (const auto* o = v.if_object()) {
    for (const auto& kv : *o) {
      at.emplace_back(kv.key());
      Mutations(kv.value(), paths, at);
      at.pop_back();
    }
  } else if (const auto* a = v.if_array()) {
    for (size_t i = 0; i < a->size(); ++i) {
      at.push_back("#" + std::to_string(i));
      Mutations((*a)[i], paths, at);
      at.pop_back();
    }
  }
}

json::value* At(json::value& root, const std::vector<std::string>& path) {
  json::value* v = &root;
  for (const std::string& step : path) {
    if (step[0] == '#') {
      v = &v->as_array()[std::stoul(step.substr(1))];
    } else {
      v = &v->as_object()[step];
    }
  }
  return v;
}

TEST(ArgoSamplesTest, MutatedSamplesNeverCrash) {
  const json::value junk[] = {json::value(nullptr), json::value(7), json::value("{{x}}"),
                              json::value(json::array{1}), json::value(json::object{{"a", 1}})};
  int compiled = 0, refused = 0;
  for (const char* name : {"coin.yaml", "recursive_while.yaml", "withparam_output.yaml",
                           "withitem_basic.yaml", "timeout.yaml"}) {
    json::value original = Sample(name);
    std::vector<std::vector<std::string>> paths;
    std::vector<std::string> at;
    Mutations(original, paths, at);
    for (const auto& path : paths) {
      if (path.empty()) continue;
      for (const json::value& j : junk) {
        json::value copy = original;
        *At(copy, path) = j;
        auto p = CompileArgoWorkflow(copy.as_object());
        if (!p) {
          ++refused;
          EXPECT_EQ(p.error().code(), Code::kInvalidArgument);
          continue;
        }
        ++compiled;
        FakeEngine e(*p);
        Status s = e.Run(60);
        EXPECT_TRUE(s.ok() || s.code() == Code::kInvalidArgument) << name << ": " << s;
      }
    }
  }
  EXPECT_GT(compiled, 100);
  EXPECT_GT(refused, 100);
}
}  // namespace
}  // namespace skiff::pipelines
