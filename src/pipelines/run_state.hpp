#pragma once
// The state of one pipeline run, shared by both pipeline formats and the engine. A run is a
// tree of nodes shaped like Argo's `status.nodes` (what KFP v1's `workflow_manifest` shows and
// what v2's `run_details.task_details` are made from). A format's Program (argo.hpp, ir.hpp)
// decides what the nodes are; the engine (engine.hpp) runs Pod nodes as local processes,
// retries them, caches them, persists the state and calls the Program again.
//
// Division of work:
//   Program::Advance  creates nodes whose dependencies are met (Pod nodes in phase kPending with
//                     their LaunchSpec), marks nodes Skipped/Omitted, completes DAG/Steps/
//                     TaskGroup nodes whose children are done (phase and outputs), runs exit
//                     handlers, and finally sets RunState::phase. Pure: no I/O, no clock (the
//                     time comes in RunContext::now_ms), deterministic, idempotent.
//   engine            starts Pending Pod nodes (limits, quota, cache), sets them Running, and
//                     when the process ends sets phase kSucceeded/kFailed/kError, exit_code,
//                     finished_at_ms and the outputs read from LaunchSpec's output files; retries
//                     a failed Pod node itself (per LaunchSpec::retry) before it ever shows
//                     kFailed to the Program; then calls Advance again.
//
// Paths: a task runs in a private mount namespace where /tmp is its own directory, so the paths
// a pipeline file names under /tmp (Argo's `/tmp/outputs/x/data`, IR's output files) are the
// task's own. Paths a task must read or write outside /tmp are refused at upload by the format
// readers. Values: Argo parameters are strings; IR parameters are typed JSON values.
//
// Threading: plain values; no synchronization.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.hpp"
#include "core/result.hpp"

namespace skiff::pipelines {

// Argo's node phases.
enum class NodePhase { kPending, kRunning, kSucceeded, kFailed, kError, kSkipped, kOmitted };
std::string_view NodePhaseName(NodePhase phase);  // "Pending", "Running", ... as Argo spells them
std::optional<NodePhase> ParseNodePhase(std::string_view name);
// Succeeded, Failed, Error, Skipped, Omitted.
bool IsFinished(NodePhase phase);

// When the engine retries a Pod node whose process failed.
struct RetryPolicy {
  int limit = 0;  // retries after the first attempt; 0 = none
  // Argo's retryPolicy: which endings are retried. kOnFailure: a non-zero exit or a signal (the
  // process failed); kOnError: skiff could not run it (start failure, restart while it ran,
  // output missing); kAlways: both. KFP IR retryPolicy is kAlways.
  enum class On { kOnFailure, kOnError, kAlways };
  On on = On::kOnFailure;
  int64_t backoff_ms = 0;      // before the first retry; 0 = at once
  double factor = 2;           // each later back-off is the previous times this
  int64_t max_backoff_ms = 0;  // 0 = unbounded

  bool operator==(const RetryPolicy&) const = default;
};

// A file the engine writes into the task's /tmp before it starts (Argo script sources, input
// parameter files, IR executor input).
struct InputFile {
  std::string path;  // absolute, under /tmp, as the task sees it
  std::string content;
  bool executable = false;

  bool operator==(const InputFile&) const = default;
};

// An artifact copied into the task before it starts.
struct InputArtifact {
  std::string name;
  std::string path;  // absolute, under /tmp, as the task sees it
  std::string uri;   // where the producer's output was stored (Artifact::uri)

  bool operator==(const InputArtifact&) const = default;
};

// A file (or directory, for artifacts) the engine reads after the process exits with 0.
struct OutputFile {
  std::string name;
  std::string path;  // absolute, under /tmp, as the task sees it
  // Parameters: how to read the file's text. "" or "STRING": as is (Argo strips nothing; KFP IR
  // strings as is); "NUMBER_INTEGER", "NUMBER_DOUBLE", "BOOLEAN", "LIST", "STRUCT": parsed as
  // JSON into that type (a mismatch fails the task, naming the output). Artifacts: ignored.
  std::string type;
  // Parameters only: used when the file is missing (Argo valueFrom.default); else a missing
  // file fails the task (kError, naming the path).
  std::optional<std::string> default_value;
  // Artifacts only: a missing path is fine (KFP v1 declares artifacts a step may not write).
  bool optional = false;

