// The SQLite backend of the store.
//
// Schema (version 1, PRAGMA user_version):
//   objects(resource, ns, name, rv, labels, json)  primary key (resource, ns, name); `labels` is
//       metadata.labels as JSON so that selectors are checked without parsing whole documents.
//   meta(key, value)                                'revision' = the global resourceVersion;
//       'trimmed' = the newest version whose event was trimmed (absent in databases of earlier
//       versions, which trimmed by version: there the oldest event's version - 1 is the bound).
//   events(rv, type, resource, ns, name, json, prev_json)  one row per mutated object (but
//       writes without history), written in the same transaction as the mutation and trimmed
//       to the last `history_size` rows, so that watches resume from a version across
//       restarts. `prev_json` is the state before a MODIFIED change (needed to turn it into
//       ADDED/DELETED for a selector, as Kubernetes).
//
// Concurrency: one writer connection behind `write_mu_`, fed by a group-commit queue; reads use
// a pool of read-only connections, which in WAL mode see the last committed snapshot without
// waiting for writers.

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>

#include "store/sqlite_db.hpp"
#include "store/store.hpp"
#include "store/store_util.hpp"
#include "store/watch_hub.hpp"

namespace skiff::store {

namespace {

using sqlite::Connection;
using sqlite::Statement;
using sqlite::Transaction;

constexpr int64_t kSchemaVersion = 1;

Status MigrateTo1(Connection& c) {
  return c.Exec(R"sql(
    CREATE TABLE objects (
      resource TEXT NOT NULL,
      ns TEXT NOT NULL,
      name TEXT NOT NULL,
      rv INTEGER NOT NULL,
      labels TEXT NOT NULL,
      json TEXT NOT NULL,
      PRIMARY KEY (resource, ns, name)
    );
    CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
    INSERT INTO meta (key, value) VALUES ('revision', 0);
    CREATE TABLE events (
      rv INTEGER PRIMARY KEY,
      type TEXT NOT NULL,
      resource TEXT NOT NULL,
      ns TEXT NOT NULL,
      name TEXT NOT NULL,
      json TEXT NOT NULL,
      prev_json TEXT
    );
  )sql");
}

// kMigrations[i] takes the schema from version i to i + 1. A later version appends a step; a
// database is never migrated down.
constexpr std::array<Status (*)(Connection&), kSchemaVersion> kMigrations = {&MigrateTo1};

Status Migrate(Connection& c, const std::string& path) {
  SKIFF_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(c, Transaction::Kind::kWrite));
  SKIFF_ASSIGN_OR_RETURN(int64_t version, c.QueryInt("PRAGMA user_version"));
  if (version > kSchemaVersion || version < 0) {
    return FailedPrecondition("database " + path + " has schema version " +
                              std::to_string(version) + ", newer than this skiff supports (" +
                              std::to_string(kSchemaVersion) + "); upgrade skiff");
  }
  if (version == kSchemaVersion) return Status::Ok();
  for (int64_t v = version; v < kSchemaVersion; ++v) {
    SKIFF_RETURN_IF_ERROR(kMigrations[static_cast<size_t>(v)](c).WithPrefix(
        "migrating database " + path + " to schema version " + std::to_string(v + 1)));
  }
  SKIFF_RETURN_IF_ERROR(c.Exec("PRAGMA user_version = " + std::to_string(kSchemaVersion)));
  return tx.Commit();
}

EventType ParseEventType(std::string_view s) {
  if (s == "ADDED") return EventType::kAdded;
  if (s == "DELETED") return EventType::kDeleted;
  return EventType::kModified;
}

Result<json::object> ParseStored(std::string_view text, const Key& key) {
  Result<json::object> o = ParseJsonObject(text);
  if (!o) return Status(Code::kDataLoss, "stored " + Describe(key) + " is not valid JSON");
  return o;
}

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(const SqliteOptions& options) : options_(options) {}
  ~SqliteStore() override {
    // Ends every watch (on_error Unavailable) and joins the dispatchers before the connections
    // go away: a callback may still be reading through this store.
    if (hub_) hub_->Close(Unavailable("the store is closing"));
  }

  Status Open();

