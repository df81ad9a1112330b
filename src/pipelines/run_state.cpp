#include "pipelines/run_state.hpp"

#include <array>
#include <charconv>
#include <cstdio>

namespace skiff::pipelines {

namespace {

constexpr std::array<std::string_view, 7> kNodePhaseNames = {
    "Pending", "Running", "Succeeded", "Failed", "Error", "Skipped", "Omitted"};
constexpr std::array<std::string_view, 5> kRunPhaseNames = {"Pending", "Running", "Succeeded",
                                                            "Failed", "Error"};

// Typed readers over a JSON object that fail with the field's name (state written by an older or
// damaged store must not crash the engine).
class Reader {
 public:
  Reader(const json::object& o, std::string where) : o_(o), where_(std::move(where)) {}

  std::string String(std::string_view key) {
    const json::value* v = o_.if_contains(key);
    if (v == nullptr || v->is_null()) return {};
    if (!v->is_string()) return Bad(key, "a string"), std::string();
    return std::string(v->get_string());
  }
  int64_t Int(std::string_view key) {
    const json::value* v = o_.if_contains(key);
    if (v == nullptr || v->is_null()) return 0;
    if (v->is_int64()) return v->get_int64();
    if (v->is_uint64()) return static_cast<int64_t>(v->get_uint64());
    if (v->is_double()) return static_cast<int64_t>(v->get_double());
    Bad(key, "an integer");
    return 0;
  }
  double Double(std::string_view key, double fallback) {
    const json::value* v = o_.if_contains(key);
    if (v == nullptr || v->is_null()) return fallback;
    if (v->is_number()) return v->to_number<double>();
    Bad(key, "a number");
    return fallback;
  }
  bool Bool(std::string_view key) {
    const json::value* v = o_.if_contains(key);
    if (v == nullptr || v->is_null()) return false;
    if (!v->is_bool()) return Bad(key, "a boolean"), false;
    return v->get_bool();
  }
  json::object Object(std::string_view key) {
    const json::value* v = o_.if_contains(key);
    if (v == nullptr || v->is_null()) return {};
    if (!v->is_object()) return Bad(key, "an object"), json::object();
    return v->get_object();
  }
  const json::array* Array(std::string_view key) {
    const json::value* v = o_.if_contains(key);
    if (v == nullptr || v->is_null()) return nullptr;
    if (!v->is_array()) return Bad(key, "an array"), nullptr;
    return &v->get_array();
  }
  std::vector<std::string> Strings(std::string_view key) {
    std::vector<std::string> out;
    if (const json::array* a = Array(key)) {
      for (const json::value& v : *a) {
        if (!v.is_string()) {
          Bad(key, "an array of strings");
          break;
        }
        out.emplace_back(v.get_string());
      }
    }
    return out;
  }
  // Each element of the array `key`, which must be objects.
  template <typename F>
  void Each(std::string_view key, F&& f) {
    if (const json::array* a = Array(key)) {
      for (const json::value& v : *a) {
        if (!v.is_object()) {
          Bad(key, "an array of objects");
          return;
        }
        f(v.get_object());
      }
    }
  }
  void Merge(Status s) {
    if (status_.ok() && !s.ok()) status_ = std::move(s);
  }
  Status status() const { return status_; }

