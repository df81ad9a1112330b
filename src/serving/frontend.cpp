#include "serving/frontend.hpp"

#include <map>

#include "serving/executor.hpp"
#include "serving/protocol_v1.hpp"
#include "serving/protocol_v2.hpp"

namespace skiff::serving {

namespace {

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

std::string HostName(std::string_view authority) {
  std::string host(authority);
  if (!host.empty() && host.front() == '[') return {};  // an IPv6 literal is no model name
  if (size_t colon = host.find(':'); colon != std::string::npos) host.resize(colon);
  for (auto& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return host;
}

bool IsServingPath(std::string_view p) {
  return p == "/v1/models" || StartsWith(p, "/v1/models/") || p == "/v2" || StartsWith(p, "/v2/");
}

// 405 with Allow (RFC 9110 15.5.6): the endpoint exists, the method is wrong. KServe's body.
http::Response MethodNotAllowed(std::string_view allow) {
  http::Response r = JsonResponse(405, "{\"error\":\"Method Not Allowed: use " +
                                           std::string(allow.substr(0, allow.find(','))) + "\"}");
  r.headers.Set("Allow", allow);
  return r;
}
const Principal* Who(const http::Request& req) { return req.principal ? &*req.principal : nullptr; }

// The verb calling a model endpoint needs: "predict" to run it, "get" to read it.
std::string_view VerbOf(V1Path::Kind kind) {
  return kind == V1Path::Kind::kModel ? "get" : "predict";
}
std::string_view VerbOf(V2Path::Kind kind) {
  return kind == V2Path::Kind::kInfer ? "predict" : "get";
}

constexpr std::string_view kAllowGet = "GET, HEAD";
constexpr std::string_view kAllowPost = "POST";

}  // namespace

Frontend::Frontend(Controller& controller, ProtocolLimits limits,
                   const authz::Authorizer* authorizer)
    : controller_(controller), limits_(limits), authorizer_(authorizer) {}

authz::Attributes Frontend::ModelAttributes(std::string_view verb, const ServedModel& model) {
  authz::Attributes what;
  what.verb = std::string(verb);
  what.group = model.group.empty() ? "serving.kserve.io" : model.group;
  what.resource = "inferenceservices";
  what.ns = model.ns;
  what.name = model.name;
  return what;
}

std::optional<authz::Attributes> Frontend::AttributesFor(std::string_view authority,
                                                         std::string_view path) const {
  auto table = controller_.table();
  auto target = Resolve(authority, path, *table);
  if (!target) return std::nullopt;
  std::string model;
  std::string_view verb;
  if (StartsWith(target->path, "/v1/")) {
    auto v1 = ParseV1Path(target->path);
    if (!v1 || v1->kind == V1Path::Kind::kList) return std::nullopt;
    model = v1->model;
    verb = VerbOf(v1->kind);
  } else {
    auto v2 = ParseV2Path(target->path);
    if (!v2 || v2->model.empty()) return std::nullopt;
    model = v2->model;
    verb = VerbOf(v2->kind);
  }
  http::Response unused;
  const ServedModel* m = Find(*table, *target, model, nullptr, &unused);
  if (m == nullptr) return std::nullopt;
  return ModelAttributes(verb, *m);
}

std::optional<http::Response> Frontend::Refuse(const http::Request& req, std::string_view verb,
                                               const ServedModel& model) const {
  if (authorizer_ == nullptr) return std::nullopt;
  if (!req.principal) {
    return ProtocolErrorResponse(Unauthenticated("authentication required"));
  }
  const authz::Attributes what = ModelAttributes(verb, model);
  if (authorizer_->Allows(*req.principal, what)) return std::nullopt;
  return ProtocolErrorResponse(PermissionDenied(authorizer_->Decide(*req.principal, what).reason));
}

bool Frontend::MayList(const http::Request& req, const std::string& ns) const {
  if (authorizer_ == nullptr) return true;
  if (!req.principal) return false;
  authz::Attributes what;
  what.verb = "list";
  what.group = "serving.kserve.io";
  what.resource = "inferenceservices";
  what.ns = ns;
  return authorizer_->Allows(*req.principal, what);
}

std::optional<Frontend::Target> Frontend::Resolve(std::string_view authority, std::string_view path,
                                                  const ServingTable& table) const {
  // Host-based: the first two labels name the model and its namespace. Only V1/V2 paths: the
  // listener also serves the API and the UI, which a Host naming a model must not hide.
  std::string host = HostName(authority);
  size_t d1 = host.find('.');
  size_t d2 = d1 == std::string::npos ? std::string::npos : host.find('.', d1 + 1);
  if (d2 != std::string::npos && IsServingPath(path)) {
    std::string first = host.substr(0, d1);
    std::string ns = host.substr(d1 + 1, d2 - d1 - 1);
    for (std::string_view suffix : {"", "-predictor-default", "-predictor"}) {
      if (first.size() <= suffix.size() ||
          first.compare(first.size() - suffix.size(), suffix.size(), suffix) != 0) {
        continue;
      }
      std::string name = first.substr(0, first.size() - suffix.size());
      if (table.Lookup(ns, name) != nullptr) return Target{ns, name, std::string(path)};
    }
  }
  std::string_view p = path;
  if (StartsWith(p, "/kfserving/")) {
    // /kfserving/NS/NAME[:verb]: KFServing's path-based URL for V1.
    std::string_view rest = std::string_view(p).substr(11);
    size_t slash = rest.find('/');
    if (slash == std::string_view::npos || slash == 0) return std::nullopt;
    return Target{std::string(rest.substr(0, slash)),
                  {},
                  "/v1/models/" + std::string(rest.substr(slash + 1))};
  }
  if (StartsWith(p, "/serving/")) {
    std::string_view rest = std::string_view(p).substr(9);
    size_t s1 = rest.find('/');
    size_t s2 = s1 == std::string_view::npos ? s1 : rest.find('/', s1 + 1);
    if (s2 == std::string_view::npos || s1 == 0 || s2 == s1 + 1) return std::nullopt;
    return Target{std::string(rest.substr(0, s1)), std::string(rest.substr(s1 + 1, s2 - s1 - 1)),
                  std::string(rest.substr(s2))};
  }
  if (IsServingPath(p)) return Target{{}, {}, std::string(p)};
  return std::nullopt;
}

bool Frontend::Matches(const http::Request& req) const {
  return Matches(req.headers.Get("Host").value_or(""), req.path);
}

bool Frontend::Matches(std::string_view authority, std::string_view path) const {
  return Resolve(authority, path, *controller_.table()).has_value();
}

std::string Frontend::AddressedNamespace(std::string_view authority, std::string_view path) const {
  // Only these paths resolve to a namespace (see Resolve): the gateway asks for every request it
  // routes by VirtualService, and the others need no snapshot of the serving table.
  if (!IsServingPath(path) && !StartsWith(path, "/kfserving/") && !StartsWith(path, "/serving/")) {
    return std::string();
  }
  auto target = Resolve(authority, path, *controller_.table());
  return target ? target->ns : std::string();
}

std::string Frontend::Describe(std::string_view authority, std::string_view path) const {
  auto table = controller_.table();
  auto target = Resolve(authority, path, *table);
  if (!target) return "no model";
  std::string where = target->ns.empty() ? "any namespace" : "namespace " + target->ns;
  std::string what = target->name.empty() ? "the model named in " + target->path
                                          : "model " + target->ns + "/" + target->name;
  if (!target->name.empty()) {
    if (const ServedModel* m = table->Lookup(target->ns, target->name)) {
      what += m->ready ? " (ready" : " (not ready: " + m->reason;
      for (const auto& r : m->routes) {
        if (r.revision)
          what += ", revision " + r.revision->name + " " + std::to_string(r.percent) + "%";
      }
      what += ")";
    }
    return what + ", " + target->path;
  }
  return what + " in " + where;
}

const ServedModel* Frontend::Find(const ServingTable& table, const Target& target,
                                  const std::string& model, const Principal* who,
                                  http::Response* error) const {
  if (!target.name.empty() && model != target.name) {
    *error = ProtocolErrorResponse(ModelNotFound(model));
    return nullptr;
  }
  if (!target.ns.empty()) {
    const ServedModel* m = table.Lookup(target.ns, model);
    if (m == nullptr) *error = ProtocolErrorResponse(ModelNotFound(model));
    return m;
  }
  auto found = table.ByName(model);
  if (authorizer_ != nullptr && who != nullptr) {
    std::erase_if(found, [&](const ServedModel* m) {
      return !authorizer_->Allows(*who, ModelAttributes("get", *m));
    });
  }
  if (found.empty()) {
    *error = ProtocolErrorResponse(ModelNotFound(model));
    return nullptr;
  }
  if (found.size() > 1) {
    std::string namespaces;
    for (const auto* m : found) namespaces += (namespaces.empty() ? "" : ", ") + m->ns;
    *error = ProtocolErrorResponse(InvalidArgument(
        "model " + model + " exists in namespaces " + namespaces +
        ": name one with Host: " + model + ".NAMESPACE." + controller_.options().domain +
        " or the path /serving/NAMESPACE/" + model + "/..."));
    return nullptr;
  }
  return found.front();
}

void Frontend::Handle(http::Request& req, http::Responder respond) const {
  auto table = controller_.table();
  auto target = Resolve(req.headers.Get("Host").value_or(""), req.path, *table);
  if (!target) {
    respond(ProtocolErrorResponse(NotFound("no model answers " + req.path)));
    return;
  }
  const bool get = req.method == "GET" || req.method == "HEAD";
  const bool post = req.method == "POST";
  http::Response error;
  if (StartsWith(target->path, "/v1/")) {
    auto v1 = ParseV1Path(target->path);
    if (!v1) {
      respond(ProtocolErrorResponse(NotFound("no V1 endpoint at " + target->path)));
      return;
    }
    if (v1->kind == V1Path::Kind::kList) {
      if (!get) return respond(MethodNotAllowed(kAllowGet));
      std::vector<std::string> names;
      std::map<std::string, bool> listable;  // namespace -> the caller may list its models
      for (const auto& [key, m] : table->models) {
        if (!target->ns.empty() && key.first != target->ns) continue;
        if (!target->name.empty() && key.second != target->name) continue;
        auto [it, fresh] = listable.try_emplace(key.first, false);
        if (fresh) it->second = MayList(req, key.first);
        if (!it->second) continue;
        if (std::find(names.begin(), names.end(), key.second) == names.end())
          names.push_back(key.second);
      }
      return respond(EncodeV1ModelList(names));
    }
    const ServedModel* m = Find(*table, *target, v1->model, Who(req), &error);
    if (m == nullptr) return respond(std::move(error));
    if (auto refused = Refuse(req, VerbOf(v1->kind), *m)) {
      return respond(std::move(*refused));
    }
    switch (v1->kind) {
      case V1Path::Kind::kModel:
        if (!get) return respond(MethodNotAllowed(kAllowGet));
        return respond(EncodeV1ModelReady(m->name, m->ready));
      case V1Path::Kind::kPredict:
        if (!post) return respond(MethodNotAllowed(kAllowPost));
        return Infer(*m, false, req, std::move(respond));
      default:
        return respond(ProtocolErrorResponse(
            Status(Code::kUnimplemented,
                   "model " + m->name + " has no explainer: :explain is not served")));
    }
  }
  auto v2 = ParseV2Path(target->path);
  if (!v2) {
    respond(ProtocolErrorResponse(NotFound("no V2 endpoint at " + target->path)));
    return;
  }
  if (v2->kind == V2Path::Kind::kInfer ? !post : !get) {
    return respond(MethodNotAllowed(v2->kind == V2Path::Kind::kInfer ? kAllowPost : kAllowGet));
  }
  switch (v2->kind) {
    case V2Path::Kind::kServerMetadata:
      return respond(EncodeV2ServerMetadata("skiff", SKIFF_VERSION));
    case V2Path::Kind::kLive:
      return respond(EncodeV2Live());
    case V2Path::Kind::kReady: {
      bool all = true;
      std::map<std::string, bool> listable;  // namespace -> the caller may list its models
      for (const auto& [key, model] : table->models) {
        if (!target->ns.empty() && key.first != target->ns) continue;
        if (!target->name.empty() && key.second != target->name) continue;
        auto [it, fresh] = listable.try_emplace(key.first, false);
        if (fresh) it->second = MayList(req, key.first);
        if (!it->second) continue;
        all = all && model.ready;
      }
      return respond(EncodeV2ServerReady(all));
    }
    default:
      break;
  }
  const ServedModel* m = Find(*table, *target, v2->model, Who(req), &error);
  if (m == nullptr) return respond(std::move(error));
  if (auto refused = Refuse(req, VerbOf(v2->kind), *m)) {
    return respond(std::move(*refused));
  }
  switch (v2->kind) {
    case V2Path::Kind::kModelReady:
      return respond(EncodeV2ModelReady(m->name, m->ready));
    case V2Path::Kind::kModelMetadata: {
      // The latest serving revision describes the model; Pick() would take a share of the
      // canary split from the inference requests.
      if (!m->ready || m->routes.empty()) {
        return respond(ProtocolErrorResponse(ModelNotReady(m->name)));
      }
      auto rev = m->routes.back().revision;
      ModelMetadata md = rev->metadata;
      md.name = m->name;
      if (md.versions.empty()) md.versions = {rev->name};
      return respond(EncodeV2ModelMetadata(md));
    }
    case V2Path::Kind::kInfer:
      return Infer(*m, true, req, std::move(respond));
    default:
      return respond(ProtocolErrorResponse(NotFound("no V2 endpoint at " + target->path)));
  }
}

void Frontend::Infer(const ServedModel& model, bool v2, http::Request& req,
                     http::Responder respond) const {
  if (!model.ready || model.routes.empty()) {
    respond(ProtocolErrorResponse(Status(
        Code::kUnavailable, "Model with name " + model.name + " is not ready: " + model.reason)));
    return;
  }
  auto parsed = v2 ? ParseV2InferRequest(req, limits_) : ParseV1PredictRequest(req.body, limits_);
  if (!parsed) {
    // Counted against the latest revision; a request that never runs takes no share of the
    // canary split, so the split stays exact over the requests that do.
    model.routes.back().revision->executor->RecordRejected(parsed.error());
    respond(ProtocolErrorResponse(parsed.error()));
    return;
  }
  auto revision = model.Pick();
  if (!revision) {  // unreachable: ready with routes
    respond(ProtocolErrorResponse(ModelNotReady(model.name)));
    return;
  }
  V2ResponseSpec spec;
  if (v2) spec = ResponseSpecFor(*parsed);
  std::string name = model.name;
  std::string version = revision->name;
  // The revision (and so its model) stays alive until the callback has run.
  revision->executor->Submit(
      std::move(*parsed), [revision, v2, spec = std::move(spec), name, version,
                           respond = std::move(respond)](Result<InferResponse> result) mutable {
        if (!result) {
          respond(ProtocolErrorResponse(result.error()));
          return;
        }
        result->model_name = name;
        if (result->model_version.empty()) result->model_version = version;
        auto encoded = v2 ? EncodeV2InferResponse(*result, spec) : EncodeV1PredictResponse(*result);
        if (!encoded) {
          respond(ProtocolErrorResponse(encoded.error()));
          return;
        }
        respond(std::move(*encoded));
      });
}

}  // namespace skiff::serving
