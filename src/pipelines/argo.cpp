#include "pipelines/argo.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/crypto.hpp"
#include "pipelines/argo_expr.hpp"

namespace skiff::pipelines {
namespace {

using argo::DependsExpr;

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

constexpr std::string_view kScriptPath = "/tmp/argo/staging/script";

// ---------------------------------------------------------------------------------------------
// Small helpers.

std::string Scalar(const json::value& v) {
  if (const auto* s = v.if_string()) return std::string(*s);
  if (v.is_bool()) return v.get_bool() ? "true" : "false";
  if (v.is_null()) return "";
  return Serialize(v);
}

bool IsScalar(const json::value& v) { return v.is_string() || v.is_number() || v.is_bool(); }

// Canonical JSON: object keys sorted at every level, so equal templates hash equally.
void AppendCanonical(std::string& out, const json::value& v) {
  if (const auto* o = v.if_object()) {
    std::vector<std::pair<std::string_view, const json::value*>> items;
    for (const auto& kv : *o) items.emplace_back(kv.key(), &kv.value());
    std::sort(items.begin(), items.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    out.push_back('{');
    for (size_t i = 0; i < items.size(); ++i) {
      if (i != 0) out.push_back(',');
      AppendJsonString(out, items[i].first);
      out.push_back(':');
      AppendCanonical(out, *items[i].second);
    }
    out.push_back('}');
  } else if (const auto* a = v.if_array()) {
    out.push_back('[');
    for (size_t i = 0; i < a->size(); ++i) {
      if (i != 0) out.push_back(',');
      AppendCanonical(out, (*a)[i]);
    }
    out.push_back(']');
  } else {
    out += Serialize(v);
  }
}

std::string Canonical(const json::value& v) {
  std::string out;
  AppendCanonical(out, v);
  return out;
}

bool UnderTmp(std::string_view path) {
  if (path == "/tmp") return true;
  if (path.substr(0, 5) != "/tmp/") return false;
  // No ".." segment may climb out.
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    if (path.substr(pos, end - pos) == "..") return false;
    pos = end + 1;
  }
  return true;
}

// Go's time.ParseDuration subset ("1h2m3.5s", "500ms") or a plain number of seconds.
Result<int64_t> ParseDurationMs(const json::value& v) {
  if (v.is_int64()) return v.get_int64() * 1000;
  if (v.is_uint64()) return static_cast<int64_t>(v.get_uint64()) * 1000;
  if (v.is_double()) return static_cast<int64_t>(v.get_double() * 1000);
  const auto* s = v.if_string();
  if (s == nullptr || s->empty()) return InvalidArgument("not a duration");
  std::string_view text = *s;
  double total = 0;
  bool all_digits =
      std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (all_digits) {
    int64_t n = 0;
    std::from_chars(text.data(), text.data() + text.size(), n);
    return n * 1000;
  }
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
    if (start == i) return InvalidArgument("'" + std::string(text) + "' is not a duration");
    double n = 0;
    auto [p, ec] = std::from_chars(text.data() + start, text.data() + i, n);
    if (ec != std::errc()) return InvalidArgument("'" + std::string(text) + "' is not a duration");
    size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i])) != 0) ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    double ms = 0;
    if (unit == "h") {
      ms = 3600000;
    } else if (unit == "m") {
      ms = 60000;
    } else if (unit == "s") {
      ms = 1000;
    } else if (unit == "ms") {
      ms = 1;
    } else if (unit == "us" || unit == "µs") {
      ms = 0.001;
    } else if (unit == "ns") {
      ms = 0.000001;
    } else {
      return InvalidArgument("'" + std::string(text) + "' is not a duration (unit '" +
                             std::string(unit) + "')");
    }
    total += n * ms;
  }
  return static_cast<int64_t>(total);
}

Result<int64_t> ParseInt(const json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64()) return static_cast<int64_t>(v.get_uint64());
  if (const auto* s = v.if_string()) {
    int64_t n = 0;
    auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), n);
    if (ec == std::errc() && p == s->data() + s->size()) return n;
  }
  return InvalidArgument("not an integer");
}

// The `{{...}}` tags of a string, trimmed.
std::vector<std::string> Tags(std::string_view s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = s.find("{{", pos)) != std::string_view::npos) {
    size_t end = s.find("}}", pos + 2);
    if (end == std::string_view::npos) break;
    std::string_view inner = s.substr(pos + 2, end - pos - 2);
    while (!inner.empty() && inner.front() == ' ') inner.remove_prefix(1);
    while (!inner.empty() && inner.back() == ' ') inner.remove_suffix(1);
    out.emplace_back(inner);
    pos = end + 2;
  }
  return out;
}

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// How a variable resolved.
struct Lookup {
  enum class Status { kFound, kMissing, kKeep } status = Status::kMissing;
  std::string value;
  static Lookup Found(std::string v) { return {Status::kFound, std::move(v)}; }
  static Lookup Keep() { return {Status::kKeep, {}}; }
  static Lookup Missing() { return {}; }
};
using Resolver = std::function<Lookup(std::string_view tag)>;

// Replaces every `{{tag}}`. kKeep leaves the tag as written (Argo's allowUnresolved for outputs
// of tasks that did not run); kMissing fails naming the tag.
Result<std::string> Substitute(std::string_view s, const Resolver& resolve) {
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t open = s.find("{{", pos);
    if (open == std::string_view::npos) break;
    size_t close = s.find("}}", open + 2);
    if (close == std::string_view::npos) break;
    out.append(s.substr(pos, open - pos));
    std::string_view inner = s.substr(open + 2, close - open - 2);
    while (!inner.empty() && inner.front() == ' ') inner.remove_prefix(1);
    while (!inner.empty() && inner.back() == ' ') inner.remove_suffix(1);
    Lookup l = resolve(inner);
    if (l.status == Lookup::Status::kFound) {
      out += l.value;
    } else if (l.status == Lookup::Status::kKeep) {
      out.append(s.substr(open, close + 2 - open));
    } else {
      return InvalidArgument("Unable to resolve: {{" + std::string(inner) + "}}");
    }
    pos = close + 2;
  }
  out.append(s.substr(pos));
  return out;
}

// Argo's Item.String(): strings bare, everything else as JSON (object keys sorted, as Go does).
std::string ItemString(const json::value& item) {
  if (const auto* s = item.if_string()) return std::string(*s);
  return Canonical(item);
}

