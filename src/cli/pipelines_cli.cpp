#include "cli/pipelines_cli.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>
#include <map>
#include <set>
#include <thread>
#include <tuple>

#include "cli/api_client.hpp"
#include "core/clock.hpp"
#include "core/crypto.hpp"
#include "core/fs.hpp"
#include "core/json.hpp"
#include "http/http.hpp"

namespace skiff::cli {

namespace {

using SysClock = std::chrono::system_clock;
using std::chrono::milliseconds;

// A path of KFP's v2beta1 API.
std::string V2(std::string_view rest) { return "/apis/v2beta1" + std::string(rest); }
constexpr milliseconds kPollInterval{200};
constexpr int kPageSize = 200;

// ---- the KFP API over ApiClient ----

const char* GrpcCodeName(int64_t code) {
  static const char* const kNames[] = {
      "OK",       "Canceled",       "Unknown",          "InvalidArgument",   "DeadlineExceeded",
      "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
      "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
      "DataLoss", "Unauthenticated"};
  if (code < 0 || code > 16) return nullptr;
  return kNames[code];
}

// A non-2xx answer as "Error from server (NotFound): <KFP's message>". KFP's error body has
// `code` (a gRPC code) and `message` (v1beta1 also `error`); the gateway's own refusals are
// Kubernetes Status objects (`reason`, `message`).
Status KfpError(const http::ClientResponse& r) {
  std::string message, reason;
  auto body = ParseJson(r.body);
  if (body && body->is_object()) {
    message = GetString(*body, "message");
    if (message.empty()) message = GetString(*body, "error");
    reason = GetString(*body, "reason");
    const json::value* code = Find(*body, "code");
    if (reason.empty() && code != nullptr && code->is_int64() && GetString(*body, "kind").empty()) {
      if (const char* n = GrpcCodeName(code->get_int64())) reason = n;
    }
  }
  if (message.empty()) {
    message = r.body.empty() ? "HTTP " + std::to_string(r.status) : r.body;
    while (!message.empty() && (message.back() == '\n' || message.back() == '\r'))
      message.pop_back();
  }
  if (reason.empty()) reason = "HTTP " + std::to_string(r.status);
  Code c = Code::kUnknown;
  switch (r.status) {
    case 400:
      c = Code::kInvalidArgument;
      break;
    case 401:
      c = Code::kUnauthenticated;
      break;
    case 403:
      c = Code::kPermissionDenied;
      break;
    case 404:
      c = Code::kNotFound;
      break;
    case 409:
      c = Code::kAlreadyExists;
      break;
    default:
      c = r.status >= 500 ? Code::kInternal : Code::kInvalidArgument;
  }
  return Status(c, "Error from server (" + reason + "): " + message, reason);
}

// "?a=1&b=x%20y" from the non-empty pairs.
std::string QueryString(const std::vector<std::pair<std::string, std::string>>& kv) {
  std::string q;
  for (const auto& [k, v] : kv) {
    if (v.empty()) continue;
    q += q.empty() ? '?' : '&';
    q += http::PercentEncode(k) + "=" + http::PercentEncode(v);
  }
  return q;
}

std::string Seg(std::string_view s) { return http::PercentEncode(s); }

class Kfp {
 public:
  static Result<Kfp> Connect(const Settings& settings) {
    SKIFF_ASSIGN_OR_RETURN(ApiClient c, ApiClient::FromSettings(settings));
    return Kfp(std::move(c));
  }

  // A JSON call; a non-2xx answer is KfpError.
  Result<json::value> Call(const std::string& method, const std::string& path,
                           const std::string& body = {},
                           const std::string& content_type = "application/json") {
    SKIFF_ASSIGN_OR_RETURN(auto resp, client_.Do(method, path, body, content_type));
    if (resp.status < 200 || resp.status >= 300) return KfpError(resp);
    if (resp.body.empty()) return json::value(json::object{});
    auto v = ParseJson(resp.body);
    if (!v) return Internal("the server's answer to " + method + " " + path + " is not JSON");
    return v;
  }
  Result<json::value> Get(const std::string& path) { return Call("GET", path); }
  Result<json::value> Post(const std::string& path, const json::value& body) {
    return Call("POST", path, Serialize(body));
  }

  // A text resource (task logs).
  Result<std::string> Text(const std::string& path) {
    SKIFF_ASSIGN_OR_RETURN(auto resp, client_.Do("GET", path, {}, {}, "text/plain, */*"));
    if (resp.status != 200) return KfpError(resp);
    return std::move(resp.body);
  }

  // Every item of a list, page by page. `query` starts with '?' or is empty.
  Result<std::vector<json::value>> ListAll(const std::string& path, std::string query,
                                           std::string_view items_key) {
    std::vector<json::value> items;
    std::string token;
    for (int page = 0; page < 100000; ++page) {
      std::string q =
          query + (query.empty() ? "?" : "&") + "page_size=" + std::to_string(kPageSize);
      if (!token.empty()) q += "&page_token=" + http::PercentEncode(token);
      SKIFF_ASSIGN_OR_RETURN(json::value v, Get(path + q));
      if (const json::value* arr = Find(v, items_key); arr && arr->is_array()) {
        for (const json::value& e : arr->get_array()) items.push_back(e);
      }
      token = GetString(v, "next_page_token");
      if (token.empty()) return items;
    }
    return Internal("the server kept returning page tokens");
  }

