// The artifact stores: the data-dir one, and S3 against a real s3rver (tests/peers) on
// 127.0.0.1: files and directories stored, listed under the run's prefix, copied back, checked,
// opened for the API, replaced, and URIs outside the store refused.

#include "pipelines/artifact_store.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/crypto.hpp"
#include "core/fs.hpp"
#include "unit/s3rver.hpp"

namespace skiff::pipelines {
namespace {

namespace fs = std::filesystem;
using skiff::testing::S3rver;
using skiff::testing::S3rverOptions;

class TempDir {
 public:
  TempDir() : path_(fs::temp_directory_path() / ("skiff-artifacts-" + HexEncode(RandomBytes(6)))) {
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string operator/(std::string_view rel) const { return (path_ / rel).string(); }

 private:
  fs::path path_;
};

void Write(const std::string& path, std::string_view text) {
  fs::create_directories(fs::path(path).parent_path());
  ASSERT_TRUE(WriteFileAtomic(path, text, 0644).ok());
}

std::string Text(const std::string& path) {
  auto r = ReadFile(path);
  return r ? *r : std::string("<unreadable>");
}

TEST(LocalArtifactStoreTest, PutMovesCopyToCopiesAndForeignUrisAreRefused) {
  TempDir t;
  auto store = MakeLocalArtifactStore(t / "artifacts");
  EXPECT_EQ(store->RunRoot("ns", "r1"), "file://" + (t / "artifacts") + "/ns/r1");
  Write(t / "out/d/a.txt", "A");
  Write(t / "out/d/sub/b.txt", "B");
  std::string uri = store->RunRoot("ns", "r1") + "/node/d";
  ASSERT_TRUE(store->Put(t / "out/d", uri).ok());
  EXPECT_FALSE(fs::exists(t / "out/d"));  // moved
  EXPECT_EQ(Text(t / "artifacts/ns/r1/node/d/sub/b.txt"), "B");
  EXPECT_EQ(*store->Exists(uri), true);
  EXPECT_EQ(*store->Exists(uri + "x"), false);
  ASSERT_TRUE(store->CopyTo(uri, t / "in/d").ok());
  EXPECT_EQ(Text(t / "in/d/a.txt"), "A");
  auto open = store->Open(uri);
  ASSERT_TRUE(open);
  EXPECT_FALSE(open->temporary);
  EXPECT_EQ(open->path, t / "artifacts/ns/r1/node/d");
  EXPECT_EQ(store->CopyTo(uri + "x", t / "in/x").code(), Code::kNotFound);
  for (std::string bad :
       {std::string("file:///etc/passwd"), "file://" + (t / "artifacts") + "/../db",
        store->Root() + "/a//b", std::string("s3://b/k"), store->Root()}) {
    EXPECT_FALSE(store->Owns(bad)) << bad;
    EXPECT_EQ(store->Put(t / "in/d", bad).code(), Code::kInvalidArgument) << bad;
  }
}

class S3ArtifactStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    work_ = new TempDir();
    auto s = S3rver::Start(*work_ / "", "pipelines");
    if (!s) {
      start_error_ = new std::string(s.error().ToString());
      return;
    }
    server_ = s->release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete work_;
    delete start_error_;
    start_error_ = nullptr;
  }
  void SetUp() override {
    ASSERT_EQ(start_error_, nullptr) << *start_error_;
    S3ArtifactStoreOptions o;
    o.uri = "s3://pipelines/root/";
    o.s3 = S3rverOptions(*server_);
    o.scratch_dir = t_ / "scratch";
    auto s = MakeS3ArtifactStore(o, SystemClock());
    ASSERT_TRUE(s) << s.error().ToString();
    store_ = std::move(*s);
    client_ = std::make_unique<http::S3Client>(S3rverOptions(*server_), SystemClock());
  }
  std::vector<std::string> Keys(const std::string& prefix) {
    auto l = client_->List("pipelines", prefix, 1000, 1000,
                           std::chrono::steady_clock::now() + std::chrono::seconds(20),
                           std::chrono::seconds(10));
    EXPECT_TRUE(l) << l.error().ToString();
    std::vector<std::string> keys;
    if (l) {
      for (const auto& o : *l) keys.push_back(o.key);
    }
    return keys;
  }

