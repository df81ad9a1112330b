#include "pipelines/kfp_api.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>

#include "core/crypto.hpp"
#include "core/fs.hpp"
#include "core/process.hpp"
#include "http/client.hpp"
#include "pipelines/pipeline_file.hpp"
#include "pipelines/scheduler.hpp"

namespace skiff::pipelines {

namespace {

constexpr std::string_view kGroup = "pipelines.kubeflow.org";

// ---- small helpers ----

std::vector<std::string> SplitPath(std::string_view p) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    if (j > i) out.emplace_back(p.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

// Splits "ID:verb" (KFP's custom methods) into the id and the verb.
std::pair<std::string, std::string> CustomVerb(const std::string& seg) {
  size_t c = seg.rfind(':');
  if (c == std::string::npos) return {seg, ""};
  return {seg.substr(0, c), seg.substr(c + 1)};
}

std::string Str(const json::object& o, std::string_view key) { return GetString(o, key); }

int64_t Int(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return 0;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) return static_cast<int64_t>(v->get_uint64());
  if (v->is_string()) {
    try {
      return std::stoll(std::string(v->get_string()));
    } catch (...) {
      return 0;
    }
  }
  return 0;
}

std::string Ts(int64_t ms) { return FormatTimestamp(ms); }

// A parameter value as the string v1beta1 shows.
std::string ValueText(const json::value& v) {
  if (v.is_string()) return std::string(v.get_string());
  return Serialize(v);
}

struct MultipartPart {
  std::string name;
  std::string filename;
  std::string content;
};

// multipart/form-data (RFC 7578): the parts of `body`.
Result<std::vector<MultipartPart>> ParseMultipart(std::string_view content_type,
                                                  std::string_view body) {
  size_t b = content_type.find("boundary=");
  if (content_type.find("multipart/form-data") == std::string_view::npos ||
      b == std::string_view::npos) {
    return InvalidArgument("the upload must be multipart/form-data with a boundary");
  }
  std::string boundary(content_type.substr(b + 9));
  if (size_t semi = boundary.find(';'); semi != std::string::npos) boundary.resize(semi);
  if (boundary.size() >= 2 && boundary.front() == '"')
    boundary = boundary.substr(1, boundary.size() - 2);
  if (boundary.empty() || boundary.size() > 200) return InvalidArgument("bad multipart boundary");
  const std::string delim = "--" + boundary;
  std::vector<MultipartPart> parts;
  size_t pos = body.find(delim);
  if (pos == std::string_view::npos) return InvalidArgument("multipart body without parts");
  for (;;) {
    pos += delim.size();
    if (body.substr(pos, 2) == "--") break;  // the closing delimiter
    if (body.substr(pos, 2) != "\r\n") return InvalidArgument("malformed multipart body");
    pos += 2;
    size_t head_end = body.find("\r\n\r\n", pos);
    if (head_end == std::string_view::npos) return InvalidArgument("malformed multipart headers");
    std::string_view head = body.substr(pos, head_end - pos);
    size_t next = body.find("\r\n" + delim, head_end + 4);
    if (next == std::string_view::npos) return InvalidArgument("unterminated multipart part");
    MultipartPart part;
    part.content = std::string(body.substr(head_end + 4, next - head_end - 4));
    // Content-Disposition: form-data; name="uploadfile"; filename="x.yaml"
    auto param = [&](std::string_view key) -> std::string {
      std::string needle = std::string(key) + "=\"";
      size_t k = 0;
      while ((k = head.find(needle, k)) != std::string_view::npos) {
        if (k == 0 || head[k - 1] == ' ' || head[k - 1] == ';') {
          size_t start = k + needle.size();
          size_t end = head.find('"', start);
          if (end == std::string_view::npos) return {};
          return std::string(head.substr(start, end - start));
        }
        k += needle.size();
      }
      return {};
    };
    part.name = param("name");
    part.filename = param("filename");
    parts.push_back(std::move(part));
    pos = next + 2;
  }
  return parts;
}

// ---- list schemas ----

FieldSpec F(std::string api, std::string row, FieldType t = FieldType::kString) {
  FieldSpec f;
  f.api_name = std::move(api);
  f.row_key = std::move(row);
  f.type = t;
  return f;
}

const std::map<std::string, std::string> kV1StorageAliases = {
    {"STORAGESTATE_AVAILABLE", "AVAILABLE"},
    {"STORAGESTATE_ARCHIVED", "ARCHIVED"},
    {"STORAGESTATE_UNSPECIFIED", "STORAGE_STATE_UNSPECIFIED"}};

ResourceSchema Schema(std::string type, std::vector<FieldSpec> fields, const std::string& secret) {
  ResourceSchema s;
  s.type_name = std::move(type);
  s.default_sort = "created_at";
  s.fields = std::move(fields);
  s.token_secret = secret;
  return s;
}

}  // namespace

class KfpApi::Impl {
 public:
  Impl(Catalog& catalog, Engine& engine, const authz::Authorizer* authorizer, KfpApiOptions options)
      : catalog_(catalog), engine_(engine), authorizer_(authorizer), options_(std::move(options)) {
    const std::string& k = options_.token_secret;
    const FieldType ms = FieldType::kTimestampMillis;
    FieldSpec v1_storage = F("storage_state", "storage_state");
    v1_storage.value_aliases = kV1StorageAliases;
    schemas_[0][static_cast<int>(Kind::kPipeline)] =
        Schema("Pipeline",
               {F("id", ""), F("name", "name"), F("created_at", "created_at", ms),
                F("description", "description")},
               k);
    schemas_[1][static_cast<int>(Kind::kPipeline)] =
        Schema("Pipeline",
               {F("pipeline_id", ""), F("display_name", "name"), F("name", "name"),
                F("created_at", "created_at", ms), F("description", "description"),
                F("namespace", "namespace")},
               k);
    schemas_[0][static_cast<int>(Kind::kVersion)] =
        Schema("PipelineVersion",
               {F("id", ""), F("name", "name"), F("created_at", "created_at", ms),
                F("description", "description")},
               k);
    schemas_[1][static_cast<int>(Kind::kVersion)] =
        Schema("PipelineVersion",
               {F("pipeline_version_id", ""), F("display_name", "name"), F("name", "name"),
                F("created_at", "created_at", ms), F("description", "description")},
               k);
    schemas_[0][static_cast<int>(Kind::kExperiment)] =
        Schema("Experiment",
               {F("id", ""), F("name", "name"), F("created_at", "created_at", ms),
                F("description", "description"), v1_storage},
               k);
    schemas_[1][static_cast<int>(Kind::kExperiment)] =
        Schema("Experiment",
               {F("experiment_id", ""), F("display_name", "name"), F("name", "name"),
                F("created_at", "created_at", ms), F("description", "description"),
                F("storage_state", "storage_state"), F("namespace", "namespace")},
               k);
    schemas_[0][static_cast<int>(Kind::kRun)] =
        Schema("Run",
               {F("id", ""), F("name", "name"), F("created_at", "created_at", ms),
                F("scheduled_at", "created_at", ms), F("finished_at", "finished_at", ms),
                F("description", "description"), F("status", "status"), v1_storage},
               k);
    schemas_[1][static_cast<int>(Kind::kRun)] = Schema(
        "Run",
        {F("run_id", ""), F("display_name", "name"), F("name", "name"),
         F("created_at", "created_at", ms), F("scheduled_at", "created_at", ms),
         F("finished_at", "finished_at", ms), F("description", "description"), F("state", "state"),
         F("storage_state", "storage_state"), F("experiment_id", "experiment_id"),
         F("pipeline_version_id", "pipeline_version_id"), F("namespace", "namespace")},
        k);
    schemas_[0][static_cast<int>(Kind::kRecurringRun)] =
        Schema("Job",
               {F("id", ""), F("name", "name"), F("created_at", "created_at", ms),
                F("description", "description")},
               k);
    schemas_[1][static_cast<int>(Kind::kRecurringRun)] =
        Schema("RecurringRun",
               {F("recurring_run_id", ""), F("display_name", "name"), F("name", "name"),
                F("created_at", "created_at", ms), F("description", "description"),
                F("experiment_id", "experiment_id"), F("namespace", "namespace")},
               k);
  }

  http::Response Handle(http::Request& req);
  Status FireRecurringRun(const Record& job, int64_t scheduled_at);
  int64_t ActiveRunsOf(const std::string& recurring_id) const {
    int64_t n = 0;
    for (const RecordPtr& r : catalog_.Where(Kind::kRun, "recurring_run_id", recurring_id)) {
      std::string st = KfpRunState(r->status);
      if (st == "PENDING" || st == "RUNNING" || st == "CANCELING") ++n;
    }
    return n;
  }

 private:
  struct Ctx {
    http::Request& req;
    ApiVersion v;
    const Principal& who;
    std::vector<std::string> seg;  // after /apis/vXbeta1
    std::string body;  // when set, the response body as is (lists assemble it from cached items)
  };

  // Serialized list items of records whose rendering depends on nothing but the record (runs:
  // their experiment's name and pipeline root never change), kept per record version so that
  // paging and polling a list serializes each run once, not once per page view.
  struct ItemCache {
    std::mutex mu;  // guards items and bytes
    std::unordered_map<const Record*, std::pair<RecordPtr, std::string>> items;
    size_t bytes = 0;  // of the texts in items
  };
  // What one ItemCache may hold: a big run renders to 100 KB or more (its pipeline spec and a
  // task detail per node), and a client reading every run of a large namespace would otherwise
  // keep gigabytes, and every stale version's record with them.
  static constexpr size_t kItemCacheBytes = size_t{32} << 20;

  // ---- authorization ----
  Status Authorize(const Principal& who, std::string verb, std::string resource,
                   std::string subresource, const std::string& ns, const std::string& name) const {
    if (authorizer_ == nullptr) return Status();
    authz::Attributes a{std::move(verb),
                        std::string(kGroup),
                        std::move(resource),
                        std::move(subresource),
                        ns,
                        name};
    authz::Decision d = authorizer_->Decide(who, a);
    if (!d.allowed) return PermissionDenied(d.reason);
    return Status();
  }

  // Pipelines: namespaced ones by RBAC, shared ones readable and uploadable by everyone,
  // deletable by cluster admins and their uploader.
  Status AuthorizePipeline(const Principal& who, const std::string& verb, const Record* p,
                           const std::string& ns, std::string subresource = {}) const {
    if (!ns.empty())
      return Authorize(who, verb, "pipelines", std::move(subresource), ns, p ? p->id : "");
    if (verb == "get" || verb == "list" || verb == "create") return Status();
    if (who.cluster_admin || (p != nullptr && Str(p->spec, "owner") == who.name)) return Status();
    if (authorizer_ != nullptr &&
        authorizer_->Allows(who, {verb, std::string(kGroup), "pipelines", "", "", ""})) {
      return Status();
    }
    return PermissionDenied(who.name + " may not \"" + verb +
                            "\" the shared pipeline: only a cluster admin or its uploader may");
  }

  // ---- rows ----
  Row MakeRow(Kind kind, const Record& r) const {
    Row row;
    row.id = r.id;
    row.fields["name"] = Str(r.spec, "display_name");
    row.fields["created_at"] = r.created_at_ms;
    row.fields["description"] = Str(r.spec, "description");
    row.fields["namespace"] = r.ns;
    if (kind == Kind::kExperiment || kind == Kind::kRun) {
      std::string st = Str(r.spec, "storage_state");
      row.fields["storage_state"] = st.empty() ? std::string("AVAILABLE") : st;
    }
    if (kind == Kind::kRecurringRun) row.fields["experiment_id"] = Str(r.spec, "experiment_id");
    if (kind == Kind::kRun) {
      row.fields["experiment_id"] = Str(r.spec, "experiment_id");
      row.fields["pipeline_version_id"] = Str(r.spec, "pipeline_version_id");
      row.fields["state"] = KfpRunState(r.status);
      row.fields["status"] = Str(r.status, "phase");
      int64_t fin = Int(r.status, "finishedAtMs");
      if (fin != 0) row.fields["finished_at"] = fin;
    }
    return row;
  }

  // The rows of records, built once per record version.
  std::vector<std::shared_ptr<const Row>> Rows(Kind kind, const std::vector<RecordPtr>& recs) {
    std::vector<std::shared_ptr<const Row>> out;
    out.reserve(recs.size());
    std::lock_guard lock(rows_mu_);
    auto& cache = rows_[static_cast<int>(kind)];
    // Keyed by the immutable record itself: a changed record is a new pointer, and a pointer
    // hashes far faster than an id.
    for (const RecordPtr& r : recs) {
      auto [it, inserted] = cache.try_emplace(r.get());
      if (inserted) it->second = {r, std::make_shared<const Row>(MakeRow(kind, *r))};
      out.push_back(it->second.second);
    }
    if (cache.size() > recs.size() * 2 + 1024) {
      std::erase_if(cache, [&](const auto& e) {
        return catalog_.Get(kind, e.second.first->id) != e.second.first;
      });
    }
    return out;
  }

