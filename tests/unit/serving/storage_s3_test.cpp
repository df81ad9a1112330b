// s3:// model storage against a real S3 server: the npm s3rver (tests/peers, installed by
// scripts/peers.sh) started on 127.0.0.1 by the test, objects uploaded with skiff's own signed
// PutObject. s3rver does not check SigV4 signatures (sigv4_test.cpp and sigv4_botocore_test.cpp
// prove them), but it does require a known access key (S3RVER) and x-amz-content-sha256.
// A second suite serves hand-written S3 answers from skiff's http::Server to reach what s3rver
// will not produce (hostile keys, wrong region, looping continuation tokens).

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/crypto.hpp"
#include "core/fs.hpp"
#include "serving/storage.hpp"
#include "unit/http/test_util.hpp"
#include "unit/s3rver.hpp"

extern char** environ;

namespace skiff::serving {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

class TempDir {
 public:
  TempDir() : path_(fs::temp_directory_path() / ("skiff-s3-" + HexEncode(RandomBytes(6)))) {
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

std::string ReadText(const std::string& path) {
  auto r = ReadFile(path);
  return r ? *r : std::string("<unreadable>");
}

bool Contains(const Status& s, std::string_view text) {
  return s.message().find(text) != std::string::npos;
}

using skiff::testing::S3rver;
using skiff::testing::S3rverOptions;

class StorageS3Test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    work_ = new TempDir();
    auto s = S3rver::Start(*work_ / "", "models");
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
    client_ = std::make_unique<http::S3Client>(S3rverOptions(*server_), SystemClock());
  }

  ModelStorageOptions Options() const {
    ModelStorageOptions o;
    o.cache_dir = dir_ / "cache";
    o.s3 = S3rverOptions(*server_);
    o.io_timeout = 10s;
    o.fetch_timeout = 60s;
    return o;
  }
  std::unique_ptr<ModelStorage> Make(ModelStorageOptions o) const {
    auto s = ModelStorage::Create(std::move(o));
    EXPECT_TRUE(s) << s.error();
    return s ? std::move(*s) : nullptr;
  }
  void Put(const std::string& key, const std::string& body) {
    Status s = client_->PutObject("models", key, body, 10s);
    ASSERT_TRUE(s.ok()) << s;
  }

