#include "pipelines/catalog.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <future>
#include <mutex>

namespace skiff::pipelines {
namespace {

class CatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("catalog_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    Reopen();
  }
  void TearDown() override {
    catalog_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Reopen() {
    catalog_.reset();
    store_.reset();
    store::SqliteOptions o;
    o.path = (dir_ / "db.sqlite").string();
    auto s = store::OpenSqliteStore(o);
    ASSERT_TRUE(s) << s.error().ToString();
    store_ = std::move(*s);
    auto c = Catalog::Open(*store_, clock_);
    ASSERT_TRUE(c) << c.error().ToString();
    catalog_ = std::move(*c);
  }
  std::filesystem::path dir_;
  FakeClock clock_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<Catalog> catalog_;
};

TEST_F(CatalogTest, RecordsSurviveReopenWithTheirFields) {
  auto e = catalog_->Create(Kind::kExperiment, "team-a", {{"display_name", "exp"}});
  ASSERT_TRUE(e) << e.error().ToString();
  auto r =
      catalog_->Create(Kind::kRun, "team-a", {{"experiment_id", (*e)->id}}, {{"phase", "Running"}});
  ASSERT_TRUE(r);
  auto u = catalog_->Update(Kind::kRun, (*r)->id, [](Record& rec) {
    rec.status["phase"] = "Succeeded";
    return Status();
  });
  ASSERT_TRUE(u) << u.error().ToString();
  std::string run_id = (*r)->id, exp_id = (*e)->id;
  int64_t created = (*r)->created_at_ms;
  Reopen();
  RecordPtr run = catalog_->Get(Kind::kRun, run_id);
  ASSERT_NE(run, nullptr);
  EXPECT_EQ(run->ns, "team-a");
  EXPECT_EQ(GetString(run->status, "phase"), "Succeeded");
  EXPECT_EQ(run->created_at_ms, created);
  EXPECT_EQ(catalog_->Where(Kind::kRun, "experiment_id", exp_id).size(), 1u);
  EXPECT_EQ(catalog_->Get(Kind::kExperiment, exp_id)->spec.at("display_name"), "exp");
}

TEST_F(CatalogTest, FailedChangeAndMissingDeleteChangeNothing) {
  auto p = catalog_->Create(Kind::kPipeline, "", {{"display_name", "p"}});
  ASSERT_TRUE(p);
  auto bad = catalog_->Update(Kind::kPipeline, (*p)->id, [](Record& rec) {
    rec.spec["display_name"] = "changed";
    return InvalidArgument("no");
  });
  EXPECT_FALSE(bad);
  EXPECT_EQ(catalog_->Get(Kind::kPipeline, (*p)->id)->spec.at("display_name"), "p");
  // All or none: one missing record keeps the other.
  Status s = catalog_->Delete({{Kind::kPipeline, (*p)->id}, {Kind::kVersion, "missing"}});
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_NE(catalog_->Get(Kind::kPipeline, (*p)->id), nullptr);
  EXPECT_TRUE(catalog_->Delete({{Kind::kPipeline, (*p)->id}}).ok());
  Reopen();
  EXPECT_EQ(catalog_->Get(Kind::kPipeline, (*p)->id), nullptr);
  EXPECT_TRUE(catalog_->All(Kind::kPipeline).empty());
}

TEST_F(CatalogTest, CreateWithTakenIdIsRefused) {
  ASSERT_TRUE(catalog_->Create(Kind::kCacheEntry, "ns", {}, {}, "key1"));
  auto again = catalog_->Create(Kind::kCacheEntry, "ns", {}, {}, "key1");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), Code::kAlreadyExists);
}

// The node records of runs (see catalog.hpp), by node id: the stored node and its version.
std::map<std::string, std::pair<json::object, int64_t>> NodeRecords(store::Store& store,
                                                                    const std::string& run_id) {
  std::map<std::string, std::pair<json::object, int64_t>> out;
  auto list = store.List("runnodes.pipelines.kubeflow.org", {});
  EXPECT_TRUE(list) << list.error().ToString();
  if (!list) return out;
  for (const store::Object& o : list->items) {
    if (GetString(o.object, "run") != run_id) continue;
    const json::object* node = GetObject(o.object, "node");
    EXPECT_NE(node, nullptr);
    if (node == nullptr) continue;
    out[o.key.name.substr(run_id.size() + 1)] = {*node, o.resource_version};
  }
  return out;
}