  Result<Object> Create(const Key& key, json::object object) override {
    return Single(Mutation{Mutation::Op::kCreate, key, std::move(object), 0});
  }
  Result<Object> Update(const Key& key, json::object object, int64_t expected_version) override {
    return Single(Mutation{Mutation::Op::kUpdate, key, std::move(object), expected_version});
  }
  Result<Object> Delete(const Key& key, int64_t expected_version) override {
    return Single(Mutation{Mutation::Op::kDelete, key, {}, expected_version});
  }
  Result<Object> Get(const Key& key) override;
  Result<std::vector<Object>> Commit(std::vector<Mutation> mutations) override;
  Result<ListResult> List(const std::string& resource, const ListOptions& options) override;
  Result<std::unique_ptr<Watch>> StartWatch(const std::string& resource,
                                            const WatchOptions& options,
                                            std::function<void(const Event&)> on_event,
                                            std::function<void(const Status&)> on_error) override;
  int64_t CurrentVersion() override { return current_version_.load(); }

 private:
  Result<Object> Single(Mutation m) {
    std::vector<Mutation> one;
    one.push_back(std::move(m));
    SKIFF_ASSIGN_OR_RETURN(std::vector<Object> out, Commit(std::move(one)));
    return std::move(out.front());
  }
  // Group commit, as LevelDB's writer queue: concurrent Commit calls queue up; the one at the
  // front leads and applies the calls queued so far in one SQLite transaction, so they share
  // one fsync. Each call runs inside its own SAVEPOINT: a failed precondition rolls back that
  // call alone. Every call returns only after the shared COMMIT succeeded.
  struct PendingCommit {
    std::vector<Mutation>* mutations = nullptr;
    Result<std::vector<Object>> result = std::vector<Object>{};  // written by the leader
    bool done = false;                                           // guarded by queue_mu_
    std::condition_variable cv;
  };
  static constexpr size_t kMaxGroup = 256;
  void CommitGroup(const std::vector<PendingCommit*>& group);
  // Sets the writer's synchronous level for the next write transaction: the configured one for
  // a durable commit, NORMAL for one that need not be (Mutation::durable). SQLite cannot change
  // it inside a transaction. Under write_mu_.
  Status SetDurable(bool durable);
  // Applies one mutation inside the open write transaction.
  // Writes without history add their change to `changes` (the caller's result) but not to
  // `events` (what watchers get) nor the events table.
  Status Apply(Mutation& m, int64_t& revision, std::vector<std::shared_ptr<Change>>& changes,
               std::vector<std::shared_ptr<Change>>& events);
  Result<std::vector<std::shared_ptr<const Event>>> ReadReplay(const std::string& resource,
                                                               const WatchOptions& options,
                                                               int64_t up_to);

  // Runs `fn(Connection&)` on a leased reader, or on the writer under write_mu_ when there are
  // no readers (":memory:" or read_connections == 0).
  template <class F>
  auto WithReader(F&& fn) -> decltype(fn(std::declval<Connection&>())) {
    if (readers_.empty()) {
      std::lock_guard lock(write_mu_);
      return fn(*writer_);
    }
    Connection* conn = nullptr;
    {
      std::unique_lock lock(pool_mu_);
      pool_cv_.wait(lock, [&] { return !idle_readers_.empty(); });
      conn = idle_readers_.back();
      idle_readers_.pop_back();
    }
    struct Return {
      SqliteStore* self;
      Connection* conn;
      ~Return() {
        {
          std::lock_guard lock(self->pool_mu_);
          self->idle_readers_.push_back(conn);
        }
        self->pool_cv_.notify_one();
      }
    } give_back{this, conn};
    return fn(*conn);
  }

  const SqliteOptions options_;

  // Guards the writer connection (SQLite connections are single-threaded here) and makes
  // "commit, then publish to watchers" one step, so watchers see changes in version order and
  // StartWatch can register at an exact version. Held for the whole write transaction.
  std::mutex write_mu_;
  std::unique_ptr<Connection> writer_;

  std::mutex queue_mu_;                      // guards commit_queue_ and PendingCommit::done
  std::deque<PendingCommit*> commit_queue_;  // front = the current or next leader

  std::vector<std::unique_ptr<Connection>> readers_;  // fixed after Open()
  std::mutex pool_mu_;                                // guards idle_readers_
  std::condition_variable pool_cv_;
  std::vector<Connection*> idle_readers_;

  // The last committed version; written under write_mu_ after COMMIT succeeded.
  std::atomic<int64_t> current_version_{0};
  // The versions of the rows in the events table, oldest first; guarded by write_mu_.
  std::deque<int64_t> history_;
  std::shared_ptr<WatchHub> hub_;
  std::string sync_;      // the configured synchronous level, lower case; fixed after Open()
  bool relaxed_ = false;  // the writer is at NORMAL for non-durable commits; guarded by write_mu_
};

