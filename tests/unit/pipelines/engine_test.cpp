// The run engine with real processes: a small Program written here (Pod nodes after their
// dependencies), the real TaskLauncher and a Catalog on a temporary SQLite store. Proves outputs,
// inputs, artifacts, retries, time-outs, termination, limits, the namespace quota, caching,
// retry of a failed run and resumption after a restart.

#include "pipelines/engine.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>

#include "core/fs.hpp"
#include "store/store.hpp"
#include "unit/forwarding_store.hpp"
#include "unit/s3rver.hpp"
#include "unit/wait_until.hpp"

namespace skiff::pipelines {
namespace {

namespace fs = std::filesystem;
using skiff::testing::WaitUntil;
using namespace std::chrono_literals;

// One task of the fake pipeline: created (Pending, with the launch spec `make` gives) once every
// dependency succeeded.
struct Step {
  std::string name;
  std::vector<std::string> deps;
  std::function<LaunchSpec(const RunState&, const RunContext&)> make;
};

std::string StepId(const RunContext& ctx, const std::string& step) {
  return NodeId(ctx.run_name, ctx.run_name + "." + step);
}

class FakeProgram : public Program {
 public:
  FakeProgram(std::vector<Step> steps, int parallelism = 0)
      : steps_(std::move(steps)), parallelism_(parallelism) {}
  std::string_view format() const override { return "fake"; }
  std::string name() const override { return "fake"; }
  std::string description() const override { return ""; }
  std::vector<ParameterInfo> parameters() const override { return {}; }
  int parallelism() const override { return parallelism_; }

  Status Advance(RunState& s, const RunContext& ctx) const override {
    if (s.root.empty()) {
      Node root;
      root.id = NodeId(ctx.run_name, ctx.run_name);
      root.name = ctx.run_name;
      root.display_name = ctx.run_name;
      root.type = "DAG";
      root.phase = NodePhase::kRunning;
      root.started_at_ms = ctx.now_ms;
      s.root = root.id;
      s.Add(std::move(root));
    }
    bool all_done = true;
    bool any_bad = false;
    for (const Step& step : steps_) {
      Node* n = s.Find(StepId(ctx, step.name));
      if (n == nullptr) {
        bool ready = true;
        bool blocked = !s.shutdown.empty();
        for (const std::string& d : step.deps) {
          const Node* dn = s.Find(StepId(ctx, d));
          if (dn == nullptr || !IsFinished(dn->phase)) {
            ready = false;
          } else if (dn->phase != NodePhase::kSucceeded) {
            blocked = true;
          }
        }
        if (blocked) {
          any_bad = true;
          if (!ready) all_done = false;
          continue;
        }
        if (!ready) {
          all_done = false;
          continue;
        }
        Node node;
        node.id = StepId(ctx, step.name);
        node.name = ctx.run_name + "." + step.name;
        node.display_name = step.name;
        node.task_name = step.name;
        node.type = "Pod";
        node.parent = s.root;
        node.phase = NodePhase::kPending;
        node.launch = step.make(s, ctx);
        s.Add(std::move(node));
        all_done = false;
        continue;
      }
      if (!s.shutdown.empty() && n->phase == NodePhase::kPending) {
        n->phase = NodePhase::kOmitted;
        n->finished_at_ms = ctx.now_ms;
      }
      if (!IsFinished(n->phase)) {
        all_done = false;
      } else if (n->phase != NodePhase::kSucceeded) {
        any_bad = true;
      }
    }
    if (all_done) {
      bool ok = !any_bad && s.shutdown.empty();
      s.phase = ok ? RunPhase::kSucceeded : RunPhase::kFailed;
      if (!ok && s.message.empty()) s.message = "a step failed";
      Node* root = s.Find(s.root);
      root->phase = ok ? NodePhase::kSucceeded : NodePhase::kFailed;
      root->finished_at_ms = ctx.now_ms;
    }
    return Status();
  }

 private:
  std::vector<Step> steps_;
  int parallelism_;
};

OutputFile Out(std::string name, std::string path, std::string type = {},
               std::optional<std::string> default_value = std::nullopt) {
  OutputFile f;
  f.name = std::move(name);
  f.path = std::move(path);
  f.type = std::move(type);
  f.default_value = std::move(default_value);
  return f;
}

LaunchSpec Sh(const std::string& script) {
  LaunchSpec l;
  l.image = "busybox";
  l.argv = {"sh", "-c", script};
  return l;
}

Step S(std::string name, std::string script, std::vector<std::string> deps = {}) {
  return Step{std::move(name), std::move(deps),
              [script](const RunState&, const RunContext&) { return Sh(script); }};
}

Step S(std::string name, LaunchSpec l, std::vector<std::string> deps = {}) {
  return Step{std::move(name), std::move(deps),
              [l](const RunState&, const RunContext&) { return l; }};
}

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Tasks cannot run without isolation: a machine without it fails here, loudly.
    if (Status s = CheckIsolation(); !s.ok()) FAIL() << s.message();
    // Not under /tmp: a task's /tmp is its own, and the tests share files with tasks (a build
    // tree under /tmp, as in a clone there, uses /var/tmp instead).
    fs::path root = fs::current_path();
    if (root == "/tmp" || root.string().starts_with("/tmp/")) root = "/var/tmp";
    base_ = root / ("engine_test_" + std::to_string(::getpid()) + "_" +
                    ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(base_);
    fs::create_directories(base_ / "shared");
    store::SqliteOptions o;
    o.path = (base_ / "db.sqlite").string();
    auto st = store::OpenSqliteStore(o);
    ASSERT_TRUE(st) << st.error().ToString();
    store_ = std::move(*st);
    auto c = Catalog::Open(*store_, SystemClock());
    ASSERT_TRUE(c) << c.error().ToString();
    catalog_ = std::move(*c);
    LauncherOptions lo;
    lo.kill_grace_ms = 500;
    launcher_ = std::make_unique<TaskLauncher>(lo);
    options_.data_dir = (base_ / "data").string();
    options_.max_parallel_tasks = 8;
  }
  void TearDown() override {
    if (engine_) engine_->Stop();
    if (launcher_) launcher_->Shutdown();
    engine_.reset();
    launcher_.reset();
    catalog_.reset();
    store_.reset();
    std::error_code ec;
    fs::remove_all(base_, ec);
  }

