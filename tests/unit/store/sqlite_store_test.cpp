#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>

#include "store/store.hpp"
#include "store_test_util.hpp"

namespace skiff::store {
namespace {

using testing::Doc;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::ResourceVersionOf;
using testing::TempDir;

const std::string kCm = "configmaps";

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open(int64_t history = 10'000) {
    store_.reset();
    SqliteOptions o;
    o.path = dir_.File("skiff.db");
    o.history_size = history;
    Result<std::unique_ptr<Store>> s = OpenSqliteStore(o);
    ASSERT_TRUE(s) << s.error();
    store_ = std::move(*s);
  }

  Object MustCreate(const std::string& name, const std::string& ns = "",
                    const std::map<std::string, std::string>& labels = {}) {
    Result<Object> r = store_->Create({kCm, ns, name}, Doc(name, labels, ns));
    EXPECT_TRUE(r) << r.error();
    return r ? *r : Object{};
  }

  std::vector<std::string> Names(const ListResult& r) {
    std::vector<std::string> out;
    for (const Object& o : r.items)
      out.push_back(o.key.ns.empty() ? o.key.name : o.key.ns + "/" + o.key.name);
    return out;
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(SqliteStoreTest, CrudAssignsIncreasingVersionsAndStampsResourceVersion) {
  EXPECT_EQ(store_->CurrentVersion(), 0);
  Object created = MustCreate("a", "ns1");
  EXPECT_EQ(created.resource_version, 1);
  EXPECT_EQ(ResourceVersionOf(created.object), "1");
  EXPECT_EQ(created.key, (Key{kCm, "ns1", "a"}));

  Result<Object> got = store_->Get({kCm, "ns1", "a"});
  ASSERT_TRUE(got) << got.error();
  EXPECT_EQ(got->resource_version, 1);
  EXPECT_EQ(got->object, created.object);

  Result<Object> updated = store_->Update({kCm, "ns1", "a"}, Doc("a", {}, "ns1", "x"), 0);
  ASSERT_TRUE(updated) << updated.error();
  EXPECT_EQ(updated->resource_version, 2);
  EXPECT_EQ(ResourceVersionOf(updated->object), "2");
  EXPECT_EQ(GetString(updated->object, "data.value"), "x");

  Result<Object> deleted = store_->Delete({kCm, "ns1", "a"}, 0);
  ASSERT_TRUE(deleted) << deleted.error();
  EXPECT_EQ(deleted->resource_version, 3);  // the deletion's version
  EXPECT_EQ(ResourceVersionOf(deleted->object), "3");
  EXPECT_EQ(GetString(deleted->object, "data.value"), "x");  // the last state
  EXPECT_EQ(store_->CurrentVersion(), 3);

  Result<Object> gone = store_->Get({kCm, "ns1", "a"});
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code(), Code::kNotFound);
  EXPECT_EQ(gone.error().message(), "configmaps \"a\" in namespace \"ns1\" not found");
}

TEST_F(SqliteStoreTest, CreateOfExistingKeyIsAlreadyExists) {
  MustCreate("team-a");
  Result<Object> again = store_->Create({kCm, "", "team-a"}, Doc("team-a"));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), Code::kAlreadyExists);
  EXPECT_EQ(again.error().message(), "configmaps \"team-a\" already exists");
  EXPECT_EQ(store_->CurrentVersion(), 1);
  // The same name in another namespace or resource is another object.
  EXPECT_TRUE(store_->Create({kCm, "ns", "team-a"}, Doc("team-a")));
  EXPECT_TRUE(store_->Create({"secrets", "", "team-a"}, Doc("team-a")));
}

TEST_F(SqliteStoreTest, UpdateAndDeleteOfMissingKeyAreNotFound) {
  Result<Object> u = store_->Update({kCm, "ns", "nope"}, Doc("nope"), 0);
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error().code(), Code::kNotFound);
  EXPECT_THAT(u.error().message(), HasSubstr("\"nope\""));
  Result<Object> d = store_->Delete({kCm, "ns", "nope"}, 0);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code(), Code::kNotFound);
  EXPECT_EQ(store_->CurrentVersion(), 0);
}