Status SqliteStore::Open() {
  const SqliteOptions& o = options_;
  if (o.path.empty()) return InvalidArgument("store: the database path is empty");
  std::string sync = o.synchronous;
  std::transform(sync.begin(), sync.end(), sync.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  // "off" is not offered: it can corrupt the database on power loss.
  if (sync != "full" && sync != "normal" && sync != "extra") {
    return InvalidArgument("store: synchronous must be \"full\", \"normal\" or \"extra\", not \"" +
                           o.synchronous + "\"");
  }
  if (o.history_size < 1) return InvalidArgument("store: history_size must be at least 1");
  if (o.read_connections < 0) return InvalidArgument("store: read_connections must be >= 0");
  if (o.watch_queue_size < 1) return InvalidArgument("store: watch_queue_size must be >= 1");

  const bool memory = o.path == ":memory:";
  SKIFF_ASSIGN_OR_RETURN(writer_, Connection::Open(o.path, false, o.busy_timeout_ms));
  if (!memory) {
    SKIFF_ASSIGN_OR_RETURN(std::string mode, writer_->QueryText("PRAGMA journal_mode = WAL"));
    if (mode != "wal") {
      return Unavailable("store: cannot put " + o.path + " in WAL mode (journal_mode is " + mode +
                         ")");
    }
  }
  // Durability of an acknowledged write. In WAL mode "full" fsyncs the WAL on every COMMIT, so
  // a Create that returned survives power loss, which an API server promises its clients (a
  // kubectl apply that printed "created" must not be undone). "normal" fsyncs only at
  // checkpoints: it survives a process crash (SIGKILL: the WAL is in the OS page cache) but may
  // lose the last commits on power loss. Set per connection; only the writer commits.
  SKIFF_RETURN_IF_ERROR(writer_->Exec("PRAGMA synchronous = " + sync));
  sync_ = sync;
  SKIFF_RETURN_IF_ERROR(Migrate(*writer_, o.path));
  SKIFF_ASSIGN_OR_RETURN(int64_t revision,
                         writer_->QueryInt("SELECT value FROM meta WHERE key = 'revision'"));
  current_version_ = revision;
  // A new database: nothing trimmed yet (see 'trimmed' above).
  if (revision == 0) {
    SKIFF_RETURN_IF_ERROR(
        writer_->Exec("INSERT OR IGNORE INTO meta (key, value) VALUES ('trimmed', 0)"));
  }
  {
    SKIFF_ASSIGN_OR_RETURN(Statement st, writer_->Prepare("SELECT rv FROM events ORDER BY rv"));
    while (true) {
      SKIFF_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      history_.push_back(st.ColumnInt(0));
    }
  }

  if (!memory) {
    for (int i = 0; i < o.read_connections; ++i) {
      SKIFF_ASSIGN_OR_RETURN(std::unique_ptr<Connection> r,
                             Connection::Open(o.path, true, o.busy_timeout_ms));
      idle_readers_.push_back(r.get());
      readers_.push_back(std::move(r));
    }
  }
  hub_ = WatchHub::Create(
      {.threads = o.watch_threads, .queue_limit = static_cast<size_t>(o.watch_queue_size)});
  return Status::Ok();
}

Result<Object> SqliteStore::Get(const Key& key) {
  SKIFF_RETURN_IF_ERROR(ValidateKey(key));
  return WithReader([&](Connection& c) -> Result<Object> {
    SKIFF_ASSIGN_OR_RETURN(
        Statement st,
        c.Prepare("SELECT rv, json FROM objects WHERE resource = ?1 AND ns = ?2 AND name = ?3"));
    st.Bind(1, key.resource).Bind(2, key.ns).Bind(3, key.name);
    SKIFF_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return NotFoundError(key);
    SKIFF_ASSIGN_OR_RETURN(json::object o, ParseStored(st.ColumnText(1), key));
    return Object{key, st.ColumnInt(0), std::move(o)};
  });
}

Status SqliteStore::Apply(Mutation& m, int64_t& revision,
                          std::vector<std::shared_ptr<Change>>& changes,
                          std::vector<std::shared_ptr<Change>>& events) {
  Connection& c = *writer_;
  bool exists = false;
  int64_t stored_version = 0;
  std::string stored_json;
  // The stored document is needed for the event of an update and for a delete's result.
  const bool need_stored = m.history || m.op == Mutation::Op::kDelete;
  {
    SKIFF_ASSIGN_OR_RETURN(
        Statement st,
        c.Prepare(need_stored
                      ? "SELECT rv, json FROM objects WHERE resource = ?1 AND ns = ?2 AND name = ?3"
                      : "SELECT rv FROM objects WHERE resource = ?1 AND ns = ?2 AND name = ?3"));
    st.Bind(1, m.key.resource).Bind(2, m.key.ns).Bind(3, m.key.name);
    SKIFF_ASSIGN_OR_RETURN(exists, st.Step());
    if (exists) {
      stored_version = st.ColumnInt(0);
      if (need_stored) stored_json = st.ColumnText(1);
    }
  }
  if (m.op == Mutation::Op::kCreate) {
    if (exists) return AlreadyExistsError(m.key);
  } else {
    if (!exists) return NotFoundError(m.key);
    if (m.expected_version != 0 && m.expected_version != stored_version) {
      return ConflictError(m.key);
    }
  }

  const int64_t version = ++revision;
  std::shared_ptr<Object> prev;  // deletes; an update's is parsed only when a watcher needs it
  if (exists && m.op == Mutation::Op::kDelete) {
    SKIFF_ASSIGN_OR_RETURN(json::object prev_doc, ParseStored(stored_json, m.key));
    prev = std::make_shared<Object>(Object{m.key, stored_version, std::move(prev_doc)});
  }
  EventType type = EventType::kAdded;
  std::shared_ptr<Object> now;
  if (m.op == Mutation::Op::kDelete) {
    type = EventType::kDeleted;
    now = std::make_shared<Object>(*prev);
    SKIFF_ASSIGN_OR_RETURN(
        Statement del,
        c.Prepare("DELETE FROM objects WHERE resource = ?1 AND ns = ?2 AND name = ?3"));
    del.Bind(1, m.key.resource).Bind(2, m.key.ns).Bind(3, m.key.name);
    SKIFF_RETURN_IF_ERROR(del.Run());
  } else {
    type = m.op == Mutation::Op::kCreate ? EventType::kAdded : EventType::kModified;
    now = std::make_shared<Object>(Object{m.key, 0, std::move(m.object)});
  }
  now->resource_version = version;
  StampVersion(now->object, version);
  const std::string doc = Serialize(now->object);

  if (m.op != Mutation::Op::kDelete) {
    SKIFF_ASSIGN_OR_RETURN(
        Statement put,
        c.Prepare(
            "INSERT INTO objects (resource, ns, name, rv, labels, json) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (resource, ns, name) "
            "DO UPDATE SET rv = excluded.rv, labels = excluded.labels, json = excluded.json"));
    put.Bind(1, m.key.resource).Bind(2, m.key.ns).Bind(3, m.key.name).Bind(4, version);
    put.Bind(5, LabelsJson(now->object)).Bind(6, doc);
    SKIFF_RETURN_IF_ERROR(put.Run());
  }
  if (m.history) {
    SKIFF_ASSIGN_OR_RETURN(
        Statement ev,
        c.Prepare("INSERT INTO events (rv, type, resource, ns, name, json, prev_json) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
    ev.Bind(1, version).Bind(2, EventTypeName(type)).Bind(3, m.key.resource);
    ev.Bind(4, m.key.ns).Bind(5, m.key.name).Bind(6, doc);
    if (type == EventType::kModified) {
      ev.Bind(7, stored_json);
    } else {
      ev.BindNull(7);
    }
    SKIFF_RETURN_IF_ERROR(ev.Run());
  }
  if (type == EventType::kModified) {
    changes.push_back(std::make_shared<Change>(std::move(now), std::move(stored_json)));
  } else {
    changes.push_back(std::make_shared<Change>(type, std::move(now), std::move(prev)));
  }
  if (m.history) events.push_back(changes.back());
  return Status::Ok();
}

Result<std::vector<Object>> SqliteStore::Commit(std::vector<Mutation> mutations) {
  if (mutations.empty()) return std::vector<Object>{};
  for (const Mutation& m : mutations) SKIFF_RETURN_IF_ERROR(ValidateKey(m.key));
  PendingCommit self;
  self.mutations = &mutations;
  std::unique_lock queue_lock(queue_mu_);
  commit_queue_.push_back(&self);
  self.cv.wait(queue_lock, [&] { return self.done || commit_queue_.front() == &self; });
  if (self.done) return std::move(self.result);  // a leader committed it for us

  // Leader: commit everything queued so far, ourselves first.
  const size_t n = std::min(commit_queue_.size(), kMaxGroup);
  std::vector<PendingCommit*> group(commit_queue_.begin(),
                                    commit_queue_.begin() + static_cast<std::ptrdiff_t>(n));
  queue_lock.unlock();
  CommitGroup(group);
  queue_lock.lock();
  for (PendingCommit* p : group) {
    commit_queue_.pop_front();
    if (p != &self) {
      p->done = true;
      p->cv.notify_one();  // under queue_mu_: `p` lives until its owner sees `done`
    }
  }
  if (!commit_queue_.empty()) commit_queue_.front()->cv.notify_one();  // the next leader
  return std::move(self.result);
}

Status SqliteStore::SetDurable(bool durable) {
  if (sync_ == "normal" || relaxed_ == !durable) return Status();
  SKIFF_RETURN_IF_ERROR(writer_->Exec("PRAGMA synchronous = " + (durable ? sync_ : "normal")));
  relaxed_ = !durable;
  return Status();
}

void SqliteStore::CommitGroup(const std::vector<PendingCommit*>& group) {
  std::vector<std::shared_ptr<Change>> changes;
  std::vector<std::shared_ptr<Change>> events;                  // the changes with history
  std::vector<std::pair<size_t, size_t>> ranges(group.size());  // each call's slice of changes
  std::vector<bool> failed(group.size(), false);
  std::lock_guard lock(write_mu_);
  int64_t revision = 0;
  size_t drop = 0;  // events trimmed from history_
  Status status = [&]() -> Status {
    SKIFF_RETURN_IF_ERROR(SetDurable(std::any_of(group.begin(), group.end(), [](const auto* p) {
      return std::any_of(p->mutations->begin(), p->mutations->end(),
                         [](const Mutation& m) { return m.durable; });
    })));
    SKIFF_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*writer_, Transaction::Kind::kWrite));
    SKIFF_ASSIGN_OR_RETURN(revision,
                           writer_->QueryInt("SELECT value FROM meta WHERE key = 'revision'"));
    const int64_t start = revision;
    for (size_t i = 0; i < group.size(); ++i) {
      const size_t mark = changes.size();
      const size_t events_mark = events.size();
      const int64_t revision_mark = revision;
      SKIFF_RETURN_IF_ERROR(writer_->Exec("SAVEPOINT skiff_commit"));
      Status applied = Status::Ok();
      for (Mutation& m : *group[i]->mutations) {
        applied = Apply(m, revision, changes, events);
        if (!applied.ok()) break;
      }
      if (!applied.ok()) {
        // This call fails alone: undo its mutations and its versions, keep the others'. If
        // SQLite already rolled back the whole transaction (I/O error, disk full), the group
        // fails with that error.
        if (writer_->InAutocommit()) return applied;
        SKIFF_RETURN_IF_ERROR(writer_->Exec("ROLLBACK TO skiff_commit"));
        changes.resize(mark);
        events.resize(events_mark);
        revision = revision_mark;
        failed[i] = true;
        group[i]->result = applied;
      }
      SKIFF_RETURN_IF_ERROR(writer_->Exec("RELEASE skiff_commit"));
      ranges[i] = {mark, changes.size()};
    }
    if (revision != start) {
      SKIFF_ASSIGN_OR_RETURN(Statement meta,
                             writer_->Prepare("UPDATE meta SET value = ?1 WHERE key = 'revision'"));
      meta.Bind(1, revision);
      SKIFF_RETURN_IF_ERROR(meta.Run());
    }
    // The newest history_size events stay: the rest of the oldest go.
    const size_t kept = static_cast<size_t>(options_.history_size);
    if (history_.size() + events.size() > kept) {
      drop = history_.size() + events.size() - kept;
      const int64_t through = drop <= history_.size()
                                  ? history_[drop - 1]
                                  : events[drop - history_.size() - 1]->version();
      SKIFF_ASSIGN_OR_RETURN(Statement trim, writer_->Prepare("DELETE FROM events WHERE rv <= ?1"));
      trim.Bind(1, through);
      SKIFF_RETURN_IF_ERROR(trim.Run());
      SKIFF_ASSIGN_OR_RETURN(
          Statement mark,
          writer_->Prepare("INSERT INTO meta (key, value) VALUES ('trimmed', ?1) "
                           "ON CONFLICT (key) DO UPDATE SET value = excluded.value"));
      mark.Bind(1, through);
      SKIFF_RETURN_IF_ERROR(mark.Run());
    }
    // Returns only once SQLite has made the commit durable (see PRAGMA synchronous in Open and
    // SetDurable).
    // Any earlier return rolls the whole transaction back (Transaction's destructor).
    return tx.Commit();
  }();
  if (!status.ok()) {
    for (size_t i = 0; i < group.size(); ++i) {
      if (!failed[i]) group[i]->result = status;
    }
    return;
  }
  current_version_ = revision;
  for (const auto& e : events) history_.push_back(e->version());
  history_.erase(history_.begin(), history_.begin() + static_cast<std::ptrdiff_t>(drop));
  hub_->Publish(events);
  for (size_t i = 0; i < group.size(); ++i) {
    if (failed[i]) continue;
    std::vector<Object> out;
    out.reserve(ranges[i].second - ranges[i].first);
    // Watchers got their own copies when published: the objects go to the callers.
    for (size_t c = ranges[i].first; c < ranges[i].second; ++c) {
      out.push_back(changes[c]->TakeObject());
    }
    group[i]->result = std::move(out);
  }
}

Result<ListResult> SqliteStore::List(const std::string& resource, const ListOptions& options) {
  if (resource.empty()) return InvalidArgument("store: list of an empty resource");
  if (options.limit < 0) return InvalidArgument("limit must not be negative");
  ContinuePoint from;
  const bool continued = !options.continue_token.empty();
  if (continued) {
    SKIFF_ASSIGN_OR_RETURN(from, DecodeContinue(options.continue_token));
  }
  return WithReader([&](Connection& c) -> Result<ListResult> {
    // One read transaction: the revision and the rows come from the same WAL snapshot.
    SKIFF_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(c, Transaction::Kind::kRead));
    ListResult result;
    SKIFF_ASSIGN_OR_RETURN(result.resource_version,
                           c.QueryInt("SELECT value FROM meta WHERE key = 'revision'"));
    // A continued list reads the current state after the last key it returned; unlike etcd we
    // keep no old snapshots to read the first page's version from, so a token never expires.
    // The result reports the first page's version so that a watch started from it misses no
    // change made to items on earlier pages (it may replay some the later pages already show).
    if (continued) result.resource_version = std::min(result.resource_version, from.version);
    const std::string sql =
        std::string("SELECT ns, name, rv, labels, json FROM objects WHERE resource = ?1 AND ") +
        (options.ns.empty() ? "" : "ns = ?4 AND ") + "(ns, name) > (?2, ?3) ORDER BY ns, name";
    SKIFF_ASSIGN_OR_RETURN(Statement st, c.Prepare(sql));
    st.Bind(1, resource).Bind(2, from.ns).Bind(3, from.name);
    if (!options.ns.empty()) st.Bind(4, options.ns);
    const bool filter = !options.label_selector.empty();
    const size_t limit = options.limit > 0 ? static_cast<size_t>(options.limit) : SIZE_MAX;
    while (true) {
      SKIFF_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      Key key{resource, std::string(st.ColumnText(0)), std::string(st.ColumnText(1))};
      if (filter) {
        SKIFF_ASSIGN_OR_RETURN(json::object labels, ParseStored(st.ColumnText(3), key));
        if (!options.label_selector.MatchesLabels(labels)) continue;
      }
      if (result.items.size() >= limit) {
        ++result.remaining;
        continue;
      }
      SKIFF_ASSIGN_OR_RETURN(json::object o, ParseStored(st.ColumnText(4), key));
      result.items.push_back(Object{std::move(key), st.ColumnInt(2), std::move(o)});
    }
    if (result.remaining > 0) {
      const Key& last = result.items.back().key;
      result.continue_token =
          EncodeContinue({continued ? from.version : result.resource_version, last.ns, last.name});
    }
    return result;
  });
}

