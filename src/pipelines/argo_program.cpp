// Running an Argo Workflow: one Runner per Advance call walks the node tree from the root and
// does what Argo's controller does in one operation (see argo.hpp).
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/crypto.hpp"
#include "pipelines/argo_expr.hpp"
#include "pipelines/argo_workflow.hpp"

namespace skiff::pipelines::argo {
namespace {

// Nesting of DAG/steps templates a run may reach (recursion: a DAG calling itself with `when`).
constexpr int kMaxNesting = 200;

// ---------------------------------------------------------------------------------------------
// Running.

class ArgoProgram;

// One Advance call.
class Runner {
 public:
  Runner(const ArgoProgram& p, RunState& st, const RunContext& ctx);
  Status Advance();

 private:
  Status AdvanceOnce();
  struct Call {
    std::string name, display, parent, boundary, task_name;
    const Template* tmpl = nullptr;
    std::map<std::string, std::string> params;
    std::map<std::string, std::string> artifacts;  // name -> uri
    const json::value* item = nullptr;
  };

  const Template& Tmpl(const std::string& name) const;
  Lookup Global(std::string_view tag) const;
  Lookup NodeOutput(const Node* n, std::string_view rest) const;
  Lookup ScopeLookup(const Node& owner, std::string_view tag, const json::value* item) const;
  const Node* TaskNode(const Node& dag, const std::string& task) const {
    return st_.Find(NodeId(ctx_.run_name, dag.name + "." + task));
  }
  bool TaskResult(const Node& dag, const Task& task, const std::string& result) const;

  void Reconcile(const std::string& id);
  void ReconcileDag(const std::string& id);
  void CreateDagTask(const std::string& id, const Task& task, const std::string& name);
  void Relink(const std::string& dag_id, const Task& task, const std::string& tid);
  std::vector<std::string> Outbound(const std::string& id) const;
  void ReconcileSteps(const std::string& id);
  // Expands and runs a looped task; `group_id` is its TaskGroup (DAG) or StepGroup (steps) node.
  // Returns whether every item has a finished node.
  bool ReconcileLoop(const Node& owner, const Task& task, const std::string& base_name,
                     const std::string& parent_id, const std::string& boundary_id);
  // Creates the node for one (unexpanded or expanded) task whose dependencies are met.
  void StartTask(const Node& owner, const Task& task, const std::string& name,
                 const std::string& display, const std::string& parent_id,
                 const std::string& boundary_id, const json::value* item);
  void Instantiate(const Call& c);
  Node& AddNode(const std::string& name, const std::string& display, const std::string& type,
                const std::string& parent, const std::string& boundary,
                const std::string& template_name, const std::string& task_name);
  void Finish(Node& n, NodePhase phase, std::string message);
  bool AtParallelismLimit(const Node& owner, const Template& t) const;
  void CompleteGroup(Node& group, bool steps_group);
  Status ResolveOutputs(Node& owner, const Template& t);
  void Terminate();
  std::string FailedLeafMessage(const Node& root) const;

  const ArgoProgram& p_;
  RunState& st_;
  const RunContext& ctx_;
  bool terminating_;
  std::map<std::string, std::string> globals_;
  int nesting_ = 0;  // DAG/Steps nodes on the call stack (a bound on runaway recursion)
};

class ArgoProgram final : public Program {
 public:
  explicit ArgoProgram(Workflow c) : c_(std::move(c)) {}
  std::string_view format() const override { return "argo"; }
  std::string name() const override { return c_.name; }
  std::string description() const override { return c_.description; }
  std::vector<ParameterInfo> parameters() const override { return c_.parameters; }
  int parallelism() const override { return c_.parallelism; }
  int64_t deadline_ms() const override { return c_.deadline_ms; }
  Status Advance(RunState& state, const RunContext& ctx) const override {
    return Runner(*this, state, ctx).Advance();
  }
  const Workflow& c() const { return c_; }

