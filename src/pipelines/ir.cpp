#include "pipelines/ir.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.hpp"
#include "core/crypto.hpp"
#include "pipelines/ir_cel.hpp"
#include "pipelines/lightweight.hpp"

namespace skiff::pipelines {

namespace {

// ---------------------------------------------------------------------------------------------
// The compiled pipeline.

struct ParamDef {
  std::string type;
  std::optional<json::value> default_value;
  bool optional = false;
  std::string description;
};

struct ArtifactDef {
  std::string schema_title;
  std::string schema_version;
  bool is_list = false;
};

struct ParamSource {
  enum class Kind { kComponentInput, kTaskOutput, kConstant, kTaskFinalStatus };
  Kind kind = Kind::kConstant;
  std::string name;  // component input, or producer task
  std::string key;   // producer's output key
  json::value constant;
  std::vector<json::value> selector;  // parameterExpressionSelector path (keys / indexes)
};

struct ArtifactSource {
  bool from_task = false;  // taskOutputArtifact; else componentInputArtifact
  std::string name;        // producer task, or component input
  std::string key;
};

struct Selector {
  std::string producer;
  std::string key;
};

struct Task {
  std::string name;
  std::string display_name;
  std::string component;
  std::vector<std::string> upstream;  // dependentTasks and producers, sorted, unique
  std::vector<std::pair<std::string, ParamSource>> params;
  std::vector<std::pair<std::string, ArtifactSource>> artifacts;
  std::optional<CelExpression> condition;
  bool exit_handler = false;  // triggerPolicy.strategy ALL_UPSTREAM_TASKS_COMPLETED
  bool loop = false;
  std::optional<json::array> raw_items;
  std::string items_parameter;  // items.inputParameter
  std::string item_input;
  int parallelism = 0;
  bool cache = false;
  RetryPolicy retry;
};

struct Dag {
  std::vector<Task> tasks;  // file order
  std::map<std::string, size_t> index;
  std::vector<std::pair<std::string, std::vector<Selector>>> out_params;
  std::vector<std::pair<std::string, std::vector<Selector>>> out_artifacts;
};

struct Executor {
  bool importer = false;
  // container
  std::string image;
  json::array command;
  json::array args;
  std::map<std::string, std::string> env;
  int64_t timeout_ms = 0;
  // importer
  std::string import_uri;
  json::object import_metadata;
  std::string import_schema_title;
  std::string import_schema_version;
};

struct Component {
  std::string name;
  std::map<std::string, ParamDef> in_params;
  std::map<std::string, ArtifactDef> in_artifacts;
  std::map<std::string, ParamDef> out_params;
  std::map<std::string, ArtifactDef> out_artifacts;
  std::optional<Dag> dag;
  bool is_dag = false;   // known before `dag` is read (tasks refer to components in any order)
  std::string executor;  // deploymentSpec.executors key
};

Status Refuse(std::string_view path, std::string_view what) {
  return InvalidArgument(std::string(path) + ": " + std::string(what));
}

const json::object* ObjectAt(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_object() ? &v->get_object() : nullptr;
}

std::string StringAt(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

using KnownName = std::function<bool(const std::string&)>;

// A name field (an input, task or output name). PyYAML, which writes KFP's files, leaves y, Y, n
// and N unquoted, and skiff's YAML reader resolves them (like yes/no/on/off) as booleans, as
// kubectl does: a boolean where a name belongs is turned back into the `known` name spelled like
// one. Mapping keys are never resolved, so the names themselves are intact.
std::string NameValue(const json::value* v, const KnownName& known) {
  if (!v) return {};
  if (v->is_string()) return std::string(v->get_string());
  if (!v->is_bool()) return {};
  static const char* const kTrue[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                      "True", "TRUE", "on",  "On",  "ON"};
  static const char* const kFalse[] = {"n",     "N",     "no",  "No",  "NO", "false",
                                       "False", "FALSE", "off", "Off", "OFF"};
  for (const char* c : v->get_bool() ? kTrue : kFalse)
    if (known(c)) return c;
  return {};
}

std::string NameAt(const json::object& o, std::string_view key, const KnownName& known) {
  return NameValue(o.if_contains(key), known);
}

Result<const json::object*> OptionalObject(const json::object& o, std::string_view key,
                                           const std::string& path) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return nullptr;
  if (!v->is_object()) return Refuse(path + "." + std::string(key), "must be a mapping");
  return &v->get_object();
}

// An integral JSON number (YAML may give 3 or 3.0).
std::optional<int64_t> AsInt(const json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64() && v.get_uint64() < (1ull << 62)) return static_cast<int64_t>(v.get_uint64());
  if (v.is_double() && v.get_double() == std::trunc(v.get_double()) &&
      std::fabs(v.get_double()) < 1e15)
    return static_cast<int64_t>(v.get_double());
  return std::nullopt;
}

// "10s", "1.5s", "0s" (protobuf Duration JSON) or a plain number of seconds.
Result<int64_t> ParseDurationMs(const json::value& v, const std::string& path) {
  if (v.is_int64()) return v.get_int64() * 1000;
  if (v.is_uint64()) return static_cast<int64_t>(v.get_uint64()) * 1000;
  if (v.is_double()) return static_cast<int64_t>(std::llround(v.get_double() * 1000));
  if (!v.is_string()) return Refuse(path, "must be a duration such as \"30s\"");
  std::string_view s = v.get_string();
  if (!s.empty() && s.back() == 's') s.remove_suffix(1);
  double d = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || d < 0)
    return Refuse(path, "must be a duration such as \"30s\"");
  return static_cast<int64_t>(std::llround(d * 1000));
}

