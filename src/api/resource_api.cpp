#include <algorithm>
#include <charconv>
#include <map>
#include <mutex>
#include <optional>

#include "api/patch.hpp"
#include "api/resource_api_impl.hpp"
#include "api/table.hpp"
#include "api/validation.hpp"
#include "api/watch_stream.hpp"
#include "core/crypto.hpp"
#include "core/log.hpp"
#include "core/yaml.hpp"

namespace skiff::api {

using internal::InvalidResponse;
using internal::JsonResponse;
using internal::StatusResponse;

namespace {

constexpr std::string_view kNotFoundMessage = "the server could not find the requested resource";

std::string KeyString(const store::Key& key) { return key.ns + "/" + key.name; }

// The field-selector view of a watch: turns store events into what a client filtering by
// fields must see. Store callbacks of one watch come one at a time; the mutex is for safety.
struct FieldWatchState {
  std::mutex mu;                      // guards the members below
  std::map<std::string, bool> known;  // key -> whether the client was last told it matches
  bool unknown_may_match = false;

  // The event to send, or nullopt to send nothing.
  std::optional<store::EventType> Translate(const std::string& key, store::EventType type,
                                            bool matches) {
    std::lock_guard lock(mu);
    if (type == store::EventType::kDeleted) {
      known.erase(key);
      // A deletion carries the last state: the client has the object if that state matched.
      if (matches) return type;
      return std::nullopt;
    }
    bool matched = false;  // a new object matched nothing before
    if (type == store::EventType::kModified) {
      auto it = known.find(key);
      matched = it != known.end() ? it->second : unknown_may_match;
    }
    known[key] = matches;
    if (matches) return matched ? type : store::EventType::kAdded;
    if (matched) return store::EventType::kDeleted;
    return std::nullopt;
  }
};

}  // namespace

namespace internal {

Shape AcceptedShape(const http::Request& req) {
  auto accept = req.headers.Get("Accept");
  if (!accept) return Shape::kObject;
  // The first acceptable media type wins; kubectl lists Table first and plain JSON last.
  std::string_view a = *accept;
  size_t pos = 0;
  while (pos <= a.size()) {
    size_t comma = a.find(',', pos);
    std::string_view item = a.substr(pos, comma == a.npos ? a.npos : comma - pos);
    if (item.find("as=Table") != item.npos && item.find("g=meta.k8s.io") != item.npos &&
        item.find("v=v1") != item.npos) {
      return Shape::kTable;
    }
    if (item.find("as=PartialObjectMetadata") != item.npos && item.find("v=v1") != item.npos) {
      return Shape::kPartialMetadata;
    }
    if (item.find("application/json") != item.npos && item.find("as=") == item.npos) {
      return Shape::kObject;
    }
    if (item.find("*/*") != item.npos) return Shape::kObject;
    if (comma == a.npos) break;
    pos = comma + 1;
  }
  return Shape::kObject;
}

int64_t ParseVersion(std::string_view s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < 0) return -1;
  return v;
}

std::string GenerateSuffix() {
  // Kubernetes' alphabet for generated names: no vowels, no confusable characters.
  static constexpr std::string_view kAlphabet = "bcdfghjklmnpqrstvwxz2456789";
  std::string bytes = RandomBytes(5);
  std::string out;
  for (unsigned char c : bytes) out += kAlphabet[c % kAlphabet.size()];
  return out;
}

Result<std::vector<FieldRequirement>> ParseFieldSelector(std::string_view text) {
  std::vector<FieldRequirement> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t comma = text.find(',', pos);
    std::string_view term = text.substr(pos, comma == text.npos ? text.npos : comma - pos);
    pos = comma == text.npos ? text.size() : comma + 1;
    if (term.empty()) continue;
    FieldRequirement r;
    size_t op = term.find("!=");
    size_t len = 2;
    if (op != term.npos) {
      r.equals = false;
    } else if ((op = term.find("==")) != term.npos) {
      len = 2;
    } else if ((op = term.find('=')) != term.npos) {
      len = 1;
    } else {
      return InvalidArgument("invalid field selector \"" + std::string(text) +
                             "\": each term must be field=value, field==value or field!=value");
    }
    r.field = std::string(term.substr(0, op));
    r.value = std::string(term.substr(op + len));
    if (r.field.empty()) return InvalidArgument("invalid field selector: empty field name");
    out.push_back(std::move(r));
  }
  return out;
}

