#include "pipelines/engine.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <variant>

#include "core/fs.hpp"
#include "core/log.hpp"
#include "pipelines/lightweight.hpp"

namespace skiff::pipelines {

namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxOutputParameterBytes = 1 << 20;
// Node::state key: names of output artifacts the task did not write (metadata only: nothing
// stored), so that a cache hit does not look for them in the store.
constexpr std::string_view kUnstored = "unstoredArtifacts";
constexpr std::string_view kLocalArtifactPrefix = "/tmp/skiff/artifacts/";

bool CoversFailure(RetryPolicy::On on) { return on != RetryPolicy::On::kOnError; }
bool CoversError(RetryPolicy::On on) { return on != RetryPolicy::On::kOnFailure; }

int64_t BackoffMs(const RetryPolicy& p, int retry_number) {
  if (p.backoff_ms <= 0) return 0;
  double ms = static_cast<double>(p.backoff_ms) * std::pow(p.factor, retry_number - 1);
  if (p.max_backoff_ms > 0) ms = std::min(ms, static_cast<double>(p.max_backoff_ms));
  return static_cast<int64_t>(std::min(ms, 86'400'000.0));
}

// A parameter file's text as a value of `type`.
Result<json::value> TypedValue(const std::string& text, const std::string& type,
                               const std::string& name) {
  if (type.empty() || type == "STRING") return json::value(text);
  auto v = ParseJson(text);
  bool ok = false;
  if (v) {
    if (type == "NUMBER_INTEGER") {
      ok = v->is_int64() || v->is_uint64();
    } else if (type == "NUMBER_DOUBLE") {
      ok = v->is_number();
    } else if (type == "BOOLEAN") {
      ok = v->is_bool();
    } else if (type == "LIST") {
      ok = v->is_array();
    } else if (type == "STRUCT") {
      ok = v->is_object();
    } else {
      ok = true;
    }
  }
  if (!ok) {
    return InvalidArgument("output parameter \"" + name + "\": \"" + text.substr(0, 80) +
                           "\" is not a " + type);
  }
  return std::move(*v);
}

// `path` (as the task saw it, under /tmp) on the host, for a task whose /tmp is `tmp`.
Result<std::string> HostPathIn(const std::string& tmp, std::string_view path) {
  if (path.rfind("/tmp/", 0) != 0 && path != "/tmp") {
    return InvalidArgument("path \"" + std::string(path) + "\" is not under /tmp");
  }
  fs::path p = fs::path(std::string(path)).lexically_normal();
  if (p.string().rfind("/tmp", 0) != 0) {
    return InvalidArgument("path \"" + std::string(path) + "\" leaves /tmp");
  }
  return tmp + p.string().substr(4);
}

}  // namespace

std::string KfpRunState(const json::object& status) {
  std::string phase = GetString(status, "phase");
  bool shutdown = !GetString(status, "shutdown").empty();
  if (phase.empty() || phase == "Pending") return shutdown ? "CANCELING" : "PENDING";
  if (phase == "Running") return shutdown ? "CANCELING" : "RUNNING";
  if (phase == "Succeeded") return "SUCCEEDED";
  return shutdown ? "CANCELED" : "FAILED";
}

// Argo's retry of a failed run: failed nodes (and everything under them) go, their ancestors
// run again; succeeded and skipped nodes stay.
void ResetFailedNodes(RunState& s) {
  std::set<std::string> remove;
  std::function<void(const std::string&)> subtree = [&](const std::string& id) {
    if (!remove.insert(id).second) return;
    if (const Node* n = s.Find(id)) {
      for (const std::string& c : n->children) subtree(c);
    }
  };
  for (const auto& [id, n] : s.nodes) {
    bool bad = n.phase == NodePhase::kFailed || n.phase == NodePhase::kError ||
               n.phase == NodePhase::kOmitted;
    if (bad && n.type != "DAG" && n.type != "Steps" && n.type != "TaskGroup" &&
        n.type != "StepGroup") {
      subtree(id);
    }
  }
  // Containers of removed nodes run again.
  for (const std::string& id : std::set<std::string>(remove)) {
    const Node* n = s.Find(id);
    for (std::string p = n ? n->parent : std::string(); !p.empty();) {
      Node* parent = s.Find(p);
      if (parent == nullptr) break;
      parent->phase = NodePhase::kRunning;
      parent->finished_at_ms = 0;
      parent->message.clear();
      p = parent->parent;
    }
  }
  for (const std::string& id : remove) s.nodes.erase(id);
  for (auto& [id, n] : s.nodes) {
    std::erase_if(n.children, [&](const std::string& c) { return remove.contains(c); });
  }
  s.phase = RunPhase::kRunning;
  s.shutdown.clear();
  s.message.clear();
  s.finished_at_ms = 0;
  if (s.root.empty() || !s.nodes.contains(s.root)) {
    s.root.clear();
    s.nodes.clear();
    s.phase = RunPhase::kPending;
  }
}

class Engine::Impl {
 public:
  Impl(Catalog& catalog, TaskLauncher& launcher, const Clock& clock, ProgramLoader loader,
       EngineOptions options)
      : catalog_(catalog),
        launcher_(launcher),
        clock_(clock),
        loader_(std::move(loader)),
        options_(std::move(options)) {
    if (!options_.artifacts) {
      options_.artifacts = MakeLocalArtifactStore(options_.data_dir + "/artifacts");
    }
    store_ = options_.artifacts.get();
    box_->impl = this;
  }

  struct TaskDone {
    std::string run_id;
    std::string node_id;
    int attempt;
    TaskExit exit;
  };
  struct Submitted {
    std::string run_id;
  };
  struct Terminated {
    std::string run_id;
    // Set once the run's shutdown is saved, so that Terminate returns only when a GET shows the
    // run canceling.
    std::shared_ptr<std::promise<Status>> done;
  };
  struct Retried {
    std::string run_id;
    // Set once the reset state is saved (or the retry found nothing to do), so that Retry
    // returns only when a GET shows the run running again.
    std::shared_ptr<std::promise<Status>> done;
  };
  // A job started a task (or could not).
  struct Launched {
    std::string run_id;
    std::string node_id;
    int attempt;
    Result<std::unique_ptr<TaskHandle>> handle;
  };
  // A job read a finished task's outputs and stored its artifacts.
  struct Collected {
    std::string run_id;
    std::string node_id;
    int attempt;
    Status status;
    json::object parameters;
    std::vector<Artifact> artifacts;
    std::optional<std::string> result;
    json::value unstored;  // node.state's kUnstored after Collect (null: none)
  };
  // A job checked that a cache hit's artifacts are still stored.
  struct CacheChecked {
    std::string run_id;
    std::string node_id;
    RecordPtr hit;
    bool ok;
  };
  // A node chosen to start this round, started after the state saying so is persisted.
  struct Launch {
    std::string run_id;
    std::string node_id;
  };
  // One run's state to save, and how the save went.
  struct RunWrite {
    std::string run_id;
    json::object status;
    NodeDocs nodes;
    // Progress of a running run is saved without waiting for the disk (store::Mutation::durable):
    // a process crash keeps it; a power loss may lose the last of it, and the tasks it recorded
    // run again after the restart, as tasks that were running do. A run's end and a request to
    // stop it are durable.
    bool durable = true;
    Result<RecordPtr> result = Status();
  };
  // A cache entry to save (the newest execution of a cacheable task).
  struct CacheWrite {
    std::string ns;
    std::string id;
    json::object spec;
    std::string what;  // "run R node N", for the log
  };
  // A save of run states (see Save) is done: what it saved, the launches that waited for it
  // and the Terminate calls to answer.
  struct Persisted {
    std::vector<RunWrite> writes;
    std::vector<CacheWrite> caches;
    std::vector<Launch> launches;
    std::vector<std::shared_ptr<std::promise<Status>>> done;
  };
  using Event = std::variant<TaskDone, Submitted, Terminated, Retried, Launched, Collected,
                             CacheChecked, Persisted>;

