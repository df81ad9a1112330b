// The KFP IR Program driven by a fake engine: Pod nodes are marked Succeeded/Failed with chosen
// outputs, the way the engine does after reading the task's files.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "core/yaml.hpp"
#include "pipelines/ir.hpp"
#include "pipelines/lightweight.hpp"

namespace skiff::pipelines {
namespace {

std::string SamplesDir() {
  std::string src;
  if (const char* peers = std::getenv("SKIFF_PEERS_DIR"); peers && *peers) {
    src = std::string(peers) + "/../..";
  } else {
    src = SKIFF_TEST_SOURCE_DIR;
  }
  return src + "/../shared/kfp-samples/v2-ir";
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<std::shared_ptr<const Program>> CompileText(std::string_view yaml) {
  SKIFF_ASSIGN_OR_RETURN(std::vector<YamlDocument> docs, ParseYamlDocuments(yaml));
  if (docs.empty() || !docs[0].value.is_object()) return InvalidArgument("not a mapping");
  const json::object* platform = nullptr;
  if (docs.size() > 1 && docs[1].value.is_object()) platform = &docs[1].value.get_object();
  return CompileKfpIr(docs[0].value.get_object(), platform);
}

std::shared_ptr<const Program> MustCompile(std::string_view yaml) {
  auto p = CompileText(yaml);
  EXPECT_TRUE(p) << (p ? "" : p.error().message());
  return p ? *p : nullptr;
}

std::shared_ptr<const Program> Sample(const std::string& file) {
  std::string text = ReadText(SamplesDir() + "/" + file);
  EXPECT_FALSE(text.empty()) << file;
  return MustCompile(text);
}

// What the fake engine does with one Pod node; by default it succeeds and writes a value of
// each output's type.
using PodFn = std::function<void(Node&)>;

void SucceedWithDefaults(Node& n) {
  n.phase = NodePhase::kSucceeded;
  n.exit_code = 0;
  for (const OutputFile& f : n.launch->output_parameters) {
    if (n.output_parameters.contains(f.name)) continue;
    json::value v = "out";
    if (f.type == "NUMBER_INTEGER") v = 1;
    if (f.type == "NUMBER_DOUBLE") v = 1.5;
    if (f.type == "BOOLEAN") v = true;
    if (f.type == "LIST") v = json::array{};
    if (f.type == "STRUCT") v = json::object{};
    n.output_parameters[f.name] = v;
  }
  const json::object* uris = GetObject(n.state, "outputArtifactUris");
  for (const OutputFile& f : n.launch->output_artifacts) {
    Artifact a;
    a.name = f.name;
    a.uri = uris ? GetString(*uris, f.name) : "";
    a.path = f.path;
    a.type = f.type;
    n.output_artifacts.push_back(a);
  }
}

struct FakeEngine {
  RunState state;
  RunContext ctx;
  std::map<std::string, PodFn> by_task;  // Node::task_name -> what happens
  std::vector<std::string> order;        // task names in the order they were started
  int max_running = 1000;                // how many Pods may run at once (observed)
  int max_seen_pending = 0;

  FakeEngine() {
    ctx.run_id = "0b9a2c4e-1111-2222-3333-444455556666";
    ctx.run_name = "my-run-x7k2p";
    ctx.ns = "team-a";
    ctx.now_ms = 1000;
    ctx.pipeline_root = "file:///data/pipelines/artifacts/team-a/run-1";
  }

  Status Step(const Program& p) {
    ctx.now_ms += 10;
    // The engine persists the state and may resume from it after a restart: the Program must
    // keep everything it needs in the state.
    SKIFF_ASSIGN_OR_RETURN(state, RunState::FromJson(state.ToJson()));
    SKIFF_RETURN_IF_ERROR(p.Advance(state, ctx));
    // Idempotent: a second call with nothing new changes nothing.
    std::string once = Serialize(state.ToJson());
    SKIFF_RETURN_IF_ERROR(p.Advance(state, ctx));
    EXPECT_EQ(once, Serialize(state.ToJson())) << "Advance is not idempotent";
    return Status::Ok();
  }

  // Runs to the end (or until `steps` rounds); each round finishes every pending Pod.
  Status Run(const Program& p, int steps = 100) {
    for (int i = 0; i < steps; ++i) {
      SKIFF_RETURN_IF_ERROR(Step(p));
      if (state.phase == RunPhase::kSucceeded || state.phase == RunPhase::kFailed) break;
      std::vector<Node*> pending;
      for (auto& [id, n] : state.nodes)
        if (n.type == "Pod" && n.phase == NodePhase::kPending) pending.push_back(&n);
      max_seen_pending = std::max<int>(max_seen_pending, static_cast<int>(pending.size()));
      if (pending.empty()) return Internal("stuck: no pending Pod and the run is not finished");
      for (Node* n : pending) {
        EXPECT_TRUE(n->launch.has_value()) << n->name;
        if (!n->launch) return Internal("no launch spec");
        n->phase = NodePhase::kRunning;
        n->attempts = 1;
        n->started_at_ms = ctx.now_ms;
        order.push_back(n->task_name);
        if (auto it = by_task.find(n->task_name); it != by_task.end()) it->second(*n);
        if (n->phase == NodePhase::kRunning) SucceedWithDefaults(*n);
        n->finished_at_ms = ctx.now_ms;
      }
    }
    return Status::Ok();
  }

  // The nodes of task `task_name`, in id order.
  std::vector<const Node*> Tasks(const std::string& task_name) const {
    std::vector<const Node*> out;
    for (const auto& [id, n] : state.nodes)
      if (n.task_name == task_name) out.push_back(&n);
    return out;
  }
  const Node& Task(const std::string& task_name) const {
    auto v = Tasks(task_name);
    EXPECT_EQ(v.size(), 1u) << task_name;
    static const Node kNone;
    return v.empty() ? kNone : *v[0];
  }
  // The ExecutorInput JSON a Pod got through {{$}} (the argument after --executor_input).
  json::object ExecutorInput(const Node& n) const {
    const auto& argv = n.launch->argv;
    for (size_t i = 0; i + 1 < argv.size(); ++i)
      if (argv[i] == "--executor_input") return ParseJsonObject(argv[i + 1]).value();
    ADD_FAILURE() << "no --executor_input in " << n.name;
    return {};
  }
};

PodFn Outputs(json::object params) {
  return [params](Node& n) {
    n.output_parameters = params;
    SucceedWithDefaults(n);
  };
}

PodFn Fails(std::string message = "exit code 1") {
  return [message](Node& n) {
    n.phase = NodePhase::kFailed;
    n.exit_code = 1;
    n.message = message;
  };
}

// ---------------------------------------------------------------------------------------------
// Every sample of ../shared/kfp-samples/v2-ir.

TEST(IrSamplesTest, EverySampleCompilesAndRunsToSucceeded) {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(SamplesDir()))
    if (e.path().extension() == ".yaml") files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  ASSERT_EQ(files.size(), 14u) << SamplesDir();
  for (const std::string& f : files) {
    SCOPED_TRACE(f);
    auto p = Sample(f);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->format(), "ir");
    EXPECT_FALSE(p->name().empty());
    FakeEngine e;
    // Required parameters without defaults get a value.
    for (const ParameterInfo& info : p->parameters()) {
      if (info.default_value) continue;
      if (info.type == "NUMBER_INTEGER")
        e.ctx.parameters[info.name] = 4;
      else
        e.ctx.parameters[info.name] = "v";
    }
    Status st = e.Run(*p);
    ASSERT_TRUE(st.ok()) << st;
    EXPECT_EQ(e.state.phase, RunPhase::kSucceeded) << e.state.message;
    const Node* root = e.state.Find(e.state.root);
    ASSERT_NE(root, nullptr);
    EXPECT_EQ(root->type, "DAG");
    EXPECT_EQ(root->phase, NodePhase::kSucceeded);
    for (const auto& [id, n] : e.state.nodes) {
      EXPECT_TRUE(IsFinished(n.phase)) << n.name;
      if (n.type == "Pod" && n.launch) {
        EXPECT_FALSE(n.launch->image.empty());
        EXPECT_FALSE(n.launch->argv.empty());
        for (const std::string& a : n.launch->argv)
          EXPECT_EQ(a.find("{{$"), std::string::npos) << "unresolved placeholder in " << a;
        EXPECT_EQ(n.launch->executor_output_path, "/tmp/kfp_outputs/output_metadata.json");
      }
    }
  }
}

TEST(IrSamplesTest, HelloWorld) {
  auto p = Sample("hello_world.yaml");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->name(), "echo");
  EXPECT_TRUE(p->parameters().empty());
  FakeEngine e;
  ASSERT_TRUE(e.Step(*p).ok());
  EXPECT_EQ(e.state.phase, RunPhase::kRunning);
  const Node& echo = e.Task("echo");
  EXPECT_EQ(echo.type, "Pod");
  EXPECT_EQ(echo.phase, NodePhase::kPending);
  EXPECT_EQ(echo.display_name, "echo");
  EXPECT_EQ(echo.template_name, "comp-echo");
  EXPECT_EQ(echo.parent, e.state.root);
  EXPECT_EQ(echo.name, "my-run-x7k2p.echo");
  EXPECT_EQ(echo.id, NodeId("my-run-x7k2p", "my-run-x7k2p.echo"));
  EXPECT_EQ(echo.launch->image, "registry.access.redhat.com/ubi9/python-311:latest");
  EXPECT_EQ(echo.launch->argv, (std::vector<std::string>{"echo", "hello world"}));
  EXPECT_EQ(echo.launch->cache_key.size(), 64u);  // enableCache: true
  ASSERT_TRUE(e.Run(*p).ok());
  EXPECT_EQ(e.state.phase, RunPhase::kSucceeded);
  EXPECT_GT(e.state.finished_at_ms, 0);
}