 private:
  Workflow c_;
};

std::string Rfc3339(int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Runner::Runner(const ArgoProgram& p, RunState& st, const RunContext& ctx)
    : p_(p), st_(st), ctx_(ctx), terminating_(st.shutdown == "Terminate") {
  globals_["workflow.name"] = ctx.run_name;
  globals_["workflow.uid"] = ctx.run_id;
  globals_["workflow.namespace"] = ctx.ns;
  globals_["workflow.creationTimestamp"] = Rfc3339(ctx.created_at_ms);
  globals_["workflow.serviceAccountName"] = "pipeline-runner";
  for (const auto& [k, v] : p.c().labels) globals_["workflow.labels." + k] = v;
  for (const auto& [k, v] : p.c().annotations) globals_["workflow.annotations." + k] = v;
  for (const InputParam& a : p.c().arguments) {
    std::optional<std::string> value = a.value;
    if (const auto* given = ctx.parameters.if_contains(a.name)) value = Scalar(*given);
    if (value) globals_["workflow.parameters." + a.name] = *value;
  }
  if (const auto* s = st.state.if_contains("workflowStatus")) {
    globals_["workflow.status"] = Scalar(*s);
  }
  if (const auto* d = st.state.if_contains("workflowDuration")) {
    globals_["workflow.duration"] = Scalar(*d);
  }
  if (const auto* f = st.state.if_contains("workflowFailures")) {
    globals_["workflow.failures"] = Scalar(*f);
  }
}

const Template& Runner::Tmpl(const std::string& name) const {
  return p_.c().templates[p_.c().by_name.at(name)];
}

Lookup Runner::Global(std::string_view tag) const {
  if (auto it = globals_.find(std::string(tag)); it != globals_.end())
    return Lookup::Found(it->second);
  // {{workflow.creationTimestamp.<strftime letter>}}, .RFC3339 and .s (Unix seconds), as Argo.
  constexpr std::string_view kCreated = "workflow.creationTimestamp.";
  if (StartsWith(tag, kCreated)) {
    std::string_view f = tag.substr(kCreated.size());
    if (f == "RFC3339") return Lookup::Found(Rfc3339(ctx_.created_at_ms));
    if (f == "s") return Lookup::Found(std::to_string(ctx_.created_at_ms / 1000));
    if (f.size() == 1 && std::isalpha(static_cast<unsigned char>(f[0])) != 0) {
      std::time_t secs = static_cast<std::time_t>(ctx_.created_at_ms / 1000);
      std::tm tm{};
      gmtime_r(&secs, &tm);
      char buf[64];
      const char format[3] = {'%', f[0], '\0'};
      size_t len = std::strftime(buf, sizeof buf, format, &tm);
      return Lookup::Found(std::string(buf, len));
    }
  }
  return Lookup::Missing();
}

// `rest` is what follows "tasks.NAME." / "steps.NAME.".
Lookup Runner::NodeOutput(const Node* n, std::string_view rest) const {
  if (n == nullptr) return Lookup::Missing();
  if (n->phase == NodePhase::kSkipped || n->phase == NodePhase::kOmitted) return Lookup::Keep();
  if (rest == "id") return Lookup::Found(n->id);
  if (rest == "status") return Lookup::Found(std::string(NodePhaseName(n->phase)));
  if (rest == "exitCode" && n->exit_code) return Lookup::Found(std::to_string(*n->exit_code));
  if (rest == "startedAt" && n->started_at_ms != 0) return Lookup::Found(Rfc3339(n->started_at_ms));
  if (rest == "finishedAt" && n->finished_at_ms != 0) {
    return Lookup::Found(Rfc3339(n->finished_at_ms));
  }
  if (!IsFinished(n->phase)) return Lookup::Missing();
  if (rest == "outputs.result") {
    if (n->result) return Lookup::Found(*n->result);
    return Lookup::Missing();
  }
  if (StartsWith(rest, "outputs.parameters.")) {
    if (const auto* v = n->output_parameters.if_contains(rest.substr(19)))
      return Lookup::Found(Scalar(*v));
    return Lookup::Missing();
  }
  if (StartsWith(rest, "outputs.artifacts.")) {
    std::string_view a = rest.substr(18);
    for (const Artifact& art : n->output_artifacts) {
      if (art.name == a) return Lookup::Found(art.uri);
    }
  }
  return Lookup::Missing();
}

// Variables of a DAG or steps node's scope.
Lookup Runner::ScopeLookup(const Node& owner, std::string_view tag, const json::value* item) const {
  if (Lookup g = Global(tag); g.status == Lookup::Status::kFound) return g;
  if (StartsWith(tag, "inputs.parameters.")) {
    if (const auto* v = owner.inputs.if_contains(tag.substr(18))) return Lookup::Found(Scalar(*v));
    return Lookup::Missing();
  }
  if (StartsWith(tag, "inputs.artifacts.")) {
    if (const auto* arts = GetObject(owner.state, "artifacts")) {
      if (const auto* v = arts->if_contains(tag.substr(17))) return Lookup::Found(Scalar(*v));
    }
    return Lookup::Missing();
  }
  if (item != nullptr) {
    if (tag == "item") return Lookup::Found(ItemString(*item));
    if (StartsWith(tag, "item.")) {
      if (const auto* o = item->if_object()) {
        if (const auto* v = o->if_contains(tag.substr(5))) return Lookup::Found(ItemString(*v));
      }
      return Lookup::Missing();
    }
  }
  bool tasks = StartsWith(tag, "tasks.");
  if (tasks || StartsWith(tag, "steps.")) {
    std::string_view rest = tag.substr(6);
    size_t dot = rest.find('.');
    if (dot == std::string_view::npos) return Lookup::Missing();
    std::string task(rest.substr(0, dot));
    rest = rest.substr(dot + 1);
    if (tasks) return NodeOutput(TaskNode(owner, task), rest);
    // Steps: the step's node in whichever group has it; a looped step's outputs aggregate.
    const Template& t = Tmpl(owner.template_name);
    for (size_t g = 0; g < t.steps.size(); ++g) {
      const Node* group =
          st_.Find(NodeId(ctx_.run_name, owner.name + "[" + std::to_string(g) + "]"));
      if (group == nullptr) break;
      for (const Task& s : t.steps[g]) {
        if (s.name != task) continue;
        if (s.loop == LoopKind::kNone) {
          return NodeOutput(st_.Find(NodeId(ctx_.run_name, group->name + "." + task)), rest);
        }
        json::array values;
        for (const std::string& cid : group->children) {
          const Node* c = st_.Find(cid);
          if (c == nullptr || c->parent != group->id || c->task_name != task ||
              c->phase == NodePhase::kSkipped) {
            continue;
          }
          Lookup l = NodeOutput(c, rest);
          if (l.status != Lookup::Status::kFound) return l;
          values.emplace_back(l.value);
        }
        return Lookup::Found(Serialize(values));
      }
    }
    return Lookup::Missing();
  }
  return Lookup::Missing();
}

bool Runner::TaskResult(const Node& dag, const Task& task, const std::string& result) const {
  const Node* n = TaskNode(dag, task.name);
  if (n == nullptr) return false;
  NodePhase ph = n->phase;
  if (result.empty()) {
    return ph == NodePhase::kSucceeded || ph == NodePhase::kSkipped ||
           (ph == NodePhase::kFailed && task.continue_failed) ||
           (ph == NodePhase::kError && task.continue_error);
  }
  if (result == "Succeeded") return ph == NodePhase::kSucceeded;
  if (result == "Failed") return ph == NodePhase::kFailed;
  if (result == "Errored") return ph == NodePhase::kError;
  if (result == "Skipped") return ph == NodePhase::kSkipped;
  if (result == "Omitted") return ph == NodePhase::kOmitted;
  if (result == "Daemoned") return false;
  bool any_succeeded = false, all_failed = false;
  bool first = true;
  for (const std::string& cid : n->children) {
    const Node* c = st_.Find(cid);
    if (c == nullptr || c->parent != n->id) continue;  // a dependent hung under an empty group
    if (first) {
      all_failed = true;
      first = false;
    }
    any_succeeded = any_succeeded || c->phase == NodePhase::kSucceeded;
    all_failed = all_failed && c->phase == NodePhase::kFailed;
  }
  if (result == "AnySucceeded") return any_succeeded;
  if (result == "AllFailed") return all_failed;
  return false;
}

Node& Runner::AddNode(const std::string& name, const std::string& display, const std::string& type,
                      const std::string& parent, const std::string& boundary,
                      const std::string& template_name, const std::string& task_name) {
  Node n;
  n.id = NodeId(ctx_.run_name, name);
  n.name = name;
  n.display_name = display;
  n.type = type;
  n.parent = parent;
  n.boundary_id = boundary;
  n.template_name = template_name;
  n.task_name = task_name;
  n.started_at_ms = ctx_.now_ms;
  if (type == "Pod") {
    n.started_at_ms = 0;  // the engine stamps when the process starts
    n.phase = NodePhase::kPending;
  } else {
    n.phase = NodePhase::kRunning;
  }
  return st_.Add(std::move(n));
}

void Runner::Finish(Node& n, NodePhase phase, std::string message) {
  n.phase = phase;
  n.message = std::move(message);
  n.finished_at_ms = ctx_.now_ms;
  if (n.started_at_ms == 0) n.started_at_ms = ctx_.now_ms;
}

bool Runner::AtParallelismLimit(const Node& owner, const Template& t) const {
  if (t.parallelism <= 0) return false;
  int running = 0;
  for (const auto& [id, n] : st_.nodes) {
    if (n.boundary_id == owner.id && !IsFinished(n.phase) && n.type != "TaskGroup" &&
        n.type != "StepGroup") {
      ++running;
    }
  }
  return running >= t.parallelism;
}

void Runner::Instantiate(const Call& c) {
  const Template& t = *c.tmpl;
  std::string type = t.kind == Kind::kDag ? "DAG" : (t.kind == Kind::kSteps ? "Steps" : "Pod");
  Node& n = AddNode(c.name, c.display, type, c.parent, c.boundary, t.name, c.task_name);
  if (c.item != nullptr) n.state["item"] = *c.item;
  auto fail = [&](const std::string& message) {
    n.type = type;
    Finish(n, NodePhase::kError, message);
  };
  auto resolve_global = [&](std::string_view tag) { return Global(tag); };
  // Inputs: template value/default, overridden by the caller's arguments.
  std::map<std::string, std::string> inputs;
  for (const InputParam& in : t.inputs) {
    std::string value;
    if (auto it = c.params.find(in.name); it != c.params.end()) {
      value = it->second;  // already resolved in the caller's scope
    } else if (in.value || in.default_value) {
      auto resolved = Substitute(in.value ? *in.value : *in.default_value, resolve_global);
      if (!resolved) return fail(resolved.error().message());
      value = std::move(*resolved);
    } else {
      return fail("inputs.parameters." + in.name + " was not supplied");
    }
    inputs[in.name] = value;
    n.inputs[in.name] = value;
  }
  std::map<std::string, std::string> artifact_uris;
  for (const InputArtifactDecl& a : t.input_artifacts) {
    if (auto it = c.artifacts.find(a.name); it != c.artifacts.end()) {
      artifact_uris[a.name] = it->second;
    } else if (!a.raw && !a.optional) {
      return fail("inputs.artifacts." + a.name + " was not supplied");
    }
  }
  if (!t.IsPod()) {
    json::object arts;
    for (const auto& [k, v] : artifact_uris) arts[k] = v;
    if (!arts.empty()) n.state["artifacts"] = std::move(arts);
    if (nesting_ >= kMaxNesting) {
      return fail("more than " + std::to_string(kMaxNesting) +
                  " nested DAG/steps templates (a template that calls itself without a stopping "
                  "condition?)");
    }
    Reconcile(n.id);
    return;
  }
  // A Pod: resolve the template against its inputs.
  std::string pod_name = n.id, node_name = n.name;
  Resolver local = [&](std::string_view tag) -> Lookup {
    if (Lookup g = Global(tag); g.status == Lookup::Status::kFound) return g;
    if (tag == "pod.name") return Lookup::Found(pod_name);
    if (tag == "node.name") return Lookup::Found(node_name);
    if (tag == "retries") return Lookup::Found("0");
    if (StartsWith(tag, "inputs.parameters.")) {
      if (auto it = inputs.find(std::string(tag.substr(18))); it != inputs.end())
        return Lookup::Found(it->second);
    }
    if (tag == "inputs.parameters") {
      json::array a;
      for (const auto& [k, v] : inputs) a.push_back(json::object{{"name", k}, {"value", v}});
      return Lookup::Found(Serialize(a));
    }
    auto path_of = [&](std::string_view rest, auto&& list) -> Lookup {
      if (rest.size() < 5 || rest.substr(rest.size() - 5) != ".path") return Lookup::Missing();
      rest.remove_suffix(5);
      for (const auto& d : list) {
        if (d.name == rest) return Lookup::Found(d.path);
      }
      return Lookup::Missing();
    };
    if (StartsWith(tag, "inputs.artifacts.")) return path_of(tag.substr(17), t.input_artifacts);
    if (StartsWith(tag, "outputs.parameters.")) return path_of(tag.substr(19), t.outputs);
    if (StartsWith(tag, "outputs.artifacts.")) return path_of(tag.substr(18), t.output_artifacts);
    return Lookup::Missing();
  };
  LaunchSpec spec;
  spec.image = t.image;
  for (const auto* list : {&t.command, &t.args}) {
    for (const std::string& s : *list) {
      auto r = Substitute(s, local);
      if (!r) return fail(r.error().message());
      spec.argv.push_back(std::move(*r));
    }
  }
  if (t.kind == Kind::kScript) {
    auto src = Substitute(t.source, local);
    if (!src) return fail(src.error().message());
    spec.files.push_back({std::string(kScriptPath), std::move(*src), true});
    spec.argv.push_back(std::string(kScriptPath));
  }
  for (const auto& [k, v] : t.env) {
    auto r = Substitute(v, local);
    if (!r) return fail(r.error().message());
    spec.env[k] = *r;
  }
  if (!t.working_dir.empty()) {
    auto r = Substitute(t.working_dir, local);
    if (!r) return fail(r.error().message());
    spec.working_dir = *r;
  }
  for (const InputArtifactDecl& a : t.input_artifacts) {
    if (auto it = artifact_uris.find(a.name); it != artifact_uris.end()) {
      spec.input_artifacts.push_back({a.name, a.path, it->second});
    } else if (a.raw) {
      auto r = Substitute(*a.raw, local);
      if (!r) return fail(r.error().message());
      spec.files.push_back({a.path, std::move(*r), false});
    }
  }
  for (const OutputParam& o : t.outputs) {
    OutputFile f;
    f.name = o.name;
    f.path = o.path;
    f.default_value = o.default_value;
    spec.output_parameters.push_back(std::move(f));
  }
  for (const OutputArtifactDecl& o : t.output_artifacts) {
    OutputFile f;
    f.name = o.name;
    f.path = o.path;
    f.optional = o.optional;
    spec.output_artifacts.push_back(std::move(f));
  }
  spec.capture_result = true;
  spec.timeout_ms = t.timeout_ms;
  spec.retry = t.retry;
  if (t.cacheable) {
    json::object key_inputs;
    json::object params, arts;
    for (const auto& [k, v] : inputs) params[k] = v;
    for (const auto& [k, v] : artifact_uris) arts[k] = v;
    key_inputs["parameters"] = std::move(params);
    key_inputs["artifacts"] = std::move(arts);
    spec.cache_key = HexEncode(Sha256(t.canonical + "\n" + Canonical(key_inputs)));
  }
  n.launch = std::move(spec);
}

// Creates the node of one task instance whose dependencies are met: Skipped if `when` is false,
// Error if its arguments cannot be resolved, else the template's node.
void Runner::StartTask(const Node& owner, const Task& task, const std::string& name,
                       const std::string& display, const std::string& parent_id,
                       const std::string& boundary_id, const json::value* item) {
  Resolver scope = [&](std::string_view tag) { return ScopeLookup(owner, tag, item); };
  auto skipped = [&](NodePhase phase, const std::string& message) {
    Node& n =
        AddNode(name, display, "Skipped", parent_id, boundary_id, task.template_name, task.name);
    if (item != nullptr) n.state["item"] = *item;
    Finish(n, phase, message);
  };
  if (!task.when.empty()) {
    auto text = Substitute(task.when, scope);
    if (!text) return skipped(NodePhase::kError, text.error().message());
    auto yes = argo::EvaluateWhen(*text);
    if (!yes) return skipped(NodePhase::kError, yes.error().message());
    if (!*yes) return skipped(NodePhase::kSkipped, "when '" + *text + "' evaluated false");
  }
  Call c;
  c.name = name;
  c.display = display;
  c.parent = parent_id;
  c.boundary = boundary_id;
  c.task_name = task.name;
  c.tmpl = &Tmpl(task.template_name);
  c.item = item;
  for (const auto& [k, v] : task.arguments.parameters) {
    auto r = Substitute(v, scope);
    if (!r) return skipped(NodePhase::kError, r.error().message());
    c.params[k] = *r;
  }
  for (const auto& [k, from] : task.arguments.artifacts) {
    // `from` is one reference; a reference kept literal (a skipped producer) has no artifact.
    auto r = Substitute(from, [&](std::string_view tag) {
      Lookup l = scope(tag);
      return l.status == Lookup::Status::kKeep ? Lookup::Missing() : l;
    });
    if (!r) return skipped(NodePhase::kError, r.error().message());
    c.artifacts[k] = *r;
  }
  Instantiate(c);
}

void Runner::Reconcile(const std::string& id) {
  const Node* n = st_.Find(id);
  if (n == nullptr || IsFinished(n->phase)) return;
  ++nesting_;
  if (n->type == "DAG") ReconcileDag(id);
  if (n->type == "Steps") ReconcileSteps(id);
  --nesting_;
}

// Generates a looped task's items. Error: the message for the TaskGroup.
Result<json::array> LoopItems(const Task& task, const Resolver& scope) {
  if (task.loop == LoopKind::kItems) {
    json::array items;
    for (const json::value& v : task.items) {
      if (const auto* s = v.if_string()) {
        SKIFF_ASSIGN_OR_RETURN(std::string r, Substitute(*s, scope));
        items.emplace_back(r);
      } else {
        items.push_back(v);
      }
    }
    return items;
  }
  if (task.loop == LoopKind::kParam) {
    SKIFF_ASSIGN_OR_RETURN(std::string text, Substitute(task.with_param, scope));
    auto v = ParseJson(text);
    if (!v || !v->is_array()) {
      return InvalidArgument("withParam value could not be parsed as a JSON list: " + text);
    }
    return v->as_array();
  }
  auto num = [&](const std::string& s, int64_t fallback) -> Result<int64_t> {
    if (s.empty()) return fallback;
    SKIFF_ASSIGN_OR_RETURN(std::string r, Substitute(s, scope));
    auto n = ParseInt(json::value(r));
    if (!n) return InvalidArgument("withSequence: '" + r + "' is not an integer");
    return *n;
  };
  SKIFF_ASSIGN_OR_RETURN(int64_t start, num(task.seq_start, 0));
  std::vector<int64_t> values;
  if (!task.seq_count.empty()) {
    SKIFF_ASSIGN_OR_RETURN(int64_t count, num(task.seq_count, 0));
    if (count < 0 || count > 100000) return InvalidArgument("withSequence: bad count");
    for (int64_t i = 0; i < count; ++i) values.push_back(start + i);
  } else {
    SKIFF_ASSIGN_OR_RETURN(int64_t end, num(task.seq_end, 0));
    if (std::llabs(end - start) > 100000) return InvalidArgument("withSequence: range too large");
    for (int64_t i = start;; i += (end >= start ? 1 : -1)) {
      values.push_back(i);
      if (i == end) break;
    }
  }
  json::array items;
  for (int64_t v : values) {
    std::string s = std::to_string(v);
    if (!task.seq_format.empty()) {
      // printf-style, integers only ("%02d", "file-%d.txt", "%x").
      char buf[256];
      const std::string& f = task.seq_format;
      size_t pct = f.find('%');
      bool ok = pct != std::string::npos && f.find('%', pct + 1) == std::string::npos;
      size_t conv = ok ? f.find_first_of("dxXo", pct) : std::string::npos;
      if (!ok || conv == std::string::npos || f.find_first_not_of("0123456789-", pct + 1) != conv) {
        return InvalidArgument("withSequence.format '" + f + "' is not a single integer format");
      }
      std::string spec = f.substr(0, conv) + "ll" + f.substr(conv);
      std::snprintf(buf, sizeof buf, spec.c_str(), static_cast<long long>(v));
      s = buf;
    }
    items.emplace_back(s);
  }
  return items;
}

bool Runner::ReconcileLoop(const Node& owner, const Task& task, const std::string& base_name,
                           const std::string& parent_id, const std::string& boundary_id) {
  Node* group = st_.Find(parent_id);
  json::array items;
  if (const auto* stored = group->state.if_contains("items");
      stored != nullptr && stored->is_object()) {
    if (const auto* mine = stored->as_object().if_contains(task.name)) items = mine->as_array();
  }
  const Template& t = Tmpl(owner.template_name);
  bool all_done = true;
  for (size_t i = 0; i < items.size(); ++i) {
    std::string label = task.name + "(" + std::to_string(i) + ":" + ItemString(items[i]) + ")";
    std::string name = base_name + "(" + std::to_string(i) + ":" + ItemString(items[i]) + ")";
    std::string id = NodeId(ctx_.run_name, name);
    if (st_.Find(id) != nullptr) {
      Reconcile(id);
      if (!IsFinished(st_.Find(id)->phase)) all_done = false;
      continue;
    }
    all_done = false;
    if (terminating_ || AtParallelismLimit(owner, t)) continue;
    StartTask(owner, task, name, label, parent_id, boundary_id, &items[i]);
  }
  return all_done;
}

// Completes a TaskGroup (fan-out in a DAG) or StepGroup: Failed when a child failed (unless the
// task continues on failure), else Succeeded; a TaskGroup aggregates its children's outputs into
// JSON lists as Argo does.
void Runner::CompleteGroup(Node& group, bool steps_group) {
  std::string failed;
  std::map<std::string, json::array> params;
  json::array results;
  bool any_result = false;
  for (const std::string& cid : group.children) {
    const Node* c = st_.Find(cid);
    if (c == nullptr || c->parent != group.id) continue;
    bool fails = c->phase == NodePhase::kFailed || c->phase == NodePhase::kError;
    if (fails && failed.empty()) {
      const Template& owner = Tmpl(st_.Find(group.boundary_id)->template_name);
      const Task* task = nullptr;
      if (owner.kind == Kind::kDag) {
        task = owner.FindTask(c->task_name);
      } else {
        for (const auto& g : owner.steps) {
          for (const auto& s : g) {
            if (s.name == c->task_name) task = &s;
          }
        }
      }
      bool continues =
          task != nullptr && ((c->phase == NodePhase::kFailed && task->continue_failed) ||
                              (c->phase == NodePhase::kError && task->continue_error));
      if (!continues) failed = c->id;
    }
    if (c->phase == NodePhase::kSucceeded) {
      for (const auto& kv : c->output_parameters)
        params[std::string(kv.key())].emplace_back(Scalar(kv.value()));
      if (c->result) {
        any_result = true;
        auto parsed = ParseJson(*c->result);
        results.push_back(parsed ? *parsed : json::value(*c->result));
      }
    }
  }
  if (!steps_group) {
    for (auto& [k, v] : params) group.output_parameters[k] = Serialize(v);
    if (any_result) group.result = Serialize(results);
  }
  if (!failed.empty()) {
    Finish(group, NodePhase::kFailed, "child '" + failed + "' failed");
  } else {
    Finish(group, NodePhase::kSucceeded, "");
  }
}

Status Runner::ResolveOutputs(Node& owner, const Template& t) {
  Resolver scope = [&](std::string_view tag) {
    Lookup l = ScopeLookup(owner, tag, nullptr);
    return l.status == Lookup::Status::kKeep ? Lookup::Missing() : l;
  };
  for (const OutputParam& o : t.outputs) {
    auto v = Substitute(o.parameter, scope);
    if (!v) {
      if (o.default_value) {
        owner.output_parameters[o.name] = *o.default_value;
        continue;
      }
      return InvalidArgument("outputs.parameters." + o.name + ": " + v.error().message());
    }
    owner.output_parameters[o.name] = *v;
  }
  for (const OutputArtifactDecl& o : t.output_artifacts) {
    auto v = Substitute(o.from, scope);
    if (!v) {
      if (o.optional) continue;
      return InvalidArgument("outputs.artifacts." + o.name + ": " + v.error().message());
    }
    Artifact a;
    a.name = o.name;
    a.uri = *v;
    owner.output_artifacts.push_back(std::move(a));
  }
  return Status::Ok();
}

// Creates the node of a DAG task that has none yet, when its dependencies allow.
void Runner::CreateDagTask(const std::string& id, const Task& task, const std::string& name) {
  const Template& t = Tmpl(st_.Find(id)->template_name);
  const Node& dag = *st_.Find(id);
  std::string tid = NodeId(ctx_.run_name, name);
  // Dependencies: all finished, then the expression decides.
  if (task.depends) {
    bool ready = true;
    for (const std::string& d : task.depends->tasks()) {
      const Node* dn = TaskNode(dag, d);
      ready = ready && dn != nullptr && IsFinished(dn->phase);
    }
    if (!ready) return;
    bool go = task.depends->Evaluate([&](const std::string& d, const std::string& result) {
      return TaskResult(dag, *t.FindTask(d), result);
    });
    if (!go) {
      Node& n = AddNode(name, task.name, "Skipped", id, id, task.template_name, task.name);
      Finish(n, NodePhase::kOmitted, "omitted: depends condition not met");
      return;
    }
  }
  if (AtParallelismLimit(dag, t)) return;
  if (task.loop == LoopKind::kNone) {
    StartTask(dag, task, name, task.name, id, id, nullptr);
    return;
  }
  // A fan-out: `when` without {{item}} decides for the whole task, before expansion.
  Resolver scope = [&](std::string_view tag) { return ScopeLookup(dag, tag, nullptr); };
  if (!task.when.empty() && task.when.find("{{item") == std::string::npos) {
    auto text = Substitute(task.when, scope);
    auto yes = text ? argo::EvaluateWhen(*text) : Result<bool>(text.error());
    if (!yes || !*yes) {
      Node& n = AddNode(name, task.name, "Skipped", id, id, task.template_name, task.name);
      Finish(n, yes ? NodePhase::kSkipped : NodePhase::kError,
             yes ? "when '" + *text + "' evaluated false" : yes.error().message());
      return;
    }
  }
  Node& group = AddNode(name, task.name, "TaskGroup", id, id, task.template_name, task.name);
  auto items = LoopItems(task, scope);
  if (!items) {
    Finish(group, NodePhase::kError, items.error().message());
    return;
  }
  if (items->empty()) {
    Finish(group, NodePhase::kSkipped, "Skipped, empty params");
    return;
  }
  json::object stored;
  stored[task.name] = std::move(*items);
  group.state["items"] = std::move(stored);
  if (ReconcileLoop(*st_.Find(id), task, name, group.id, id)) CompleteGroup(*st_.Find(tid), false);
}

// Argo links a task's node under the outbound nodes of the tasks it depends on (the edges KFP's
// UI draws), and under the DAG node only when it depends on nothing.
void Runner::Relink(const std::string& dag_id, const Task& task, const std::string& tid) {
  if (!task.depends || task.depends->tasks().empty()) return;
  Node& dag = *st_.Find(dag_id);
  std::erase(dag.children, tid);
  for (const std::string& d : task.depends->tasks()) {
    const Node* dn = TaskNode(dag, d);
    if (dn == nullptr) continue;
    for (const std::string& o : Outbound(dn->id)) {
      Node* on = st_.Find(o);
      if (on != nullptr &&
          std::find(on->children.begin(), on->children.end(), tid) == on->children.end()) {
        on->children.push_back(tid);
      }
    }
  }
}

// Argo's getOutboundNodes: the nodes a dependent hangs under.
std::vector<std::string> Runner::Outbound(const std::string& id) const {
  const Node* n = st_.Find(id);
  if (n == nullptr) return {};
  std::vector<std::string> out;
  auto own_children = [&](const Node& parent) {
    for (const std::string& c : parent.children) {
      const Node* cn = st_.Find(c);
      if (cn == nullptr || cn->parent != parent.id) continue;
      auto more = Outbound(c);
      out.insert(out.end(), more.begin(), more.end());
    }
  };
  if (n->type == "TaskGroup" || n->type == "StepGroup") {
    own_children(*n);
  } else if (n->type == "DAG") {
    const Template& t = Tmpl(n->template_name);
    for (const std::string& target : t.targets) {
      if (const Node* tn = TaskNode(*n, target)) {
        auto more = Outbound(tn->id);
        out.insert(out.end(), more.begin(), more.end());
      }
    }
  } else if (n->type == "Steps") {
    const Node* last = nullptr;
    for (size_t g = 0;; ++g) {
      const Node* group = st_.Find(NodeId(ctx_.run_name, n->name + "[" + std::to_string(g) + "]"));
      if (group == nullptr) break;
      last = group;
    }
    if (last != nullptr) own_children(*last);
  }
  if (out.empty()) out.push_back(id);
  return out;
}

void Runner::ReconcileDag(const std::string& id) {
  // Nodes are added but never erased while the tree is reconciled: pointers stay valid.
  Node* const dag_node = st_.Find(id);
  const Template& t = Tmpl(dag_node->template_name);
  const std::string prefix = dag_node->name + ".";
  // Tasks whose node existed and is not finished, and the ids of nodes created now (they may
  // have finished at once: skipped, errors, empty DAGs).
  bool unfinished = false;
  std::vector<std::string> created;
  for (const Task& task : t.tasks) {
    std::string name = prefix + task.name;
    std::string tid = NodeId(ctx_.run_name, name);
    if (Node* existing = st_.Find(tid)) {
      if (IsFinished(existing->phase)) continue;
      if (existing->type == "TaskGroup") {
        if (ReconcileLoop(*dag_node, task, name, tid, id)) CompleteGroup(*existing, false);
      } else {
        Reconcile(tid);
      }
      if (!IsFinished(existing->phase)) unfinished = true;
      continue;
    }
    if (terminating_) {
      unfinished = true;
      continue;
    }
    CreateDagTask(id, task, name);
    if (st_.Find(tid) != nullptr) Relink(id, task, tid);
    created.push_back(std::move(tid));
  }
  if (unfinished) return;
  for (const std::string& tid : created) {
    const Node* n = st_.Find(tid);
    if (n == nullptr || !IsFinished(n->phase)) return;
  }
  // Every task has a finished node: Argo's branch rule. An omitted task carries the worst phase
  // of the tasks it depends on; the DAG fails when a target (a task nothing depends on) carries
  // a failure.
  Node& dag = *st_.Find(id);
  std::map<std::string, std::pair<NodePhase, std::string>> branch;  // task -> phase, failed id
  for (const Task& task : t.tasks) {
    const Node* n = TaskNode(dag, task.name);
    NodePhase ph = n->phase;
    std::string culprit = n->id;
    if (ph == NodePhase::kOmitted && task.depends) {
      ph = NodePhase::kSucceeded;
      for (const std::string& d : task.depends->tasks()) {
        const auto& b = branch[d];
        if (b.first == NodePhase::kFailed || b.first == NodePhase::kError) {
          ph = b.first;
          culprit = b.second;
          break;
        }
      }
    } else if ((ph == NodePhase::kFailed && task.continue_failed) ||
               (ph == NodePhase::kError && task.continue_error)) {
      ph = NodePhase::kSucceeded;
    }
    branch[task.name] = {ph, culprit};
  }
  for (const Task& task : t.tasks) {
    if (!t.targets.contains(task.name)) continue;
    const auto& b = branch[task.name];
    if (b.first == NodePhase::kFailed || b.first == NodePhase::kError) {
      Finish(dag, NodePhase::kFailed, "child '" + b.second + "' failed");
      return;
    }
  }
  if (Status s = ResolveOutputs(dag, t); !s.ok()) {
    Finish(dag, NodePhase::kError, s.message());
    return;
  }
  Finish(dag, NodePhase::kSucceeded, "");
}

void Runner::ReconcileSteps(const std::string& id) {
  const Template& t = Tmpl(st_.Find(id)->template_name);
  for (size_t g = 0; g < t.steps.size(); ++g) {
    const Node& steps = *st_.Find(id);
    std::string gname = steps.name + "[" + std::to_string(g) + "]";
    std::string gid = NodeId(ctx_.run_name, gname);
    if (st_.Find(gid) == nullptr) {
      if (terminating_) return;
      Node& group = AddNode(gname, "[" + std::to_string(g) + "]", "StepGroup", id, id, t.name, "");
      if (g > 0) {
        // Argo hangs each group under the outbound nodes of the group before it.
        std::erase(st_.Find(id)->children, gid);
        std::string prev = NodeId(ctx_.run_name, steps.name + "[" + std::to_string(g - 1) + "]");
        for (const std::string& o : Outbound(prev)) {
          if (Node* on = st_.Find(o)) on->children.push_back(gid);
        }
      }
      // Loop items are fixed when the group starts (everything they refer to has finished).
      json::object stored;
      for (const Task& s : t.steps[g]) {
        if (s.loop == LoopKind::kNone) continue;
        auto items = LoopItems(
            s, [&](std::string_view tag) { return ScopeLookup(*st_.Find(id), tag, nullptr); });
        if (!items) {
          Finish(group, NodePhase::kError, "step '" + s.name + "': " + items.error().message());
          break;
        }
        stored[s.name] = std::move(*items);
      }
      if (!IsFinished(group.phase)) group.state["items"] = std::move(stored);
    }
    Node* group = st_.Find(gid);
    if (!IsFinished(group->phase)) {
      bool all_done = true;
      for (const Task& s : t.steps[g]) {
        std::string base = gname + "." + s.name;
        if (s.loop != LoopKind::kNone) {
          if (!ReconcileLoop(*st_.Find(id), s, base, gid, id)) all_done = false;
          continue;
        }
        std::string sid = NodeId(ctx_.run_name, base);
        if (st_.Find(sid) != nullptr) {
          Reconcile(sid);
        } else if (!terminating_ && !AtParallelismLimit(*st_.Find(id), t)) {
          StartTask(*st_.Find(id), s, base, s.name, gid, id, nullptr);
        }
        const Node* sn = st_.Find(sid);
        if (sn == nullptr || !IsFinished(sn->phase)) all_done = false;
      }
      if (!all_done) return;
      CompleteGroup(*st_.Find(gid), true);
    }
    group = st_.Find(gid);
    if (group->phase != NodePhase::kSucceeded) {
      Finish(*st_.Find(id), NodePhase::kFailed, "child '" + gid + "' failed");
      return;
    }
  }
  Node& steps = *st_.Find(id);
  if (Status s = ResolveOutputs(steps, t); !s.ok()) {
    Finish(steps, NodePhase::kError, s.message());
    return;
  }
  Finish(steps, NodePhase::kSucceeded, "");
}

void Runner::Terminate() {
  for (auto& [id, n] : st_.nodes) {
    if (IsFinished(n.phase)) continue;
    if (n.type == "Pod" && n.phase == NodePhase::kPending && n.attempts == 0) {
      Finish(n, NodePhase::kOmitted, "terminated");
    } else {
      Finish(n, NodePhase::kFailed, "terminated");
    }
  }
}

// The first failed step (by finish time, then name), for the run's message.
std::string Runner::FailedLeafMessage(const Node& root) const {
  const Node* best = nullptr;
  std::string exit_prefix = ctx_.run_name + ".onExit";
  bool in_exit = root.name == exit_prefix;
  for (const auto& [id, n] : st_.nodes) {
    if (StartsWith(n.name, exit_prefix) != in_exit) continue;
    bool container =
        n.type == "DAG" || n.type == "Steps" || n.type == "TaskGroup" || n.type == "StepGroup";
    if (container || (n.phase != NodePhase::kFailed && n.phase != NodePhase::kError)) continue;
    if (best == nullptr || n.finished_at_ms < best->finished_at_ms ||
        (n.finished_at_ms == best->finished_at_ms && n.name < best->name)) {
      best = &n;
    }
  }
  if (best == nullptr) {
    // No step failed: a DAG or steps node did (its outputs, its inputs, runaway recursion).
    // Follow the "child '...' failed" messages down to the node that says why.
    best = &root;
    for (int guard = 0; guard < 10000 && StartsWith(best->message, "child '"); ++guard) {
      std::string id = best->message.substr(7, best->message.find('\'', 7) - 7);
      const Node* next = st_.Find(id);
      if (next == nullptr) break;
      best = next;
    }
  }
  std::string m = "step '" + best->display_name + "' (" + best->name + ") " +
                  (best->phase == NodePhase::kError ? "errored" : "failed");
  if (!best->message.empty()) m += ": " + best->message;
  return m;
}

Status Runner::Advance() {
  try {
    return AdvanceOnce();
  } catch (const std::exception& e) {
    // Only a damaged state (Program bookkeeping of unexpected shape) gets here.
    return Internal(std::string("damaged run state: ") + e.what());
  }
}

Status Runner::AdvanceOnce() {
  if (st_.phase == RunPhase::kSucceeded || st_.phase == RunPhase::kFailed ||
      st_.phase == RunPhase::kError) {
    return Status::Ok();
  }
  const Workflow& c = p_.c();
  // Argo's executor trims one trailing newline off every output parameter ("for user
  // convenience"; KFP v1's coin flip writes "heads\n" and compares with "heads"). The engine
  // stores file contents as they are, so the Program trims once per node.
  for (auto& [id, n] : st_.nodes) {
    if (n.type != "Pod" || n.phase != NodePhase::kSucceeded || n.state.contains("trimmed"))
      continue;
    for (auto& kv : n.output_parameters) {
      if (const auto* v = kv.value().if_string(); v != nullptr && v->ends_with('\n')) {
        kv.value() = json::string(v->subview(0, v->size() - 1));
      }
    }
    n.state["trimmed"] = true;
  }
  if (st_.root.empty()) {
    for (const auto& kv : ctx_.parameters) {
      bool known = std::any_of(c.arguments.begin(), c.arguments.end(),
                               [&](const InputParam& p) { return p.name == kv.key(); });
      if (!known) return InvalidArgument("unknown parameter '" + std::string(kv.key()) + "'");
      if (!IsScalar(kv.value())) {
        return InvalidArgument("parameter '" + std::string(kv.key()) + "' must be a string");
      }
    }
    for (const InputParam& a : c.arguments) {
      if (!globals_.contains("workflow.parameters." + a.name)) {
        return InvalidArgument("parameter '" + a.name + "' has no value");
      }
    }
    if (terminating_) {
      st_.phase = RunPhase::kFailed;
      st_.message = "Stopped with strategy 'Terminate'";
      st_.finished_at_ms = ctx_.now_ms;
      return Status::Ok();
    }
    st_.phase = RunPhase::kRunning;
    st_.started_at_ms = ctx_.now_ms;
    Call root;
    root.name = ctx_.run_name;
    root.display = ctx_.run_name;
    root.tmpl = &Tmpl(c.entrypoint);
    for (const InputParam& a : c.arguments)
      root.params[a.name] = globals_["workflow.parameters." + a.name];
    Instantiate(root);
  }
  Reconcile(st_.root);
  const Node* root = st_.Find(st_.root);
  if (terminating_) {
    Terminate();
    st_.phase = RunPhase::kFailed;
    st_.message = "Stopped with strategy 'Terminate'";
    st_.finished_at_ms = ctx_.now_ms;
    return Status::Ok();
  }
  if (!IsFinished(root->phase)) return Status::Ok();
  // The exit handler runs after the main tree, whatever its outcome.
  const Node* exit = nullptr;
  if (!c.on_exit.empty()) {
    std::string exit_name = ctx_.run_name + ".onExit";
    std::string exit_id = NodeId(ctx_.run_name, exit_name);
    const json::value* exit_for = st_.state.if_contains("exitFor");
    if (st_.Find(exit_id) != nullptr && (exit_for == nullptr || !exit_for->is_int64() ||
                                         exit_for->get_int64() != root->finished_at_ms)) {
      // The main tree finished again (the run was retried): its exit handler runs again.
      std::erase_if(st_.nodes,
                    [&](const auto& kv) { return StartsWith(kv.second.name, exit_name); });
      for (auto& [id, n] : st_.nodes) {
        std::erase_if(n.children, [&](const std::string& c) { return !st_.nodes.contains(c); });
      }
    }
    if (st_.Find(exit_id) == nullptr) {
      st_.state["exitFor"] = root->finished_at_ms;
      std::string status = root->phase == NodePhase::kSucceeded
                               ? "Succeeded"
                               : (root->phase == NodePhase::kError ? "Error" : "Failed");
      json::array failures;
      for (const auto& [id, n] : st_.nodes) {
        if (n.phase != NodePhase::kFailed && n.phase != NodePhase::kError) continue;
        if (n.type != "Pod" && n.type != "Skipped") continue;
        failures.push_back(json::object{{"displayName", n.display_name},
                                        {"message", n.message},
                                        {"templateName", n.template_name},
                                        {"phase", NodePhaseName(n.phase)},
                                        {"podName", n.id},
                                        {"finishedAt", Rfc3339(n.finished_at_ms)}});
      }
      st_.state["workflowStatus"] = status;
      st_.state["workflowDuration"] = std::to_string((ctx_.now_ms - st_.started_at_ms) / 1000.0);
      globals_["workflow.duration"] = Scalar(st_.state["workflowDuration"]);
      st_.state["workflowFailures"] = Serialize(failures);
      globals_["workflow.status"] = status;
      globals_["workflow.failures"] = Serialize(failures);
      Call call;
      call.name = exit_name;
      call.display = exit_name;
      call.tmpl = &Tmpl(c.on_exit);
      Instantiate(call);
    } else {
      Reconcile(exit_id);
    }
    exit = st_.Find(exit_id);
    if (!IsFinished(exit->phase)) return Status::Ok();
  }
  root = st_.Find(st_.root);
  if (root->phase == NodePhase::kSucceeded) {
    st_.phase = RunPhase::kSucceeded;
    st_.message.clear();
  } else {
    st_.phase = root->phase == NodePhase::kError ? RunPhase::kError : RunPhase::kFailed;
    st_.message = FailedLeafMessage(*root);
  }
  if (exit != nullptr && exit->phase != NodePhase::kSucceeded) {
    if (st_.phase == RunPhase::kSucceeded) {
      st_.phase = RunPhase::kFailed;
      st_.message = "exit handler failed: " + FailedLeafMessage(*exit);
    }
  }
  st_.finished_at_ms = ctx_.now_ms;
  return Status::Ok();
}

}  // namespace

std::shared_ptr<const Program> MakeArgoProgram(Workflow wf) {
  return std::make_shared<ArgoProgram>(std::move(wf));
}

}  // namespace skiff::pipelines::argo