// ---------------------------------------------------------------------------------------------
// Compilation.

class Compiler {
 public:
  explicit Compiler(const json::object& wf) : wf_(wf) {}
  Status Run();

  std::vector<Template> templates;
  std::map<std::string, size_t> by_name;
  std::string entrypoint, on_exit, name, description;
  std::vector<InputParam> arguments;
  std::vector<ParameterInfo> parameters;
  int parallelism = 0;
  int64_t deadline_ms = 0;
  std::map<std::string, std::string> labels, annotations;

 private:
  Status Err(const std::string& path, const std::string& what) {
    return InvalidArgument(path + ": " + what);
  }
  Status CompileTemplate(const json::object& t, const std::string& path, Template& out);
  Status CompilePod(const json::object& t, const std::string& path, Template& out);
  Status CompileTask(const json::object& t, const std::string& path, Task& out);
  Status CompileDag(const json::object& dag, const std::string& path, Template& out);
  Status CheckReferences(const Template& t);
  Status CheckTags(std::string_view s, const std::string& path, const Template& t, bool dag_scope,
                   const Template* steps_or_dag);

  const json::object& wf_;
};

Result<std::vector<std::pair<std::string, std::string>>> NameValues(const json::value* v,
                                                                    const std::string& path,
                                                                    std::string_view value_key) {
  std::vector<std::pair<std::string, std::string>> out;
  if (v == nullptr) return out;
  const auto* a = v->if_array();
  if (a == nullptr) return InvalidArgument(path + ": must be a list");
  for (size_t i = 0; i < a->size(); ++i) {
    std::string p = path + "[" + std::to_string(i) + "]";
    const auto* o = (*a)[i].if_object();
    if (o == nullptr) return InvalidArgument(p + ": must be an object");
    std::string n = GetString(*o, "name");
    if (n.empty()) return InvalidArgument(p + ".name: required");
    std::string value;
    if (const auto* val = o->if_contains(value_key)) {
      if (!IsScalar(*val))
        return InvalidArgument(p + "." + std::string(value_key) + ": must be a string");
      value = Scalar(*val);
    } else if (o->contains("valueFrom")) {
      return InvalidArgument(p + ".valueFrom: argument values from config maps or other sources " +
                             "are not supported by local runs");
    } else if (value_key == "from") {
      return InvalidArgument(p + ".from: required (artifacts are passed with 'from')");
    }
    out.emplace_back(std::move(n), std::move(value));
  }
  return out;
}

Status CheckArtifactLocation(const json::object& a, const std::string& path) {
  static constexpr std::string_view kRemote[] = {"s3",  "gcs",   "http",        "git",   "hdfs",
                                                 "oss", "azure", "artifactory", "plugin"};
  for (std::string_view k : kRemote) {
    if (a.contains(k)) {
      return InvalidArgument(path + "." + std::string(k) +
                             ": artifact repositories other than skiff's own store are not "
                             "supported by local runs");
    }
  }
  return Status::Ok();
}

Status Compiler::CompilePod(const json::object& t, const std::string& path, Template& out) {
  bool script = out.kind == Kind::kScript;
  std::string kp = path + (script ? ".script" : ".container");
  const json::object& c = script ? t.at("script").as_object() : t.at("container").as_object();
  static constexpr std::string_view kRefusedC[] = {"volumeMounts", "volumeDevices", "envFrom"};
  for (std::string_view k : kRefusedC) {
    if (c.contains(k)) {
      return Err(kp + "." + std::string(k),
                 "volumes and config sources need a cluster; local "
                 "runs do not support them");
    }
  }
  out.image = GetString(c, "image");
  if (const auto* cmd = c.if_contains("command")) {
    if (!cmd->is_array()) return Err(kp + ".command", "must be a list");
    for (const auto& x : cmd->as_array()) out.command.push_back(Scalar(x));
  }
  if (const auto* args = c.if_contains("args")) {
    if (!args->is_array()) return Err(kp + ".args", "must be a list");
    for (const auto& x : args->as_array()) out.args.push_back(Scalar(x));
  }
  if (out.command.empty()) {
    return Err(kp + ".command",
               "required: a local run executes the command on this machine and cannot use the "
               "image's entrypoint");
  }
  if (script) {
    const auto* src = c.if_contains("source");
    if (src == nullptr || !src->is_string()) return Err(kp + ".source", "required");
    out.source = std::string(src->as_string());
  }
  if (const auto* env = c.if_contains("env")) {
    if (!env->is_array()) return Err(kp + ".env", "must be a list");
    for (size_t i = 0; i < env->as_array().size(); ++i) {
      std::string ep = kp + ".env[" + std::to_string(i) + "]";
      const auto* e = env->as_array()[i].if_object();
      if (e == nullptr) return Err(ep, "must be an object");
      if (e->contains("valueFrom")) {
        return Err(ep + ".valueFrom",
                   "values from secrets, config maps or the pod are not supported by local runs");
      }
      std::string n = GetString(*e, "name");
      if (n.empty()) return Err(ep + ".name", "required");
      const auto* v = e->if_contains("value");
      out.env.emplace_back(n, v != nullptr ? Scalar(*v) : "");
    }
  }
  if (const auto* wd = c.if_contains("workingDir")) {
    out.working_dir = Scalar(*wd);
    if (!out.working_dir.empty() && !UnderTmp(out.working_dir)) {
      return Err(kp + ".workingDir", "'" + out.working_dir +
                                         "' is outside /tmp; a local task may only use paths "
                                         "under /tmp");
    }
  }
  if (const auto* res = GetObject(c, "resources")) {
    for (std::string_view which : {"limits", "requests"}) {
      const auto* m = GetObject(*res, which);
      if (m == nullptr) continue;
      for (const auto& kv : *m) {
        std::string_view key = kv.key();
        if (key.find("gpu") != std::string_view::npos || key.find('/') != std::string_view::npos) {
          return Err(kp + ".resources." + std::string(which) + "." + std::string(key),
                     "accelerators and extended resources need a cluster; local runs do not "
                     "support them");
        }
      }
    }
  }
  // Retries and deadlines.
  if (const auto* rs = GetObject(t, "retryStrategy")) {
    std::string rp = path + ".retryStrategy";
    if (rs->contains("expression")) return Err(rp + ".expression", "not supported by local runs");
    if (const auto* limit = rs->if_contains("limit")) {
      auto n = ParseInt(*limit);
      if (!n || *n < 0) return Err(rp + ".limit", "must be a non-negative integer");
      out.retry.limit = static_cast<int>(*n);
    } else {
      out.retry.limit = 10;  // Argo: no limit means retry; bounded here
    }
    std::string policy = GetString(*rs, "retryPolicy", "OnFailure");
    if (policy == "OnFailure") {
      out.retry.on = RetryPolicy::On::kOnFailure;
    } else if (policy == "OnError" || policy == "OnTransientError") {
      out.retry.on = RetryPolicy::On::kOnError;
    } else if (policy == "Always") {
      out.retry.on = RetryPolicy::On::kAlways;
    } else {
      return Err(rp + ".retryPolicy", "'" + policy + "' is not one of Always, OnFailure, OnError");
    }
    if (const auto* b = GetObject(*rs, "backoff")) {
      if (const auto* d = b->if_contains("duration")) {
        auto ms = ParseDurationMs(*d);
        if (!ms) return Err(rp + ".backoff.duration", ms.error().message());
        out.retry.backoff_ms = *ms;
      }
      if (const auto* f = b->if_contains("factor")) {
        double factor = 0;
        if (f->is_number()) {
          factor = f->to_number<double>();
        } else if (auto n = ParseInt(*f)) {
          factor = static_cast<double>(*n);
        } else {
          return Err(rp + ".backoff.factor", "must be a number");
        }
        out.retry.factor = factor;
      }
      if (const auto* m = b->if_contains("maxDuration")) {
        auto ms = ParseDurationMs(*m);
        if (!ms) return Err(rp + ".backoff.maxDuration", ms.error().message());
        out.retry.max_backoff_ms = *ms;
      }
    }
  }
  // Caching (KFP v1's labels and annotations on the template's metadata).
  out.cacheable = true;
  if (const auto* md = GetObject(t, "metadata")) {
    if (const auto* l = GetObject(*md, "labels")) {
      if (GetString(*l, "/pipelines.kubeflow.org~1enable_caching") == "false")
        out.cacheable = false;
    }
    if (const auto* a = GetObject(*md, "annotations")) {
      if (GetString(*a, "/pipelines.kubeflow.org~1max_cache_staleness") == "P0D" ||
          GetString(*a, "/pipelines.kubeflow.org~1maxCacheStaleness") == "P0D") {
        out.cacheable = false;
      }
    }
  }
  json::object body = t;
  body.erase("metadata");
  out.canonical = Canonical(body);
  return Status::Ok();
}