TEST(IrSamplesTest, AddNumbersExecutorInputAndTypedParameters) {
  auto p = Sample("add_numbers.yaml");
  ASSERT_TRUE(p);
  ASSERT_EQ(p->parameters().size(), 2u);
  EXPECT_EQ(p->parameters()[0].name, "a");
  EXPECT_EQ(p->parameters()[0].type, "NUMBER_INTEGER");
  FakeEngine e;
  e.ctx.parameters = {{"a", 2}, {"b", "3"}};  // v1beta1 passes strings
  e.by_task["add-numbers"] = Outputs({{"Output", 5}});
  ASSERT_TRUE(e.Step(*p).ok());
  const Node& add = e.Task("add-numbers");
  const LaunchSpec& l = *add.launch;
  // The pip step is gone (LocalLightweightCommand); the image stays recorded.
  EXPECT_EQ(l.image, "python:3.11");
  for (const std::string& a : l.argv) EXPECT_EQ(a.find("pip install"), std::string::npos);
  json::object in = e.ExecutorInput(add);
  EXPECT_EQ(Serialize(in.at("inputs").at("parameterValues")), R"({"a":2,"b":3})");
  std::string out_file = IrOutputParameterPath(add.id, "Output");
  EXPECT_EQ(out_file, "/tmp/outputs/" + add.id + "/Output");
  EXPECT_EQ(GetString(in, "outputs.parameters.Output.outputFile"), out_file);
  EXPECT_EQ(GetString(in, "outputs.outputFile"), "/tmp/kfp_outputs/output_metadata.json");
  ASSERT_EQ(l.output_parameters.size(), 1u);
  EXPECT_EQ(l.output_parameters[0].path, out_file);
  EXPECT_EQ(l.output_parameters[0].type, "NUMBER_INTEGER");
  EXPECT_EQ(Serialize(add.inputs), R"({"a":2,"b":3})");
  ASSERT_TRUE(e.Run(*p).ok());
  EXPECT_EQ(e.state.phase, RunPhase::kSucceeded);
  // The pipeline's output comes from the root DAG's outputs.
  EXPECT_EQ(Serialize(e.state.Find(e.state.root)->output_parameters), R"({"Output":5})");
}

TEST(IrSamplesTest, RunParametersAreChecked) {
  auto p = Sample("add_numbers.yaml");
  ASSERT_TRUE(p);
  struct Case {
    json::object params;
    std::string needle;
  } cases[] = {
      {{{"a", 1}}, "'b'"},                      // required, missing
      {{{"a", 1}, {"b", "three"}}, "'b'"},      // wrong type
      {{{"a", 1}, {"b", 2.5}}, "'b'"},          // not an integer
      {{{"a", 1}, {"b", 2}, {"c", 3}}, "'c'"},  // unknown
  };
  for (const Case& c : cases) {
    FakeEngine e;
    e.ctx.parameters = c.params;
    Status st = p->Advance(e.state, e.ctx);
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << Serialize(c.params);
    EXPECT_NE(st.message().find(c.needle), std::string::npos) << st.message();
    EXPECT_TRUE(e.state.nodes.empty());
  }
  auto strings = Sample("arguments_parameters.yaml");
  ASSERT_TRUE(strings);
  FakeEngine e;
  e.ctx.parameters = {{"param2", 5}};  // a STRING parameter takes only a string
  EXPECT_EQ(strings->Advance(e.state, e.ctx).code(), Code::kInvalidArgument);
}

TEST(IrSamplesTest, ArgumentsDefaultsAndOverrides) {
  auto p = Sample("arguments_parameters.yaml");
  ASSERT_TRUE(p);
  ASSERT_EQ(p->parameters().size(), 2u);
  EXPECT_EQ(Serialize(*p->parameters()[0].default_value), R"("hello")");
  {
    FakeEngine e;
    e.ctx.parameters = {{"param2", "world"}};
    ASSERT_TRUE(e.Step(*p).ok());
    EXPECT_EQ(e.Task("echo").launch->argv, (std::vector<std::string>{"echo", "hello-world"}));
  }
  {
    FakeEngine e;
    e.ctx.parameters = {{"param1", "bye"}, {"param2", "moon"}};
    ASSERT_TRUE(e.Step(*p).ok());
    EXPECT_EQ(e.Task("echo").launch->argv, (std::vector<std::string>{"echo", "bye-moon"}));
    EXPECT_EQ(Serialize(e.state.Find(e.state.root)->inputs), R"({"param1":"bye","param2":"moon"})");
  }
  {
    FakeEngine e;  // param2 has no default
    EXPECT_FALSE(p->Advance(e.state, e.ctx).ok());
  }
}

TEST(IrSamplesTest, FlipCoinHeads) {
  auto p = Sample("flip_coin.yaml");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->name(), "conditional-execution-pipeline");
  EXPECT_EQ(p->description(), "Shows how to use dsl.If().");
  FakeEngine e;
  e.by_task["flip-coin"] = Outputs({{"Output", "heads"}});
  e.by_task["random-num"] = Outputs({{"Output", 7}});
  ASSERT_TRUE(e.Run(*p).ok());
  EXPECT_EQ(e.state.phase, RunPhase::kSucceeded) << e.state.message;
  const Node& c1 = e.Task("condition-1");
  EXPECT_EQ(c1.type, "DAG");
  EXPECT_EQ(c1.phase, NodePhase::kSucceeded);
  EXPECT_EQ(e.Task("condition-4").phase, NodePhase::kSkipped);
  EXPECT_EQ(e.Task("condition-4").type, "Skipped");
  EXPECT_EQ(e.Task("condition-2").phase, NodePhase::kSucceeded);
  EXPECT_EQ(e.Task("condition-3").phase, NodePhase::kSkipped);
  EXPECT_TRUE(e.Tasks("random-num-2").empty());
  EXPECT_TRUE(e.Tasks("print-msg-3").empty());
  const Node& print = e.Task("print-msg");
  EXPECT_EQ(print.phase, NodePhase::kSucceeded);
  EXPECT_EQ(print.name, "my-run-x7k2p.condition-1.condition-2.print-msg");
  // The constant names another input: resolved as KFP's driver does.
  EXPECT_EQ(GetString(e.ExecutorInput(print), "inputs.parameterValues.msg"), "heads and 7 > 5!");
  // random-num's float constants became the component's integers.
  EXPECT_EQ(Serialize(e.ExecutorInput(e.Task("random-num")).at("inputs").at("parameterValues")),
            R"({"high":9,"low":0})");
  // cachingOptions: {} -> not cached.
  EXPECT_TRUE(print.launch->cache_key.empty());
  EXPECT_EQ(e.order, (std::vector<std::string>{"flip-coin", "random-num", "print-msg"}));
}

TEST(IrSamplesTest, FlipCoinTails) {
  auto p = Sample("flip_coin.yaml");
  ASSERT_TRUE(p);
  FakeEngine e;
  e.by_task["flip-coin"] = Outputs({{"Output", "tails"}});
  e.by_task["random-num-2"] = Outputs({{"Output", 12}});
  ASSERT_TRUE(e.Run(*p).ok());
  EXPECT_EQ(e.state.phase, RunPhase::kSucceeded) << e.state.message;
  EXPECT_EQ(e.Task("condition-1").phase, NodePhase::kSkipped);
  EXPECT_EQ(e.Task("condition-5").phase, NodePhase::kSkipped);
  EXPECT_EQ(e.Task("condition-6").phase, NodePhase::kSucceeded);
  EXPECT_EQ(GetString(e.ExecutorInput(e.Task("print-msg-4")), "inputs.parameterValues.msg"),
            "tails and 12 <= 15!");
  EXPECT_EQ(e.order, (std::vector<std::string>{"flip-coin", "random-num-2", "print-msg-4"}));
}

TEST(IrSamplesTest, NestedConditions) {
  auto p = Sample("pipeline_with_nested_conditions_yaml.yaml");
  ASSERT_TRUE(p);
  FakeEngine e;
  e.by_task["flip-coin"] = Outputs({{"output", "heads"}});
  e.by_task["generate-random-number"] = Outputs({{"output", 3}});
  ASSERT_TRUE(e.Run(*p).ok());
  EXPECT_EQ(e.state.phase, RunPhase::kSucceeded);
  const Node& flip = e.Task("flip-coin");
  std::string out = IrOutputParameterPath(flip.id, "output");
  EXPECT_EQ(flip.launch->argv.back(), out);
  EXPECT_EQ(flip.launch->argv[0], "sh");
  EXPECT_EQ(e.Task("print-2").launch->argv,
            (std::vector<std::string>{"echo", "heads and 3 <= 5!"}));
  EXPECT_TRUE(e.Tasks("print").empty());  // inside condition-2, which was skipped
  EXPECT_EQ(e.Task("condition-2").phase, NodePhase::kSkipped);
  EXPECT_EQ(e.Task("condition-4").phase, NodePhase::kSkipped);
}