TEST_F(SqliteStoreTest, StaleExpectedVersionIsConflict) {
  MustCreate("a");                                                        // v1
  ASSERT_TRUE(store_->Update({kCm, "", "a"}, Doc("a", {}, "", "1"), 1));  // v2, expected matches
  Result<Object> stale = store_->Update({kCm, "", "a"}, Doc("a", {}, "", "2"), 1);
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code(), Code::kAborted);
  EXPECT_EQ(stale.error().reason(), "Conflict");
  EXPECT_EQ(HttpStatusFor(stale.error()), 409);
  EXPECT_THAT(stale.error().message(),
              HasSubstr("Operation cannot be fulfilled on configmaps \"a\": the object has been "
                        "modified"));
  Result<Object> del = store_->Delete({kCm, "", "a"}, 1);
  ASSERT_FALSE(del);
  EXPECT_EQ(del.error().reason(), "Conflict");
  EXPECT_EQ(store_->CurrentVersion(), 2);
  EXPECT_EQ(GetString(store_->Get({kCm, "", "a"})->object, "data.value"), "1");
  // 0 is unconditional.
  EXPECT_TRUE(store_->Update({kCm, "", "a"}, Doc("a"), 0));
  EXPECT_TRUE(store_->Delete({kCm, "", "a"}, 3));
}

TEST_F(SqliteStoreTest, EmptyResourceOrNameIsInvalid) {
  EXPECT_EQ(store_->Create({"", "", "a"}, Doc("a")).error().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->Create({kCm, "", ""}, Doc("a")).error().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->Get({kCm, "", ""}).error().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->List("", {}).error().code(), Code::kInvalidArgument);
}

TEST_F(SqliteStoreTest, CommitAppliesAllInOrderWithOneVersionEach) {
  MustCreate("x");  // v1
  std::vector<Mutation> m;
  m.push_back({Mutation::Op::kCreate, {kCm, "", "a"}, Doc("a"), 0});
  m.push_back(
      {Mutation::Op::kUpdate, {kCm, "", "a"}, Doc("a", {}, "", "v"), 2});  // sees the create
  m.push_back({Mutation::Op::kDelete, {kCm, "", "x"}, {}, 1});
  Result<std::vector<Object>> r = store_->Commit(std::move(m));
  ASSERT_TRUE(r) << r.error();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].resource_version, 2);
  EXPECT_EQ((*r)[1].resource_version, 3);
  EXPECT_EQ((*r)[2].resource_version, 4);
  EXPECT_EQ((*r)[2].key.name, "x");
  EXPECT_EQ(store_->CurrentVersion(), 4);
  EXPECT_EQ(GetString(store_->Get({kCm, "", "a"})->object, "data.value"), "v");
  EXPECT_FALSE(store_->Get({kCm, "", "x"}));
}

TEST_F(SqliteStoreTest, EmptyCommitChangesNothing) {
  Result<std::vector<Object>> r = store_->Commit({});
  ASSERT_TRUE(r) << r.error();
  EXPECT_TRUE(r->empty());
  EXPECT_EQ(store_->CurrentVersion(), 0);
}

TEST_F(SqliteStoreTest, CommitIsAllOrNothing) {
  MustCreate("x");  // v1
  for (Mutation::Op failing : {Mutation::Op::kUpdate, Mutation::Op::kCreate}) {
    std::vector<Mutation> m;
    m.push_back({Mutation::Op::kCreate, {kCm, "", "y"}, Doc("y"), 0});
    m.push_back({Mutation::Op::kUpdate, {kCm, "", "x"}, Doc("x", {}, "", "changed"), 0});
    if (failing == Mutation::Op::kUpdate) {
      m.push_back({Mutation::Op::kUpdate, {kCm, "", "missing"}, Doc("missing"), 0});
    } else {
      m.push_back({Mutation::Op::kCreate, {kCm, "", "x"}, Doc("x"), 0});
    }
    Result<std::vector<Object>> r = store_->Commit(std::move(m));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(),
              failing == Mutation::Op::kUpdate ? Code::kNotFound : Code::kAlreadyExists);
    EXPECT_FALSE(store_->Get({kCm, "", "y"}));
    EXPECT_EQ(GetString(store_->Get({kCm, "", "x"})->object, "data.value"), "");
    EXPECT_EQ(store_->CurrentVersion(), 1);
  }
  // A conflict rolls back as well, and the next write takes the next version: no gap.
  std::vector<Mutation> m;
  m.push_back({Mutation::Op::kCreate, {kCm, "", "y"}, Doc("y"), 0});
  m.push_back({Mutation::Op::kDelete, {kCm, "", "x"}, {}, 7});
  EXPECT_EQ(store_->Commit(std::move(m)).error().reason(), "Conflict");
  EXPECT_EQ(MustCreate("z").resource_version, 2);
  Result<ListResult> all = store_->List(kCm, {});
  ASSERT_TRUE(all);
  EXPECT_THAT(Names(*all), ElementsAre("x", "z"));
}