bool MatchesFields(const json::object& obj, const std::vector<FieldRequirement>& reqs) {
  const json::value root(obj);
  for (const auto& r : reqs) {
    const json::value* v = Find(root, r.field);
    std::string actual;
    if (v != nullptr) {
      actual = v->is_string() ? std::string(v->get_string()) : Serialize(*v);
    }
    if ((actual == r.value) != r.equals) return false;
  }
  return true;
}

Status ParseSelectors(const http::Request& req, store::Selector* labels,
                      std::vector<FieldRequirement>* fields) {
  if (auto sel = req.Query("labelSelector"); sel && !sel->empty()) {
    SKIFF_ASSIGN_OR_RETURN(*labels, store::Selector::Parse(*sel));
  }
  if (auto fs = req.Query("fieldSelector"); fs && !fs->empty()) {
    SKIFF_ASSIGN_OR_RETURN(*fields, ParseFieldSelector(*fs));
  }
  return Status::Ok();
}

json::object Comparable(json::object obj) {
  if (auto* md = obj.if_contains("metadata"); md && md->is_object()) {
    md->as_object().erase("resourceVersion");
    md->as_object().erase("managedFields");
  }
  return obj;
}

bool SpecChanged(const json::object& a, const json::object& b) {
  json::object x = a, y = b;
  x.erase("metadata");
  y.erase("metadata");
  x.erase("status");
  y.erase("status");
  return x != y;
}

}  // namespace internal

using internal::AcceptedShape;
using internal::FieldRequirement;
using internal::MatchesFields;
using internal::ParseFieldSelector;
using internal::ParseVersion;

http::Response StatusToResponse(const Status& status) { return StatusResponse(status); }

ResourceApi::ResourceApi(const KindRegistry& kinds, store::Store& store, Clock& clock,
                         ApiOptions options)
    : impl_(std::make_unique<Impl>(kinds, store, clock, std::move(options))) {}

ResourceApi::~ResourceApi() { CloseWatches(); }

void ResourceApi::CloseWatches() { impl_->reaper.CloseAll(); }

http::Response ResourceApi::Handle(http::Request& req) { return impl_->Handle(req); }

http::Response ResourceApi::Impl::Render(const http::Request& req, const KindInfo& kind, int code,
                                         json::object obj) const {
  obj = Present(kind, std::move(obj));
  switch (AcceptedShape(req)) {
    case Shape::kTable: {
      auto include = ParseIncludeObject(req.Query("includeObject").value_or(""));
      json::object md;
      // Looked up in `obj` itself: a pointer from Find(json::value(obj), ...) would point into
      // a temporary that is gone by the time it is read.
      if (const json::value* meta = obj.if_contains("metadata"); meta && meta->is_object()) {
        if (const json::value* rv = meta->get_object().if_contains("resourceVersion")) {
          md["resourceVersion"] = *rv;
        }
      }
      return JsonResponse(code, MakeTable(kind, {obj}, clock.Now(),
                                          include ? *include : IncludeObject::kMetadata, md));
    }
    case Shape::kPartialMetadata:
      return JsonResponse(code, PartialObjectMetadata(obj));
    case Shape::kObject:
      break;
  }
  return JsonResponse(code, obj);
}

