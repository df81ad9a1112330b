#include "pipelines/catalog.hpp"

#include <algorithm>
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

// A run's status record and node records (see catalog.hpp).
constexpr std::string_view kStatusResource = "runstatuses.pipelines.kubeflow.org";
constexpr std::string_view kNodeResource = "runnodes.pipelines.kubeflow.org";

std::string NodeRecordName(std::string_view run_id, std::string_view node_id) {
  std::string name(run_id);
  name += '.';
  name += node_id;
  return name;
}

store::Key NodeKey(const std::string& ns, std::string_view run_id, std::string_view node_id) {
  return {std::string(kNodeResource), ns, NodeRecordName(run_id, node_id)};
}

// Calls `fn(object)` for every stored object of `resource`, page by page.
Status ForEachStored(store::Store& store, std::string_view resource,
                     const std::function<Status(store::Object&)>& fn) {
  store::ListOptions options;
  options.limit = 1000;
  for (;;) {
    SKIFF_ASSIGN_OR_RETURN(store::ListResult page, store.List(std::string(resource), options));
    for (store::Object& o : page.items) SKIFF_RETURN_IF_ERROR(fn(o));
    if (page.continue_token.empty()) return Status();
    options.continue_token = page.continue_token;
  }
}

}  // namespace

std::string_view StoreResource(Kind kind) { return Info(kind).resource; }
std::string_view KindNoun(Kind kind) { return Info(kind).noun; }

Result<RunState> RunStateOf(const Record& r) { return RunState::FromJson(r.status, r.nodes); }

void SetRunState(Record& r, const RunState& state) {
  r.status = state.StatusJson();
  r.nodes = state.AllNodeDocs();
}

std::string FormatTimestamp(int64_t ms) {
  return FormatRfc3339(std::chrono::system_clock::time_point(std::chrono::milliseconds(ms)));
}

json::object Catalog::Envelope(Kind kind, const Record& r, json::object status) {
  json::object md{{"name", r.id}, {"createdAtMs", r.created_at_ms}};
  if (!r.ns.empty()) md["namespace"] = r.ns;
  json::object doc{{"apiVersion", "pipelines.kubeflow.org/v1"},
                   {"kind", Info(kind).kind},
                   {"metadata", std::move(md)},
                   {"spec", r.spec}};
  // A run's status is a record of its own.
  if (kind != Kind::kRun) doc["status"] = std::move(status);
  return doc;
}

Result<RecordPtr> Catalog::Store(Kind kind, Record r, const Record* old, bool spec_changed,
                                 bool durable) {
  std::vector<store::Mutation> mutations;
  // A legacy run document (status inside) is rewritten without it.
  const bool write_doc =
      kind != Kind::kRun || old == nullptr || spec_changed || old->status_version == 0;
  if (write_doc) {
    // Other kinds: the status goes into the document without a copy and comes back from the
    // stored object.
    mutations.push_back(
        {old == nullptr ? store::Mutation::Op::kCreate : store::Mutation::Op::kUpdate,
         KeyOf(kind, r),
         Envelope(kind, r, kind == Kind::kRun ? json::object() : std::move(r.status)),
         old == nullptr ? 0 : old->version});
  }
  if (kind == Kind::kRun) {
    // The run's status and its nodes stay out of its document: the status is one record, each
    // node that changed another, in the same transaction.
    SKIFF_RETURN_IF_ERROR(SplitNodes(r));
    json::object md{{"name", r.id}};
    if (!r.ns.empty()) md["namespace"] = r.ns;
    const bool had_status = old != nullptr && old->status_version != 0;
    mutations.push_back({had_status ? store::Mutation::Op::kUpdate : store::Mutation::Op::kCreate,
                         {std::string(kStatusResource), r.ns, r.id},
                         json::object{{"apiVersion", "pipelines.kubeflow.org/v1"},
                                      {"kind", "RunStatus"},
                                      {"metadata", std::move(md)},
                                      {"status", std::move(r.status)}},
                         had_status ? old->status_version : 0,
                         /*history=*/false});
    NodeMutations(r, old, mutations);
  }
  for (store::Mutation& m : mutations) m.durable = durable;
  SKIFF_ASSIGN_OR_RETURN(std::vector<store::Object> stored, store_.Commit(std::move(mutations)));
  r.version = write_doc ? stored.front().resource_version : old->version;
  store::Object& with_status = kind == Kind::kRun ? stored[write_doc ? 1 : 0] : stored.front();
  if (json::value* status = with_status.object.if_contains("status");
      status && status->is_object()) {
    r.status = std::move(status->get_object());
  }
  if (kind == Kind::kRun) {
    r.status_version = with_status.resource_version;
    r.node_records = true;
  }
  auto ptr = std::make_shared<const Record>(std::move(r));
  std::lock_guard lock(mu_);
  records_[static_cast<size_t>(kind)][ptr->id] = ptr;
  generation_[static_cast<size_t>(kind)].fetch_add(1, std::memory_order_release);
  return RecordPtr(ptr);
}