  // Puts a Wrapper (a ForwardingStore) around the store, sets *wrapper to it and reopens the
  // catalog on it (before StartEngine). Call through ASSERT_NO_FATAL_FAILURE.
  template <class Wrapper>
  void WrapStore(Wrapper** wrapper) {
    catalog_.reset();
    auto owned = std::make_unique<Wrapper>(std::move(store_));
    *wrapper = owned.get();
    store_ = std::move(owned);
    auto c = Catalog::Open(*store_, SystemClock());
    ASSERT_TRUE(c) << c.error().ToString();
    catalog_ = std::move(*c);
  }

  // Programs by run id: the loader gives each run its own.
  void StartEngine() {
    engine_ = std::make_unique<Engine>(
        *catalog_, *launcher_, SystemClock(),
        [this](const Record& r) -> Result<std::shared_ptr<const Program>> {
          std::lock_guard lock(mu_);
          auto it = programs_.find(GetString(r.spec, "program"));
          if (it == programs_.end()) return NotFound("no program");
          return it->second;
        },
        options_);
    ASSERT_TRUE(engine_->Start().ok());
  }

  std::string Submit(std::shared_ptr<const Program> p, json::object spec = {},
                     const std::string& ns = "team-a") {
    std::string key = "p" + std::to_string(++programs_made_);
    {
      std::lock_guard lock(mu_);
      programs_[key] = std::move(p);
    }
    spec["program"] = key;
    auto r = catalog_->Create(Kind::kRun, ns, std::move(spec));
    EXPECT_TRUE(r) << r.error().ToString();
    engine_->Submit((*r)->id);
    return (*r)->id;
  }

  RunState State(const std::string& run_id) {
    RecordPtr r = catalog_->Get(Kind::kRun, run_id);
    if (r == nullptr || r->status.empty()) return {};
    auto s = RunStateOf(*r);
    EXPECT_TRUE(s) << s.error().ToString();
    return s ? *s : RunState{};
  }

  // Waits for the run to finish and returns its state.
  // `idle`: then also waits for the engine to be idle (WaitIdle also waits for jobs in flight).
  RunState Finish(const std::string& run_id, std::chrono::milliseconds timeout = 30s,
                  bool idle = true) {
    EXPECT_TRUE(WaitUntil(
        [&] {
          RunState s = State(run_id);
          return s.phase != RunPhase::kPending && s.phase != RunPhase::kRunning;
        },
        timeout))
        << "run did not finish";
    if (idle) engine_->WaitIdle();
    return State(run_id);
  }

  const Node& NodeOf(const RunState& s, const std::string& step) {
    for (const auto& [id, n] : s.nodes) {
      if (n.display_name == step && n.type == "Pod") return n;
    }
    static Node none;
    ADD_FAILURE() << "no node for step " << step;
    return none;
  }

  // The stored form of the step's node in the run's current record.
  NodeDocPtr DocOf(const std::string& run_id, const std::string& step) {
    const std::string id = NodeOf(State(run_id), step).id;
    RecordPtr r = catalog_->Get(Kind::kRun, run_id);
    for (const NodeDocPtr& doc : r->nodes) {
      if (doc->id == id) return doc;
    }
    ADD_FAILURE() << "no stored node for step " << step;
    return nullptr;
  }

  // Waits until the step's node of the run is Running with its process started.
  void WaitRunning(const std::string& run_id, const std::string& step) {
    ASSERT_TRUE(WaitUntil([&] {
      RunState s = State(run_id);
      for (const auto& [id, n] : s.nodes) {
        if (n.display_name == step && n.phase == NodePhase::kRunning && n.state.contains("pid")) {
          return true;
        }
      }
      return false;
    })) << step
        << " never ran";
  }

  std::string Shared(const std::string& name) const { return (base_ / "shared" / name).string(); }