http::Response ResourceApi::Impl::Handle(http::Request& req) {
  const std::string& path = req.path;
  if (options.authorize && !req.principal) {
    // Public routes never reach the API; this is an in-process caller that forgot to say who.
    return StatusResponse(Unauthenticated("Unauthorized"));
  }
  if (path == "/version" || path == "/version/") {
    return http::Response::Json(200, version_json);
  }
  if (path == "/openapi/v3" || path == "/openapi/v3/") {
    return http::Response::Json(200, openapi_index_json);
  }
  if (path.rfind("/openapi/v3/", 0) == 0) {
    std::string_view rest = std::string_view(path).substr(12);
    std::string group, version;
    if (rest.rfind("api/", 0) == 0) {
      version = std::string(rest.substr(4));
    } else if (rest.rfind("apis/", 0) == 0) {
      std::string_view gv = rest.substr(5);
      size_t slash = gv.find('/');
      if (slash == gv.npos) return StatusResponse(NotFound(std::string(kNotFoundMessage)));
      group = std::string(gv.substr(0, slash));
      version = std::string(gv.substr(slash + 1));
    }
    auto doc = internal::OpenApiGroupVersion(kinds, group, version);
    if (!doc) return StatusResponse(doc.error());
    http::Response r = JsonResponse(200, *doc);
    if (req.Query("hash")) r.headers.Set("Cache-Control", "public, immutable");
    return r;
  }
  if (path.rfind("/openapi", 0) == 0) {
    // OpenAPI v2 is served only as protobuf by Kubernetes; kubectl uses v3 when present.
    return StatusResponse(NotFound(std::string(kNotFoundMessage)));
  }

  auto info_or = ParseRequestInfo(req.method, path, req.Query("watch").value_or(""));
  if (!info_or) return StatusResponse(info_or.error());
  const RequestInfo& info = *info_or;
  if (!info.is_resource_request) return Discovery(req, info);
  if (options.authorize) {
    ApiOptions::Verdict v = options.authorize(*req.principal, info);
    if (!v.allowed) return internal::ForbiddenResponse(info, req.principal->name, v.reason);
  }

  const KindInfo* kind = kinds.ByPlural(info.group, info.version, info.resource);
  if (kind == nullptr) return StatusResponse(NotFound(std::string(kNotFoundMessage)));
  if (!info.ns.empty() && !kind->namespaced) {
    return StatusResponse(NotFound(std::string(kNotFoundMessage)));
  }
  if (!info.subresource.empty() && (info.subresource != "status" || !kind->status_subresource)) {
    return StatusResponse(NotFound(std::string(kNotFoundMessage)));
  }
  if (kind->namespaced && info.ns.empty() && info.verb != "list" && info.verb != "watch") {
    return StatusResponse(NotFound(std::string(kNotFoundMessage)));
  }
  if (!info.subresource.empty() && info.verb != "get" && info.verb != "update" &&
      info.verb != "patch") {
    return StatusResponse(Status(
        Code::kUnimplemented, "the server does not allow this method on the requested resource"));
  }
  if (kind->review) {
    if (info.verb != "create" || !info.name.empty() || !info.subresource.empty()) {
      return StatusResponse(Status(
          Code::kUnimplemented, "the server does not allow this method on the requested resource"));
    }
    return Review(req, *kind, info);
  }
  if (info.verb == "get") return Get(req, *kind, info);
  if (info.verb == "list") return List(req, *kind, info);
  if (info.verb == "watch") return Watch(req, *kind, info);
  if (info.verb == "create") {
    if (!info.name.empty()) {
      return StatusResponse(Status(
          Code::kUnimplemented, "the server does not allow this method on the requested resource"));
    }
    return Create(req, *kind, info);
  }
  if (info.verb == "update") return Update(req, *kind, info);
  if (info.verb == "patch") return Patch(req, *kind, info);
  if (info.verb == "delete") return Delete(req, *kind, info);
  if (info.verb == "deletecollection") return DeleteCollection(req, *kind, info);
  return StatusResponse(Status(Code::kUnimplemented,
                               "the server does not allow this method on the requested resource"));
}