  static TempDir* work_;
  static S3rver* server_;
  static std::string* start_error_;
  TempDir dir_;
  std::unique_ptr<http::S3Client> client_;
};

TempDir* StorageS3Test::work_ = nullptr;
S3rver* StorageS3Test::server_ = nullptr;
std::string* StorageS3Test::start_error_ = nullptr;

TEST_F(StorageS3Test, FetchesAPrefixAsADirectoryAcrossListingPages) {
  const std::map<std::string, std::string> files = {
      {"model.joblib", "joblib bytes"},
      {"config/settings.json", "{\"a\": 1}"},
      {"a b+c (1).txt", "spaces and plus"},
      {"\xE1\x88\xB4.bin", std::string(70'000, 'z')},
      {"nested/deeper/x", ""},
  };
  for (const auto& [rel, body] : files) Put("iris/" + rel, body);
  Put("iris2/not-mine.txt", "a sibling prefix");  // s3://models/iris must not include it
  Put("iris/", "");                               // a "folder" marker object

  ModelStorageOptions o = Options();
  o.s3_page_size = 2;
  auto storage = Make(o);
  int lists_before = server_->CountLogLines("list-type=2");
  for (std::string_view uri : {"s3://models/iris/", "s3://models/iris"}) {
    SCOPED_TRACE(uri);
    auto dir = storage->Fetch(std::string(uri));
    ASSERT_TRUE(dir) << dir.error();
    EXPECT_TRUE(fs::is_directory(*dir));
    size_t count = 0;
    for (const auto& e : fs::recursive_directory_iterator(*dir)) count += e.is_regular_file();
    EXPECT_EQ(count, files.size());
    for (const auto& [rel, body] : files) EXPECT_EQ(ReadText(*dir + "/" + rel), body) << rel;
  }
  // Six objects under "iris/" at two per page: three pages per listing.
  EXPECT_GE(server_->CountLogLines("list-type=2") - lists_before, 6);
  EXPECT_EQ(storage->stats().files_downloaded, 2 * files.size());
}

TEST_F(StorageS3Test, FetchesASingleObjectAsAFile) {
  Put("single/v1/model.bst", "xgboost model");
  auto storage = Make(Options());
  auto file = storage->Fetch("s3://models/single/v1/model.bst");
  ASSERT_TRUE(file) << file.error();
  EXPECT_TRUE(fs::is_regular_file(*file));
  EXPECT_EQ(fs::path(*file).filename(), "model.bst");
  EXPECT_EQ(ReadText(*file), "xgboost model");
  EXPECT_EQ(storage->stats().files_downloaded, 1u);
}

TEST_F(StorageS3Test, MissingBucketPrefixOrKeyIsNotFoundNamingTheUri) {
  auto storage = Make(Options());
  auto bucket = storage->Fetch("s3://no-such-bucket/iris/");
  ASSERT_FALSE(bucket);
  EXPECT_EQ(bucket.error().code(), Code::kNotFound) << bucket.error();
  EXPECT_TRUE(Contains(bucket.error(), "s3://no-such-bucket/iris/")) << bucket.error();
  EXPECT_TRUE(Contains(bucket.error(), "NoSuchBucket")) << bucket.error();

  auto prefix = storage->Fetch("s3://models/nothing-here/");
  ASSERT_FALSE(prefix);
  EXPECT_EQ(prefix.error().code(), Code::kNotFound) << prefix.error();
  EXPECT_TRUE(Contains(prefix.error(), "s3://models/nothing-here/")) << prefix.error();

  auto key = storage->Fetch("s3://models/nothing-here/model.joblib");
  ASSERT_FALSE(key);
  EXPECT_EQ(key.error().code(), Code::kNotFound) << key.error();
  EXPECT_TRUE(Contains(key.error(), "s3://models/nothing-here/model.joblib")) << key.error();
  EXPECT_EQ(storage->stats().files_downloaded, 0u);
}

TEST_F(StorageS3Test, SecondFetchDownloadsNothing) {
  Put("reuse/model.joblib", "one");
  Put("reuse/meta.json", "two");
  auto storage = Make(Options());
  auto first = storage->Fetch("s3://models/reuse/");
  ASSERT_TRUE(first) << first.error();
  EXPECT_EQ(storage->stats().files_downloaded, 2u);

  auto second = storage->Fetch("s3://models/reuse/");
  ASSERT_TRUE(second) << second.error();
  EXPECT_EQ(*second, *first);
  EXPECT_EQ(storage->stats().files_downloaded, 2u);
  EXPECT_EQ(storage->stats().cache_hits, 1u);

  // After a restart too.
  auto restarted = Make(Options());
  ASSERT_TRUE(restarted->Fetch("s3://models/reuse/"));
  EXPECT_EQ(restarted->stats().files_downloaded, 0u);
}

TEST_F(StorageS3Test, CorruptedCachedFileIsDownloadedAgain) {
  Put("corrupt/model.joblib", std::string(4096, 'j'));
  Put("corrupt/other.txt", "untouched");
  auto storage = Make(Options());
  auto dir = storage->Fetch("s3://models/corrupt/");
  ASSERT_TRUE(dir) << dir.error();
  std::ofstream(*dir + "/model.joblib", std::ios::binary) << std::string(4096, 'X');

  auto again = storage->Fetch("s3://models/corrupt/");
  ASSERT_TRUE(again) << again.error();
  EXPECT_EQ(*again, *dir);
  EXPECT_TRUE(ReadText(*dir + "/model.joblib") == std::string(4096, 'j'));
  auto st = storage->stats();
  EXPECT_EQ(st.corrupt_files, 1u);
  EXPECT_EQ(st.files_downloaded, 3u);  // two at first, then only the corrupted one

  fs::remove(*dir + "/other.txt");
  ASSERT_TRUE(storage->Fetch("s3://models/corrupt/"));
  EXPECT_EQ(ReadText(*dir + "/other.txt"), "untouched");
  EXPECT_EQ(storage->stats().files_downloaded, 4u);
}

TEST_F(StorageS3Test, ANewUploadUnderThePrefixGivesANewSnapshot) {
  Put("versions/model.joblib", "v1");
  auto storage = Make(Options());
  auto v1 = storage->Fetch("s3://models/versions/");
  ASSERT_TRUE(v1) << v1.error();
  Put("versions/model.joblib", "version two");
  auto v2 = storage->Fetch("s3://models/versions/");
  ASSERT_TRUE(v2) << v2.error();
  EXPECT_NE(*v2, *v1);
  EXPECT_EQ(ReadText(*v2 + "/model.joblib"), "version two");
  EXPECT_EQ(ReadText(*v1 + "/model.joblib"), "v1");  // the previous snapshot is kept

  Put("versions/model.joblib", "third");
  auto v3 = storage->Fetch("s3://models/versions/");
  ASSERT_TRUE(v3) << v3.error();
  EXPECT_EQ(ReadText(*v3 + "/model.joblib"), "third");
  EXPECT_TRUE(fs::exists(*v2));
  EXPECT_FALSE(fs::exists(*v1));  // only one older snapshot is kept
  EXPECT_FALSE(fs::exists(*v1 + ".manifest"));
}

TEST_F(StorageS3Test, SizeLimitIsCheckedBeforeDownloading) {
  Put("large/a.bin", std::string(3000, 'a'));
  Put("large/b.bin", std::string(3000, 'b'));
  ModelStorageOptions o = Options();
  o.max_download_bytes = 5000;
  auto storage = Make(o);
  auto r = storage->Fetch("s3://models/large/");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kResourceExhausted);
  EXPECT_TRUE(Contains(r.error(), "6000 bytes")) << r.error();
  EXPECT_TRUE(Contains(r.error(), "5000 bytes")) << r.error();
  EXPECT_EQ(storage->stats().files_downloaded, 0u);
}

TEST_F(StorageS3Test, UnknownAccessKeyIsPermissionDeniedWithAHint) {
  ModelStorageOptions o = Options();
  o.s3.access_key_id = "AKIDNOTKNOWN";
  o.s3.secret_access_key = "nope";
  auto storage = Make(o);
  auto r = storage->Fetch("s3://models/iris/");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kPermissionDenied) << r.error();
  EXPECT_TRUE(Contains(r.error(), "InvalidAccessKeyId")) << r.error();
  EXPECT_TRUE(Contains(r.error(), "AWS_ACCESS_KEY_ID")) << r.error();
}

TEST_F(StorageS3Test, AnonymousRequestsAreUnsigned) {
  Put("public/model.joblib", "public");
  ModelStorageOptions o = Options();
  o.s3.access_key_id.clear();
  o.s3.secret_access_key.clear();
  auto storage = Make(o);
  auto r = storage->Fetch("s3://models/public/");
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(ReadText(*r + "/model.joblib"), "public");
}

TEST_F(StorageS3Test, UnreachableS3FallsBackToTheVerifiedCache) {
  // Its own s3rver, stopped halfway.
  TempDir work;
  auto own = S3rver::Start(work / "", "models");
  ASSERT_TRUE(own) << own.error();
  http::S3Options so = S3rverOptions(**own);
  http::S3Client client(so, SystemClock());
  ASSERT_TRUE(client.PutObject("models", "offline/model.joblib", "cached", 10s).ok());
  ModelStorageOptions o = Options();
  o.s3 = so;
  o.io_timeout = 2s;
  auto storage = Make(o);
  auto first = storage->Fetch("s3://models/offline/");
  ASSERT_TRUE(first) << first.error();

  (*own)->Stop();
  auto second = storage->Fetch("s3://models/offline/");
  ASSERT_TRUE(second) << second.error();
  EXPECT_EQ(*second, *first);
  EXPECT_EQ(storage->stats().stale_fallbacks, 1u);

  // Corrupted and unreachable: no verified copy, so the network error is reported.
  std::ofstream(*first + "/model.joblib") << "garbage";
  auto third = storage->Fetch("s3://models/offline/");
  ASSERT_FALSE(third);
  EXPECT_EQ(third.error().code(), Code::kUnavailable) << third.error();
  EXPECT_TRUE(Contains(third.error(), "s3://models/offline/")) << third.error();
}

// Hand-written S3 answers (path-style bucket "b") for what a well-behaved server never sends.
class StorageS3FakeTest : public ::testing::Test {
 protected:
  StorageS3FakeTest()
      : server_(ServerOpts(), [this](http::Router& r, http::Server&) {
          r.Add(
              {"GET"}, "/b", [this](http::Request& req) { return List(req); },
              http::Execution::kInline);
          r.Add(
              {"GET", "HEAD"}, "/b/*",
              [this](http::Request& req) {
                ++object_gets_;
                return http::Response::Text(200, "object " + req.path);
              },
              http::Execution::kInline);
        }) {}