  // Lists `recs` (already scoped) per the request's paging/sort/filter. Fills `items` with the
  // rendered records.
  // The listable rows of a scope (a namespace's or an experiment's records of a kind), kept
  // while the catalog's generation of that kind stays the same, so paging through an unchanged
  // collection does not gather and rank every record again for each page.
  struct ScopeRows {
    uint64_t generation = 0;
    bool kept = false;  // cached across requests (Scoped), not built for one list
    std::vector<std::shared_ptr<const Row>> rows;  // keeps `ptrs` alive
    std::vector<const Row*> ptrs;
    // For kept scopes: the orders pages asked for (listing's Order), by
    // OrderKey, so each further page is a binary search.
    mutable std::mutex orders_mu;  // guards orders
    mutable std::unordered_map<std::string, std::shared_ptr<const std::vector<uint32_t>>> orders;
    std::shared_ptr<const std::vector<uint32_t>> OrderFor(const ListQuery& q) const {
      std::string key = OrderKey(q);
      {
        std::lock_guard lock(orders_mu);
        if (auto it = orders.find(key); it != orders.end()) return it->second;
      }
      auto order = std::make_shared<const std::vector<uint32_t>>(
          Order(q, std::span<const Row* const>(ptrs)));
      std::lock_guard lock(orders_mu);
      if (orders.size() >= 16) orders.clear();  // a few sorts and filters are in use at once
      return orders.try_emplace(std::move(key), std::move(order)).first->second;
    }
  };
  std::shared_ptr<const ScopeRows> MakeScopeRows(Kind kind, const std::vector<RecordPtr>& recs,
                                                 uint64_t generation, bool kept) {
    auto scope = std::make_shared<ScopeRows>();
    scope->generation = generation;
    scope->kept = kept;
    scope->rows = Rows(kind, recs);
    scope->ptrs.reserve(scope->rows.size());
    for (const auto& row : scope->rows) scope->ptrs.push_back(row.get());
    return scope;
  }

  Result<json::object> List(Ctx& c, Kind kind, const std::vector<RecordPtr>& recs,
                            std::string_view items_key,
                            const std::function<json::object(const Record&)>& render,
                            ItemCache* cache = nullptr) {
    return List(c, kind, MakeScopeRows(kind, recs, 0, false), items_key, render, cache);
  }

  // `render` of each record, serialized; from `cache` (when given) while the record is the same.
  std::vector<std::string> Serialized(Kind kind, const std::vector<const Row*>& rows,
                                      const std::function<json::object(const Record&)>& render,
                                      ItemCache* cache) {
    std::vector<std::string> out;
    out.reserve(rows.size());
    for (const Row* row : rows) {
      RecordPtr rec = catalog_.Get(kind, row->id);
      if (rec == nullptr) continue;  // deleted meanwhile
      if (cache == nullptr) {
        out.push_back(Serialize(render(*rec)));
        continue;
      }
      out.push_back(CachedText(kind, rec, render, *cache));
    }
    return out;
  }

  // `render` of `rec`, serialized; from `cache` while the record is the same version (a run
  // polled by a client is rendered once per change, not once per poll).
  std::string CachedText(Kind kind, const RecordPtr& rec,
                         const std::function<json::object(const Record&)>& render,
                         ItemCache& cache) {
    {
      std::lock_guard lock(cache.mu);
      auto it = cache.items.find(rec.get());
      if (it != cache.items.end()) return it->second.second;
    }
    std::string text = Serialize(render(*rec));
    if (text.size() > kItemCacheBytes / 16) return text;  // kept, it would crowd out the rest
    std::lock_guard lock(cache.mu);
    if (cache.items.size() >= catalog_.Count(kind) * 2 + 1024 ||
        cache.bytes + text.size() > kItemCacheBytes) {
      // Versions no longer current go first; then, still too full, everything.
      std::erase_if(cache.items, [&](const auto& e) {
        const bool stale = catalog_.Get(kind, e.second.first->id) != e.second.first;
        if (stale) cache.bytes -= e.second.second.size();
        return stale;
      });
      if (cache.bytes + text.size() > kItemCacheBytes) {
        cache.items.clear();
        cache.bytes = 0;
      }
    }
    if (cache.items.try_emplace(rec.get(), rec, text).second) cache.bytes += text.size();
    return text;
  }