// parameterExpressionSelector as KFP emits it for loop items: parseJson(string_value)["key"]...
Result<std::vector<json::value>> ParseSelector(std::string_view s, const std::string& path) {
  constexpr std::string_view kPrefix = "parseJson(string_value)";
  std::vector<json::value> out;
  if (s.substr(0, kPrefix.size()) != kPrefix)
    return Refuse(path, "only parseJson(string_value)[\"key\"] selectors are supported");
  s.remove_prefix(kPrefix.size());
  while (!s.empty()) {
    if (s.front() != '[') return Refuse(path, "expected '['");
    size_t close = s.find(']');
    if (close == std::string_view::npos) return Refuse(path, "expected ']'");
    std::string_view inner = s.substr(1, close - 1);
    if (inner.size() >= 2 && (inner.front() == '"' || inner.front() == '\'') &&
        inner.back() == inner.front()) {
      out.emplace_back(json::string(inner.substr(1, inner.size() - 2)));
    } else {
      int64_t i = 0;
      auto [p, ec] = std::from_chars(inner.data(), inner.data() + inner.size(), i);
      if (ec != std::errc() || p != inner.data() + inner.size())
        return Refuse(path, "bad selector index");
      out.emplace_back(i);
    }
    s.remove_prefix(close + 1);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Placeholders: `{{$}}`, `{{$.inputs.parameters['x']}}`, `{{$.outputs.artifacts['b'].uri}}`...

struct Placeholder {
  enum class Kind {
    kExecutorInput,
    kInputParameter,
    kInputArtifact,
    kOutputParameter,
    kOutputArtifact,
    kJobName,
    kJobUuid,
    kTaskName,
    kTaskUuid,
    kPipelineRoot,
    kJobCreateTime,
    kExecutorOutputFile,
  };
  Kind kind = Kind::kExecutorInput;
  std::string name;
  std::string attr;  // "", "path", "uri", "metadata", "output_file"
};

Result<Placeholder> ParsePlaceholder(std::string_view inner) {
  Placeholder p;
  auto bad = [&] {
    return InvalidArgument("unsupported placeholder '{{" + std::string(inner) + "}}'");
  };
  if (inner == "$") return p;
  static const std::pair<std::string_view, Placeholder::Kind> kSimple[] = {
      {"$.pipeline_job_name", Placeholder::Kind::kJobName},
      {"$.pipeline_job_resource_name", Placeholder::Kind::kJobName},
      {"$.pipeline_job_uuid", Placeholder::Kind::kJobUuid},
      {"$.pipeline_task_name", Placeholder::Kind::kTaskName},
      {"$.pipeline_task_uuid", Placeholder::Kind::kTaskUuid},
      {"$.pipeline_root", Placeholder::Kind::kPipelineRoot},
      {"$.pipeline_job_create_time_utc", Placeholder::Kind::kJobCreateTime},
      {"$.pipeline_job_schedule_time_utc", Placeholder::Kind::kJobCreateTime},
      {"$.outputs.output_file", Placeholder::Kind::kExecutorOutputFile},
  };
  for (const auto& [text, kind] : kSimple) {
    if (inner == text) {
      p.kind = kind;
      return p;
    }
  }
  static const std::pair<std::string_view, Placeholder::Kind> kNamed[] = {
      {"$.inputs.parameters[", Placeholder::Kind::kInputParameter},
      {"$.inputs.artifacts[", Placeholder::Kind::kInputArtifact},
      {"$.outputs.parameters[", Placeholder::Kind::kOutputParameter},
      {"$.outputs.artifacts[", Placeholder::Kind::kOutputArtifact},
  };
  for (const auto& [prefix, kind] : kNamed) {
    if (inner.substr(0, prefix.size()) != prefix) continue;
    std::string_view rest = inner.substr(prefix.size());
    if (rest.empty() || (rest.front() != '\'' && rest.front() != '"')) return bad();
    char quote = rest.front();
    size_t end = rest.find(quote, 1);
    if (end == std::string_view::npos || rest.substr(end + 1, 1) != "]") return bad();
    p.kind = kind;
    p.name = std::string(rest.substr(1, end - 1));
    rest.remove_prefix(end + 2);
    if (!rest.empty()) {
      if (rest.front() != '.') return bad();
      p.attr = std::string(rest.substr(1));
    }
    switch (kind) {
      case Placeholder::Kind::kInputParameter:
        if (!p.attr.empty()) return bad();
        break;
      case Placeholder::Kind::kOutputParameter:
        if (p.attr != "output_file") return bad();
        break;
      case Placeholder::Kind::kInputArtifact:
        if (!p.attr.empty() && p.attr != "path" && p.attr != "uri" && p.attr != "metadata")
          return bad();
        break;
      default:
        if (p.attr != "path" && p.attr != "uri" && p.attr != "metadata") return bad();
    }
    return p;
  }
  return bad();
}

// Calls `fn` for each placeholder in `s` with its text, and `literal` for the text between.
Status ForEachPlaceholder(std::string_view s, const std::function<void(std::string_view)>& literal,
                          const std::function<Status(const Placeholder&)>& fn) {
  size_t pos = 0;
  while (pos < s.size()) {
    size_t open = s.find("{{$", pos);
    if (open == std::string_view::npos) break;
    size_t close = s.find("}}", open);
    if (close == std::string_view::npos) break;
    literal(s.substr(pos, open - pos));
    SKIFF_ASSIGN_OR_RETURN(Placeholder p, ParsePlaceholder(s.substr(open + 2, close - open - 2)));
    SKIFF_RETURN_IF_ERROR(fn(p));
    pos = close + 2;
  }
  literal(s.substr(pos));
  return Status::Ok();
}

// An argument given as a JSON-encoded Concat/IfPresent structure, or nullopt for a plain one.
std::optional<json::object> ParseStructuredArg(const json::value& v) {
  if (v.is_object()) {
    const json::object& o = v.get_object();
    if (o.contains("Concat") || o.contains("IfPresent")) return o;
    return std::nullopt;
  }
  if (!v.is_string()) return std::nullopt;
  std::string_view s = v.get_string();
  if (s.size() < 2 || s.front() != '{' ||
      (s.find("\"Concat\"") == std::string_view::npos &&
       s.find("\"IfPresent\"") == std::string_view::npos))
    return std::nullopt;
  auto parsed = ParseJsonObject(s);
  if (!parsed) return std::nullopt;
  if (!parsed->contains("Concat") && !parsed->contains("IfPresent")) return std::nullopt;
  return std::move(*parsed);
}

// Expands one command/args element into zero or more arguments. `resolve` resolves the
// placeholders of one string; `present` says whether an input is set (IfPresent).
Status ExpandArg(const json::value& v,
                 const std::function<Result<std::string>(std::string_view)>& resolve,
                 const std::function<bool(const std::string&)>& present,
                 std::vector<std::string>& out, const std::string& path, int depth = 0) {
  if (depth > 20) return Refuse(path, "nested too deeply");
  std::optional<json::object> structured = ParseStructuredArg(v);
  if (!structured) {
    if (!v.is_string()) {
      if (v.is_number() || v.is_bool()) {
        out.push_back(Serialize(v));
        return Status::Ok();
      }
      return Refuse(path, "must be a string");
    }
    SKIFF_ASSIGN_OR_RETURN(std::string s, resolve(v.get_string()));
    out.push_back(std::move(s));
    return Status::Ok();
  }
  if (const json::value* concat = structured->if_contains("Concat")) {
    if (!concat->is_array()) return Refuse(path + ".Concat", "must be a list");
    std::vector<std::string> parts;
    for (const json::value& item : concat->get_array())
      SKIFF_RETURN_IF_ERROR(ExpandArg(item, resolve, present, parts, path + ".Concat", depth + 1));
    std::string joined;
    for (const std::string& part : parts) joined += part;
    out.push_back(std::move(joined));
    return Status::Ok();
  }
  const json::value& ifp = structured->at("IfPresent");
  if (!ifp.is_object()) return Refuse(path + ".IfPresent", "must be a mapping");
  const json::object& o = ifp.get_object();
  std::string input = StringAt(o, "InputName");
  if (input.empty()) return Refuse(path + ".IfPresent.InputName", "is required");
  const char* branch = present(input) ? "Then" : "Else";
  const json::value* items = o.if_contains(branch);
  if (!items || items->is_null()) return Status::Ok();
  if (items->is_array()) {
    for (const json::value& item : items->get_array())
      SKIFF_RETURN_IF_ERROR(
          ExpandArg(item, resolve, present, out, path + ".IfPresent." + branch, depth + 1));
    return Status::Ok();
  }
  return ExpandArg(*items, resolve, present, out, path + ".IfPresent." + branch, depth + 1);
}

// ---------------------------------------------------------------------------------------------
// Parameter types.

bool IsKnownParameterType(std::string_view t) {
  return t == "STRING" || t == "NUMBER_INTEGER" || t == "NUMBER_DOUBLE" || t == "BOOLEAN" ||
         t == "LIST" || t == "STRUCT" || t == "TASK_FINAL_STATUS";
}

// Converts `v` to parameter type `type`. Strings are accepted for every type (v1beta1 run
// parameters are strings) and parsed; a STRING parameter takes only a string from a user
// (`strict`), while values flowing between tasks are converted leniently.
Result<json::value> CoerceParameter(const json::value& v, std::string_view type, bool strict) {
  auto mismatch = [&] {
    return InvalidArgument("expected " + std::string(type) + ", got " + Serialize(v));
  };
  if (type == "STRING") {
    if (v.is_string()) return v;
    if (strict) return mismatch();
    return json::value(Serialize(v));
  }
  if (type == "NUMBER_INTEGER") {
    if (v.is_int64()) return v;
    if (v.is_uint64()) return v;
    if (v.is_double()) {
      double d = v.get_double();
      if (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) < 9e18)
        return json::value(static_cast<int64_t>(d));
      return mismatch();
    }
    if (v.is_string()) {
      std::string_view s = v.get_string();
      int64_t i = 0;
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), i);
      if (!s.empty() && ec == std::errc() && p == s.data() + s.size()) return json::value(i);
    }
    return mismatch();
  }
  if (type == "NUMBER_DOUBLE") {
    if (v.is_int64()) return json::value(static_cast<double>(v.get_int64()));
    if (v.is_uint64()) return json::value(static_cast<double>(v.get_uint64()));
    if (v.is_double()) return v;
    if (v.is_string()) {
      std::string_view s = v.get_string();
      double d = 0;
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
      if (!s.empty() && ec == std::errc() && p == s.data() + s.size()) return json::value(d);
    }
    return mismatch();
  }
  if (type == "BOOLEAN") {
    if (v.is_bool()) return v;
    if (v.is_string()) {
      std::string_view s = v.get_string();
      if (s == "true" || s == "True") return json::value(true);
      if (s == "false" || s == "False") return json::value(false);
    }
    return mismatch();
  }
  if (type == "LIST" || type == "STRUCT") {
    const bool list = type == "LIST";
    if (list ? v.is_array() : v.is_object()) return v;
    if (v.is_string()) {
      auto parsed = ParseJson(v.get_string());
      if (parsed && (list ? parsed->is_array() : parsed->is_object())) return std::move(*parsed);
    }
    return mismatch();
  }
  return v;  // TASK_FINAL_STATUS and types we pass through
}

// A parameter value as a placeholder writes it: strings as they are, other values as JSON.
std::string ParameterText(const json::value& v) {
  return v.is_string() ? std::string(v.get_string()) : Serialize(v);
}

// ---------------------------------------------------------------------------------------------
// Compilation.

Result<ParamDef> ReadParamDef(const json::object& o, const std::string& path) {
  ParamDef d;
  d.type = StringAt(o, "parameterType");
  if (d.type.empty()) {
    // schemaVersion 2.0.0 (KFP SDK 1.x v2-compatible mode): `type: STRING | INT | DOUBLE`.
    std::string old = StringAt(o, "type");
    if (old == "STRING") d.type = "STRING";
    if (old == "INT") d.type = "NUMBER_INTEGER";
    if (old == "DOUBLE") d.type = "NUMBER_DOUBLE";
  }
  if (d.type.empty()) return Refuse(path + ".parameterType", "is required");
  if (!IsKnownParameterType(d.type))
    return Refuse(path + ".parameterType", "unknown type " + d.type);
  if (const json::value* dv = o.if_contains("defaultValue"); dv && !dv->is_null()) {
    json::value given = *dv;
    // 2.0.0: {stringValue: ...} / {intValue: ...} / {doubleValue: ...}.
    if (given.is_object() && given.get_object().size() == 1 && d.type != "STRUCT") {
      json::value inner = given.get_object().begin()->value();
      given = std::move(inner);
    }
    auto coerced = CoerceParameter(given, d.type, false);
    if (!coerced) return Refuse(path + ".defaultValue", coerced.error().message());
    d.default_value = std::move(*coerced);
  }
  if (const json::value* opt = o.if_contains("isOptional"); opt && opt->is_bool())
    d.optional = opt->get_bool();
  d.description = StringAt(o, "description");
  return d;
}

Result<ArtifactDef> ReadArtifactDef(const json::object& o, const std::string& path) {
  ArtifactDef d;
  if (const json::object* t = ObjectAt(o, "artifactType")) {
    d.schema_title = StringAt(*t, "schemaTitle");
    d.schema_version = StringAt(*t, "schemaVersion");
    if (d.schema_title.empty() && t->contains("instanceSchema")) d.schema_title = "system.Artifact";
  }
  if (const json::value* l = o.if_contains("isArtifactList"); l && l->is_bool())
    d.is_list = l->get_bool();
  (void)path;
  return d;
}

Status ReadDefinitions(const json::object& o, const std::string& path,
                       std::map<std::string, ParamDef>& params,
                       std::map<std::string, ArtifactDef>& artifacts) {
  SKIFF_ASSIGN_OR_RETURN(const json::object* ps, OptionalObject(o, "parameters", path));
  if (ps) {
    for (const auto& [name, v] : *ps) {
      std::string p = path + ".parameters." + std::string(name);
      if (!v.is_object()) return Refuse(p, "must be a mapping");
      SKIFF_ASSIGN_OR_RETURN(params[std::string(name)], ReadParamDef(v.get_object(), p));
    }
  }
  SKIFF_ASSIGN_OR_RETURN(const json::object* as, OptionalObject(o, "artifacts", path));
  if (as) {
    for (const auto& [name, v] : *as) {
      std::string p = path + ".artifacts." + std::string(name);
      if (!v.is_object()) return Refuse(p, "must be a mapping");
      SKIFF_ASSIGN_OR_RETURN(artifacts[std::string(name)], ReadArtifactDef(v.get_object(), p));
    }
  }
  return Status::Ok();
}