TEST_F(SqliteStoreTest, ListOrdersByNamespaceThenNameAndFiltersNamespace) {
  MustCreate("b", "team-b");
  MustCreate("a", "team-b");
  MustCreate("z", "team-a");
  MustCreate("cluster-scoped");
  ASSERT_TRUE(store_->Create({"secrets", "team-a", "s"}, Doc("s")));
  Result<ListResult> all = store_->List(kCm, {});
  ASSERT_TRUE(all) << all.error();
  EXPECT_THAT(Names(*all), ElementsAre("cluster-scoped", "team-a/z", "team-b/a", "team-b/b"));
  EXPECT_EQ(all->resource_version, 5);  // the store's version, whatever the resource
  EXPECT_TRUE(all->continue_token.empty());
  EXPECT_EQ(all->remaining, 0);
  EXPECT_EQ(all->items[2].resource_version, 2);
  EXPECT_EQ(ResourceVersionOf(all->items[2].object), "2");

  ListOptions in_b;
  in_b.ns = "team-b";
  Result<ListResult> b = store_->List(kCm, in_b);
  ASSERT_TRUE(b);
  EXPECT_THAT(Names(*b), ElementsAre("team-b/a", "team-b/b"));
  in_b.ns = "nobody";
  EXPECT_TRUE(store_->List(kCm, in_b)->items.empty());
}

TEST_F(SqliteStoreTest, ListFiltersByLabelSelector) {
  MustCreate("web1", "ns", {{"app", "web"}});
  MustCreate("web2", "ns", {{"app", "web"}, {"tier", "front"}});
  MustCreate("db", "ns", {{"app", "db"}});
  MustCreate("bare", "ns");
  auto list = [&](std::string_view sel) {
    ListOptions o;
    o.label_selector = *Selector::Parse(sel);
    Result<ListResult> r = store_->List(kCm, o);
    EXPECT_TRUE(r) << r.error();
    return r ? Names(*r) : std::vector<std::string>{};
  };
  EXPECT_THAT(list("app=web"), ElementsAre("ns/web1", "ns/web2"));
  EXPECT_THAT(list("app!=web"), ElementsAre("ns/bare", "ns/db"));
  EXPECT_THAT(list("app in (db,web),!tier"), ElementsAre("ns/db", "ns/web1"));
  EXPECT_THAT(list("tier"), ElementsAre("ns/web2"));
}