 private:
  explicit Kfp(ApiClient c) : client_(std::move(c)) {}
  ApiClient client_;
};

// ---- small helpers ----

std::string Str(const json::value& v, std::string_view path) { return GetString(v, path); }

void PrintJson(const json::value& v) { std::printf("%s\n", Serialize(v).c_str()); }

json::value ListJson(std::string_view key, std::vector<json::value> items) {
  json::array arr(items.begin(), items.end());
  json::object o;
  o["total_size"] = static_cast<int64_t>(arr.size());
  o[key] = std::move(arr);
  return o;
}

// A KFP timestamp; nullopt when absent or the zero time (KFP's "not yet").
std::optional<SysClock::time_point> Time(const json::value& v, std::string_view key) {
  std::string s = Str(v, key);
  if (s.empty()) return std::nullopt;
  auto t = ParseRfc3339(s);
  if (!t || t->time_since_epoch() <= std::chrono::seconds(0)) return std::nullopt;
  return *t;
}

std::string Duration(std::optional<SysClock::time_point> from,
                     std::optional<SysClock::time_point> to) {
  if (!from) return "";
  auto end = to ? *to : SysClock::now();
  auto d = std::chrono::duration_cast<milliseconds>(end - *from);
  if (d.count() < 0) d = milliseconds(0);
  return FormatDuration(std::chrono::duration_cast<std::chrono::seconds>(d));
}

std::string Age(std::optional<SysClock::time_point> t) {
  return t ? ShortAge(SysClock::now() - *t) : "";
}

// "2026-01-02 15:04:05" (UTC) for a person.
std::string When(std::optional<SysClock::time_point> t) {
  if (!t) return "";
  std::string s = FormatRfc3339(*t);
  if (s.size() >= 19) s = s.substr(0, 10) + " " + s.substr(11, 8);
  return s;
}

void PrintField(const char* label, const std::string& value) {
  if (value.empty()) return;
  std::printf("%-13s %s\n", (std::string(label) + ":").c_str(), value.c_str());
}

Status CheckOutput(const std::string& output) {
  if (output.empty() || output == "json") return Status::Ok();
  return InvalidArgument("unknown output format \"" + output + "\": use -o json");
}

Result<milliseconds> ParseTimeout(const std::string& text) {
  auto d = ParseDuration(text);
  if (!d) return InvalidArgument("--timeout \"" + text + "\": " + d.error().message());
  return *d;
}

bool TerminalRunState(const std::string& s) {
  return s == "SUCCEEDED" || s == "FAILED" || s == "CANCELED" || s == "SKIPPED";
}
bool TerminalTaskState(const std::string& s) { return TerminalRunState(s) || s == "CACHED"; }

// ---- pipelines, versions, parameters ----

struct ParamSpec {
  std::string name;
  std::string type;  // IR parameterType; "" for Argo (strings)
  std::string default_value;
};

// The parameters a version's pipeline_spec takes: KFP IR (root.inputDefinitions.parameters) or
// an Argo Workflow (spec.arguments.parameters).
std::vector<ParamSpec> SpecParameters(const json::value& version) {
  std::vector<ParamSpec> out;
  const json::value* spec = Find(version, "pipeline_spec");
  if (spec == nullptr || !spec->is_object()) return out;
  if (Find(*spec, "root") == nullptr) {
    if (const json::value* inner = Find(*spec, "pipeline_spec"); inner && inner->is_object())
      spec = inner;  // {pipeline_spec, platform_spec}
  }
  if (const json::object* ps = GetObject(*spec, "root.inputDefinitions.parameters")) {
    for (const auto& [k, v] : *ps) {
      ParamSpec p{std::string(k), Str(v, "parameterType"), ""};
      if (const json::value* d = Find(v, "defaultValue")) {
        p.default_value = d->is_string() ? std::string(d->get_string()) : Serialize(*d);
      }
      out.push_back(std::move(p));
    }
    return out;
  }
  if (const json::value* ps = Find(*spec, "spec.arguments.parameters"); ps && ps->is_array()) {
    for (const json::value& v : ps->get_array()) {
      ParamSpec p{Str(v, "name"), "", ""};
      if (const json::value* d = Find(v, "value")) {
        p.default_value = d->is_string() ? std::string(d->get_string()) : Serialize(*d);
      }
      if (!p.name.empty()) out.push_back(std::move(p));
    }
  }
  return out;
}

// The pipeline NAME|ID: by name in `ns` (when given), by name among shared pipelines, then by
// id.
Result<json::value> FindPipeline(Kfp& kfp, const std::string& ref, const std::string& ns,
                                 bool shared_too = true) {
  if (ref.empty()) return InvalidArgument("a pipeline name or id is required");
  if (ref.find('/') == std::string::npos) {
    std::vector<std::string> scopes;
    if (!ns.empty()) scopes.push_back(ns);
    if (ns.empty() || shared_too) scopes.push_back("");
    for (const std::string& scope : scopes) {
      auto p = kfp.Get(V2("/pipelines/names/") + Seg(ref) + QueryString({{"namespace", scope}}));
      if (p) return p;
      if (p.error().code() != Code::kNotFound) return p.error();
    }
    auto p = kfp.Get(V2("/pipelines/") + Seg(ref));
    if (p) return p;
    if (p.error().code() != Code::kNotFound) return p.error();
  }
  std::string where = ns.empty() ? " among the shared pipelines (a namespaced one needs -n NS)"
                                 : " in namespace " + ns + (shared_too ? " or shared" : "");
  return NotFound("pipeline \"" + ref + "\" not found" + where +
                  " (skiff pipelines list shows them)");
}

Result<std::vector<json::value>> Versions(Kfp& kfp, const std::string& pipeline_id) {
  return kfp.ListAll(V2("/pipelines/") + Seg(pipeline_id) + "/versions",
                     QueryString({{"sort_by", "created_at desc"}}), "pipeline_versions");
}

// The version V (name or id) of a pipeline, or its newest one when V is empty.
Result<json::value> FindVersion(Kfp& kfp, const json::value& pipeline, const std::string& ref) {
  std::string pid = Str(pipeline, "pipeline_id");
  SKIFF_ASSIGN_OR_RETURN(auto versions, Versions(kfp, pid));
  if (versions.empty()) {
    return FailedPrecondition("pipeline " + Str(pipeline, "display_name") +
                              " has no version: upload one with skiff pipelines upload FILE "
                              "--name " +
                              Str(pipeline, "display_name") + " --version V");
  }
  if (ref.empty()) return versions.front();
  for (const json::value& v : versions) {
    if (Str(v, "display_name") == ref || Str(v, "pipeline_version_id") == ref) return v;
  }
  std::string names;
  for (const json::value& v : versions)
    names += (names.empty() ? "" : ", ") + Str(v, "display_name");
  return NotFound("pipeline " + Str(pipeline, "display_name") + " has no version \"" + ref +
                  "\" (it has: " + names + ")");
}

Result<json::value> FindExperiment(Kfp& kfp, const std::string& ref, const std::string& ns) {
  if (!ns.empty()) {
    json::object pred{{"key", "display_name"}, {"operation", "EQUALS"}, {"string_value", ref}};
    std::string filter = Serialize(json::object{{"predicates", json::array{pred}}});
    SKIFF_ASSIGN_OR_RETURN(
        auto found,
        kfp.ListAll(V2("/experiments"), QueryString({{"namespace", ns}, {"filter", filter}}),
                    "experiments"));
    if (!found.empty()) return found.front();
  }
  if (ref.find('/') == std::string::npos) {
    auto e = kfp.Get(V2("/experiments/") + Seg(ref));
    if (e) return e;
    if (e.error().code() != Code::kNotFound) return e.error();
  }
  return NotFound("experiment \"" + ref + "\" not found" +
                  (ns.empty() ? "" : " in namespace " + ns));
}

// KEY=VALUE as the parameter's type wants it (see the header).
Result<json::object> RunParameters(const std::vector<std::string>& given,
                                   const std::vector<ParamSpec>& specs) {
  std::map<std::string, std::string> types;
  for (const ParamSpec& p : specs) types[p.name] = p.type;
  json::object out;
  for (const std::string& kv : given) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      return InvalidArgument("-p \"" + kv + "\": use -p KEY=VALUE");
    }
    std::string key = kv.substr(0, eq);
    std::string value = kv.substr(eq + 1);
    auto it = types.find(key);
    std::string type = it == types.end() ? "" : it->second;
    json::value v(value);
    if (type == "BOOLEAN" && (value == "True" || value == "False")) {
      v = value == "True";  // Python's spelling
    } else if (type != "STRING") {
      auto parsed = ParseJson(value);
      bool scalar = parsed && (parsed->is_number() || parsed->is_bool());
      bool structured = parsed && (parsed->is_array() || parsed->is_object()) &&
                        (type == "LIST" || type == "STRUCT");
      if (scalar || structured) v = std::move(*parsed);
    }
    out[key] = std::move(v);
  }
  return out;
}