Result<std::vector<std::shared_ptr<const Event>>> SqliteStore::ReadReplay(
    const std::string& resource, const WatchOptions& options, int64_t up_to) {
  return WithReader([&](Connection& c) -> Result<std::vector<std::shared_ptr<const Event>>> {
    SKIFF_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(c, Transaction::Kind::kRead));
    SKIFF_ASSIGN_OR_RETURN(int64_t revision,
                           c.QueryInt("SELECT value FROM meta WHERE key = 'revision'"));
    // Every event after the newest trimmed one is kept, so a watch can resume from it or later.
    // Databases of earlier versions trimmed by version and kept no mark: there every event
    // after the oldest kept one's version - 1 is kept.
    int64_t trimmed = 0;
    SKIFF_ASSIGN_OR_RETURN(Statement mark,
                           c.Prepare("SELECT value FROM meta WHERE key = 'trimmed'"));
    SKIFF_ASSIGN_OR_RETURN(bool marked, mark.Step());
    if (marked) {
      trimmed = mark.ColumnInt(0);
    } else {
      SKIFF_ASSIGN_OR_RETURN(int64_t oldest, c.QueryInt("SELECT coalesce(min(rv), 0) FROM events"));
      trimmed = oldest == 0 ? revision : oldest - 1;
    }
    if (options.from_version < trimmed) {
      return Expired("too old resource version: " + std::to_string(options.from_version) + " (" +
                     std::to_string(trimmed) + ")");
    }
    SKIFF_ASSIGN_OR_RETURN(Statement st,
                           c.Prepare("SELECT rv, type, ns, name, json, prev_json FROM events "
                                     "WHERE rv > ?1 AND rv <= ?2 AND resource = ?3 ORDER BY rv"));
    st.Bind(1, options.from_version).Bind(2, up_to).Bind(3, resource);
    std::vector<std::shared_ptr<const Event>> out;
    while (true) {
      SKIFF_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      Key key{resource, std::string(st.ColumnText(2)), std::string(st.ColumnText(3))};
      if (!options.ns.empty() && key.ns != options.ns) continue;
      const EventType type = ParseEventType(st.ColumnText(1));
      SKIFF_ASSIGN_OR_RETURN(json::object doc, ParseStored(st.ColumnText(4), key));
      auto now = std::make_shared<Object>(Object{key, st.ColumnInt(0), std::move(doc)});
      std::shared_ptr<const Object> prev;
      if (type == EventType::kModified) {
        if (options.label_selector.empty()) {
          prev = now;  // only the labels of the previous state matter, and nothing is filtered
        } else {
          SKIFF_ASSIGN_OR_RETURN(json::object prev_doc, ParseStored(st.ColumnText(5), key));
          int64_t prev_version = VersionOf(prev_doc);
          prev = std::make_shared<Object>(Object{key, prev_version, std::move(prev_doc)});
        }
      }
      Change change(type, std::move(now), std::move(prev));
      if (auto event = change.EventFor(options.ns, options.label_selector)) {
        out.push_back(std::move(event));
      }
    }
    return out;
  });
}