TEST(IrSamplesTest, ParametersFanOutFanIn) {
  auto p = Sample("parameters_simple.yaml");
  ASSERT_TRUE(p);
  FakeEngine e;
  e.by_task["double"] = [](Node& n) {
    n.output_parameters["Output"] = 2 * n.inputs.at("num").as_int64();
    SucceedWithDefaults(n);
  };
  e.by_task["add"] = Outputs({{"Output", 12}});
  e.by_task["add-container"] = Outputs({{"sum", 12}});
  ASSERT_TRUE(e.Run(*p).ok());
  EXPECT_EQ(e.state.phase, RunPhase::kSucceeded) << e.state.message;
  const Node& loop = e.Task("for-loop-2");
  EXPECT_EQ(loop.type, "TaskGroup");
  ASSERT_EQ(loop.children.size(), 3u);
  EXPECT_EQ(GetString(loop.state, "itemInput"), "pipelinechannel--loop-item-param-1");
  EXPECT_EQ(loop.state.at("iterationCount").as_int64(), 3);
  const Node* it0 = e.state.Find(loop.children[0]);
  ASSERT_NE(it0, nullptr);
  EXPECT_EQ(it0->type, "DAG");
  EXPECT_EQ(it0->display_name, "for-loop-2(0:1)");
  EXPECT_EQ(Serialize(loop.output_parameters), R"({"pipelinechannel--double-Output":[2,4,6]})");
  EXPECT_EQ(e.Tasks("double").size(), 3u);
  EXPECT_EQ(Serialize(e.ExecutorInput(e.Task("add")).at("inputs").at("parameterValues")),
            R"({"nums":[2,4,6]})");
  const auto& argv = e.Task("add-container").launch->argv;
  ASSERT_EQ(argv.size(), 3u);
  EXPECT_NE(argv[2].find("echo [2,4,6] | jq 'add' > /tmp/outputs/"), std::string::npos) << argv[2];
  EXPECT_EQ(Serialize(e.state.Find(e.state.root)->output_parameters), R"({"Output":[2,4,6]})");
}

TEST(IrSamplesTest, ArtifactsFanIn) {
  auto p = Sample("artifacts_simple.yaml");
  ASSERT_TRUE(p);
  FakeEngine e;
  ASSERT_TRUE(e.Run(*p).ok());
  EXPECT_EQ(e.state.phase, RunPhase::kSucceeded) << e.state.message;
  std::vector<std::string> uris;
  for (const Node* d : e.Tasks("double")) {
    ASSERT_EQ(d->output_artifacts.size(), 1u);
    EXPECT_EQ(d->output_artifacts[0].uri,
              "file:///data/pipelines/artifacts/team-a/run-1/double/" + d->id + "/out_dataset");
    uris.push_back(d->output_artifacts[0].uri);
  }
  ASSERT_EQ(uris.size(), 3u);
  const Node& add = e.Task("add");
  ASSERT_EQ(add.launch->input_artifacts.size(), 3u);
  std::vector<std::string> got;
  for (const InputArtifact& a : add.launch->input_artifacts) {
    EXPECT_EQ(a.name, "in_datasets");
    EXPECT_EQ(a.path, ArtifactLocalPath(a.uri));
    got.push_back(a.uri);
  }
  std::vector<std::string> sorted_uris = uris, sorted_got = got;
  std::sort(sorted_uris.begin(), sorted_uris.end());
  std::sort(sorted_got.begin(), sorted_got.end());
  EXPECT_EQ(sorted_got, sorted_uris);
  json::object in = e.ExecutorInput(add);
  const json::array& list =
      in.at("inputs").at("artifacts").at("in_datasets").at("artifacts").as_array();
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(GetString(list[0], "type.schemaTitle"), "system.Dataset");
  // The container reads {{$.inputs.artifacts['in_datasets']}} as a JSON list of artifacts.
  const auto& argv = e.Task("add-container").launch->argv;
  auto parsed = ParseJson(argv[3]);
  ASSERT_TRUE(parsed) << argv[3];
  ASSERT_TRUE(parsed->is_array());
  EXPECT_EQ(parsed->as_array().size(), 3u);
  EXPECT_EQ(argv[4], "file:///data/pipelines/artifacts/team-a/run-1/add-container/" +
                         e.Task("add-container").id + "/out_dataset");
  // The root's output artifact list.
  EXPECT_EQ(e.state.Find(e.state.root)->output_artifacts.size(), 3u);
}

TEST(IrSamplesTest, TwoStepArtifactPassing) {
  auto p = Sample("two_step_pipeline.yaml");
  ASSERT_TRUE(p);
  FakeEngine e;
  ASSERT_TRUE(e.Run(*p).ok());
  EXPECT_EQ(e.state.phase, RunPhase::kSucceeded);
  const Node& producer = e.Task("write-to-gcs");
  const Node& consumer = e.Task("read-from-gcs");
  EXPECT_EQ(producer.display_name, "Producer");
  EXPECT_EQ(consumer.display_name, "Consumer");
  std::string uri = "file:///data/pipelines/artifacts/team-a/run-1/write-to-gcs/" + producer.id +
                    "/output_gcs_path";
  EXPECT_EQ(producer.launch->argv,
            (std::vector<std::string>{"sh", "-c", "set -e -x\necho \"$0\" | gsutil cp - \"$1\"\n",
                                      "Hello KFP!", uri}));
  ASSERT_EQ(producer.launch->output_artifacts.size(), 1u);
  EXPECT_EQ(producer.launch->output_artifacts[0].path, ArtifactLocalPath(uri));
  ASSERT_EQ(consumer.launch->input_artifacts.size(), 1u);
  EXPECT_EQ(consumer.launch->input_artifacts[0].name, "input_gcs_path");
  EXPECT_EQ(consumer.launch->input_artifacts[0].uri, uri);
  EXPECT_EQ(consumer.launch->input_artifacts[0].path, ArtifactLocalPath(uri));
  EXPECT_EQ(consumer.launch->argv.back(), uri);
}

TEST(IrSamplesTest, ConcatPlaceholder) {
  auto p = Sample("container_with_concat_placeholder.yaml");
  ASSERT_TRUE(p);
  FakeEngine e;
  e.ctx.parameters = {{"text1", "abc"}};
  ASSERT_TRUE(e.Step(*p).ok());
  const Node& t = e.Task("container-with-concat-placeholder");
  std::string uri = IrOutputArtifactUri(e.ctx.pipeline_root, t.task_name, t.id, "text2");
  EXPECT_EQ(t.launch->argv,
            (std::vector<std::string>{"my_program", "prefix-abc" + uri, "--output_path",
                                      IrOutputParameterPath(t.id, "output_path")}));
  EXPECT_TRUE(t.launch->executor_output_path.size() > 0);
}

TEST(IrSamplesTest, IfPresentPlaceholder) {
  auto p = Sample("container_with_if_placeholder.yaml");
  ASSERT_TRUE(p);
  FakeEngine e;
  e.ctx.parameters = {{"optional_input", "given"}};
  ASSERT_TRUE(e.Step(*p).ok());
  const Node& t = e.Task("container-with-if-placeholder");
  std::string uri = IrOutputArtifactUri(e.ctx.pipeline_root, t.task_name, t.id, "dataset");
  EXPECT_EQ(t.launch->argv,
            (std::vector<std::string>{"my_program", "given", "--dataset", uri, "--output_path",
                                      IrOutputParameterPath(t.id, "output_path")}));
}

TEST(IrSamplesTest, IfPresentElseWhenTheInputIsAbsent) {
  // The sample with its default removed: the optional input is then absent.
  std::string text = ReadText(SamplesDir() + "/container_with_if_placeholder.yaml");
  for (size_t pos; (pos = text.find("defaultValue: default\n")) != std::string::npos;) {
    size_t line = text.rfind('\n', pos) + 1;
    text.erase(line, pos - line + std::string("defaultValue: default\n").size());
  }
  auto p = MustCompile(text);
  ASSERT_TRUE(p);
  FakeEngine e;
  ASSERT_TRUE(e.Step(*p).ok());
  const Node& t = e.Task("container-with-if-placeholder");
  EXPECT_EQ(t.launch->argv,
            (std::vector<std::string>{"my_program", "bye", "--dataset", "bye", "--output_path",
                                      IrOutputParameterPath(t.id, "output_path")}));
}