  Result<json::object> List(Ctx& c, Kind kind, const std::shared_ptr<const ScopeRows>& scope,
                            std::string_view items_key,
                            const std::function<json::object(const Record&)>& render,
                            ItemCache* cache = nullptr) {
    ListParams p;
    p.page_token = c.req.Query("page_token").value_or("");
    p.page_size = c.req.Query("page_size").value_or("");
    p.sort_by = c.req.Query("sort_by").value_or("");
    p.filter = c.req.Query("filter").value_or("");
    const ResourceSchema& schema =
        schemas_[c.v == ApiVersion::kV1beta1 ? 0 : 1][static_cast<int>(kind)];
    SKIFF_ASSIGN_OR_RETURN(ListQuery q, ParseListQuery(c.v, p, schema));
    std::span<const Row* const> rows(scope->ptrs);
    ListPage page = scope->kept ? ApplyOrdered(q, rows, *scope->OrderFor(q)) : Apply(q, rows);
    std::vector<std::string> items = Serialized(kind, page.items, render, cache);
    // {"<items_key>": [...], "total_size": N, "next_page_token": "..."}, as KFP orders them.
    size_t size = 64 + page.next_page_token.size();
    for (const std::string& item : items) size += item.size() + 1;
    std::string& body = c.body;
    body.reserve(size);
    body += '{';
    if (!items.empty()) {
      body += Serialize(json::value(items_key));
      body += ":[";
      for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0) body += ',';
        body += items[i];
      }
      body += "],";
    }
    body += "\"total_size\":";
    body += std::to_string(page.total_size);
    if (!page.next_page_token.empty()) {
      body += ",\"next_page_token\":";
      body += Serialize(json::value(page.next_page_token));
    }
    body += '}';
    return json::object();
  }

  // ---- renderers ----
  json::object PipelineV1(const Record& p) const {
    json::object o{{"id", p.id},
                   {"created_at", Ts(p.created_at_ms)},
                   {"name", Str(p.spec, "display_name")},
                   {"description", Str(p.spec, "description")}};
    std::string dv = Str(p.spec, "default_version_id");
    if (RecordPtr v = dv.empty() ? nullptr : catalog_.Get(Kind::kVersion, dv)) {
      json::object version = VersionV1(*v);
      if (const json::value* params = version.if_contains("parameters")) o["parameters"] = *params;
      o["default_version"] = std::move(version);
    }
    if (!p.ns.empty()) {
      o["resource_references"] = json::array{json::object{
          {"key", json::object{{"type", "NAMESPACE"}, {"id", p.ns}}}, {"relationship", "OWNER"}}};
    }
    std::string url = Str(p.spec, "package_url");
    if (!url.empty()) o["url"] = json::object{{"pipeline_url", url}};
    return o;
  }
  json::object PipelineV2(const Record& p) const {
    json::object o{{"pipeline_id", p.id},
                   {"display_name", Str(p.spec, "display_name")},
                   {"name", Str(p.spec, "display_name")},
                   {"description", Str(p.spec, "description")},
                   {"created_at", Ts(p.created_at_ms)}};
    if (!p.ns.empty()) o["namespace"] = p.ns;
    return o;
  }
  static json::array V1Parameters(const Record& v) {
    json::array out;
    if (const json::value* ps = v.spec.if_contains("parameters"); ps && ps->is_array()) {
      for (const json::value& p : ps->get_array()) {
        if (!p.is_object()) continue;
        json::object e{{"name", Str(p.get_object(), "name")}};
        if (const json::value* d = p.get_object().if_contains("default"))
          e["value"] = ValueText(*d);
        out.emplace_back(std::move(e));
      }
    }
    return out;
  }
  json::object VersionV1(const Record& v) const {
    json::object o{
        {"id", v.id},
        {"name", Str(v.spec, "display_name")},
        {"created_at", Ts(v.created_at_ms)},
        {"description", Str(v.spec, "description")},
        {"resource_references",
         json::array{json::object{
             {"key", json::object{{"type", "PIPELINE"}, {"id", Str(v.spec, "pipeline_id")}}},
             {"relationship", "OWNER"}}}}};
    json::array params = V1Parameters(v);
    if (!params.empty()) o["parameters"] = std::move(params);
    if (std::string u = Str(v.spec, "code_source_url"); !u.empty()) o["code_source_url"] = u;
    if (std::string u = Str(v.spec, "package_url"); !u.empty()) {
      o["package_url"] = json::object{{"pipeline_url", u}};
    }
    return o;
  }
  json::object VersionV2(const Record& v) const {
    json::object o{
        {"pipeline_id", Str(v.spec, "pipeline_id")},   {"pipeline_version_id", v.id},
        {"display_name", Str(v.spec, "display_name")}, {"name", Str(v.spec, "display_name")},
        {"description", Str(v.spec, "description")},   {"created_at", Ts(v.created_at_ms)}};
    if (std::string u = Str(v.spec, "code_source_url"); !u.empty()) o["code_source_url"] = u;
    if (std::string u = Str(v.spec, "package_url"); !u.empty()) {
      o["package_url"] = json::object{{"pipeline_url", u}};
    }
    if (auto f = ReadPipelineFileCached(Str(v.spec, "manifest"))) {
      o["pipeline_spec"] = (*f)->spec;
    }
    return o;
  }
  json::object ExperimentV1(const Record& e) const {
    std::string st = Str(e.spec, "storage_state");
    return json::object{
        {"id", e.id},
        {"name", Str(e.spec, "display_name")},
        {"description", Str(e.spec, "description")},
        {"created_at", Ts(e.created_at_ms)},
        {"resource_references",
         json::array{json::object{{"key", json::object{{"type", "NAMESPACE"}, {"id", e.ns}}},
                                  {"relationship", "OWNER"}}}},
        {"storage_state", st == "ARCHIVED" ? "STORAGESTATE_ARCHIVED" : "STORAGESTATE_AVAILABLE"}};
  }
  json::object ExperimentV2(const Record& e) const {
    std::string st = Str(e.spec, "storage_state");
    json::object o{{"experiment_id", e.id},
                   {"display_name", Str(e.spec, "display_name")},
                   {"description", Str(e.spec, "description")},
                   {"created_at", Ts(e.created_at_ms)},
                   {"namespace", e.ns},
                   {"storage_state", st.empty() ? "AVAILABLE" : st}};
    o["last_run_created_at"] = Ts(LastRunCreatedAt(e.id));
    return o;
  }

  // The newest run's creation time per experiment, from one pass over the runs per catalog
  // generation (a page of experiments does not scan every run once per experiment).
  int64_t LastRunCreatedAt(const std::string& experiment_id) const {
    const uint64_t generation = catalog_.Generation(Kind::kRun);
    std::lock_guard lock(last_run_mu_);
    if (!last_run_valid_ || last_run_generation_ != generation) {
      last_run_.clear();
      for (const RecordPtr& r : catalog_.All(Kind::kRun)) {
        int64_t& v = last_run_[Str(r->spec, "experiment_id")];
        v = std::max(v, r->created_at_ms);
      }
      last_run_generation_ = generation;
      last_run_valid_ = true;
    }
    auto it = last_run_.find(experiment_id);
    return it == last_run_.end() ? 0 : it->second;
  }

  static json::array NodeParams(const json::object& params) {
    json::array a;
    for (const auto& [k, v] : params)
      a.emplace_back(json::object{{"name", k}, {"value", ValueText(v)}});
    return a;
  }

  // The run as an Argo Workflow with live node statuses (v1's workflow_manifest).
  json::object Workflow(const Record& r) const {
    json::object wf;
    auto file = ReadPipelineFileCached(Str(r.spec, "manifest"));
    if (file && (*file)->format == "argo") {
      wf = (*file)->spec;
    } else {
      wf = json::object{{"apiVersion", "argoproj.io/v1alpha1"}, {"kind", "Workflow"}};
      if (file) wf["spec"] = json::object{{"pipelineSpec", (*file)->spec}};
    }
    json::object& md = EnsureObject(wf, "metadata");
    md.erase("generateName");
    md["name"] = Str(r.spec, "run_name");
    md["namespace"] = r.ns;
    md["uid"] = r.id;
    md["creationTimestamp"] = Ts(r.created_at_ms);
    auto state = RunStateOf(r);
    json::object status;
    if (state) {
      status["phase"] = r.status.empty() ? "Pending" : std::string(RunPhaseName(state->phase));
      if (state->started_at_ms) status["startedAt"] = Ts(state->started_at_ms);
      status["finishedAt"] =
          state->finished_at_ms ? json::value(Ts(state->finished_at_ms)) : nullptr;
      if (!state->message.empty()) status["message"] = state->message;
      json::object nodes;
      for (const auto& [id, n] : state->nodes) {
        json::object o{{"id", n.id},
                       {"name", n.name},
                       {"displayName", n.display_name},
                       {"type", n.type},
                       {"templateName", n.template_name},
                       {"phase", NodePhaseName(n.phase)}};
        if (!n.boundary_id.empty()) o["boundaryID"] = n.boundary_id;
        if (!n.children.empty()) {
          json::array ch;
          for (const std::string& c : n.children) ch.emplace_back(c);
          o["children"] = std::move(ch);
        }
        if (!n.message.empty()) o["message"] = n.message;
        if (n.started_at_ms) o["startedAt"] = Ts(n.started_at_ms);
        if (n.finished_at_ms) o["finishedAt"] = Ts(n.finished_at_ms);
        if (!n.inputs.empty()) o["inputs"] = json::object{{"parameters", NodeParams(n.inputs)}};
        json::object outputs;
        if (!n.output_parameters.empty()) outputs["parameters"] = NodeParams(n.output_parameters);
        if (!n.output_artifacts.empty()) {
          json::array arts;
          for (const Artifact& a : n.output_artifacts) {
            arts.emplace_back(json::object{{"name", a.name}, {"path", a.path}, {"uri", a.uri}});
          }
          outputs["artifacts"] = std::move(arts);
        }
        if (n.result) outputs["result"] = *n.result;
        if (n.exit_code) outputs["exitCode"] = std::to_string(*n.exit_code);
        if (!outputs.empty()) o["outputs"] = std::move(outputs);
        if (n.cached)
          o["memoizationStatus"] =
              json::object{{"hit", true}, {"key", n.launch ? n.launch->cache_key : ""}};
        nodes[id] = std::move(o);
      }
      status["nodes"] = std::move(nodes);
    }
    wf["status"] = std::move(status);
    return wf;
  }

  json::object RunV1(const Record& r) const {
    json::object spec{{"pipeline_id", Str(r.spec, "pipeline_id")},
                      {"pipeline_name", Str(r.spec, "pipeline_name")},
                      {"workflow_manifest", Str(r.spec, "manifest")}};
    json::array params;
    if (const json::object* p = GetObject(r.spec, "parameters")) params = NodeParams(*p);
    spec["parameters"] = std::move(params);
    json::array refs;
    std::string exp = Str(r.spec, "experiment_id");
    if (!exp.empty()) {
      RecordPtr e = catalog_.Get(Kind::kExperiment, exp);
      refs.emplace_back(json::object{{"key", json::object{{"type", "EXPERIMENT"}, {"id", exp}}},
                                     {"name", e ? Str(e->spec, "display_name") : ""},
                                     {"relationship", "OWNER"}});
    }
    refs.emplace_back(json::object{{"key", json::object{{"type", "NAMESPACE"}, {"id", r.ns}}},
                                   {"relationship", "OWNER"}});
    if (std::string v = Str(r.spec, "pipeline_version_id"); !v.empty()) {
      refs.emplace_back(json::object{{"key", json::object{{"type", "PIPELINE_VERSION"}, {"id", v}}},
                                     {"relationship", "CREATOR"}});
    }
    std::string st = Str(r.spec, "storage_state");
    std::string phase = r.status.empty() ? std::string() : Str(r.status, "phase");
    json::object o{
        {"id", r.id},
        {"name", Str(r.spec, "display_name")},
        {"description", Str(r.spec, "description")},
        {"storage_state", st == "ARCHIVED" ? "STORAGESTATE_ARCHIVED" : "STORAGESTATE_AVAILABLE"},
        {"pipeline_spec", std::move(spec)},
        {"resource_references", std::move(refs)},
        {"service_account", Str(r.spec, "service_account")},
        {"created_at", Ts(r.created_at_ms)},
        {"scheduled_at", Ts(r.created_at_ms)},
        {"finished_at", Ts(Int(r.status, "finishedAtMs"))},
        {"status", phase}};
    std::string msg = Str(r.status, "message");
    if (!msg.empty() && (phase == "Failed" || phase == "Error")) o["error"] = msg;
    if (std::string j = Str(r.spec, "recurring_run_id"); !j.empty()) {
      o["resource_references"].as_array().emplace_back(json::object{
          {"key", json::object{{"type", "JOB"}, {"id", j}}}, {"relationship", "CREATOR"}});
    }
    return o;
  }
  json::object RunDetailV1(const Record& r) const {
    return json::object{
        {"run", RunV1(r)},
        {"pipeline_runtime", json::object{{"workflow_manifest", Serialize(Workflow(r))}}}};
  }

  static std::string TaskState(const Node& n, bool canceled) {
    if (n.cached) return "CACHED";
    switch (n.phase) {
      case NodePhase::kPending:
        return "PENDING";
      case NodePhase::kRunning:
        return "RUNNING";
      case NodePhase::kSucceeded:
        return "SUCCEEDED";
      case NodePhase::kSkipped:
      case NodePhase::kOmitted:
        return "SKIPPED";
      case NodePhase::kFailed:
      case NodePhase::kError:
        return canceled ? "CANCELED" : "FAILED";
    }
    return "RUNTIME_STATE_UNSPECIFIED";
  }

  json::object RunV2(const Record& r) const {
    json::object o{
        {"run_id", r.id},
        {"experiment_id", Str(r.spec, "experiment_id")},
        {"display_name", Str(r.spec, "display_name")},
        {"description", Str(r.spec, "description")},
        {"storage_state", Str(r.spec, "storage_state").empty() ? std::string("AVAILABLE")
                                                               : Str(r.spec, "storage_state")},
        {"service_account", Str(r.spec, "service_account")},
        {"created_at", Ts(r.created_at_ms)},
        {"scheduled_at", Ts(r.created_at_ms)},
        {"finished_at", Ts(Int(r.status, "finishedAtMs"))},
        {"state", KfpRunState(r.status)}};
    if (std::string v = Str(r.spec, "pipeline_version_id"); !v.empty()) {
      o["pipeline_version_reference"] =
          json::object{{"pipeline_id", Str(r.spec, "pipeline_id")}, {"pipeline_version_id", v}};
      o["pipeline_version_id"] = v;
    } else if (auto f = ReadPipelineFileCached(Str(r.spec, "manifest"))) {
      o["pipeline_spec"] = (*f)->spec;
    }
    json::object rc{{"pipeline_root", engine_.PipelineRoot(r.ns, r.id)}};
    if (const json::object* p = GetObject(r.spec, "parameters")) rc["parameters"] = *p;
    o["runtime_config"] = std::move(rc);
    if (std::string j = Str(r.spec, "recurring_run_id"); !j.empty()) o["recurring_run_id"] = j;
    std::string state = KfpRunState(r.status);
    if (state == "FAILED" || state == "CANCELED") {
      o["error"] = json::object{{"code", 2}, {"message", Str(r.status, "message")}};
    }
    json::array tasks;
    if (auto s = RunStateOf(r)) {
      bool canceled = !s->shutdown.empty();
      for (const auto& [id, n] : s->nodes) {
        json::object t{{"run_id", r.id},
                       {"task_id", n.id},
                       {"display_name", n.display_name},
                       {"create_time", Ts(n.started_at_ms ? n.started_at_ms : r.created_at_ms)},
                       {"state", TaskState(n, canceled)}};
        if (n.started_at_ms) t["start_time"] = Ts(n.started_at_ms);
        if (n.finished_at_ms) t["end_time"] = Ts(n.finished_at_ms);
        if (!n.parent.empty()) t["parent_task_id"] = n.parent;
        if (n.type == "Pod") t["pod_name"] = n.id;
        if (!n.message.empty() && (n.phase == NodePhase::kFailed || n.phase == NodePhase::kError)) {
          t["error"] = json::object{{"code", 2}, {"message", n.message}};
        }
        json::object inputs;
        if (!n.inputs.empty()) inputs["parameters"] = n.inputs;
        if (!inputs.empty()) t["inputs"] = std::move(inputs);
        json::object outputs;
        if (!n.output_parameters.empty()) outputs["parameters"] = n.output_parameters;
        if (!n.output_artifacts.empty()) {
          json::object arts;
          for (const Artifact& a : n.output_artifacts) {
            arts[a.name] = json::object{{"uri", a.uri}, {"metadata", a.metadata}};
          }
          outputs["artifacts"] = std::move(arts);
        }
        if (!outputs.empty()) t["outputs"] = std::move(outputs);
        if (!n.children.empty()) {
          json::array ch;
          for (const std::string& c : n.children) {
            const Node* cn = s->Find(c);
            json::object e{{"task_id", c}};
            if (cn && cn->type == "Pod") e["pod_name"] = c;
            ch.emplace_back(std::move(e));
          }
          t["child_tasks"] = std::move(ch);
        }
        tasks.emplace_back(std::move(t));
      }
    }
    o["run_details"] = json::object{{"task_details", std::move(tasks)}};
    return o;
  }

  // ---- operations ----
  Result<RecordPtr> RequireRecord(Kind kind, const std::string& id) const {
    RecordPtr r = catalog_.Get(kind, id);
    if (r == nullptr) {
      std::string noun(KindNoun(kind));
      return NotFound(noun + " " + id + " not found");
    }
    return r;
  }

  Result<std::string> FetchUrl(const std::string& url) const {
    if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
      return InvalidArgument("pipeline_url: only http:// and https:// URLs can be fetched (got \"" +
                             url.substr(0, 100) + "\")");
    }
    http::ClientRequest cr;
    cr.url = url;
    cr.timeout = options_.fetch_timeout;
    cr.max_response_bytes = options_.max_fetch_bytes;
    if (!options_.fetch_private_addresses) cr.allow_address = http::IsPublicAddress;
    auto resp = http::Fetch(cr);
    if (!resp && resp.error().code() == Code::kPermissionDenied) {
      return InvalidArgument("pipeline_url: " + resp.error().message() +
                             "; an administrator may allow such addresses with "
                             "pipelines.fetchPrivateAddresses");
    }
    if (!resp)
      return InvalidArgument("pipeline_url: cannot fetch " + url + ": " + resp.error().message());
    if (resp->status != 200) {
      return InvalidArgument("pipeline_url: fetching " + url + " answered HTTP " +
                             std::to_string(resp->status));
    }
    return std::move(resp->body);
  }

  static json::array ParameterList(const Program& program) {
    json::array out;
    for (const ParameterInfo& p : program.parameters()) {
      json::object e{{"name", p.name}, {"type", p.type}};
      if (p.default_value) e["default"] = *p.default_value;
      if (!p.description.empty()) e["description"] = p.description;
      out.emplace_back(std::move(e));
    }
    return out;
  }

  // A pipeline file, checked (compiled) before anything is stored.
  Result<std::shared_ptr<const PipelineFile>> CheckFile(const std::string& text) const {
    auto f = ReadPipelineFileCached(text);
    if (!f) return InvalidArgument("Failed to read the pipeline file: " + f.error().message());
    return f;
  }

  Result<RecordPtr> CreateVersion(const Principal& who, const Record& pipeline, std::string name,
                                  std::string description, const std::string& text,
                                  std::string package_url, std::string code_source_url) {
    SKIFF_ASSIGN_OR_RETURN(std::shared_ptr<const PipelineFile> f, CheckFile(text));
    if (name.empty()) name = f->program->name();
    if (name.empty()) return InvalidArgument("the pipeline version needs a name");
    for (const RecordPtr& v : catalog_.Where(Kind::kVersion, "pipeline_id", pipeline.id)) {
      if (Str(v->spec, "display_name") == name) {
        return AlreadyExists("a version named \"" + name + "\" already exists in pipeline " +
                             pipeline.id);
      }
    }
    json::object spec{{"pipeline_id", pipeline.id}, {"display_name", name},
                      {"description", description}, {"manifest", text},
                      {"format", f->format},        {"parameters", ParameterList(*f->program)},
                      {"owner", who.name}};
    if (!package_url.empty()) spec["package_url"] = package_url;
    if (!code_source_url.empty()) spec["code_source_url"] = code_source_url;
    SKIFF_ASSIGN_OR_RETURN(RecordPtr v,
                           catalog_.Create(Kind::kVersion, pipeline.ns, std::move(spec)));
    auto updated = catalog_.Update(Kind::kPipeline, pipeline.id, [&](Record& p) {
      p.spec["default_version_id"] = v->id;
      return Status();
    });
    if (!updated) return updated.error();
    return v;
  }

  Result<std::pair<RecordPtr, RecordPtr>> CreatePipeline(const Principal& who, std::string ns,
                                                         std::string name, std::string description,
                                                         const std::string& text,
                                                         std::string package_url,
                                                         std::string version_name = {}) {
    SKIFF_ASSIGN_OR_RETURN(std::shared_ptr<const PipelineFile> f, CheckFile(text));
    if (name.empty()) name = f->program->name();
    if (name.empty()) return InvalidArgument("the pipeline needs a name");
    if (description.empty()) description = f->program->description();
    for (const RecordPtr& p : catalog_.All(Kind::kPipeline)) {
      if (p->ns == ns && Str(p->spec, "display_name") == name) {
        return AlreadyExists("Failed to create a new pipeline. The name " + name +
                             " already exists. Please specify a new name");
      }
    }
    SKIFF_ASSIGN_OR_RETURN(RecordPtr p,
                           catalog_.Create(Kind::kPipeline, ns,
                                           json::object{{"display_name", name},
                                                        {"description", description},
                                                        {"owner", who.name},
                                                        {"package_url", package_url}}));
    auto v = CreateVersion(who, *p, version_name.empty() ? name : version_name, description, text,
                           package_url, "");
    if (!v) {
      (void)catalog_.Delete({{Kind::kPipeline, p->id}});
      return v.error();
    }
    return std::make_pair(catalog_.Get(Kind::kPipeline, p->id), *v);
  }

  Status DeletePipeline(const Principal& who, const std::string& id) {
    SKIFF_ASSIGN_OR_RETURN(RecordPtr p, RequireRecord(Kind::kPipeline, id));
    SKIFF_RETURN_IF_ERROR(AuthorizePipeline(who, "delete", p.get(), p->ns));
    std::vector<std::pair<Kind, std::string>> doomed;
    for (const RecordPtr& v : catalog_.Where(Kind::kVersion, "pipeline_id", id)) {
      doomed.emplace_back(Kind::kVersion, v->id);
    }
    doomed.emplace_back(Kind::kPipeline, id);
    return catalog_.Delete(doomed);
  }

  Status DeleteVersion(const Principal& who, const std::string& id) {
    SKIFF_ASSIGN_OR_RETURN(RecordPtr v, RequireRecord(Kind::kVersion, id));
    RecordPtr p = catalog_.Get(Kind::kPipeline, Str(v->spec, "pipeline_id"));
    SKIFF_RETURN_IF_ERROR(
        AuthorizePipeline(who, "delete", p ? p.get() : v.get(), v->ns, "versions"));
    SKIFF_RETURN_IF_ERROR(catalog_.Delete({{Kind::kVersion, id}}));
    if (p && Str(p->spec, "default_version_id") == id) {
      // The latest remaining version becomes the default, as KFP does.
      RecordPtr latest;
      for (const RecordPtr& o : catalog_.Where(Kind::kVersion, "pipeline_id", p->id)) {
        if (!latest || o->created_at_ms > latest->created_at_ms) latest = o;
      }
      auto u = catalog_.Update(Kind::kPipeline, p->id, [&](Record& r) {
        r.spec["default_version_id"] = latest ? latest->id : "";
        return Status();
      });
      if (!u) return u.error();
    }
    return Status();
  }

  Result<RecordPtr> CreateExperiment(const Principal& who, const std::string& ns, std::string name,
                                     std::string description) {
    if (ns.empty()) {
      return InvalidArgument(
          "Invalid input error: In multi-user mode, an experiment needs a namespace (a "
          "resource_reference of type NAMESPACE in v1beta1, `namespace` in v2beta1)");
    }
    if (name.empty())
      return InvalidArgument(
          "Invalid input error: Experiment name is empty. Please specify a valid experiment name");
    SKIFF_RETURN_IF_ERROR(Authorize(who, "create", "experiments", "", ns, ""));
    for (const RecordPtr& e : catalog_.All(Kind::kExperiment)) {
      if (e->ns == ns && Str(e->spec, "display_name") == name) {
        return AlreadyExists("Failed to create a new experiment. The name " + name +
                             " already exists. Please specify a new name");
      }
    }
    return catalog_.Create(Kind::kExperiment, ns,
                           json::object{{"display_name", name},
                                        {"description", description},
                                        {"storage_state", "AVAILABLE"},
                                        {"owner", who.name}});
  }

  Result<RecordPtr> DefaultExperiment(const Principal& who, const std::string& ns) {
    for (const RecordPtr& e : catalog_.All(Kind::kExperiment)) {
      if (e->ns == ns && Str(e->spec, "display_name") == "Default") return e;
    }
    auto e = CreateExperiment(
        who, ns, "Default", "All runs created without specifying an experiment are grouped here.");
    if (!e && e.error().code() == Code::kAlreadyExists) return DefaultExperiment(who, ns);
    return e;
  }

  Status SetStorage(const Principal& who, Kind kind, const std::string& id, bool archive) {
    SKIFF_ASSIGN_OR_RETURN(RecordPtr r, RequireRecord(kind, id));
    std::string resource = kind == Kind::kRun ? "runs" : "experiments";
    SKIFF_RETURN_IF_ERROR(
        Authorize(who, archive ? "archive" : "unarchive", resource, "", r->ns, r->id));
    std::string state = archive ? "ARCHIVED" : "AVAILABLE";
    auto u = catalog_.Update(kind, id, [&](Record& x) {
      x.spec["storage_state"] = state;
      return Status();
    });
    if (!u) return u.error();
    if (kind == Kind::kExperiment && archive) {
      // KFP archives the experiment's runs with it.
      for (const RecordPtr& run : catalog_.Where(Kind::kRun, "experiment_id", id)) {
        auto ur = catalog_.Update(Kind::kRun, run->id, [&](Record& x) {
          x.spec["storage_state"] = state;
          return Status();
        });
        if (!ur) return ur.error();
      }
    }
    return Status();
  }

  Status DeleteExperiment(const Principal& who, const std::string& id) {
    SKIFF_ASSIGN_OR_RETURN(RecordPtr e, RequireRecord(Kind::kExperiment, id));
    SKIFF_RETURN_IF_ERROR(Authorize(who, "delete", "experiments", "", e->ns, e->id));
    for (const RecordPtr& run : catalog_.Where(Kind::kRun, "experiment_id", id)) {
      std::string state = KfpRunState(run->status);
      if (state == "RUNNING" || state == "PENDING" || state == "CANCELING") {
        return FailedPrecondition("experiment " + id + " has runs that have not finished (run " +
                                  run->id + "); terminate them first");
      }
    }
    std::vector<std::pair<Kind, std::string>> doomed;
    for (const RecordPtr& run : catalog_.Where(Kind::kRun, "experiment_id", id)) {
      doomed.emplace_back(Kind::kRun, run->id);
    }
    doomed.emplace_back(Kind::kExperiment, id);
    return catalog_.Delete(doomed);
  }

  // What a new run runs, from whichever source the request names.
  struct RunSource {
    std::string manifest;
    std::string pipeline_id;
    std::string pipeline_name;
    std::string version_id;
  };

  Result<RunSource> SourceFromVersion(const Principal& who, const std::string& pipeline_id,
                                      std::string version_id) {
    if (version_id.empty()) {
      SKIFF_ASSIGN_OR_RETURN(RecordPtr p, RequireRecord(Kind::kPipeline, pipeline_id));
      version_id = Str(p->spec, "default_version_id");
      if (version_id.empty())
        return FailedPrecondition("pipeline " + pipeline_id + " has no version");
    }
    SKIFF_ASSIGN_OR_RETURN(RecordPtr v, RequireRecord(Kind::kVersion, version_id));
    std::string pid = Str(v->spec, "pipeline_id");
    if (!pipeline_id.empty() && pid != pipeline_id) {
      return InvalidArgument("pipeline version " + version_id + " does not belong to pipeline " +
                             pipeline_id);
    }
    RecordPtr p = catalog_.Get(Kind::kPipeline, pid);
    SKIFF_RETURN_IF_ERROR(AuthorizePipeline(who, "get", p.get(), v->ns, "versions"));
    return RunSource{Str(v->spec, "manifest"), pid, p ? Str(p->spec, "display_name") : "",
                     version_id};
  }

  // Run parameters converted to what the program takes: strings for Argo, typed values for IR
  // (v1beta1 gives strings; v2beta1 typed values).
  // Whether `v` is a value of the IR parameter type `type` (KFP's protobuf Value kinds; an
  // integral double is an integer, as the SDK writes 2.0 for 2).
  static bool FitsType(const json::value& v, const std::string& type) {
    if (type.empty() || type == "STRING") return v.is_string();
    if (type == "NUMBER_INTEGER") {
      return v.is_int64() || v.is_uint64() ||
             (v.is_double() &&
              v.get_double() == static_cast<double>(static_cast<int64_t>(v.get_double())));
    }
    if (type == "NUMBER_DOUBLE") return v.is_number();
    if (type == "BOOLEAN") return v.is_bool();
    if (type == "LIST") return v.is_array();
    if (type == "STRUCT") return v.is_object();
    return true;  // a type the reader accepted but this does not know: the program checks it
  }

  static Result<json::object> ConvertParameters(const Program& program, const json::object& given) {
    std::map<std::string, ParameterInfo> known;
    for (const ParameterInfo& p : program.parameters()) known[p.name] = p;
    json::object out;
    for (const auto& [k, v] : given) {
      std::string name(k);
      auto it = known.find(name);
      if (it == known.end()) {
        std::string names;
        for (const auto& [n, p] : known) names += (names.empty() ? "" : ", ") + n;
        return InvalidArgument("Invalid input error: the pipeline has no parameter \"" + name +
                               "\" (it takes: " + (names.empty() ? "none" : names) + ")");
      }
      if (program.format() == "argo") {
        out[k] = ValueText(v);
        continue;
      }
      const std::string& type = it->second.type;
      if (v.is_string() && type != "STRING" && !type.empty()) {
        std::string text(v.get_string());
        auto parsed = ParseJson(text);
        if (!parsed) {
          return InvalidArgument("Invalid input error: parameter \"" + name + "\": \"" + text +
                                 "\" is not a " + type);
        }
        out[k] = std::move(*parsed);
      } else {
        out[k] = v;
      }
      if (!FitsType(out[k], type)) {
        return InvalidArgument("Invalid input error: parameter \"" + name + "\" is a " + type +
                               "; " + Serialize(v).substr(0, 80) + " is not");
      }
    }
    for (const auto& [name, info] : known) {
      if (!info.default_value && !info.optional && !out.contains(name)) {
        return InvalidArgument("Invalid input error: the pipeline's parameter \"" + name + "\" (" +
                               (info.type.empty() ? std::string("STRING") : info.type) +
                               ") has no default value: the run must give one");
      }
    }
    return out;
  }

  Result<RecordPtr> CreateRun(const Principal& who, std::string ns, std::string experiment_id,
                              std::string display_name, std::string description, RunSource source,
                              const json::object& parameters, std::string service_account,
                              std::string recurring_run_id) {
    RecordPtr experiment;
    if (!experiment_id.empty()) {
      SKIFF_ASSIGN_OR_RETURN(experiment, RequireRecord(Kind::kExperiment, experiment_id));
      if (!ns.empty() && ns != experiment->ns) {
        return InvalidArgument("Invalid input error: the run's namespace \"" + ns +
                               "\" differs from its experiment's (\"" + experiment->ns + "\")");
      }
      ns = experiment->ns;
    }
    if (ns.empty()) {
      return InvalidArgument(
          "Invalid input error: In multi-user mode, a run needs an experiment or a namespace");
    }
    SKIFF_RETURN_IF_ERROR(Authorize(who, "create", "runs", "", ns, ""));
    if (experiment == nullptr) {
      SKIFF_ASSIGN_OR_RETURN(experiment, DefaultExperiment(who, ns));
    }
    if (Str(experiment->spec, "storage_state") == "ARCHIVED") {
      return FailedPrecondition("experiment " + experiment->id +
                                " is archived; unarchive it to add runs");
    }
    if (display_name.empty())
      return InvalidArgument(
          "Invalid input error: The run name is empty. Please specify a valid name");
    SKIFF_ASSIGN_OR_RETURN(std::shared_ptr<const PipelineFile> f, CheckFile(source.manifest));
    SKIFF_ASSIGN_OR_RETURN(json::object params, ConvertParameters(*f->program, parameters));
    std::string base = f->program->name();
    std::string run_name;
    for (char ch : base) {
      char c = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      run_name += (std::isalnum(static_cast<unsigned char>(c)) ? c : '-');
    }
    if (run_name.empty()) run_name = "run";
    if (run_name.size() > 40) run_name.resize(40);
    std::string suffix = HexEncode(RandomBytes(3));
    run_name += "-" + suffix;
    json::object spec{{"display_name", display_name},
                      {"description", description},
                      {"experiment_id", experiment->id},
                      {"pipeline_id", source.pipeline_id},
                      {"pipeline_name", source.pipeline_name},
                      {"pipeline_version_id", source.version_id},
                      {"manifest", source.manifest},
                      {"format", f->format},
                      {"parameters", std::move(params)},
                      {"service_account",
                       service_account.empty() ? std::string("pipeline-runner") : service_account},
                      {"storage_state", "AVAILABLE"},
                      {"run_name", run_name},
                      {"owner", who.name}};
    if (!recurring_run_id.empty()) spec["recurring_run_id"] = recurring_run_id;
    SKIFF_ASSIGN_OR_RETURN(RecordPtr run, catalog_.Create(Kind::kRun, ns, std::move(spec)));
    engine_.Submit(run->id);
    return run;
  }

  Result<RecordPtr> AuthorizedRun(const Principal& who, const std::string& id,
                                  const std::string& verb) const {
    SKIFF_ASSIGN_OR_RETURN(RecordPtr r, RequireRecord(Kind::kRun, id));
    SKIFF_RETURN_IF_ERROR(Authorize(who, verb, "runs", "", r->ns, r->id));
    return r;
  }

  Result<json::object> ReadArtifact(const Principal& who, const std::string& run_id,
                                    const std::string& node_id, const std::string& name) {
    SKIFF_ASSIGN_OR_RETURN(RecordPtr r, AuthorizedRun(who, run_id, "readArtifact"));
    auto state = RunStateOf(*r);
    if (!state) return Internal("run state unreadable");
    const Node* n = state->Find(node_id);
    if (n == nullptr) return NotFound("run " + run_id + " has no node " + node_id);
    const Artifact* art = nullptr;
    for (const Artifact& a : n->output_artifacts) {
      if (a.name == name) art = &a;
    }
    if (art == nullptr) return NotFound("node " + node_id + " has no artifact " + name);
    // Local: the stored file itself; S3: a private download, removed below.
    auto local = engine_.artifacts().Open(art->uri);
    if (!local) {
      if (local.error().code() != Code::kNotFound) return local.error();
      return NotFound("the artifact " + name + " is no longer stored (" + art->uri + ")");
    }
    // Argo stores artifacts as .tgz and KFP's ReadArtifact returns that archive.
    std::filesystem::path p(local->path);
    ProcessOptions po;
    po.argv = {"tar", "-czf", "-", "-C", p.parent_path().string(), p.filename().string()};
    po.timeout = std::chrono::seconds(60);
    po.max_output_bytes = 64 << 20;
    auto pr = RunProcess(po);
    RemoveLocalArtifact(*local);
    if (!pr) return pr.error();
    if (!pr->ok()) return Internal("packing the artifact failed: " + pr->Describe());
    return json::object{{"data", Base64Encode(pr->out)}};
  }

  Result<http::Response> PodLogs(const Principal& who, http::Request& req) {
    std::string node = req.Query("podname").value_or("");
    std::string run_id = req.Query("runid").value_or("");
    if (node.empty()) return InvalidArgument("podname is required");
    if (run_id.empty()) {
      // KFP's UI gives only the pod name; node ids start with the run's generated name.
      for (const RecordPtr& r : catalog_.All(Kind::kRun)) {
        std::string rn = Str(r->spec, "run_name");
        if (!rn.empty() && node.rfind(rn + "-", 0) == 0) run_id = r->id;
      }
    }
    if (run_id.empty()) return NotFound("no run has a task named " + node);
    SKIFF_ASSIGN_OR_RETURN(RecordPtr r, AuthorizedRun(who, run_id, "get"));
    std::string ns = req.Query("podnamespace").value_or("");
    if (!ns.empty() && ns != r->ns) return NotFound("no task " + node + " in namespace " + ns);
    std::string path = engine_.LogPath(*r, node);
    if (node.find('/') != std::string::npos || node.find("..") != std::string::npos) {
      return InvalidArgument("bad podname");
    }
    // `offset`: only the bytes from there on (followers poll for what is new); X-Log-Size says
    // how long the log is now.
    uint64_t offset = 0;
    if (auto o = req.Query("offset"); o && !o->empty()) {
      auto [ptr, ec] = std::from_chars(o->data(), o->data() + o->size(), offset);
      if (ec != std::errc() || ptr != o->data() + o->size()) {
        return InvalidArgument("offset must be a byte offset (a non-negative integer)");
      }
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      auto state = RunStateOf(*r);
      if (state && state->Find(node) != nullptr) {
        http::Response empty = http::Response::Text(200, "");  // not started yet
        empty.headers.Set("X-Log-Size", "0");
        return empty;
      }
      return NotFound("run " + run_id + " has no task " + node);
    }
    in.seekg(0, std::ios::end);
    const uint64_t size = static_cast<uint64_t>(std::max<std::streamoff>(in.tellg(), 0));
    std::string text;
    if (offset < size) {
      constexpr uint64_t kMaxLogBytes = 64 << 20;  // per answer; a follower asks again
      text.resize(static_cast<size_t>(std::min(size - offset, kMaxLogBytes)));
      in.seekg(static_cast<std::streamoff>(offset));
      in.read(text.data(), static_cast<std::streamsize>(text.size()));
      text.resize(static_cast<size_t>(std::max<std::streamsize>(in.gcount(), 0)));
    }
    http::Response resp = http::Response::Text(200, std::move(text));
    resp.headers.Set("X-Log-Size", std::to_string(size));
    return resp;
  }

  // ---- recurring runs (v1beta1 jobs, v2beta1 recurringruns) ----
  static bool Flag(const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(key);
    return v != nullptr && v->is_bool() && v->get_bool();
  }
  static json::object V1Trigger(const json::object& t) {
    // v1beta1 writes interval_second as an int64 string.
    json::object out = t;
    if (json::value* p = out.if_contains("periodic_schedule"); p && p->is_object()) {
      if (json::value* iv = p->get_object().if_contains("interval_second"); iv && iv->is_int64()) {
        *iv = std::to_string(iv->get_int64());
      }
    }
    return out;
  }
  json::object RecurringV1(const Record& j) const {
    bool enabled = Flag(j.spec, "enabled");
    json::object spec{{"pipeline_id", Str(j.spec, "pipeline_id")},
                      {"pipeline_name", Str(j.spec, "pipeline_name")}};
    if (Str(j.spec, "pipeline_version_id").empty()) {
      spec["workflow_manifest"] = Str(j.spec, "manifest");
    }
    json::array params;
    if (const json::object* p = GetObject(j.spec, "parameters")) params = NodeParams(*p);
    spec["parameters"] = std::move(params);
    json::array refs;
    if (std::string e = Str(j.spec, "experiment_id"); !e.empty()) {
      refs.emplace_back(json::object{{"key", json::object{{"type", "EXPERIMENT"}, {"id", e}}},
                                     {"relationship", "OWNER"}});
    }
    refs.emplace_back(json::object{{"key", json::object{{"type", "NAMESPACE"}, {"id", j.ns}}},
                                   {"relationship", "OWNER"}});
    if (std::string v = Str(j.spec, "pipeline_version_id"); !v.empty()) {
      refs.emplace_back(json::object{{"key", json::object{{"type", "PIPELINE_VERSION"}, {"id", v}}},
                                     {"relationship", "CREATOR"}});
    }
    json::object o{{"id", j.id},
                   {"name", Str(j.spec, "display_name")},
                   {"description", Str(j.spec, "description")},
                   {"pipeline_spec", std::move(spec)},
                   {"resource_references", std::move(refs)},
                   {"service_account", Str(j.spec, "service_account")},
                   {"max_concurrency", std::to_string(Int(j.spec, "max_concurrency"))},
                   {"no_catchup", Flag(j.spec, "no_catchup")},
                   {"enabled", enabled},
                   {"mode", enabled ? "ENABLED" : "DISABLED"},
                   {"status", enabled ? "Enabled" : "Disabled"},
                   {"created_at", Ts(j.created_at_ms)},
                   {"updated_at", Ts(Int(j.spec, "updated_at_ms"))}};
    if (const json::object* t = GetObject(j.spec, "trigger")) o["trigger"] = V1Trigger(*t);
    if (std::string e = Str(j.status, "error"); !e.empty()) o["error"] = e;
    return o;
  }
  json::object RecurringV2(const Record& j) const {
    bool enabled = Flag(j.spec, "enabled");
    json::object o{{"recurring_run_id", j.id},
                   {"display_name", Str(j.spec, "display_name")},
                   {"description", Str(j.spec, "description")},
                   {"service_account", Str(j.spec, "service_account")},
                   {"max_concurrency", std::to_string(Int(j.spec, "max_concurrency"))},
                   {"no_catchup", Flag(j.spec, "no_catchup")},
                   {"mode", enabled ? "ENABLE" : "DISABLE"},
                   {"status", enabled ? "ENABLED" : "DISABLED"},
                   {"namespace", j.ns},
                   {"experiment_id", Str(j.spec, "experiment_id")},
                   {"created_at", Ts(j.created_at_ms)},
                   {"updated_at", Ts(Int(j.spec, "updated_at_ms"))}};
    if (std::string v = Str(j.spec, "pipeline_version_id"); !v.empty()) {
      o["pipeline_version_reference"] =
          json::object{{"pipeline_id", Str(j.spec, "pipeline_id")}, {"pipeline_version_id", v}};
    } else if (auto f = ReadPipelineFileCached(Str(j.spec, "manifest"))) {
      o["pipeline_spec"] = (*f)->spec;
    }
    json::object rc;
    if (const json::object* p = GetObject(j.spec, "parameters")) rc["parameters"] = *p;
    o["runtime_config"] = std::move(rc);
    if (const json::object* t = GetObject(j.spec, "trigger")) o["trigger"] = *t;
    if (std::string e = Str(j.status, "error"); !e.empty()) {
      o["error"] = json::object{{"code", 2}, {"message", e}};
    }
    return o;
  }

  // A request's trigger, checked and normalized to v2beta1's shape (interval_second an integer).
  static Result<json::object> NormalizeTrigger(const json::object* t, int64_t max_concurrency,
                                               bool v2) {
    if (t == nullptr) {
      return InvalidArgument(
          "Invalid input error: a recurring run needs a trigger (cron_schedule or "
          "periodic_schedule)");
    }
    json::object out = *t;
    std::optional<std::string> cron;
    std::optional<int64_t> interval;
    if (const json::object* c = GetObject(*t, "cron_schedule")) cron = GetString(*c, "cron");
    if (json::value* p = out.if_contains("periodic_schedule"); p && p->is_object()) {
      interval = Int(p->get_object(), "interval_second");
      p->get_object()["interval_second"] = *interval;
    }
    if (!cron && !interval) {
      return InvalidArgument(
          "Invalid input error: the trigger needs cron_schedule or periodic_schedule");
    }
    std::optional<std::string_view> cron_view;
    if (cron) cron_view = *cron;
    SKIFF_RETURN_IF_ERROR(ValidateRecurringRun(cron_view, interval, max_concurrency, v2));
    auto parsed = TriggerFromSpec(out);
    if (!parsed) return InvalidArgument("Invalid input error: " + parsed.error().message());
    return out;
  }

  struct RecurringRequest {
    std::string ns, experiment_id, name, description, service_account;
    RunSource source;
    json::object parameters;
    json::object trigger;
    int64_t max_concurrency = 1;
    bool no_catchup = false;
    bool enabled = true;
  };

  Result<RecordPtr> CreateRecurring(const Principal& who, RecurringRequest q) {
    RecordPtr experiment;
    if (!q.experiment_id.empty()) {
      SKIFF_ASSIGN_OR_RETURN(experiment, RequireRecord(Kind::kExperiment, q.experiment_id));
      if (!q.ns.empty() && q.ns != experiment->ns) {
        return InvalidArgument("Invalid input error: the recurring run's namespace \"" + q.ns +
                               "\" differs from its experiment's (\"" + experiment->ns + "\")");
      }
      q.ns = experiment->ns;
    }
    if (q.ns.empty()) {
      return InvalidArgument(
          "Invalid input error: In multi-user mode, a recurring run needs an experiment or a "
          "namespace");
    }
    SKIFF_RETURN_IF_ERROR(Authorize(who, "create", "jobs", "", q.ns, ""));
    if (q.name.empty()) {
      return InvalidArgument(
          "Invalid input error: The recurring run name is empty. Please specify a valid name");
    }
    SKIFF_ASSIGN_OR_RETURN(std::shared_ptr<const PipelineFile> f, CheckFile(q.source.manifest));
    SKIFF_ASSIGN_OR_RETURN(json::object params, ConvertParameters(*f->program, q.parameters));
    if (experiment == nullptr) {
      SKIFF_ASSIGN_OR_RETURN(experiment, DefaultExperiment(who, q.ns));
    }
    json::object spec{{"display_name", q.name},
                      {"description", q.description},
                      {"experiment_id", experiment->id},
                      {"pipeline_id", q.source.pipeline_id},
                      {"pipeline_name", q.source.pipeline_name},
                      {"pipeline_version_id", q.source.version_id},
                      {"manifest", q.source.manifest},
                      {"format", f->format},
                      {"parameters", std::move(params)},
                      {"service_account", q.service_account.empty() ? std::string("pipeline-runner")
                                                                    : q.service_account},
                      {"trigger", std::move(q.trigger)},
                      {"max_concurrency", q.max_concurrency},
                      {"no_catchup", q.no_catchup},
                      {"enabled", q.enabled},
                      {"owner", who.name},
                      {"updated_at_ms", catalog_.NowMs()}};
    SKIFF_ASSIGN_OR_RETURN(RecordPtr job,
                           catalog_.Create(Kind::kRecurringRun, q.ns, std::move(spec)));
    if (options_.on_recurring_change) options_.on_recurring_change();
    return job;
  }

  Result<RecordPtr> AuthorizedRecurring(const Principal& who, const std::string& id,
                                        const std::string& verb) const {
    SKIFF_ASSIGN_OR_RETURN(RecordPtr r, RequireRecord(Kind::kRecurringRun, id));
    SKIFF_RETURN_IF_ERROR(Authorize(who, verb, "jobs", "", r->ns, r->id));
    return r;
  }

  Status EnableRecurring(const Principal& who, const std::string& id, bool enable) {
    SKIFF_ASSIGN_OR_RETURN(RecordPtr r,
                           AuthorizedRecurring(who, id, enable ? "enable" : "disable"));
    auto u = catalog_.Update(Kind::kRecurringRun, id, [&](Record& x) {
      x.spec["enabled"] = enable;
      x.spec["updated_at_ms"] = catalog_.NowMs();
      return Status();
    });
    if (!u) return u.error();
    if (options_.on_recurring_change) options_.on_recurring_change();
    return Status();
  }

  Status DeleteRecurring(const Principal& who, const std::string& id) {
    SKIFF_ASSIGN_OR_RETURN(RecordPtr r, AuthorizedRecurring(who, id, "delete"));
    return catalog_.Delete({{Kind::kRecurringRun, id}});
  }

  Result<json::object> RecurringDispatch(Ctx& c);
  // experiments/ID[:verb] and runs/ID[/verb|:verb][/nodes/N/artifacts/A:read], both versions.
  Result<json::object> ExperimentItem(Ctx& c);
  Result<json::object> RunItem(Ctx& c);

  static Result<json::object> Body(const http::Request& req) {
    if (req.body.empty()) return json::object{};
    auto o = ParseJsonObject(req.body);
    if (!o) {
      return InvalidArgument("Invalid input error: the body is not a JSON object: " +
                             o.error().message());
    }
    return std::move(*o);
  }

  // The records of `kind` in the experiment `exp` or else the namespace `ns` that a list
  // names, once the caller may `list` `resource` there; `needs` words the error when neither.
  Result<std::shared_ptr<const ScopeRows>> Scoped(const Principal& who, Kind kind,
                                                  const std::string& resource,
                                                  const std::string& ns, const std::string& exp,
                                                  const std::string& needs) {
    if (!exp.empty()) {
      SKIFF_ASSIGN_OR_RETURN(RecordPtr e, RequireRecord(Kind::kExperiment, exp));
      if (!ns.empty() && ns != e->ns) {
        return InvalidArgument("Invalid input error: experiment " + exp + " is not in namespace " +
                               ns);
      }
      SKIFF_RETURN_IF_ERROR(Authorize(who, "list", resource, "", e->ns, ""));
    } else if (ns.empty()) {
      return InvalidArgument("Invalid input error: In multi-user mode, " + needs);
    } else {
      SKIFF_RETURN_IF_ERROR(Authorize(who, "list", resource, "", ns, ""));
    }
    // The generation is read before the records, so a write meanwhile makes the next call
    // rebuild.
    const uint64_t generation = catalog_.Generation(kind);
    std::string key =
        std::to_string(static_cast<int>(kind)) + (exp.empty() ? "/ns/" + ns : "/exp/" + exp);
    {
      std::lock_guard lock(scopes_mu_);
      auto it = scopes_.find(key);
      if (it != scopes_.end() && it->second->generation == generation) return it->second;
    }
    std::vector<RecordPtr> recs;
    if (!exp.empty()) {
      recs = catalog_.Where(kind, "experiment_id", exp);
    } else {
      for (RecordPtr& r : catalog_.All(kind)) {
        if (r->ns == ns) recs.push_back(std::move(r));
      }
    }
    auto scope = MakeScopeRows(kind, recs, generation, true);
    std::lock_guard lock(scopes_mu_);
    if (scopes_.size() >= 256) scopes_.clear();
    scopes_[key] = scope;
    return scope;
  }

  Result<json::object> Dispatch(Ctx& c);
  Result<json::object> DispatchV1(Ctx& c);
  Result<json::object> DispatchV2(Ctx& c);
  Result<json::object> Upload(Ctx& c, bool version);

  Catalog& catalog_;
  Engine& engine_;
  const authz::Authorizer* authorizer_;
  KfpApiOptions options_;
  ResourceSchema schemas_[2][kKindCount];
  mutable std::mutex last_run_mu_;  // guards last_run_*
  mutable std::unordered_map<std::string, int64_t> last_run_;
  mutable uint64_t last_run_generation_ = 0;
  mutable bool last_run_valid_ = false;
  std::mutex scopes_mu_;  // guards scopes_
  std::unordered_map<std::string, std::shared_ptr<const ScopeRows>> scopes_;
  ItemCache run_items_[2];    // v1beta1, v2beta1
  ItemCache run_details_v1_;  // v1beta1's GET of a run (with its workflow manifest)
  std::mutex rows_mu_;        // guards rows_
  std::unordered_map<const Record*, std::pair<RecordPtr, std::shared_ptr<const Row>>>
      rows_[kKindCount];
};

