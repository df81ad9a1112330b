#include "pipelines/catalog.hpp"

#include <array>

#include "core/crypto.hpp"

namespace skiff::pipelines {

namespace {

struct KindInfo {
  std::string_view resource;
  std::string_view noun;
  std::string_view kind;  // the envelope's kind
};

constexpr std::array<KindInfo, kKindCount> kKinds = {{
    {"pipelines.pipelines.kubeflow.org", "pipeline", "Pipeline"},
    {"pipelineversions.pipelines.kubeflow.org", "pipeline version", "PipelineVersion"},
    {"experiments.pipelines.kubeflow.org", "experiment", "Experiment"},
    {"runs.pipelines.kubeflow.org", "run", "Run"},
    {"recurringruns.pipelines.kubeflow.org", "recurring run", "RecurringRun"},
    {"cacheentries.pipelines.kubeflow.org", "cache entry", "CacheEntry"},
}};

const KindInfo& Info(Kind kind) { return kKinds[static_cast<size_t>(kind)]; }

store::Key KeyOf(Kind kind, const Record& r) {
  return {std::string(Info(kind).resource), r.ns, r.id};
}

}  // namespace

std::string_view StoreResource(Kind kind) { return Info(kind).resource; }
std::string_view KindNoun(Kind kind) { return Info(kind).noun; }

std::string FormatTimestamp(int64_t ms) {
  return FormatRfc3339(std::chrono::system_clock::time_point(std::chrono::milliseconds(ms)));
}

json::object Catalog::Envelope(Kind kind, const Record& r, json::object status) {
  json::object md{{"name", r.id}, {"createdAtMs", r.created_at_ms}};
  if (!r.ns.empty()) md["namespace"] = r.ns;
  return json::object{{"apiVersion", "pipelines.kubeflow.org/v1"},
                      {"kind", Info(kind).kind},
                      {"metadata", std::move(md)},
                      {"spec", r.spec},
                      {"status", std::move(status)}};
}

Result<RecordPtr> Catalog::Store(Kind kind, Record r, int64_t expected_version) {
  // The status (a run's whole state) goes into the document without a copy and comes back from
  // the stored object.
  json::object doc = Envelope(kind, r, std::move(r.status));
  Result<store::Object> stored =
      expected_version == 0 ? store_.Create(KeyOf(kind, r), std::move(doc))
                            : store_.Update(KeyOf(kind, r), std::move(doc), expected_version);
  if (!stored) return stored.error();
  r.version = stored->resource_version;
  if (json::value* status = stored->object.if_contains("status"); status && status->is_object()) {
    r.status = std::move(status->get_object());
  }
  auto ptr = std::make_shared<const Record>(std::move(r));
  std::lock_guard lock(mu_);
  records_[static_cast<size_t>(kind)][ptr->id] = ptr;
  generation_[static_cast<size_t>(kind)].fetch_add(1, std::memory_order_release);
  return RecordPtr(ptr);
}

Result<Record> Catalog::FromObject(const store::Object& o) {
  Record r;
  r.id = o.key.name;
  r.ns = o.key.ns;
  r.version = o.resource_version;
  const json::value* created = Find(o.object, "metadata.createdAtMs");
  if (created != nullptr && created->is_int64()) r.created_at_ms = created->get_int64();
  if (const json::object* spec = GetObject(o.object, "spec")) r.spec = *spec;
  if (const json::object* status = GetObject(o.object, "status")) r.status = *status;
  return r;
}

Result<std::unique_ptr<Catalog>> Catalog::Open(store::Store& store, const Clock& clock) {
  std::unique_ptr<Catalog> c(new Catalog(store, clock));
  for (int k = 0; k < kKindCount; ++k) {
    store::ListOptions options;
    for (;;) {
      SKIFF_ASSIGN_OR_RETURN(store::ListResult page,
                             store.List(std::string(kKinds[k].resource), options));
      for (const store::Object& o : page.items) {
        SKIFF_ASSIGN_OR_RETURN(Record r, FromObject(o));
        std::string id = r.id;
        c->records_[k].emplace(std::move(id), std::make_shared<const Record>(std::move(r)));
      }
      if (page.continue_token.empty()) break;
      options.continue_token = page.continue_token;
    }
  }
  return c;
}

int64_t Catalog::NowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now().time_since_epoch())
      .count();
}