// `is_task` knows the DAG's task names; `is_output(task, key)` a task's output names.
Result<std::vector<Selector>> ReadSelectors(
    const json::value& v, const std::string& path, bool artifact, const KnownName& is_task,
    const std::function<bool(const std::string&, const std::string&)>& is_output) {
  std::vector<Selector> out;
  auto one = [&](const json::object& o, const std::string& p) -> Status {
    Selector s;
    s.producer = NameAt(o, "producerSubtask", is_task);
    s.key = NameAt(o, artifact ? "outputArtifactKey" : "outputParameterKey",
                   [&](const std::string& k) { return is_output(s.producer, k); });
    if (s.producer.empty() || s.key.empty())
      return Refuse(p, "needs producerSubtask and an output key");
    out.push_back(std::move(s));
    return Status::Ok();
  };
  if (!v.is_object()) return Refuse(path, "must be a mapping");
  const json::object& o = v.get_object();
  if (artifact) {
    const json::value* sel = o.if_contains("artifactSelectors");
    if (!sel || !sel->is_array()) return Refuse(path + ".artifactSelectors", "must be a list");
    for (size_t i = 0; i < sel->get_array().size(); ++i) {
      const json::value& s = sel->get_array()[i];
      std::string p = path + ".artifactSelectors[" + std::to_string(i) + "]";
      if (!s.is_object()) return Refuse(p, "must be a mapping");
      SKIFF_RETURN_IF_ERROR(one(s.get_object(), p));
    }
    return out;
  }
  if (const json::object* from = ObjectAt(o, "valueFromParameter")) {
    SKIFF_RETURN_IF_ERROR(one(*from, path + ".valueFromParameter"));
    return out;
  }
  if (const json::object* oneof = ObjectAt(o, "valueFromOneof")) {
    const json::value* sel = oneof->if_contains("parameterSelectors");
    std::string p = path + ".valueFromOneof.parameterSelectors";
    if (!sel || !sel->is_array()) return Refuse(p, "must be a list");
    for (size_t i = 0; i < sel->get_array().size(); ++i) {
      const json::value& s = sel->get_array()[i];
      if (!s.is_object()) return Refuse(p, "must be mappings");
      SKIFF_RETURN_IF_ERROR(one(s.get_object(), p + "[" + std::to_string(i) + "]"));
    }
    return out;
  }
  return Refuse(path, "needs valueFromParameter or valueFromOneof");
}

class Compiler {
 public:
  Compiler(const json::object& spec, const json::object* platform)
      : spec_(spec), platform_(platform) {}

  Status Run();

  std::string name_, description_;
  std::vector<ParameterInfo> parameters_;
  Component root_;
  std::map<std::string, Component> components_;
  std::map<std::string, Executor> executors_;

 private:
  Status ReadExecutors();
  Status ReadPlatform();
  Status ReadComponent(const json::object& o, const std::string& path, Component& c);
  Status ReadDag(const json::object& o, const std::string& path, const Component& owner, Dag& dag);
  Status ReadTask(const std::string& name, const json::object& o, const std::string& path,
                  const Component& owner, Task& t);
  Status CheckPlaceholders(const Component& c, const Executor& e, const std::string& path);
  Status CheckCycles(const Dag& dag, const std::string& path);
  Status CheckComponentRecursion();

  // A task name of the DAG being read, and whether a task of it has an output `key` (names in
  // YAML-1.1 boolean spelling, see NameValue).
  bool IsTask(const std::string& name) const { return tasks_ && tasks_->contains(name); }
  bool IsOutput(const std::string& task, const std::string& key, bool artifact) const;

  const json::object& spec_;
  const json::object* platform_;
  const json::object* tasks_ = nullptr;  // the `tasks` of the DAG being read
};

bool Compiler::IsOutput(const std::string& task, const std::string& key, bool artifact) const {
  if (!tasks_) return false;
  const json::object* t = ObjectAt(*tasks_, task);
  const json::object* ref = t ? ObjectAt(*t, "componentRef") : nullptr;
  auto c = components_.find(ref ? StringAt(*ref, "name") : std::string());
  if (c == components_.end()) return false;
  return artifact ? c->second.out_artifacts.contains(key) : c->second.out_params.contains(key);
}

Status Compiler::Run() {
  std::string version = StringAt(spec_, "schemaVersion");
  if (!version.empty() && version.substr(0, 2) != "2.")
    return Refuse("schemaVersion", "unsupported version " + version + " (2.x is supported)");
  if (const json::object* info = ObjectAt(spec_, "pipelineInfo")) {
    name_ = StringAt(*info, "name");
    description_ = StringAt(*info, "description");
  }
  if (name_.empty()) return Refuse("pipelineInfo.name", "is required");
  SKIFF_RETURN_IF_ERROR(ReadExecutors());
  SKIFF_RETURN_IF_ERROR(ReadPlatform());

  SKIFF_ASSIGN_OR_RETURN(const json::object* comps,
                         OptionalObject(spec_, "components", std::string("")));
  // Definitions first: tasks refer to any component regardless of order.
  if (comps) {
    for (const auto& [name, v] : *comps) {
      std::string path = "components." + std::string(name);
      if (!v.is_object()) return Refuse(path, "must be a mapping");
      Component& c = components_[std::string(name)];
      c.name = std::string(name);
      const json::object& o = v.get_object();
      c.is_dag = o.contains("dag");
      if (const json::object* in = ObjectAt(o, "inputDefinitions"))
        SKIFF_RETURN_IF_ERROR(
            ReadDefinitions(*in, path + ".inputDefinitions", c.in_params, c.in_artifacts));
      if (const json::object* out = ObjectAt(o, "outputDefinitions"))
        SKIFF_RETURN_IF_ERROR(
            ReadDefinitions(*out, path + ".outputDefinitions", c.out_params, c.out_artifacts));
    }
  }
  const json::object* root = ObjectAt(spec_, "root");
  if (!root) return Refuse("root", "is required");
  root_.name = "root";
  if (const json::object* in = ObjectAt(*root, "inputDefinitions")) {
    SKIFF_RETURN_IF_ERROR(
        ReadDefinitions(*in, "root.inputDefinitions", root_.in_params, root_.in_artifacts));
    if (!root_.in_artifacts.empty())
      return Refuse("root.inputDefinitions.artifacts",
                    "pipeline input artifacts are not supported (a run can only pass parameters)");
    // In the file's order (the map above is sorted).
    if (const json::object* ps = ObjectAt(*in, "parameters")) {
      for (const auto& [name, v] : *ps) {
        const ParamDef& d = root_.in_params.at(std::string(name));
        parameters_.push_back(
            {std::string(name), d.type, d.default_value, d.description, d.optional});
      }
    }
  }
  if (const json::object* out = ObjectAt(*root, "outputDefinitions"))
    SKIFF_RETURN_IF_ERROR(
        ReadDefinitions(*out, "root.outputDefinitions", root_.out_params, root_.out_artifacts));
  if (!root->contains("dag")) return Refuse("root.dag", "is required");
  SKIFF_RETURN_IF_ERROR(ReadComponent(*root, "root", root_));
  if (comps) {
    for (const auto& [name, v] : *comps)
      SKIFF_RETURN_IF_ERROR(ReadComponent(v.get_object(), "components." + std::string(name),
                                          components_.at(std::string(name))));
  }
  return CheckComponentRecursion();
}

Status Compiler::ReadExecutors() {
  const json::object* ds = ObjectAt(spec_, "deploymentSpec");
  if (!ds) return Status::Ok();
  SKIFF_ASSIGN_OR_RETURN(const json::object* execs,
                         OptionalObject(*ds, "executors", std::string("deploymentSpec")));
  if (!execs) return Status::Ok();
  for (const auto& [name, v] : *execs) {
    std::string path = "deploymentSpec.executors." + std::string(name);
    if (!v.is_object()) return Refuse(path, "must be a mapping");
    const json::object& o = v.get_object();
    Executor e;
    if (const json::object* c = ObjectAt(o, "container")) {
      for (const auto& [key, val] : *c) {
        std::string kp = path + ".container." + std::string(key);
        if (key == "image") {
          if (!val.is_string()) return Refuse(kp, "must be a string");
          e.image = std::string(val.get_string());
        } else if (key == "command" || key == "args") {
          if (val.is_null()) continue;
          if (!val.is_array()) return Refuse(kp, "must be a list");
          (key == "command" ? e.command : e.args) = val.get_array();
        } else if (key == "env") {
          if (!val.is_array()) return Refuse(kp, "must be a list");
          for (const json::value& item : val.get_array()) {
            if (!item.is_object()) return Refuse(kp, "must be a list of {name, value}");
            std::string n = StringAt(item.get_object(), "name");
            if (n.empty()) return Refuse(kp, "an entry has no name");
            e.env[n] = StringAt(item.get_object(), "value");
          }
        } else if (key == "resources") {
          if (!val.is_object()) return Refuse(kp, "must be a mapping");
          for (const auto& [rk, rv] : val.get_object()) {
            std::string_view r = rk;
            if (r.find("ccelerator") != std::string_view::npos)
              return Refuse(kp + "." + std::string(r),
                            "accelerators (GPUs/TPUs) are not available to a local run");
            static const std::set<std::string_view> kLimits = {
                "cpuLimit",           "memoryLimit",          "cpuRequest",
                "memoryRequest",      "resourceCpuLimit",     "resourceMemoryLimit",
                "resourceCpuRequest", "resourceMemoryRequest"};
            if (!kLimits.count(r))
              return Refuse(kp + "." + std::string(r), "is not supported by a local run");
          }
        } else {
          return Refuse(kp, "is not supported by a local run");
        }
      }
      if (e.image.empty()) return Refuse(path + ".container.image", "is required");
    } else if (const json::object* imp = ObjectAt(o, "importer")) {
      e.importer = true;
      const json::object* uri = ObjectAt(*imp, "artifactUri");
      std::string constant = uri ? StringAt(*uri, "constant") : std::string();
      if (constant.empty())
        return Refuse(path + ".importer.artifactUri",
                      "only a constant file:// URI can be imported by a local run");
      if (constant.rfind("file://", 0) != 0)
        return Refuse(path + ".importer.artifactUri.constant",
                      "importing '" + constant +
                          "' needs a remote store; a local run imports only file:// URIs");
      e.import_uri = constant;
      if (const json::object* t = ObjectAt(*imp, "typeSchema")) {
        e.import_schema_title = StringAt(*t, "schemaTitle");
        e.import_schema_version = StringAt(*t, "schemaVersion");
      }
      if (const json::object* m = ObjectAt(*imp, "metadata")) e.import_metadata = *m;
    } else if (o.contains("resolver")) {
      return Refuse(path + ".resolver", "resolver executors need KFP's metadata store");
    } else {
      std::string kind = o.empty() ? std::string("(none)") : std::string(o.begin()->key());
      return Refuse(path + "." + kind, "unknown executor kind (a local run supports container)");
    }
    executors_[std::string(name)] = std::move(e);
  }
  return Status::Ok();
}