Result<json::object> KfpApi::Impl::RecurringDispatch(Ctx& c) {
  const auto& s = c.seg;
  const std::string& m = c.req.method;
  const bool v2 = c.v == ApiVersion::kV2beta1;
  auto render = [&](const Record& r) { return v2 ? RecurringV2(r) : RecurringV1(r); };
  if (s.size() == 1 && m == "GET") {
    std::string ns, exp;
    if (v2) {
      ns = c.req.Query("namespace").value_or("");
      exp = c.req.Query("experiment_id").value_or("");
    } else {
      std::string type = c.req.Query("resource_reference_key.type").value_or("");
      std::string key = c.req.Query("resource_reference_key.id").value_or("");
      if (type == "NAMESPACE") ns = key;
      if (type == "EXPERIMENT") exp = key;
    }
    SKIFF_ASSIGN_OR_RETURN(auto recs, Scoped(c.who, Kind::kRecurringRun, "jobs", ns, exp,
                                             "listing recurring runs requires a namespace or an "
                                             "experiment"));
    return List(c, Kind::kRecurringRun, recs, v2 ? "recurringRuns" : "jobs", render);
  }
  if (s.size() == 1 && m == "POST") {
    SKIFF_ASSIGN_OR_RETURN(json::object b, Body(c.req));
    RecurringRequest q;
    q.max_concurrency = b.contains("max_concurrency") ? Int(b, "max_concurrency") : 1;
    q.no_catchup = Flag(b, "no_catchup");
    q.description = GetString(b, "description");
    q.service_account = GetString(b, "service_account");
    if (v2) {
      q.name = GetString(b, "display_name");
      q.ns = GetString(b, "namespace");
      q.experiment_id = GetString(b, "experiment_id");
      q.enabled = GetString(b, "mode") != "DISABLE";
      if (const json::value* spec = b.if_contains("pipeline_spec"); spec && spec->is_object()) {
        q.source.manifest = Serialize(*spec);
      } else if (const json::object* ref = GetObject(b, "pipeline_version_reference")) {
        SKIFF_ASSIGN_OR_RETURN(q.source, SourceFromVersion(c.who, GetString(*ref, "pipeline_id"),
                                                           GetString(*ref, "pipeline_version_id")));
      } else {
        return InvalidArgument(
            "Invalid input error: the recurring run needs pipeline_version_reference or "
            "pipeline_spec");
      }
      if (const json::object* p = GetObject(b, "runtime_config.parameters")) q.parameters = *p;
    } else {
      q.name = GetString(b, "name");
      q.enabled = !b.contains("enabled") || Flag(b, "enabled");
      std::string version, ns, exp;
      if (const json::value* refs = b.if_contains("resource_references");
          refs && refs->is_array()) {
        for (const json::value& r : refs->get_array()) {
          std::string type = GetString(r, "key.type");
          if (type == "EXPERIMENT") exp = GetString(r, "key.id");
          if (type == "NAMESPACE") ns = GetString(r, "key.id");
          if (type == "PIPELINE_VERSION") version = GetString(r, "key.id");
        }
      }
      q.ns = ns;
      q.experiment_id = exp;
      const json::object* ps = GetObject(b, "pipeline_spec");
      std::string manifest = ps ? GetString(*ps, "workflow_manifest") : "";
      std::string pid = ps ? GetString(*ps, "pipeline_id") : "";
      if (!manifest.empty()) {
        q.source.manifest = manifest;
      } else if (!version.empty() || !pid.empty()) {
        SKIFF_ASSIGN_OR_RETURN(q.source, SourceFromVersion(c.who, pid, version));
      } else {
        return InvalidArgument(
            "Invalid input error: the job needs pipeline_spec.pipeline_id, "
            "pipeline_spec.workflow_manifest or a PIPELINE_VERSION resource reference");
      }
      if (ps != nullptr) {
        if (const json::value* pl = ps->if_contains("parameters"); pl && pl->is_array()) {
          for (const json::value& p : pl->get_array()) {
            if (p.is_object()) q.parameters[GetString(p, "name")] = GetString(p, "value");
          }
        }
      }
    }
    SKIFF_ASSIGN_OR_RETURN(q.trigger,
                           NormalizeTrigger(GetObject(b, "trigger"), q.max_concurrency, v2));
    SKIFF_ASSIGN_OR_RETURN(RecordPtr job, CreateRecurring(c.who, std::move(q)));
    return render(*job);
  }
  if (s.size() >= 2) {
    auto [id, verb] = CustomVerb(s[1]);
    // v1beta1: POST jobs/ID/enable; v2beta1: POST recurringruns/ID:enable.
    if (!v2 && s.size() == 3 && verb.empty()) verb = s[2];
    if (verb == "enable" || verb == "disable") {
      if (m != "POST") return NotFound("Not Found");
      SKIFF_RETURN_IF_ERROR(EnableRecurring(c.who, id, verb == "enable"));
      return json::object{};
    }
    if (s.size() == 2 && verb.empty() && m == "GET") {
      SKIFF_ASSIGN_OR_RETURN(RecordPtr r, AuthorizedRecurring(c.who, id, "get"));
      return render(*r);
    }
    if (s.size() == 2 && verb.empty() && m == "DELETE") {
      SKIFF_RETURN_IF_ERROR(DeleteRecurring(c.who, id));
      return json::object{};
    }
  }
  return NotFound("Not Found");
}

