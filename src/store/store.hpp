#pragma once
// skiff_store: the durable resource store. Owns objects (JSON documents keyed by resource,
// namespace and name), the global monotonically increasing resourceVersion, optimistic
// concurrency, label-selected lists and watches with a bounded history. Depends on skiff_core
// only; knows nothing of HTTP or of particular kinds. The SQLite backend is the default;
// PostgreSQL implements the same interface later, so callers use only this header.
//
// Threading: every method is thread-safe and blocking (disk I/O): call from the blocking pool
// or from start-up code, never from an I/O thread. Watch callbacks run on a store thread and
// must not block.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/json.hpp"
#include "store/selector.hpp"

namespace skiff::store {

// Identifies an object. `resource` is the storage name of a kind: the plural for the core group
// ("namespaces") or "plural.group" ("inferenceservices.serving.kserve.io"). `ns` is empty for
// cluster-scoped objects.
struct Key {
  std::string resource;
  std::string ns;
  std::string name;
  friend bool operator==(const Key&, const Key&) = default;
};

struct Object {
  Key key;
  int64_t resource_version = 0;  // also written into object.metadata.resourceVersion
  json::object object;           // the full document as stored
};

enum class EventType { kAdded, kModified, kDeleted };
std::string_view EventTypeName(EventType t);  // "ADDED", "MODIFIED", "DELETED"

struct Event {
  EventType type;
  // For kDeleted: the last state, with resource_version set to the deletion's version.
  Object object;
};

// One write inside a transaction. Preconditions are checked inside the transaction.
struct Mutation {
  enum class Op { kCreate, kUpdate, kDelete };
  Op op;
  Key key;
  json::object object;           // kCreate/kUpdate: the new document (metadata included)
  int64_t expected_version = 0;  // kUpdate/kDelete: 0 = unconditional, else must match
  // false: no watch event is sent or kept in the history for this write (bookkeeping that no
  // one watches, such as the pipelines catalog's records of a run's nodes, which would crowd
  // the history out). It still takes a version.
  bool history = true;
  // false: the commit may be acknowledged before it reaches the disk (SQLite synchronous=NORMAL
  // for its transaction, whatever SqliteOptions::synchronous says): a process crash keeps it, a
  // power loss or OS crash may lose it, together with later non-durable commits but never an
  // earlier durable one (the next durable commit makes everything before it durable). For
  // progress that is cheap to redo, such as a running pipeline's node states. A transaction is
  // durable when any of its mutations is (or any in the same commit group).
  bool durable = true;
};

struct ListOptions {
  std::string ns;              // empty = all namespaces
  Selector label_selector;     // empty = everything
  int64_t limit = 0;           // 0 = no limit
  std::string continue_token;  // from a previous ListResult
};

// Paging: a continue token names the last key returned and the first page's version. A later
// page reads the current state after that key (no item present throughout is skipped or
// repeated; items created meanwhile appear if they sort after it). Tokens do not expire (the
// store keeps no old snapshots to be "too old" for); a malformed one is InvalidArgument.
struct ListResult {
  std::vector<Object> items;  // ordered by (ns, name)
  // The store's version at which the list was read (in the same read transaction). For a
  // continued list, the first page's version, so a watch from it misses no change to items on
  // earlier pages.
  int64_t resource_version = 0;
  std::string continue_token;  // non-empty when more items remain
  int64_t remaining = 0;       // matching items after this page (exact)
};

// A live watch. Destroying it (or Stop) ends delivery; after Stop returns, no callback runs
// (Stop waits for one in progress). Stop, or destroying the handle, from inside the watch's own
// callback is allowed and returns at once: that callback finishes and no other follows. A
// handle may outlive its store. Stop is idempotent.
class Watch {
 public:
  virtual ~Watch() = default;
  virtual void Stop() = 0;
};

struct WatchOptions {
  std::string ns;
  Selector label_selector;
  // Deliver events with resource_version > from_version. 0 = start now (no replay). A version
  // older than the kept history fails with Expired (HTTP 410 Gone); the current version (or a
  // later one) replays nothing. Replayed events come from the durable history, so a watch can
  // resume across restarts.
  int64_t from_version = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // Creates; AlreadyExists if the key exists. Sets metadata.resourceVersion.
  virtual Result<Object> Create(const Key& key, json::object object) = 0;
  virtual Result<Object> Get(const Key& key) = 0;
  // Replaces; NotFound if missing; Conflict (Code::kAborted, reason "Conflict") if
  // expected_version != 0 and differs from the stored version.
  virtual Result<Object> Update(const Key& key, json::object object, int64_t expected_version) = 0;
  // Deletes and returns the last state; NotFound / Conflict as Update.
  virtual Result<Object> Delete(const Key& key, int64_t expected_version) = 0;
  // Applies all mutations atomically, in order, or none. Returns the resulting objects (the
  // deleted state for deletes), each with its own new version.
  virtual Result<std::vector<Object>> Commit(std::vector<Mutation> mutations) = 0;

  virtual Result<ListResult> List(const std::string& resource, const ListOptions& options) = 0;

  // Starts a watch on `resource`. `on_event` is called in version order, one call at a time;
  // `on_error` once if the watch breaks (e.g. the watcher fell too far behind: Expired; the
  // store closing: Unavailable), after which no more events come. Filtering follows Kubernetes'
  // watch cache: a MODIFIED object that moves into the selector arrives as ADDED, one that moves
  // out as DELETED (its previous content at the new version). Callbacks may use the store and
  // Stop any watch, but must not block and must not destroy the store. `on_error` may be empty.
  virtual Result<std::unique_ptr<Watch>> StartWatch(
      const std::string& resource, const WatchOptions& options,
      std::function<void(const Event&)> on_event, std::function<void(const Status&)> on_error) = 0;

  // The highest version assigned so far.
  virtual int64_t CurrentVersion() = 0;
};

struct SqliteOptions {
  std::string path;  // database file; ":memory:" for tests
  // "full" (default): every commit is fsynced before it is acknowledged, so no acknowledged
  // write is lost even on power failure. "normal": WAL without per-commit fsync; survives a
  // process crash (SIGKILL) but may lose the last commits on power loss. Concurrent commits are
  // grouped into one SQLite transaction (one fsync), each still atomic on its own.
  std::string synchronous = "full";
  int64_t history_size = 10'000;  // events kept for watch replay (the newest ones); >= 1
  // Reader connections for Get/List/watch replay, so reads never wait for a write (WAL). 0 (and
  // always for ":memory:") reads on the writer connection under the write mutex.
  int read_connections = 4;
  int busy_timeout_ms = 5'000;  // how long a statement waits for another process's lock
  int watch_threads = 2;        // dispatcher threads running watch callbacks
  // Pending events per watcher; a watcher that falls further behind ends with Expired.
  int64_t watch_queue_size = 1'000;
};

Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options);

}  // namespace skiff::store