  static inline TempDir* work_ = nullptr;
  static inline S3rver* server_ = nullptr;
  static inline std::string* start_error_ = nullptr;
  TempDir t_;
  std::unique_ptr<ArtifactStore> store_;
  std::unique_ptr<http::S3Client> client_;
};

TEST_F(S3ArtifactStoreTest, DirectoriesAreKeyPrefixesAndFilesSingleObjects) {
  EXPECT_EQ(store_->Root(), "s3://pipelines/root");
  EXPECT_EQ(store_->RunRoot("ns", "r1"), "s3://pipelines/root/ns/r1");
  Write(t_ / "out/d/a.txt", "A");
  Write(t_ / "out/d/sub/b.txt", "B");
  Write(t_ / "out/model.bin", "MODEL");
  std::string dir = store_->RunRoot("ns", "r1") + "/n1/data";
  std::string file = store_->RunRoot("ns", "r1") + "/n1/model";
  ASSERT_TRUE(store_->Put(t_ / "out/d", dir).ok());
  ASSERT_TRUE(store_->Put(t_ / "out/model.bin", file).ok());
  EXPECT_EQ(Keys("root/ns/r1/"),
            (std::vector<std::string>{"root/ns/r1/n1/data/a.txt", "root/ns/r1/n1/data/sub/b.txt",
                                      "root/ns/r1/n1/model"}));
  EXPECT_EQ(*store_->Exists(dir), true);
  EXPECT_EQ(*store_->Exists(file), true);
  EXPECT_EQ(*store_->Exists(store_->RunRoot("ns", "r1") + "/n1/mod"), false);
  EXPECT_EQ(*store_->Exists(store_->RunRoot("ns", "r1") + "/n1/data/a"), false);

  ASSERT_TRUE(store_->CopyTo(dir, t_ / "in/data").ok());
  EXPECT_EQ(Text(t_ / "in/data/a.txt"), "A");
  EXPECT_EQ(Text(t_ / "in/data/sub/b.txt"), "B");
  ASSERT_TRUE(store_->CopyTo(file, t_ / "in/m").ok());
  EXPECT_EQ(Text(t_ / "in/m"), "MODEL");
  EXPECT_EQ(store_->CopyTo(file + "x", t_ / "in/x").code(), Code::kNotFound);
  EXPECT_FALSE(fs::exists(t_ / "in/x"));

  auto open = store_->Open(file);
  ASSERT_TRUE(open) << open.error().ToString();
  EXPECT_TRUE(open->temporary);
  EXPECT_EQ(Text(open->path), "MODEL");
  RemoveLocalArtifact(*open);
  EXPECT_FALSE(fs::exists(open->path));
  EXPECT_EQ(store_->Open(file + "x").error().code(), Code::kNotFound);

  // A second Put of a directory replaces it (no file of the first one is left).
  fs::remove_all(t_ / "out/d");
  Write(t_ / "out/d/c.txt", "C");
  ASSERT_TRUE(store_->Put(t_ / "out/d", dir).ok());
  EXPECT_EQ(Keys("root/ns/r1/n1/data/"), (std::vector<std::string>{"root/ns/r1/n1/data/c.txt"}));
  // A file where a directory was: the file, not the old directory, comes back.
  ASSERT_TRUE(store_->Put(t_ / "out/model.bin", dir).ok());
  ASSERT_TRUE(store_->CopyTo(dir, t_ / "in/again").ok());
  EXPECT_EQ(Text(t_ / "in/again"), "MODEL");
}

TEST_F(S3ArtifactStoreTest, UrisOutsideTheStoreAreRefused) {
  Write(t_ / "f", "x");
  for (std::string bad : std::vector<std::string>{"s3://pipelines/other/x", "s3://pipelines/root",
                                                  "s3://pipelines/rootx/y", "s3://other/root/x",
                                                  "s3://pipelines/root/a/../b",
                                                  "s3://pipelines/root/a//b", "file:///tmp/x"}) {
    EXPECT_FALSE(store_->Owns(bad)) << bad;
    EXPECT_EQ(store_->Put(t_ / "f", bad).code(), Code::kInvalidArgument) << bad;
  }
  EXPECT_TRUE(Keys("").empty() || Keys("other").empty());
}

TEST(ArtifactStoreTest, SettingPicksTheStore) {
  TempDir t;
  auto local = MakeArtifactStore("", t / "p", {}, SystemClock());
  ASSERT_TRUE(local);
  EXPECT_EQ((*local)->Root(), "file://" + (t / "p") + "/artifacts");
  http::S3Options s3;
  s3.endpoint = "http://127.0.0.1:1";
  auto remote = MakeArtifactStore("s3://bucket/pre/fix", t / "p", s3, SystemClock());
  ASSERT_TRUE(remote) << remote.error().ToString();
  EXPECT_EQ((*remote)->Root(), "s3://bucket/pre/fix");
  EXPECT_EQ(MakeArtifactStore("gs://bucket/x", t / "p", s3, SystemClock()).error().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(MakeArtifactStore("s3://bucket/a/../b", t / "p", s3, SystemClock()).error().code(),
            Code::kInvalidArgument);
}

}  // namespace
}  // namespace skiff::pipelines