TEST_F(SqliteStoreTest, ListPagesWithContinueTokens) {
  for (int i = 0; i < 10; ++i)
    MustCreate("item-" + std::to_string(i), "ns", {{"n", i % 2 ? "odd" : "even"}});
  ListOptions o;
  o.limit = 3;
  std::vector<std::string> seen;
  std::vector<int64_t> remaining;
  int pages = 0;
  int64_t first_version = 0;
  do {
    Result<ListResult> page = store_->List(kCm, o);
    ASSERT_TRUE(page) << page.error();
    if (pages == 0) first_version = page->resource_version;
    EXPECT_EQ(page->resource_version, first_version);
    for (const Object& obj : page->items) seen.push_back(obj.key.name);
    remaining.push_back(page->remaining);
    o.continue_token = page->continue_token;
    ++pages;
    if (pages == 1) MustCreate("zz-new", "ns");  // a write between pages
  } while (!o.continue_token.empty() && pages < 10);
  EXPECT_EQ(pages, 4);
  EXPECT_THAT(remaining, ElementsAre(7, 5, 2, 0));
  EXPECT_EQ(seen.size(), 11u);  // the later insert sorts after the pages read so far
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));

  // With a selector, pages count only matching items.
  ListOptions odd;
  odd.limit = 2;
  odd.label_selector = *Selector::Parse("n=odd");
  Result<ListResult> p1 = store_->List(kCm, odd);
  ASSERT_TRUE(p1);
  EXPECT_THAT(Names(*p1), ElementsAre("ns/item-1", "ns/item-3"));
  EXPECT_EQ(p1->remaining, 3);
  odd.continue_token = p1->continue_token;
  Result<ListResult> p2 = store_->List(kCm, odd);
  ASSERT_TRUE(p2);
  EXPECT_THAT(Names(*p2), ElementsAre("ns/item-5", "ns/item-7"));
  EXPECT_EQ(p2->remaining, 1);
}

TEST_F(SqliteStoreTest, PaginationUnderConcurrentInsertsHasNoDuplicatesOrSkips) {
  std::set<std::string> before;
  for (int i = 0; i < 60; ++i) {
    std::string name = "obj-" + std::to_string(100 + i * 2);  // even numbers
    MustCreate(name, "ns");
    before.insert(name);
  }
  std::atomic<bool> done{false};
  std::atomic<int> inserted{0};
  std::thread writer([&] {
    for (int i = 0; !done.load() && i < 500; ++i) {
      std::string name = "obj-" + std::to_string(101 + (i % 60) * 2);  // odd: between pages
      if (store_->Create({kCm, "ns", name + "-" + std::to_string(i)}, Doc(name))) ++inserted;
    }
  });
  ListOptions o;
  o.limit = 4;
  std::vector<std::string> seen;
  for (int pages = 0; pages < 1000; ++pages) {
    Result<ListResult> page = store_->List(kCm, o);
    ASSERT_TRUE(page) << page.error();
    for (const Object& obj : page->items) seen.push_back(obj.key.name);
    o.continue_token = page->continue_token;
    if (o.continue_token.empty()) break;
  }
  done = true;
  writer.join();
  EXPECT_TRUE(o.continue_token.empty());
  std::set<std::string> unique(seen.begin(), seen.end());
  EXPECT_EQ(unique.size(), seen.size()) << "duplicates across pages";
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  for (const std::string& name : before) EXPECT_TRUE(unique.count(name)) << "skipped " << name;
}

TEST_F(SqliteStoreTest, MalformedContinueTokenIsInvalidArgument) {
  ListOptions o;
  for (std::string token : {"%%%", "bm90IGpzb24", "eyJ2IjoyfQ"}) {  // not base64, not JSON, v=2
    o.continue_token = token;
    Result<ListResult> r = store_->List(kCm, o);
    ASSERT_FALSE(r) << token;
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
    EXPECT_THAT(r.error().message(), HasSubstr("invalid continue token"));
  }
}

