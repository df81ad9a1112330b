#include "serving/inference_service.hpp"

#include <algorithm>

#include "api/conditions.hpp"
#include "core/crypto.hpp"

namespace skiff::serving {

namespace {

using api::FieldError;
using api::FieldErrors;
using Type = FieldError::Type;

// Predictor framework blocks KServe v1beta1 and KFServing v1alpha2 know.
constexpr std::string_view kFrameworks[] = {"sklearn", "xgboost",    "tensorflow", "pytorch",
                                            "onnx",    "triton",     "lightgbm",   "pmml",
                                            "paddle",  "huggingface"};

json::value Schema(std::string_view text) {
  auto v = ParseJson(text);
  SKIFF_CHECK(v.has_value());
  return std::move(*v);
}

// Spec and status keep every field users and KServe tools write (kubectl apply round-trips).
constexpr std::string_view kSchema = R"({
  "type": "object",
  "description": "InferenceService serves a machine learning model over the KServe V1/V2 protocols.",
  "properties": {
    "apiVersion": {"type": "string"}, "kind": {"type": "string"},
    "metadata": {"type": "object"},
    "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
  }
})";

json::value TrafficField(const json::object& obj, bool latest, std::string_view field) {
  const json::value* traffic = Find(obj, "status.components.predictor.traffic");
  if (traffic == nullptr || !traffic->is_array()) return nullptr;
  for (const auto& t : traffic->get_array()) {
    const json::value* l = Find(t, "latestRevision");
    bool is_latest = l != nullptr && l->is_bool() && l->get_bool();
    bool is_prev = GetString(t, "tag") == "prev";
    if ((latest && is_latest) || (!latest && is_prev)) {
      const json::value* v = Find(t, field);
      return v ? *v : json::value(nullptr);
    }
  }
  return nullptr;
}

api::KindInfo KServeKind() {
  api::KindInfo k;
  k.group = std::string(kKServeGroup);
  k.version = "v1beta1";
  k.kind = "InferenceService";
  k.plural = "inferenceservices";
  k.singular = "inferenceservice";
  k.short_names = {"isvc"};
  k.categories = {"all"};
  k.status_subresource = true;
  k.name_is_label = true;
  k.schema = Schema(kSchema);
  k.columns = {
      {"URL", "string", ".status.url", "The URL of the service", 0, "", nullptr},
      api::ConditionColumn("Ready", "Ready", "Whether the service answers requests"),
      {"Prev", "integer", "", "Traffic percent of the previous rolled-out revision", 0, "",
       [](const json::object& o) { return TrafficField(o, false, "percent"); }},
      {"Latest", "integer", "", "Traffic percent of the latest ready revision", 0, "",
       [](const json::object& o) { return TrafficField(o, true, "percent"); }},
      {"PrevRolledoutRevision", "string", "", "The previous rolled-out revision", 1, "",
       [](const json::object& o) { return TrafficField(o, false, "revisionName"); }},
      {"LatestReadyRevision", "string", ".status.components.predictor.latestReadyRevision",
       "The latest ready revision", 1, "", nullptr},
  };
  k.validate = [](const json::object& obj) { return ReadSpec(kKServeGroup, obj).errors; };
  return k;
}

api::KindInfo KfservingKind() {
  api::KindInfo k;
  k.group = std::string(kKfservingGroup);
  k.version = "v1alpha2";
  k.kind = "InferenceService";
  k.plural = "inferenceservices";
  k.singular = "inferenceservice";
  k.short_names = {"inferenceservice"};
  k.status_subresource = true;
  k.name_is_label = true;
  k.schema = Schema(kSchema);
  k.columns = {
      {"URL", "string", ".status.url", "The URL of the service", 0, "", nullptr},
      api::ConditionColumn("Ready", "Ready", "Whether the service answers requests"),
      {"Default Traffic", "integer", ".status.traffic", "Percent to the default predictor", 0, "",
       nullptr},
      {"Canary Traffic", "integer", ".status.canaryTraffic", "Percent to the canary predictor", 0,
       "", nullptr},
  };
  k.validate = [](const json::object& obj) { return ReadSpec(kKfservingGroup, obj).errors; };
  return k;
}

bool IsFramework(std::string_view key) {
  return std::find(std::begin(kFrameworks), std::end(kFrameworks), key) != std::end(kFrameworks);
}

std::optional<int64_t> IntField(const json::object& o, std::string_view key,
                                const std::string& path, FieldErrors& errs, int64_t min,
                                int64_t max) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return std::nullopt;
  int64_t n;
  if (v->is_int64()) {
    n = v->get_int64();
  } else if (v->is_uint64() && v->get_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
    n = static_cast<int64_t>(v->get_uint64());
  } else {
    errs.push_back({Type::kInvalid, path + "." + std::string(key), "must be an integer", *v});
    return std::nullopt;
  }
  if (n < min || n > max) {
    errs.push_back({Type::kInvalid, path + "." + std::string(key),
                    "must be between " + std::to_string(min) + " and " + std::to_string(max), *v});
    return std::nullopt;
  }
  return n;
}