  bool operator==(const OutputFile&) const = default;
};

// How to run a Pod node. Written by the Program when it creates the node; read by the engine.
struct LaunchSpec {
  std::string image;                       // recorded (shown in the UI and logs), never pulled
  std::vector<std::string> argv;           // command + args with every placeholder resolved
  std::map<std::string, std::string> env;  // the task's own variables (the engine adds PATH...)
  std::string working_dir;                 // as the task sees it; empty: /tmp
  std::vector<InputFile> files;
  std::vector<InputArtifact> input_artifacts;
  std::vector<OutputFile> output_parameters;
  std::vector<OutputFile> output_artifacts;
  // KFP IR: the path (under /tmp) where the executor writes its ExecutorOutput JSON
  // (`parameterValues`, `artifacts`); read after exit, its values override output files.
  std::string executor_output_path;
  // Argo: the process's stdout becomes Node::result (`{{tasks.A.outputs.result}}`), trimmed of
  // one trailing newline, at most 256 KiB.
  bool capture_result = false;
  int64_t timeout_ms = 0;  // 0 = none (activeDeadlineSeconds of the template / task)
  RetryPolicy retry;
  // Non-empty: the node is cacheable and this is its key (component spec + resolved inputs, as
  // KFP computes it). A Succeeded node with the same key in the namespace is reused.
  std::string cache_key;

  json::object ToJson() const;
  static Result<LaunchSpec> FromJson(const json::object& o);
  bool operator==(const LaunchSpec&) const = default;
};

// An artifact a node produced (stored by the engine after the process ended).
struct Artifact {
  std::string name;
  std::string uri;   // "file:///..." under the data dir, or "s3://bucket/key"
  std::string path;  // where the task wrote it (for display)
  std::string type;  // IR schema title ("system.Model"); empty for Argo
  json::object metadata;

  bool operator==(const Artifact&) const = default;
};

struct Node {
  std::string id;            // unique in the run, stable: NodeId(run name, name)
  std::string name;          // Argo's full name: "my-pipeline-x7k2.for-loop-1(0:20).task-a"
  std::string display_name;  // "task-a", "for-loop-1(0:20)"
  // "DAG", "Steps", "StepGroup", "Pod", "Skipped", "TaskGroup", "Retry" (Argo's node types).
  std::string type;
  std::string template_name;  // Argo template / IR component name
  std::string task_name;      // the task's name in its DAG (IR task_details use it)
  std::string parent;         // id of the node that created it; empty for the root
  std::string boundary_id;    // Argo: the DAG/Steps node this belongs to
  std::vector<std::string> children;
  NodePhase phase = NodePhase::kPending;
  std::string message;
  int64_t started_at_ms = 0;
  int64_t finished_at_ms = 0;
  json::object inputs;             // parameter name -> value (for display; strings for Argo)
  json::object output_parameters;  // name -> value
  std::vector<Artifact> output_artifacts;
  std::optional<std::string> result;  // Argo outputs.result
  std::optional<int> exit_code;
  std::optional<LaunchSpec> launch;  // Pod nodes
  // Engine bookkeeping.
  int attempts = 0;         // how many times the process was started
  int64_t retry_at_ms = 0;  // a Pending node waiting for its back-off
  bool cached = false;      // outputs reused from an earlier run (KFP's "cached")
  std::string cached_from;  // "RUN_ID/NODE_ID" it was reused from
  // The Program's own bookkeeping (loop item, IR task spec, condition text, ...).
  json::object state;