Status HintExists(Status s, const std::string& hint) {
  if (s.code() != Code::kAlreadyExists) return s;
  return Status(s.code(), s.message() + " (" + hint + ")", s.reason());
}

std::string JoinParams(const std::vector<ParamSpec>& ps) {
  std::string out;
  for (const ParamSpec& p : ps) {
    if (!out.empty()) out += ", ";
    out += p.name;
    if (!p.type.empty()) out += " (" + p.type + ")";
    if (!p.default_value.empty()) out += " = " + p.default_value;
  }
  return out;
}

// ---- pipelines ----

int PipelinesUpload(const Settings& settings, const PipelinesCliOptions& o) {
  if (Status s = CheckOutput(o.output); !s.ok()) return Fail(s);
  auto text = ReadFile(o.target, 64 << 20);
  if (!text)
    return Fail(InvalidArgument("cannot read " + o.target + ": " + text.error().message()));
  std::string filename = o.target.substr(o.target.find_last_of('/') + 1);
  std::string form_filename = filename;  // inside a quoted header parameter
  for (char& c : form_filename) {
    if (c == '"' || c == '\\' || c == '\r' || c == '\n') c = '_';
  }
  std::string name = o.name;
  if (name.empty()) {
    name = filename;
    for (std::string_view ext : {".yaml", ".yml", ".json"}) {
      if (name.size() > ext.size() && name.ends_with(ext)) name.resize(name.size() - ext.size());
    }
  }
  auto kfp = Kfp::Connect(settings);
  if (!kfp) return Fail(kfp.error());

  std::string boundary;
  do {
    boundary = "skiff-" + HexEncode(RandomBytes(16));
  } while (text->find(boundary) != std::string::npos);
  std::string body = "--" + boundary +
                     "\r\nContent-Disposition: form-data; name=\"uploadfile\"; filename=\"" +
                     form_filename + "\"\r\nContent-Type: application/octet-stream\r\n\r\n" +
                     *text + "\r\n--" + boundary + "--\r\n";
  std::string content_type = "multipart/form-data; boundary=" + boundary;

  json::value pipeline;
  json::value version;
  if (!o.version.empty()) {
    auto existing = FindPipeline(*kfp, name, o.ns, /*shared_too=*/false);
    bool created = false;
    if (existing) {
      pipeline = std::move(*existing);
    } else if (existing.error().code() == Code::kNotFound) {
      json::object p{{"display_name", name}, {"description", o.description}};
      if (!o.ns.empty()) p["namespace"] = o.ns;
      auto made = kfp->Post(V2("/pipelines"), p);
      if (!made) return Fail(made.error());
      pipeline = std::move(*made);
      created = true;
    } else {
      return Fail(existing.error());
    }
    std::string pid = Str(pipeline, "pipeline_id");
    auto v = kfp->Call(
        "POST",
        V2("/pipelines/upload_version") +
            QueryString({{"pipelineid", pid}, {"name", o.version}, {"description", o.description}}),
        body, content_type);
    if (!v) {
      if (created) (void)kfp->Call("DELETE", V2("/pipelines/") + Seg(pid));
      return Fail(v.error());
    }
    version = std::move(*v);
    if (o.output == "json") {
      PrintJson(version);
      return 0;
    }
    std::printf("pipeline %s: version %s uploaded%s\n", name.c_str(), o.version.c_str(),
                created ? " (new pipeline)" : "");
  } else {
    auto p = kfp->Call(
        "POST",
        V2("/pipelines/upload") +
            QueryString({{"name", name}, {"description", o.description}, {"namespace", o.ns}}),
        body, content_type);
    if (!p) {
      return Fail(HintExists(p.error(), "pass --version V to add a version to it, or --name N"));
    }
    pipeline = std::move(*p);
    if (o.output == "json") {
      PrintJson(pipeline);
      return 0;
    }
    auto v = FindVersion(*kfp, pipeline, "");
    if (v) version = std::move(*v);
    std::printf("pipeline %s uploaded\n", Str(pipeline, "display_name").c_str());
  }
  PrintField("  id", Str(pipeline, "pipeline_id"));
  PrintField("  namespace", o.ns.empty() ? "(shared)" : o.ns);
  if (version.is_object()) {
    PrintField("  version",
               Str(version, "display_name") + " (" + Str(version, "pipeline_version_id") + ")");
    PrintField("  parameters", JoinParams(SpecParameters(version)));
  }
  std::printf("run it with: skiff runs create --pipeline %s -n %s%s\n",
              Str(pipeline, "display_name").c_str(), o.ns.empty() ? "NAMESPACE" : o.ns.c_str(),
              o.version.empty() ? "" : (" --version " + o.version).c_str());
  return 0;
}

int PipelinesList(const Settings& settings, const PipelinesCliOptions& o) {
  if (Status s = CheckOutput(o.output); !s.ok()) return Fail(s);
  auto kfp = Kfp::Connect(settings);
  if (!kfp) return Fail(kfp.error());
  auto items =
      kfp->ListAll(V2("/pipelines"),
                   QueryString({{"namespace", o.ns}, {"sort_by", "created_at desc"}}), "pipelines");
  if (!items) return Fail(items.error());
  if (o.output == "json") {
    PrintJson(ListJson("pipelines", std::move(*items)));
    return 0;
  }
  if (items->empty()) {
    std::printf("No pipelines%s.\n",
                o.ns.empty() ? " shared (namespaced ones: -n NS)" : (" in " + o.ns).c_str());
    return 0;
  }
  std::vector<std::vector<std::string>> rows{{"NAME", "ID", "VERSIONS", "CREATED"}};
  for (const json::value& p : *items) {
    std::string count = "?";
    auto v = kfp->Get(V2("/pipelines/") + Seg(Str(p, "pipeline_id")) + "/versions?page_size=1");
    if (v) {
      const json::value* t = Find(*v, "total_size");
      count = t && t->is_int64() ? std::to_string(t->get_int64()) : "0";
    }
    rows.push_back(
        {Str(p, "display_name"), Str(p, "pipeline_id"), count, When(Time(p, "created_at"))});
  }
  PrintColumns(rows);
  return 0;
}