http::Response ResourceApi::Impl::Discovery(const http::Request& req, const RequestInfo& info) {
  if (req.method != "GET" && req.method != "HEAD") {
    return StatusResponse(Status(
        Code::kUnimplemented, "the server does not allow this method on the requested resource"));
  }
  if (info.api_prefix == "api") {
    if (info.version.empty()) return http::Response::Json(200, api_versions_json);
    auto list = internal::ApiResourceList(kinds, "", info.version);
    if (!list) return StatusResponse(list.error());
    return JsonResponse(200, *list);
  }
  if (info.group.empty()) {
    // "/apis" or "/apis/GROUP"
    std::string_view rest = std::string_view(req.path).substr(5);
    while (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
    while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
    if (rest.empty()) return http::Response::Json(200, api_groups_json);
    auto group = internal::ApiGroup(kinds, rest);
    if (!group) return StatusResponse(group.error());
    return JsonResponse(200, *group);
  }
  auto list = internal::ApiResourceList(kinds, info.group, info.version);
  if (!list) return StatusResponse(list.error());
  return JsonResponse(200, *list);
}

http::Response ResourceApi::Impl::Get(const http::Request& req, const KindInfo& kind,
                                      const RequestInfo& info) {
  auto obj = store.Get({kind.StorageResource(), info.ns, info.name});
  if (!obj) return StatusResponse(obj.error(), &kind, {}, info.name);
  return Render(req, kind, 200, std::move(obj->object));
}

http::Response ResourceApi::Impl::List(const http::Request& req, const KindInfo& kind,
                                       const RequestInfo& info) {
  store::ListOptions opts;
  opts.ns = info.ns;
  std::vector<FieldRequirement> fields;
  if (Status st = internal::ParseSelectors(req, &opts.label_selector, &fields); !st.ok()) {
    return StatusResponse(st);
  }
  if (auto limit = req.Query("limit"); limit && !limit->empty()) {
    int64_t n = ParseVersion(*limit);
    if (n < 0) return StatusResponse(InvalidArgument("limit must be a non-negative integer"));
    opts.limit = n;
  }
  opts.continue_token = req.Query("continue").value_or("");
  auto result = store.List(kind.StorageResource(), opts);
  if (!result) return StatusResponse(result.error(), &kind);

  std::vector<json::object> items;
  items.reserve(result->items.size());
  for (auto& o : result->items) {
    if (!fields.empty() && !MatchesFields(o.object, fields)) continue;
    items.push_back(Present(kind, std::move(o.object)));
  }
  json::object md{{"resourceVersion", std::to_string(result->resource_version)}};
  if (!result->continue_token.empty()) {
    md["continue"] = result->continue_token;
    if (result->remaining > 0) md["remainingItemCount"] = result->remaining;
  }
  switch (AcceptedShape(req)) {
    case Shape::kTable: {
      auto include = ParseIncludeObject(req.Query("includeObject").value_or(""));
      if (!include) return StatusResponse(include.error());
      return JsonResponse(200, MakeTable(kind, items, clock.Now(), *include, std::move(md)));
    }
    case Shape::kPartialMetadata: {
      json::array arr;
      for (const auto& o : items) arr.push_back(PartialObjectMetadata(o));
      return JsonResponse(200, json::object{{"kind", "PartialObjectMetadataList"},
                                            {"apiVersion", "meta.k8s.io/v1"},
                                            {"metadata", std::move(md)},
                                            {"items", std::move(arr)}});
    }
    case Shape::kObject:
      break;
  }
  json::array arr;
  for (auto& o : items) arr.push_back(std::move(o));
  return JsonResponse(200, json::object{{"kind", kind.ListKind()},
                                        {"apiVersion", kind.GroupVersion()},
                                        {"metadata", std::move(md)},
                                        {"items", std::move(arr)}});
}

std::string ResourceApi::Impl::EncodeEvent(const KindInfo& kind, Shape shape, IncludeObject include,
                                           store::EventType type, json::object obj) const {
  obj = Present(kind, std::move(obj));
  json::object event{{"type", store::EventTypeName(type)}};
  switch (shape) {
    case Shape::kTable: {
      json::object md;
      // Looked up in `obj` itself: a pointer from Find(json::value(obj), ...) would point into
      // a temporary that is gone by the time it is read.
      if (const json::value* meta = obj.if_contains("metadata"); meta && meta->is_object()) {
        if (const json::value* rv = meta->get_object().if_contains("resourceVersion")) {
          md["resourceVersion"] = *rv;
        }
      }
      event["object"] = MakeTable(kind, {obj}, clock.Now(), include, std::move(md));
      break;
    }
    case Shape::kPartialMetadata:
      event["object"] = PartialObjectMetadata(obj);
      break;
    case Shape::kObject:
      event["object"] = std::move(obj);
      break;
  }
  return Serialize(event) + "\n";
}

http::Response ResourceApi::Impl::Watch(const http::Request& req, const KindInfo& kind,
                                        const RequestInfo& info) {
  store::WatchOptions opts;
  opts.ns = info.ns;
  std::vector<FieldRequirement> fields;
  if (Status st = internal::ParseSelectors(req, &opts.label_selector, &fields); !st.ok()) {
    return StatusResponse(st);
  }
  // A single object watched by name (/namespaces/NAME?watch=1) is a field selector on its name.
  if (!info.name.empty()) fields.push_back({"metadata.name", info.name, true});
  std::string rv_param = req.Query("resourceVersion").value_or("");
  auto timeout = options.max_watch;
  if (auto ts = req.Query("timeoutSeconds"); ts && !ts->empty()) {
    int64_t n = ParseVersion(*ts);
    if (n < 0)
      return StatusResponse(InvalidArgument("timeoutSeconds must be a non-negative integer"));
    if (n > 0) timeout = std::min<std::chrono::seconds>(timeout, std::chrono::seconds(n));
  }
  Shape shape = AcceptedShape(req);
  auto include_or = ParseIncludeObject(req.Query("includeObject").value_or(""));
  if (!include_or) return StatusResponse(include_or.error());
  IncludeObject include = *include_or;

  auto stream = std::make_shared<internal::WatchStream>();
  // Which objects the client was last told match the field selector: an object that stops
  // matching is sent as DELETED, one that starts matching as ADDED, as Kubernetes does (and
  // as the store does for label selectors). Keys absent from `known` are unknown: after an
  // initial list they did not match; when resuming from a resourceVersion they may have.
  auto fields_state = std::make_shared<FieldWatchState>();
  fields_state->unknown_may_match = !(rv_param.empty() || rv_param == "0");
  // Without a resourceVersion (or "0"), Kubernetes first sends the current state as ADDED.
  if (rv_param.empty() || rv_param == "0") {
    store::ListOptions lo;
    lo.ns = info.ns;
    lo.label_selector = opts.label_selector;
    auto list = store.List(kind.StorageResource(), lo);
    if (!list) return StatusResponse(list.error(), &kind);
    for (auto& o : list->items) {
      if (!fields.empty() && !MatchesFields(o.object, fields)) continue;
      if (!fields.empty()) fields_state->known[KeyString(o.key)] = true;
      stream->Push(
          EncodeEvent(kind, shape, include, store::EventType::kAdded, std::move(o.object)));
    }
    opts.from_version = list->resource_version;
  } else {
    int64_t v = ParseVersion(rv_param);
    if (v < 0) {
      return StatusResponse(InvalidArgument("resourceVersion \"" + rv_param + "\" is not valid"));
    }
    opts.from_version = v;
  }
  std::weak_ptr<internal::WatchStream> weak = stream;
  const KindInfo* kp = &kind;
  auto on_event = [this, weak, kp, shape, include, fields, fields_state](const store::Event& ev) {
    auto s = weak.lock();
    if (!s) return;
    store::EventType type = ev.type;
    if (!fields.empty()) {
      auto t = fields_state->Translate(KeyString(ev.object.key), type,
                                       MatchesFields(ev.object.object, fields));
      if (!t) return;
      type = *t;
    }
    s->Push(EncodeEvent(*kp, shape, include, type, ev.object.object));
  };
  auto on_error = [weak, kp](const Status& st) {
    auto s = weak.lock();
    if (!s) return;
    json::object ev{{"type", "ERROR"}, {"object", internal::StatusObject(st, kp, {}, {})}};
    s->Push(Serialize(ev) + "\n");
    s->Finish();
  };
  auto watch = store.StartWatch(kind.StorageResource(), opts, on_event, on_error);
  if (!watch) return StatusResponse(watch.error(), &kind);
  stream->Attach(std::move(*watch));
  reaper.Add(stream, std::chrono::steady_clock::now() + timeout);
  http::Response r;
  r.status = 200;
  r.headers.Set("Content-Type", "application/json");
  r.stream = stream;
  return r;
}

}  // namespace skiff::api