Status Compiler::CompileTask(const json::object& t, const std::string& path, Task& out) {
  static constexpr std::string_view kRefused[] = {"templateRef", "inline", "hooks", "onExit"};
  for (std::string_view k : kRefused) {
    if (t.contains(k)) return Err(path + "." + std::string(k), "not supported by local runs");
  }
  out.path = path;
  out.name = GetString(t, "name");
  if (out.name.empty()) return Err(path + ".name", "required");
  out.template_name = GetString(t, "template");
  if (out.template_name.empty()) return Err(path + ".template", "required");
  if (const auto* args = GetObject(t, "arguments")) {
    auto p = NameValues(args->if_contains("parameters"), path + ".arguments.parameters", "value");
    if (!p) return p.error();
    out.arguments.parameters = std::move(*p);
    auto a = NameValues(args->if_contains("artifacts"), path + ".arguments.artifacts", "from");
    if (!a) return a.error();
    out.arguments.artifacts = std::move(*a);
  }
  if (const auto* w = t.if_contains("when")) {
    out.when = Scalar(*w);
    // Placeholders are values at run time; any value must leave a parseable expression.
    std::string probe;
    auto probed = Substitute(out.when, [](std::string_view) { return Lookup::Found("0"); });
    if (probed) probe = *probed;
    Status s = argo::CheckWhenSyntax(probe);
    if (!s.ok()) return Err(path + ".when", s.message());
  }
  int loops = 0;
  if (const auto* items = t.if_contains("withItems")) {
    if (!items->is_array()) return Err(path + ".withItems", "must be a list");
    out.loop = LoopKind::kItems;
    out.items = items->as_array();
    ++loops;
  }
  if (const auto* p = t.if_contains("withParam")) {
    out.loop = LoopKind::kParam;
    out.with_param = Scalar(*p);
    ++loops;
  }
  if (const auto* seq = t.if_contains("withSequence")) {
    const auto* o = seq->if_object();
    if (o == nullptr) return Err(path + ".withSequence", "must be an object");
    out.loop = LoopKind::kSequence;
    if (const auto* v = o->if_contains("count")) out.seq_count = Scalar(*v);
    if (const auto* v = o->if_contains("start")) out.seq_start = Scalar(*v);
    if (const auto* v = o->if_contains("end")) out.seq_end = Scalar(*v);
    out.seq_format = GetString(*o, "format");
    if (out.seq_count.empty() == out.seq_end.empty()) {
      return Err(path + ".withSequence", "exactly one of count and end is required");
    }
    ++loops;
  }
  if (loops > 1) return Err(path, "only one of withItems, withParam and withSequence may be given");
  if (const auto* co = GetObject(t, "continueOn")) {
    if (const auto* f = co->if_contains("failed"))
      out.continue_failed = f->is_bool() && f->get_bool();
    if (const auto* e = co->if_contains("error"))
      out.continue_error = e->is_bool() && e->get_bool();
  }
  return Status::Ok();
}