TEST(IrSamplesTest, AfterOrdersTasks) {
  auto p = Sample("pipeline_with_after.yaml");
  ASSERT_TRUE(p);
  FakeEngine e;
  ASSERT_TRUE(e.Run(*p).ok());
  EXPECT_EQ(e.order, (std::vector<std::string>{"print-text", "print-text-2", "print-text-3"}));
  EXPECT_EQ(e.Task("print-text-3").launch->argv.back(), "3rd task");
}

TEST(IrSamplesTest, ProducerConsumerParameter) {
  auto p = Sample("producer_consumer_param_pipeline.yaml");
  ASSERT_TRUE(p);
  FakeEngine e;
  e.ctx.parameters = {{"text", "Hi"}};
  e.by_task["producer"] = Outputs({{"output_value", "Hi, this is an output parameter"}});
  ASSERT_TRUE(e.Run(*p).ok());
  const Node& producer = e.Task("producer");
  EXPECT_EQ(producer.launch->argv[3], "Hi");
  EXPECT_EQ(producer.launch->argv[4], IrOutputParameterPath(producer.id, "output_value"));
  EXPECT_EQ(e.Task("consumer").launch->argv.back(), "Hi, this is an output parameter");
  EXPECT_EQ(Serialize(e.Task("consumer").inputs),
            R"({"input_value":"Hi, this is an output parameter"})");
}

TEST(IrSamplesTest, SequentialAndContainerIo) {
  auto seq = Sample("sequential_v1.yaml");
  ASSERT_TRUE(seq);
  FakeEngine e;
  e.ctx.parameters = {{"param1", "one"}, {"param2", "two"}};
  ASSERT_TRUE(e.Run(*seq).ok());
  EXPECT_EQ(e.Task("echo").launch->argv, (std::vector<std::string>{"sh", "-c", "echo one"}));
  EXPECT_EQ(e.Task("echo-2").launch->argv, (std::vector<std::string>{"sh", "-c", "echo two"}));

  auto io = Sample("container_io.yaml");
  ASSERT_TRUE(io);
  FakeEngine f;
  f.ctx.parameters = {{"text", "some text"}};
  f.by_task["container-io"] = Outputs({{"output_path", "written"}});
  ASSERT_TRUE(f.Run(*io).ok());
  const Node& t = f.Task("container-io");
  EXPECT_EQ(t.launch->argv, (std::vector<std::string>{"my_program", "some text", "--output_path",
                                                      IrOutputParameterPath(t.id, "output_path")}));
  EXPECT_EQ(Serialize(f.state.Find(f.state.root)->output_parameters),
            R"({"output_path":"written"})");
}

// ---------------------------------------------------------------------------------------------
// Features the samples do not show, on small pipelines written here.

constexpr std::string_view kHeader = R"(
pipelineInfo:
  name: t
schemaVersion: 2.1.0
deploymentSpec:
  executors:
    exec-a:
      container:
        image: alpine
        command: [sh, -c, 'echo {{$.inputs.parameters[''x'']}}']
    exec-list:
      container:
        image: alpine
        command: [produce, '{{$.outputs.parameters[''out''].output_file}}']
)";

constexpr std::string_view kComponents = R"(
components:
  comp-a:
    executorLabel: exec-a
    inputDefinitions:
      parameters:
        x: {parameterType: STRING, defaultValue: none, isOptional: true}
  comp-list:
    executorLabel: exec-list
    outputDefinitions:
      parameters:
        out: {parameterType: LIST}
)";

std::string Pipeline(std::string_view rest) {
  return std::string(kHeader) + std::string(kComponents) + std::string(rest);
}