  fs::path base_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<TaskLauncher> launcher_;
  EngineOptions options_;
  std::unique_ptr<Engine> engine_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<const Program>> programs_;
  int programs_made_ = 0;
};

std::shared_ptr<const Program> P(std::vector<Step> steps, int parallelism = 0) {
  return std::make_shared<FakeProgram>(std::move(steps), parallelism);
}

TEST_F(EngineTest, OutputParametersAreReadTypedWithDefaultsAndResult) {
  StartEngine();
  LaunchSpec l =
      Sh("printf 42 > /tmp/n; printf 'x y' > /tmp/s; printf true > /tmp/b;"
         " printf '[1,2]' > /tmp/l; printf '{\"k\":1}' > /tmp/o; printf 2.5 > /tmp/d; echo hello");
  l.output_parameters = {
      Out("n", "/tmp/n", "NUMBER_INTEGER"),   Out("s", "/tmp/s", "STRING"),
      Out("b", "/tmp/b", "BOOLEAN"),          Out("l", "/tmp/l", "LIST"),
      Out("o", "/tmp/o", "STRUCT"),           Out("d", "/tmp/d", "NUMBER_DOUBLE"),
      Out("def", "/tmp/none", "", "fallback")};
  l.capture_result = true;
  std::string id = Submit(P({S("a", l)}));
  RunState s = Finish(id);
  ASSERT_EQ(s.phase, RunPhase::kSucceeded) << s.message;
  const Node& n = NodeOf(s, "a");
  EXPECT_EQ(n.phase, NodePhase::kSucceeded);
  EXPECT_EQ(n.exit_code, 0);
  EXPECT_EQ(n.attempts, 1);
  EXPECT_EQ(n.output_parameters.at("n"), json::value(42));
  EXPECT_EQ(n.output_parameters.at("s"), json::value("x y"));
  EXPECT_EQ(n.output_parameters.at("b"), json::value(true));
  EXPECT_EQ(n.output_parameters.at("l"), (json::array{1, 2}));
  EXPECT_EQ(n.output_parameters.at("o"), (json::object{{"k", 1}}));
  EXPECT_EQ(n.output_parameters.at("d"), json::value(2.5));
  EXPECT_EQ(n.output_parameters.at("def"), json::value("fallback"));
  ASSERT_TRUE(n.result.has_value());
  EXPECT_EQ(*n.result, "hello");
  // The log holds what the task printed.
  Record rec = *catalog_->Get(Kind::kRun, id);
  auto log = ReadFile(engine_->LogPath(rec, n.id));
  ASSERT_TRUE(log);
  EXPECT_NE(log->find("hello"), std::string::npos);
}

TEST_F(EngineTest, MissingOrMistypedOutputIsAnErrorNamingIt) {
  StartEngine();
  LaunchSpec missing = Sh("true");
  missing.output_parameters = {Out("x", "/tmp/out/x.txt", "")};
  LaunchSpec mistyped = Sh("printf abc > /tmp/n");
  mistyped.output_parameters = {Out("n", "/tmp/n", "NUMBER_INTEGER")};
  LaunchSpec missing_artifact = Sh("true");
  missing_artifact.output_artifacts = {Out("model", "/tmp/model", "")};
  LaunchSpec optional_artifact = Sh("true");
  OutputFile opt = Out("maybe", "/tmp/maybe");
  opt.optional = true;
  optional_artifact.output_artifacts = {opt};
  std::string id = Submit(P({S("missing", missing), S("mistyped", mistyped),
                             S("noart", missing_artifact), S("opt", optional_artifact)}));
  RunState s = Finish(id);
  EXPECT_EQ(s.phase, RunPhase::kFailed);
  const Node& a = NodeOf(s, "missing");
  EXPECT_EQ(a.phase, NodePhase::kError);
  EXPECT_NE(a.message.find("/tmp/out/x.txt"), std::string::npos) << a.message;
  const Node& b = NodeOf(s, "mistyped");
  EXPECT_EQ(b.phase, NodePhase::kError);
  EXPECT_NE(b.message.find("NUMBER_INTEGER"), std::string::npos) << b.message;
  const Node& c = NodeOf(s, "noart");
  EXPECT_EQ(c.phase, NodePhase::kError);
  EXPECT_NE(c.message.find("/tmp/model"), std::string::npos) << c.message;
  const Node& d = NodeOf(s, "opt");
  EXPECT_EQ(d.phase, NodePhase::kSucceeded);
  EXPECT_TRUE(d.output_artifacts.empty());
}

TEST_F(EngineTest, InputsAreMaterializedAndArtifactsMovedToTheStore) {
  StartEngine();
  LaunchSpec prod =
      Sh("mkdir -p /tmp/outputs/data && printf one > /tmp/outputs/data/a &&"
         " printf two > /tmp/outputs/data/b && printf model > /tmp/model.bin");
  prod.output_artifacts = {Out("data", "/tmp/outputs/data", ""),
                           Out("model", "/tmp/model.bin", "")};
  Step consumer{"cons", {"prod"}, [](const RunState& s, const RunContext& ctx) {
                  const Node* p = s.Find(StepId(ctx, "prod"));
                  LaunchSpec l =
                      Sh("cat /tmp/in/data/a /tmp/in/data/b /tmp/in/m > /tmp/out; cat "
                         "/tmp/params/x >> /tmp/out; /tmp/bin/run.sh >> /tmp/out");
                  for (const Artifact& a : p->output_artifacts) {
                    l.input_artifacts.push_back(
                        {a.name, a.name == "data" ? "/tmp/in/data" : "/tmp/in/m", a.uri});
                  }
                  l.files = {{"/tmp/params/x", "-param", false},
                             {"/tmp/bin/run.sh", "#!/bin/sh\nprintf %s -script\n", true}};
                  l.output_parameters = {Out("out", "/tmp/out", "")};
                  return l;
                }};
  std::string id = Submit(P({S("prod", prod), consumer}));
  RunState s = Finish(id);
  for (const auto& [nid, n] : s.nodes) EXPECT_NE(n.phase, NodePhase::kFailed) << n.message;
  ASSERT_EQ(s.phase, RunPhase::kSucceeded) << s.message;
  const Node& p = NodeOf(s, "prod");
  ASSERT_EQ(p.output_artifacts.size(), 2u);
  for (const Artifact& a : p.output_artifacts) {
    EXPECT_EQ(a.uri.rfind(engine_->PipelineRoot("team-a", id), 0), 0u) << a.uri;
    std::string host = engine_->ArtifactHostPath(a.uri);
    ASSERT_FALSE(host.empty()) << a.uri;
    EXPECT_TRUE(fs::exists(host)) << host;
  }
  EXPECT_EQ(*ReadFile(engine_->ArtifactHostPath(p.output_artifacts[0].uri) + "/b"), "two");
  // Moved, not copied: the task's own directory no longer holds it.
  const std::string task_tmp = options_.data_dir + "/runs/team-a/" + id + "/" + p.id;
  EXPECT_TRUE(fs::is_directory(task_tmp + "/outputs")) << task_tmp;
  EXPECT_FALSE(fs::exists(task_tmp + "/outputs/data"));
  const Node& c = NodeOf(s, "cons");
  EXPECT_EQ(c.output_parameters.at("out"), json::value("onetwomodel-param-script"));
  // Outside the store: refused.
  EXPECT_EQ(engine_->ArtifactHostPath("file:///etc/passwd"), "");
  EXPECT_EQ(engine_->ArtifactHostPath("file://" + options_.data_dir + "/artifacts/../db"), "");
}

TEST_F(EngineTest, ExecutorOutputOverridesOutputFiles) {
  StartEngine();
  LaunchSpec l =
      Sh("printf file > /tmp/p; printf m > /tmp/m; printf '%s' "
         "'{\"parameterValues\":{\"p\":\"override\",\"q\":5},"
         "\"artifacts\":{\"m\":{\"artifacts\":[{\"metadata\":{\"accuracy\":0.9}}]}}}' > "
         "/tmp/exec/output.json");
  l.argv[2] = "mkdir -p /tmp/exec; " + l.argv[2];
  l.output_parameters = {Out("p", "/tmp/p", "")};
  l.output_artifacts = {Out("m", "/tmp/m", "system.Metrics")};
  l.executor_output_path = "/tmp/exec/output.json";
  std::string id = Submit(P({S("a", l)}));
  RunState s = Finish(id);
  ASSERT_EQ(s.phase, RunPhase::kSucceeded) << s.message;
  const Node& n = NodeOf(s, "a");
  EXPECT_EQ(n.output_parameters.at("p"), json::value("override"));
  EXPECT_EQ(n.output_parameters.at("q"), json::value(5));
  ASSERT_EQ(n.output_artifacts.size(), 1u);
  EXPECT_EQ(n.output_artifacts[0].type, "system.Metrics");
  EXPECT_EQ(n.output_artifacts[0].metadata.at("accuracy"), json::value(0.9));
}

TEST_F(EngineTest, RetriesWithBackoffPerPolicy) {
  StartEngine();
  LaunchSpec fail = Sh("echo attempt; exit 3");
  fail.retry.limit = 2;
  fail.retry.backoff_ms = 150;
  fail.retry.factor = 2;
  LaunchSpec on_error_exit = Sh("exit 3");
  on_error_exit.retry.limit = 2;
  on_error_exit.retry.on = RetryPolicy::On::kOnError;
  LaunchSpec on_error_missing = Sh("true");
  on_error_missing.output_parameters = {Out("x", "/tmp/x", "")};
  on_error_missing.retry.limit = 1;
  on_error_missing.retry.on = RetryPolicy::On::kOnError;
  LaunchSpec on_failure_missing = on_error_missing;
  on_failure_missing.retry.on = RetryPolicy::On::kOnFailure;
  LaunchSpec always = Sh("exit 1");
  always.retry.limit = 1;
  always.retry.on = RetryPolicy::On::kAlways;
  // Succeeds on its second attempt (a file outside its /tmp remembers the first).
  LaunchSpec second = Sh("if [ -e " + Shared("second") + " ]; then exit 0; fi; touch " +
                         Shared("second") + "; exit 1");
  second.retry.limit = 3;
  // Each attempt gets a /tmp of its own: the retry does not see what the first one wrote.
  LaunchSpec fresh = Sh("if [ -e /tmp/mark ]; then exit 5; fi; touch /tmp/mark; exit 1");
  fresh.retry.limit = 1;
  std::string id =
      Submit(P({S("fail", fail), S("onerr_exit", on_error_exit), S("onerr_miss", on_error_missing),
                S("onfail_miss", on_failure_missing), S("always", always), S("second", second),
                S("fresh", fresh)}));
  RunState s = Finish(id);
  EXPECT_EQ(s.phase, RunPhase::kFailed);

  const Node& f = NodeOf(s, "fail");
  EXPECT_EQ(f.phase, NodePhase::kFailed);
  EXPECT_EQ(f.attempts, 3);
  EXPECT_EQ(f.exit_code, 3);
  EXPECT_NE(f.message.find("exit code 3"), std::string::npos) << f.message;
  EXPECT_NE(f.message.find("after 3 attempts"), std::string::npos) << f.message;
  // Back-off: 150 ms, then 300 ms.
  EXPECT_GE(f.finished_at_ms - f.started_at_ms, 450);
  Record rec = *catalog_->Get(Kind::kRun, id);
  std::string log = *ReadFile(engine_->LogPath(rec, f.id));
  size_t count = 0;
  for (size_t p = log.find("attempt"); p != std::string::npos; p = log.find("attempt", p + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 3u) << log;

  const Node& e = NodeOf(s, "onerr_exit");
  EXPECT_EQ(e.phase, NodePhase::kFailed);
  EXPECT_EQ(e.attempts, 1);
  const Node& m = NodeOf(s, "onerr_miss");
  EXPECT_EQ(m.phase, NodePhase::kError);
  EXPECT_EQ(m.attempts, 2);
  const Node& fm = NodeOf(s, "onfail_miss");
  EXPECT_EQ(fm.phase, NodePhase::kError);
  EXPECT_EQ(fm.attempts, 1);
  const Node& a = NodeOf(s, "always");
  EXPECT_EQ(a.phase, NodePhase::kFailed);
  EXPECT_EQ(a.attempts, 2);
  const Node& sec = NodeOf(s, "second");
  EXPECT_EQ(sec.phase, NodePhase::kSucceeded);
  EXPECT_EQ(sec.attempts, 2);
  EXPECT_TRUE(sec.message.empty()) << sec.message;
  const Node& fr = NodeOf(s, "fresh");
  EXPECT_EQ(fr.attempts, 2);
  EXPECT_EQ(fr.exit_code, 1) << fr.message;
}

TEST_F(EngineTest, ANodesLogIsBesideItsDirectoryOrWhereEarlierVersionsKeptIt) {
  StartEngine();
  Record rec;
  rec.ns = "team-a";
  rec.id = "old-run";
  const std::string run_dir = options_.data_dir + "/runs/team-a/old-run";
  fs::create_directories(run_dir + "/n1");
  std::ofstream(run_dir + "/n1/log") << "old\n";
  EXPECT_EQ(engine_->LogPath(rec, "n1"), run_dir + "/n1/log");
  EXPECT_EQ(*ReadFile(engine_->LogPath(rec, "n1")), "old\n");
  EXPECT_EQ(engine_->LogPath(rec, "n2"), run_dir + "/n2.log");
}

TEST_F(EngineTest, TimeoutKillsTheTask) {
  StartEngine();
  LaunchSpec l = Sh("sleep 30");
  l.timeout_ms = 200;
  auto t0 = std::chrono::steady_clock::now();
  std::string id = Submit(P({S("slow", l)}));
  RunState s = Finish(id);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
  EXPECT_EQ(s.phase, RunPhase::kFailed);
  const Node& n = NodeOf(s, "slow");
  EXPECT_EQ(n.phase, NodePhase::kFailed);
  EXPECT_NE(n.message.find("timed out"), std::string::npos) << n.message;
}

TEST_F(EngineTest, TerminateKillsRunningTasksAndFailsTheRun) {
  StartEngine();
  std::string id = Submit(P({S("slow", "sleep 30"), S("after", "true", {"slow"})}));
  WaitRunning(id, "slow");
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(engine_->Terminate(id).ok());
  RunState s = Finish(id);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
  EXPECT_EQ(s.phase, RunPhase::kFailed);
  EXPECT_EQ(s.shutdown, "Terminate");
  const Node& n = NodeOf(s, "slow");
  EXPECT_EQ(n.phase, NodePhase::kFailed);
  EXPECT_EQ(n.message, "terminated");
  for (const auto& [nid, node] : s.nodes) EXPECT_NE(node.display_name, "after");
  EXPECT_EQ(KfpRunState(catalog_->Get(Kind::kRun, id)->status), "CANCELED");
  EXPECT_EQ(engine_->Terminate(id).code(), Code::kFailedPrecondition);
  EXPECT_EQ(engine_->Terminate("nope").code(), Code::kNotFound);
}

// Every step records when its process started and ended (ns); returns the most that overlapped.
int MaxOverlap(const RunState& s) {
  std::vector<std::pair<int64_t, int>> events;
  for (const auto& [id, n] : s.nodes) {
    if (n.type != "Pod") continue;
    events.emplace_back(n.output_parameters.at("start").as_int64(), +1);
    events.emplace_back(n.output_parameters.at("end").as_int64(), -1);
  }
  std::sort(events.begin(), events.end());
  int cur = 0, best = 0;
  for (auto [t, d] : events) best = std::max(best, cur += d);
  return best;
}

std::vector<Step> Timed(int n) {
  std::vector<Step> steps;
  for (int i = 0; i < n; ++i) {
    LaunchSpec l = Sh("date +%s%N > /tmp/start; sleep 0.2; date +%s%N > /tmp/end");
    l.output_parameters = {Out("start", "/tmp/start", "NUMBER_INTEGER"),
                           Out("end", "/tmp/end", "NUMBER_INTEGER")};
    steps.push_back(S("t" + std::to_string(i), l));
  }
  return steps;
}

TEST_F(EngineTest, GlobalParallelismIsNeverExceeded) {
  options_.max_parallel_tasks = 2;
  StartEngine();
  std::string a = Submit(P(Timed(4)));
  std::string b = Submit(P(Timed(4)));
  RunState sa = Finish(a), sb = Finish(b);
  ASSERT_EQ(sa.phase, RunPhase::kSucceeded) << sa.message;
  ASSERT_EQ(sb.phase, RunPhase::kSucceeded) << sb.message;
  RunState both = sa;
  for (auto& [id, n] : sb.nodes) both.nodes[id + "-b"] = n;
  EXPECT_LE(MaxOverlap(both), 2);
  EXPECT_GE(MaxOverlap(both), 2);  // the limit is used, not just respected
}

TEST_F(EngineTest, ProgramParallelismIsNeverExceeded) {
  StartEngine();
  std::string a = Submit(P(Timed(4), /*parallelism=*/1));
  RunState s = Finish(a);
  ASSERT_EQ(s.phase, RunPhase::kSucceeded) << s.message;
  EXPECT_EQ(MaxOverlap(s), 1);
}

TEST_F(EngineTest, ConcurrentRunsQuotaMakesASecondRunWait) {
  options_.concurrent_runs_limit = [](const std::string& ns) { return ns == "team-a" ? 1 : 0; };
  StartEngine();
  std::string gate = Shared("gate");
  std::string a = Submit(P({S("wait", "while [ ! -e " + gate + " ]; do sleep 0.02; done")}));
  WaitRunning(a, "wait");
  std::string b = Submit(P({S("quick", "true")}));
  std::string other = Submit(P({S("quick", "true")}), {}, "team-b");
  EXPECT_EQ(Finish(other).phase, RunPhase::kSucceeded);
  ASSERT_TRUE(WaitUntil([&] { return State(b).message.find("waiting") != std::string::npos; }));
  engine_->WaitIdle();
  RunState sb = State(b);
  EXPECT_EQ(sb.phase, RunPhase::kPending);
  EXPECT_NE(sb.message.find("team-a"), std::string::npos) << sb.message;
  EXPECT_TRUE(sb.nodes.empty());
  ASSERT_TRUE(WriteFileAtomic(gate, "", 0644).ok());
  RunState sa = Finish(a);
  sb = Finish(b);
  EXPECT_EQ(sa.phase, RunPhase::kSucceeded);
  EXPECT_EQ(sb.phase, RunPhase::kSucceeded);
  EXPECT_GE(sb.started_at_ms, sa.finished_at_ms);
  // At once, not at the next periodic quota check (1 s).
  EXPECT_LT(sb.started_at_ms - sa.finished_at_ms, 900);
}

LaunchSpec Cacheable() {
  LaunchSpec l = Sh("echo ran; printf v > /tmp/p; printf art > /tmp/a");
  l.output_parameters = {Out("p", "/tmp/p", "")};
  l.output_artifacts = {Out("a", "/tmp/a", "")};
  l.cache_key = "key-1";
  return l;
}

TEST_F(EngineTest, CacheHitReusesOutputsWithoutRunning) {
  StartEngine();
  std::string first = Submit(P({S("c", Cacheable())}));
  RunState s1 = Finish(first);
  ASSERT_EQ(s1.phase, RunPhase::kSucceeded) << s1.message;
  const Node& n1 = NodeOf(s1, "c");
  EXPECT_FALSE(n1.cached);

  std::string second = Submit(P({S("c", Cacheable())}));
  RunState s2 = Finish(second);
  ASSERT_EQ(s2.phase, RunPhase::kSucceeded) << s2.message;
  const Node& n2 = NodeOf(s2, "c");
  EXPECT_TRUE(n2.cached);
  EXPECT_EQ(n2.cached_from, first + "/" + n1.id);
  EXPECT_EQ(n2.attempts, 0);
  EXPECT_EQ(n2.output_parameters.at("p"), json::value("v"));
  ASSERT_EQ(n2.output_artifacts.size(), 1u);
  EXPECT_EQ(n2.output_artifacts[0].uri, n1.output_artifacts[0].uri);
  Record rec2 = *catalog_->Get(Kind::kRun, second);
  EXPECT_FALSE(fs::exists(engine_->LogPath(rec2, n2.id)));  // no process started

  // Caching off for the run: it runs.
  std::string third = Submit(P({S("c", Cacheable())}), {{"enable_caching", false}});
  RunState s3 = Finish(third);
  const Node& n3 = NodeOf(s3, "c");
  EXPECT_FALSE(n3.cached);
  EXPECT_EQ(n3.attempts, 1);

  // The cached artifact is gone: no hit.
  fs::remove_all(engine_->ArtifactHostPath(n1.output_artifacts[0].uri));
  std::string fourth = Submit(P({S("c", Cacheable())}));
  RunState s4 = Finish(fourth);
  const Node& n4 = NodeOf(s4, "c");
  EXPECT_FALSE(n4.cached);
  EXPECT_EQ(n4.attempts, 1);

  // That execution is now the cache entry.
  std::string fifth = Submit(P({S("c", Cacheable())}));
  RunState s5 = Finish(fifth);
  const Node& n5 = NodeOf(s5, "c");
  EXPECT_TRUE(n5.cached);
  EXPECT_EQ(n5.cached_from, fourth + "/" + n4.id);
  EXPECT_EQ(n5.output_artifacts[0].uri, n4.output_artifacts[0].uri);
}

// An IR artifact the task only described (Output[Metrics] with log_metric: no file) is stored
// as nothing; a cache hit does not look for it.
TEST_F(EngineTest, MetadataOnlyArtifactsDoNotDefeatTheCache) {
  StartEngine();
  auto spec = [] {
    LaunchSpec l =
        Sh("mkdir -p /tmp/exec && printf '%s' "
           "'{\"artifacts\":{\"metrics\":{\"artifacts\":[{\"metadata\":{\"accuracy\":0.9}}]}}}' "
           "> /tmp/exec/out.json");
    l.output_artifacts = {Out("metrics", "/tmp/metrics", "system.Metrics")};
    l.executor_output_path = "/tmp/exec/out.json";
    l.cache_key = "metrics-key";
    return l;
  };
  RunState s1 = Finish(Submit(P({S("m", spec())})));
  ASSERT_EQ(s1.phase, RunPhase::kSucceeded) << s1.message;
  const Node& n1 = NodeOf(s1, "m");
  ASSERT_EQ(n1.output_artifacts.size(), 1u);
  EXPECT_EQ(n1.output_artifacts[0].metadata.at("accuracy"), json::value(0.9));
  EXPECT_EQ(*engine_->artifacts().Exists(n1.output_artifacts[0].uri), false);
  RunState s2 = Finish(Submit(P({S("m", spec())})));
  const Node& n2 = NodeOf(s2, "m");
  EXPECT_TRUE(n2.cached);
  EXPECT_EQ(n2.attempts, 0);
  ASSERT_EQ(n2.output_artifacts.size(), 1u);
  EXPECT_EQ(n2.output_artifacts[0].metadata.at("accuracy"), json::value(0.9));
}

TEST_F(EngineTest, RetryOfAFailedRunRerunsOnlyFailedNodes) {
  StartEngine();
  auto fail = std::make_shared<std::atomic<bool>>(true);
  Step flaky{"flaky", {"ok"}, [fail](const RunState&, const RunContext&) {
               return Sh(fail->load() ? "exit 1" : "true");
             }};
  std::string id = Submit(P({S("ok", "true"), flaky, S("last", "true", {"flaky"})}));
  RunState s1 = Finish(id);
  ASSERT_EQ(s1.phase, RunPhase::kFailed);
  const Node ok1 = NodeOf(s1, "ok");
  EXPECT_EQ(NodeOf(s1, "flaky").phase, NodePhase::kFailed);
  EXPECT_EQ(engine_->Retry(id + "x").code(), Code::kNotFound);

  fail->store(false);
  ASSERT_TRUE(engine_->Retry(id).ok());
  ASSERT_TRUE(WaitUntil([&] { return State(id).phase == RunPhase::kSucceeded; }));
  engine_->WaitIdle();
  RunState s2 = State(id);
  const Node& ok2 = NodeOf(s2, "ok");
  EXPECT_EQ(ok2.attempts, 1);
  EXPECT_EQ(ok2.started_at_ms, ok1.started_at_ms);
  EXPECT_EQ(ok2.finished_at_ms, ok1.finished_at_ms);
  EXPECT_EQ(NodeOf(s2, "flaky").phase, NodePhase::kSucceeded);
  EXPECT_EQ(NodeOf(s2, "last").phase, NodePhase::kSucceeded);
  EXPECT_EQ(engine_->Retry(id).code(), Code::kFailedPrecondition);
}

// The real store, but for saves of a run's state (commits of a status record without the run's
// document), the first `failures` of which fail as a full disk would.
class FailingSaves : public skiff::testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  std::atomic<int> failures{0};
  std::function<void()> on_failure;  // set before the failures

  Result<std::vector<store::Object>> Commit(std::vector<store::Mutation> mutations) override {
    bool status = false, document = false;
    for (const store::Mutation& m : mutations) {
      status = status || m.key.resource == "runstatuses.pipelines.kubeflow.org";
      document = document || m.key.resource == "runs.pipelines.kubeflow.org";
    }
    if (status && !document) {
      for (int left = failures.load(); left > 0;) {
        if (failures.compare_exchange_weak(left, left - 1)) {
          if (on_failure) on_failure();
          return Status(Code::kResourceExhausted, "disk full (a test's store)");
        }
      }
    }
    return ForwardingStore::Commit(std::move(mutations));
  }
};

// A save that fails is tried again (not at once, not never), and the tasks whose start it would
// have recorded wait for it: each runs once.
TEST_F(EngineTest, AFailedSaveIsTriedAgainAndTasksWaitForIt) {
  FailingSaves* saves = nullptr;
  ASSERT_NO_FATAL_FAILURE(WrapStore(&saves));
  StartEngine();
  // The second failure comes a second after the first: a task started without waiting for its
  // state to be saved would have run by then.
  std::atomic<bool> ran_unsaved = false;
  saves->on_failure = [&] { ran_unsaved = ran_unsaved || fs::exists(Shared("a")); };
  saves->failures = 2;
  std::string id = Submit(P({S("a", "echo run >> " + Shared("a")), S("b", "true", {"a"})}));
  RunState s = Finish(id);
  EXPECT_EQ(s.phase, RunPhase::kSucceeded) << s.message;
  EXPECT_EQ(saves->failures.load(), 0);
  EXPECT_FALSE(ran_unsaved);
  EXPECT_EQ(NodeOf(s, "a").attempts, 1);
  EXPECT_EQ(NodeOf(s, "b").attempts, 1);
  std::ifstream ran(Shared("a"));
  std::string text((std::istreambuf_iterator<char>(ran)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "run\n");
}

// Records the phase each save of a run's status wrote and whether the store was asked to make
// it durable.
class RecordingSaves : public skiff::testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  std::mutex mu;
  std::vector<std::pair<std::string, bool>> saves;  // (status.phase, durable)

  Result<std::vector<store::Object>> Commit(std::vector<store::Mutation> mutations) override {
    bool durable = false;
    std::string phase;
    for (const store::Mutation& m : mutations) {
      durable = durable || m.durable;
      if (m.key.resource != "runstatuses.pipelines.kubeflow.org") continue;
      if (const json::value* st = m.object.if_contains("status"); st && st->is_object()) {
        phase = GetString(st->get_object(), "phase");
      }
    }
    if (!phase.empty()) {
      std::lock_guard lock(mu);
      saves.emplace_back(phase, durable);
    }
    return ForwardingStore::Commit(std::move(mutations));
  }
};

// A running run's progress is saved without waiting for the disk (store::Mutation::durable);
// the save of its end is durable, as is the run's creation.
TEST_F(EngineTest, ProgressIsSavedNonDurablyAndTheEndDurably) {
  RecordingSaves* saves = nullptr;
  ASSERT_NO_FATAL_FAILURE(WrapStore(&saves));
  StartEngine();
  std::string id = Submit(P({S("a", "true"), S("b", "true", {"a"})}));
  RunState s = Finish(id);
  ASSERT_EQ(s.phase, RunPhase::kSucceeded) << s.message;
  std::lock_guard lock(saves->mu);
  ASSERT_FALSE(saves->saves.empty());
  int running = 0;
  for (const auto& [phase, durable] : saves->saves) {
    if (phase == "Running") {
      ++running;
      EXPECT_FALSE(durable) << "a save of a running run's progress was durable";
    }
  }
  EXPECT_GE(running, 2);  // a started, b started (a's end with it)
  EXPECT_EQ(saves->saves.back().first, "Succeeded");
  EXPECT_TRUE(saves->saves.back().second) << "the save of the run's end was not durable";
}

TEST_F(EngineTest, RestartRetriesOrFailsInterruptedTasksPerPolicy) {
  // Retried: covers errors; its second attempt ends at once.
  std::string marker = Shared("ran");
  LaunchSpec retried =
      Sh("if [ -e " + marker + " ]; then exit 0; fi; touch " + marker + "; sleep 30");
  retried.retry.limit = 1;
  retried.retry.on = RetryPolicy::On::kAlways;
  // Failed: its policy covers failures only.
  LaunchSpec failed = Sh("sleep 30");
  failed.retry.limit = 3;
  failed.retry.on = RetryPolicy::On::kOnFailure;
  StartEngine();
  std::string a = Submit(P({S("done", "true"), S("r", retried, {"done"})}));
  std::string b = Submit(P({S("f", failed)}));
  WaitRunning(a, "r");
  WaitRunning(b, "f");
  ASSERT_TRUE(WaitUntil([&] { return fs::exists(marker); }));
  const Node done1 = NodeOf(State(a), "done");
  const NodeDocPtr done_doc = DocOf(a, "done");
  engine_->Stop();
  launcher_->Shutdown();  // every done() has been called: the old engine can go
  engine_.reset();
  EXPECT_EQ(NodeOf(State(a), "r").phase, NodePhase::kRunning);  // as after a crash

  launcher_ = std::make_unique<TaskLauncher>();
  StartEngine();
  RunState sa = Finish(a), sb = Finish(b);
  EXPECT_EQ(sa.phase, RunPhase::kSucceeded) << sa.message;
  const Node& r = NodeOf(sa, "r");
  EXPECT_EQ(r.attempts, 2);
  EXPECT_EQ(r.phase, NodePhase::kSucceeded);
  const Node& done2 = NodeOf(sa, "done");
  EXPECT_EQ(done2.attempts, 1);
  EXPECT_EQ(done2.finished_at_ms, done1.finished_at_ms);
  // The node that did not change is the same stored object in every later version of the run,
  // across the restart too: writes build only what changed.
  EXPECT_EQ(DocOf(a, "done"), done_doc);
  EXPECT_EQ(sb.phase, RunPhase::kFailed);
  const Node& f = NodeOf(sb, "f");
  EXPECT_EQ(f.phase, NodePhase::kError);
  EXPECT_EQ(f.attempts, 1);
  EXPECT_NE(f.message.find("skiff stopped"), std::string::npos) << f.message;
}

// Stop kills tasks without waiting for them: their done() comes after the engine may be gone
// (the engine must not be reached through a dangling pointer; ASan builds catch it).
TEST_F(EngineTest, EngineDestroyedBeforeItsKilledTasksReportIsSafe) {
  StartEngine();
  std::string id = Submit(P({S("slow", "trap '' TERM; sleep 30")}));
  WaitRunning(id, "slow");
  engine_->Stop();
  engine_.reset();
  launcher_->Shutdown();  // waits for every done(), which now finds no engine
  EXPECT_EQ(NodeOf(State(id), "slow").phase, NodePhase::kRunning);
}

// A task reads artifacts of its own namespace only, whatever URI its spec names.
TEST_F(EngineTest, InputArtifactsOfAnotherNamespaceAreRefused) {
  StartEngine();
  LaunchSpec prod = Sh("printf secret > /tmp/a");
  prod.output_artifacts = {Out("a", "/tmp/a")};
  std::string theirs = Submit(P({S("prod", prod)}), {}, "team-b");
  RunState sb = Finish(theirs);
  ASSERT_EQ(sb.phase, RunPhase::kSucceeded) << sb.message;
  std::string uri = NodeOf(sb, "prod").output_artifacts.at(0).uri;
  LaunchSpec steal = Sh("cat /tmp/in > /tmp/out");
  steal.input_artifacts = {{"a", "/tmp/in", uri}};
  steal.output_parameters = {Out("out", "/tmp/out")};
  RunState sa = Finish(Submit(P({S("steal", steal)}), {}, "team-a"));
  const Node& n = NodeOf(sa, "steal");
  EXPECT_EQ(n.phase, NodePhase::kError);
  EXPECT_NE(n.message.find("team-a"), std::string::npos) << n.message;
  EXPECT_TRUE(n.output_parameters.empty());
}

// A store whose Put waits until the test opens it (a slow or stuck S3).
class GatedStore : public ArtifactStore {
 public:
  explicit GatedStore(std::string dir) : inner_(MakeLocalArtifactStore(std::move(dir))) {}
  std::string Root() const override { return inner_->Root(); }
  bool Owns(std::string_view uri) const override { return inner_->Owns(uri); }
  Status Put(const std::string& host_path, const std::string& uri) override {
    std::unique_lock lock(mu_);
    ++waiting_;
    cv_.wait_for(lock, 30s, [&] { return open_; });
    return inner_->Put(host_path, uri);
  }
  Status CopyTo(const std::string& uri, const std::string& dest) override {
    return inner_->CopyTo(uri, dest);
  }
  Result<bool> Exists(const std::string& uri) override { return inner_->Exists(uri); }
  Result<LocalArtifact> Open(const std::string& uri) override { return inner_->Open(uri); }
  std::string HostPath(std::string_view uri) const override { return inner_->HostPath(uri); }
  void OpenGate() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  int waiting() {
    std::lock_guard lock(mu_);
    return waiting_;
  }