Status KfpApi::Impl::FireRecurringRun(const Record& job, int64_t scheduled_at) {
  // The scheduler acts for the recurring run, which was authorized when it was created.
  Principal scheduler;
  scheduler.name = "system:scheduler";
  scheduler.cluster_admin = true;
  RunSource src{Str(job.spec, "manifest"), Str(job.spec, "pipeline_id"),
                Str(job.spec, "pipeline_name"), Str(job.spec, "pipeline_version_id")};
  json::object params;
  if (const json::object* p = GetObject(job.spec, "parameters")) params = *p;
  std::string name = Str(job.spec, "display_name") + "-" + Ts(scheduled_at * 1000);
  auto run = CreateRun(scheduler, job.ns, Str(job.spec, "experiment_id"), name,
                       Str(job.spec, "description"), std::move(src), params,
                       Str(job.spec, "service_account"), job.id);
  if (!run) return run.error();
  return Status();
}

Result<json::object> KfpApi::Impl::ExperimentItem(Ctx& c) {
  const bool v2 = c.v == ApiVersion::kV2beta1;
  const std::string& m = c.req.method;
  auto [id, verb] = CustomVerb(c.seg[1]);
  if (verb == "archive" || verb == "unarchive") {
    if (m != "POST") return NotFound("Not Found");
    SKIFF_RETURN_IF_ERROR(SetStorage(c.who, Kind::kExperiment, id, verb == "archive"));
    return json::object{};
  }
  if (!verb.empty()) return NotFound("Not Found");
  if (m == "GET") {
    SKIFF_ASSIGN_OR_RETURN(RecordPtr e, RequireRecord(Kind::kExperiment, id));
    SKIFF_RETURN_IF_ERROR(Authorize(c.who, "get", "experiments", "", e->ns, e->id));
    return v2 ? ExperimentV2(*e) : ExperimentV1(*e);
  }
  if (m == "DELETE") {
    SKIFF_RETURN_IF_ERROR(DeleteExperiment(c.who, id));
    return json::object{};
  }
  return NotFound("Not Found");
}