Result<RecordPtr> Catalog::Create(Kind kind, std::string ns, json::object spec, json::object status,
                                  std::string id, int64_t created_at_ms) {
  Record r;
  r.id = id.empty() ? NewUid() : std::move(id);
  r.ns = std::move(ns);
  r.spec = std::move(spec);
  r.status = std::move(status);
  r.created_at_ms = created_at_ms != 0 ? created_at_ms : NowMs();
  std::lock_guard write(write_mu_);
  if (Get(kind, r.id) != nullptr) {
    return AlreadyExists(std::string(Info(kind).noun) + " \"" + r.id + "\" already exists");
  }
  return Store(kind, std::move(r), 0);
}

RecordPtr Catalog::Get(Kind kind, const std::string& id) const {
  std::lock_guard lock(mu_);
  const auto& m = records_[static_cast<size_t>(kind)];
  auto it = m.find(id);
  return it == m.end() ? nullptr : it->second;
}

Result<RecordPtr> Catalog::Update(Kind kind, const std::string& id,
                                  const std::function<Status(Record&)>& change) {
  std::lock_guard write(write_mu_);
  RecordPtr old = Get(kind, id);
  if (old == nullptr) {
    return NotFound(std::string(Info(kind).noun) + " \"" + id + "\" not found");
  }
  Record r = *old;
  SKIFF_RETURN_IF_ERROR(change(r));
  r.id = old->id;  // identity is not the change's to make
  r.ns = old->ns;
  return Store(kind, std::move(r), old->version);
}

Result<RecordPtr> Catalog::ReplaceStatus(Kind kind, const std::string& id, json::object status) {
  std::lock_guard write(write_mu_);
  RecordPtr old = Get(kind, id);
  if (old == nullptr) {
    return NotFound(std::string(Info(kind).noun) + " \"" + id + "\" not found");
  }
  Record r;
  r.id = old->id;
  r.ns = old->ns;
  r.spec = old->spec;
  r.created_at_ms = old->created_at_ms;
  r.status = std::move(status);
  return Store(kind, std::move(r), old->version);
}

Status Catalog::Delete(const std::vector<std::pair<Kind, std::string>>& records) {
  std::lock_guard write(write_mu_);
  std::vector<store::Mutation> mutations;
  for (const auto& [kind, id] : records) {
    RecordPtr r = Get(kind, id);
    if (r == nullptr) {
      return NotFound(std::string(Info(kind).noun) + " \"" + id + "\" not found");
    }
    mutations.push_back({store::Mutation::Op::kDelete, KeyOf(kind, *r), {}, r->version});
  }
  if (mutations.empty()) return Status();
  auto done = store_.Commit(std::move(mutations));
  if (!done) return done.error();
  std::lock_guard lock(mu_);
  for (const auto& [kind, id] : records) {
    records_[static_cast<size_t>(kind)].erase(id);
    generation_[static_cast<size_t>(kind)].fetch_add(1, std::memory_order_release);
  }
  return Status();
}

std::vector<RecordPtr> Catalog::All(Kind kind) const {
  std::lock_guard lock(mu_);
  const auto& m = records_[static_cast<size_t>(kind)];
  std::vector<RecordPtr> out;
  out.reserve(m.size());
  for (const auto& [id, r] : m) out.push_back(r);
  return out;
}

size_t Catalog::Count(Kind kind) const {
  std::lock_guard lock(mu_);
  return records_[static_cast<size_t>(kind)].size();
}

std::vector<RecordPtr> Catalog::Where(Kind kind, std::string_view field,
                                      std::string_view value) const {
  std::lock_guard lock(mu_);
  std::vector<RecordPtr> out;
  for (const auto& [id, r] : records_[static_cast<size_t>(kind)]) {
    const json::value* v = r->spec.if_contains(field);
    if (v != nullptr && v->is_string() && v->get_string() == value) out.push_back(r);
  }
  return out;
}

}  // namespace skiff::pipelines