Status Compiler::ReadPlatform() {
  if (!platform_ || platform_->empty()) return Status::Ok();
  const json::object* platforms = ObjectAt(*platform_, "platforms");
  if (!platforms) {
    std::string key = std::string(platform_->begin()->key());
    return Refuse(key, "unknown platform spec field");
  }
  for (const auto& [pname, pv] : *platforms) {
    std::string ppath = "platforms." + std::string(pname);
    if (pname != "kubernetes") return Refuse(ppath, "unknown platform");
    if (!pv.is_object()) return Refuse(ppath, "must be a mapping");
    for (const auto& [key, kv] : pv.get_object()) {
      std::string kpath = ppath + "." + std::string(key);
      if (key != "deploymentSpec") return Refuse(kpath, "is not supported by a local run");
      const json::object* execs = kv.is_object() ? ObjectAt(kv.get_object(), "executors") : nullptr;
      if (!execs) continue;
      for (const auto& [ename, ev] : *execs) {
        std::string epath = kpath + ".executors." + std::string(ename);
        if (!ev.is_object()) return Refuse(epath, "must be a mapping");
        for (const auto& [field, fv] : ev.get_object()) {
          std::string fpath = epath + "." + std::string(field);
          if (field == "imagePullPolicy" || field == "imagePullSecret" || field == "podMetadata")
            continue;  // the image is never pulled; labels/annotations have no pod to go on
          if (field == "activeDeadlineSeconds") {
            auto it = executors_.find(std::string(ename));
            if (it == executors_.end()) return Refuse(epath, "names no executor");
            SKIFF_ASSIGN_OR_RETURN(int64_t ms, ParseDurationMs(fv, fpath));
            it->second.timeout_ms = ms;
            continue;
          }
          std::string why = "is not supported by a local run";
          if (field == "pvcMount") why = "PersistentVolumeClaims need a cluster";
          if (field == "secretAsEnv" || field == "secretAsVolume")
            why = "Kubernetes Secrets need a cluster";
          if (field == "configMapAsEnv" || field == "configMapAsVolume")
            why = "Kubernetes ConfigMaps need a cluster";
          if (field == "nodeSelector" || field == "tolerations" || field == "nodeAffinity")
            why = "node placement needs a cluster";
          return Refuse(fpath, why);
        }
      }
    }
  }
  return Status::Ok();
}

Status Compiler::ReadComponent(const json::object& o, const std::string& path, Component& c) {
  const json::value* dag = o.if_contains("dag");
  std::string label = StringAt(o, "executorLabel");
  if (dag) {
    if (!dag->is_object()) return Refuse(path + ".dag", "must be a mapping");
    c.dag.emplace();
    return ReadDag(dag->get_object(), path + ".dag", c, *c.dag);
  }
  if (label.empty()) return Refuse(path, "needs a dag or an executorLabel");
  auto it = executors_.find(label);
  if (it == executors_.end())
    return Refuse(path + ".executorLabel", "no executor '" + label + "' in deploymentSpec");
  c.executor = label;
  if (!it->second.importer)
    SKIFF_RETURN_IF_ERROR(
        CheckPlaceholders(c, it->second, "deploymentSpec.executors." + label + ".container"));
  return Status::Ok();
}

Status Compiler::CheckPlaceholders(const Component& c, const Executor& e, const std::string& path) {
  auto check = [&](const Placeholder& p) -> Status {
    using K = Placeholder::Kind;
    if (p.kind == K::kOutputParameter && !c.out_params.count(p.name))
      return InvalidArgument("no output parameter '" + p.name + "' in " + c.name);
    if (p.kind == K::kOutputArtifact && !c.out_artifacts.count(p.name))
      return InvalidArgument("no output artifact '" + p.name + "' in " + c.name);
    if (p.kind == K::kInputArtifact && !c.in_artifacts.count(p.name))
      return InvalidArgument("no input artifact '" + p.name + "' in " + c.name);
    return Status::Ok();  // input parameters may be task-level pipeline channels
  };
  std::function<Status(const json::value&, const std::string&, int)> walk =
      [&](const json::value& v, const std::string& p, int depth) -> Status {
    if (depth > 20) return Refuse(p, "nested too deeply");
    if (std::optional<json::object> s = ParseStructuredArg(v)) {
      for (const auto& [k, inner] : *s) {
        if (inner.is_array()) {
          for (const json::value& item : inner.get_array())
            SKIFF_RETURN_IF_ERROR(walk(item, p, depth + 1));
        } else if (inner.is_object()) {
          for (const auto& [k2, branch] : inner.get_object()) {
            if (k2 == "InputName") continue;
            if (branch.is_array()) {
              for (const json::value& item : branch.get_array())
                SKIFF_RETURN_IF_ERROR(walk(item, p, depth + 1));
            } else {
              SKIFF_RETURN_IF_ERROR(walk(branch, p, depth + 1));
            }
          }
        }
      }
      return Status::Ok();
    }
    if (v.is_number() || v.is_bool()) return Status::Ok();
    if (!v.is_string()) return Refuse(p, "must be a string or a Concat/IfPresent structure");
    Status st = ForEachPlaceholder(
        v.get_string(), [](std::string_view) {}, check);
    if (!st.ok()) return Refuse(p, st.message());
    return Status::Ok();
  };
  for (size_t i = 0; i < e.command.size(); ++i)
    SKIFF_RETURN_IF_ERROR(walk(e.command[i], path + ".command[" + std::to_string(i) + "]", 0));
  for (size_t i = 0; i < e.args.size(); ++i)
    SKIFF_RETURN_IF_ERROR(walk(e.args[i], path + ".args[" + std::to_string(i) + "]", 0));
  return Status::Ok();
}

Status Compiler::ReadDag(const json::object& o, const std::string& path, const Component& owner,
                         Dag& dag) {
  SKIFF_ASSIGN_OR_RETURN(const json::object* tasks, OptionalObject(o, "tasks", path));
  // Nested DAGs are read one after the other, never inside each other.
  tasks_ = tasks;
  KnownName is_task = [this](const std::string& n) { return IsTask(n); };
  if (tasks) {
    for (const auto& [name, v] : *tasks) {
      std::string tpath = path + ".tasks." + std::string(name);
      if (!v.is_object()) return Refuse(tpath, "must be a mapping");
      dag.index[std::string(name)] = dag.tasks.size();
      dag.tasks.emplace_back();
      SKIFF_RETURN_IF_ERROR(
          ReadTask(std::string(name), v.get_object(), tpath, owner, dag.tasks.back()));
    }
  }
  for (const Task& t : dag.tasks) {
    std::string tpath = path + ".tasks." + t.name;
    for (const std::string& u : t.upstream)
      if (!dag.index.count(u)) return Refuse(tpath, "refers to unknown task '" + u + "'");
  }
  if (const json::object* outs = ObjectAt(o, "outputs")) {
    if (const json::object* ps = ObjectAt(*outs, "parameters")) {
      for (const auto& [name, v] : *ps) {
        std::string p = path + ".outputs.parameters." + std::string(name);
        SKIFF_ASSIGN_OR_RETURN(
            std::vector<Selector> sel,
            ReadSelectors(v, p, false, is_task, [this](const std::string& t, const std::string& k) {
              return IsOutput(t, k, false);
            }));
        for (const Selector& s : sel)
          if (!dag.index.count(s.producer))
            return Refuse(p, "refers to unknown task '" + s.producer + "'");
        dag.out_params.emplace_back(std::string(name), std::move(sel));
      }
    }
    if (const json::object* as = ObjectAt(*outs, "artifacts")) {
      for (const auto& [name, v] : *as) {
        std::string p = path + ".outputs.artifacts." + std::string(name);
        SKIFF_ASSIGN_OR_RETURN(
            std::vector<Selector> sel,
            ReadSelectors(v, p, true, is_task, [this](const std::string& t, const std::string& k) {
              return IsOutput(t, k, true);
            }));
        for (const Selector& s : sel)
          if (!dag.index.count(s.producer))
            return Refuse(p, "refers to unknown task '" + s.producer + "'");
        dag.out_artifacts.emplace_back(std::string(name), std::move(sel));
      }
    }
  }
  return CheckCycles(dag, path);
}