Result<json::object> KfpApi::Impl::RunItem(Ctx& c) {
  const bool v2 = c.v == ApiVersion::kV2beta1;
  const auto& s = c.seg;
  const std::string& m = c.req.method;
  auto [id, verb] = CustomVerb(s[1]);
  // v1beta1 spells terminate and retry as path segments (runs/ID/terminate), v2beta1 and the
  // archive verbs of both as custom methods (runs/ID:terminate).
  if (!v2 && s.size() == 3 && verb.empty() && (s[2] == "terminate" || s[2] == "retry")) {
    verb = s[2];
  } else if (s.size() != 2 && !(s.size() == 6 && s[2] == "nodes" && s[4] == "artifacts")) {
    return NotFound("Not Found");
  }
  if (s.size() == 6) {
    auto [name, read] = CustomVerb(s[5]);
    if (m != "GET" || read != "read" || !verb.empty()) return NotFound("Not Found");
    return ReadArtifact(c.who, id, s[3], name);
  }
  if (!verb.empty()) {
    if (m != "POST") return NotFound("Not Found");
    if (verb == "archive" || verb == "unarchive") {
      SKIFF_RETURN_IF_ERROR(SetStorage(c.who, Kind::kRun, id, verb == "archive"));
      return json::object{};
    }
    if (verb != "terminate" && verb != "retry") return NotFound("Not Found");
    SKIFF_ASSIGN_OR_RETURN(RecordPtr r, AuthorizedRun(c.who, id, verb));
    SKIFF_RETURN_IF_ERROR(verb == "terminate" ? engine_.Terminate(id) : engine_.Retry(id));
    return json::object{};
  }
  if (m == "GET") {
    SKIFF_ASSIGN_OR_RETURN(RecordPtr r, AuthorizedRun(c.who, id, "get"));
    if (v2) {
      c.body = CachedText(
          Kind::kRun, r, [this](const Record& x) { return RunV2(x); }, run_items_[1]);
    } else {
      c.body = CachedText(
          Kind::kRun, r, [this](const Record& x) { return RunDetailV1(x); }, run_details_v1_);
    }
    return json::object();
  }
  if (m == "DELETE") {
    SKIFF_ASSIGN_OR_RETURN(RecordPtr r, AuthorizedRun(c.who, id, "delete"));
    (void)engine_.Terminate(id);
    SKIFF_RETURN_IF_ERROR(catalog_.Delete({{Kind::kRun, id}}));
    return json::object{};
  }
  return NotFound("Not Found");
}

