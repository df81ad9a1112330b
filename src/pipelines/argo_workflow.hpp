#pragma once
// Internal to the Argo reader (argo.cpp compiles, argo_program.cpp runs): the compiled form of a
// Workflow and the `{{...}}` substitution both halves use. Not an interface for other modules.
//
// Threading: immutable once compiled; functions are pure.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/json.hpp"
#include "core/result.hpp"
#include "pipelines/argo_expr.hpp"
#include "pipelines/run_state.hpp"

namespace skiff::pipelines::argo {

// ---------------------------------------------------------------------------------------------
// The compiled form.

struct InputParam {
  std::string name;
  std::optional<std::string> value;
  std::optional<std::string> default_value;
};

struct InputArtifactDecl {
  std::string name;
  std::string path;  // pod templates
  std::optional<std::string> raw;
  bool optional = false;
};

struct OutputParam {
  std::string name;
  std::string path;       // pod templates: valueFrom.path
  std::string parameter;  // dag/steps: valueFrom.parameter (a "{{...}}" reference)
  std::optional<std::string> default_value;
};

struct OutputArtifactDecl {
  std::string name;
  std::string path;  // pod templates
  std::string from;  // dag/steps
  bool optional = false;
};

struct Arguments {
  std::vector<std::pair<std::string, std::string>> parameters;  // name -> value (may hold {{}})
  std::vector<std::pair<std::string, std::string>> artifacts;   // name -> from ("{{...}}")
};

enum class LoopKind { kNone, kItems, kParam, kSequence };

struct Task {        // a DAG task or a step
  std::string path;  // "spec.templates[2].dag.tasks[1]", for messages
  std::string name;
  std::string template_name;
  Arguments arguments;
  std::optional<DependsExpr> depends;  // DAG tasks only
  std::string when;
  LoopKind loop = LoopKind::kNone;
  json::array items;
  std::string with_param;
  std::string seq_count, seq_start, seq_end, seq_format;
  bool continue_failed = false;
  bool continue_error = false;
};

enum class Kind { kContainer, kScript, kDag, kSteps };

struct Template {
  std::string name;
  Kind kind = Kind::kContainer;
  std::string path;  // "spec.templates[3]"
  std::vector<InputParam> inputs;
  std::vector<InputArtifactDecl> input_artifacts;
  std::vector<OutputParam> outputs;
  std::vector<OutputArtifactDecl> output_artifacts;
  // Pod templates.
  std::string image;
  std::vector<std::string> command;
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;
  std::string working_dir;
  std::string source;  // script
  RetryPolicy retry;
  int64_t timeout_ms = 0;
  bool cacheable = false;
  std::string canonical;  // canonical JSON of the template, for cache keys
  // DAG / steps.
  std::vector<Task> tasks;        // in topological order
  std::set<std::string> targets;  // DAG tasks no other task depends on
  std::vector<std::vector<Task>> steps;
  int parallelism = 0;

  bool IsPod() const { return kind == Kind::kContainer || kind == Kind::kScript; }
  const Task* FindTask(std::string_view n) const {
    for (const Task& t : tasks) {
      if (t.name == n) return &t;
    }
    return nullptr;
  }
};

inline constexpr std::string_view kScriptPath = "/tmp/argo/staging/script";

// The whole compiled Workflow.
struct Workflow {
  std::vector<Template> templates;
  std::map<std::string, size_t> by_name;
  std::string entrypoint, on_exit, name, description;
  std::vector<InputParam> arguments;  // spec.arguments.parameters
  std::vector<ParameterInfo> parameters;
  int parallelism = 0;
  int64_t deadline_ms = 0;
  std::map<std::string, std::string> labels, annotations;  // metadata
};

// The Program that runs `wf` (argo_program.cpp).
std::shared_ptr<const Program> MakeArgoProgram(Workflow wf);

// A JSON scalar as Argo's string parameters hold it ("3", "true", strings bare).
std::string Scalar(const json::value& v);
bool IsScalar(const json::value& v);
// JSON with object keys sorted at every level (Go's encoding of maps).
std::string Canonical(const json::value& v);
Result<int64_t> ParseInt(const json::value& v);
inline bool StartsWith(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}

// How a variable resolved.
struct Lookup {
  enum class Status { kFound, kMissing, kKeep } status = Status::kMissing;
  std::string value;
  static Lookup Found(std::string v) { return {Status::kFound, std::move(v)}; }
  static Lookup Keep() { return {Status::kKeep, {}}; }
  static Lookup Missing() { return {}; }
};
using Resolver = std::function<Lookup(std::string_view tag)>;

// Replaces every `{{tag}}` (trimmed). kKeep leaves the tag as written (Argo's allowUnresolved for
// outputs of tasks that did not run); kMissing fails with "Unable to resolve: {{tag}}".
Result<std::string> Substitute(std::string_view s, const Resolver& resolve);
// Argo's Item.String(): strings bare, everything else as JSON with sorted keys.
std::string ItemString(const json::value& item);

}  // namespace skiff::pipelines::argo