TEST_F(SqliteStoreTest, ConcurrentWritersGetUniqueGapFreeVersions) {
  constexpr int kThreads = 4, kEach = 40;
  std::mutex mu;
  std::vector<int64_t> versions;
  int duplicates = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        std::string name = "t" + std::to_string(t) + "-" + std::to_string(i);
        Result<Object> r = store_->Create({kCm, "", name}, Doc(name));
        ASSERT_TRUE(r) << r.error();
        // Readers run alongside the writers.
        ASSERT_TRUE(store_->Get({kCm, "", name}));
        // Calls that fail in the middle of a commit group fail alone and take no version.
        Result<Object> dup = store_->Create({kCm, "", "shared-" + std::to_string(i)}, Doc("s"));
        std::lock_guard lock(mu);
        versions.push_back(r->resource_version);
        if (dup) {
          versions.push_back(dup->resource_version);
        } else {
          EXPECT_EQ(dup.error().code(), Code::kAlreadyExists);
          ++duplicates;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  std::sort(versions.begin(), versions.end());
  const int total = kThreads * kEach + kEach;  // every name, and each shared-i once
  ASSERT_EQ(versions.size(), static_cast<size_t>(total));
  EXPECT_EQ(duplicates, (kThreads - 1) * kEach);
  for (size_t i = 0; i < versions.size(); ++i) EXPECT_EQ(versions[i], static_cast<int64_t>(i + 1));
  EXPECT_EQ(store_->CurrentVersion(), total);
  EXPECT_EQ(store_->List(kCm, {})->items.size(), static_cast<size_t>(total));
}

TEST_F(SqliteStoreTest, ReopenKeepsDataAndContinuesVersions) {
  MustCreate("a");
  MustCreate("b");
  ASSERT_TRUE(store_->Delete({kCm, "", "a"}, 0));  // v3
  Open();
  EXPECT_EQ(store_->CurrentVersion(), 3);
  EXPECT_FALSE(store_->Get({kCm, "", "a"}));
  Result<Object> b = store_->Get({kCm, "", "b"});
  ASSERT_TRUE(b);
  EXPECT_EQ(b->resource_version, 2);
  EXPECT_EQ(MustCreate("c").resource_version, 4);
}

int64_t UserVersion(const std::string& path) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr);
  sqlite3_step(st);
  int64_t v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

std::string JournalMode(const std::string& path) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, nullptr);
  sqlite3_step(st);
  std::string mode = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(db);
  return mode;
}

TEST_F(SqliteStoreTest, DatabaseIsWalWithSchemaVersion) {
  EXPECT_EQ(JournalMode(dir_.File("skiff.db")), "wal");
  EXPECT_EQ(UserVersion(dir_.File("skiff.db")), 1);
}

TEST_F(SqliteStoreTest, NewerSchemaIsRefused) {
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir_.File("skiff.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  SqliteOptions o;
  o.path = dir_.File("skiff.db");
  Result<std::unique_ptr<Store>> s = OpenSqliteStore(o);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Code::kFailedPrecondition);
  EXPECT_THAT(s.error().message(), HasSubstr("schema version 99"));
}

TEST(SqliteStoreOptionsTest, InvalidOptionsAreRejected) {
  TempDir dir;
  SqliteOptions o;
  o.path = dir.File("x.db");
  o.synchronous = "off";
  Result<std::unique_ptr<Store>> s = OpenSqliteStore(o);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error().message(), HasSubstr("synchronous"));
  o.synchronous = "normal";
  o.history_size = 0;
  EXPECT_FALSE(OpenSqliteStore(o));
  o.history_size = 10;
  o.path = "";
  EXPECT_FALSE(OpenSqliteStore(o));
  o.path = dir.File("no-such-dir/x.db");
  Result<std::unique_ptr<Store>> missing = OpenSqliteStore(o);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), Code::kFailedPrecondition) << missing.error();
  EXPECT_THAT(missing.error().message(), HasSubstr("no-such-dir/x.db"));
  o.path = dir.File("x.db");
  EXPECT_TRUE(OpenSqliteStore(o));
}

TEST(SqliteStoreOptionsTest, InMemoryStoreWorks) {
  SqliteOptions o;
  o.path = ":memory:";
  Result<std::unique_ptr<Store>> s = OpenSqliteStore(o);
  ASSERT_TRUE(s) << s.error();
  Store& store = **s;
  ASSERT_TRUE(store.Create({kCm, "", "a"}, Doc("a")));
  EXPECT_EQ(store.Get({kCm, "", "a"})->resource_version, 1);
  EXPECT_EQ(store.List(kCm, {})->items.size(), 1u);
}

// The default SQLite VFS with a count of the syncs SQLite asks of it (the WAL's fsync of a
// durable commit, at synchronous=FULL). Installed as the default VFS for one test.
class SyncCountingVfs {
 public:
  SyncCountingVfs() {
    base_ = sqlite3_vfs_find(nullptr);
    vfs_ = *base_;
    vfs_.zName = "skiff-sync-counting";
    vfs_.szOsFile = static_cast<int>(sizeof(File)) + base_->szOsFile;
    vfs_.xOpen = &Open;
    instance_ = this;
    sqlite3_vfs_register(&vfs_, /*makeDflt=*/1);
  }
  ~SyncCountingVfs() {
    sqlite3_vfs_unregister(&vfs_);
    sqlite3_vfs_register(base_, 1);
    instance_ = nullptr;
  }
  int syncs() const { return syncs_.load(); }