Status Compiler::CompileDag(const json::object& dag, const std::string& path, Template& out) {
  if (dag.contains("target")) return Err(path + ".target", "not supported by local runs");
  const auto* tasks = dag.if_contains("tasks");
  if (tasks == nullptr || !tasks->is_array() || tasks->as_array().empty()) {
    return Err(path + ".tasks", "required (a non-empty list)");
  }
  std::vector<Task> list;
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < tasks->as_array().size(); ++i) {
    std::string tp = path + ".tasks[" + std::to_string(i) + "]";
    const auto* o = tasks->as_array()[i].if_object();
    if (o == nullptr) return Err(tp, "must be an object");
    Task task;
    SKIFF_RETURN_IF_ERROR(CompileTask(*o, tp, task));
    if (index.contains(task.name)) return Err(tp + ".name", "duplicate task '" + task.name + "'");
    const auto* deps = o->if_contains("dependencies");
    const auto* depends = o->if_contains("depends");
    if (deps != nullptr && depends != nullptr) {
      return Err(tp, "dependencies and depends cannot both be given");
    }
    if (deps != nullptr) {
      if (!deps->is_array()) return Err(tp + ".dependencies", "must be a list");
      std::vector<std::string> names;
      for (const auto& d : deps->as_array()) names.push_back(Scalar(d));
      task.depends = DependsExpr::AllOf(names);
    } else if (depends != nullptr) {
      auto e = DependsExpr::Parse(Scalar(*depends));
      if (!e) return Err(tp + ".depends", e.error().message());
      task.depends = std::move(*e);
    }
    index[task.name] = i;
    list.push_back(std::move(task));
  }
  // Dangling names, then a topological order (Kahn, stable in file order); a leftover is a cycle.
  for (size_t i = 0; i < list.size(); ++i) {
    if (!list[i].depends) continue;
    for (const std::string& d : list[i].depends->tasks()) {
      if (!index.contains(d)) {
        return Err(
            path + ".tasks[" + std::to_string(i) + "]." +
                (dag.at("tasks").as_array()[i].as_object().contains("depends") ? "depends"
                                                                               : "dependencies"),
            "no task named '" + d + "' in this DAG");
      }
    }
  }
  std::vector<int> pending(list.size(), 0);
  std::set<std::string> depended;
  for (size_t i = 0; i < list.size(); ++i) {
    if (list[i].depends) {
      pending[i] = static_cast<int>(list[i].depends->tasks().size());
      for (const auto& d : list[i].depends->tasks()) depended.insert(d);
    }
  }
  std::vector<bool> done(list.size(), false);
  std::vector<Task> ordered;
  bool progress = true;
  while (progress) {
    progress = false;
    for (size_t i = 0; i < list.size(); ++i) {
      if (done[i] || pending[i] != 0) continue;
      done[i] = true;
      progress = true;
      for (size_t j = 0; j < list.size(); ++j) {
        if (!done[j] && list[j].depends) {
          const auto& ts = list[j].depends->tasks();
          if (std::find(ts.begin(), ts.end(), list[i].name) != ts.end()) --pending[j];
        }
      }
      ordered.push_back(list[i]);
    }
  }
  for (size_t i = 0; i < list.size(); ++i) {
    if (!done[i]) {
      return Err(path + ".tasks[" + std::to_string(i) + "]",
                 "dependency cycle through task '" + list[i].name + "'");
    }
  }
  for (const Task& t : ordered) {
    if (!depended.contains(t.name)) out.targets.insert(t.name);
  }
  out.tasks = std::move(ordered);
  return Status::Ok();
}