int PipelinesGet(const Settings& settings, const PipelinesCliOptions& o) {
  if (Status s = CheckOutput(o.output); !s.ok()) return Fail(s);
  auto kfp = Kfp::Connect(settings);
  if (!kfp) return Fail(kfp.error());
  auto p = FindPipeline(*kfp, o.target, o.ns);
  if (!p) return Fail(p.error());
  if (o.output == "json") {
    PrintJson(*p);
    return 0;
  }
  auto versions = Versions(*kfp, Str(*p, "pipeline_id"));
  if (!versions) return Fail(versions.error());
  PrintField("Name", Str(*p, "display_name"));
  PrintField("ID", Str(*p, "pipeline_id"));
  PrintField("Namespace", Str(*p, "namespace").empty() ? "(shared)" : Str(*p, "namespace"));
  PrintField("Description", Str(*p, "description"));
  PrintField("Created", When(Time(*p, "created_at")));
  if (!versions->empty()) {
    PrintField("Parameters", JoinParams(SpecParameters(versions->front())));
    std::printf("Versions (newest first):\n");
    std::vector<std::vector<std::string>> rows{{"  NAME", "ID", "CREATED"}};
    for (const json::value& v : *versions) {
      rows.push_back({"  " + Str(v, "display_name"), Str(v, "pipeline_version_id"),
                      When(Time(v, "created_at"))});
    }
    PrintColumns(rows);
  } else {
    std::printf("Versions:    none\n");
  }
  return 0;
}

int PipelinesDelete(const Settings& settings, const PipelinesCliOptions& o) {
  auto kfp = Kfp::Connect(settings);
  if (!kfp) return Fail(kfp.error());
  auto p = FindPipeline(*kfp, o.target, o.ns);
  if (!p) return Fail(p.error());
  std::string id = Str(*p, "pipeline_id");
  auto r = kfp->Call("DELETE", V2("/pipelines/") + Seg(id) + "?cascade=true");
  if (!r) return Fail(r.error());
  std::printf("pipeline %s (%s) deleted with its versions\n", Str(*p, "display_name").c_str(),
              id.c_str());
  return 0;
}

// ---- experiments ----

Status NeedNamespace(const PipelinesCliOptions& o, const char* what) {
  if (!o.ns.empty()) return Status::Ok();
  return InvalidArgument(std::string(what) + " needs -n NAMESPACE");
}

int ExperimentsList(const Settings& settings, const PipelinesCliOptions& o) {
  if (Status s = CheckOutput(o.output); !s.ok()) return Fail(s);
  if (Status s = NeedNamespace(o, "experiments list"); !s.ok()) return Fail(s);
  auto kfp = Kfp::Connect(settings);
  if (!kfp) return Fail(kfp.error());
  auto items = kfp->ListAll(V2("/experiments"),
                            QueryString({{"namespace", o.ns}, {"sort_by", "created_at desc"}}),
                            "experiments");
  if (!items) return Fail(items.error());
  if (o.output == "json") {
    PrintJson(ListJson("experiments", std::move(*items)));
    return 0;
  }
  if (items->empty()) {
    std::printf("No experiments in %s.\n", o.ns.c_str());
    return 0;
  }
  std::vector<std::vector<std::string>> rows{{"NAME", "ID", "STATE", "CREATED", "LAST RUN"}};
  for (const json::value& e : *items) {
    rows.push_back({Str(e, "display_name"), Str(e, "experiment_id"), Str(e, "storage_state"),
                    When(Time(e, "created_at")), When(Time(e, "last_run_created_at"))});
  }
  PrintColumns(rows);
  return 0;
}

int ExperimentsCreate(const Settings& settings, const PipelinesCliOptions& o) {
  if (Status s = CheckOutput(o.output); !s.ok()) return Fail(s);
  if (Status s = NeedNamespace(o, "experiments create"); !s.ok()) return Fail(s);
  auto kfp = Kfp::Connect(settings);
  if (!kfp) return Fail(kfp.error());
  auto e = kfp->Post(V2("/experiments"), json::object{{"display_name", o.target},
                                                      {"description", o.description},
                                                      {"namespace", o.ns}});
  if (!e) return Fail(e.error());
  if (o.output == "json") {
    PrintJson(*e);
    return 0;
  }
  std::printf("experiment %s created in %s: %s\n", Str(*e, "display_name").c_str(), o.ns.c_str(),
              Str(*e, "experiment_id").c_str());
  return 0;
}

// ---- runs ----

Result<json::value> GetRun(Kfp& kfp, const std::string& id) {
  if (id.empty()) return InvalidArgument("a run id is required");
  auto r = kfp.Get(V2("/runs/") + Seg(id));
  if (!r && r.error().code() == Code::kNotFound) {
    return Status(Code::kNotFound,
                  r.error().message() + " (skiff runs list -n NAMESPACE shows the runs' ids)",
                  r.error().reason());
  }
  return r;
}

// RUN as the user typed it: an id, or with -n the name of a run in that namespace (the newest
// run of that name).
Result<std::string> RunId(Kfp& kfp, const std::string& ref, const std::string& ns) {
  if (ns.empty() || ref.empty()) return ref;
  auto r = kfp.Get(V2("/runs/") + Seg(ref));
  if (r) return ref;
  if (r.error().code() != Code::kNotFound) return r.error();
  json::object pred{{"key", "display_name"}, {"operation", "EQUALS"}, {"string_value", ref}};
  std::string filter = Serialize(json::object{{"predicates", json::array{pred}}});
  SKIFF_ASSIGN_OR_RETURN(json::value page,
                         kfp.Get(V2("/runs") + QueryString({{"namespace", ns},
                                                            {"filter", filter},
                                                            {"sort_by", "created_at desc"},
                                                            {"page_size", "1"}})));
  if (const json::value* runs = Find(page, "runs"); runs && runs->is_array()) {
    if (!runs->get_array().empty()) return Str(runs->get_array()[0], "run_id");
  }
  return NotFound("no run has the id or name \"" + ref + "\" in namespace " + ns +
                  " (skiff runs list -n " + ns + " shows them)");
}