 private:
  struct File {
    sqlite3_file base;  // first: SQLite sees a File as a sqlite3_file
    sqlite3_file* real;
  };
  static sqlite3_file* Real(sqlite3_file* f) { return reinterpret_cast<File*>(f)->real; }
  static int Open(sqlite3_vfs*, const char* name, sqlite3_file* f, int flags, int* out) {
    File* file = reinterpret_cast<File*>(f);
    file->real = reinterpret_cast<sqlite3_file*>(file + 1);
    file->base.pMethods = nullptr;
    int rc = instance_->base_->xOpen(instance_->base_, name, file->real, flags, out);
    if (rc != SQLITE_OK || file->real->pMethods == nullptr) return rc;
    static sqlite3_io_methods methods = [] {
      sqlite3_io_methods m{};
      m.iVersion = 3;
      m.xClose = [](sqlite3_file* f) { return Real(f)->pMethods->xClose(Real(f)); };
      m.xRead = [](sqlite3_file* f, void* b, int n, sqlite3_int64 o) {
        return Real(f)->pMethods->xRead(Real(f), b, n, o);
      };
      m.xWrite = [](sqlite3_file* f, const void* b, int n, sqlite3_int64 o) {
        return Real(f)->pMethods->xWrite(Real(f), b, n, o);
      };
      m.xTruncate = [](sqlite3_file* f, sqlite3_int64 n) {
        return Real(f)->pMethods->xTruncate(Real(f), n);
      };
      m.xSync = [](sqlite3_file* f, int flags) {
        instance_->syncs_.fetch_add(1);
        return Real(f)->pMethods->xSync(Real(f), flags);
      };
      m.xFileSize = [](sqlite3_file* f, sqlite3_int64* n) {
        return Real(f)->pMethods->xFileSize(Real(f), n);
      };
      m.xLock = [](sqlite3_file* f, int l) { return Real(f)->pMethods->xLock(Real(f), l); };
      m.xUnlock = [](sqlite3_file* f, int l) { return Real(f)->pMethods->xUnlock(Real(f), l); };
      m.xCheckReservedLock = [](sqlite3_file* f, int* r) {
        return Real(f)->pMethods->xCheckReservedLock(Real(f), r);
      };
      m.xFileControl = [](sqlite3_file* f, int op, void* a) {
        return Real(f)->pMethods->xFileControl(Real(f), op, a);
      };
      m.xSectorSize = [](sqlite3_file* f) { return Real(f)->pMethods->xSectorSize(Real(f)); };
      m.xDeviceCharacteristics = [](sqlite3_file* f) {
        return Real(f)->pMethods->xDeviceCharacteristics(Real(f));
      };
      m.xShmMap = [](sqlite3_file* f, int i, int n, int e, void volatile** p) {
        return Real(f)->pMethods->xShmMap(Real(f), i, n, e, p);
      };
      m.xShmLock = [](sqlite3_file* f, int o, int n, int fl) {
        return Real(f)->pMethods->xShmLock(Real(f), o, n, fl);
      };
      m.xShmBarrier = [](sqlite3_file* f) { Real(f)->pMethods->xShmBarrier(Real(f)); };
      m.xShmUnmap = [](sqlite3_file* f, int d) { return Real(f)->pMethods->xShmUnmap(Real(f), d); };
      m.xFetch = [](sqlite3_file* f, sqlite3_int64 o, int n, void** p) {
        return Real(f)->pMethods->xFetch(Real(f), o, n, p);
      };
      m.xUnfetch = [](sqlite3_file* f, sqlite3_int64 o, void* p) {
        return Real(f)->pMethods->xUnfetch(Real(f), o, p);
      };
      return m;
    }();
    file->base.pMethods = &methods;
    return rc;
  }
  static inline SyncCountingVfs* instance_ = nullptr;
  sqlite3_vfs* base_ = nullptr;
  sqlite3_vfs vfs_{};
  std::atomic<int> syncs_{0};
};