Status Compiler::CompileTemplate(const json::object& t, const std::string& path, Template& out) {
  out.path = path;
  out.name = GetString(t, "name");
  if (out.name.empty()) return Err(path + ".name", "required");
  static constexpr std::string_view kRefusedKinds[] = {"resource", "suspend", "containerSet",
                                                       "http",     "plugin",  "data"};
  for (std::string_view k : kRefusedKinds) {
    if (t.contains(k)) {
      std::string why = k == "resource"
                            ? "creates Kubernetes resources, which needs a cluster"
                            : (k == "suspend" ? "suspends the workflow for an approval, which "
                                                "local runs do not support"
                                              : "is not supported by local runs");
      return Err(path + "." + std::string(k), "a '" + std::string(k) + "' template " + why);
    }
  }
  static constexpr std::string_view kRefused[] = {
      "volumes",         "sidecars", "initContainers", "podSpecPatch",
      "synchronization", "memoize",  "templateRef"};
  for (std::string_view k : kRefused) {
    if (t.contains(k)) {
      return Err(path + "." + std::string(k),
                 std::string(k == "memoize" ? "skiff caches steps itself (KFP caching); "
                                            : "needs a cluster; ") +
                     "local runs do not support it");
    }
  }
  if (const auto* d = t.if_contains("daemon"); d != nullptr && d->is_bool() && d->get_bool()) {
    return Err(path + ".daemon", "daemon steps are not supported by local runs");
  }
  if (const auto* al = GetObject(t, "archiveLocation")) {
    for (const auto& kv : *al) {
      if (kv.key() != "archiveLogs") {
        return Err(path + ".archiveLocation." + std::string(kv.key()),
                   "artifact repositories other than skiff's own store are not supported by "
                   "local runs");
      }
    }
  }
  int kinds = 0;
  for (auto [key, kind] :
       {std::pair{"container", Kind::kContainer}, std::pair{"script", Kind::kScript},
        std::pair{"dag", Kind::kDag}, std::pair{"steps", Kind::kSteps}}) {
    if (t.contains(key)) {
      out.kind = kind;
      ++kinds;
    }
  }
  if (kinds == 0) {
    return Err(path, "template '" + out.name +
                         "' has no container, script, dag or steps (other template kinds are not "
                         "supported by local runs)");
  }
  if (kinds > 1) return Err(path, "a template has exactly one of container, script, dag, steps");
  if (out.IsPod() &&
      !(out.kind == Kind::kScript ? t.at("script") : t.at("container")).is_object()) {
    return Err(path, "container/script must be an object");
  }
  // Inputs.
  if (const auto* in = GetObject(t, "inputs")) {
    if (const auto* ps = in->if_contains("parameters")) {
      if (!ps->is_array()) return Err(path + ".inputs.parameters", "must be a list");
      for (size_t i = 0; i < ps->as_array().size(); ++i) {
        std::string pp = path + ".inputs.parameters[" + std::to_string(i) + "]";
        const auto* o = ps->as_array()[i].if_object();
        if (o == nullptr) return Err(pp, "must be an object");
        InputParam p;
        p.name = GetString(*o, "name");
        if (p.name.empty()) return Err(pp + ".name", "required");
        if (o->contains("valueFrom")) return Err(pp + ".valueFrom", "not supported by local runs");
        if (const auto* v = o->if_contains("value")) p.value = Scalar(*v);
        if (const auto* v = o->if_contains("default")) p.default_value = Scalar(*v);
        out.inputs.push_back(std::move(p));
      }
    }
    if (const auto* as = in->if_contains("artifacts")) {
      if (!as->is_array()) return Err(path + ".inputs.artifacts", "must be a list");
      for (size_t i = 0; i < as->as_array().size(); ++i) {
        std::string ap = path + ".inputs.artifacts[" + std::to_string(i) + "]";
        const auto* o = as->as_array()[i].if_object();
        if (o == nullptr) return Err(ap, "must be an object");
        SKIFF_RETURN_IF_ERROR(CheckArtifactLocation(*o, ap));
        InputArtifactDecl a;
        a.name = GetString(*o, "name");
        if (a.name.empty()) return Err(ap + ".name", "required");
        a.path = GetString(*o, "path");
        if (const auto* raw = GetObject(*o, "raw")) a.raw = GetString(*raw, "data");
        if (const auto* opt = o->if_contains("optional"))
          a.optional = opt->is_bool() && opt->get_bool();
        if (out.IsPod()) {
          if (a.path.empty()) return Err(ap + ".path", "required");
          if (!UnderTmp(a.path)) {
            return Err(ap + ".path", "'" + a.path +
                                         "' is outside /tmp; a local task may only "
                                         "use paths under /tmp");
          }
        }
        out.input_artifacts.push_back(std::move(a));
      }
    }
  }
  // Outputs.
  if (const auto* o = GetObject(t, "outputs")) {
    if (o->contains("result")) return Err(path + ".outputs.result", "not supported");
    if (const auto* ps = o->if_contains("parameters")) {
      if (!ps->is_array()) return Err(path + ".outputs.parameters", "must be a list");
      for (size_t i = 0; i < ps->as_array().size(); ++i) {
        std::string pp = path + ".outputs.parameters[" + std::to_string(i) + "]";
        const auto* po = ps->as_array()[i].if_object();
        if (po == nullptr) return Err(pp, "must be an object");
        OutputParam p;
        p.name = GetString(*po, "name");
        if (p.name.empty()) return Err(pp + ".name", "required");
        const auto* vf = GetObject(*po, "valueFrom");
        if (vf == nullptr) return Err(pp + ".valueFrom", "required");
        for (const auto& kv : *vf) {
          std::string_view k = kv.key();
          std::string vp = pp + ".valueFrom." + std::string(k);
          if (k == "path") {
            p.path = Scalar(kv.value());
            if (!out.IsPod()) return Err(vp, "only container and script templates have files");
            if (!UnderTmp(p.path)) {
              return Err(vp, "'" + p.path +
                                 "' is outside /tmp; a local task may only use paths "
                                 "under /tmp");
            }
          } else if (k == "parameter") {
            p.parameter = Scalar(kv.value());
            if (out.IsPod()) return Err(vp, "only dag and steps templates take outputs of tasks");
          } else if (k == "default") {
            p.default_value = Scalar(kv.value());
          } else if (k == "expression") {
            // The simple form: a reference to one task's or step's output.
            std::string e = Scalar(kv.value());
            std::string ref;
            for (size_t i2 = 0; i2 < e.size(); ++i2) {
              if (e.compare(i2, 2, "['") == 0) {
                size_t end = e.find("']", i2 + 2);
                if (end == std::string::npos) break;
                ref += "." + e.substr(i2 + 2, end - i2 - 2);
                i2 = end + 1;
              } else if (e[i2] != ' ') {
                ref.push_back(e[i2]);
              }
            }
            bool simple = (StartsWith(ref, "tasks.") || StartsWith(ref, "steps.")) &&
                          ref.find(".outputs.") != std::string::npos &&
                          ref.find_first_of("?:()=!<>&|+*\"'") == std::string::npos;
            if (!simple || out.IsPod()) {
              return Err(
                  vp, "only a plain reference to a task's output is supported (got '" + e + "')");
            }
            p.parameter = "{{" + ref + "}}";
          } else {
            return Err(vp, "not supported by local runs");
          }
        }
        if (p.path.empty() && p.parameter.empty() && !p.default_value) {
          return Err(pp + ".valueFrom", out.IsPod() ? "path required" : "parameter required");
        }
        out.outputs.push_back(std::move(p));
      }
    }
    if (const auto* as = o->if_contains("artifacts")) {
      if (!as->is_array()) return Err(path + ".outputs.artifacts", "must be a list");
      for (size_t i = 0; i < as->as_array().size(); ++i) {
        std::string ap = path + ".outputs.artifacts[" + std::to_string(i) + "]";
        const auto* ao = as->as_array()[i].if_object();
        if (ao == nullptr) return Err(ap, "must be an object");
        SKIFF_RETURN_IF_ERROR(CheckArtifactLocation(*ao, ap));
        OutputArtifactDecl a;
        a.name = GetString(*ao, "name");
        if (a.name.empty()) return Err(ap + ".name", "required");
        a.path = GetString(*ao, "path");
        a.from = GetString(*ao, "from");
        if (const auto* opt = ao->if_contains("optional"))
          a.optional = opt->is_bool() && opt->get_bool();
        if (out.IsPod()) {
          if (a.path.empty()) return Err(ap + ".path", "required");
          if (!UnderTmp(a.path)) {
            return Err(ap + ".path", "'" + a.path +
                                         "' is outside /tmp; a local task may only "
                                         "use paths under /tmp");
          }
        } else if (a.from.empty()) {
          return Err(ap + ".from", "required in dag and steps templates");
        }
        out.output_artifacts.push_back(std::move(a));
      }
    }
  }
  for (std::string_view k : {"activeDeadlineSeconds", "timeout"}) {
    if (const auto* v = t.if_contains(k)) {
      Result<int64_t> ms = ParseDurationMs(*v);
      if (k == "activeDeadlineSeconds") {
        auto secs = ParseInt(*v);
        ms = secs ? Result<int64_t>(*secs * 1000) : Result<int64_t>(secs.error());
      }
      if (!ms || *ms < 0) return Err(path + "." + std::string(k), "must be a number of seconds");
      out.timeout_ms = out.timeout_ms == 0 ? *ms : std::min(out.timeout_ms, *ms);
    }
  }
  if (const auto* v = t.if_contains("parallelism")) {
    auto n = ParseInt(*v);
    if (!n || *n < 0) return Err(path + ".parallelism", "must be a non-negative integer");
    out.parallelism = static_cast<int>(*n);
  }
  switch (out.kind) {
    case Kind::kContainer:
    case Kind::kScript:
      return CompilePod(t, path, out);
    case Kind::kDag: {
      const auto* dag = t.at("dag").if_object();
      if (dag == nullptr) return Err(path + ".dag", "must be an object");
      return CompileDag(*dag, path + ".dag", out);
    }
    case Kind::kSteps: {
      const auto* groups = t.at("steps").if_array();
      if (groups == nullptr || groups->empty())
        return Err(path + ".steps", "must be a non-empty list");
      std::set<std::string> names;
      for (size_t g = 0; g < groups->size(); ++g) {
        std::string gp = path + ".steps[" + std::to_string(g) + "]";
        const auto* group = (*groups)[g].if_array();
        if (group == nullptr || group->empty()) return Err(gp, "must be a non-empty list of steps");
        std::vector<Task> steps;
        for (size_t s = 0; s < group->size(); ++s) {
          std::string sp = gp + "[" + std::to_string(s) + "]";
          const auto* so = (*group)[s].if_object();
          if (so == nullptr) return Err(sp, "must be an object");
          for (std::string_view k : {"dependencies", "depends"}) {
            if (so->contains(k)) return Err(sp + "." + std::string(k), "only DAG tasks have it");
          }
          Task step;
          SKIFF_RETURN_IF_ERROR(CompileTask(*so, sp, step));
          if (!names.insert(step.name).second) {
            return Err(sp + ".name", "duplicate step '" + step.name + "'");
          }
          steps.push_back(std::move(step));
        }
        out.steps.push_back(std::move(steps));
      }
      return Status::Ok();
    }
  }
  return Status::Ok();
}