TEST(IrProgramTest, FailureOmitsDownstreamAndFailsTheRunNamingTheTask) {
  auto p = MustCompile(Pipeline(R"(
root:
  dag:
    tasks:
      first: {componentRef: {name: comp-a}, taskInfo: {name: First}}
      second: {componentRef: {name: comp-a}, dependentTasks: [first]}
      third: {componentRef: {name: comp-a}, dependentTasks: [second]}
)"));
  ASSERT_TRUE(p);
  FakeEngine e;
  e.by_task["first"] = Fails("exit code 3");
  ASSERT_TRUE(e.Run(*p).ok());
  EXPECT_EQ(e.state.phase, RunPhase::kFailed);
  EXPECT_NE(e.state.message.find("'First' failed"), std::string::npos) << e.state.message;
  EXPECT_NE(e.state.message.find("exit code 3"), std::string::npos);
  EXPECT_EQ(e.Task("second").phase, NodePhase::kOmitted);
  EXPECT_EQ(e.Task("third").phase, NodePhase::kOmitted);
  EXPECT_EQ(e.order, (std::vector<std::string>{"first"}));
}

TEST(IrProgramTest, ExitHandlerRunsAfterAFailureWithTheFinalStatus) {
  auto p = MustCompile(std::string(kHeader) + R"(
    exec-status:
      container:
        image: python:3.11
        command: [show, '{{$.inputs.parameters[''status'']}}']
components:
  comp-a:
    executorLabel: exec-a
    inputDefinitions:
      parameters:
        x: {parameterType: STRING, defaultValue: none, isOptional: true}
  comp-list:
    executorLabel: exec-list
    outputDefinitions:
      parameters:
        out: {parameterType: LIST}
  comp-status:
    executorLabel: exec-status
    inputDefinitions:
      parameters:
        status: {parameterType: TASK_FINAL_STATUS}
  comp-exit-handler-1:
    dag:
      tasks:
        work: {componentRef: {name: comp-a}}
root:
  dag:
    tasks:
      exit-handler-1:
        componentRef: {name: comp-exit-handler-1}
        taskInfo: {name: exit-handler-1}
      notify:
        componentRef: {name: comp-status}
        dependentTasks: [exit-handler-1]
        inputs:
          parameters:
            status:
              taskFinalStatus: {producerTask: exit-handler-1}
        triggerPolicy: {strategy: ALL_UPSTREAM_TASKS_COMPLETED}
)");
  ASSERT_TRUE(p);
  FakeEngine e;
  e.by_task["work"] = Fails();
  ASSERT_TRUE(e.Run(*p).ok());
  EXPECT_EQ(e.order, (std::vector<std::string>{"work", "notify"}));
  EXPECT_EQ(e.state.phase, RunPhase::kFailed);
  EXPECT_NE(e.state.message.find("exit-handler-1"), std::string::npos);
  const Node& notify = e.Task("notify");
  EXPECT_EQ(notify.phase, NodePhase::kSucceeded);
  auto status = ParseJsonObject(notify.launch->argv[1]);
  ASSERT_TRUE(status) << notify.launch->argv[1];
  EXPECT_EQ(GetString(*status, "state"), "FAILED");
  EXPECT_EQ(GetString(*status, "pipelineTaskName"), "exit-handler-1");
  EXPECT_EQ(GetString(*status, "pipelineJobResourceName"), "my-run-x7k2p");

  FakeEngine ok;  // and after a success
  ASSERT_TRUE(ok.Run(*p).ok());
  EXPECT_EQ(ok.state.phase, RunPhase::kSucceeded);
  EXPECT_EQ(GetString(ParseJsonObject(ok.Task("notify").launch->argv[1]).value(), "state"),
            "SUCCEEDED");
}

TEST(IrProgramTest, LoopOverATaskOutputWithParallelismAndItemFields) {
  auto p = MustCompile(Pipeline(R"(
  comp-for-loop-1:
    dag:
      tasks:
        use:
          componentRef: {name: comp-a}
          inputs:
            parameters:
              x:
                componentInputParameter: pipelinechannel--loop-item-param-1
                parameterExpressionSelector: parseJson(string_value)["name"]
    inputDefinitions:
      parameters:
        pipelinechannel--list-out: {parameterType: LIST}
        pipelinechannel--loop-item-param-1: {parameterType: STRUCT}
root:
  dag:
    tasks:
      list: {componentRef: {name: comp-list}}
      for-loop-1:
        componentRef: {name: comp-for-loop-1}
        dependentTasks: [list]
        inputs:
          parameters:
            pipelinechannel--list-out:
              taskOutputParameter: {producerTask: list, outputParameterKey: out}
        parameterIterator:
          itemInput: pipelinechannel--loop-item-param-1
          items: {inputParameter: pipelinechannel--list-out}
        iteratorPolicy: {parallelismLimit: 1}
)"));
  ASSERT_TRUE(p);
  FakeEngine e;
  e.by_task["list"] =
      Outputs({{"out", json::array{json::object{{"name", "a"}}, json::object{{"name", "b"}},
                                   json::object{{"name", "c"}}}}});
  ASSERT_TRUE(e.Run(*p).ok());
  EXPECT_EQ(e.state.phase, RunPhase::kSucceeded) << e.state.message;
  EXPECT_EQ(e.max_seen_pending, 1);  // one iteration at a time
  std::vector<std::string> argv;
  for (const Node* n : e.Tasks("use")) argv.push_back(n->launch->argv[2]);
  std::sort(argv.begin(), argv.end());
  EXPECT_EQ(argv, (std::vector<std::string>{"echo a", "echo b", "echo c"}));
  EXPECT_EQ(e.Task("for-loop-1").children.size(), 3u);
}

TEST(IrProgramTest, EmptyLoopSucceedsWithEmptyLists) {
  auto p = MustCompile(Pipeline(R"(
  comp-for-loop-1:
    dag:
      outputs:
        parameters:
          pipelinechannel--list-out:
            valueFromParameter: {producerSubtask: list, outputParameterKey: out}
      tasks:
        list: {componentRef: {name: comp-list}}
    inputDefinitions:
      parameters:
        pipelinechannel--loop-item-param-1: {parameterType: STRING}
root:
  dag:
    tasks:
      for-loop-1:
        componentRef: {name: comp-for-loop-1}
        parameterIterator:
          itemInput: pipelinechannel--loop-item-param-1
          items: {raw: '[]'}
)"));
  ASSERT_TRUE(p);
  FakeEngine e;
  ASSERT_TRUE(e.Step(*p).ok());
  EXPECT_EQ(e.state.phase, RunPhase::kSucceeded);
  EXPECT_EQ(Serialize(e.Task("for-loop-1").output_parameters),
            R"({"pipelinechannel--list-out":[]})");
}

TEST(IrProgramTest, CachingRetryAndTimeouts) {
  std::string text = Pipeline(R"(
root:
  inputDefinitions:
    parameters:
      x: {parameterType: STRING}
  dag:
    tasks:
      cached:
        componentRef: {name: comp-a}
        cachingOptions: {enableCache: true}
        inputs: {parameters: {x: {componentInputParameter: x}}}
        retryPolicy:
          maxRetryCount: 3
          backoffDuration: 2s
          backoffFactor: 3
          backoffMaxDuration: 60s
      uncached:
        componentRef: {name: comp-a}
        cachingOptions: {}
---
platforms:
  kubernetes:
    deploymentSpec:
      executors:
        exec-a:
          activeDeadlineSeconds: 30
          imagePullPolicy: Always
)");
  auto p = MustCompile(text);
  ASSERT_TRUE(p);
  auto key_for = [&](const char* x, const char* run) {
    FakeEngine e;
    e.ctx.run_name = run;
    e.ctx.parameters = {{"x", x}};
    EXPECT_TRUE(e.Step(*p).ok());
    return e.Task("cached").launch->cache_key;
  };
  std::string k1 = key_for("one", "run-a");
  EXPECT_EQ(k1.size(), 64u);
  EXPECT_EQ(k1, key_for("one", "run-b"));  // the same inputs in another run: the same key
  EXPECT_NE(k1, key_for("two", "run-a"));

  FakeEngine e;
  e.ctx.parameters = {{"x", "one"}};
  ASSERT_TRUE(e.Step(*p).ok());
  const LaunchSpec& l = *e.Task("cached").launch;
  EXPECT_EQ(l.retry.limit, 3);
  EXPECT_EQ(l.retry.on, RetryPolicy::On::kAlways);
  EXPECT_EQ(l.retry.backoff_ms, 2000);
  EXPECT_EQ(l.retry.factor, 3);
  EXPECT_EQ(l.retry.max_backoff_ms, 60000);
  EXPECT_EQ(l.timeout_ms, 30000);
  EXPECT_TRUE(e.Task("uncached").launch->cache_key.empty());
  EXPECT_EQ(e.Task("uncached").launch->retry.limit, 0);
}

TEST(IrProgramTest, TerminateOmitsPendingTasksAndFailsTheRun) {
  auto p = MustCompile(Pipeline(R"(
root:
  dag:
    tasks:
      a: {componentRef: {name: comp-a}}
      b: {componentRef: {name: comp-a}}
      c: {componentRef: {name: comp-a}, dependentTasks: [a]}
)"));
  ASSERT_TRUE(p);
  FakeEngine e;
  ASSERT_TRUE(e.Step(*p).ok());
  Node& a = e.state.nodes.at(e.Task("a").id);
  a.phase = NodePhase::kFailed;  // the engine killed it
  a.message = "terminated";
  e.state.shutdown = "Terminate";
  ASSERT_TRUE(e.Step(*p).ok());
  EXPECT_EQ(e.state.phase, RunPhase::kFailed);
  EXPECT_EQ(e.Task("b").phase, NodePhase::kOmitted);
  EXPECT_TRUE(e.Tasks("c").empty());
  EXPECT_EQ(e.state.Find(e.state.root)->phase, NodePhase::kFailed);
}

TEST(IrProgramTest, ExecutorInputCarriesArtifactsAndJobPlaceholders) {
  auto p = MustCompile(R"(
pipelineInfo: {name: t}
deploymentSpec:
  executors:
    exec-make:
      container:
        image: alpine
        command: [make, '{{$.outputs.artifacts[''model''].path}}', '{{$.pipeline_job_name}}',
                  '{{$.pipeline_job_uuid}}', '{{$.pipeline_task_name}}', '{{$.pipeline_task_uuid}}',
                  '{{$.outputs.output_file}}', '{{$.pipeline_root}}']
    exec-use:
      container:
        image: alpine
        command: [use, '{{$.inputs.artifacts[''m''].path}}', '{{$.inputs.artifacts[''m''].uri}}',
                  '{{$.inputs.artifacts[''m''].metadata}}', '{{$}}']
components:
  comp-make:
    executorLabel: exec-make
    outputDefinitions:
      artifacts:
        model: {artifactType: {schemaTitle: system.Model, schemaVersion: 0.0.1}}
  comp-use:
    executorLabel: exec-use
    inputDefinitions:
      artifacts:
        m: {artifactType: {schemaTitle: system.Model, schemaVersion: 0.0.1}}
  comp-inner:
    dag:
      tasks:
        use:
          componentRef: {name: comp-use}
          inputs: {artifacts: {m: {componentInputArtifact: pipelinechannel--make-model}}}
    inputDefinitions:
      artifacts:
        pipelinechannel--make-model: {artifactType: {schemaTitle: system.Model}}
root:
  dag:
    tasks:
      make: {componentRef: {name: comp-make}}
      inner:
        componentRef: {name: comp-inner}
        inputs:
          artifacts:
            pipelinechannel--make-model:
              taskOutputArtifact: {producerTask: make, outputArtifactKey: model}
)");
  ASSERT_TRUE(p);
  FakeEngine e;
  e.by_task["make"] = [](Node& n) {
    SucceedWithDefaults(n);
    n.output_artifacts[0].metadata = json::object{{"accuracy", 0.9}};
  };
  ASSERT_TRUE(e.Run(*p).ok());
  EXPECT_EQ(e.state.phase, RunPhase::kSucceeded) << e.state.message;
  const Node& make = e.Task("make");
  std::string uri = IrOutputArtifactUri(e.ctx.pipeline_root, "make", make.id, "model");
  EXPECT_EQ(make.launch->argv,
            (std::vector<std::string>{"make", ArtifactLocalPath(uri), "my-run-x7k2p", e.ctx.run_id,
                                      "make", make.id, "/tmp/kfp_outputs/output_metadata.json",
                                      e.ctx.pipeline_root}));
  const Node& use = e.Task("use");
  EXPECT_EQ(use.launch->argv[1], ArtifactLocalPath(uri));
  EXPECT_EQ(use.launch->argv[2], uri);
  EXPECT_EQ(use.launch->argv[3], R"({"accuracy":0.9})");
  auto in = ParseJsonObject(use.launch->argv[4]);
  ASSERT_TRUE(in);
  const json::value* art = Find(*in, "/inputs/artifacts/m/artifacts/0");
  ASSERT_NE(art, nullptr);
  EXPECT_EQ(GetString(*art, "uri"), uri);
  EXPECT_EQ(GetString(*art, "type.schemaTitle"), "system.Model");
  EXPECT_EQ(Serialize(*Find(*art, "metadata")), R"({"accuracy":0.9})");
  ASSERT_EQ(use.launch->input_artifacts.size(), 1u);
  EXPECT_EQ(use.launch->input_artifacts[0].uri, uri);
  EXPECT_EQ(GetString(*in, "outputs.outputFile"), "/tmp/kfp_outputs/output_metadata.json");
}

TEST(IrProgramTest, AConditionOnAMissingOutputFailsTheTask) {
  auto p = MustCompile(Pipeline(R"(
root:
  dag:
    tasks:
      list: {componentRef: {name: comp-list}}
      check:
        componentRef: {name: comp-a}
        inputs:
          parameters:
            pipelinechannel--list-out:
              taskOutputParameter: {producerTask: list, outputParameterKey: out}
        triggerPolicy:
          condition: int(inputs.parameter_values['pipelinechannel--list-out']) > 1
)"));
  ASSERT_TRUE(p);
  FakeEngine e;
  ASSERT_TRUE(e.Run(*p).ok());
  EXPECT_EQ(e.state.phase, RunPhase::kFailed);
  EXPECT_EQ(e.Task("check").phase, NodePhase::kFailed);
  EXPECT_NE(e.Task("check").message.find("int()"), std::string::npos) << e.Task("check").message;
}

TEST(IrProgramTest, RefusesWhatALocalRunCannotDo) {
  struct Case {
    std::string text;
    std::string field;
  } cases[] = {
      {R"(
pipelineInfo: {name: t}
deploymentSpec:
  executors:
    exec-i:
      importer:
        artifactUri: {constant: 'gs://bucket/data.csv'}
        typeSchema: {schemaTitle: system.Dataset}
components:
  comp-i: {executorLabel: exec-i}
root: {dag: {tasks: {i: {componentRef: {name: comp-i}}}}}
)",
       "deploymentSpec.executors.exec-i.importer.artifactUri.constant"},
      {R"(
pipelineInfo: {name: t}
deploymentSpec:
  executors:
    exec-r:
      resolver: {outputArtifactQueries: {}}
components:
  comp-r: {executorLabel: exec-r}
root: {dag: {tasks: {r: {componentRef: {name: comp-r}}}}}
)",
       "deploymentSpec.executors.exec-r.resolver"},
      {R"(
pipelineInfo: {name: t}
deploymentSpec:
  executors:
    exec-g:
      container:
        image: cuda
        command: [train]
        resources:
          accelerator: {type: nvidia.com/gpu, count: '1'}
components:
  comp-g: {executorLabel: exec-g}
root: {dag: {tasks: {g: {componentRef: {name: comp-g}}}}}
)",
       "deploymentSpec.executors.exec-g.container.resources.accelerator"},
      {R"(
pipelineInfo: {name: t}
deploymentSpec:
  executors:
    exec-c:
      customJob: {customJob: {}}
components:
  comp-c: {executorLabel: exec-c}
root: {dag: {tasks: {c: {componentRef: {name: comp-c}}}}}
)",
       "deploymentSpec.executors.exec-c.customJob"},
      {Pipeline("root: {dag: {tasks: {x: {componentRef: {name: comp-nope}}}}}\n"),
       "root.dag.tasks.x.componentRef.name"},
      {Pipeline(R"(
root:
  dag:
    tasks:
      a: {componentRef: {name: comp-a}, dependentTasks: [b]}
      b: {componentRef: {name: comp-a}, dependentTasks: [a]}
)"),
       "is on a dependency cycle"},
      {Pipeline(R"(
root:
  dag:
    tasks:
      a:
        componentRef: {name: comp-a}
        triggerPolicy: {condition: "size(inputs.parameter_values) > 1"}
)"),
       "root.dag.tasks.a.triggerPolicy.condition"},
      {Pipeline(R"(
root: {dag: {tasks: {a: {componentRef: {name: comp-a}}}}}
---
platforms:
  kubernetes:
    deploymentSpec:
      executors:
        exec-a:
          pvcMount:
          - constant: my-pvc
            mountPath: /data
)"),
       "platforms.kubernetes.deploymentSpec.executors.exec-a.pvcMount"},
      {Pipeline(R"(
root: {dag: {tasks: {a: {componentRef: {name: comp-a}}}}}
---
platforms:
  kubernetes:
    deploymentSpec:
      executors:
        exec-a:
          secretAsEnv:
          - secretName: s
            keyToEnv: [{secretKey: k, envVar: K}]
)"),
       "platforms.kubernetes.deploymentSpec.executors.exec-a.secretAsEnv"},
      {Pipeline(R"(
root: {dag: {tasks: {a: {componentRef: {name: comp-a}}}}}
---
platforms:
  kubernetes:
    deploymentSpec:
      executors:
        exec-a:
          nodeSelector: {labels: {gpu: 'true'}}
)"),
       "platforms.kubernetes.deploymentSpec.executors.exec-a.nodeSelector"},
      {Pipeline(R"(
root:
  dag:
    tasks:
      a:
        componentRef: {name: comp-a}
        inputs: {parameters: {x: {componentInputParameter: nope}}}
)"),
       "root.dag.tasks.a.inputs.parameters.x.componentInputParameter"},
      {Pipeline(R"(
root:
  dag:
    tasks:
      a:
        componentRef: {name: comp-a}
        inputs:
          parameters:
            x: {taskOutputParameter: {producerTask: ghost, outputParameterKey: o}}
)"),
       "unknown task 'ghost'"},
      {std::string(R"(
pipelineInfo: {name: t}
deploymentSpec:
  executors:
    exec-b:
      container:
        image: alpine
        command: [x, '{{$.outputs.parameters[''nope''].output_file}}']
components:
  comp-b: {executorLabel: exec-b}
root: {dag: {tasks: {b: {componentRef: {name: comp-b}}}}}
)"),
       "deploymentSpec.executors.exec-b.container.command[1]"},
      {Pipeline(R"(
  comp-self:
    dag:
      tasks:
        again: {componentRef: {name: comp-self}}
root: {dag: {tasks: {a: {componentRef: {name: comp-self}}}}}
)"),
       "components.comp-self: uses itself"},
      {Pipeline(R"(
  comp-lost: {executorLabel: exec-nowhere}
root: {dag: {tasks: {a: {componentRef: {name: comp-lost}}}}}
)"),
       "components.comp-lost.executorLabel"},
      {Pipeline(R"(
root:
  dag:
    tasks:
      a: {componentRef: {name: comp-a}, triggerPolicy: {strategy: ANY_UPSTREAM}}
)"),
       "root.dag.tasks.a.triggerPolicy.strategy"},
      {Pipeline(R"(
root:
  inputDefinitions:
    artifacts:
      data: {artifactType: {schemaTitle: system.Dataset}}
  dag: {tasks: {a: {componentRef: {name: comp-a}}}}
)"),
       "root.inputDefinitions.artifacts"},
      {Pipeline(R"(
root:
  dag:
    tasks:
      a:
        componentRef: {name: comp-a}
        artifactIterator: {items: {inputArtifact: x}, itemInput: y}
)"),
       "root.dag.tasks.a.artifactIterator"},
      {std::string(R"(
pipelineInfo: {name: t}
deploymentSpec:
  executors:
    exec-b:
      container:
        image: alpine
        command: [x]
        volumeMounts: []
components:
  comp-b: {executorLabel: exec-b}
root: {dag: {tasks: {b: {componentRef: {name: comp-b}}}}}
)"),
       "deploymentSpec.executors.exec-b.container.volumeMounts"},
  };
  for (const Case& c : cases) {
    auto p = CompileText(c.text);
    ASSERT_FALSE(p) << c.field;
    EXPECT_EQ(p.error().code(), Code::kInvalidArgument);
    EXPECT_NE(p.error().message().find(c.field), std::string::npos)
        << "wanted " << c.field << " in: " << p.error().message();
  }
}

TEST(IrProgramTest, ImportsLocalFiles) {
  auto p = MustCompile(R"(
pipelineInfo: {name: t}
deploymentSpec:
  executors:
    exec-i:
      importer:
        artifactUri: {constant: 'file:///srv/data.csv'}
        typeSchema: {schemaTitle: system.Dataset}
    exec-use:
      container:
        image: alpine
        command: [cat, '{{$.inputs.artifacts[''d''].path}}']
components:
  comp-i:
    executorLabel: exec-i
    outputDefinitions:
      artifacts:
        artifact: {artifactType: {schemaTitle: system.Dataset}}
  comp-use:
    executorLabel: exec-use
    inputDefinitions:
      artifacts:
        d: {artifactType: {schemaTitle: system.Dataset}}
root:
  dag:
    tasks:
      importer: {componentRef: {name: comp-i}}
      use:
        componentRef: {name: comp-use}
        inputs: {artifacts: {d: {taskOutputArtifact: {producerTask: importer, outputArtifactKey: artifact}}}}
)");
  ASSERT_TRUE(p);
  FakeEngine e;
  ASSERT_TRUE(e.Run(*p).ok());
  EXPECT_EQ(e.state.phase, RunPhase::kSucceeded) << e.state.message;
  EXPECT_EQ(e.order, (std::vector<std::string>{"use"}));  // the importer runs nothing
  EXPECT_EQ(e.Task("use").launch->input_artifacts[0].uri, "file:///srv/data.csv");
  EXPECT_EQ(e.Task("use").launch->argv[1], ArtifactLocalPath("file:///srv/data.csv"));
}

}  // namespace
}  // namespace skiff::pipelines

