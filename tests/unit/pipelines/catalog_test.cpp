#include "pipelines/catalog.hpp"

#include <gtest/gtest.h>

#include <filesystem>

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

}  // namespace
}  // namespace skiff::pipelines