json::object RunStatus(std::initializer_list<std::pair<std::string, std::string>> nodes) {
  json::object n;
  for (const auto& [id, phase] : nodes) n[id] = json::object{{"id", id}, {"phase", phase}};
  return json::object{{"phase", "Running"}, {"nodes", std::move(n)}};
}

// The nodes of RunStatus(nodes) as the engine gives them (sorted by id).
NodeDocs Docs(std::initializer_list<std::pair<std::string, std::string>> nodes) {
  NodeDocs docs;
  for (const auto& [id, phase] : nodes) {
    docs.push_back(
        std::make_shared<const NodeDoc>(NodeDoc{id, json::object{{"id", id}, {"phase", phase}}}));
  }
  return docs;
}

// A run record's status with its nodes inside, as RunStatus writes it.
json::object Inline(const Record& r) {
  json::object status = r.status;
  json::object nodes;
  for (const NodeDocPtr& n : r.nodes) nodes[n->id] = n->json;
  status["nodes"] = std::move(nodes);
  return status;
}

TEST_F(CatalogTest, ARunWritesOnlyTheNodesThatChanged) {
  auto r = catalog_->Create(Kind::kRun, "team-a", {{"display_name", "r"}});
  ASSERT_TRUE(r) << r.error().ToString();
  const std::string id = (*r)->id;
  auto first =
      catalog_->ReplaceStatus(Kind::kRun, id, {{"phase", "Running"}},
                              Docs({{"a", "Running"}, {"b", "Pending"}, {"c", "Pending"}}));
  ASSERT_TRUE(first) << first.error().ToString();
  auto before = NodeRecords(*store_, id);
  ASSERT_EQ(before.size(), 3u);
  // The run's own document keeps its spec; its status record keeps no nodes.
  auto doc = store_->Get({"runs.pipelines.kubeflow.org", "team-a", id});
  ASSERT_TRUE(doc);
  EXPECT_EQ(Find(doc->object, "status"), nullptr);
  EXPECT_EQ(GetString(doc->object, "spec.display_name"), "r");
  auto status = store_->Get({"runstatuses.pipelines.kubeflow.org", "team-a", id});
  ASSERT_TRUE(status);
  EXPECT_EQ(Find(status->object, "status.nodes"), nullptr);
  EXPECT_EQ(GetString(status->object, "status.phase"), "Running");

  // b changes, c goes, d comes; a stays as it was; the document is not written.
  auto second =
      catalog_->ReplaceStatus(Kind::kRun, id, {{"phase", "Running"}},
                              Docs({{"a", "Running"}, {"b", "Succeeded"}, {"d", "Pending"}}));
  ASSERT_TRUE(second) << second.error().ToString();
  auto after = NodeRecords(*store_, id);
  ASSERT_EQ(after.size(), 3u);
  EXPECT_EQ(store_->Get({"runs.pipelines.kubeflow.org", "team-a", id})->resource_version,
            doc->resource_version);
  EXPECT_EQ(after["a"].second, before["a"].second);  // not rewritten
  EXPECT_GT(after["b"].second, before["b"].second);
  EXPECT_EQ(GetString(after["b"].first, "phase"), "Succeeded");
  EXPECT_FALSE(after.contains("c"));
  EXPECT_EQ(GetString(after["d"].first, "phase"), "Pending");
  // In memory the status holds its nodes, as written.
  EXPECT_EQ(Inline(**second), RunStatus({{"a", "Running"}, {"b", "Succeeded"}, {"d", "Pending"}}));

  // A change of the spec alone writes no node.
  auto archived = catalog_->Update(Kind::kRun, id, [](Record& x) {
    x.spec["storage_state"] = "ARCHIVED";
    return Status();
  });
  ASSERT_TRUE(archived);
  auto unchanged = NodeRecords(*store_, id);
  for (const auto& [node, rec] : after) EXPECT_EQ(unchanged[node].second, rec.second) << node;

  Reopen();
  RecordPtr loaded = catalog_->Get(Kind::kRun, id);
  ASSERT_NE(loaded, nullptr);
  EXPECT_EQ(Inline(*loaded), RunStatus({{"a", "Running"}, {"b", "Succeeded"}, {"d", "Pending"}}));
  EXPECT_EQ(GetString(loaded->spec, "storage_state"), "ARCHIVED");
  // After a restart a write still diffs against what is stored.
  ASSERT_TRUE(catalog_->ReplaceStatus(Kind::kRun, id, {{"phase", "Running"}},
                                      Docs({{"a", "Failed"}, {"b", "Succeeded"}})));
  auto later = NodeRecords(*store_, id);
  EXPECT_EQ(later.size(), 2u);
  EXPECT_EQ(later["b"].second, after["b"].second);
  EXPECT_EQ(GetString(later["a"].first, "phase"), "Failed");

  ASSERT_TRUE(catalog_->Delete({{Kind::kRun, id}}).ok());
  EXPECT_TRUE(NodeRecords(*store_, id).empty());
  EXPECT_EQ(store_->Get({"runstatuses.pipelines.kubeflow.org", "team-a", id}).error().code(),
            Code::kNotFound);
  Reopen();
  EXPECT_EQ(catalog_->Get(Kind::kRun, id), nullptr);
}