namespace skiff::pipelines {
namespace {

// A pipeline used as a component (nested DAG with outputs), dsl.OneOf over two branches, a loop
// inside a loop, and an iteration that fails.
constexpr std::string_view kNested = R"(
pipelineInfo: {name: nested, description: inner pipelines}
deploymentSpec:
  executors:
    exec-num:
      container:
        image: alpine
        command: [num, '{{$.inputs.parameters[''x'']}}', '{{$.outputs.parameters[''out''].output_file}}']
    exec-show:
      container:
        image: alpine
        command: [show, '{{$.inputs.parameters[''v'']}}', '{{$.pipeline_job_create_time_utc}}']
components:
  comp-num:
    executorLabel: exec-num
    inputDefinitions:
      parameters:
        x: {parameterType: NUMBER_INTEGER}
    outputDefinitions:
      parameters:
        out: {parameterType: NUMBER_INTEGER}
  comp-show:
    executorLabel: exec-show
    inputDefinitions:
      parameters:
        v: {parameterType: STRING}
  comp-inner:
    dag:
      outputs:
        parameters:
          result:
            valueFromParameter: {producerSubtask: num, outputParameterKey: out}
      tasks:
        num:
          componentRef: {name: comp-num}
          inputs: {parameters: {x: {componentInputParameter: start}}}
    inputDefinitions:
      parameters:
        start: {parameterType: NUMBER_INTEGER, defaultValue: 5}
    outputDefinitions:
      parameters:
        result: {parameterType: NUMBER_INTEGER}
  comp-condition-1:
    dag:
      outputs:
        parameters:
          pipelinechannel--num-out:
            valueFromParameter: {producerSubtask: num, outputParameterKey: out}
      tasks:
        num:
          componentRef: {name: comp-num}
          inputs: {parameters: {x: {runtimeValue: {constant: 1}}}}
    inputDefinitions:
      parameters:
        pipelinechannel--inner-result: {parameterType: NUMBER_INTEGER}
  comp-condition-2:
    dag:
      outputs:
        parameters:
          pipelinechannel--num-out:
            valueFromParameter: {producerSubtask: num, outputParameterKey: out}
      tasks:
        num:
          componentRef: {name: comp-num}
          inputs: {parameters: {x: {runtimeValue: {constant: 2}}}}
    inputDefinitions:
      parameters:
        pipelinechannel--inner-result: {parameterType: NUMBER_INTEGER}
  comp-condition-branches-1:
    dag:
      outputs:
        parameters:
          pipelinechannel--condition-branches-1-oneof-1:
            valueFromOneof:
              parameterSelectors:
              - {producerSubtask: condition-1, outputParameterKey: pipelinechannel--num-out}
              - {producerSubtask: condition-2, outputParameterKey: pipelinechannel--num-out}
      tasks:
        condition-1:
          componentRef: {name: comp-condition-1}
          inputs:
            parameters:
              pipelinechannel--inner-result: {componentInputParameter: pipelinechannel--inner-result}
          triggerPolicy:
            condition: int(inputs.parameter_values['pipelinechannel--inner-result']) > 10
        condition-2:
          componentRef: {name: comp-condition-2}
          inputs:
            parameters:
              pipelinechannel--inner-result: {componentInputParameter: pipelinechannel--inner-result}
          triggerPolicy:
            condition: '!(int(inputs.parameter_values[''pipelinechannel--inner-result'']) > 10)'
    inputDefinitions:
      parameters:
        pipelinechannel--inner-result: {parameterType: NUMBER_INTEGER}
  comp-for-loop-2:
    dag:
      tasks:
        for-loop-3:
          componentRef: {name: comp-for-loop-3}
          inputs:
            parameters:
              pipelinechannel--loop-item-param-1: {componentInputParameter: pipelinechannel--loop-item-param-1}
          parameterIterator:
            itemInput: pipelinechannel--loop-item-param-2
            items: {raw: '["a", "b"]'}
    inputDefinitions:
      parameters:
        pipelinechannel--loop-item-param-1: {parameterType: STRING}
  comp-for-loop-3:
    dag:
      tasks:
        show:
          componentRef: {name: comp-show}
          inputs:
            parameters:
              v:
                runtimeValue:
                  constant: "{{$.inputs.parameters['pipelinechannel--loop-item-param-1']}}-{{$.inputs.parameters['pipelinechannel--loop-item-param-2']}}"
              pipelinechannel--loop-item-param-1: {componentInputParameter: pipelinechannel--loop-item-param-1}
              pipelinechannel--loop-item-param-2: {componentInputParameter: pipelinechannel--loop-item-param-2}
    inputDefinitions:
      parameters:
        pipelinechannel--loop-item-param-1: {parameterType: STRING}
        pipelinechannel--loop-item-param-2: {parameterType: STRING}
root:
  inputDefinitions:
    parameters:
      start: {parameterType: NUMBER_INTEGER, defaultValue: 20}
  dag:
    outputs:
      parameters:
        picked:
          valueFromParameter:
            producerSubtask: condition-branches-1
            outputParameterKey: pipelinechannel--condition-branches-1-oneof-1
    tasks:
      inner:
        componentRef: {name: comp-inner}
        inputs: {parameters: {start: {componentInputParameter: start}}}
      condition-branches-1:
        componentRef: {name: comp-condition-branches-1}
        dependentTasks: [inner]
        inputs:
          parameters:
            pipelinechannel--inner-result:
              taskOutputParameter: {producerTask: inner, outputParameterKey: result}
      for-loop-2:
        componentRef: {name: comp-for-loop-2}
        parameterIterator:
          itemInput: pipelinechannel--loop-item-param-1
          items: {raw: '["x", "y"]'}
)";

// comp-num's fake: out = 10 * x.
void TimesTen(Node& n) {
  n.output_parameters["out"] = 10 * n.inputs.at("x").as_int64();
  SucceedWithDefaults(n);
}

TEST(IrProgramTest, NestedPipelineOneOfAndNestedLoops) {
  auto p = MustCompile(kNested);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->description(), "inner pipelines");
  for (int start : {2, 0}) {
    SCOPED_TRACE(start);
    FakeEngine e;
    e.ctx.created_at_ms = 1700000000000;
    if (start) e.ctx.parameters = {{"start", start}};
    e.by_task["num"] = TimesTen;
    ASSERT_TRUE(e.Run(*p).ok());
    EXPECT_EQ(e.state.phase, RunPhase::kSucceeded) << e.state.message;
    // inner: num(start) -> result = 10 * start (20 * 10 = 200 by default).
    const Node& inner = e.Task("inner");
    EXPECT_EQ(inner.type, "DAG");
    int64_t result = start ? 10 * start : 200;
    EXPECT_EQ(Serialize(inner.output_parameters), "{\"result\":" + std::to_string(result) + "}");
    // OneOf picks the branch that ran: > 10 -> condition-1 (num(1) = 10), else condition-2 (20).
    const Node* root = e.state.Find(e.state.root);
    EXPECT_EQ(Serialize(root->output_parameters),
              result > 10 ? R"({"picked":10})" : R"({"picked":20})");
    EXPECT_EQ(e.Task(result > 10 ? "condition-2" : "condition-1").phase, NodePhase::kSkipped);
    // The nested loops: 2 x 2 shows with both items.
    std::vector<std::string> shown;
    for (const Node* n : e.Tasks("show")) {
      shown.push_back(n->launch->argv[1]);
      EXPECT_EQ(n->launch->argv[2], "2023-11-14T22:13:20Z");
    }
    std::sort(shown.begin(), shown.end());
    EXPECT_EQ(shown, (std::vector<std::string>{"x-a", "x-b", "y-a", "y-b"}));
    EXPECT_EQ(e.Tasks("for-loop-3").size(), 2u);  // one TaskGroup per outer iteration
  }
}