// Checks the `{{...}}` variables a string uses against what is in scope there.
Status Compiler::CheckTags(std::string_view s, const std::string& path, const Template& t,
                           bool dag_scope, const Template* parent) {
  for (const std::string& tag : Tags(s)) {
    auto bad = [&](const std::string& why) { return Err(path, "{{" + tag + "}}: " + why); };
    if (StartsWith(tag, "=")) return bad("expression templates are not supported by local runs");
    if (StartsWith(tag, "workflow.") || tag == "pod.name" || tag == "retries" ||
        tag == "node.name" || StartsWith(tag, "lastRetry.")) {
      if (StartsWith(tag, "workflow.parameters.")) {
        std::string n = tag.substr(20);
        bool known = std::any_of(arguments.begin(), arguments.end(),
                                 [&](const InputParam& p) { return p.name == n; });
        if (!known) return bad("no workflow parameter '" + n + "' in spec.arguments.parameters");
      }
      continue;
    }
    if (StartsWith(tag, "inputs.parameters.")) {
      std::string n = tag.substr(18);
      bool known = std::any_of(t.inputs.begin(), t.inputs.end(),
                               [&](const InputParam& p) { return p.name == n; });
      if (!known) return bad("template '" + t.name + "' has no input parameter '" + n + "'");
      continue;
    }
    if (tag == "inputs.parameters") continue;
    if (StartsWith(tag, "inputs.artifacts.")) {
      std::string n = tag.substr(17);
      if (!dag_scope) {
        if (n.size() < 5 || n.substr(n.size() - 5) != ".path") {
          return bad("a task refers to its input artifacts by '.path'");
        }
        n.resize(n.size() - 5);
      }
      bool known = std::any_of(t.input_artifacts.begin(), t.input_artifacts.end(),
                               [&](const InputArtifactDecl& a) { return a.name == n; });
      if (!known) return bad("template '" + t.name + "' has no input artifact '" + n + "'");
      continue;
    }
    if (!dag_scope &&
        (StartsWith(tag, "outputs.parameters.") || StartsWith(tag, "outputs.artifacts."))) {
      bool params = StartsWith(tag, "outputs.parameters.");
      std::string n = tag.substr(params ? 19 : 18);
      if (n.size() < 5 || n.substr(n.size() - 5) != ".path")
        return bad("only '.path' is available");
      n.resize(n.size() - 5);
      bool known = params ? std::any_of(t.outputs.begin(), t.outputs.end(),
                                        [&](const OutputParam& p) { return p.name == n; })
                          : std::any_of(t.output_artifacts.begin(), t.output_artifacts.end(),
                                        [&](const OutputArtifactDecl& a) { return a.name == n; });
      if (!known) return bad("template '" + t.name + "' has no such output");
      continue;
    }
    if (dag_scope && (tag == "item" || StartsWith(tag, "item."))) continue;
    if (dag_scope && parent != nullptr && StartsWith(tag, "tasks.") && parent->kind == Kind::kDag) {
      std::string rest = tag.substr(6);
      size_t dot = rest.find('.');
      std::string n = rest.substr(0, dot);
      if (parent->FindTask(n) == nullptr) return bad("no task named '" + n + "' in this DAG");
      continue;
    }
    if (dag_scope && parent != nullptr && StartsWith(tag, "steps.") &&
        parent->kind == Kind::kSteps) {
      std::string rest = tag.substr(6);
      std::string n = rest.substr(0, rest.find('.'));
      bool known = false;
      for (const auto& g : parent->steps) {
        for (const auto& st : g) known = known || st.name == n;
      }
      if (!known) return bad("no step named '" + n + "' in this template");
      continue;
    }
    return bad("unknown variable");
  }
  return Status::Ok();
}