  struct ActiveRun {
    RecordPtr record;
    RunState state;
    std::shared_ptr<const Program> program;
    RunContext ctx;
    std::map<std::string, std::unique_ptr<TaskHandle>> running;  // by node id
    // Nodes whose cache hit's artifacts a job is checking (not started meanwhile), and nodes
    // whose hit turned out stale (run normally).
    std::set<std::string> cache_checking;
    std::set<std::string> cache_missed;
    bool dirty = false;
    bool persisting = false;  // a save of its state is in flight
    // Each node as last saved and its stored form, by node id: a write builds the stored form
    // of changed nodes only and shares the rest with the run's previous version.
    std::map<std::string, std::pair<Node, NodeDocPtr>> saved;
  };

  Status Start() {
    SKIFF_RETURN_IF_ERROR(EnsureDirectory(options_.data_dir, 0700));
    for (const RecordPtr& r : catalog_.All(Kind::kRun)) {
      std::string phase = GetString(r->status, "phase");
      if (phase == "Succeeded" || phase == "Failed" || phase == "Error") continue;
      Resume(r);
    }
    std::vector<RunWrite> writes = TakeWrites();
    WriteRuns(catalog_, writes);
    ApplyWrites(writes);
    for (int lane = 0; lane < kLanes; ++lane) {
      for (int i = 0; i < kWorkers[lane]; ++i) {
        workers_.emplace_back([this, lane] { WorkerLoop(lane); });
      }
    }
    thread_ = std::thread([this] { Loop(); });
    return Status();
  }

  void Stop() {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    cv_.notify_all();
    for (std::condition_variable& cv : jobs_cv_) cv.notify_all();
    if (thread_.joinable()) thread_.join();
    for (std::thread& w : workers_) w.join();
    workers_.clear();
    // Tasks started by jobs whose news the loop never handled.
    std::lock_guard lock(mu_);
    for (Event& e : events_) {
      if (auto* l = std::get_if<Launched>(&e); l != nullptr && l->handle) (*l->handle)->Kill();
    }
    events_.clear();
  }

  // Runs `job` on a worker thread of `lane` (it must end with FinishJob).
  void SubmitJob(std::function<void()> job, int lane) {
    {
      std::lock_guard lock(mu_);
      ++jobs_in_flight_;
      jobs_[lane].push_back(std::move(job));
    }
    jobs_cv_[lane].notify_one();
  }

  // A job's outcome for the loop. False (and `e` left with the caller) when the engine is
  // stopping.
  bool FinishJob(Event& e) {
    {
      std::lock_guard lock(mu_);
      --jobs_in_flight_;
      if (stopping_) return false;
      events_.push_back(std::move(e));
    }
    cv_.notify_all();
    return true;
  }

  bool Stopping() {
    std::lock_guard lock(mu_);
    return stopping_;
  }

