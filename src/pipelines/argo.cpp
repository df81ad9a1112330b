#include "pipelines/argo.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "pipelines/argo_expr.hpp"
#include "pipelines/argo_workflow.hpp"

namespace skiff::pipelines {
namespace argo {

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
static void AppendCanonical(std::string& out, const json::value& v) {
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

static bool UnderTmp(std::string_view path) {
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
static Result<int64_t> ParseDurationMs(const json::value& v) {
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
static std::vector<std::string> Tags(std::string_view s) {
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

namespace {

// ---------------------------------------------------------------------------------------------
// Compilation.

class Compiler : public Workflow {
 public:
  explicit Compiler(const json::object& wf) : wf_(wf) {}
  Status Run();

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
      std::string n = GetString(*e, "name");
      if (n.empty()) return Err(ep + ".name", "required");
      if (const auto* vf = GetObject(*e, "valueFrom")) {
        // The downward API fields KFP's compilers read (KFP_POD_NAME, KFP_NAMESPACE,
        // WORKFLOW_ID, KFP_RUN_ID, ...) have local equivalents; secrets and config maps do not.
        static const std::map<std::string, std::string, std::less<>> kFields = {
            {"metadata.name", "{{pod.name}}"},
            {"metadata.uid", "{{pod.name}}"},
            {"metadata.namespace", "{{workflow.namespace}}"},
            {"metadata.labels['workflows.argoproj.io/workflow']", "{{workflow.name}}"},
            {"metadata.labels['pipeline/runid']", "{{workflow.uid}}"},
            {"spec.serviceAccountName", "pipeline-runner"},
            {"spec.nodeName", "localhost"},
            {"status.podIP", "127.0.0.1"},
            {"status.hostIP", "127.0.0.1"}};
        std::string field = GetString(*vf, "fieldRef.fieldPath");
        auto it = kFields.find(field);
        if (it == kFields.end()) {
          return Err(ep + ".valueFrom",
                     field.empty() ? "values from secrets or config maps are not supported by "
                                     "local runs"
                                   : "the pod field '" + field + "' has no local value");
        }
        out.env.emplace_back(n, it->second);
        continue;
      }
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
  // Caching as KFP v1 does it: its compiler labels the templates it may cache
  // (pipelines.kubeflow.org/enable_caching: "true") and its cache server caches only those; a
  // max_cache_staleness of P0D turns it off. Templates without the label (hand-written
  // Workflows, older SDKs) always run.
  out.cacheable = false;
  if (const auto* md = GetObject(t, "metadata")) {
    if (const auto* l = GetObject(*md, "labels")) {
      out.cacheable = GetString(*l, "/pipelines.kubeflow.org~1enable_caching") == "true";
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
  if (!out.IsPod()) {
    // Argo retries and times out whole DAG/steps subtrees; skiff does that per step only.
    for (std::string_view k : {"retryStrategy", "activeDeadlineSeconds", "timeout"}) {
      if (t.contains(k)) {
        return Err(path + "." + std::string(k),
                   "only container and script templates may have it in a local run (set it on "
                   "the steps' templates)");
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
        tag == "node.name") {
      static constexpr std::string_view kWorkflow[] = {"workflow.name",
                                                       "workflow.uid",
                                                       "workflow.namespace",
                                                       "workflow.status",
                                                       "workflow.failures",
                                                       "workflow.duration",
                                                       "workflow.creationTimestamp",
                                                       "workflow.serviceAccountName"};
      bool known =
          !StartsWith(tag, "workflow.") ||
          std::find(std::begin(kWorkflow), std::end(kWorkflow), tag) != std::end(kWorkflow) ||
          StartsWith(tag, "workflow.parameters.") || StartsWith(tag, "workflow.labels.") ||
          StartsWith(tag, "workflow.annotations.") ||
          StartsWith(tag, "workflow.creationTimestamp.");
      if (!known) return bad("unknown variable");
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
                 "a local run cannot do this (it needs Kubernetes or Argo's controller); run the "
                 "file on Argo");
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

}  // namespace
}  // namespace argo

Result<std::shared_ptr<const Program>> CompileArgoWorkflow(const json::object& workflow) {
  try {
    argo::Compiler c(workflow);
    SKIFF_RETURN_IF_ERROR(c.Run());
    return argo::MakeArgoProgram(std::move(static_cast<argo::Workflow&>(c)));
  } catch (const std::exception& e) {
    // Boost.JSON accessors throw on a kind we did not check; the file is at fault.
    return InvalidArgument(std::string("malformed workflow: ") + e.what());
  }
}

}  // namespace skiff::pipelines