Status Compiler::ReadTask(const std::string& name, const json::object& o, const std::string& path,
                          const Component& owner, Task& t) {
  t.name = name;
  t.display_name = name;
  if (const json::object* info = ObjectAt(o, "taskInfo")) {
    std::string n = StringAt(*info, "name");
    if (!n.empty()) t.display_name = n;
  }
  const json::object* ref = ObjectAt(o, "componentRef");
  t.component = ref ? StringAt(*ref, "name") : std::string();
  if (t.component.empty()) return Refuse(path + ".componentRef.name", "is required");
  auto cit = components_.find(t.component);
  if (cit == components_.end())
    return Refuse(path + ".componentRef.name", "unknown component '" + t.component + "'");
  const Component& comp = cit->second;

  std::set<std::string> upstream;
  if (const json::value* deps = o.if_contains("dependentTasks"); deps && !deps->is_null()) {
    if (!deps->is_array()) return Refuse(path + ".dependentTasks", "must be a list");
    for (const json::value& d : deps->get_array()) {
      std::string dep = NameValue(&d, [this](const std::string& n) { return IsTask(n); });
      if (dep.empty()) return Refuse(path + ".dependentTasks", "must be a list of task names");
      upstream.insert(dep);
    }
  }
  std::set<std::string> owner_params;
  if (const json::object* inputs = ObjectAt(o, "inputs")) {
    if (const json::object* ps = ObjectAt(*inputs, "parameters")) {
      for (const auto& [pname, pv] : *ps) {
        std::string p = path + ".inputs.parameters." + std::string(pname);
        if (!pv.is_object()) return Refuse(p, "must be a mapping");
        const json::object& po = pv.get_object();
        ParamSource src;
        if (const json::value* cip = po.if_contains("componentInputParameter")) {
          src.kind = ParamSource::Kind::kComponentInput;
          src.name =
              NameValue(cip, [&](const std::string& n) { return owner.in_params.contains(n); });
          if (!owner.in_params.count(src.name))
            return Refuse(p + ".componentInputParameter",
                          "'" + src.name + "' is not an input of " + owner.name);
        } else if (const json::object* top = ObjectAt(po, "taskOutputParameter")) {
          src.kind = ParamSource::Kind::kTaskOutput;
          src.name =
              NameAt(*top, "producerTask", [this](const std::string& n) { return IsTask(n); });
          src.key = NameAt(*top, "outputParameterKey",
                           [&](const std::string& k) { return IsOutput(src.name, k, false); });
          if (src.name.empty() || src.key.empty())
            return Refuse(p + ".taskOutputParameter", "needs producerTask and outputParameterKey");
          upstream.insert(src.name);
        } else if (const json::object* rv = ObjectAt(po, "runtimeValue")) {
          src.kind = ParamSource::Kind::kConstant;
          const json::value* c = rv->if_contains("constant");
          if (!c) c = rv->if_contains("constantValue");  // older IR: {stringValue: ...}
          if (!c) return Refuse(p + ".runtimeValue", "needs a constant");
          src.constant = *c;
          if (c->is_object() && rv->contains("constantValue")) {
            const json::object& cv = c->get_object();
            if (cv.size() == 1) src.constant = cv.begin()->value();
          }
        } else if (const json::object* tfs = ObjectAt(po, "taskFinalStatus")) {
          src.kind = ParamSource::Kind::kTaskFinalStatus;
          src.name =
              NameAt(*tfs, "producerTask", [this](const std::string& n) { return IsTask(n); });
          if (src.name.empty()) return Refuse(p + ".taskFinalStatus", "needs producerTask");
          upstream.insert(src.name);
        } else {
          std::string kind = po.empty() ? std::string("(empty)") : std::string(po.begin()->key());
          return Refuse(p + "." + kind, "is not supported by a local run");
        }
        if (const json::value* sel = po.if_contains("parameterExpressionSelector");
            sel && sel->is_string() && !sel->get_string().empty()) {
          SKIFF_ASSIGN_OR_RETURN(
              src.selector, ParseSelector(sel->get_string(), p + ".parameterExpressionSelector"));
        }
        t.params.emplace_back(std::string(pname), std::move(src));
      }
    }
    if (const json::object* as = ObjectAt(*inputs, "artifacts")) {
      for (const auto& [aname, av] : *as) {
        std::string p = path + ".inputs.artifacts." + std::string(aname);
        if (!av.is_object()) return Refuse(p, "must be a mapping");
        const json::object& ao = av.get_object();
        ArtifactSource src;
        if (const json::object* toa = ObjectAt(ao, "taskOutputArtifact")) {
          src.from_task = true;
          src.name =
              NameAt(*toa, "producerTask", [this](const std::string& n) { return IsTask(n); });
          src.key = NameAt(*toa, "outputArtifactKey",
                           [&](const std::string& k) { return IsOutput(src.name, k, true); });
          if (src.name.empty() || src.key.empty())
            return Refuse(p + ".taskOutputArtifact", "needs producerTask and outputArtifactKey");
          upstream.insert(src.name);
        } else if (const json::value* cia = ao.if_contains("componentInputArtifact")) {
          src.name =
              NameValue(cia, [&](const std::string& n) { return owner.in_artifacts.contains(n); });
          if (!owner.in_artifacts.count(src.name))
            return Refuse(p + ".componentInputArtifact",
                          "'" + src.name + "' is not an input artifact of " + owner.name);
        } else {
          std::string kind = ao.empty() ? std::string("(empty)") : std::string(ao.begin()->key());
          return Refuse(p + "." + kind, "is not supported by a local run");
        }
        t.artifacts.emplace_back(std::string(aname), std::move(src));
      }
    }
  }
  for (const auto& [pname, def] : comp.in_params) {
    bool set = std::any_of(t.params.begin(), t.params.end(),
                           [&](const auto& p) { return p.first == pname; });
    if (!set && !def.default_value && !def.optional && !(o.contains("parameterIterator")))
      return Refuse(path + ".inputs.parameters",
                    "does not set input '" + pname + "' that " + comp.name + " requires");
  }
  if (const json::object* trig = ObjectAt(o, "triggerPolicy")) {
    std::string cond = StringAt(*trig, "condition");
    if (!cond.empty()) {
      auto parsed = CelExpression::Parse(cond);
      if (!parsed) return Refuse(path + ".triggerPolicy.condition", parsed.error().message());
      t.condition = std::move(*parsed);
    }
    std::string strategy = StringAt(*trig, "strategy");
    if (strategy == "ALL_UPSTREAM_TASKS_COMPLETED") {
      t.exit_handler = true;
    } else if (!strategy.empty() && strategy != "ALL_UPSTREAM_TASKS_SUCCEEDED" &&
               strategy != "TRIGGER_STRATEGY_UNSPECIFIED") {
      return Refuse(path + ".triggerPolicy.strategy", "unknown strategy " + strategy);
    }
  }
  if (o.contains("artifactIterator"))
    return Refuse(path + ".artifactIterator",
                  "loops over artifact lists are not supported by a local run");
  if (const json::object* it = ObjectAt(o, "parameterIterator")) {
    std::string ipath = path + ".parameterIterator";
    t.loop = true;
    t.item_input =
        NameAt(*it, "itemInput", [&](const std::string& n) { return comp.in_params.contains(n); });
    if (t.item_input.empty()) return Refuse(ipath + ".itemInput", "is required");
    if (!comp.is_dag) return Refuse(ipath, "the iterated component must be a DAG");
    if (!comp.in_params.count(t.item_input))
      return Refuse(ipath + ".itemInput", "'" + t.item_input + "' is not an input of " + comp.name);
    const json::object* items = ObjectAt(*it, "items");
    if (!items) return Refuse(ipath + ".items", "is required");
    if (const json::value* raw = items->if_contains("raw")) {
      json::value list = *raw;
      if (raw->is_string()) {
        auto parsed = ParseJson(raw->get_string());
        if (!parsed) return Refuse(ipath + ".items.raw", parsed.error().message());
        list = std::move(*parsed);
      }
      if (!list.is_array()) return Refuse(ipath + ".items.raw", "must be a JSON list");
      t.raw_items = list.get_array();
    } else {
      t.items_parameter = NameAt(*items, "inputParameter", [&](const std::string& n) {
        return std::any_of(t.params.begin(), t.params.end(),
                           [&](const auto& p) { return p.first == n; });
      });
      if (t.items_parameter.empty()) return Refuse(ipath + ".items", "needs raw or inputParameter");
      bool set = std::any_of(t.params.begin(), t.params.end(),
                             [&](const auto& p) { return p.first == t.items_parameter; });
      if (!set)
        return Refuse(ipath + ".items.inputParameter",
                      "'" + t.items_parameter + "' is not an input of the task");
    }
  }
  if (const json::object* pol = ObjectAt(o, "iteratorPolicy")) {
    if (const json::value* lim = pol->if_contains("parallelismLimit")) {
      std::optional<int64_t> n = AsInt(*lim);
      if (!n || *n < 0 || *n > 1000000)
        return Refuse(path + ".iteratorPolicy.parallelismLimit", "must be a count >= 0");
      t.parallelism = static_cast<int>(*n);
    }
  }
  if (const json::object* co = ObjectAt(o, "cachingOptions")) {
    if (const json::value* en = co->if_contains("enableCache"); en && en->is_bool())
      t.cache = en->get_bool();
  }
  if (const json::object* rp = ObjectAt(o, "retryPolicy")) {
    std::string rpath = path + ".retryPolicy";
    t.retry.on = RetryPolicy::On::kAlways;
    if (const json::value* n = rp->if_contains("maxRetryCount")) {
      std::optional<int64_t> count = AsInt(*n);
      if (!count || *count < 0 || *count > 100)
        return Refuse(rpath + ".maxRetryCount", "must be 0..100");
      t.retry.limit = static_cast<int>(*count);
    }
    if (const json::value* d = rp->if_contains("backoffDuration")) {
      SKIFF_ASSIGN_OR_RETURN(t.retry.backoff_ms, ParseDurationMs(*d, rpath + ".backoffDuration"));
    }
    if (const json::value* f = rp->if_contains("backoffFactor"); f && f->is_number()) {
      t.retry.factor =
          f->is_double() ? f->get_double() : static_cast<double>(AsInt(*f).value_or(2));
      if (!(t.retry.factor >= 1)) return Refuse(rpath + ".backoffFactor", "must be >= 1");
    }
    if (const json::value* d = rp->if_contains("backoffMaxDuration")) {
      SKIFF_ASSIGN_OR_RETURN(t.retry.max_backoff_ms,
                             ParseDurationMs(*d, rpath + ".backoffMaxDuration"));
    }
  }
  upstream.erase(name);
  t.upstream.assign(upstream.begin(), upstream.end());
  return Status::Ok();
}

Status Compiler::CheckCycles(const Dag& dag, const std::string& path) {
  // Kahn's algorithm; whatever is left is on a cycle.
  std::vector<int> pending(dag.tasks.size(), 0);
  std::vector<std::vector<size_t>> downstream(dag.tasks.size());
  for (size_t i = 0; i < dag.tasks.size(); ++i) {
    for (const std::string& u : dag.tasks[i].upstream) {
      downstream[dag.index.at(u)].push_back(i);
      ++pending[i];
    }
  }
  std::vector<size_t> ready;
  for (size_t i = 0; i < pending.size(); ++i)
    if (pending[i] == 0) ready.push_back(i);
  size_t done = 0;
  while (!ready.empty()) {
    size_t i = ready.back();
    ready.pop_back();
    ++done;
    for (size_t d : downstream[i])
      if (--pending[d] == 0) ready.push_back(d);
  }
  if (done == dag.tasks.size()) return Status::Ok();
  for (size_t i = 0; i < pending.size(); ++i)
    if (pending[i] > 0)
      return Refuse(path + ".tasks." + dag.tasks[i].name, "is on a dependency cycle");
  return Status::Ok();
}

Status Compiler::CheckComponentRecursion() {
  // 0 = unvisited, 1 = on the stack, 2 = done.
  std::map<std::string, int> mark;
  std::function<Status(const Component&)> visit = [&](const Component& c) -> Status {
    mark[c.name] = 1;
    if (c.dag) {
      for (const Task& t : c.dag->tasks) {
        int m = mark[t.component];
        if (m == 1)
          return Refuse("components." + t.component, "uses itself (through task " + t.name + ")");
        if (m == 0) SKIFF_RETURN_IF_ERROR(visit(components_.at(t.component)));
      }
    }
    mark[c.name] = 2;
    return Status::Ok();
  };
  return visit(root_);
}

}  // namespace

std::string IrOutputParameterPath(std::string_view node_id, std::string_view name) {
  return "/tmp/outputs/" + std::string(node_id) + "/" + std::string(name);
}

std::string IrOutputArtifactUri(std::string_view pipeline_root, std::string_view task_name,
                                std::string_view node_id, std::string_view name) {
  std::string root(pipeline_root);
  while (!root.empty() && root.back() == '/') root.pop_back();
  return root + "/" + std::string(task_name) + "/" + std::string(node_id) + "/" + std::string(name);
}

namespace {

// ---------------------------------------------------------------------------------------------
// Runtime.

bool IsFailure(NodePhase p) { return p == NodePhase::kFailed || p == NodePhase::kError; }

json::object ArtifactJson(const Artifact& a, const ArtifactDef* def) {
  std::string title = !a.type.empty() ? a.type : (def ? def->schema_title : std::string());
  if (title.empty()) title = "system.Artifact";
  json::object type{{"schemaTitle", title}};
  if (def && !def->schema_version.empty()) type["schemaVersion"] = def->schema_version;
  return json::object{{"name", a.name}, {"uri", a.uri}, {"metadata", a.metadata}, {"type", type}};
}

Artifact ArtifactFromJson(const json::object& o) {
  Artifact a;
  a.name = StringAt(o, "name");
  a.uri = StringAt(o, "uri");
  if (const json::object* m = ObjectAt(o, "metadata")) a.metadata = *m;
  if (const json::object* t = ObjectAt(o, "type")) a.type = StringAt(*t, "schemaTitle");
  return a;
}

std::string ItemLabel(const json::value& item) {
  if (item.is_string()) {
    std::string s(item.get_string());
    return s.size() > 40 ? s.substr(0, 40) : s;
  }
  if (item.is_number() || item.is_bool()) return Serialize(item);
  return {};
}

class IrProgram;

// One Advance call: walks the node tree top-down, creating and completing nodes.
class Runner {
 public:
  Runner(const IrProgram& program, RunState& state, const RunContext& ctx)
      : program_(program), state_(state), ctx_(ctx) {}