  void WorkerLoop(int lane) {
    std::deque<std::function<void()>>& queue = jobs_[lane];
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock lock(mu_);
        jobs_cv_[lane].wait(lock, [&] { return stopping_ || !queue.empty(); });
        if (stopping_) return;  // queued jobs are dropped: a restart redoes their nodes
        job = std::move(queue.front());
        queue.pop_front();
      }
      job();
    }
  }

  void Post(Event e) {
    {
      std::lock_guard lock(mu_);
      events_.push_back(std::move(e));
    }
    cv_.notify_all();
  }

  void WaitIdle() {
    std::unique_lock lock(mu_);
    idle_cv_.wait(lock,
                  [&] { return (events_.empty() && idle_ && jobs_in_flight_ == 0) || stopping_; });
  }

  std::string RunDir(const std::string& ns, const std::string& run_id) const {
    return options_.data_dir + "/runs/" + ns + "/" + run_id;
  }
  // Where a task writes its node's log.
  std::string LogFile(const std::string& ns, const std::string& run_id,
                      const std::string& node_id) const {
    return RunDir(ns, run_id) + "/" + node_id + ".log";
  }
  // The node's log to read; runs that earlier versions started keep theirs in RUN/NODE/log.
  std::string NodeLog(const std::string& ns, const std::string& run_id,
                      const std::string& node_id) const {
    std::string log = LogFile(ns, run_id, node_id);
    std::string legacy = RunDir(ns, run_id) + "/" + node_id + "/log";
    struct stat st;
    if (::stat(log.c_str(), &st) != 0 && ::stat(legacy.c_str(), &st) == 0) return legacy;
    return log;
  }
  std::string PipelineRoot(const std::string& ns, const std::string& run_id) const {
    return store_->RunRoot(ns, run_id);
  }
  std::string ArtifactHostPath(std::string_view uri) const { return store_->HostPath(uri); }

  ~Impl() {
    std::lock_guard lock(box_->mu);
    box_->impl = nullptr;
  }

  // What a task's done() callback reaches the engine through: it runs on the launcher's thread
  // and may come after the engine is destroyed (Stop kills tasks without waiting for them).
  struct PostBox {
    std::mutex mu;
    Impl* impl = nullptr;
  };
  std::shared_ptr<PostBox> box_ = std::make_shared<PostBox>();

  Catalog& catalog_;
  TaskLauncher& launcher_;
  const Clock& clock_;
  ProgramLoader loader_;
  EngineOptions options_;
  ArtifactStore* store_;  // options_.artifacts

  std::mutex mu_;  // guards events_, stopping_, idle_, jobs_, jobs_in_flight_
  std::condition_variable cv_;
  // Jobs that block on files or the network (preparing a task's inputs and starting it;
  // reading its outputs and storing its artifacts) run on workers, so that a slow artifact
  // store (S3) delays only the tasks that use it, never the loop.
  // Lanes: kTasks = jobs without artifact transfers; kTransfers = jobs that move artifacts
  // through the store (may be slow: S3), on workers of their own so that stuck transfers never
  // hold up tasks that need none; kSaves = saves of run states (one at a time, in order).
  enum Lane { kTasks, kTransfers, kSaves, kLanes };
  static constexpr int kWorkers[kLanes] = {2, 4, 1};
  // One per lane, each woken once per job (one condition for all lanes woke every worker of
  // every lane for each job: seven context switches where one will do).
  std::condition_variable jobs_cv_[kLanes];
  std::deque<std::function<void()>> jobs_[kLanes];
  int jobs_in_flight_ = 0;  // queued or running
  std::vector<std::thread> workers_;
  std::condition_variable idle_cv_;
  std::deque<Event> events_;
  bool stopping_ = false;
  bool idle_ = false;
  std::thread thread_;

  // Engine thread only.
  // Terminate calls waiting for the next save of the run states, and launches waiting for the
  // save of the state that says their node runs.
  std::vector<std::shared_ptr<std::promise<Status>>> after_persist_;
  std::vector<Launch> launches_;
  std::vector<CacheWrite> cache_writes_;  // for the next save
  bool saving_ = false;                   // a save is in flight
  int64_t save_retry_at_ = 0;             // after a failed save: not before this (ms since epoch)
  std::vector<Retried> retries_;          // retries of runs whose last save was in flight
  std::map<std::string, ActiveRun> runs_;
  int running_tasks_ = 0;

 private:
  int64_t Now() const { return catalog_.NowMs(); }

  void Loop() {
    for (;;) {
      std::deque<Event> batch;
      {
        std::unique_lock lock(mu_);
        int64_t wake = NextTimer();
        auto ready = [&] { return stopping_ || !events_.empty(); };
        if (!ready()) {
          idle_ = true;
          idle_cv_.notify_all();
          if (wake > 0) {
            int64_t wait_ms = std::max<int64_t>(1, wake - Now());
            cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), ready);
          } else {
            cv_.wait(lock, ready);
          }
        }
        idle_ = false;
        if (stopping_) break;
        batch.swap(events_);
      }
      for (Event& e : batch) Handle(std::move(e));
      // A run that ends frees its namespace's quota: runs waiting for it (visited earlier in
      // this pass) get a second pass now rather than at the next quota re-check.
      for (int pass = 0; pass < 2; ++pass) {
        bool ended = false;
        for (auto& [id, run] : runs_) {
          bool was_finished = Finished(run.state);
          Progress(run, launches_);
          ended = ended || (!was_finished && Finished(run.state));
        }
        if (!ended) break;
      }
      Save();
      // A run leaves once it ended, its tasks are gone and its last state is saved.
      bool left = false;
      for (auto it = runs_.begin(); it != runs_.end();) {
        const ActiveRun& run = it->second;
        bool done = Finished(run.state) && run.running.empty() && !run.dirty && !run.persisting;
        left = left || done;
        it = done ? runs_.erase(it) : std::next(it);
      }
      if (left && !retries_.empty()) {
        std::vector<Retried> retries = std::move(retries_);
        retries_.clear();
        for (Retried& r : retries) Handle(Event(std::move(r)));
      }
    }
    // Stopping: kill what runs; the next Start re-runs or fails it by its retry policy.
    for (auto& [id, run] : runs_) {
      for (auto& [node, handle] : run.running) {
        if (handle) handle->Kill();
      }
    }
    runs_.clear();
    std::lock_guard lock(mu_);
    idle_ = true;
    idle_cv_.notify_all();
  }

  // The earliest retry or deadline among active runs (ms since epoch), 0 for none.
  int64_t NextTimer() const {
    int64_t next = 0;
    auto consider = [&](int64_t t) {
      if (t > 0 && (next == 0 || t < next)) next = t;
    };
    for (const auto& [id, run] : runs_) {
      for (const auto& [nid, node] : run.state.nodes) {
        if (node.phase == NodePhase::kPending && node.retry_at_ms > 0) consider(node.retry_at_ms);
      }
      if (run.program && run.program->deadline_ms() > 0 && run.state.started_at_ms > 0 &&
          run.state.shutdown.empty()) {
        consider(run.state.started_at_ms + run.program->deadline_ms());
      }
      if (run.state.phase == RunPhase::kPending) consider(Now() + 1000);  // quota re-check
    }
    consider(save_retry_at_);
    return next;
  }

  void Handle(Event e) {
    if (auto* s = std::get_if<Submitted>(&e)) {
      if (!runs_.contains(s->run_id)) {
        if (RecordPtr r = catalog_.Get(Kind::kRun, s->run_id)) Resume(r);
      }
    } else if (auto* d = std::get_if<TaskDone>(&e)) {
      OnTaskDone(*d);
    } else if (auto* l = std::get_if<Launched>(&e)) {
      OnLaunched(*l);
    } else if (auto* c = std::get_if<Collected>(&e)) {
      OnCollected(*c);
    } else if (auto* k = std::get_if<CacheChecked>(&e)) {
      OnCacheChecked(*k);
    } else if (auto* t = std::get_if<Terminated>(&e)) {
      auto it = runs_.find(t->run_id);
      if (it == runs_.end()) {
        t->done->set_value(Status());  // it ended meanwhile
        return;
      }
      after_persist_.push_back(std::move(t->done));
      ActiveRun& run = it->second;
      if (run.state.shutdown.empty()) {
        run.state.shutdown = "Terminate";
        run.dirty = true;
      }
      for (auto& [node, handle] : run.running) {
        if (handle) handle->Kill();
      }
    } else if (auto* r = std::get_if<Retried>(&e)) {
      // A run that ended but whose last state is still being saved: once it is.
      auto it = runs_.find(r->run_id);
      if (it != runs_.end() && Finished(it->second.state) && it->second.running.empty()) {
        retries_.push_back(std::move(*r));
        return;
      }
      r->done->set_value(RetryNow(r->run_id));
    } else if (auto* p = std::get_if<Persisted>(&e)) {
      OnPersisted(*p);
    }
  }

  Status RetryNow(const std::string& run_id) {
    if (runs_.contains(run_id)) {
      return FailedPrecondition("run \"" + run_id + "\" is still running");
    }
    RecordPtr rec = catalog_.Get(Kind::kRun, run_id);
    if (rec == nullptr) return NotFound("run \"" + run_id + "\" not found");
    SKIFF_ASSIGN_OR_RETURN(RunState state, RunStateOf(*rec));
    ResetFailedNodes(state);
    SKIFF_ASSIGN_OR_RETURN(RecordPtr updated, catalog_.Update(Kind::kRun, rec->id, [&](Record& x) {
      SetRunState(x, state);
      return Status();
    }));
    Resume(updated);
    return Status();
  }

  // Loads a run into the active set; nodes that were Running when skiff stopped are killed if
  // they survived and then count as attempts that ended in error.
  void Resume(const RecordPtr& r) {
    ActiveRun run;
    run.record = r;
    if (!r->status.empty()) {
      auto state = RunStateOf(*r);
      if (!state) {
        FailRecord(r, "the run's saved state is damaged: " + state.error().message());
        return;
      }
      run.state = std::move(*state);
      for (const NodeDocPtr& doc : r->nodes) {
        if (const Node* node = run.state.Find(doc->id))
          run.saved.emplace(doc->id, std::pair(*node, doc));
      }
    }
    auto program = loader_(*r);
    if (!program) {
      FailRecord(r, program.error().message());
      return;
    }
    run.program = std::move(*program);
    run.ctx.run_id = r->id;
    run.ctx.run_name = GetString(r->spec, "run_name");
    if (run.ctx.run_name.empty()) run.ctx.run_name = r->id;
    run.ctx.ns = r->ns;
    run.ctx.run_display_name = GetString(r->spec, "display_name");
    run.ctx.created_at_ms = r->created_at_ms;
    if (const json::object* p = GetObject(r->spec, "parameters")) run.ctx.parameters = *p;
    run.ctx.pipeline_root = PipelineRoot(r->ns, r->id);
    auto [it, inserted] = runs_.emplace(r->id, std::move(run));
    if (!inserted) return;
    for (auto& [nid, node] : it->second.state.nodes) {
      if (node.phase != NodePhase::kRunning || node.type != "Pod") continue;
      const json::value* pid = node.state.if_contains("pid");
      const json::value* ticks = node.state.if_contains("startTicks");
      if (pid != nullptr && ticks != nullptr && pid->is_int64() && ticks->is_int64()) {
        TaskLauncher::KillStale(static_cast<pid_t>(pid->get_int64()), ticks->get_int64());
      }
      TaskExit exit;
      exit.start_error = "skiff stopped while the task ran";
      FinishAttempt(it->second, node, exit, /*error=*/true, exit.start_error);
    }
  }

  void FailRecord(const RecordPtr& r, const std::string& message) {
    RunState state;
    if (auto s = RunStateOf(*r)) state = std::move(*s);
    state.phase = RunPhase::kError;
    state.message = message;
    if (state.finished_at_ms == 0) state.finished_at_ms = Now();
    auto updated = catalog_.Update(Kind::kRun, r->id, [&](Record& x) {
      SetRunState(x, state);
      return Status();
    });
    if (!updated) spdlog::warn("pipelines: run {}: {}", r->id, updated.error().ToString());
  }

  static bool Finished(const RunState& s) {
    return s.phase != RunPhase::kPending && s.phase != RunPhase::kRunning;
  }

  int RunningRunsIn(const std::string& ns) const {
    int n = 0;
    for (const auto& [id, run] : runs_) {
      if (run.ctx.ns == ns && run.state.phase == RunPhase::kRunning) ++n;
    }
    return n;
  }

  void Progress(ActiveRun& run, std::vector<Launch>& launches) {
    RunState& s = run.state;
    if (Finished(s)) return;
    int64_t now = Now();
    if (s.phase == RunPhase::kPending) {
      if (!s.shutdown.empty()) {
        s.phase = RunPhase::kFailed;
        s.message = "terminated before it started";
        s.finished_at_ms = now;
        run.dirty = true;
        return;
      }
      int64_t limit =
          options_.concurrent_runs_limit ? options_.concurrent_runs_limit(run.ctx.ns) : 0;
      if (limit > 0 && RunningRunsIn(run.ctx.ns) >= limit) {
        std::string msg = "waiting: namespace \"" + run.ctx.ns + "\" already runs " +
                          std::to_string(limit) + " pipeline runs (its concurrent-runs quota)";
        if (s.message != msg) {
          s.message = msg;
          run.dirty = true;
        }
        return;
      }
      s.phase = RunPhase::kRunning;
      s.message.clear();
      s.started_at_ms = now;
      run.dirty = true;
    }
    if (run.program->deadline_ms() > 0 && s.shutdown.empty() &&
        now >= s.started_at_ms + run.program->deadline_ms()) {
      s.shutdown = "Terminate";
      s.state["deadlineExceeded"] = true;
      for (auto& [node, handle] : run.running) {
        if (handle) handle->Kill();
      }
      run.dirty = true;
    }
    for (int round = 0; round < 1000; ++round) {
      run.ctx.now_ms = now;
      std::vector<uint8_t> before = Fingerprint(s);
      if (Status st = run.program->Advance(s, run.ctx); !st.ok()) {
        s.phase = RunPhase::kError;
        s.message = st.message();
        s.finished_at_ms = now;
        for (auto& [node, handle] : run.running) {
          if (handle) handle->Kill();
        }
        run.dirty = true;
        return;
      }
      bool changed = Fingerprint(s) != before;
      if (changed) run.dirty = true;
      if (Finished(s)) {
        if (s.finished_at_ms == 0) s.finished_at_ms = now;
        if (s.state.contains("deadlineExceeded") &&
            s.message.find("deadline") == std::string::npos) {
          s.message = "the run's deadline (activeDeadlineSeconds) passed; " + s.message;
        }
        run.dirty = true;
        return;
      }
      bool cache_hit = false;
      for (auto& [nid, node] : s.nodes) {
        if (node.type != "Pod" || node.phase != NodePhase::kPending || !node.launch) continue;
        if (run.running.contains(nid)) continue;
        if (!s.shutdown.empty()) continue;
        if (node.retry_at_ms > now) continue;
        if (node.attempts == 0 && TryCache(run, node)) {
          cache_hit = true;
          continue;
        }
      }
      // Advance is idempotent (tested for every sample at every step): it needs no second call
      // to see what its first did, unless a cache hit finished nodes since. A change is saved,
      // and the saved event runs Advance again in any case.
      if (!cache_hit) break;
    }
    if (!s.shutdown.empty()) return;
    int run_limit = run.program->parallelism();
    int run_running = static_cast<int>(run.running.size());
    for (auto& [nid, node] : s.nodes) {
      if (node.type != "Pod" || node.phase != NodePhase::kPending || !node.launch) continue;
      if (run.running.contains(nid) || node.retry_at_ms > now) continue;
      if (run.cache_checking.contains(nid)) continue;
      if (running_tasks_ >= options_.max_parallel_tasks) break;
      if (run_limit > 0 && run_running >= run_limit) break;
      node.phase = NodePhase::kRunning;
      node.attempts += 1;
      if (node.started_at_ms == 0) node.started_at_ms = now;
      node.retry_at_ms = 0;
      node.message.clear();
      run.dirty = true;
      ++running_tasks_;
      ++run_running;
      run.running.emplace(nid, nullptr);  // reserved; the handle comes with the launch
      launches.push_back({run.ctx.run_id, nid});
    }
  }

  // The run's and its nodes' phases, in id order. Advance only adds nodes (never removes one),
  // so a new node changes the size and this tells every node or phase Advance added or changed.
  static std::vector<uint8_t> Fingerprint(const RunState& s) {
    std::vector<uint8_t> f;
    f.reserve(s.nodes.size() + 1);
    f.push_back(static_cast<uint8_t>(s.phase));
    for (const auto& [id, n] : s.nodes) f.push_back(static_cast<uint8_t>(n.phase));
    return f;
  }

  std::string CacheId(const std::string& ns, const std::string& key) const {
    return ns + "." + key;
  }

  // Caching is on for the run unless its spec says enable_caching: false.
  static bool CachingEnabled(const ActiveRun& run) {
    const json::value* enable = run.record->spec.if_contains("enable_caching");
    return enable == nullptr || !enable->is_bool() || enable->get_bool();
  }

  // The artifacts a cache entry lists; nullopt when the entry is malformed.
  static std::optional<std::vector<Artifact>> CachedArtifacts(const Record& hit) {
    std::vector<Artifact> artifacts;
    if (const json::value* a = hit.spec.if_contains("artifacts"); a && a->is_array()) {
      for (const json::value& v : a->get_array()) {
        if (!v.is_object()) return std::nullopt;
        const json::object& o = v.get_object();
        Artifact art{GetString(o, "name"),
                     GetString(o, "uri"),
                     GetString(o, "path"),
                     GetString(o, "type"),
                     {}};
        if (const json::object* md = GetObject(o, "metadata")) art.metadata = *md;
        artifacts.push_back(std::move(art));
      }
    }
    return artifacts;
  }

  // True when the node was completed from the cache. A hit with artifacts is first checked (the
  // cached artifacts must still be stored) by a job, off this thread: the node waits for it
  // (cache_checking) and is completed or run when the answer comes (OnCacheChecked).
  bool TryCache(ActiveRun& run, Node& node) {
    if (node.launch->cache_key.empty() || !CachingEnabled(run)) return false;
    if (run.cache_checking.contains(node.id) || run.cache_missed.contains(node.id)) return false;
    RecordPtr hit = catalog_.Get(Kind::kCacheEntry, CacheId(run.ctx.ns, node.launch->cache_key));
    if (hit == nullptr) return false;
    auto artifacts = CachedArtifacts(*hit);
    if (!artifacts) return false;
    // Metadata-only artifacts (the task wrote no file) have nothing to look for.
    std::vector<std::string> uris;
    if (const json::value* a = hit->spec.if_contains("artifacts"); a && a->is_array()) {
      for (const json::value& v : a->get_array()) {  // objects (CachedArtifacts checked)
        const json::value* stored = v.get_object().if_contains("stored");
        if (stored == nullptr || !stored->is_bool() || stored->get_bool()) {
          uris.push_back(GetString(v, "uri"));
        }
      }
    }
    if (uris.empty()) {
      ApplyHit(run, node, *hit, std::move(*artifacts));
      return true;
    }
    run.cache_checking.insert(node.id);
    SubmitJob(
        [this, run_id = run.ctx.run_id, node_id = node.id, hit, uris = std::move(uris)]() {
          bool ok = true;
          for (const std::string& uri : uris) {
            auto exists = store_->Exists(uri);
            if (!exists || !*exists) {
              ok = false;
              break;
            }
          }
          Event e = CacheChecked{run_id, node_id, hit, ok};
          FinishJob(e);
        },
        kTransfers);
    return false;
  }

  void OnCacheChecked(CacheChecked& c) {
    auto it = runs_.find(c.run_id);
    if (it == runs_.end()) return;
    ActiveRun& run = it->second;
    run.cache_checking.erase(c.node_id);
    Node* node = run.state.Find(c.node_id);
    if (node == nullptr || node->phase != NodePhase::kPending || node->attempts != 0) return;
    if (!c.ok) {
      run.cache_missed.insert(c.node_id);
      return;
    }
    ApplyHit(run, *node, *c.hit, *CachedArtifacts(*c.hit));
  }

  void ApplyHit(ActiveRun& run, Node& node, const Record& hit, std::vector<Artifact> artifacts) {
    if (const json::object* p = GetObject(hit.spec, "parameters")) node.output_parameters = *p;
    node.output_artifacts = std::move(artifacts);
    if (const json::value* res = hit.spec.if_contains("result"); res && res->is_string()) {
      node.result = std::string(res->get_string());
    }
    node.phase = NodePhase::kSucceeded;
    node.cached = true;
    node.cached_from = GetString(hit.spec, "run_id") + "/" + GetString(hit.spec, "node_id");
    node.exit_code = 0;
    int64_t now = Now();
    node.started_at_ms = now;
    node.finished_at_ms = now;
    node.message = "cached: outputs reused from run " + GetString(hit.spec, "run_id");
    run.dirty = true;
  }

  // A run with caching off neither uses nor feeds the cache (KFP computes no fingerprint then).
  void StoreCache(const ActiveRun& run, const Node& node) {
    if (node.launch->cache_key.empty() || !CachingEnabled(run)) return;
    json::array artifacts;
    const json::value* unstored = node.state.if_contains(kUnstored);
    for (const Artifact& a : node.output_artifacts) {
      bool stored = true;
      if (unstored != nullptr && unstored->is_array()) {
        for (const json::value& n : unstored->get_array()) {
          if (n.is_string() && n.get_string() == a.name) stored = false;
        }
      }
      artifacts.emplace_back(json::object{{"name", a.name},
                                          {"uri", a.uri},
                                          {"path", a.path},
                                          {"type", a.type},
                                          {"metadata", a.metadata},
                                          {"stored", stored}});
    }
    json::object spec{{"run_id", run.ctx.run_id},
                      {"node_id", node.id},
                      {"parameters", node.output_parameters},
                      {"artifacts", std::move(artifacts)}};
    if (node.result) spec["result"] = *node.result;
    // The newest execution wins (as KFP picks the latest): an older entry is replaced, so one
    // whose artifacts are gone (which made this task run) is not checked again and again.
    // Saved with the next save of run states (the loop does not wait for the store).
    cache_writes_.push_back({run.ctx.ns, CacheId(run.ctx.ns, node.launch->cache_key),
                             std::move(spec), "run " + run.ctx.run_id + " node " + node.id});
  }

  // On any thread: nothing but the catalog.
  static void WriteCaches(Catalog& catalog, std::vector<CacheWrite>& caches) {
    for (CacheWrite& c : caches) {
      Result<RecordPtr> saved = catalog.Create(Kind::kCacheEntry, c.ns, c.spec, {}, c.id);
      if (!saved && saved.error().code() == Code::kAlreadyExists) {
        saved = catalog.Update(Kind::kCacheEntry, c.id, [&](Record& r) {
          r.spec = std::move(c.spec);
          return Status();
        });
      }
      if (!saved) {
        spdlog::warn("pipelines: cache entry for {}: {}", c.what, saved.error().ToString());
      }
    }
  }

  // Saving run states. The loop writes running runs' progress itself (a commit that needs no
  // fsync: RunWrite::durable; it waits only while another writer's commit holds the store), and
  // hands a save that must be durable (a run's end or stop, cache entries) to the kSaves worker,
  // going on handling events while the store writes it; changes made meanwhile go into the next
  // save. A task starts
  // only once the state that says it runs is saved, and Terminate returns once the state that
  // says the run stops is.
  void Save() {
    if (save_retry_at_ != 0 && Now() >= save_retry_at_) save_retry_at_ = 0;
    if (saving_) return;
    bool dirty = false;
    for (const auto& [id, run] : runs_) dirty = dirty || run.dirty;
    if (!dirty && launches_.empty() && after_persist_.empty() && cache_writes_.empty()) return;
    if (dirty && save_retry_at_ != 0) return;  // NextTimer wakes the loop
    Persisted p;
    p.writes = TakeWrites();
    p.launches = std::move(launches_);
    launches_.clear();
    p.done = std::move(after_persist_);
    after_persist_.clear();
    p.caches = std::move(cache_writes_);
    cache_writes_.clear();
    // Progress of running runs only: a commit without an fsync, which takes less than handing
    // it to the worker and back (two thread switches).
    const bool inline_save =
        p.caches.empty() &&
        std::none_of(p.writes.begin(), p.writes.end(), [](const RunWrite& w) { return w.durable; });
    saving_ = true;
    if (inline_save) {
      WriteRuns(catalog_, p.writes);
      OnPersisted(p);
      return;
    }
    SubmitJob(
        [this, p = std::move(p)]() mutable {
          WriteRuns(catalog_, p.writes);
          WriteCaches(catalog_, p.caches);
          Event e = std::move(p);
          FinishJob(e);
        },
        kSaves);
  }

  // The states of changed runs, to save.
  std::vector<RunWrite> TakeWrites() {
    std::vector<RunWrite> writes;
    for (auto& [id, run] : runs_) {
      if (!run.dirty) continue;
      run.dirty = false;
      run.persisting = true;
      writes.push_back({id, run.state.StatusJson(), SavedNodes(run),
                        Finished(run.state) || !run.state.shutdown.empty()});
    }
    return writes;
  }

  // On any thread: nothing but the catalog.
  static void WriteRuns(Catalog& catalog, std::vector<RunWrite>& writes) {
    for (RunWrite& w : writes) {
      w.result = catalog.ReplaceStatus(Kind::kRun, w.run_id, std::move(w.status),
                                       std::move(w.nodes), w.durable);
    }
  }

  // The ids of runs whose write failed (they stay dirty and are saved again in a second).
  std::set<std::string> ApplyWrites(std::vector<RunWrite>& writes) {
    std::set<std::string> failed;
    for (RunWrite& w : writes) {
      auto it = runs_.find(w.run_id);
      if (it == runs_.end()) continue;
      ActiveRun& run = it->second;
      run.persisting = false;
      if (w.result) {
        run.record = *w.result;
      } else if (w.result.error().code() == Code::kNotFound) {
        // Deleted while running: stop it.
        run.state.phase = RunPhase::kFailed;
        for (auto& [node, handle] : run.running) {
          if (handle) handle->Kill();
        }
      } else {
        spdlog::warn("pipelines: saving run {}: {}", w.run_id, w.result.error().ToString());
        run.dirty = true;
        failed.insert(w.run_id);
      }
    }
    // The store failing (disk full, ...): try again in a second, not in a loop.
    save_retry_at_ = failed.empty() ? 0 : Now() + 1000;
    return failed;
  }

  void OnPersisted(Persisted& p) {
    saving_ = false;
    std::set<std::string> failed = ApplyWrites(p.writes);
    for (auto& done : p.done) done->set_value(Status());
    for (Launch& l : p.launches) {
      // A task starts only once the state that says it runs is saved.
      if (failed.contains(l.run_id)) {
        launches_.push_back(std::move(l));
      } else {
        LaunchNode(l);
      }
    }
  }

  // The run's nodes in their stored form: the saved NodeDoc of each node that did not change
  // since (compared as Nodes, which costs far less than building its JSON), a new one for each
  // that did.
  static NodeDocs SavedNodes(ActiveRun& run) {
    NodeDocs docs;
    docs.reserve(run.state.nodes.size());
    auto saved = run.saved.begin();
    for (const auto& [id, node] : run.state.nodes) {
      while (saved != run.saved.end() && saved->first < id) saved = run.saved.erase(saved);
      if (saved == run.saved.end() || saved->first != id) {
        saved = run.saved.emplace_hint(saved, id, std::pair(node, MakeNodeDoc(node)));
      } else if (!(saved->second.first == node)) {
        saved->second.first = node;
        saved->second.second = MakeNodeDoc(node);
      }
      docs.push_back(saved->second.second);
      ++saved;
    }
    run.saved.erase(saved, run.saved.end());
    return docs;
  }

  // An attempt's /tmp on the host: RUN/NODE for the first, RUN/NODE.aN for a retry; the
  // node's log is RUN/NODE.log. A task costs two inodes (creating inodes is a large part of
  // starting a task on some file systems: ext4 without a journal scans the inodes deleted in
  // the last 30 s).
  std::string AttemptTmp(const RunContext& ctx, const Node& node) const {
    std::string dir = RunDir(ctx.ns, ctx.run_id) + "/" + node.id;
    if (node.attempts > 1) dir += ".a" + std::to_string(node.attempts);
    return dir;
  }

  // On a worker: nothing but the arguments and the (thread-safe) store.
  // `ns`: a task reads artifacts of its own namespace only.
  Status Prepare(const LaunchSpec& l, const std::string& tmp, const std::string& ns) {
    const std::string ns_root = store_->Root() + "/" + ns + "/";
    // What an earlier try of this attempt left (skiff stopped meanwhile) goes.
    std::error_code ec;
    fs::remove_all(tmp, ec);
    SKIFF_RETURN_IF_ERROR(EnsureDirectory(tmp, 0700));
    for (const InputFile& f : l.files) {
      SKIFF_ASSIGN_OR_RETURN(std::string host, HostPathIn(tmp, f.path));
      fs::create_directories(fs::path(host).parent_path(), ec);
      SKIFF_RETURN_IF_ERROR(WriteFileAtomic(host, f.content, f.executable ? 0755 : 0644));
    }
    for (const InputArtifact& a : l.input_artifacts) {
      if (!store_->Owns(a.uri) || a.uri.rfind(ns_root, 0) != 0) {
        return InvalidArgument("input artifact \"" + a.name + "\": cannot read " + a.uri +
                               " (not in namespace \"" + ns + "\"'s artifacts)");
      }
      SKIFF_ASSIGN_OR_RETURN(std::string host, HostPathIn(tmp, a.path));
      Status s = store_->CopyTo(a.uri, host);
      // A metadata-only artifact: nothing to copy.
      if (s.code() == Code::kNotFound) continue;
      if (!s.ok()) return s.WithPrefix("input artifact \"" + a.name + "\"");
    }
    return Status();
  }

  void LaunchNode(const Launch& l) {
    auto it = runs_.find(l.run_id);
    if (it == runs_.end()) return;
    ActiveRun& run = it->second;
    Node* node = run.state.Find(l.node_id);
    if (node == nullptr || !node->launch) return;
    const LaunchSpec& spec = *node->launch;
    std::string tmp = AttemptTmp(run.ctx, *node);
    TaskProcessSpec p;
    p.argv = spec.argv;
    p.env = options_.task_env;
    for (const auto& [k, v] : spec.env) p.env[k] = v;
    p.env.emplace("HOME", "/tmp");
    p.env["KFP_RUN_ID"] = run.ctx.run_id;
    p.env["KFP_POD_NAME"] = node->id;
    p.tmp_dir = tmp;
    p.working_dir = spec.working_dir;
    p.log_path = LogFile(run.ctx.ns, run.ctx.run_id, node->id);
    p.capture_stdout = spec.capture_result;
    p.timeout_ms = spec.timeout_ms;
    p.hidden_dirs = options_.hidden_dirs;
    p.hidden_dirs.push_back(options_.data_dir);
    p.extra_path_dirs = options_.extra_path_dirs;
    p.exposed_dirs = options_.exposed_dirs;
    int attempt = node->attempts;
    SubmitJob(
        [this, run_id = l.run_id, node_id = l.node_id, attempt, p = std::move(p),
         spec = *node->launch, tmp, ns = run.ctx.ns]() {
          Result<std::unique_ptr<TaskHandle>> handle = Status();
          if (Stopping()) {
            handle = Unavailable("skiff is stopping");
          } else if (Status prepared = Prepare(spec, tmp, ns); !prepared.ok()) {
            handle = prepared;
          } else {
            handle = launcher_.Start(p, [box = box_, run_id, node_id, attempt](TaskExit exit) {
              // The engine may be gone (destroyed while its last tasks were being killed): the box
              // then holds null.
              std::lock_guard lock(box->mu);
              if (box->impl != nullptr) {
                box->impl->Post(TaskDone{run_id, node_id, attempt, std::move(exit)});
              }
            });
          }
          Event e = Launched{run_id, node_id, attempt, std::move(handle)};
          if (!FinishJob(e)) {
            auto& h = std::get<Launched>(e).handle;
            if (h) (*h)->Kill();
          }
        },
        node->launch->input_artifacts.empty() ? kTasks : kTransfers);
  }

  void OnLaunched(Launched& l) {
    auto it = runs_.find(l.run_id);
    ActiveRun* run = it == runs_.end() ? nullptr : &it->second;
    Node* node = run != nullptr ? run->state.Find(l.node_id) : nullptr;
    // Current unless the task already reported its end, or the run moved on without it.
    bool current = node != nullptr && node->phase == NodePhase::kRunning &&
                   node->attempts == l.attempt && run->running.contains(l.node_id) &&
                   run->running[l.node_id] == nullptr;
    if (!current) {
      if (l.handle) (*l.handle)->Kill();
      return;
    }
    if (!l.handle) {
      TaskExit exit;
      exit.start_error = l.handle.error().message();
      run->running.erase(node->id);
      --running_tasks_;
      FinishAttempt(*run, *node, exit, /*error=*/true, exit.start_error);
      return;
    }
    node->state["pid"] = static_cast<int64_t>((*l.handle)->pid());
    node->state["startTicks"] = (*l.handle)->start_time_ticks();
    run->dirty = true;
    std::unique_ptr<TaskHandle>& slot = run->running[node->id];
    slot = std::move(*l.handle);
    if (!run->state.shutdown.empty() || Finished(run->state)) slot->Kill();
  }

  void OnCollected(Collected& c) {
    auto it = runs_.find(c.run_id);
    if (it == runs_.end()) return;
    ActiveRun& run = it->second;
    Node* node = run.state.Find(c.node_id);
    if (node == nullptr || node->phase != NodePhase::kRunning || node->attempts != c.attempt ||
        run.running.contains(c.node_id)) {
      return;
    }
    node->output_parameters = std::move(c.parameters);
    node->output_artifacts = std::move(c.artifacts);
    node->result = std::move(c.result);
    if (c.unstored.is_array()) {
      node->state[kUnstored] = std::move(c.unstored);
    } else {
      node->state.erase(kUnstored);
    }
    run.dirty = true;
    if (c.status.ok()) {
      node->phase = NodePhase::kSucceeded;
      node->finished_at_ms = Now();
      node->message.clear();
      StoreCache(run, *node);
      return;
    }
    FinishAttempt(run, *node, TaskExit{}, /*error=*/true, c.status.message());
  }

  void OnTaskDone(TaskDone& d) {
    auto it = runs_.find(d.run_id);
    if (it == runs_.end()) return;
    ActiveRun& run = it->second;
    if (run.running.erase(d.node_id) > 0) --running_tasks_;
    Node* node = run.state.Find(d.node_id);
    if (node == nullptr || node->phase != NodePhase::kRunning || node->attempts != d.attempt) {
      return;
    }
    node->state.erase("pid");
    node->state.erase("startTicks");
    node->exit_code.reset();
    if (d.exit.start_error.empty() && !d.exit.timed_out && !d.exit.killed && d.exit.signal == 0) {
      node->exit_code = d.exit.exit_code;
    }
    if (d.exit.ok()) {
      // The node stays Running until its outputs are read and its artifacts stored (saved with
      // that outcome: one store write per task end, not two).
      auto collect = [this, ctx = run.ctx, exit = std::move(d.exit),
                      attempt = d.attempt](Node copy) -> Event {
        Status st = Collect(ctx, copy, exit);
        return Collected{ctx.run_id,
                         copy.id,
                         attempt,
                         std::move(st),
                         std::move(copy.output_parameters),
                         std::move(copy.output_artifacts),
                         std::move(copy.result),
                         copy.state.contains(kUnstored) ? copy.state.at(kUnstored) : json::value()};
      };
      const LaunchSpec& l = *node->launch;
      if (l.output_parameters.empty() && l.output_artifacts.empty() &&
          l.executor_output_path.empty()) {
        // Nothing to read from files: collected here, without a worker's round trip.
        Event e = collect(*node);
        OnCollected(std::get<Collected>(e));
        return;
      }
      SubmitJob(
          [this, collect = std::move(collect), copy = *node]() mutable {
            Event e = collect(std::move(copy));
            FinishJob(e);
          },
          l.output_artifacts.empty() ? kTasks : kTransfers);
      return;
    }
    if (d.exit.killed && !run.state.shutdown.empty()) {
      node->phase = NodePhase::kFailed;
      node->message = "terminated";
      node->finished_at_ms = Now();
      run.dirty = true;
      return;
    }
    bool error = !d.exit.start_error.empty();
    FinishAttempt(run, *node, d.exit, error, d.exit.Describe());
  }

  // An attempt ended without success: retry it or fail the node.
  void FinishAttempt(ActiveRun& run, Node& node, const TaskExit& exit, bool error,
                     const std::string& why) {
    (void)exit;
    run.dirty = true;
    const RetryPolicy& p = node.launch ? node.launch->retry : RetryPolicy{};
    bool covered = error ? CoversError(p.on) : CoversFailure(p.on);
    if (covered && node.attempts <= p.limit && run.state.shutdown.empty()) {
      node.phase = NodePhase::kPending;
      node.retry_at_ms = Now() + BackoffMs(p, node.attempts);
      node.message = "attempt " + std::to_string(node.attempts) + " " + why + "; retrying (" +
                     std::to_string(node.attempts) + "/" + std::to_string(p.limit) + ")";
      return;
    }
    node.phase = error ? NodePhase::kError : NodePhase::kFailed;
    node.message = why;
    if (node.attempts > 1)
      node.message += " (after " + std::to_string(node.attempts) + " attempts)";
    node.finished_at_ms = Now();
  }

  // On a worker: reads only its arguments; writes the store.
  Status Collect(const RunContext& ctx, Node& node, const TaskExit& exit) {
    const LaunchSpec& l = *node.launch;
    std::string tmp = AttemptTmp(ctx, node);
    node.output_parameters.clear();
    node.output_artifacts.clear();
    node.state.erase(kUnstored);
    for (const OutputFile& f : l.output_parameters) {
      SKIFF_ASSIGN_OR_RETURN(std::string host, HostPathIn(tmp, f.path));
      auto text = ReadFile(host, kMaxOutputParameterBytes);
      if (!text) {
        if (f.default_value) {
          node.output_parameters[f.name] = *f.default_value;
          continue;
        }
        // KFP's executor may give the value in its executor output instead (checked below).
        if (!l.executor_output_path.empty()) continue;
        return NotFound("output parameter \"" + f.name + "\": the task did not write " + f.path);
      }
      SKIFF_ASSIGN_OR_RETURN(json::value v, TypedValue(*text, f.type, f.name));
      node.output_parameters[f.name] = std::move(v);
    }
    for (const OutputFile& f : l.output_artifacts) {
      SKIFF_ASSIGN_OR_RETURN(std::string host, HostPathIn(tmp, f.path));
      std::error_code ec;
      const bool written = fs::exists(host, ec);
      // KFP's launcher uploads what a task wrote: an IR artifact may be metadata only
      // (Output[Metrics] with log_metric), its file never written.
      const bool metadata_only = !l.executor_output_path.empty();
      if (!written && f.optional) continue;
      if (!written && !metadata_only) {
        return NotFound("output artifact \"" + f.name + "\": the task did not write " + f.path);
      }
      std::string uri;
      if (f.path.rfind(kLocalArtifactPrefix, 0) == 0) {
        // ArtifactLocalPath's inverse for this store's scheme (lightweight.hpp).
        bool s3 = store_->Root().rfind("s3://", 0) == 0;
        uri = (s3 ? "s3://" : "file:///") + f.path.substr(kLocalArtifactPrefix.size());
      } else {
        uri = ctx.pipeline_root + "/" + node.id + "/" + f.name;
      }
      if (!store_->Owns(uri) || uri.rfind(ctx.pipeline_root + "/", 0) != 0) {
        return InvalidArgument("output artifact \"" + f.name + "\": " + uri +
                               " is outside the run's artifact store");
      }
      if (written) {
        if (Status s = store_->Put(host, uri); !s.ok()) {
          return s.WithPrefix("output artifact \"" + f.name + "\"");
        }
      } else {
        json::value& unstored = node.state[kUnstored];
        if (!unstored.is_array()) unstored = json::array();
        unstored.get_array().emplace_back(f.name);
      }
      node.output_artifacts.push_back({f.name, uri, f.path, f.type, {}});
    }
    if (!l.executor_output_path.empty()) {
      SKIFF_ASSIGN_OR_RETURN(std::string host, HostPathIn(tmp, l.executor_output_path));
      std::error_code ec;
      if (fs::exists(host, ec)) {
        SKIFF_ASSIGN_OR_RETURN(std::string text, ReadFile(host, 16 << 20));
        auto out = ParseJsonObject(text);
        if (!out) {
          return InvalidArgument("executor output " + l.executor_output_path + ": " +
                                 out.error().message());
        }
        if (const json::object* pv = GetObject(*out, "parameterValues")) {
          for (const auto& [k, v] : *pv) node.output_parameters[k] = v;
        }
        if (const json::object* arts = GetObject(*out, "artifacts")) {
          for (const auto& [name, list] : *arts) {
            const json::value* items = Find(list, "artifacts");
            if (items == nullptr || !items->is_array() || items->get_array().empty()) continue;
            const json::value& first = items->get_array()[0];
            if (!first.is_object()) continue;
            for (Artifact& a : node.output_artifacts) {
              if (a.name != name) continue;
              if (const json::object* md = GetObject(first.get_object(), "metadata")) {
                a.metadata = *md;
              }
            }
          }
        }
      }
    }
    for (const OutputFile& f : l.output_parameters) {
      if (!node.output_parameters.contains(f.name)) {
        return NotFound("output parameter \"" + f.name + "\": the task wrote neither " + f.path +
                        " nor a value in its executor output");
      }
    }
    if (l.capture_result) {
      std::string r = exit.stdout_text;
      if (!r.empty() && r.back() == '\n') r.pop_back();
      node.result = std::move(r);
    }
    return Status();
  }
};