Result<std::unique_ptr<Watch>> SqliteStore::StartWatch(
    const std::string& resource, const WatchOptions& options,
    std::function<void(const Event&)> on_event, std::function<void(const Status&)> on_error) {
  if (resource.empty()) return InvalidArgument("store: watch of an empty resource");
  if (options.from_version < 0) return InvalidArgument("resourceVersion must not be negative");
  if (!on_event) return InvalidArgument("store: watch without an event callback");
  std::shared_ptr<Watcher> watcher;
  int64_t start = 0;
  {
    // Under the write mutex no commit is between COMMIT and Publish: the watcher receives
    // exactly the changes after `start`, and the replay below covers the rest.
    std::lock_guard lock(write_mu_);
    start = current_version_.load();
    watcher = hub_->Add(resource, options, std::move(on_event), std::move(on_error));
  }
  if (!watcher) return Unavailable("the store is closing");
  std::vector<std::shared_ptr<const Event>> replay;
  if (options.from_version != 0 && options.from_version < start) {
    // Read without the write mutex so a long replay does not hold up writers; changes committed
    // meanwhile are already queued live, after `start`.
    Result<std::vector<std::shared_ptr<const Event>>> r = ReadReplay(resource, options, start);
    if (!r) {
      hub_->Abandon(watcher);
      return r.error();
    }
    replay = std::move(*r);
  }
  hub_->Activate(watcher, std::move(replay));
  return WatchHub::MakeHandle(std::move(watcher));
}

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options) {
  auto store = std::make_unique<SqliteStore>(options);
  SKIFF_RETURN_IF_ERROR(store->Open());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace skiff::store