TEST(IrProgramTest, AFailedIterationFailsTheLoopAndTheRun) {
  auto p = MustCompile(kNested);
  ASSERT_TRUE(p);
  FakeEngine e;
  e.by_task["num"] = TimesTen;
  e.by_task["show"] = [](Node& n) {
    if (n.launch->argv[1] == "y-b") {
      n.phase = NodePhase::kFailed;
      n.message = "exit code 2";
    } else {
      SucceedWithDefaults(n);
    }
  };
  ASSERT_TRUE(e.Run(*p).ok());
  EXPECT_EQ(e.state.phase, RunPhase::kFailed);
  EXPECT_NE(e.state.message.find("task 'for-loop-2' failed: iteration 1 failed"), std::string::npos)
      << e.state.message;
  EXPECT_NE(e.state.message.find("task 'show' failed: exit code 2"), std::string::npos);
}

}  // namespace
}  // namespace skiff::pipelines

namespace skiff::pipelines {
namespace {

// Every field of every sample replaced by values of other types: CompileKfpIr refuses or
// accepts, and a run of what it accepts ends, without an exception or a crash.
void Mutations(const json::value& v, const std::string& path, std::vector<std::string>& paths) {
  paths.push_back(path);
  if (v.is_object()) {
    for (const auto& [k, child] : v.get_object()) {
      std::string key(k);
      if (key.find('/') != std::string::npos || key.find('~') != std::string::npos) continue;
      Mutations(child, path + "/" + key, paths);
    }
  } else if (v.is_array()) {
    for (size_t i = 0; i < v.get_array().size(); ++i)
      Mutations(v.get_array()[i], path + "/" + std::to_string(i), paths);
  }
}

TEST(IrProgramTest, MutatedSamplesNeverThrowOrCrash) {
  const json::value replacements[] = {
      nullptr,
      7,
      -1.5,
      "x",
      json::array{},
      json::object{},
      json::array{"a"},
      "{{$.inputs.parameters['nope']}}",
      "{{$.outputs.artifacts['nope'].uri}}{{$}}",
      R"({"IfPresent": {"InputName": "x", "Then": {"Concat": [1, {}]}}})",
      json::object{{"Concat", json::array{json::object{{"IfPresent", 3}}}}}};
  int compiled = 0, refused = 0;
  for (const auto& entry : std::filesystem::directory_iterator(SamplesDir())) {
    auto docs = ParseYamlDocuments(ReadText(entry.path().string()));
    ASSERT_TRUE(docs);
    const json::value original = (*docs)[0].value;
    std::vector<std::string> paths;
    Mutations(original, "", paths);
    for (const std::string& path : paths) {
      if (path.empty()) continue;
      for (const json::value& r : replacements) {
        json::value mutated = original;
        json::value* target = FindMutable(mutated, path);
        ASSERT_NE(target, nullptr) << path;
        *target = r;
        try {
          auto p = CompileKfpIr(mutated.get_object(), nullptr);
          if (!p) {
            ++refused;
            continue;
          }
          ++compiled;
          FakeEngine e;
          e.ctx.parameters = {};
          for (int i = 0; i < 30 && e.state.phase != RunPhase::kSucceeded &&
                          e.state.phase != RunPhase::kFailed;
               ++i) {
            if (!(*p)->Advance(e.state, e.ctx).ok()) break;
            for (auto& [id, n] : e.state.nodes)
              if (n.type == "Pod" && n.phase == NodePhase::kPending && n.launch)
                SucceedWithDefaults(n);
          }
        } catch (const std::exception& ex) {
          ADD_FAILURE() << entry.path().filename() << " " << path << " = " << Serialize(r) << ": "
                        << ex.what();
        }
      }
    }
  }
  EXPECT_GT(compiled, 0);
  EXPECT_GT(refused, 0);
}

}  // namespace
}  // namespace skiff::pipelines