  Status Advance();

 private:
  // A resolved task input: parameters by name and artifacts by name.
  struct Inputs {
    json::object params;
    json::object artifacts;  // name -> [artifact json]
  };
  // Why inputs could not be resolved: the task is skipped (an upstream was skipped) or fails.
  struct Unresolved {
    bool skip = false;
    std::string message;
  };

  Result<json::object> ResolveRunParameters() const;
  bool StepDag(Node& dag_node);
  bool StepLoop(Node& group);
  void CompleteDag(Node& dag_node, const Component& comp);
  std::string ChildName(const Node& parent, const std::string& task) const {
    return parent.name + "." + task;
  }
  std::string ChildId(const Node& parent, const std::string& task) const {
    return NodeId(ctx_.run_name, ChildName(parent, task));
  }
  Node& AddNode(Node& parent, std::string name, std::string display, std::string type,
                const Task* task, const std::string& component);
  void Finish(Node& n, NodePhase phase, std::string message = {});
  std::optional<Unresolved> ResolveInputs(const Node& dag_node, const Task& task,
                                          const Component& comp, Inputs& out) const;
  void CreateTask(Node& dag_node, const Task& task);
  void CreatePod(Node& dag_node, const Task& task, const Component& comp, Inputs inputs);
  Result<LaunchSpec> BuildLaunch(const Node& pod, const Task& task, const Component& comp,
                                 const Executor& exec, const Inputs& inputs) const;
  void Terminate();

  const IrProgram& program_;
  RunState& state_;
  const RunContext& ctx_;
};

class IrProgram final : public Program {
 public:
  explicit IrProgram(Compiler&& c)
      : name_(std::move(c.name_)),
        description_(std::move(c.description_)),
        parameters_(std::move(c.parameters_)),
        root_(std::move(c.root_)),
        components_(std::move(c.components_)),
        executors_(std::move(c.executors_)) {}

  std::string_view format() const override { return "ir"; }
  std::string name() const override { return name_; }
  std::string description() const override { return description_; }
  std::vector<ParameterInfo> parameters() const override { return parameters_; }
  Status Advance(RunState& state, const RunContext& ctx) const override {
    Runner runner(*this, state, ctx);
    return runner.Advance();
  }

  const Component& root() const { return root_; }
  // The component `name` ("root": the pipeline itself), or nullptr.
  const Component* FindComponent(const std::string& name) const {
    if (name == "root") return &root_;
    auto it = components_.find(name);
    return it == components_.end() ? nullptr : &it->second;
  }
  const Executor* FindExecutor(const std::string& name) const {
    auto it = executors_.find(name);
    return it == executors_.end() ? nullptr : &it->second;
  }