 private:
  void Bad(std::string_view key, std::string_view want) {
    if (status_.ok()) {
      status_ = InvalidArgument(where_ + "." + std::string(key) + ": must be " + std::string(want));
    }
  }
  const json::object& o_;
  std::string where_;
  Status status_;
};

json::array StringArray(const std::vector<std::string>& v) {
  json::array a;
  for (const std::string& s : v) a.emplace_back(s);
  return a;
}

json::object OutputFileJson(const OutputFile& f) {
  json::object o{{"name", f.name}, {"path", f.path}};
  if (!f.type.empty()) o["type"] = f.type;
  if (f.default_value) o["default"] = *f.default_value;
  if (f.optional) o["optional"] = true;
  return o;
}

OutputFile OutputFileFrom(const json::object& o, Reader& outer, const std::string& where) {
  Reader r(o, where);
  OutputFile f;
  f.name = r.String("name");
  f.path = r.String("path");
  f.type = r.String("type");
  if (o.contains("default")) f.default_value = r.String("default");
  f.optional = r.Bool("optional");
  outer.Merge(r.status());
  return f;
}

json::object ArtifactJson(const Artifact& a) {
  json::object o{{"name", a.name}, {"uri", a.uri}};
  if (!a.path.empty()) o["path"] = a.path;
  if (!a.type.empty()) o["type"] = a.type;
  if (!a.metadata.empty()) o["metadata"] = a.metadata;
  return o;
}

json::object NodeJsonOf(const Node& n) {
  json::object o{{"id", n.id},
                 {"name", n.name},
                 {"displayName", n.display_name},
                 {"type", n.type},
                 {"phase", NodePhaseName(n.phase)}};
  if (!n.template_name.empty()) o["templateName"] = n.template_name;
  if (!n.task_name.empty()) o["taskName"] = n.task_name;
  if (!n.parent.empty()) o["parent"] = n.parent;
  if (!n.boundary_id.empty()) o["boundaryID"] = n.boundary_id;
  if (!n.children.empty()) o["children"] = StringArray(n.children);
  if (!n.message.empty()) o["message"] = n.message;
  if (n.started_at_ms != 0) o["startedAtMs"] = n.started_at_ms;
  if (n.finished_at_ms != 0) o["finishedAtMs"] = n.finished_at_ms;
  if (!n.inputs.empty()) o["inputs"] = n.inputs;
  if (!n.output_parameters.empty()) o["outputParameters"] = n.output_parameters;
  if (!n.output_artifacts.empty()) {
    json::array a;
    for (const Artifact& art : n.output_artifacts) a.emplace_back(ArtifactJson(art));
    o["outputArtifacts"] = std::move(a);
  }
  if (n.result) o["result"] = *n.result;
  if (n.exit_code) o["exitCode"] = *n.exit_code;
  if (n.launch) o["launch"] = n.launch->ToJson();
  if (n.attempts != 0) o["attempts"] = n.attempts;
  if (n.retry_at_ms != 0) o["retryAtMs"] = n.retry_at_ms;
  if (n.cached) o["cached"] = true;
  if (!n.cached_from.empty()) o["cachedFrom"] = n.cached_from;
  if (!n.state.empty()) o["state"] = n.state;
  return o;
}

Result<Node> NodeFrom(const json::object& o, const std::string& where) {
  Reader r(o, where);
  Node n;
  n.id = r.String("id");
  n.name = r.String("name");
  n.display_name = r.String("displayName");
  n.type = r.String("type");
  std::string phase = r.String("phase");
  if (auto p = ParseNodePhase(phase)) {
    n.phase = *p;
  } else {
    return InvalidArgument(where + ".phase: unknown phase \"" + phase + "\"");
  }
  n.template_name = r.String("templateName");
  n.task_name = r.String("taskName");
  n.parent = r.String("parent");
  n.boundary_id = r.String("boundaryID");
  n.children = r.Strings("children");
  n.message = r.String("message");
  n.started_at_ms = r.Int("startedAtMs");
  n.finished_at_ms = r.Int("finishedAtMs");
  n.inputs = r.Object("inputs");
  n.output_parameters = r.Object("outputParameters");
  r.Each("outputArtifacts", [&](const json::object& a) {
    Reader ar(a, where + ".outputArtifacts");
    Artifact art;
    art.name = ar.String("name");
    art.uri = ar.String("uri");
    art.path = ar.String("path");
    art.type = ar.String("type");
    art.metadata = ar.Object("metadata");
    r.Merge(ar.status());
    n.output_artifacts.push_back(std::move(art));
  });
  if (o.contains("result")) n.result = r.String("result");
  if (o.contains("exitCode")) n.exit_code = static_cast<int>(r.Int("exitCode"));
  if (const json::value* l = o.if_contains("launch"); l != nullptr && l->is_object()) {
    auto spec = LaunchSpec::FromJson(l->get_object());
    if (!spec) return spec.error();
    n.launch = std::move(*spec);
  }
  n.attempts = static_cast<int>(r.Int("attempts"));
  n.retry_at_ms = r.Int("retryAtMs");
  n.cached = r.Bool("cached");
  n.cached_from = r.String("cachedFrom");
  n.state = r.Object("state");
  SKIFF_RETURN_IF_ERROR(r.status());
  if (n.id.empty()) return InvalidArgument(where + ".id: required");
  return n;
}

}  // namespace

std::string_view NodePhaseName(NodePhase phase) {
  return kNodePhaseNames[static_cast<size_t>(phase)];
}

std::optional<NodePhase> ParseNodePhase(std::string_view name) {
  for (size_t i = 0; i < kNodePhaseNames.size(); ++i) {
    if (kNodePhaseNames[i] == name) return static_cast<NodePhase>(i);
  }
  return std::nullopt;
}

bool IsFinished(NodePhase phase) {
  return phase != NodePhase::kPending && phase != NodePhase::kRunning;
}

std::string_view RunPhaseName(RunPhase phase) { return kRunPhaseNames[static_cast<size_t>(phase)]; }

std::optional<RunPhase> ParseRunPhase(std::string_view name) {
  for (size_t i = 0; i < kRunPhaseNames.size(); ++i) {
    if (kRunPhaseNames[i] == name) return static_cast<RunPhase>(i);
  }
  return std::nullopt;
}

json::object LaunchSpec::ToJson() const {
  json::object o{{"image", image}, {"argv", StringArray(argv)}};
  if (!env.empty()) {
    json::object e;
    for (const auto& [k, v] : env) e[k] = v;
    o["env"] = std::move(e);
  }
  if (!working_dir.empty()) o["workingDir"] = working_dir;
  if (!files.empty()) {
    json::array a;
    for (const InputFile& f : files) {
      json::object fo{{"path", f.path}, {"content", f.content}};
      if (f.executable) fo["executable"] = true;
      a.emplace_back(std::move(fo));
    }
    o["files"] = std::move(a);
  }
  if (!input_artifacts.empty()) {
    json::array a;
    for (const InputArtifact& ia : input_artifacts) {
      a.emplace_back(json::object{{"name", ia.name}, {"path", ia.path}, {"uri", ia.uri}});
    }
    o["inputArtifacts"] = std::move(a);
  }
  auto outputs = [](const std::vector<OutputFile>& v) {
    json::array a;
    for (const OutputFile& f : v) a.emplace_back(OutputFileJson(f));
    return a;
  };
  if (!output_parameters.empty()) o["outputParameters"] = outputs(output_parameters);
  if (!output_artifacts.empty()) o["outputArtifacts"] = outputs(output_artifacts);
  if (!executor_output_path.empty()) o["executorOutputPath"] = executor_output_path;
  if (capture_result) o["captureResult"] = true;
  if (timeout_ms != 0) o["timeoutMs"] = timeout_ms;
  if (retry.limit != 0) {
    std::string_view on = retry.on == RetryPolicy::On::kOnFailure ? "OnFailure"
                          : retry.on == RetryPolicy::On::kOnError ? "OnError"
                                                                  : "Always";
    o["retry"] = json::object{{"limit", retry.limit},
                              {"on", on},
                              {"backoffMs", retry.backoff_ms},
                              {"factor", retry.factor},
                              {"maxBackoffMs", retry.max_backoff_ms}};
  }
  if (!cache_key.empty()) o["cacheKey"] = cache_key;
  return o;
}

Result<LaunchSpec> LaunchSpec::FromJson(const json::object& o) {
  const std::string where = "launch";
  Reader r(o, where);
  LaunchSpec s;
  s.image = r.String("image");
  s.argv = r.Strings("argv");
  for (const auto& [k, v] : r.Object("env")) {
    if (!v.is_string()) return InvalidArgument(where + ".env." + std::string(k) + ": not a string");
    s.env[std::string(k)] = std::string(v.get_string());
  }
  s.working_dir = r.String("workingDir");
  r.Each("files", [&](const json::object& f) {
    Reader fr(f, where + ".files");
    s.files.push_back({fr.String("path"), fr.String("content"), fr.Bool("executable")});
    r.Merge(fr.status());
  });
  r.Each("inputArtifacts", [&](const json::object& f) {
    Reader fr(f, where + ".inputArtifacts");
    s.input_artifacts.push_back({fr.String("name"), fr.String("path"), fr.String("uri")});
    r.Merge(fr.status());
  });
  r.Each("outputParameters", [&](const json::object& f) {
    s.output_parameters.push_back(OutputFileFrom(f, r, where + ".outputParameters"));
  });
  r.Each("outputArtifacts", [&](const json::object& f) {
    s.output_artifacts.push_back(OutputFileFrom(f, r, where + ".outputArtifacts"));
  });
  s.executor_output_path = r.String("executorOutputPath");
  s.capture_result = r.Bool("captureResult");
  s.timeout_ms = r.Int("timeoutMs");
  json::object retry = r.Object("retry");
  if (!retry.empty()) {
    Reader rr(retry, where + ".retry");
    s.retry.limit = static_cast<int>(rr.Int("limit"));
    std::string on = rr.String("on");
    s.retry.on = on == "OnError"  ? RetryPolicy::On::kOnError
                 : on == "Always" ? RetryPolicy::On::kAlways
                                  : RetryPolicy::On::kOnFailure;
    s.retry.backoff_ms = rr.Int("backoffMs");
    s.retry.factor = rr.Double("factor", 2);
    s.retry.max_backoff_ms = rr.Int("maxBackoffMs");
    r.Merge(rr.status());
  }
  s.cache_key = r.String("cacheKey");
  SKIFF_RETURN_IF_ERROR(r.status());
  return s;
}

Node* RunState::Find(const std::string& id) {
  auto it = nodes.find(id);
  return it == nodes.end() ? nullptr : &it->second;
}

const Node* RunState::Find(const std::string& id) const {
  auto it = nodes.find(id);
  return it == nodes.end() ? nullptr : &it->second;
}

Node& RunState::Add(Node node) {
  SKIFF_CHECK(!node.id.empty() && !nodes.contains(node.id));
  if (!node.parent.empty()) {
    Node* parent = Find(node.parent);
    SKIFF_CHECK(parent != nullptr);
    parent->children.push_back(node.id);
  } else if (root.empty()) {
    root = node.id;
  }
  std::string id = node.id;
  return nodes.emplace(std::move(id), std::move(node)).first->second;
}

json::object RunState::StatusJson() const {
  json::object o{{"phase", RunPhaseName(phase)}};
  if (!message.empty()) o["message"] = message;
  if (started_at_ms != 0) o["startedAtMs"] = started_at_ms;
  if (finished_at_ms != 0) o["finishedAtMs"] = finished_at_ms;
  if (!root.empty()) o["root"] = root;
  if (!shutdown.empty()) o["shutdown"] = shutdown;
  if (!state.empty()) o["state"] = state;
  return o;
}

json::object RunState::ToJson() const {
  json::object o = StatusJson();
  json::object n;
  for (const auto& [id, node] : nodes) n[id] = NodeJsonOf(node);
  o["nodes"] = std::move(n);
  return o;
}

NodeDocs RunState::AllNodeDocs() const {
  NodeDocs docs;
  docs.reserve(nodes.size());
  for (const auto& [id, node] : nodes) docs.push_back(MakeNodeDoc(node));
  return docs;
}

namespace {

// The status fields of `o` (nodes aside) into `s`.
Status StatusFrom(const json::object& o, RunState& s) {
  Reader r(o, "status");
  std::string phase = r.String("phase");
  if (auto p = ParseRunPhase(phase)) {
    s.phase = *p;
  } else {
    return InvalidArgument("status.phase: unknown phase \"" + phase + "\"");
  }
  s.message = r.String("message");
  s.started_at_ms = r.Int("startedAtMs");
  s.finished_at_ms = r.Int("finishedAtMs");
  s.root = r.String("root");
  s.shutdown = r.String("shutdown");
  s.state = r.Object("state");
  return r.status();
}

// Adds the node stored under `id` to `s`.
Status AddNodeFrom(std::string_view id, const json::object& o, RunState& s) {
  const std::string where = "status.nodes." + std::string(id);
  SKIFF_ASSIGN_OR_RETURN(Node node, NodeFrom(o, where));
  if (node.id != id) return InvalidArgument(where + ".id: differs from its key");
  std::string key = node.id;
  s.nodes.emplace(std::move(key), std::move(node));
  return Status();
}

Status CheckRoot(const RunState& s) {
  if (!s.root.empty() && !s.nodes.contains(s.root)) {
    return InvalidArgument("status.root: no node \"" + s.root + "\"");
  }
  return Status();
}

}  // namespace

Result<RunState> RunState::FromJson(const json::object& o) {
  RunState s;
  SKIFF_RETURN_IF_ERROR(StatusFrom(o, s));
  const json::value* nodes = o.if_contains("nodes");
  if (nodes != nullptr && !nodes->is_null() && !nodes->is_object()) {
    return InvalidArgument("status.nodes: must be an object");
  }
  if (nodes != nullptr && nodes->is_object()) {
    for (const auto& [id, v] : nodes->get_object()) {
      if (!v.is_object()) {
        return InvalidArgument("status.nodes." + std::string(id) + ": not an object");
      }
      SKIFF_RETURN_IF_ERROR(AddNodeFrom(id, v.get_object(), s));
    }
  }
  SKIFF_RETURN_IF_ERROR(CheckRoot(s));
  return s;
}

Result<RunState> RunState::FromJson(const json::object& status, const NodeDocs& nodes) {
  RunState s;
  SKIFF_RETURN_IF_ERROR(StatusFrom(status, s));
  for (const NodeDocPtr& doc : nodes) SKIFF_RETURN_IF_ERROR(AddNodeFrom(doc->id, doc->json, s));
  SKIFF_RETURN_IF_ERROR(CheckRoot(s));
  return s;
}

NodeDocPtr MakeNodeDoc(const Node& node) {
  return std::make_shared<const NodeDoc>(NodeDoc{node.id, NodeJsonOf(node)});
}

std::string NodeId(std::string_view run_name, std::string_view node_name) {
  uint32_t h = 2166136261u;  // FNV-1a 32, as Argo hashes node names
  for (unsigned char c : node_name) {
    h ^= c;
    h *= 16777619u;
  }
  char digits[16];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, h);
  std::string id;
  id.reserve(run_name.size() + 1 + static_cast<size_t>(end - digits));
  id.append(run_name).push_back('-');
  id.append(digits, end);
  return id;
}

}  // namespace skiff::pipelines