TEST_F(CatalogTest, ARunsVersionsShareTheNodesThatDidNotChange) {
  auto r = catalog_->Create(Kind::kRun, "team-a", {});
  ASSERT_TRUE(r) << r.error().ToString();
  const std::string id = (*r)->id;
  // Node records are written without watch history: a watch from now replays none of them.
  std::mutex mu;
  std::vector<std::string> seen;
  std::promise<void> probe_seen;
  store::WatchOptions from_now;
  from_now.from_version = store_->CurrentVersion();
  auto first = catalog_->ReplaceStatus(Kind::kRun, id, {{"phase", "Running"}},
                                       Docs({{"a", "Succeeded"}, {"b", "Running"}}));
  ASSERT_TRUE(first) << first.error().ToString();
  auto before = NodeRecords(*store_, id);
  NodeDocs next = (*first)->nodes;
  ASSERT_EQ(next.size(), 2u);
  next[1] = Docs({{"b", "Succeeded"}})[0];
  auto second = catalog_->ReplaceStatus(Kind::kRun, id, {{"phase", "Succeeded"}}, next);
  ASSERT_TRUE(second) << second.error().ToString();
  // The unchanged node is the same object in both versions, and not written again.
  EXPECT_EQ((*second)->nodes[0].get(), (*first)->nodes[0].get());
  auto after = NodeRecords(*store_, id);
  EXPECT_EQ(after["a"].second, before["a"].second);
  EXPECT_GT(after["b"].second, before["b"].second);
  EXPECT_EQ(GetString((*first)->status, "phase"), "Running");  // the old version is intact
  EXPECT_EQ(GetString((*first)->nodes[1]->json, "phase"), "Running");

  // Nodes given inside the status (as RunState::ToJson writes them) are kept apart, by id.
  auto updated = catalog_->Update(Kind::kRun, id, [](Record& x) {
    x.status = RunStatus({{"c", "Pending"}, {"a", "Succeeded"}});
    return Status();
  });
  ASSERT_TRUE(updated) << updated.error().ToString();
  EXPECT_FALSE((*updated)->status.contains("nodes"));
  ASSERT_EQ((*updated)->nodes.size(), 2u);
  EXPECT_EQ((*updated)->nodes[0]->id, "a");
  EXPECT_EQ((*updated)->nodes[1]->id, "c");
  auto last = NodeRecords(*store_, id);
  EXPECT_EQ(last["a"].second, before["a"].second);  // equal content: not written either
  EXPECT_FALSE(last.contains("b"));
  EXPECT_TRUE(last.contains("c"));
  // A status whose nodes are not an object is refused and changes nothing.
  auto bad = catalog_->Update(Kind::kRun, id, [](Record& x) {
    x.status["nodes"] = 5;
    return Status();
  });
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(catalog_->Get(Kind::kRun, id)->version, (*updated)->version);
  EXPECT_EQ(NodeRecords(*store_, id).size(), 2u);

  auto watch = store_->StartWatch("runnodes.pipelines.kubeflow.org", from_now,
                                  [&](const store::Event& e) {
                                    std::lock_guard lock(mu);
                                    seen.push_back(e.object.key.name);
                                    if (e.object.key.name == "probe") probe_seen.set_value();
                                  },
                                  {});
  ASSERT_TRUE(watch) << watch.error().ToString();
  ASSERT_TRUE(store_->Create({"runnodes.pipelines.kubeflow.org", "team-a", "probe"},
                             json::object{{"metadata", json::object{{"name", "probe"}}}}));
  ASSERT_EQ(probe_seen.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  std::lock_guard lock(mu);
  EXPECT_EQ(seen, std::vector<std::string>{"probe"});
}

TEST_F(CatalogTest, ARunStoredWithInlineNodesLoadsAndConvertsAtItsNextWrite) {
  // As earlier versions stored a run: the nodes inside the run's document.
  json::object doc{
      {"apiVersion", "pipelines.kubeflow.org/v1"},
      {"kind", "Run"},
      {"metadata", json::object{{"name", "old-run"}, {"namespace", "team-a"}, {"createdAtMs", 5}}},
      {"spec", json::object{{"display_name", "old"}}},
      {"status", RunStatus({{"a", "Succeeded"}, {"b", "Running"}})}};
  ASSERT_TRUE(store_->Create({"runs.pipelines.kubeflow.org", "team-a", "old-run"}, doc));
  Reopen();
  RecordPtr run = catalog_->Get(Kind::kRun, "old-run");
  ASSERT_NE(run, nullptr);
  EXPECT_EQ(Inline(*run), RunStatus({{"a", "Succeeded"}, {"b", "Running"}}));
  EXPECT_TRUE(NodeRecords(*store_, "old-run").empty());

  // Its first write stores every node as a record, unchanged ones too.
  ASSERT_TRUE(catalog_->ReplaceStatus(Kind::kRun, "old-run", {{"phase", "Running"}},
                                      Docs({{"a", "Succeeded"}, {"b", "Succeeded"}})));
  auto records = NodeRecords(*store_, "old-run");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(GetString(records["a"].first, "phase"), "Succeeded");
  auto stored = store_->Get({"runs.pipelines.kubeflow.org", "team-a", "old-run"});
  ASSERT_TRUE(stored);
  EXPECT_EQ(Find(stored->object, "status"), nullptr);
  EXPECT_EQ(GetString(stored->object, "spec.display_name"), "old");
  auto status = store_->Get({"runstatuses.pipelines.kubeflow.org", "team-a", "old-run"});
  ASSERT_TRUE(status);
  EXPECT_EQ(GetString(status->object, "status.phase"), "Running");
  Reopen();
  EXPECT_EQ(Inline(*catalog_->Get(Kind::kRun, "old-run")),
            RunStatus({{"a", "Succeeded"}, {"b", "Succeeded"}}));
}

TEST_F(CatalogTest, ARunWriteThatFailsWritesNoNode) {
  auto r = catalog_->Create(Kind::kRun, "team-a", {}, RunStatus({{"a", "Pending"}}));
  ASSERT_TRUE(r);
  // Another writer's change makes this one's expected version stale: nothing is written.
  const store::Key key{"runstatuses.pipelines.kubeflow.org", "team-a", (*r)->id};
  auto conflict = store_->Update(key, store_->Get(key)->object, 0);
  ASSERT_TRUE(conflict);
  auto stale = catalog_->ReplaceStatus(Kind::kRun, (*r)->id, {{"phase", "Running"}},
                                       Docs({{"a", "Running"}, {"b", "Pending"}}));
  ASSERT_FALSE(stale);
  auto records = NodeRecords(*store_, (*r)->id);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(GetString(records["a"].first, "phase"), "Pending");
  EXPECT_EQ(GetString(Inline(*catalog_->Get(Kind::kRun, (*r)->id)), "nodes.a.phase"), "Pending");
}

}  // namespace
}  // namespace skiff::pipelines