// Reads one predictor block (v1beta1 spec.predictor, v1alpha2 spec.default.predictor).
std::optional<PredictorTemplate> ReadPredictor(const json::object& p, const std::string& path,
                                               FieldErrors& errs) {
  PredictorTemplate t;
  std::vector<std::string> found;
  for (const auto& kv : p) {
    std::string key(kv.key());
    if (IsFramework(key) || key == "model" || key == "containers" || key == "custom") {
      found.push_back(key);
    }
  }
  if (found.empty()) {
    std::string options;
    for (auto f : kFrameworks) options += std::string(f) + ", ";
    errs.push_back({Type::kRequired,
                    path,
                    "one predictor must be set: " + options + "or model (with modelFormat)",
                    {}});
    return std::nullopt;
  }
  if (found.size() > 1) {
    errs.push_back({Type::kForbidden,
                    path,
                    "only one predictor may be set, found " + found[0] + " and " + found[1],
                    {}});
    return std::nullopt;
  }
  const std::string& key = found.front();
  std::string fpath = path + "." + key;
  const json::value& block = p.at(key);
  if (key == "containers" || key == "custom") {
    t.format = "custom";
    if (block.is_object()) t.framework = block.get_object();
    return t;
  }
  if (!block.is_object()) {
    errs.push_back({Type::kInvalid, fpath, "must be an object", {}});
    return std::nullopt;
  }
  const json::object& f = block.get_object();
  t.framework = f;
  if (key == "model") {
    std::string format = GetString(f, "modelFormat.name");
    if (format.empty()) {
      errs.push_back({Type::kRequired,
                      fpath + ".modelFormat.name",
                      "the model format is required (e.g. sklearn, xgboost)",
                      {}});
      return std::nullopt;
    }
    for (auto& c : format) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    t.format = format;
    t.runtime = GetString(f, "runtime");
  } else {
    t.format = key;
  }
  const json::value* uri = f.if_contains("storageUri");
  if (uri == nullptr || !uri->is_string() || uri->get_string().empty()) {
    errs.push_back({Type::kRequired,
                    fpath + ".storageUri",
                    "storageUri is required: where the model files are (a path, file://, "
                    "http(s)://, s3://)",
                    {}});
    return std::nullopt;
  }
  t.storage_uri = std::string(uri->get_string());
  std::string protocol = GetString(f, "protocolVersion", GetString(p, "protocolVersion", "v1"));
  if (protocol != "v1" && protocol != "v2" && protocol != "grpc-v2") {
    errs.push_back({Type::kNotSupported, fpath + ".protocolVersion",
                    "supported values: \"v1\", \"v2\", \"grpc-v2\"", json::value(protocol)});
    return std::nullopt;
  }
  t.protocol = protocol;
  if (const json::value* env = f.if_contains("env"); env && env->is_array()) {
    size_t i = 0;
    for (const auto& e : env->get_array()) {
      std::string name = GetString(e, "name");
      if (name.empty()) {
        errs.push_back({Type::kRequired, fpath + ".env[" + std::to_string(i) + "].name", "", {}});
      } else {
        t.env[name] = GetString(e, "value");
      }
      ++i;
    }
  }
  if (auto cc = IntField(p, "containerConcurrency", path, errs, 0, 1'000'000)) {
    t.container_concurrency = *cc;
  }
  if (auto to = IntField(p, "timeout", path, errs, 0, 86'400))
    t.timeout = std::chrono::seconds(*to);
  return t;
}

}  // namespace

std::string KServeResource() { return "inferenceservices." + std::string(kKServeGroup); }
std::string KfservingResource() { return "inferenceservices." + std::string(kKfservingGroup); }

Status RegisterInferenceServiceKinds(api::KindRegistry& registry) {
  SKIFF_RETURN_IF_ERROR(registry.Register(KServeKind()));
  SKIFF_RETURN_IF_ERROR(registry.Register(KfservingKind()));
  return Status::Ok();
}

json::object PredictorTemplate::ToJson() const {
  json::object env_obj;
  for (const auto& [k, v] : env) env_obj[k] = v;
  return json::object{{"format", format},
                      {"runtime", runtime},
                      {"storageUri", storage_uri},
                      {"protocolVersion", protocol},
                      {"env", std::move(env_obj)},
                      {"containerConcurrency", container_concurrency},
                      {"timeout", static_cast<int64_t>(timeout.count())},
                      {"framework", framework}};
}

Result<PredictorTemplate> PredictorTemplate::FromJson(const json::object& obj) {
  PredictorTemplate t;
  t.format = GetString(obj, "format");
  t.runtime = GetString(obj, "runtime");
  t.storage_uri = GetString(obj, "storageUri");
  t.protocol = GetString(obj, "protocolVersion", "v1");
  if (const json::object* env = GetObject(obj, "env")) {
    for (const auto& kv : *env) {
      if (kv.value().is_string())
        t.env[std::string(kv.key())] = std::string(kv.value().get_string());
    }
  }
  if (const auto* cc = obj.if_contains("containerConcurrency"); cc && cc->is_int64()) {
    t.container_concurrency = cc->get_int64();
  }
  if (const auto* to = obj.if_contains("timeout"); to && to->is_int64()) {
    t.timeout = std::chrono::seconds(to->get_int64());
  }
  if (const json::object* f = GetObject(obj, "framework")) t.framework = *f;
  if (t.format.empty()) return InvalidArgument("a stored predictor template has no format");
  return t;
}

std::string PredictorTemplate::Hash() const {
  return HexEncode(Sha256(Serialize(ToJson()))).substr(0, 16);
}

SpecResult ReadSpec(std::string_view group, const json::object& obj) {
  SpecResult out;
  FieldErrors& errs = out.errors;
  std::string name = GetString(obj, "metadata.name");
  if (!name.empty() && !(name.front() >= 'a' && name.front() <= 'z')) {
    // KServe names become DNS names of services: a DNS-1035 label starts with a letter.
    errs.push_back({Type::kInvalid, "metadata.name",
                    "a DNS-1035 label must start with an alphabetic character (e.g. "
                    "'my-name', or 'abc-123')",
                    json::value(name)});
  }
  const json::object* spec = GetObject(obj, "spec");
  if (spec == nullptr) {
    errs.push_back({Type::kRequired, "spec", "spec is required", {}});
    return out;
  }
  DesiredState state;
  if (group == kKServeGroup) {
    const json::object* predictor = GetObject(*spec, "predictor");
    if (predictor == nullptr) {
      errs.push_back({Type::kRequired, "spec.predictor", "spec.predictor is required", {}});
      return out;
    }
    auto t = ReadPredictor(*predictor, "spec.predictor", errs);
    state.canary_percent =
        IntField(*predictor, "canaryTrafficPercent", "spec.predictor", errs, 0, 100);
    if (auto v = IntField(*predictor, "minReplicas", "spec.predictor", errs, 0, 1'000'000)) {
      state.min_replicas = *v;
    }
    if (auto v = IntField(*predictor, "maxReplicas", "spec.predictor", errs, 0, 1'000'000)) {
      state.max_replicas = *v;
    }
    if (!t || !errs.empty()) return out;
    state.latest = std::move(*t);
  } else {
    const json::object* def = GetObject(*spec, "default");
    const json::object* def_predictor = def ? GetObject(*def, "predictor") : nullptr;
    if (def_predictor == nullptr) {
      errs.push_back(
          {Type::kRequired, "spec.default.predictor", "spec.default.predictor is required", {}});
      return out;
    }
    auto d = ReadPredictor(*def_predictor, "spec.default.predictor", errs);
    std::optional<PredictorTemplate> c;
    if (const json::object* canary = GetObject(*spec, "canary")) {
      const json::object* cp = GetObject(*canary, "predictor");
      if (cp == nullptr) {
        errs.push_back(
            {Type::kRequired, "spec.canary.predictor", "spec.canary needs a predictor", {}});
      } else {
        c = ReadPredictor(*cp, "spec.canary.predictor", errs);
      }
    }
    state.canary_percent = IntField(*spec, "canaryTrafficPercent", "spec", errs, 0, 100);
    if (auto v =
            IntField(*def_predictor, "minReplicas", "spec.default.predictor", errs, 0, 1'000'000)) {
      state.min_replicas = *v;
    }
    if (auto v =
            IntField(*def_predictor, "maxReplicas", "spec.default.predictor", errs, 0, 1'000'000)) {
      state.max_replicas = *v;
    }
    if (!d || !errs.empty()) return out;
    if (c) {
      state.stable = std::move(*d);
      state.latest = std::move(*c);
      if (!state.canary_percent) state.canary_percent = 0;
    } else {
      state.latest = std::move(*d);
      state.canary_percent.reset();
    }
  }
  if (state.max_replicas != 0 && state.max_replicas < state.min_replicas) {
    errs.push_back({Type::kInvalid, "spec.predictor.maxReplicas",
                    "must be at least minReplicas (" + std::to_string(state.min_replicas) + ")",
                    json::value(state.max_replicas)});
    return out;
  }
  out.state = std::move(state);
  return out;
}

}  // namespace skiff::serving