namespace skiff::pipelines {
namespace {

// The engine's retry of a failed run (engine.cpp ResetFailed): failed, errored and omitted
// nodes that are not containers go with their subtrees; their ancestors run again.
void RetryLikeTheEngine(RunState& s) {
  std::set<std::string> remove;
  std::function<void(const std::string&)> subtree = [&](const std::string& id) {
    if (!remove.insert(id).second) return;
    if (const Node* n = s.Find(id))
      for (const std::string& c : n->children) subtree(c);
  };
  for (const auto& [id, n] : s.nodes) {
    bool bad = n.phase == NodePhase::kFailed || n.phase == NodePhase::kError ||
               n.phase == NodePhase::kOmitted;
    if (bad && n.type != "DAG" && n.type != "TaskGroup") subtree(id);
  }
  for (const std::string& id : std::set<std::string>(remove)) {
    const Node* n = s.Find(id);
    for (std::string p = n ? n->parent : std::string(); !p.empty();) {
      Node* parent = s.Find(p);
      if (!parent) break;
      parent->phase = NodePhase::kRunning;
      parent->finished_at_ms = 0;
      parent->message.clear();
      p = parent->parent;
    }
  }
  for (const std::string& id : remove) s.nodes.erase(id);
  for (auto& [id, n] : s.nodes)
    std::erase_if(n.children, [&](const std::string& c) { return remove.contains(c); });
  s.phase = RunPhase::kRunning;
  s.message.clear();
  s.finished_at_ms = 0;
}

TEST(IrProgramTest, ARetriedRunRerunsOnlyWhatFailed) {
  auto p = Sample("artifacts_simple.yaml");
  ASSERT_TRUE(p);
  FakeEngine e;
  bool fail = true;
  e.by_task["double"] = [&](Node& n) {
    if (fail && n.inputs.at("num").as_int64() == 2) {
      n.phase = NodePhase::kFailed;
      n.message = "exit code 1";
    } else {
      SucceedWithDefaults(n);
    }
  };
  ASSERT_TRUE(e.Run(*p).ok());
  ASSERT_EQ(e.state.phase, RunPhase::kFailed);
  EXPECT_EQ(e.Task("add").phase, NodePhase::kOmitted);
  EXPECT_EQ(e.Task("add").type, "Skipped");
  e.order.clear();
  fail = false;
  RetryLikeTheEngine(e.state);
  ASSERT_TRUE(e.Run(*p).ok());
  EXPECT_EQ(e.state.phase, RunPhase::kSucceeded) << e.state.message;
  std::vector<std::string> rerun = e.order;
  std::sort(rerun.begin(), rerun.end());
  EXPECT_EQ(rerun, (std::vector<std::string>{"add", "add-container", "double"}));
  EXPECT_EQ(e.Task("for-loop-2").output_artifacts.size(), 3u);  // not 5: outputs recomputed
  EXPECT_EQ(e.Task("add").launch->input_artifacts.size(), 3u);
  EXPECT_EQ(e.state.Find(e.state.root)->output_artifacts.size(), 3u);
}

}  // namespace
}  // namespace skiff::pipelines

namespace skiff::pipelines {
namespace {

TEST(IrProgramTest, SchemaTwoZeroParameterTypes) {
  auto p = MustCompile(R"(
pipelineInfo: {name: old}
schemaVersion: 2.0.0
deploymentSpec:
  executors:
    exec-a:
      container: {image: alpine, command: [echo, '{{$.inputs.parameters[''num'']}}']}
components:
  comp-a:
    executorLabel: exec-a
    inputDefinitions: {parameters: {num: {type: INT}}}
root:
  inputDefinitions:
    parameters:
      num: {type: INT, defaultValue: {intValue: 3}}
      s: {type: STRING, defaultValue: {stringValue: hi}}
  dag:
    tasks:
      a:
        componentRef: {name: comp-a}
        inputs: {parameters: {num: {componentInputParameter: num}}}
)");
  ASSERT_TRUE(p);
  ASSERT_EQ(p->parameters().size(), 2u);
  EXPECT_EQ(p->parameters()[0].type, "NUMBER_INTEGER");
  EXPECT_EQ(Serialize(*p->parameters()[0].default_value), "3");
  EXPECT_EQ(Serialize(*p->parameters()[1].default_value), R"("hi")");
  FakeEngine e;
  ASSERT_TRUE(e.Run(*p).ok());
  EXPECT_EQ(e.Task("a").launch->argv, (std::vector<std::string>{"echo", "3"}));
  EXPECT_FALSE(CompileText("pipelineInfo: {name: x}\nschemaVersion: 3.0.0\nroot: {dag: {}}\n"));
}

}  // namespace
}  // namespace skiff::pipelines

namespace skiff::pipelines {
namespace {

// PyYAML leaves y/n unquoted; skiff's YAML reader takes them for booleans (kubectl's rules).
TEST(IrProgramTest, NamesSpelledLikeYamlBooleans) {
  auto p = MustCompile(R"(
pipelineInfo: {name: yn}
deploymentSpec:
  executors:
    exec-make:
      container: {image: alpine, command: [make, '{{$.outputs.parameters[''Y''].output_file}}']}
    exec-use:
      container: {image: alpine, command: [use, '{{$.inputs.parameters[''y'']}}', '{{$.inputs.parameters[''v'']}}']}
components:
  comp-make:
    executorLabel: exec-make
    outputDefinitions: {parameters: {Y: {parameterType: STRING}}}
  comp-use:
    executorLabel: exec-use
    inputDefinitions: {parameters: {y: {parameterType: STRING}, v: {parameterType: STRING}}}
root:
  inputDefinitions:
    parameters:
      y: {parameterType: STRING}
  dag:
    outputs:
      parameters:
        out: {valueFromParameter: {producerSubtask: n, outputParameterKey: Y}}
    tasks:
      n: {componentRef: {name: comp-make}}
      use:
        componentRef: {name: comp-use}
        dependentTasks: [n]
        inputs:
          parameters:
            y: {componentInputParameter: y}
            v: {taskOutputParameter: {producerTask: n, outputParameterKey: Y}}
)");
  ASSERT_TRUE(p);
  FakeEngine e;
  e.ctx.parameters = {{"y", "why"}};
  e.by_task["n"] = Outputs({{"Y", "made"}});
  ASSERT_TRUE(e.Run(*p).ok());
  EXPECT_EQ(e.state.phase, RunPhase::kSucceeded) << e.state.message;
  EXPECT_EQ(e.Task("use").launch->argv, (std::vector<std::string>{"use", "why", "made"}));
  EXPECT_EQ(Serialize(e.state.Find(e.state.root)->output_parameters), R"({"out":"made"})");
}

}  // namespace
}  // namespace skiff::pipelines

namespace skiff::pipelines {
namespace {

TEST(IrProgramTest, FailFastStartsNothingNewAfterAFailure) {
  auto p = MustCompile(Pipeline(R"(
root:
  dag:
    tasks:
      a: {componentRef: {name: comp-a}}
      b: {componentRef: {name: comp-a}}
      c: {componentRef: {name: comp-a}, dependentTasks: [b]}
)"));
  ASSERT_TRUE(p);
  FakeEngine e;
  e.by_task["a"] = Fails();
  ASSERT_TRUE(e.Run(*p).ok());
  EXPECT_EQ(e.order, (std::vector<std::string>{"a", "b"}));  // ready together: both start
  EXPECT_EQ(e.Task("b").phase, NodePhase::kSucceeded);
  EXPECT_EQ(e.Task("c").phase, NodePhase::kOmitted);
  EXPECT_EQ(e.Task("c").message, "another task of the DAG failed");
  EXPECT_EQ(e.state.phase, RunPhase::kFailed);
}

}  // namespace
}  // namespace skiff::pipelines
