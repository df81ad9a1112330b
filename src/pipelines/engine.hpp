#pragma once
// The run engine: drives every unfinished run to its end. It asks the run's Program what comes
// next (run_state.hpp), starts Pod nodes as isolated local processes (launcher.hpp) within the
// limits (global and per-run parallelism, the namespace's concurrent-runs quota), reuses cached
// outputs, retries with back-off, enforces deadlines, reads outputs and stores artifacts, and
// writes the run state to the catalog before anything it decided takes effect:
//   - a node is persisted as Running (with its attempt number) before its process starts, and
//     the process's pid/start time right after, so a restart knows what may still run;
//   - after a restart (Start), a node that was Running is killed if its process survived
//     (TaskLauncher::KillStale) and counts as an attempt that ended in error: retried if its
//     retry policy covers errors and attempts remain, else failed. Finished nodes never re-run.
//
// Files: DATA/runs/NS/RUN/NODE/log (all attempts, appended), DATA/runs/NS/RUN/NODE/a<N>/ (the
// attempt's root: its /tmp). Artifacts go to the ArtifactStore (artifact_store.hpp): under
// DATA/artifacts/NS/RUN/... (file:// URIs) by default, or s3://bucket/prefix/NS/RUN/...; inputs
// are copied (downloaded) into the task before it starts, outputs stored (uploaded) after it
// ends (the node stays Running until then), on a few worker threads: a slow store delays only
// the tasks that wait for it.
//
// Threading: one engine thread owns all run states; workers only prepare, start and collect
// tasks from copies and report back to it. Public methods are thread-safe and return at once
// (they queue work), except Start/Stop (Stop waits for the jobs in progress).

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "pipelines/artifact_store.hpp"
#include "pipelines/catalog.hpp"
#include "pipelines/launcher.hpp"
#include "pipelines/run_state.hpp"

namespace skiff::pipelines {

struct EngineOptions {
  std::string data_dir;         // DATA/pipelines (created)
  int max_parallel_tasks = 16;  // processes at once, all runs together
  // Concurrent runs allowed in a namespace (its Profile's quota); 0 = no limit. Called on the
  // engine thread; must not block for long.
  std::function<int64_t(const std::string& ns)> concurrent_runs_limit;
  // Added to every task's environment (the kfp executor shim's variables) and PATH.
  std::map<std::string, std::string> task_env;
  std::vector<std::string> extra_path_dirs;
  // Directories every task must not see besides DATA (e.g. the store's directory), and
  // directories inside them that tasks read (the executor shim, the bin dir).
  std::vector<std::string> hidden_dirs;
  std::vector<std::string> exposed_dirs;
  // Where artifacts are stored; null: the local store under DATA/artifacts.
  std::shared_ptr<ArtifactStore> artifacts;
};

// Compiles the pipeline a run record carries (spec.manifest + spec.format).
using ProgramLoader = std::function<Result<std::shared_ptr<const Program>>(const Record& run)>;

class Engine {
 public:
  // `catalog` and `launcher` must outlive the engine.
  Engine(Catalog& catalog, TaskLauncher& launcher, const Clock& clock, ProgramLoader loader,
         EngineOptions options);
  ~Engine();  // Stop()

  // Resumes every run that had not finished (see the file comment) and starts the thread.
  Status Start();
  // Stops the thread. Tasks still running are killed (as at shutdown: they are re-run or failed
  // by the next Start according to their retry policy).
  void Stop();

  // A run record was created (status empty or phase Pending): drive it.
  void Submit(const std::string& run_id);
  // Kills the run's processes and finishes it as terminated. FailedPrecondition when it has
  // already finished; NotFound when there is no such run.
  Status Terminate(const std::string& run_id);
  // Re-runs the failed part of a finished, failed run (Argo's retry: failed nodes and what
  // depends on them run again; succeeded ones are kept). FailedPrecondition unless it failed.
  Status Retry(const std::string& run_id);
  // Waits until nothing is queued, no job (inputs, start, outputs) is in progress and no run
  // can make progress without a process ending or a timer firing (tests and benchmarks).
  void WaitIdle();

  // Host path of a node's log (may not exist yet).
  std::string LogPath(const Record& run, const std::string& node_id) const;
  // URI prefix of a run's artifacts (KFP's pipeline_root): file:///DATA/artifacts/NS/RUN or
  // s3://bucket/prefix/NS/RUN.
  std::string PipelineRoot(const std::string& ns, const std::string& run_id) const;
  // Host path of a file:// artifact URI when it lies in the local store; empty otherwise (and
  // always with S3: read through artifacts()).
  std::string ArtifactHostPath(std::string_view uri) const;
  // The artifact store (thread-safe; its calls block).
  ArtifactStore& artifacts() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Argo's retry of a failed run, on its state: failed, errored and omitted task nodes (and what
// is under them) go, the DAG/Steps nodes above them run again, succeeded and skipped nodes
// stay; the run is Running again (Pending, from scratch, when its root went).
void ResetFailedNodes(RunState& state);

// KFP's run states from a run record's status (v2beta1 names): PENDING, RUNNING, SUCCEEDED,
// FAILED, CANCELING, CANCELED.
std::string KfpRunState(const json::object& status);

}  // namespace skiff::pipelines