Engine::Engine(Catalog& catalog, TaskLauncher& launcher, const Clock& clock, ProgramLoader loader,
               EngineOptions options)
    : impl_(std::make_unique<Impl>(catalog, launcher, clock, std::move(loader),
                                   std::move(options))) {}

Engine::~Engine() { Stop(); }

Status Engine::Start() { return impl_->Start(); }
void Engine::Stop() { impl_->Stop(); }
void Engine::Submit(const std::string& run_id) { impl_->Post(Impl::Submitted{run_id}); }

Status Engine::Terminate(const std::string& run_id) {
  RecordPtr r = impl_->catalog_.Get(Kind::kRun, run_id);
  if (r == nullptr) return NotFound("run \"" + run_id + "\" not found");
  std::string phase = GetString(r->status, "phase");
  if (phase == "Succeeded" || phase == "Failed" || phase == "Error") {
    return FailedPrecondition("run \"" + run_id + "\" has already finished (" + phase + ")");
  }
  auto done = std::make_shared<std::promise<Status>>();
  std::future<Status> result = done->get_future();
  impl_->Post(Impl::Terminated{run_id, done});
  if (result.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    return Unavailable("the run engine did not answer in time; the run may still be terminated");
  }
  try {
    return result.get();
  } catch (const std::future_error&) {  // the engine stopped before handling it
    return Unavailable("the run engine is stopping");
  }
}