  static http::ServerOptions ServerOpts() {
    http::ServerOptions o;
    o.shutdown_grace = 200ms;
    return o;
  }

  static std::string Contents(const std::string& key) {
    return "<Contents><Key>" + key + "</Key><Size>3</Size><ETag>&quot;e&quot;</ETag></Contents>";
  }
  http::Response List(http::Request& req) {
    std::string prefix = req.Query("prefix").value_or("");
    std::string body;
    if (prefix == "traversal/") {
      body = Contents("traversal/ok.txt") + Contents("traversal/../../escape.txt");
    } else if (prefix == "absolute/") {
      body = Contents("absolute//etc/passwd");
    } else if (prefix == "dot/") {
      body = Contents("dot/./x");
    } else if (prefix == "conflict/") {
      body = Contents("conflict/a") + Contents("conflict/a/b");
    } else if (prefix == "loop/") {
      body = Contents("loop/x") +
             "<IsTruncated>true</IsTruncated><NextContinuationToken>t</NextContinuationToken>";
      if (req.Query("continuation-token") != "t") body = Contents("loop/first") + body;
    } else if (prefix == "encoded/") {
      body = "<EncodingType>url</EncodingType>" + Contents("encoded/a%20b+c%2B.txt");
    } else if (prefix == "region/") {
      return Error(301, "PermanentRedirect",
                   "The bucket you are attempting to access must be addressed using the "
                   "specified endpoint.",
                   "eu-west-1");
    } else if (prefix.rfind("denied/", 0) == 0) {
      return Error(403, "AccessDenied", "Access Denied", "");
    } else if (prefix == "throttled/") {
      return Error(503, "SlowDown", "Please reduce your request rate.", "");
    }
    http::Response resp =
        http::Response::Text(200,
                             "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult "
                             "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name>" +
                                 body + "</ListBucketResult>");
    resp.headers.Set("Content-Type", "application/xml");
    return resp;
  }
  static http::Response Error(int status, const std::string& code, const std::string& message,
                              const std::string& region) {
    http::Response resp = http::Response::Text(
        status, "<Error><Code>" + code + "</Code><Message>" + message + "</Message></Error>");
    if (!region.empty()) resp.headers.Set("x-amz-bucket-region", region);
    return resp;
  }