 private:
  std::string name_, description_;
  std::vector<ParameterInfo> parameters_;
  Component root_;
  std::map<std::string, Component> components_;
  std::map<std::string, Executor> executors_;
};

Result<json::object> Runner::ResolveRunParameters() const {
  const Component& root = program_.root();
  for (const auto& [name, v] : ctx_.parameters) {
    if (!root.in_params.count(std::string(name)))
      return InvalidArgument("unknown run parameter '" + std::string(name) + "'");
  }
  json::object out;
  for (const ParameterInfo& info : program_.parameters()) {
    const ParamDef& def = root.in_params.at(info.name);
    if (const json::value* given = ctx_.parameters.if_contains(info.name)) {
      auto v = CoerceParameter(*given, def.type, true);
      if (!v) return InvalidArgument("run parameter '" + info.name + "': " + v.error().message());
      out[info.name] = std::move(*v);
    } else if (def.default_value) {
      out[info.name] = *def.default_value;
    } else if (!def.optional) {
      return InvalidArgument("run parameter '" + info.name + "' (" + def.type + ") is required");
    }
  }
  return out;
}

Node& Runner::AddNode(Node& parent, std::string name, std::string display, std::string type,
                      const Task* task, const std::string& component) {
  Node n;
  n.id = NodeId(ctx_.run_name, name);
  n.name = std::move(name);
  n.display_name = std::move(display);
  n.type = std::move(type);
  n.template_name = component;
  if (task) n.task_name = task->name;
  n.parent = parent.id;
  n.boundary_id = parent.type == "TaskGroup" ? parent.boundary_id : parent.id;
  n.phase = NodePhase::kRunning;
  n.started_at_ms = ctx_.now_ms;
  n.state["component"] = component;
  return state_.Add(std::move(n));
}

void Runner::Finish(Node& n, NodePhase phase, std::string message) {
  n.phase = phase;
  n.message = std::move(message);
  n.finished_at_ms = ctx_.now_ms;
  if (n.started_at_ms == 0) n.started_at_ms = ctx_.now_ms;
}

Status Runner::Advance() {
  if (state_.phase == RunPhase::kSucceeded || state_.phase == RunPhase::kFailed ||
      state_.phase == RunPhase::kError)
    return Status::Ok();
  if (state_.shutdown == "Terminate") {
    Terminate();
    return Status::Ok();
  }
  Node* root = state_.root.empty() ? nullptr : state_.Find(state_.root);
  if (!root) {
    SKIFF_ASSIGN_OR_RETURN(json::object params, ResolveRunParameters());
    Node n;
    n.name = ctx_.run_name;
    n.id = NodeId(ctx_.run_name, n.name);
    n.display_name = ctx_.run_name;
    n.type = "DAG";
    n.template_name = "root";
    n.task_name = "root";
    n.phase = NodePhase::kRunning;
    n.started_at_ms = ctx_.now_ms;
    n.inputs = std::move(params);
    n.state["component"] = "root";
    n.state["artifacts"] = json::object();
    state_.root = n.id;
    root = &state_.Add(std::move(n));
    state_.phase = RunPhase::kRunning;
    state_.started_at_ms = ctx_.now_ms;
  }
  // Completing one node can unblock a task processed earlier in the same walk: repeat until
  // nothing changes (each pass either changes a node or ends the loop; nodes only move forward).
  while (!IsFinished(root->phase) && StepDag(*root)) {
  }
  if (IsFinished(root->phase)) {
    state_.phase = root->phase == NodePhase::kSucceeded ? RunPhase::kSucceeded : RunPhase::kFailed;
    state_.message = root->message;
    state_.finished_at_ms = ctx_.now_ms;
  }
  return Status::Ok();
}

void Runner::Terminate() {
  for (auto& [id, n] : state_.nodes) {
    if (IsFinished(n.phase)) continue;
    if (n.type == "Pod" && n.phase == NodePhase::kPending) {
      Finish(n, NodePhase::kOmitted, "terminated");
    } else {
      Finish(n, NodePhase::kFailed, "terminated");
    }
  }
  state_.phase = RunPhase::kFailed;
  state_.message = "terminated";
  state_.finished_at_ms = ctx_.now_ms;
}

bool Runner::StepDag(Node& dag_node) {
  const Component* comp = program_.FindComponent(GetString(dag_node.state, "component"));
  if (!comp || !comp->dag) {
    Finish(dag_node, NodePhase::kError,
           "the pipeline has no component '" + GetString(dag_node.state, "component") + "'");
    return true;
  }
  const Dag& dag = *comp->dag;
  bool changed = false;
  // Argo's failFast: once a task of the DAG failed, tasks not started yet are Omitted.
  bool any_failed = false;
  for (const Task& task : dag.tasks) {
    const Node* child = state_.Find(ChildId(dag_node, task.name));
    if (child && IsFailure(child->phase)) any_failed = true;
  }
  for (const Task& task : dag.tasks) {
    Node* child = state_.Find(ChildId(dag_node, task.name));
    if (child) {
      if (IsFinished(child->phase)) continue;
      if (child->type == "DAG") changed |= StepDag(*child);
      if (child->type == "TaskGroup") changed |= StepLoop(*child);
      continue;
    }
    bool ready = true;
    bool upstream_failed = false;
    for (const std::string& u : task.upstream) {
      const Node* n = state_.Find(ChildId(dag_node, u));
      if (!n || !IsFinished(n->phase)) {
        ready = false;
        break;
      }
      if (IsFailure(n->phase) || n->phase == NodePhase::kOmitted) upstream_failed = true;
    }
    if (!ready) continue;
    changed = true;
    if (!task.exit_handler && (upstream_failed || any_failed)) {
      Node& n = AddNode(dag_node, ChildName(dag_node, task.name), task.display_name, "Skipped",
                        &task, task.component);
      Finish(n, NodePhase::kOmitted,
             upstream_failed ? "an upstream task failed" : "another task of the DAG failed");
      continue;
    }
    // Failures of this pass count from the next one: every task ready now starts, as Argo
    // schedules all ready tasks of a DAG at once.
    CreateTask(dag_node, task);
  }
  bool all_done = true;
  for (const Task& task : dag.tasks) {
    const Node* child = state_.Find(ChildId(dag_node, task.name));
    if (!child || !IsFinished(child->phase)) {
      all_done = false;
      break;
    }
  }
  if (all_done) {
    CompleteDag(dag_node, *comp);
    changed = true;
  }
  return changed;
}

void Runner::CompleteDag(Node& dag_node, const Component& comp) {
  const Dag& dag = *comp.dag;
  for (const Task& task : dag.tasks) {
    const Node* child = state_.Find(ChildId(dag_node, task.name));
    if (IsFailure(child->phase) || child->phase == NodePhase::kOmitted) {
      std::string msg = "task '" + task.display_name + "' " +
                        (child->phase == NodePhase::kOmitted ? "did not run" : "failed");
      if (!child->message.empty()) msg += ": " + child->message;
      if (IsFailure(child->phase)) {
        Finish(dag_node, NodePhase::kFailed, msg);
        return;
      }
      if (dag_node.message.empty()) dag_node.message = msg;
    }
  }
  if (!dag_node.message.empty()) {
    Finish(dag_node, NodePhase::kFailed, dag_node.message);
    return;
  }
  // A retried run completes the DAG again.
  dag_node.output_parameters.clear();
  dag_node.output_artifacts.clear();
  for (const auto& [name, selectors] : dag.out_params) {
    for (const Selector& s : selectors) {
      const Node* p = state_.Find(ChildId(dag_node, s.producer));
      if (!p || p->phase != NodePhase::kSucceeded) continue;
      if (const json::value* v = p->output_parameters.if_contains(s.key)) {
        dag_node.output_parameters[name] = *v;
        break;
      }
    }
  }
  for (const auto& [name, selectors] : dag.out_artifacts) {
    for (const Selector& s : selectors) {
      const Node* p = state_.Find(ChildId(dag_node, s.producer));
      if (!p || p->phase != NodePhase::kSucceeded) continue;
      for (const Artifact& a : p->output_artifacts) {
        if (a.name != s.key) continue;
        Artifact copy = a;
        copy.name = name;
        dag_node.output_artifacts.push_back(std::move(copy));
      }
    }
  }
  Finish(dag_node, NodePhase::kSucceeded);
}

bool Runner::StepLoop(Node& group) {
  const Component* comp = program_.FindComponent(GetString(group.state, "component"));
  const json::value* items_v = group.state.if_contains("items");
  if (!comp || !comp->dag || !items_v || !items_v->is_array()) {
    Finish(group, NodePhase::kError, "damaged loop state");
    return true;
  }
  const json::array& items = items_v->get_array();
  const std::string item_input = GetString(group.state, "itemInput");
  int64_t limit = 0;
  if (const json::value* l = group.state.if_contains("parallelism"); l && l->is_int64())
    limit = l->get_int64();
  const json::object* artifacts = GetObject(group.state, "artifacts");
  bool changed = false;
  bool any_failed = false;
  int running = 0;
  std::vector<Node*> iterations(items.size(), nullptr);
  for (size_t i = 0; i < items.size(); ++i) {
    std::string name = group.name + "(" + std::to_string(i);
    std::string label = ItemLabel(items[i]);
    if (!label.empty()) name += ":" + label;
    name += ")";
    Node* it = state_.Find(NodeId(ctx_.run_name, name));
    if (!it) {
      if (any_failed) {
        Node& n = AddNode(group, name, name.substr(group.name.rfind('.') + 1), "Skipped", nullptr,
                          comp->name);
        Finish(n, NodePhase::kOmitted, "another iteration failed");
        changed = true;
        iterations[i] = &n;
        continue;
      }
      if (limit > 0 && running >= limit) continue;
      Node& n =
          AddNode(group, name, name.substr(group.name.rfind('.') + 1), "DAG", nullptr, comp->name);
      n.inputs = group.inputs;
      json::value item = items[i];
      if (auto def = comp->in_params.find(item_input); def != comp->in_params.end()) {
        if (auto coerced = CoerceParameter(item, def->second.type, false)) item = *coerced;
      }
      n.inputs[item_input] = item;
      n.state["artifacts"] = artifacts ? *artifacts : json::object();
      n.state["iteration"] = static_cast<int64_t>(i);
      changed = true;
      it = &n;
    }
    iterations[i] = it;
    if (!IsFinished(it->phase)) {
      changed |= StepDag(*it);
    }
    if (!IsFinished(it->phase)) ++running;
    if (IsFailure(it->phase)) any_failed = true;
  }
  for (Node* it : iterations)
    if (!it || !IsFinished(it->phase)) return changed;
  // Fan-in: each output becomes the list of the iterations' values, in item order.
  for (size_t i = 0; i < iterations.size(); ++i) {
    if (IsFailure(iterations[i]->phase)) {
      std::string msg = "iteration " + std::to_string(i) + " failed";
      if (!iterations[i]->message.empty()) msg += ": " + iterations[i]->message;
      Finish(group, NodePhase::kFailed, msg);
      return true;
    }
  }
  group.output_parameters.clear();
  group.output_artifacts.clear();
  for (const auto& [name, selectors] : comp->dag->out_params) {
    json::array values;
    for (Node* it : iterations)
      if (const json::value* v = it->output_parameters.if_contains(name)) values.push_back(*v);
    group.output_parameters[name] = std::move(values);
  }
  for (const auto& [name, selectors] : comp->dag->out_artifacts) {
    for (Node* it : iterations)
      for (const Artifact& a : it->output_artifacts)
        if (a.name == name) group.output_artifacts.push_back(a);
  }
  group.state["iterationCount"] = static_cast<int64_t>(items.size());
  Finish(group, NodePhase::kSucceeded);
  return true;
}

std::optional<Runner::Unresolved> Runner::ResolveInputs(const Node& dag_node, const Task& task,
                                                        const Component& comp, Inputs& out) const {
  auto producer = [&](const std::string& name) { return state_.Find(ChildId(dag_node, name)); };
  std::vector<std::pair<std::string, std::string>> templated;  // constants with placeholders
  for (const auto& [name, src] : task.params) {
    json::value v;
    switch (src.kind) {
      case ParamSource::Kind::kComponentInput: {
        const json::value* in = dag_node.inputs.if_contains(src.name);
        if (!in) continue;  // an optional pipeline input that was not given
        v = *in;
        break;
      }
      case ParamSource::Kind::kTaskOutput: {
        const Node* p = producer(src.name);
        if (!p) return Unresolved{false, "task '" + src.name + "' did not run"};
        if (p->phase == NodePhase::kSkipped)
          return Unresolved{true, "task '" + src.name + "' was skipped"};
        const json::value* o = p->output_parameters.if_contains(src.key);
        if (!o)
          return Unresolved{false, "input '" + name + "': task '" + src.name +
                                       "' has no output parameter '" + src.key + "'"};
        v = *o;
        break;
      }
      case ParamSource::Kind::kConstant:
        v = src.constant;
        if (v.is_string() && v.get_string().find("{{$") != json::string::npos) {
          templated.emplace_back(name, std::string(v.get_string()));
          continue;
        }
        break;
      case ParamSource::Kind::kTaskFinalStatus: {
        const Node* p = producer(src.name);
        std::string st = "SUCCEEDED";
        if (!p || IsFailure(p->phase) || p->phase == NodePhase::kOmitted) st = "FAILED";
        if (state_.shutdown == "Terminate") st = "CANCELLED";
        json::object status{{"state", st},
                            {"pipelineJobResourceName", ctx_.run_name},
                            {"pipelineTaskName", src.name}};
        json::object error;
        if (st != "SUCCEEDED") {
          error["code"] = 2;
          error["message"] = p ? p->message : std::string("did not run");
        }
        status["error"] = std::move(error);
        v = std::move(status);
        break;
      }
    }
    if (!src.selector.empty()) {
      if (v.is_string()) {
        if (auto parsed = ParseJson(v.get_string())) v = std::move(*parsed);
      }
      for (const json::value& key : src.selector) {
        const json::value* next = nullptr;
        if (key.is_string() && v.is_object()) next = v.get_object().if_contains(key.get_string());
        if (key.is_int64() && v.is_array() && key.get_int64() >= 0 &&
            static_cast<size_t>(key.get_int64()) < v.get_array().size())
          next = &v.get_array()[static_cast<size_t>(key.get_int64())];
        if (!next)
          return Unresolved{false, "input '" + name + "': the loop item has no " + Serialize(key)};
        json::value copy = *next;
        v = std::move(copy);
      }
    }
    if (auto def = comp.in_params.find(name); def != comp.in_params.end()) {
      auto coerced = CoerceParameter(v, def->second.type, false);
      if (!coerced) return Unresolved{false, "input '" + name + "': " + coerced.error().message()};
      v = std::move(*coerced);
    }
    out.params[name] = std::move(v);
  }
  // Constants may name the task's other inputs: "heads and {{$.inputs.parameters['x']}} > 5!".
  for (const auto& [name, text] : templated) {
    std::string resolved;
    Status st = ForEachPlaceholder(
        text, [&](std::string_view lit) { resolved += lit; },
        [&](const Placeholder& p) -> Status {
          if (p.kind != Placeholder::Kind::kInputParameter)
            return InvalidArgument("only input parameters may appear in a constant");
          const json::value* v = out.params.if_contains(p.name);
          if (!v) return InvalidArgument("input parameter '" + p.name + "' has no value");
          resolved += ParameterText(*v);
          return Status::Ok();
        });
    if (!st.ok()) return Unresolved{false, "input '" + name + "': " + st.message()};
    json::value v(resolved);
    if (auto def = comp.in_params.find(name); def != comp.in_params.end()) {
      if (auto coerced = CoerceParameter(v, def->second.type, false)) v = std::move(*coerced);
    }
    out.params[name] = std::move(v);
  }
  for (const auto& [pname, def] : comp.in_params) {
    if (!out.params.contains(pname) && def.default_value) out.params[pname] = *def.default_value;
  }
  for (const auto& [name, src] : task.artifacts) {
    const ArtifactDef* def = nullptr;
    if (auto d = comp.in_artifacts.find(name); d != comp.in_artifacts.end()) def = &d->second;
    json::array list;
    if (src.from_task) {
      const Node* p = producer(src.name);
      if (!p) return Unresolved{false, "task '" + src.name + "' did not run"};
      if (p->phase == NodePhase::kSkipped)
        return Unresolved{true, "task '" + src.name + "' was skipped"};
      for (const Artifact& a : p->output_artifacts)
        if (a.name == src.key) list.push_back(ArtifactJson(a, def));
      if (list.empty() && !(def && def->is_list))
        return Unresolved{false, "input artifact '" + name + "': task '" + src.name +
                                     "' has no output artifact '" + src.key + "'"};
    } else {
      const json::object* arts = GetObject(dag_node.state, "artifacts");
      const json::value* in = arts ? arts->if_contains(src.name) : nullptr;
      if (!in || !in->is_array()) continue;
      for (const json::value& a : in->get_array()) {
        if (!a.is_object()) continue;
        list.push_back(ArtifactJson(ArtifactFromJson(a.get_object()), def));
      }
    }
    out.artifacts[name] = std::move(list);
  }
  return std::nullopt;
}

void Runner::CreateTask(Node& dag_node, const Task& task) {
  const Component* comp = program_.FindComponent(task.component);
  Inputs inputs;
  std::optional<Unresolved> unresolved = ResolveInputs(dag_node, task, *comp, inputs);
  std::string name = ChildName(dag_node, task.name);
  if (unresolved) {
    Node& n = AddNode(dag_node, name, task.display_name, "Skipped", &task, task.component);
    n.inputs = std::move(inputs.params);
    Finish(n, unresolved->skip ? NodePhase::kSkipped : NodePhase::kFailed, unresolved->message);
    return;
  }
  if (task.condition) {
    auto met = task.condition->EvaluateCondition(inputs.params);
    if (!met || !*met) {
      Node& n = AddNode(dag_node, name, task.display_name, "Skipped", &task, task.component);
      n.inputs = std::move(inputs.params);
      n.state["condition"] = task.condition->text();
      if (met) {
        Finish(n, NodePhase::kSkipped, "condition is false: " + task.condition->text());
      } else {
        Finish(n, NodePhase::kFailed, met.error().message());
      }
      return;
    }
  }
  if (task.loop) {
    Node& n = AddNode(dag_node, name, task.display_name, "TaskGroup", &task, task.component);
    json::value items;
    if (task.raw_items) {
      items = *task.raw_items;
    } else {
      const json::value* v = inputs.params.if_contains(task.items_parameter);
      if (v && v->is_string()) {
        auto parsed = ParseJson(v->get_string());
        if (parsed) items = std::move(*parsed);
      } else if (v) {
        items = *v;
      }
      if (!items.is_array()) {
        n.type = "Skipped";  // never ran: a retry of the run removes it (as it removes leaves)
        n.inputs = std::move(inputs.params);
        Finish(n, NodePhase::kFailed, "loop input '" + task.items_parameter + "' is not a list");
        return;
      }
    }
    n.state["iterationCount"] = static_cast<int64_t>(items.get_array().size());
    n.state["items"] = std::move(items);
    n.state["itemInput"] = task.item_input;
    n.state["parallelism"] = static_cast<int64_t>(task.parallelism);
    n.state["artifacts"] = std::move(inputs.artifacts);
    n.inputs = std::move(inputs.params);
    StepLoop(n);
    return;
  }
  if (comp->dag) {
    Node& n = AddNode(dag_node, name, task.display_name, "DAG", &task, task.component);
    n.inputs = std::move(inputs.params);
    n.state["artifacts"] = std::move(inputs.artifacts);
    StepDag(n);
    return;
  }
  CreatePod(dag_node, task, *comp, std::move(inputs));
}

void Runner::CreatePod(Node& dag_node, const Task& task, const Component& comp, Inputs inputs) {
  Node& n = AddNode(dag_node, ChildName(dag_node, task.name), task.display_name, "Pod", &task,
                    task.component);
  n.phase = NodePhase::kPending;
  n.started_at_ms = 0;
  n.state["task"] = task.name;
  const Executor* exec = program_.FindExecutor(comp.executor);
  if (!exec) {
    Finish(n, NodePhase::kError, "no executor '" + comp.executor + "'");
    return;
  }
  if (exec->importer) {
    // Nothing runs: the artifact is the imported URI.
    Artifact a;
    a.name = "artifact";
    a.uri = exec->import_uri;
    a.type = exec->import_schema_title;
    a.metadata = exec->import_metadata;
    n.output_artifacts.push_back(std::move(a));
    n.inputs = std::move(inputs.params);
    Finish(n, NodePhase::kSucceeded);
    return;
  }
  auto launch = BuildLaunch(n, task, comp, *exec, inputs);
  n.inputs = std::move(inputs.params);
  if (!launch) {
    Finish(n, NodePhase::kFailed, launch.error().message());
    return;
  }
  json::object uris;
  for (const OutputFile& f : launch->output_artifacts)
    uris[f.name] = IrOutputArtifactUri(ctx_.pipeline_root, task.name, n.id, f.name);
  n.state["outputArtifactUris"] = std::move(uris);
  n.launch = std::move(*launch);
}

Result<LaunchSpec> Runner::BuildLaunch(const Node& pod, const Task& task, const Component& comp,
                                       const Executor& exec, const Inputs& inputs) const {
  LaunchSpec spec;
  spec.image = exec.image;
  spec.env = exec.env;
  spec.timeout_ms = exec.timeout_ms;
  spec.retry = task.retry;
  spec.executor_output_path = std::string(kIrExecutorOutputPath);

  json::object out_params, out_artifacts;
  std::map<std::string, std::string> out_param_paths, out_artifact_uris;
  for (const auto& [name, def] : comp.out_params) {
    std::string path = IrOutputParameterPath(pod.id, name);
    out_param_paths[name] = path;
    out_params[name] = json::object{{"outputFile", path}};
    spec.output_parameters.push_back({name, path, def.type, std::nullopt, false});
  }
  for (const auto& [name, def] : comp.out_artifacts) {
    std::string uri = IrOutputArtifactUri(ctx_.pipeline_root, task.name, pod.id, name);
    out_artifact_uris[name] = uri;
    json::object type{
        {"schemaTitle", def.schema_title.empty() ? "system.Artifact" : def.schema_title}};
    if (!def.schema_version.empty()) type["schemaVersion"] = def.schema_version;
    json::object art{{"name", name}, {"uri", uri}, {"metadata", json::object()}, {"type", type}};
    out_artifacts[name] = json::object{{"artifacts", json::array{art}}};
    spec.output_artifacts.push_back(
        {name, ArtifactLocalPath(uri), def.schema_title, std::nullopt, false});
  }
  json::object in_artifacts;
  for (const auto& [name, list] : inputs.artifacts) {
    in_artifacts[name] = json::object{{"artifacts", list}};
    if (!list.is_array()) continue;
    for (const json::value& a : list.get_array()) {
      std::string uri = GetString(a, "uri");
      spec.input_artifacts.push_back({std::string(name), ArtifactLocalPath(uri), uri});
    }
  }
  json::object executor_input{
      {"inputs", json::object{{"parameterValues", inputs.params}, {"artifacts", in_artifacts}}},
      {"outputs", json::object{{"parameters", out_params},
                               {"artifacts", out_artifacts},
                               {"outputFile", std::string(kIrExecutorOutputPath)}}}};

  auto first_artifact = [&](const std::string& name) -> const json::value* {
    const json::value* list = inputs.artifacts.if_contains(name);
    if (!list || !list->is_array() || list->get_array().empty()) return nullptr;
    return &list->get_array()[0];
  };
  auto resolve = [&](std::string_view text) -> Result<std::string> {
    std::string out;
    Status st = ForEachPlaceholder(
        text, [&](std::string_view lit) { out += lit; },
        [&](const Placeholder& p) -> Status {
          using K = Placeholder::Kind;
          switch (p.kind) {
            case K::kExecutorInput:
              out += Serialize(executor_input);
              break;
            case K::kJobName:
              out += ctx_.run_name;
              break;
            case K::kJobUuid:
              out += ctx_.run_id;
              break;
            case K::kTaskName:
              out += task.name;
              break;
            case K::kTaskUuid:
              out += pod.id;
              break;
            case K::kExecutorOutputFile:
              out += kIrExecutorOutputPath;
              break;
            case K::kPipelineRoot:
              out += ctx_.pipeline_root;
              break;
            case K::kJobCreateTime:
              out += FormatRfc3339(std::chrono::system_clock::time_point(
                  std::chrono::milliseconds(ctx_.created_at_ms)));
              break;
            case K::kInputParameter: {
              const json::value* v = inputs.params.if_contains(p.name);
              if (!v) return InvalidArgument("input parameter '" + p.name + "' has no value");
              out += ParameterText(*v);
              break;
            }
            case K::kOutputParameter:
              out += out_param_paths.at(p.name);
              break;
            case K::kInputArtifact: {
              if (p.attr.empty()) {
                const json::value* list = inputs.artifacts.if_contains(p.name);
                auto d = comp.in_artifacts.find(p.name);
                bool is_list = d != comp.in_artifacts.end() && d->second.is_list;
                if (!list) return InvalidArgument("input artifact '" + p.name + "' has no value");
                if (is_list) {
                  out += Serialize(*list);
                } else if (const json::value* a = first_artifact(p.name)) {
                  out += Serialize(*a);
                }
                break;
              }
              const json::value* a = first_artifact(p.name);
              if (!a) return InvalidArgument("input artifact '" + p.name + "' has no value");
              std::string uri = GetString(*a, "uri");
              if (p.attr == "uri") out += uri;
              if (p.attr == "path") out += ArtifactLocalPath(uri);
              if (p.attr == "metadata") {
                const json::object* m = GetObject(*a, "metadata");
                out += Serialize(m ? json::value(*m) : json::value(json::object()));
              }
              break;
            }
            case K::kOutputArtifact: {
              const std::string& uri = out_artifact_uris.at(p.name);
              if (p.attr == "uri") out += uri;
              if (p.attr == "path") out += ArtifactLocalPath(uri);
              if (p.attr == "metadata") out += "{}";
              break;
            }
          }
          return Status::Ok();
        });
    if (!st.ok()) return st;
    return out;
  };
  auto present = [&](const std::string& name) {
    return inputs.params.contains(name) || inputs.artifacts.contains(name);
  };
  for (size_t i = 0; i < exec.command.size(); ++i)
    SKIFF_RETURN_IF_ERROR(ExpandArg(exec.command[i], resolve, present, spec.argv,
                                    "command[" + std::to_string(i) + "]"));
  for (size_t i = 0; i < exec.args.size(); ++i)
    SKIFF_RETURN_IF_ERROR(
        ExpandArg(exec.args[i], resolve, present, spec.argv, "args[" + std::to_string(i) + "]"));
  if (spec.argv.empty()) return InvalidArgument("the container has no command");
  if (std::optional<std::vector<std::string>> local = LocalLightweightCommand(spec.argv))
    spec.argv = std::move(*local);

  if (task.cache) {
    json::array cmd_args = exec.command;
    for (const json::value& a : exec.args) cmd_args.push_back(a);
    json::object in_uris;
    for (const auto& [name, list] : inputs.artifacts) {
      json::array uris;
      if (list.is_array())
        for (const json::value& a : list.get_array())
          uris.push_back(json::string(GetString(a, "uri")));
      in_uris[name] = std::move(uris);
    }
    json::object out_param_spec, out_artifact_spec;
    for (const auto& [name, def] : comp.out_params) out_param_spec[name] = def.type;
    for (const auto& [name, def] : comp.out_artifacts) out_artifact_spec[name] = def.schema_title;
    json::object key{{"containerSpec", json::object{{"image", exec.image}, {"cmdArgs", cmd_args}}},
                     {"inputParameters", inputs.params},
                     {"inputArtifacts", in_uris},
                     {"outputParametersSpec", out_param_spec},
                     {"outputArtifactsSpec", out_artifact_spec}};
    spec.cache_key = HexEncode(Sha256(Serialize(key)));
  }
  return spec;
}

}  // namespace

Result<std::shared_ptr<const Program>> CompileKfpIr(const json::object& pipeline_spec,
                                                    const json::object* platform_spec) {
  Compiler c(pipeline_spec, platform_spec);
  SKIFF_RETURN_IF_ERROR(c.Run());
  return std::shared_ptr<const Program>(std::make_shared<IrProgram>(std::move(c)));
}

}  // namespace skiff::pipelines