Status Catalog::SplitNodes(Record& r) {
  json::value* n = r.status.if_contains("nodes");
  if (n == nullptr) return Status();
  if (!n->is_object()) return InvalidArgument("status.nodes: must be an object");
  NodeDocs docs;
  docs.reserve(n->get_object().size());
  for (auto& [id, node] : n->get_object()) {
    if (!node.is_object()) {
      return InvalidArgument("status.nodes." + std::string(id) + ": must be an object");
    }
    docs.push_back(
        std::make_shared<const NodeDoc>(NodeDoc{std::string(id), std::move(node.get_object())}));
  }
  std::sort(docs.begin(), docs.end(),
            [](const NodeDocPtr& a, const NodeDocPtr& b) { return a->id < b->id; });
  r.status.erase("nodes");
  r.nodes = std::move(docs);
  return Status();
}

void Catalog::NodeMutations(const Record& r, const Record* old, std::vector<store::Mutation>& out) {
  // A run written inline (by an earlier version) has no node records yet: all are created.
  static const NodeDocs kNone;
  const NodeDocs& before = old != nullptr && old->node_records ? old->nodes : kNone;
  auto was = before.begin();
  for (const NodeDocPtr& node : r.nodes) {
    for (; was != before.end() && (*was)->id < node->id; ++was) {
      out.push_back({store::Mutation::Op::kDelete,
                     NodeKey(r.ns, r.id, (*was)->id),
                     {},
                     0,
                     /*history=*/false});
    }
    const bool existed = was != before.end() && (*was)->id == node->id;
    const bool same = existed && (*was == node || (*was)->json == node->json);
    if (existed) ++was;
    if (same) continue;
    json::object md{{"name", NodeRecordName(r.id, node->id)}};
    if (!r.ns.empty()) md["namespace"] = r.ns;
    out.push_back({existed ? store::Mutation::Op::kUpdate : store::Mutation::Op::kCreate,
                   NodeKey(r.ns, r.id, node->id),
                   json::object{{"apiVersion", "pipelines.kubeflow.org/v1"},
                                {"kind", "RunNode"},
                                {"metadata", std::move(md)},
                                {"run", r.id},
                                {"node", node->json}},
                   0,
                   /*history=*/false});
  }
  for (; was != before.end(); ++was) {
    out.push_back(
        {store::Mutation::Op::kDelete, NodeKey(r.ns, r.id, (*was)->id), {}, 0, /*history=*/false});
  }
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
  // Status records by run id; node records by run id, then node id.
  std::map<std::string, store::Object> statuses;
  SKIFF_RETURN_IF_ERROR(ForEachStored(store, kStatusResource, [&](store::Object& o) -> Status {
    std::string id = o.key.name;
    statuses.emplace(std::move(id), std::move(o));
    return Status();
  }));
  std::map<std::string, std::map<std::string, json::object>> nodes;
  SKIFF_RETURN_IF_ERROR(ForEachStored(store, kNodeResource, [&](store::Object& o) -> Status {
    const std::string run = GetString(o.object, "run");
    json::value* node = o.object.if_contains("node");
    if (run.empty() || o.key.name.size() <= run.size() + 1 ||
        o.key.name.compare(0, run.size() + 1, run + ".") != 0 || node == nullptr ||
        !node->is_object()) {
      return Status(Code::kDataLoss, "stored run node \"" + o.key.name + "\" is damaged");
    }
    nodes[run][o.key.name.substr(run.size() + 1)] = std::move(node->get_object());
    return Status();
  }));
  for (int k = 0; k < kKindCount; ++k) {
    SKIFF_RETURN_IF_ERROR(ForEachStored(store, kKinds[k].resource, [&](store::Object& o) -> Status {
      SKIFF_ASSIGN_OR_RETURN(Record r, FromObject(o));
      if (static_cast<Kind>(k) == Kind::kRun) {
        // Runs stored by earlier versions: the status (and its nodes) inside the document.
        if (auto it = statuses.find(r.id); it != statuses.end()) {
          json::value* status = it->second.object.if_contains("status");
          if (status == nullptr || !status->is_object()) {
            return Status(Code::kDataLoss, "stored status of run \"" + r.id + "\" is damaged");
          }
          r.status = std::move(status->get_object());
          r.status_version = it->second.resource_version;
        }
        if (r.status.contains("nodes")) {
          SKIFF_RETURN_IF_ERROR(SplitNodes(r));
        } else {
          r.node_records = true;
          if (auto it = nodes.find(r.id); it != nodes.end()) {
            r.nodes.reserve(it->second.size());
            for (auto& [node, json] : it->second) {
              r.nodes.push_back(std::make_shared<const NodeDoc>(NodeDoc{node, std::move(json)}));
            }
          }
        }
      }
      std::string id = r.id;
      c->records_[k].emplace(std::move(id), std::make_shared<const Record>(std::move(r)));
      return Status();
    }));
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
  return Store(kind, std::move(r), nullptr, true);
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
  return Store(kind, std::move(r), old.get(), true);
}

Result<RecordPtr> Catalog::ReplaceStatus(Kind kind, const std::string& id, json::object status,
                                         NodeDocs nodes, bool durable) {
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
  r.nodes = std::move(nodes);
  return Store(kind, std::move(r), old.get(), false, durable);
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
    if (kind == Kind::kRun && r->status_version != 0) {
      mutations.push_back({store::Mutation::Op::kDelete,
                           {std::string(kStatusResource), r->ns, r->id},
                           {},
                           r->status_version,
                           /*history=*/false});
    }
    if (kind == Kind::kRun && r->node_records) {
      for (const NodeDocPtr& node : r->nodes) {
        mutations.push_back({store::Mutation::Op::kDelete, NodeKey(r->ns, r->id, node->id), {}, 0});
      }
    }
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