Status Compiler::CheckReferences(const Template& t) {
  auto check_task = [&](const Task& task, const std::string& path) -> Status {
    if (!by_name.contains(task.template_name)) {
      return Err(path + ".template", "no template named '" + task.template_name + "'");
    }
    for (size_t i = 0; i < task.arguments.parameters.size(); ++i) {
      SKIFF_RETURN_IF_ERROR(CheckTags(task.arguments.parameters[i].second,
                                      path + ".arguments.parameters[" + std::to_string(i) + "]", t,
                                      true, &t));
    }
    for (size_t i = 0; i < task.arguments.artifacts.size(); ++i) {
      SKIFF_RETURN_IF_ERROR(CheckTags(task.arguments.artifacts[i].second,
                                      path + ".arguments.artifacts[" + std::to_string(i) + "]", t,
                                      true, &t));
    }
    SKIFF_RETURN_IF_ERROR(CheckTags(task.when, path + ".when", t, true, &t));
    SKIFF_RETURN_IF_ERROR(CheckTags(task.with_param, path + ".withParam", t, true, &t));
    return Status::Ok();
  };
  if (t.kind == Kind::kDag) {
    for (const Task& task : t.tasks) {
      SKIFF_RETURN_IF_ERROR(check_task(task, task.path));
    }
  } else if (t.kind == Kind::kSteps) {
    for (size_t g = 0; g < t.steps.size(); ++g) {
      for (size_t s = 0; s < t.steps[g].size(); ++s) {
        SKIFF_RETURN_IF_ERROR(check_task(t.steps[g][s], t.steps[g][s].path));
      }
    }
  } else {
    std::string kp = t.path + (t.kind == Kind::kScript ? ".script" : ".container");
    for (size_t i = 0; i < t.command.size(); ++i) {
      SKIFF_RETURN_IF_ERROR(
          CheckTags(t.command[i], kp + ".command[" + std::to_string(i) + "]", t, false, nullptr));
    }
    for (size_t i = 0; i < t.args.size(); ++i) {
      SKIFF_RETURN_IF_ERROR(
          CheckTags(t.args[i], kp + ".args[" + std::to_string(i) + "]", t, false, nullptr));
    }
    for (size_t i = 0; i < t.env.size(); ++i) {
      SKIFF_RETURN_IF_ERROR(CheckTags(t.env[i].second, kp + ".env[" + std::to_string(i) + "].value",
                                      t, false, nullptr));
    }
    SKIFF_RETURN_IF_ERROR(CheckTags(t.source, kp + ".source", t, false, nullptr));
  }
  for (size_t i = 0; i < t.outputs.size(); ++i) {
    SKIFF_RETURN_IF_ERROR(
        CheckTags(t.outputs[i].parameter,
                  t.path + ".outputs.parameters[" + std::to_string(i) + "].valueFrom.parameter", t,
                  true, &t));
  }
  for (size_t i = 0; i < t.output_artifacts.size(); ++i) {
    SKIFF_RETURN_IF_ERROR(CheckTags(t.output_artifacts[i].from,
                                    t.path + ".outputs.artifacts[" + std::to_string(i) + "].from",
                                    t, true, &t));
  }
  return Status::Ok();
}

Status Compiler::Run() {
  if (GetString(wf_, "apiVersion") != "argoproj.io/v1alpha1") {
    return Err("apiVersion", "'" + GetString(wf_, "apiVersion") + "' is not argoproj.io/v1alpha1");
  }
  if (GetString(wf_, "kind") != "Workflow") {
    return Err("kind", "'" + GetString(wf_, "kind") + "' is not Workflow");
  }
  const json::object* md = GetObject(wf_, "metadata");
  if (md != nullptr) {
    if (const auto* l = GetObject(*md, "labels")) {
      for (const auto& kv : *l) labels[std::string(kv.key())] = Scalar(kv.value());
    }
    if (const auto* a = GetObject(*md, "annotations")) {
      for (const auto& kv : *a) annotations[std::string(kv.key())] = Scalar(kv.value());
    }
    std::string generate = GetString(*md, "generateName");
    while (!generate.empty() && generate.back() == '-') generate.pop_back();
    name = generate.empty() ? GetString(*md, "name") : generate;
  }
  json::object pipeline_spec;
  if (auto it = annotations.find("pipelines.kubeflow.org/pipeline_spec"); it != annotations.end()) {
    if (auto spec = ParseJsonObject(it->second)) pipeline_spec = std::move(*spec);
  }
  if (std::string n = GetString(pipeline_spec, "name"); !n.empty()) name = n;
  description = GetString(pipeline_spec, "description");

  const json::object* spec = GetObject(wf_, "spec");
  if (spec == nullptr) return Err("spec", "required");
  static constexpr std::string_view kRefused[] = {"volumes",
                                                  "volumeClaimTemplates",
                                                  "podSpecPatch",
                                                  "artifactRepositoryRef",
                                                  "templateDefaults",
                                                  "hooks",
                                                  "workflowTemplateRef",
                                                  "synchronization",
                                                  "executor"};
  for (std::string_view k : kRefused) {
    if (spec->contains(k)) {
      return Err("spec." + std::string(k),
                 "needs a cluster or is not implemented; local runs do not support it");
    }
  }
  if (const auto* s = spec->if_contains("suspend"); s != nullptr && s->is_bool() && s->get_bool()) {
    return Err("spec.suspend", "suspended workflows are not supported by local runs");
  }
  if (const auto* args = GetObject(*spec, "arguments")) {
    if (args->contains("artifacts")) {
      return Err("spec.arguments.artifacts", "workflow input artifacts are not supported");
    }
    if (const auto* ps = args->if_contains("parameters")) {
      if (!ps->is_array()) return Err("spec.arguments.parameters", "must be a list");
      for (size_t i = 0; i < ps->as_array().size(); ++i) {
        std::string pp = "spec.arguments.parameters[" + std::to_string(i) + "]";
        const auto* o = ps->as_array()[i].if_object();
        if (o == nullptr) return Err(pp, "must be an object");
        InputParam p;
        p.name = GetString(*o, "name");
        if (p.name.empty()) return Err(pp + ".name", "required");
        if (o->contains("valueFrom")) return Err(pp + ".valueFrom", "not supported by local runs");
        if (const auto* v = o->if_contains("value")) p.value = Scalar(*v);
        ParameterInfo info;
        info.name = p.name;
        info.type = "STRING";
        if (p.value) info.default_value = json::value(*p.value);
        if (const auto* ins = pipeline_spec.if_contains("inputs");
            ins != nullptr && ins->is_array()) {
          for (const auto& in : ins->as_array()) {
            if (in.is_object() && GetString(in.as_object(), "name") == p.name) {
              info.description = GetString(in.as_object(), "description");
            }
          }
        }
        parameters.push_back(std::move(info));
        arguments.push_back(std::move(p));
      }
    }
  }
  if (const auto* v = spec->if_contains("parallelism")) {
    auto n = ParseInt(*v);
    if (!n || *n < 0) return Err("spec.parallelism", "must be a non-negative integer");
    parallelism = static_cast<int>(*n);
  }
  if (const auto* v = spec->if_contains("activeDeadlineSeconds")) {
    auto n = ParseInt(*v);
    if (!n || *n < 0) return Err("spec.activeDeadlineSeconds", "must be a number of seconds");
    deadline_ms = *n * 1000;
  }
  const auto* ts = spec->if_contains("templates");
  if (ts == nullptr || !ts->is_array() || ts->as_array().empty()) {
    return Err("spec.templates", "required (a non-empty list)");
  }
  for (size_t i = 0; i < ts->as_array().size(); ++i) {
    std::string path = "spec.templates[" + std::to_string(i) + "]";
    const auto* o = ts->as_array()[i].if_object();
    if (o == nullptr) return Err(path, "must be an object");
    Template t;
    SKIFF_RETURN_IF_ERROR(CompileTemplate(*o, path, t));
    if (by_name.contains(t.name)) return Err(path + ".name", "duplicate template '" + t.name + "'");
    by_name[t.name] = templates.size();
    templates.push_back(std::move(t));
  }
  for (const Template& t : templates) SKIFF_RETURN_IF_ERROR(CheckReferences(t));
  entrypoint = GetString(*spec, "entrypoint");
  if (entrypoint.empty()) return Err("spec.entrypoint", "required");
  if (!by_name.contains(entrypoint))
    return Err("spec.entrypoint", "no template named '" + entrypoint + "'");
  on_exit = GetString(*spec, "onExit");
  if (!on_exit.empty() && !by_name.contains(on_exit)) {
    return Err("spec.onExit", "no template named '" + on_exit + "'");
  }
  return Status::Ok();
}

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
};