// Polls the run until it reaches a final state or `timeout` (0: none) passes.
Result<json::value> WaitRun(Kfp& kfp, const std::string& id, milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    SKIFF_ASSIGN_OR_RETURN(json::value r, GetRun(kfp, id));
    if (TerminalRunState(Str(r, "state"))) return r;
    if (timeout.count() > 0 && std::chrono::steady_clock::now() >= deadline) {
      return DeadlineExceeded("run " + id + " is still " + Str(r, "state") + " after " +
                              FormatDuration(timeout));
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

std::string RunDisplayName(const std::string& pipeline) {
  std::time_t t = SysClock::to_time_t(SysClock::now());
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H-%M-%S", &tm);
  return pipeline + " " + buf;
}

int RunsCreate(const Settings& settings, const PipelinesCliOptions& o) {
  if (Status s = CheckOutput(o.output); !s.ok()) return Fail(s);
  if (Status s = NeedNamespace(o, "runs create"); !s.ok()) return Fail(s);
  if (o.pipeline.empty()) return Fail(InvalidArgument("runs create needs --pipeline NAME|ID"));
  auto timeout = ParseTimeout(o.timeout);
  if (!timeout) return Fail(timeout.error());
  auto kfp = Kfp::Connect(settings);
  if (!kfp) return Fail(kfp.error());
  auto pipeline = FindPipeline(*kfp, o.pipeline, o.ns);
  if (!pipeline) return Fail(pipeline.error());
  auto version = FindVersion(*kfp, *pipeline, o.version);
  if (!version) return Fail(version.error());
  auto params = RunParameters(o.params, SpecParameters(*version));
  if (!params) return Fail(params.error());

  std::string experiment_id, experiment_name;
  if (!o.experiment.empty()) {
    auto e = FindExperiment(*kfp, o.experiment, o.ns);
    if (!e && e.error().code() == Code::kNotFound) {
      e = kfp->Post(V2("/experiments"),
                    json::object{{"display_name", o.experiment}, {"namespace", o.ns}});
      if (e)
        std::fprintf(stderr, "experiment %s created in %s\n", o.experiment.c_str(), o.ns.c_str());
    }
    if (!e) return Fail(e.error());
    experiment_id = Str(*e, "experiment_id");
    experiment_name = Str(*e, "display_name");
  }

  json::object body{
      {"display_name", o.name.empty() ? RunDisplayName(Str(*pipeline, "display_name")) : o.name},
      {"pipeline_version_reference",
       json::object{{"pipeline_id", Str(*pipeline, "pipeline_id")},
                    {"pipeline_version_id", Str(*version, "pipeline_version_id")}}},
      {"runtime_config", json::object{{"parameters", std::move(*params)}}}};
  if (!experiment_id.empty()) body["experiment_id"] = experiment_id;
  auto run = kfp->Post(V2("/runs") + QueryString({{"namespace", o.ns}}), body);
  if (!run) return Fail(run.error());
  std::string id = Str(*run, "run_id");
  if (o.output != "json") {
    if (experiment_name.empty()) {
      auto e = kfp->Get(V2("/experiments/") + Seg(Str(*run, "experiment_id")));
      if (e) experiment_name = Str(*e, "display_name");
    }
    std::printf("run %s created: %s\n", Str(*run, "display_name").c_str(), id.c_str());
    std::printf("  pipeline %s, version %s, namespace %s, experiment %s\n",
                Str(*pipeline, "display_name").c_str(), Str(*version, "display_name").c_str(),
                o.ns.c_str(), experiment_name.c_str());
    if (!o.wait) {
      std::printf("follow it with: skiff runs get %s   (logs: skiff runs logs %s -f)\n", id.c_str(),
                  id.c_str());
    }
    std::fflush(stdout);
  }
  if (!o.wait) {
    if (o.output == "json") PrintJson(*run);
    return 0;
  }
  auto done = WaitRun(*kfp, id, *timeout);
  if (!done) return Fail(done.error());
  std::string state = Str(*done, "state");
  if (o.output == "json") {
    PrintJson(*done);
  } else {
    std::printf("run %s %s after %s\n", id.c_str(), state.c_str(),
                Duration(Time(*done, "created_at"), Time(*done, "finished_at")).c_str());
    if (std::string err = Str(*done, "error.message"); !err.empty())
      std::printf("  error: %s\n", err.c_str());
  }
  return state == "SUCCEEDED" ? 0 : 1;
}

int RunsList(const Settings& settings, const PipelinesCliOptions& o) {
  if (Status s = CheckOutput(o.output); !s.ok()) return Fail(s);
  if (Status s = NeedNamespace(o, "runs list"); !s.ok()) return Fail(s);
  auto kfp = Kfp::Connect(settings);
  if (!kfp) return Fail(kfp.error());
  std::string experiment_id;
  if (!o.experiment.empty()) {
    auto e = FindExperiment(*kfp, o.experiment, o.ns);
    if (!e) return Fail(e.error());
    experiment_id = Str(*e, "experiment_id");
  }
  auto items = kfp->ListAll(
      V2("/runs"),
      QueryString(
          {{"namespace", o.ns}, {"experiment_id", experiment_id}, {"sort_by", "created_at desc"}}),
      "runs");
  if (!items) return Fail(items.error());
  if (o.output == "json") {
    PrintJson(ListJson("runs", std::move(*items)));
    return 0;
  }
  if (items->empty()) {
    std::printf("No runs in %s%s.\n", o.ns.c_str(),
                o.experiment.empty() ? "" : (" experiment " + o.experiment).c_str());
    return 0;
  }
  std::vector<std::vector<std::string>> rows{{"NAME", "ID", "STATE", "DURATION", "AGE"}};
  for (const json::value& r : *items) {
    std::string state = Str(r, "state");
    if (Str(r, "storage_state") == "ARCHIVED") state += " (archived)";
    auto created = Time(r, "created_at");
    rows.push_back({Str(r, "display_name"), Str(r, "run_id"), state,
                    Duration(created, Time(r, "finished_at")), Age(created)});
  }
  PrintColumns(rows);
  return 0;
}

// The run's tasks (run_details.task_details).
std::vector<json::value> Tasks(const json::value& run) {
  std::vector<json::value> out;
  if (const json::value* t = Find(run, "run_details.task_details"); t && t->is_array()) {
    for (const json::value& e : t->get_array()) out.push_back(e);
  }
  return out;
}

// Start order. KFP's timestamps have whole seconds, so tasks that started in the same second are
// ordered by their depth in the run's graph (a task after the tasks it hangs under: parent_task_id
// and child_tasks), then by name.
class StartOrder {
 public:
  explicit StartOrder(const std::vector<json::value>& tasks) {
    std::map<std::string, std::vector<std::string>> kids;
    for (const json::value& t : tasks) {
      std::string id = Str(t, "task_id");
      depth_[id];
      if (const json::value* c = Find(t, "child_tasks"); c && c->is_array()) {
        for (const json::value& k : c->get_array()) kids[id].push_back(Str(k, "task_id"));
      }
      if (std::string parent = Str(t, "parent_task_id"); !parent.empty())
        kids[parent].push_back(id);
    }
    // Longest path from a root; at most one round per task (a cycle cannot loop forever).
    for (size_t round = 0; round < tasks.size(); ++round) {
      bool changed = false;
      for (const auto& [id, ks] : kids) {
        auto it = depth_.find(id);
        int d = it == depth_.end() ? 0 : it->second;
        for (const std::string& k : ks) {
          auto kt = depth_.find(k);
          if (kt != depth_.end() && kt->second < d + 1) {
            kt->second = d + 1;
            changed = true;
          }
        }
      }
      if (!changed) break;
    }
  }

  bool operator()(const json::value& a, const json::value& b) const { return Key(a) < Key(b); }
  bool operator()(const json::value* a, const json::value* b) const { return Key(*a) < Key(*b); }

 private:
  std::tuple<SysClock::time_point, int, SysClock::time_point, std::string, std::string> Key(
      const json::value& t) const {
    std::string id = Str(t, "task_id");
    auto it = depth_.find(id);
    return {Time(t, "start_time").value_or(SysClock::time_point::max()),
            it == depth_.end() ? 0 : it->second,
            Time(t, "create_time").value_or(SysClock::time_point::max()), Str(t, "display_name"),
            id};
  }

  std::map<std::string, int> depth_;
};

void PrintTaskTree(const std::vector<json::value>& tasks) {
  StartOrder order(tasks);
  std::set<std::string> ids;
  for (const json::value& t : tasks) ids.insert(Str(t, "task_id"));
  std::map<std::string, std::vector<const json::value*>> children;  // parent ("" = root) -> kids
  for (const json::value& t : tasks) {
    std::string parent = Str(t, "parent_task_id");
    if (!ids.contains(parent)) parent.clear();
    children[parent].push_back(&t);
  }
  for (auto& [_, kids] : children) {
    std::sort(kids.begin(), kids.end(), order);
  }
  std::vector<std::vector<std::string>> rows{{"TASK", "STATE", "DURATION", "MESSAGE"}};
  std::set<std::string> seen;
  std::function<void(const std::string&, int)> walk = [&](const std::string& parent, int depth) {
    auto it = children.find(parent);
    if (it == children.end()) return;
    for (const json::value* t : it->second) {
      std::string id = Str(*t, "task_id");
      if (!seen.insert(id).second) continue;
      std::string msg = Str(*t, "error.message");
      if (size_t nl = msg.find('\n'); nl != std::string::npos) msg = msg.substr(0, nl) + " ...";
      std::string name = Str(*t, "display_name");
      if (name.empty()) name = id;
      rows.push_back({std::string(2 * depth, ' ') + name, Str(*t, "state"),
                      Duration(Time(*t, "start_time"), Time(*t, "end_time")), msg});
      walk(id, depth + 1);
    }
  };
  walk("", 0);
  PrintColumns(rows);
}

int RunsGet(const Settings& settings, const PipelinesCliOptions& o) {
  if (Status s = CheckOutput(o.output); !s.ok()) return Fail(s);
  auto kfp = Kfp::Connect(settings);
  if (!kfp) return Fail(kfp.error());
  auto id = RunId(*kfp, o.target, o.ns);
  if (!id) return Fail(id.error());
  auto run = GetRun(*kfp, *id);
  if (!run) return Fail(run.error());
  if (o.output == "json") {
    PrintJson(*run);
    return 0;
  }
  const json::value& r = *run;
  std::string experiment = Str(r, "experiment_id");
  if (auto e = kfp->Get(V2("/experiments/") + Seg(experiment)))
    experiment = Str(*e, "display_name") + " (" + experiment + ")";
  std::string pipeline;
  if (std::string pid = Str(r, "pipeline_version_reference.pipeline_id"); !pid.empty()) {
    pipeline = pid;
    if (auto p = kfp->Get(V2("/pipelines/") + Seg(pid))) pipeline = Str(*p, "display_name");
    std::string vid = Str(r, "pipeline_version_reference.pipeline_version_id");
    if (auto v = kfp->Get(V2("/pipelines/") + Seg(pid) + "/versions/" + Seg(vid)))
      pipeline += ", version " + Str(*v, "display_name");
  }
  std::string params;
  if (const json::object* ps = GetObject(r, "runtime_config.parameters")) {
    for (const auto& [k, v] : *ps) {
      if (!params.empty()) params += ", ";
      params += std::string(k) + "=" + (v.is_string() ? std::string(v.get_string()) : Serialize(v));
    }
  }
  auto created = Time(r, "created_at");
  auto finished = Time(r, "finished_at");
  std::string state = Str(r, "state");
  if (Str(r, "storage_state") == "ARCHIVED") state += " (archived)";
  PrintField("Name", Str(r, "display_name"));
  PrintField("ID", Str(r, "run_id"));
  PrintField("Experiment", experiment);
  PrintField("Pipeline", pipeline);
  PrintField("Parameters", params);
  PrintField("State", state);
  PrintField("Created", When(created));
  PrintField("Finished", When(finished));
  PrintField("Duration", Duration(created, finished));
  PrintField("Error", Str(r, "error.message"));
  auto tasks = Tasks(r);
  if (!tasks.empty()) {
    std::printf("\n");
    PrintTaskTree(tasks);
  }
  return 0;
}

int RunsAction(const Settings& settings, const PipelinesCliOptions& o, const std::string& verb,
               const char* done) {
  auto kfp = Kfp::Connect(settings);
  if (!kfp) return Fail(kfp.error());
  auto id = RunId(*kfp, o.target, o.ns);
  if (!id) return Fail(id.error());
  auto r = kfp->Call("POST", V2("/runs/") + Seg(*id) + ":" + verb);
  if (!r) return Fail(r.error());
  auto run = kfp->Get(V2("/runs/") + Seg(*id));
  if (run) {
    std::printf("run %s %s (state %s)\n", id->c_str(), done, Str(*run, "state").c_str());
  } else {
    std::printf("run %s %s\n", id->c_str(), done);
  }
  return 0;
}

// ---- logs ----

struct LogStream {
  std::string node;
  std::string prefix;  // "" for one task's raw log
  size_t printed = 0;
  std::string pending;  // a line without its newline yet (prefixed output)
  bool done = false;    // the task had finished when its log was last read: nothing more comes
};

bool IsPodTask(const json::value& t) { return !Str(t, "pod_name").empty(); }

// Prints `fresh`, the log's bytes from s.printed on (the log only grows: retries append).
void Emit(LogStream& s, const std::string& fresh, bool final) {
  s.printed += fresh.size();
  if (s.prefix.empty()) {
    std::fwrite(fresh.data(), 1, fresh.size(), stdout);
  } else {
    s.pending += fresh;
    size_t start = 0;
    for (size_t nl; (nl = s.pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      std::printf("%s | %.*s\n", s.prefix.c_str(), static_cast<int>(nl - start),
                  s.pending.data() + start);
    }
    s.pending.erase(0, start);
    if (final && !s.pending.empty()) {
      std::printf("%s | %s\n", s.prefix.c_str(), s.pending.c_str());
      s.pending.clear();
    }
  }
  std::fflush(stdout);
}

// The task's log from byte `offset` on (what a follower has not printed yet).
Result<std::string> TaskLog(Kfp& kfp, const std::string& run_id, const std::string& node,
                            size_t offset) {
  return kfp.Text(
      "/pipeline/k8s/pod/logs" +
      QueryString({{"podname", node}, {"runid", run_id}, {"offset", std::to_string(offset)}}));
}

// The container task TASK (display name or node id) of a run; nullptr when not (yet) there.
Result<const json::value*> FindTask(const std::vector<json::value>& tasks, const std::string& ref) {
  std::vector<const json::value*> by_name;
  for (const json::value& t : tasks) {
    if (Str(t, "task_id") == ref || Str(t, "pod_name") == ref) {
      if (!IsPodTask(t)) {
        return InvalidArgument("task " + ref + " is a " + "DAG, not a container: it has no log");
      }
      return &t;
    }
    if (Str(t, "display_name") == ref && IsPodTask(t)) by_name.push_back(&t);
  }
  if (by_name.size() > 1) {
    std::string ids;
    for (const json::value* t : by_name) ids += (ids.empty() ? "" : ", ") + Str(*t, "task_id");
    return InvalidArgument("more than one task is named " + ref + ": name one by its id (" + ids +
                           ")");
  }
  return by_name.empty() ? nullptr : by_name.front();
}

std::string TaskNames(const std::vector<json::value>& tasks) {
  std::string out;
  for (const json::value& t : tasks) {
    if (IsPodTask(t)) out += (out.empty() ? "" : ", ") + Str(t, "display_name");
  }
  return out.empty() ? "none yet" : out;
}

// Prefixes for every container task: its display name, with the node id when names repeat.
std::map<std::string, std::string> Prefixes(const std::vector<json::value>& tasks) {
  std::map<std::string, int> count;
  for (const json::value& t : tasks) {
    if (IsPodTask(t)) count[Str(t, "display_name")]++;
  }
  std::map<std::string, std::string> out;
  for (const json::value& t : tasks) {
    if (!IsPodTask(t)) continue;
    std::string name = Str(t, "display_name");
    out[Str(t, "task_id")] = count[name] > 1 ? name + "(" + Str(t, "task_id") + ")" : name;
  }
  return out;
}

int RunsLogs(const Settings& settings, const PipelinesCliOptions& o) {
  auto timeout = ParseTimeout(o.timeout);
  if (!timeout) return Fail(timeout.error());
  auto kfp = Kfp::Connect(settings);
  if (!kfp) return Fail(kfp.error());
  auto id = RunId(*kfp, o.target, o.ns);
  if (!id) return Fail(id.error());
  const std::string& run_id = *id;
  auto deadline = std::chrono::steady_clock::now() + *timeout;
  std::map<std::string, LogStream> streams;  // by node id

  for (;;) {
    // The run first: when it says a task finished, the log read after it is complete.
    auto run = GetRun(*kfp, run_id);
    if (!run) return Fail(run.error());
    std::string run_state = Str(*run, "state");
    auto tasks = Tasks(*run);
    std::sort(tasks.begin(), tasks.end(), StartOrder(tasks));

    std::vector<const json::value*> targets;
    const json::value* task = nullptr;
    if (!o.task.empty()) {
      auto t = FindTask(tasks, o.task);
      if (!t) return Fail(t.error());
      task = *t;
      if (task == nullptr && (!o.follow || TerminalRunState(run_state))) {
        return Fail(NotFound("run " + run_id + " has no task " + o.task +
                             " (its container tasks: " + TaskNames(tasks) + ")"));
      }
      if (task != nullptr) targets.push_back(task);
    } else {
      auto prefixes = Prefixes(tasks);
      for (const json::value& t : tasks) {
        if (!IsPodTask(t) || !Time(t, "start_time")) continue;
        targets.push_back(&t);
        std::string id = Str(t, "task_id");
        if (!streams.contains(id)) streams[id] = LogStream{id, prefixes[id], 0, "", false};
      }
    }
    bool finished =
        task != nullptr ? TerminalTaskState(Str(*task, "state")) : TerminalRunState(run_state);
    bool last = !o.follow || finished;
    for (const json::value* t : targets) {
      std::string id = Str(*t, "task_id");
      LogStream& s = streams.try_emplace(id, LogStream{id, "", 0, "", false}).first->second;
      if (s.done) continue;
      bool task_done = TerminalTaskState(Str(*t, "state"));
      auto text = TaskLog(*kfp, run_id, id, s.printed);
      if (!text) return Fail(text.error());
      Emit(s, *text, last || task_done);
      s.done = task_done;
    }
    if (!o.follow) return 0;
    if (finished) {
      std::string state = task != nullptr ? Str(*task, "state") : run_state;
      bool ok = state == "SUCCEEDED" || state == "CACHED";
      if (!ok) {
        std::fprintf(stderr, "%s %s %s\n", task != nullptr ? "task" : "run",
                     task != nullptr ? o.task.c_str() : run_id.c_str(), state.c_str());
      }
      return ok ? 0 : 1;
    }
    if (timeout->count() > 0 && std::chrono::steady_clock::now() >= deadline) {
      return Fail(DeadlineExceeded("still " + run_state + " after " + FormatDuration(*timeout) +
                                   " (--timeout)"));
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

}  // namespace

PipelinesCommands::PipelinesCommands(CLI::App& app) {
  static constexpr char kRunNamespaceHelp[] =
      "find RUN by name in namespace NS (the newest run of that name)";
  PipelinesCliOptions& o = o_;
  auto output = [&o](CLI::App* c) {
    c->add_option("-o,--output", o.output, "json: the API's JSON (default: text)");
  };
  auto ns = [&o](CLI::App* c, const std::string& help) {
    c->add_option("-n,--namespace", o.ns, help);
  };

  pipelines_ = app.add_subcommand(
      "pipelines",
      "Kubeflow Pipelines: upload, list, show and delete pipelines (KFP v1 Argo YAML or v2 IR "
      "YAML): skiff pipelines upload hello.yaml");
  pipelines_->require_subcommand(1);
  auto* up = pipelines_->add_subcommand(
      "upload", "upload a compiled pipeline (a new pipeline, or with --version a new version)");
  up->add_option("file", o.target, "the pipeline file (.yaml or .json)")->required();
  up->add_option("--name", o.name, "the pipeline's name (default: the file name without .yaml)");
  up->add_option("--description", o.description, "a description");
  up->add_option("--version", o.version,
                 "upload as a new version with this name of the pipeline --name (created when "
                 "missing)");
  ns(up, "a namespaced pipeline in NS (default: shared, visible to everyone)");
  output(up);
  auto* list = pipelines_->add_subcommand("list", "list pipelines");
  ns(list, "namespaced pipelines of NS (default: the shared ones)");
  output(list);
  auto* get = pipelines_->add_subcommand("get", "show a pipeline, its parameters and versions");
  get->add_option("pipeline", o.target, "NAME or ID")->required();
  ns(get, "look in namespace NS first (then the shared pipelines)");
  output(get);
  auto* del = pipelines_->add_subcommand("delete", "delete a pipeline and all its versions");
  del->add_option("pipeline", o.target, "NAME or ID")->required();
  ns(del, "look in namespace NS first (then the shared pipelines)");

  experiments_ =
      app.add_subcommand("experiments", "KFP experiments (groups of runs): list, create");
  experiments_->require_subcommand(1);
  auto* elist = experiments_->add_subcommand("list", "list the experiments of a namespace");
  ns(elist, "the namespace (required)");
  output(elist);
  auto* ecreate = experiments_->add_subcommand("create", "create an experiment");
  ecreate->add_option("name", o.target, "the experiment's name")->required();
  ecreate->add_option("--description", o.description, "a description");
  ns(ecreate, "the namespace (required)");
  output(ecreate);

  runs_ = app.add_subcommand(
      "runs",
      "KFP runs: skiff runs create --pipeline hello -p who=world -n team-a, then runs get/list/"
      "logs -f/terminate/retry/archive");
  runs_->require_subcommand(1);
  auto* rcreate = runs_->add_subcommand("create", "start a run of a pipeline");
  rcreate->add_option("--pipeline", o.pipeline, "the pipeline: NAME or ID")->required();
  rcreate->add_option("--version", o.version, "the version: NAME or ID (default: the newest)");
  rcreate->add_option("-p,--param", o.params, "a parameter: KEY=VALUE (repeatable)")
      ->allow_extra_args(false);
  rcreate->add_option("--experiment", o.experiment,
                      "the experiment: NAME (created when missing) or ID (default: Default)");
  rcreate->add_option("--name", o.name, "the run's name (default: PIPELINE DATE TIME)");
  rcreate->add_flag("--wait", o.wait, "wait for the run to finish; exit 1 unless it succeeded");
  rcreate->add_option("--timeout", o.timeout, "with --wait: how long at most (24h; 0 = no limit)");
  ns(rcreate, "the run's namespace (required)");
  output(rcreate);
  auto* rlist = runs_->add_subcommand("list", "list runs, newest first");
  ns(rlist, "the namespace (required)");
  rlist->add_option("--experiment", o.experiment, "only this experiment's runs: NAME or ID");
  output(rlist);
  auto* rget = runs_->add_subcommand("get", "show a run: state, timings and its tasks");
  rget->add_option("run", o.target, "the run's ID (or NAME with -n)")->required();
  ns(rget, kRunNamespaceHelp);
  output(rget);
  for (const char* verb : {"terminate", "retry", "archive"}) {
    std::string help = std::string(verb) + " a run";
    if (std::string_view(verb) == "retry") help = "retry a failed or canceled run's failed tasks";
    auto* c = runs_->add_subcommand(verb, help);
    c->add_option("run", o.target, "the run's ID (or NAME with -n)")->required();
    ns(c, kRunNamespaceHelp);
  }
  auto* logs = runs_->add_subcommand(
      "logs", "print a task's log, or every task's (prefixed with its name) without TASK");
  logs->add_option("run", o.target, "the run's ID (or NAME with -n)")->required();
  ns(logs, kRunNamespaceHelp);
  logs->add_option("task", o.task, "the task: its name or node id (default: every task)");
  logs->add_flag("-f,--follow", o.follow,
                 "follow until the task (or the run) finishes; exit 1 unless it succeeded");
  logs->add_option("--timeout", o.timeout, "with -f: how long at most (24h; 0 = no limit)");
}

std::optional<int> PipelinesCommands::Run(const Settings& settings) const {
  auto chosen = [](CLI::App* group) -> std::string {
    if (group == nullptr || !group->parsed()) return {};
    for (CLI::App* c : group->get_subcommands()) return c->get_name();
    return {};
  };
  if (std::string c = chosen(pipelines_); !c.empty()) {
    if (c == "upload") return PipelinesUpload(settings, o_);
    if (c == "list") return PipelinesList(settings, o_);
    if (c == "get") return PipelinesGet(settings, o_);
    if (c == "delete") return PipelinesDelete(settings, o_);
  }
  if (std::string c = chosen(experiments_); !c.empty()) {
    if (c == "list") return ExperimentsList(settings, o_);
    if (c == "create") return ExperimentsCreate(settings, o_);
  }
  if (std::string c = chosen(runs_); !c.empty()) {
    if (c == "create") return RunsCreate(settings, o_);
    if (c == "list") return RunsList(settings, o_);
    if (c == "get") return RunsGet(settings, o_);
    if (c == "terminate") return RunsAction(settings, o_, "terminate", "is being terminated");
    if (c == "retry") return RunsAction(settings, o_, "retry", "is being retried");
    if (c == "archive") return RunsAction(settings, o_, "archive", "archived");
    if (c == "logs") return RunsLogs(settings, o_);
  }
  return std::nullopt;
}

}  // namespace skiff::cli
