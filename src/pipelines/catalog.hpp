#pragma once
// The pipelines catalog: pipelines, pipeline versions, experiments, runs, recurring runs and
// cache entries, each a record kept durably in the resource store (resource
// "<plural>.pipelines.kubeflow.org", namespace = the record's namespace, name = its id) and in
// memory, so that gets and KFP's sorted, filtered, paged lists never touch the disk. Skiff is the
// only writer of these records: every write goes to the store first (durable before it is
// visible) and then to memory.
//
// Records are JSON objects in skiff's own field names (snake_case, close to KFP v2beta1); the
// API layer renders them as v1beta1 or v2beta1.
//
// A run's status is written many times while it runs, and its status.nodes are hundreds in a
// big run: so the run's document holds its spec only, its status (without nodes) is a record of
// its own (resource "runstatuses.pipelines.kubeflow.org", name = the run's id) and each node
// another ("runnodes.pipelines.kubeflow.org", name "<run id>.<node id>"), all written in one
// store transaction, without watch history (no one watches them; a big run would otherwise
// crowd other resources' events out of it). A status write leaves the document alone and
// stores only the nodes whose JSON differs from the run's previous version (deleting those that
// are gone). In memory too a run's nodes are apart from its status (Record::nodes), each an
// immutable NodeDoc that the run's versions share while it is unchanged: a write costs what
// changed, not the whole run. Runs stored by earlier versions (status and nodes inside the
// document) are read as they are and converted at their next write.
//
// Threading: thread-safe. Writes block on the store (call from the blocking pool or the engine's
// thread); reads never block on the disk (they copy pointers to immutable records).

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/json.hpp"
#include "core/result.hpp"
#include "pipelines/run_state.hpp"
#include "store/store.hpp"

namespace skiff::pipelines {

enum class Kind { kPipeline, kVersion, kExperiment, kRun, kRecurringRun, kCacheEntry };
inline constexpr int kKindCount = 6;
// "pipelines.pipelines.kubeflow.org", ...
std::string_view StoreResource(Kind kind);
// "pipeline", "pipeline version", "experiment", "run", "recurring run", "cache entry".
std::string_view KindNoun(Kind kind);

struct Record {
  std::string id;
  std::string ns;     // empty: a shared pipeline (and its versions)
  json::object spec;  // the record's fields
  json::object
      status;      // runs: the run state but its nodes; recurring runs: the schedule's progress
  NodeDocs nodes;  // runs: the run state's nodes
  int64_t version = 0;  // the store's resourceVersion of the last write
  int64_t created_at_ms = 0;
  // Runs, the catalog's own bookkeeping (see above): the version of the status record (0: the
  // status is inside the document, as earlier versions stored it), and whether the nodes are
  // node records rather than inside the stored status.
  int64_t status_version = 0;
  bool node_records = false;
};
using RecordPtr = std::shared_ptr<const Record>;

// A run record's state (its status and nodes), and the record's status and nodes set from one.
Result<RunState> RunStateOf(const Record& r);
void SetRunState(Record& r, const RunState& state);

class Catalog {
 public:
  // Loads every record from `store` (blocking). `store` must outlive the catalog.
  static Result<std::unique_ptr<Catalog>> Open(store::Store& store, const Clock& clock);

  // Creates a record with a new id (or `id` when given); created_at_ms is now (or the given
  // one when not 0). AlreadyExists when the id is taken. A run's `status` may hold its nodes
  // (under "nodes", as RunState::ToJson writes them): they become Record::nodes; so in Update.
  Result<RecordPtr> Create(Kind kind, std::string ns, json::object spec, json::object status = {},
                           std::string id = {}, int64_t created_at_ms = 0);
  // nullptr when there is none.
  RecordPtr Get(Kind kind, const std::string& id) const;
  // Read-modify-write of one record, serialized with every other write: `change` edits a copy;
  // an error from it changes nothing and is returned. NotFound when missing.
  Result<RecordPtr> Update(Kind kind, const std::string& id,
                           const std::function<Status(Record&)>& change);
  // Update that replaces a run's status and nodes (the run engine's writes of a run's state)
  // without copying the old ones first. Nodes whose NodeDoc is the previous version's (or equal
  // to it) are not written again. `durable` false: the write may be acknowledged before it
  // reaches the disk (store::Mutation::durable; for progress the engine can redo).
  Result<RecordPtr> ReplaceStatus(Kind kind, const std::string& id, json::object status,
                                  NodeDocs nodes, bool durable = true);
  // Deletes the records atomically (all or none), in order. Missing ones are NotFound.
  Status Delete(const std::vector<std::pair<Kind, std::string>>& records);
  // Every record of a kind, in no particular order.
  std::vector<RecordPtr> All(Kind kind) const;
  // How many records of a kind there are.
  size_t Count(Kind kind) const;
  // Records of `kind` whose spec field `field` equals `value` (a string field).
  std::vector<RecordPtr> Where(Kind kind, std::string_view field, std::string_view value) const;

  int64_t NowMs() const;

  // Grows with every write of `kind` (after it is visible): a cache of what All/Where returned
  // is current while the generation it was built at still is.
  uint64_t Generation(Kind kind) const {
    return generation_[static_cast<size_t>(kind)].load(std::memory_order_acquire);
  }

 private:
  Catalog(store::Store& store, const Clock& clock) : store_(store), clock_(clock) {}
  static json::object Envelope(Kind kind, const Record& r, json::object status);
  // Writes `r` to the store (creates it when `old` is null, else replaces `old`) and publishes
  // it. `spec_changed`: false when only the status may differ from `old`'s. `durable`: see
  // store::Mutation::durable. REQUIRES: write_mu_ held.
  Result<RecordPtr> Store(Kind kind, Record r, const Record* old, bool spec_changed,
                          bool durable = true);
  static Result<Record> FromObject(const store::Object& o);
  // A run's nodes given inside its status (under "nodes") move to r.nodes.
  static Status SplitNodes(Record& r);
  // The mutations that bring run `r`'s node records from `old`'s nodes to r.nodes.
  static void NodeMutations(const Record& r, const Record* old, std::vector<store::Mutation>& out);

  store::Store& store_;
  const Clock& clock_;
  std::mutex write_mu_;    // serializes writes (store write + publish) so updates never interleave
  mutable std::mutex mu_;  // guards records_
  std::map<std::string, RecordPtr> records_[kKindCount];  // by id
  std::atomic<uint64_t> generation_[kKindCount] = {};
};

// RFC 3339 with seconds precision, as KFP writes timestamps ("2024-05-01T10:00:00Z").
std::string FormatTimestamp(int64_t ms);

}  // namespace skiff::pipelines