// ---- dispatch ----

http::Response KfpApi::Impl::Handle(http::Request& req) {
  std::string_view path = req.path;
  if (path.rfind("/pipeline/", 0) == 0) path.remove_prefix(9);
  ApiVersion v = path.rfind("/apis/v2beta1", 0) == 0 ? ApiVersion::kV2beta1 : ApiVersion::kV1beta1;
  auto error = [&](const Status& s) {
    http::Response r = http::Response::Json(KfpHttpStatus(s), KfpErrorBody(s, v));
    return r;
  };
  if (!req.principal)
    return error(Unauthenticated("Unauthenticated: a login or token is required"));
  const Principal& who = *req.principal;
  if (path.rfind("/k8s/pod/logs", 0) == 0) {
    if (req.method != "GET") return error(InvalidArgument("method not allowed"));
    auto r = PodLogs(who, req);
    if (!r) return error(r.error());
    return std::move(*r);
  }
  Ctx c{req, v, who, SplitPath(path.substr(13)), {}};
  auto result = Dispatch(c);
  if (!result) return error(result.error());
  if (!c.body.empty()) return http::Response::Json(200, std::move(c.body));
  return http::Response::Json(200, Serialize(*result));
}

Result<json::object> KfpApi::Impl::Dispatch(Ctx& c) {
  if (c.seg.size() == 1 && c.seg[0] == "healthz") {
    if (c.req.method != "GET") return NotFound("Not Found");
    return json::object{{"commit_sha", SKIFF_VERSION},
                        {"tag_name", SKIFF_VERSION},
                        {"multi_user", true},
                        {"pipeline_store", "skiff"}};
  }
  return c.v == ApiVersion::kV1beta1 ? DispatchV1(c) : DispatchV2(c);
}

Result<json::object> KfpApi::Impl::Upload(Ctx& c, bool version) {
  auto ct = c.req.headers.Get("Content-Type");
  SKIFF_ASSIGN_OR_RETURN(std::vector<MultipartPart> parts,
                         ParseMultipart(ct.value_or(""), c.req.body));
  const MultipartPart* file = nullptr;
  for (const MultipartPart& p : parts) {
    if (p.name == "uploadfile") file = &p;
  }
  if (file == nullptr) {
    return InvalidArgument("Failed to read the uploaded file: the form has no \"uploadfile\" part");
  }
  std::string name = c.req.Query("name").value_or("");
  if (name.empty()) name = c.req.Query("display_name").value_or("");
  if (name.empty() && !file->filename.empty()) {
    name = file->filename;
    for (std::string_view ext : {".yaml", ".yml", ".json"}) {
      if (name.size() > ext.size() && name.ends_with(ext)) name.resize(name.size() - ext.size());
    }
  }
  std::string description = c.req.Query("description").value_or("");
  if (version) {
    std::string pid = c.req.Query("pipelineid").value_or("");
    if (pid.empty())
      return InvalidArgument("Invalid input error: pipelineid is required to upload a version");
    SKIFF_ASSIGN_OR_RETURN(RecordPtr p, RequireRecord(Kind::kPipeline, pid));
    SKIFF_RETURN_IF_ERROR(AuthorizePipeline(c.who, "create", p.get(), p->ns, "versions"));
    SKIFF_ASSIGN_OR_RETURN(RecordPtr v,
                           CreateVersion(c.who, *p, name, description, file->content, "", ""));
    return c.v == ApiVersion::kV1beta1 ? VersionV1(*v) : VersionV2(*v);
  }
  std::string ns = c.req.Query("namespace").value_or("");
  SKIFF_RETURN_IF_ERROR(AuthorizePipeline(c.who, "create", nullptr, ns));
  SKIFF_ASSIGN_OR_RETURN(auto created,
                         CreatePipeline(c.who, ns, name, description, file->content, ""));
  return c.v == ApiVersion::kV1beta1 ? PipelineV1(*created.first) : PipelineV2(*created.first);
}

Result<json::object> KfpApi::Impl::DispatchV1(Ctx& c) {
  const auto& s = c.seg;
  const std::string& m = c.req.method;
  auto body = [&] { return Body(c.req); };
  auto refs_of = [](const json::object& o, std::string_view type) -> std::string {
    if (const json::value* refs = o.if_contains("resource_references"); refs && refs->is_array()) {
      for (const json::value& r : refs->get_array()) {
        if (!r.is_object()) continue;
        if (GetString(r, "key.type") == type) return GetString(r, "key.id");
      }
    }
    return {};
  };
  if (s.empty()) return NotFound("Not Found");
  const std::string& coll = s[0];
  if (coll == "pipelines") {
    if (s.size() == 1 && m == "GET") {
      std::string ns;
      if (c.req.Query("resource_reference_key.type").value_or("") == "NAMESPACE") {
        ns = c.req.Query("resource_reference_key.id").value_or("");
      }
      SKIFF_RETURN_IF_ERROR(AuthorizePipeline(c.who, "list", nullptr, ns));
      std::vector<RecordPtr> recs;
      for (RecordPtr& p : catalog_.All(Kind::kPipeline)) {
        if (p->ns == ns) recs.push_back(std::move(p));
      }
      return List(c, Kind::kPipeline, recs, "pipelines",
                  [&](const Record& r) { return PipelineV1(r); });
    }
    if (s.size() == 1 && m == "POST") {
      SKIFF_ASSIGN_OR_RETURN(json::object b, body());
      std::string url = GetString(b, "url.pipeline_url");
      if (url.empty())
        return InvalidArgument(
            "Invalid input error: Pipeline URL is empty. Please specify a valid URL");
      std::string ns = refs_of(b, "NAMESPACE");
      SKIFF_RETURN_IF_ERROR(AuthorizePipeline(c.who, "create", nullptr, ns));
      SKIFF_ASSIGN_OR_RETURN(std::string text, FetchUrl(url));
      SKIFF_ASSIGN_OR_RETURN(auto created, CreatePipeline(c.who, ns, GetString(b, "name"),
                                                          GetString(b, "description"), text, url));
      return PipelineV1(*created.first);
    }
    if (s.size() == 2 && s[1] == "upload" && m == "POST") return Upload(c, false);
    if (s.size() == 2 && s[1] == "upload_version" && m == "POST") return Upload(c, true);
    if (s.size() >= 2) {
      SKIFF_ASSIGN_OR_RETURN(RecordPtr p, RequireRecord(Kind::kPipeline, s[1]));
      if (s.size() == 2 && m == "GET") {
        SKIFF_RETURN_IF_ERROR(AuthorizePipeline(c.who, "get", p.get(), p->ns));
        return PipelineV1(*p);
      }
      if (s.size() == 2 && m == "DELETE") {
        SKIFF_RETURN_IF_ERROR(DeletePipeline(c.who, p->id));
        return json::object{};
      }
      if (s.size() == 3 && s[2] == "templates" && m == "GET") {
        SKIFF_RETURN_IF_ERROR(AuthorizePipeline(c.who, "get", p.get(), p->ns));
        RecordPtr v = catalog_.Get(Kind::kVersion, Str(p->spec, "default_version_id"));
        if (!v) return NotFound("pipeline " + p->id + " has no version");
        return json::object{{"template", Str(v->spec, "manifest")}};
      }
    }
    return NotFound("Not Found");
  }
  if (coll == "pipeline_versions") {
    if (s.size() == 1 && m == "GET") {
      std::string type = c.req.Query("resource_key.type").value_or("");
      std::string pid = c.req.Query("resource_key.id").value_or("");
      if (type != "PIPELINE" || pid.empty()) {
        return InvalidArgument(
            "Invalid input error: ListPipelineVersions must filter by resource_key.type=PIPELINE "
            "and resource_key.id");
      }
      SKIFF_ASSIGN_OR_RETURN(RecordPtr p, RequireRecord(Kind::kPipeline, pid));
      SKIFF_RETURN_IF_ERROR(AuthorizePipeline(c.who, "list", p.get(), p->ns, "versions"));
      return List(c, Kind::kVersion, catalog_.Where(Kind::kVersion, "pipeline_id", pid), "versions",
                  [&](const Record& r) { return VersionV1(r); });
    }
    if (s.size() == 1 && m == "POST") {
      SKIFF_ASSIGN_OR_RETURN(json::object b, body());
      std::string pid = refs_of(b, "PIPELINE");
      if (pid.empty())
        return InvalidArgument(
            "Invalid input error: a pipeline version needs a resource_reference to its PIPELINE");
      std::string url = GetString(b, "package_url.pipeline_url");
      if (url.empty())
        return InvalidArgument("Invalid input error: package_url.pipeline_url is empty");
      SKIFF_ASSIGN_OR_RETURN(RecordPtr p, RequireRecord(Kind::kPipeline, pid));
      SKIFF_RETURN_IF_ERROR(AuthorizePipeline(c.who, "create", p.get(), p->ns, "versions"));
      SKIFF_ASSIGN_OR_RETURN(std::string text, FetchUrl(url));
      SKIFF_ASSIGN_OR_RETURN(
          RecordPtr v, CreateVersion(c.who, *p, GetString(b, "name"), GetString(b, "description"),
                                     text, url, GetString(b, "code_source_url")));
      return VersionV1(*v);
    }
    if (s.size() >= 2) {
      SKIFF_ASSIGN_OR_RETURN(RecordPtr v, RequireRecord(Kind::kVersion, s[1]));
      RecordPtr p = catalog_.Get(Kind::kPipeline, Str(v->spec, "pipeline_id"));
      if (s.size() == 2 && m == "GET") {
        SKIFF_RETURN_IF_ERROR(AuthorizePipeline(c.who, "get", p.get(), v->ns, "versions"));
        return VersionV1(*v);
      }
      if (s.size() == 2 && m == "DELETE") {
        SKIFF_RETURN_IF_ERROR(DeleteVersion(c.who, v->id));
        return json::object{};
      }
      if (s.size() == 3 && s[2] == "templates" && m == "GET") {
        SKIFF_RETURN_IF_ERROR(AuthorizePipeline(c.who, "get", p.get(), v->ns, "versions"));
        return json::object{{"template", Str(v->spec, "manifest")}};
      }
    }
    return NotFound("Not Found");
  }
  if (coll == "experiments") {
    if (s.size() == 1 && m == "GET") {
      bool by_ns = c.req.Query("resource_reference_key.type").value_or("") == "NAMESPACE";
      SKIFF_ASSIGN_OR_RETURN(
          auto recs,
          Scoped(c.who, Kind::kExperiment, "experiments",
                 by_ns ? c.req.Query("resource_reference_key.id").value_or("") : "", "",
                 "ListExperiment requires filtering by namespace "
                 "(resource_reference_key.type=NAMESPACE and resource_reference_key.id)"));
      return List(c, Kind::kExperiment, recs, "experiments",
                  [&](const Record& r) { return ExperimentV1(r); });
    }
    if (s.size() == 1 && m == "POST") {
      SKIFF_ASSIGN_OR_RETURN(json::object b, body());
      SKIFF_ASSIGN_OR_RETURN(RecordPtr e,
                             CreateExperiment(c.who, refs_of(b, "NAMESPACE"), GetString(b, "name"),
                                              GetString(b, "description")));
      return ExperimentV1(*e);
    }
    if (s.size() == 2) return ExperimentItem(c);
    return NotFound("Not Found");
  }
  if (coll == "jobs") return RecurringDispatch(c);
  if (coll == "runs") {
    if (s.size() == 1 && m == "GET") {
      std::string type = c.req.Query("resource_reference_key.type").value_or("");
      std::string key = c.req.Query("resource_reference_key.id").value_or("");
      SKIFF_ASSIGN_OR_RETURN(auto recs,
                             Scoped(c.who, Kind::kRun, "runs", type == "NAMESPACE" ? key : "",
                                    type == "EXPERIMENT" ? key : "",
                                    "ListRuns must filter by namespace or experiment "
                                    "(resource_reference_key.type=NAMESPACE|EXPERIMENT and "
                                    "resource_reference_key.id)"));
      return List(
          c, Kind::kRun, recs, "runs", [&](const Record& r) { return RunV1(r); }, &run_items_[0]);
    }
    if (s.size() == 1 && m == "POST") {
      SKIFF_ASSIGN_OR_RETURN(json::object b, body());
      const json::object* ps = GetObject(b, "pipeline_spec");
      RunSource src;
      json::object params;
      if (ps != nullptr) {
        if (const json::value* pl = ps->if_contains("parameters"); pl && pl->is_array()) {
          for (const json::value& p : pl->get_array()) {
            if (!p.is_object()) continue;
            params[GetString(p, "name")] = GetString(p, "value");
          }
        }
      }
      std::string version = refs_of(b, "PIPELINE_VERSION");
      std::string manifest = ps ? GetString(*ps, "workflow_manifest") : "";
      if (manifest.empty() && ps) manifest = GetString(*ps, "pipeline_manifest");
      std::string pipeline_id = ps ? GetString(*ps, "pipeline_id") : "";
      if (!manifest.empty()) {
        src.manifest = manifest;
      } else if (!version.empty() || !pipeline_id.empty()) {
        SKIFF_ASSIGN_OR_RETURN(src, SourceFromVersion(c.who, pipeline_id, version));
      } else {
        return InvalidArgument(
            "Invalid input error: the run needs pipeline_spec.pipeline_id, "
            "pipeline_spec.workflow_manifest or a PIPELINE_VERSION resource reference");
      }
      SKIFF_ASSIGN_OR_RETURN(
          RecordPtr run, CreateRun(c.who, refs_of(b, "NAMESPACE"), refs_of(b, "EXPERIMENT"),
                                   GetString(b, "name"), GetString(b, "description"),
                                   std::move(src), params, GetString(b, "service_account"), ""));
      return RunDetailV1(*run);
    }
    if (s.size() >= 2) return RunItem(c);
    return NotFound("Not Found");
  }
  return NotFound("Not Found");
}