  bool operator==(const Node&) const = default;
};

// A node in its stored form (Node as JSON), immutable: the versions of a run (catalog records)
// that did not change a node share its NodeDoc, so writing a run's state costs what changed.
struct NodeDoc {
  std::string id;
  json::object json;
};
using NodeDocPtr = std::shared_ptr<const NodeDoc>;
using NodeDocs = std::vector<NodeDocPtr>;  // sorted by id, ids unique

NodeDocPtr MakeNodeDoc(const Node& node);

enum class RunPhase { kPending, kRunning, kSucceeded, kFailed, kError };
std::string_view RunPhaseName(RunPhase phase);  // Argo's: "Pending", "Running", ...
std::optional<RunPhase> ParseRunPhase(std::string_view name);

struct RunState {
  RunPhase phase = RunPhase::kPending;
  std::string message;
  int64_t started_at_ms = 0;
  int64_t finished_at_ms = 0;
  std::map<std::string, Node> nodes;  // by id
  std::string root;                   // id of the root node, once created
  // "Terminate": a user terminated the run (or its deadline passed). Advance creates no new
  // nodes except exit handlers the format runs on termination (Argo's Stop: none), and
  // completes the rest as Failed/Omitted. The engine has already killed running processes.
  std::string shutdown;
  // The Program's own run-level bookkeeping.
  json::object state;

  // The Node with `id`, or nullptr.
  Node* Find(const std::string& id);
  const Node* Find(const std::string& id) const;
  // Adds `node` (its id must be new) and appends it to its parent's children.
  Node& Add(Node node);

  // The state as one JSON object, its nodes under "nodes" (node id -> node).
  json::object ToJson() const;
  static Result<RunState> FromJson(const json::object& o);
  // The state without its nodes, and the nodes apart (how the catalog keeps a run).
  json::object StatusJson() const;
  NodeDocs AllNodeDocs() const;
  static Result<RunState> FromJson(const json::object& status, const NodeDocs& nodes);
};

// Argo-style node id: "<run name>-<10 decimal digits of FNV-1a 32 of node name>".
std::string NodeId(std::string_view run_name, std::string_view node_name);

// What Advance may use besides the state.
struct RunContext {
  std::string run_id;    // uuid; {{workflow.uid}}, IR's {{$.pipeline_job_uuid}}
  std::string run_name;  // {{workflow.name}}: the generated name ("my-pipeline-x7k2p")
  std::string ns;        // {{workflow.namespace}}
  std::string run_display_name;
  int64_t created_at_ms = 0;  // {{workflow.creationTimestamp}}
  int64_t now_ms = 0;         // the time of this call (for started/finished of DAG nodes)
  // Run parameters as the user gave them, by name (strings for Argo; typed for IR; the Program
  // applies defaults and checks types).
  json::object parameters;
  // Where IR's output artifact URIs point (the engine stores artifacts under it):
  // "file:///DATA/pipelines/artifacts/NS/RUN" or "s3://bucket/prefix/NS/RUN". Informational
  // for Argo.
  std::string pipeline_root;
};

// A compiled pipeline file, immutable once built; shared by every run of it.
struct ParameterInfo {
  std::string name;
  std::string type;  // "STRING", "NUMBER_INTEGER", ... (IR); "STRING" for Argo
  std::optional<json::value> default_value;
  std::string description;
  // May be left out even without a default (IR isOptional).
  bool optional = false;
};

class Program {
 public:
  virtual ~Program() = default;
  // "argo" or "ir".
  virtual std::string_view format() const = 0;
  // The pipeline's name and description as the file gives them.
  virtual std::string name() const = 0;
  virtual std::string description() const = 0;
  // The run parameters the pipeline takes, in the file's order.
  virtual std::vector<ParameterInfo> parameters() const = 0;
  // Workflow-level limits (Argo spec.parallelism / activeDeadlineSeconds); 0 = none.
  virtual int parallelism() const { return 0; }
  virtual int64_t deadline_ms() const { return 0; }
  // Moves the run forward (see the file comment). Unknown or mistyped run parameters are
  // reported here on the first call (the run fails with the message). An error is a run-level
  // failure: the engine fails the run with its message.
  virtual Status Advance(RunState& state, const RunContext& ctx) const = 0;
};

}  // namespace skiff::pipelines