  std::unique_ptr<ModelStorage> Make() {
    ModelStorageOptions o;
    o.cache_dir = dir_ / "cache";
    o.s3.endpoint = server_.Url("");
    o.s3.access_key_id = "AKID";
    o.s3.secret_access_key = "secret";
    o.io_timeout = 5s;
    auto s = ModelStorage::Create(o);
    EXPECT_TRUE(s) << s.error();
    return s ? std::move(*s) : nullptr;
  }

  TempDir dir_;
  std::atomic<int> object_gets_{0};
  http::testing::TestServer server_;
};

TEST_F(StorageS3FakeTest, KeysThatWouldEscapeTheCacheAreRefused) {
  auto storage = Make();
  for (std::string_view uri : {"s3://b/traversal/", "s3://b/absolute/", "s3://b/dot/"}) {
    auto r = storage->Fetch(std::string(uri));
    ASSERT_FALSE(r) << uri;
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument) << r.error();
    EXPECT_TRUE(Contains(r.error(), "cannot be stored as a local file")) << r.error();
  }
  EXPECT_EQ(object_gets_.load(), 0);
  EXPECT_FALSE(fs::exists(dir_ / "cache/escape.txt"));
  EXPECT_FALSE(fs::exists(dir_ / "cache/s3/escape.txt"));

  auto conflict = storage->Fetch("s3://b/conflict/");
  ASSERT_FALSE(conflict);
  EXPECT_EQ(conflict.error().code(), Code::kFailedPrecondition) << conflict.error();
}

TEST_F(StorageS3FakeTest, UrlEncodedListingsAreDecoded) {
  auto storage = Make();
  auto r = storage->Fetch("s3://b/encoded/");
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(ReadText(*r + "/a b c+.txt"), "object /b/encoded/a b c+.txt");
}

TEST_F(StorageS3FakeTest, AnObjectIsFetchedEvenWhenItsPrefixCannotBeListed) {
  // Bucket policies often grant s3:GetObject without s3:ListBucket.
  auto storage = Make();
  auto file = storage->Fetch("s3://b/denied/model.bst");
  ASSERT_TRUE(file) << file.error();
  EXPECT_EQ(ReadText(*file), "object /b/denied/model.bst");
  auto dir = storage->Fetch("s3://b/denied/");
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error().code(), Code::kPermissionDenied) << dir.error();
  EXPECT_TRUE(Contains(dir.error(), "AccessDenied")) << dir.error();
}

TEST_F(StorageS3FakeTest, ServerMisbehaviourAndWrongRegionAreExplained) {
  auto storage = Make();
  auto loop = storage->Fetch("s3://b/loop/");
  ASSERT_FALSE(loop);
  EXPECT_EQ(loop.error().code(), Code::kUnavailable) << loop.error();
  EXPECT_TRUE(Contains(loop.error(), "continuation token")) << loop.error();

  auto region = storage->Fetch("s3://b/region/");
  ASSERT_FALSE(region);
  EXPECT_EQ(region.error().code(), Code::kFailedPrecondition) << region.error();
  EXPECT_TRUE(Contains(region.error(), "eu-west-1")) << region.error();
  EXPECT_TRUE(Contains(region.error(), "AWS_REGION")) << region.error();

  auto slow = storage->Fetch("s3://b/throttled/");
  ASSERT_FALSE(slow);
  EXPECT_EQ(slow.error().code(), Code::kUnavailable) << slow.error();
  EXPECT_TRUE(Contains(slow.error(), "SlowDown")) << slow.error();
}

}  // namespace
}  // namespace skiff::serving