Result<json::object> KfpApi::Impl::DispatchV2(Ctx& c) {
  const auto& s = c.seg;
  const std::string& m = c.req.method;
  auto body = [&] { return Body(c.req); };
  if (s.empty()) return NotFound("Not Found");
  const std::string& coll = s[0];
  if (coll == "pipelines") {
    if (s.size() == 1 && m == "GET") {
      std::string ns = c.req.Query("namespace").value_or("");
      SKIFF_RETURN_IF_ERROR(AuthorizePipeline(c.who, "list", nullptr, ns));
      std::vector<RecordPtr> recs;
      for (RecordPtr& p : catalog_.All(Kind::kPipeline)) {
        if (p->ns == ns) recs.push_back(std::move(p));
      }
      return List(c, Kind::kPipeline, recs, "pipelines",
                  [&](const Record& r) { return PipelineV2(r); });
    }
    if (s.size() == 1 && m == "POST") {
      // A pipeline without a version (KFP v2 allows it; versions come later).
      SKIFF_ASSIGN_OR_RETURN(json::object b, body());
      std::string ns = GetString(b, "namespace");
      std::string name = GetString(b, "display_name");
      if (name.empty()) name = GetString(b, "name");
      if (name.empty())
        return InvalidArgument("Invalid input error: pipeline display_name is empty");
      SKIFF_RETURN_IF_ERROR(AuthorizePipeline(c.who, "create", nullptr, ns));
      for (const RecordPtr& p : catalog_.All(Kind::kPipeline)) {
        if (p->ns == ns && Str(p->spec, "display_name") == name) {
          return AlreadyExists("Failed to create a new pipeline. The name " + name +
                               " already exists. Please specify a new name");
        }
      }
      SKIFF_ASSIGN_OR_RETURN(
          RecordPtr p, catalog_.Create(Kind::kPipeline, ns,
                                       json::object{{"display_name", name},
                                                    {"description", GetString(b, "description")},
                                                    {"owner", c.who.name}}));
      return PipelineV2(*p);
    }
    if (s.size() == 2 && s[1] == "create" && m == "POST") {
      SKIFF_ASSIGN_OR_RETURN(json::object b, body());
      const json::object* pl = GetObject(b, "pipeline");
      const json::object* pv = GetObject(b, "pipeline_version");
      if (pl == nullptr || pv == nullptr)
        return InvalidArgument(
            "Invalid input error: both pipeline and pipeline_version are required");
      std::string ns = GetString(*pl, "namespace");
      SKIFF_RETURN_IF_ERROR(AuthorizePipeline(c.who, "create", nullptr, ns));
      std::string text;
      if (const json::value* spec = pv->if_contains("pipeline_spec"); spec && spec->is_object()) {
        text = Serialize(*spec);
      } else if (std::string url = GetString(*pv, "package_url.pipeline_url"); !url.empty()) {
        SKIFF_ASSIGN_OR_RETURN(text, FetchUrl(url));
      } else {
        return InvalidArgument(
            "Invalid input error: pipeline_version needs pipeline_spec or package_url");
      }
      std::string name = GetString(*pl, "display_name");
      if (name.empty()) name = GetString(*pl, "name");
      SKIFF_ASSIGN_OR_RETURN(auto created,
                             CreatePipeline(c.who, ns, name, GetString(*pl, "description"), text,
                                            GetString(*pv, "package_url.pipeline_url"),
                                            GetString(*pv, "display_name")));
      return PipelineV2(*created.first);
    }
    if (s.size() == 2 && s[1] == "upload" && m == "POST") return Upload(c, false);
    if (s.size() == 2 && s[1] == "upload_version" && m == "POST") return Upload(c, true);
    if (s.size() == 3 && s[1] == "names" && m == "GET") {
      std::string ns = c.req.Query("namespace").value_or("");
      SKIFF_RETURN_IF_ERROR(AuthorizePipeline(c.who, "get", nullptr, ns));
      for (const RecordPtr& p : catalog_.All(Kind::kPipeline)) {
        if (p->ns == ns && Str(p->spec, "display_name") == s[2]) return PipelineV2(*p);
      }
      return NotFound("pipeline " + s[2] + " not found");
    }
    if (s.size() >= 2) {
      SKIFF_ASSIGN_OR_RETURN(RecordPtr p, RequireRecord(Kind::kPipeline, s[1]));
      if (s.size() == 2 && m == "GET") {
        SKIFF_RETURN_IF_ERROR(AuthorizePipeline(c.who, "get", p.get(), p->ns));
        return PipelineV2(*p);
      }
      if (s.size() == 2 && m == "DELETE") {
        if (!catalog_.Where(Kind::kVersion, "pipeline_id", p->id).empty() &&
            c.req.Query("cascade").value_or("") != "true") {
          return FailedPrecondition("Failed to delete pipeline " + p->id +
                                    ": it has versions; delete them first (or pass cascade=true)");
        }
        SKIFF_RETURN_IF_ERROR(DeletePipeline(c.who, p->id));
        return json::object{};
      }
      if (s.size() >= 3 && s[2] == "versions") {
        if (s.size() == 3 && m == "GET") {
          SKIFF_RETURN_IF_ERROR(AuthorizePipeline(c.who, "list", p.get(), p->ns, "versions"));
          return List(c, Kind::kVersion, catalog_.Where(Kind::kVersion, "pipeline_id", p->id),
                      "pipeline_versions", [&](const Record& r) { return VersionV2(r); });
        }
        if (s.size() == 3 && m == "POST") {
          SKIFF_ASSIGN_OR_RETURN(json::object b, body());
          SKIFF_RETURN_IF_ERROR(AuthorizePipeline(c.who, "create", p.get(), p->ns, "versions"));
          std::string text;
          std::string url = GetString(b, "package_url.pipeline_url");
          if (const json::value* spec = b.if_contains("pipeline_spec"); spec && spec->is_object()) {
            text = Serialize(*spec);
          } else if (!url.empty()) {
            SKIFF_ASSIGN_OR_RETURN(text, FetchUrl(url));
          } else {
            return InvalidArgument(
                "Invalid input error: the version needs pipeline_spec or package_url");
          }
          std::string name = GetString(b, "display_name");
          if (name.empty()) name = GetString(b, "name");
          SKIFF_ASSIGN_OR_RETURN(
              RecordPtr v, CreateVersion(c.who, *p, name, GetString(b, "description"), text, url,
                                         GetString(b, "code_source_url")));
          return VersionV2(*v);
        }
        if (s.size() == 4) {
          SKIFF_ASSIGN_OR_RETURN(RecordPtr v, RequireRecord(Kind::kVersion, s[3]));
          if (Str(v->spec, "pipeline_id") != p->id)
            return NotFound("pipeline version " + s[3] + " not found in pipeline " + p->id);
          if (m == "GET") {
            SKIFF_RETURN_IF_ERROR(AuthorizePipeline(c.who, "get", p.get(), p->ns, "versions"));
            return VersionV2(*v);
          }
          if (m == "DELETE") {
            SKIFF_RETURN_IF_ERROR(DeleteVersion(c.who, v->id));
            return json::object{};
          }
        }
      }
    }
    return NotFound("Not Found");
  }
  if (coll == "experiments") {
    if (s.size() == 1 && m == "GET") {
      SKIFF_ASSIGN_OR_RETURN(auto recs, Scoped(c.who, Kind::kExperiment, "experiments",
                                               c.req.Query("namespace").value_or(""), "",
                                               "ListExperiments requires a namespace"));
      return List(c, Kind::kExperiment, recs, "experiments",
                  [&](const Record& r) { return ExperimentV2(r); });
    }
    if (s.size() == 1 && m == "POST") {
      SKIFF_ASSIGN_OR_RETURN(json::object b, body());
      SKIFF_ASSIGN_OR_RETURN(
          RecordPtr e, CreateExperiment(c.who, GetString(b, "namespace"),
                                        GetString(b, "display_name"), GetString(b, "description")));
      return ExperimentV2(*e);
    }
    if (s.size() == 2) return ExperimentItem(c);
    return NotFound("Not Found");
  }
  if (coll == "recurringruns") return RecurringDispatch(c);
  if (coll == "runs") {
    if (s.size() == 1 && m == "GET") {
      SKIFF_ASSIGN_OR_RETURN(
          auto recs, Scoped(c.who, Kind::kRun, "runs", c.req.Query("namespace").value_or(""),
                            c.req.Query("experiment_id").value_or(""),
                            "ListRuns requires a namespace or an experiment_id"));
      return List(
          c, Kind::kRun, recs, "runs", [&](const Record& r) { return RunV2(r); }, &run_items_[1]);
    }
    if (s.size() == 1 && m == "POST") {
      SKIFF_ASSIGN_OR_RETURN(json::object b, body());
      RunSource src;
      if (const json::value* spec = b.if_contains("pipeline_spec"); spec && spec->is_object()) {
        src.manifest = Serialize(*spec);
      } else if (const json::object* ref = GetObject(b, "pipeline_version_reference")) {
        SKIFF_ASSIGN_OR_RETURN(src, SourceFromVersion(c.who, GetString(*ref, "pipeline_id"),
                                                      GetString(*ref, "pipeline_version_id")));
      } else if (std::string vid = GetString(b, "pipeline_version_id"); !vid.empty()) {
        SKIFF_ASSIGN_OR_RETURN(src, SourceFromVersion(c.who, "", vid));
      } else {
        return InvalidArgument(
            "Invalid input error: the run needs pipeline_version_reference or pipeline_spec");
      }
      json::object params;
      if (const json::object* p = GetObject(b, "runtime_config.parameters")) params = *p;
      std::string exp = GetString(b, "experiment_id");
      if (exp.empty()) exp = c.req.Query("experiment_id").value_or("");
      SKIFF_ASSIGN_OR_RETURN(
          RecordPtr run, CreateRun(c.who, c.req.Query("namespace").value_or(""), exp,
                                   GetString(b, "display_name"), GetString(b, "description"),
                                   std::move(src), params, GetString(b, "service_account"), ""));
      return RunV2(*run);
    }
    if (s.size() >= 2) return RunItem(c);
    return NotFound("Not Found");
  }
  return NotFound("Not Found");
}

KfpApi::KfpApi(Catalog& catalog, Engine& engine, const authz::Authorizer* authorizer,
               KfpApiOptions options)
    : impl_(std::make_shared<Impl>(catalog, engine, authorizer, std::move(options))) {}

bool KfpApi::Matches(std::string_view path) {
  if (path.rfind("/pipeline/", 0) == 0) {
    path.remove_prefix(9);
    if (path.rfind("/k8s/pod/logs", 0) == 0) return true;
  }
  for (std::string_view p : {"/apis/v1beta1", "/apis/v2beta1"}) {
    if (path.rfind(p, 0) == 0 && (path.size() == p.size() || path[p.size()] == '/')) return true;
  }
  return false;
}

http::Response KfpApi::Handle(http::Request& req) { return impl_->Handle(req); }

Status KfpApi::FireRecurringRun(const Record& recurring, int64_t scheduled_at) {
  return impl_->FireRecurringRun(recurring, scheduled_at);
}

int64_t KfpApi::ActiveRunsOf(const std::string& recurring_id) const {
  return impl_->ActiveRunsOf(recurring_id);
}

}  // namespace skiff::pipelines