// A durable commit (the default) waits for an fsync at synchronous=full; a non-durable one
// does not, and the next durable commit syncs again (and so makes the earlier one durable).
TEST(SqliteStoreDurabilityTest, NonDurableCommitsAreNotSynced) {
  SyncCountingVfs counting;
  TempDir dir;
  SqliteOptions o;
  o.path = dir.File("skiff.db");
  auto s = OpenSqliteStore(o);
  ASSERT_TRUE(s) << s.error();
  Store& store = **s;
  auto commit = [&](const std::string& name, bool durable) {
    std::vector<Mutation> m;
    m.push_back({Mutation::Op::kCreate, {kCm, "", name}, Doc(name)});
    m.back().durable = durable;
    return store.Commit(std::move(m)).has_value();
  };
  int before = counting.syncs();
  ASSERT_TRUE(commit("durable-1", true));
  int durable = counting.syncs() - before;
  EXPECT_GE(durable, 1) << "a durable commit was not synced";
  before = counting.syncs();
  ASSERT_TRUE(commit("relaxed-1", false));
  ASSERT_TRUE(commit("relaxed-2", false));
  EXPECT_EQ(counting.syncs() - before, 0) << "a non-durable commit was synced";
  before = counting.syncs();
  ASSERT_TRUE(commit("durable-2", true));
  EXPECT_EQ(counting.syncs() - before, durable) << "durability did not come back";
  // One durable mutation makes the whole commit durable.
  before = counting.syncs();
  std::vector<Mutation> mixed;
  mixed.push_back({Mutation::Op::kCreate, {kCm, "", "mixed-a"}, Doc("mixed-a")});
  mixed.back().durable = false;
  mixed.push_back({Mutation::Op::kCreate, {kCm, "", "mixed-b"}, Doc("mixed-b")});
  ASSERT_TRUE(store.Commit(std::move(mixed)));
  EXPECT_EQ(counting.syncs() - before, durable);
  for (const char* name : {"durable-1", "relaxed-1", "relaxed-2", "durable-2", "mixed-a"}) {
    EXPECT_TRUE(store.Get({kCm, "", name})) << name;
  }
}

// A child process writes as fast as it can and reports each acknowledged version through a
// pipe; the parent SIGKILLs it mid-burst and checks that every acknowledged write is there.
TEST(SqliteStoreDurabilityTest, AcknowledgedWritesSurviveSigkill) {
  TempDir dir;
  const std::string path = dir.File("skiff.db");
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    SqliteOptions o;
    o.path = path;
    auto s = OpenSqliteStore(o);
    if (!s) _exit(2);
    for (int i = 0;; ++i) {
      // Every other write is non-durable (Mutation::durable): a process crash keeps those too.
      std::string name = "obj-" + std::to_string(i);
      std::vector<Mutation> m;
      m.push_back({Mutation::Op::kCreate, {kCm, "", name}, Doc(name)});
      m.back().durable = i % 2 == 0;
      if (!(*s)->Commit(std::move(m))) _exit(3);
      int64_t acked = i;
      if (write(fds[1], &acked, sizeof acked) != sizeof acked) _exit(4);
    }
  }
  close(fds[1]);
  int64_t last = -1, v = 0;
  while (last < 30 && read(fds[0], &v, sizeof v) == sizeof v) last = v;
  kill(pid, SIGKILL);
  // Drain what the child acknowledged before it died.
  while (read(fds[0], &v, sizeof v) == sizeof v) last = v;
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited early with " << WEXITSTATUS(status);
  ASSERT_GE(last, 30);

  SqliteOptions o;
  o.path = path;
  auto s = OpenSqliteStore(o);
  ASSERT_TRUE(s) << s.error();
  for (int64_t i = 0; i <= last; ++i) {
    EXPECT_TRUE((*s)->Get({kCm, "", "obj-" + std::to_string(i)}))
        << "lost acknowledged write " << i;
  }
  EXPECT_GE((*s)->CurrentVersion(), last + 1);
}

}  // namespace
}  // namespace skiff::store