class ArgoProgram final : public Program {
 public:
  explicit ArgoProgram(Compiler c) : c_(std::move(c)) {}
  std::string_view format() const override { return "argo"; }
  std::string name() const override { return c_.name; }
  std::string description() const override { return c_.description; }
  std::vector<ParameterInfo> parameters() const override { return c_.parameters; }
  int parallelism() const override { return c_.parallelism; }
  int64_t deadline_ms() const override { return c_.deadline_ms; }
  Status Advance(RunState& state, const RunContext& ctx) const override {
    return Runner(*this, state, ctx).Advance();
  }
  const Compiler& c() const { return c_; }

 private:
  Compiler c_;
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
  return Lookup::Missing();
}

// `rest` is what follows "tasks.NAME." / "steps.NAME.".
Lookup Runner::NodeOutput(const Node* n, std::string_view rest) const {
  if (n == nullptr) return Lookup::Missing();
  if (n->phase == NodePhase::kSkipped || n->phase == NodePhase::kOmitted) return Lookup::Keep();
  if (rest == "id") return Lookup::Found(n->id);
  if (rest == "status") return Lookup::Found(std::string(NodePhaseName(n->phase)));
  if (rest == "exitCode" && n->exit_code) return Lookup::Found(std::to_string(*n->exit_code));
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
          if (c == nullptr || c->task_name != task || c->phase == NodePhase::kSkipped) continue;
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
  bool any_succeeded = false, all_failed = !n->children.empty();
  for (const std::string& cid : n->children) {
    const Node* c = st_.Find(cid);
    if (c == nullptr) continue;
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
  if (n->type == "DAG") return ReconcileDag(id);
  if (n->type == "Steps") return ReconcileSteps(id);
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
    if (c == nullptr) continue;
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

void Runner::ReconcileDag(const std::string& id) {
  const Template& t = Tmpl(st_.Find(id)->template_name);
  bool all_done = true;
  for (const Task& task : t.tasks) {
    const Node& dag = *st_.Find(id);
    std::string name = dag.name + "." + task.name;
    std::string tid = NodeId(ctx_.run_name, name);
    if (Node* existing = st_.Find(tid)) {
      if (existing->type == "TaskGroup" && !IsFinished(existing->phase)) {
        if (ReconcileLoop(dag, task, name, tid, id)) CompleteGroup(*st_.Find(tid), false);
      } else {
        Reconcile(tid);
      }
      if (!IsFinished(st_.Find(tid)->phase)) all_done = false;
      continue;
    }
    all_done = false;
    if (terminating_) continue;
    // Dependencies: all finished, then the expression decides.
    if (task.depends) {
      bool ready = true;
      for (const std::string& d : task.depends->tasks()) {
        const Node* dn = TaskNode(dag, d);
        ready = ready && dn != nullptr && IsFinished(dn->phase);
      }
      if (!ready) continue;
      bool go = task.depends->Evaluate([&](const std::string& d, const std::string& result) {
        return TaskResult(dag, *t.FindTask(d), result);
      });
      if (!go) {
        Node& n = AddNode(name, task.name, "Skipped", id, id, task.template_name, task.name);
        Finish(n, NodePhase::kOmitted, "omitted: depends condition not met");
        continue;
      }
    }
    if (AtParallelismLimit(dag, t)) continue;
    if (task.loop == LoopKind::kNone) {
      StartTask(dag, task, name, task.name, id, id, nullptr);
      continue;
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
        continue;
      }
    }
    Node& group = AddNode(name, task.name, "TaskGroup", id, id, task.template_name, task.name);
    auto items = LoopItems(task, scope);
    if (!items) {
      Finish(group, NodePhase::kError, items.error().message());
      continue;
    }
    if (items->empty()) {
      Finish(group, NodePhase::kSkipped, "Skipped, empty params");
      continue;
    }
    json::object stored;
    stored[task.name] = std::move(*items);
    group.state["items"] = std::move(stored);
    if (ReconcileLoop(*st_.Find(id), task, name, group.id, id))
      CompleteGroup(*st_.Find(tid), false);
  }
  if (!all_done) {
    // Recheck: tasks created above may have finished at once (skipped, errors, empty DAGs).
    for (const Task& task : t.tasks) {
      const Node* n = st_.Find(NodeId(ctx_.run_name, st_.Find(id)->name + "." + task.name));
      if (n == nullptr || !IsFinished(n->phase)) return;
    }
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
  if (best == nullptr) return root.message;
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
  const Compiler& c = p_.c();
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
    if (st_.Find(exit_id) == nullptr) {
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

Result<std::shared_ptr<const Program>> CompileArgoWorkflow(const json::object& workflow) {
  try {
    Compiler c(workflow);
    SKIFF_RETURN_IF_ERROR(c.Run());
    return std::shared_ptr<const Program>(std::make_shared<ArgoProgram>(std::move(c)));
  } catch (const std::exception& e) {
    // Boost.JSON accessors throw on a kind we did not check; the file is at fault.
    return InvalidArgument(std::string("malformed workflow: ") + e.what());
  }
}

}  // namespace skiff::pipelines