 private:
  std::unique_ptr<ArtifactStore> inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  int waiting_ = 0;
};

// Storing artifacts happens off the engine's thread: while one task's upload hangs, other runs
// progress and Terminate is handled.
TEST_F(EngineTest, ASlowArtifactStoreDelaysOnlyItsOwnTask) {
  auto store = std::make_shared<GatedStore>(options_.data_dir + "/artifacts");
  options_.artifacts = store;
  StartEngine();
  LaunchSpec l = Sh("printf x > /tmp/a");
  l.output_artifacts = {Out("a", "/tmp/a")};
  // More hung uploads than there are transfer workers.
  std::vector<std::string> slow;
  for (int i = 0; i < 6; ++i) slow.push_back(Submit(P({S("up", l)})));
  ASSERT_TRUE(WaitUntil([&] { return store->waiting() >= 4; }));
  std::string quick = Submit(P({S("q", "true")}));
  EXPECT_EQ(Finish(quick, 10s, /*idle=*/false).phase, RunPhase::kSucceeded);
  std::string doomed = Submit(P({S("slow", "sleep 30")}));
  WaitRunning(doomed, "slow");
  ASSERT_TRUE(engine_->Terminate(doomed).ok());
  EXPECT_EQ(Finish(doomed, 10s, /*idle=*/false).phase, RunPhase::kFailed);
  EXPECT_EQ(NodeOf(State(slow[0]), "up").phase, NodePhase::kRunning);  // still storing
  store->OpenGate();
  for (const std::string& id : slow) {
    RunState s = Finish(id);
    EXPECT_EQ(s.phase, RunPhase::kSucceeded) << s.message;
    ASSERT_EQ(NodeOf(s, "up").output_artifacts.size(), 1u);
  }
}

TEST_F(EngineTest, ArtifactsGoToS3AndComeBackFromIt) {
  auto server = skiff::testing::S3rver::Start((base_ / "shared").string(), "kfp");
  ASSERT_TRUE(server) << server.error().ToString();
  S3ArtifactStoreOptions so;
  so.uri = "s3://kfp/artifacts";
  so.s3 = skiff::testing::S3rverOptions(**server);
  so.scratch_dir = (base_ / "scratch").string();
  auto store = MakeS3ArtifactStore(so, SystemClock());
  ASSERT_TRUE(store) << store.error().ToString();
  options_.artifacts = std::move(*store);
  StartEngine();
  EXPECT_EQ(engine_->PipelineRoot("team-a", "r"), "s3://kfp/artifacts/team-a/r");
  EXPECT_EQ(engine_->ArtifactHostPath("s3://kfp/artifacts/team-a/r/x"), "");

  LaunchSpec prod =
      Sh("mkdir -p /tmp/outputs/data/sub && printf one > /tmp/outputs/data/a &&"
         " printf two > /tmp/outputs/data/sub/b && printf model > /tmp/model.bin");
  prod.output_artifacts = {Out("data", "/tmp/outputs/data"), Out("model", "/tmp/model.bin")};
  prod.cache_key = "s3-producer";
  Step consumer{"cons", {"prod"}, [](const RunState& s, const RunContext& ctx) {
                  const Node* p = s.Find(StepId(ctx, "prod"));
                  LaunchSpec l = Sh("cat /tmp/in/data/a /tmp/in/data/sub/b /tmp/in/m > /tmp/out");
                  for (const Artifact& a : p->output_artifacts) {
                    l.input_artifacts.push_back(
                        {a.name, a.name == "data" ? "/tmp/in/data" : "/tmp/in/m", a.uri});
                  }
                  l.output_parameters = {Out("out", "/tmp/out")};
                  return l;
                }};
  // IR-style: the task writes where ArtifactLocalPath puts an s3:// URI under the run's root.
  Step ir{"ir", {}, [](const RunState&, const RunContext& ctx) {
            std::string local = "/tmp/skiff/artifacts/" + ctx.pipeline_root.substr(5) + "/ir/m";
            LaunchSpec l = Sh("mkdir -p $(dirname " + local + ") && printf ir > " + local);
            l.output_artifacts = {Out("m", local)};
            return l;
          }};
  std::string id = Submit(P({S("prod", prod), consumer, ir}));
  RunState s = Finish(id);
  for (const auto& [nid, n] : s.nodes) EXPECT_NE(n.phase, NodePhase::kError) << n.message;
  ASSERT_EQ(s.phase, RunPhase::kSucceeded) << s.message;
  const Node& p = NodeOf(s, "prod");
  ASSERT_EQ(p.output_artifacts.size(), 2u);
  EXPECT_EQ(p.output_artifacts[0].uri, "s3://kfp/artifacts/team-a/" + id + "/" + p.id + "/data");
  EXPECT_EQ(NodeOf(s, "cons").output_parameters.at("out"), json::value("onetwomodel"));
  const Node& irn = NodeOf(s, "ir");
  ASSERT_EQ(irn.output_artifacts.size(), 1u);
  EXPECT_EQ(irn.output_artifacts[0].uri, "s3://kfp/artifacts/team-a/" + id + "/ir/m");

  // Through the store, as the API reads it.
  auto open = engine_->artifacts().Open(p.output_artifacts[1].uri);
  ASSERT_TRUE(open) << open.error().ToString();
  EXPECT_EQ(*ReadFile(open->path), "model");
  RemoveLocalArtifact(*open);
  http::S3Client client(skiff::testing::S3rverOptions(**server), SystemClock());
  auto keys = client.List("kfp", "artifacts/team-a/" + id + "/", 1000, 1000,
                          std::chrono::steady_clock::now() + 20s, 10s);
  ASSERT_TRUE(keys);
  EXPECT_EQ(keys->size(), 4u);

  // The cache hit needs the objects: present, it is used; deleted, the task runs again.
  std::string second = Submit(P({S("prod", prod)}));
  RunState s2 = Finish(second);
  EXPECT_TRUE(NodeOf(s2, "prod").cached);
  for (const auto& o : *keys) {
    if (o.key.find("/data/") == std::string::npos) continue;
    auto req = client.Prepare("DELETE", "kfp", o.key, {}, http::sigv4::kEmptyPayloadHash, 10s);
    auto resp = http::Fetch(req);
    ASSERT_TRUE(resp && resp->status / 100 == 2);
  }
  std::string third = Submit(P({S("prod", prod)}));
  RunState s3 = Finish(third);
  EXPECT_FALSE(NodeOf(s3, "prod").cached);
  EXPECT_EQ(NodeOf(s3, "prod").attempts, 1);
  engine_->Stop();
}

}  // namespace
}  // namespace skiff::pipelines