Status Engine::Retry(const std::string& run_id) {
  RecordPtr r = impl_->catalog_.Get(Kind::kRun, run_id);
  if (r == nullptr) return NotFound("run \"" + run_id + "\" not found");
  std::string phase = GetString(r->status, "phase");
  if (phase != "Failed" && phase != "Error") {
    return FailedPrecondition("run \"" + run_id + "\" cannot be retried: only a failed run can (" +
                              (phase.empty() ? std::string("Pending") : phase) + ")");
  }
  auto done = std::make_shared<std::promise<Status>>();
  std::future<Status> result = done->get_future();
  impl_->Post(Impl::Retried{run_id, done});
  if (result.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    return Unavailable("the run engine did not answer in time; the retry may still happen");
  }
  try {
    return result.get();
  } catch (const std::future_error&) {  // the engine stopped before handling it
    return Unavailable("the run engine is stopping");
  }
}

void Engine::WaitIdle() { impl_->WaitIdle(); }

std::string Engine::LogPath(const Record& run, const std::string& node_id) const {
  return impl_->NodeLog(run.ns, run.id, node_id);
}

std::string Engine::PipelineRoot(const std::string& ns, const std::string& run_id) const {
  return impl_->PipelineRoot(ns, run_id);
}

std::string Engine::ArtifactHostPath(std::string_view uri) const {
  return impl_->ArtifactHostPath(uri);
}

ArtifactStore& Engine::artifacts() const { return *impl_->store_; }

}  // namespace skiff::pipelines
