// Model storage: local paths and file://, http(s):// downloads (served by skiff's own
// http::Server on 127.0.0.1:0), the cache and its checksums, limits, and unsupported schemes.

#include "serving/storage.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/crypto.hpp"
#include "core/fs.hpp"
#include "unit/http/test_certs.hpp"
#include "unit/http/test_stream.hpp"
#include "unit/http/test_util.hpp"

namespace skiff::serving {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// A fresh directory under the system temp dir, removed at the end.
class TempDir {
 public:
  TempDir() : path_(fs::temp_directory_path() / ("skiff-storage-" + HexEncode(RandomBytes(6)))) {
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string path() const { return path_.string(); }
  std::string operator/(std::string_view rel) const { return (path_ / rel).string(); }

 private:
  fs::path path_;
};

void WriteText(const std::string& path, std::string_view text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

std::string ReadText(const std::string& path) {
  auto r = ReadFile(path);
  return r ? *r : std::string("<unreadable>");
}

ModelStorageOptions Options(const TempDir& dir) {
  ModelStorageOptions o;
  o.cache_dir = dir / "cache";
  o.base_dir = dir.path();
  o.io_timeout = 5s;
  o.fetch_timeout = 30s;
  return o;
}

std::unique_ptr<ModelStorage> Make(ModelStorageOptions o) {
  auto s = ModelStorage::Create(std::move(o));
  EXPECT_TRUE(s) << s.error();
  return s ? std::move(*s) : nullptr;
}

bool Contains(const Status& s, std::string_view text) {
  return s.message().find(text) != std::string::npos;
}

TEST(StorageCreateTest, CacheDirIsCreatedPrivate) {
  TempDir dir;
  auto storage = Make(Options(dir));
  ASSERT_TRUE(storage);
  struct stat st {};
  ASSERT_EQ(::stat((dir / "cache").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST(StorageCreateTest, RejectsBadOptions) {
  TempDir dir;
  ModelStorageOptions o = Options(dir);
  o.cache_dir.clear();
  EXPECT_EQ(ModelStorage::Create(o).error().code(), Code::kInvalidArgument);

  o = Options(dir);
  o.s3.access_key_id = "AKID";  // without the secret
  auto half = ModelStorage::Create(o);
  ASSERT_FALSE(half);
  EXPECT_EQ(half.error().code(), Code::kInvalidArgument);
  EXPECT_TRUE(Contains(half.error(), "AWS_SECRET_ACCESS_KEY")) << half.error();

  o = Options(dir);
  o.s3.endpoint = "ftp://example.com";
  EXPECT_EQ(ModelStorage::Create(o).error().code(), Code::kInvalidArgument);

  o = Options(dir);
  WriteText(dir / "file", "x");
  o.cache_dir = dir / "file";
  EXPECT_FALSE(ModelStorage::Create(o));
}

TEST(StorageLocalTest, PathsAndFileUrisAreUsedInPlace) {
  TempDir dir;
  WriteText(dir / "models/iris/model.joblib", "joblib");
  auto storage = Make(Options(dir));
  const std::string iris = dir / "models/iris";

  for (const std::string& uri :
       std::vector<std::string>{iris, iris + "/", "file://" + iris, "models/iris",
                                "file://models/iris", "./models/./iris/"}) {
    auto r = storage->Fetch(uri);
    ASSERT_TRUE(r) << uri << ": " << r.error();
    EXPECT_EQ(*r, iris) << uri;
  }
  auto file = storage->Fetch(iris + "/model.joblib");
  ASSERT_TRUE(file) << file.error();
  EXPECT_EQ(*file, iris + "/model.joblib");
  EXPECT_EQ(storage->stats().files_downloaded, 0u);
}

TEST(StorageLocalTest, MissingPathIsNotFoundNamingIt) {
  TempDir dir;
  auto storage = Make(Options(dir));
  auto r = storage->Fetch("models/nope");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kNotFound);
  EXPECT_TRUE(Contains(r.error(), dir / "models/nope")) << r.error();
  EXPECT_TRUE(Contains(r.error(), "storageUri \"models/nope\"")) << r.error();

  auto f = storage->Fetch("file:///definitely/not/here");
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code(), Code::kNotFound);
  EXPECT_TRUE(Contains(f.error(), "/definitely/not/here")) << f.error();
}

TEST(StorageLocalTest, LocalRootsConfinePaths) {
  TempDir dir;
  WriteText(dir / "models/iris/model.joblib", "joblib");
  WriteText(dir / "secret/key", "s3cr3t");
  fs::create_directory_symlink(dir / "secret", dir / "models/escape");
  ModelStorageOptions o = Options(dir);
  o.local_roots = {dir / "models"};
  auto storage = Make(o);

  EXPECT_TRUE(storage->Fetch("models/iris"));
  EXPECT_TRUE(storage->Fetch(dir / "models"));
  for (const std::string& uri : std::vector<std::string>{dir / "secret/key", "models/../secret",
                                                         dir / "models/escape/key"}) {
    auto r = storage->Fetch(uri);
    ASSERT_FALSE(r) << uri;
    EXPECT_EQ(r.error().code(), Code::kPermissionDenied) << uri << ": " << r.error();
  }
}

TEST(StorageSchemeTest, UnsupportedSchemesAreFailedPreconditionNeverACrash) {
  TempDir dir;
  auto storage = Make(Options(dir));
  for (const std::string& scheme :
       std::vector<std::string>{"gs", "pvc", "hdfs", "webhdfs", "azure", "oci", "hf", "GS"}) {
    std::string uri = scheme + "://bucket/models/iris";
    auto r = storage->Fetch(uri);
    ASSERT_FALSE(r) << uri;
    EXPECT_EQ(r.error().code(), Code::kFailedPrecondition) << uri;
    EXPECT_TRUE(Contains(r.error(),
                         "storage is not supported by this skiff build: copy the "
                         "model to a local path, http(s):// or s3:// and use that "
                         "storageUri"))
        << r.error();
  }
  auto gs = storage->Fetch("gs://kfserving-examples/models/sklearn/1.0/model");
  EXPECT_TRUE(Contains(gs.error(), "gs:// storage is not supported")) << gs.error();

  auto azure = storage->Fetch("https://kfserving.blob.core.windows.net/triton/simple_string/");
  ASSERT_FALSE(azure);
  EXPECT_EQ(azure.error().code(), Code::kFailedPrecondition);
  EXPECT_TRUE(Contains(azure.error(), "Azure Blob Storage")) << azure.error();
}

TEST(StorageSchemeTest, MalformedUrisAreInvalidArgument) {
  TempDir dir;
  auto storage = Make(Options(dir));
  for (const std::string& uri : std::vector<std::string>{
           "", "s3://", "s3:///key", "s3://bad bucket/key", "http://", "https:// /x", "file://"}) {
    auto r = storage->Fetch(uri);
    ASSERT_FALSE(r) << uri;
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument) << uri << ": " << r.error();
  }
}

// http(s): skiff's own server on 127.0.0.1:0.
class StorageHttpTest : public ::testing::Test {
 protected:
  StorageHttpTest()
      : model_(std::string(100'000, 'm') + "end"),
        server_(ServerOpts(), [this](http::Router& r, http::Server&) { Routes(r); }) {}

  static http::ServerOptions ServerOpts() {
    http::ServerOptions o;
    o.shutdown_grace = 200ms;
    return o;
  }

  void Routes(http::Router& r) {
    r.Add(
        {"GET"}, "/models/iris/model.joblib",
        [this](http::Request&) {
          ++downloads_;
          return http::Response::Text(200, model_);
        },
        http::Execution::kInline);
    r.Add(
        {"GET"}, "/big.bin",
        [](http::Request&) { return http::Response::Text(200, std::string(64 * 1024, 'b')); },
        http::Execution::kInline);
    r.Add(
        {"GET"}, "/moved",
        [](http::Request&) {
          http::Response resp = http::Response::Text(302, "moved");
          resp.headers.Set("Location", "/models/iris/model.joblib");
          return resp;
        },
        http::Execution::kInline);
    r.Add(
        {"GET"}, "/loop",
        [](http::Request&) {
          http::Response resp = http::Response::Text(307, "");
          resp.headers.Set("Location", "/loop");
          return resp;
        },
        http::Execution::kInline);
    r.Add(
        {"GET"}, "/busy", [](http::Request&) { return http::Response::Text(503, "busy"); },
        http::Execution::kInline);
    r.Add(
        {"GET"}, "/private", [](http::Request&) { return http::Response::Text(403, "no"); },
        http::Execution::kInline);
    r.Add({"GET"}, "/stall", [this](http::Request&, http::Responder respond) {
      http::Response resp;
      resp.stream = stall_;
      respond(std::move(resp));
    });
  }

  // Files in the entry directory of `uri` (temporaries included).
  std::vector<std::string> EntryFiles(const std::string& uri) const {
    std::vector<std::string> out;
    std::error_code ec;
    fs::path entry = fs::path(dir_ / "cache/http") / HexEncode(Sha256(uri));
    for (fs::directory_iterator it(entry, ec), end; !ec && it != end; it.increment(ec)) {
      out.push_back(it->path().filename().string());
    }
    return out;
  }

  TempDir dir_;
  std::string model_;
  std::atomic<int> downloads_{0};
  std::shared_ptr<http::testing::TestStream> stall_ = std::make_shared<http::testing::TestStream>();
  http::testing::TestServer server_;
};

TEST_F(StorageHttpTest, DownloadsOnceThenReusesTheVerifiedCopy) {
  auto storage = Make(Options(dir_));
  const std::string uri = server_.Url("/models/iris/model.joblib");
  auto first = storage->Fetch(uri);
  ASSERT_TRUE(first) << first.error();
  EXPECT_EQ(fs::path(*first).filename(), "model.joblib");
  EXPECT_EQ(fs::path(*first).parent_path().parent_path(), fs::path(dir_ / "cache/http"));
  EXPECT_EQ(ReadText(*first), model_);
  EXPECT_EQ(downloads_.load(), 1);
  auto meta = ReadFile(fs::path(*first).parent_path().string() + ".meta");
  ASSERT_TRUE(meta);
  EXPECT_NE(meta->find("sha256 " + HexEncode(Sha256(model_))), std::string::npos) << *meta;

  auto second = storage->Fetch(uri);
  ASSERT_TRUE(second) << second.error();
  EXPECT_EQ(*second, *first);
  EXPECT_EQ(downloads_.load(), 1);
  auto st = storage->stats();
  EXPECT_EQ(st.files_downloaded, 1u);
  EXPECT_EQ(st.bytes_downloaded, model_.size());
  EXPECT_EQ(st.cache_hits, 1u);

  // A new ModelStorage on the same cache (a restart) reuses it as well.
  auto restarted = Make(Options(dir_));
  ASSERT_TRUE(restarted->Fetch(uri));
  EXPECT_EQ(downloads_.load(), 1);
}

TEST_F(StorageHttpTest, CorruptedOrMissingCacheEntryIsDownloadedAgain) {
  auto storage = Make(Options(dir_));
  const std::string uri = server_.Url("/models/iris/model.joblib");
  auto path = storage->Fetch(uri);
  ASSERT_TRUE(path) << path.error();

  // Same size, different bytes: only the checksum can tell.
  std::string corrupt = model_;
  corrupt[500] = 'X';
  WriteText(*path, corrupt);
  auto again = storage->Fetch(uri);
  ASSERT_TRUE(again) << again.error();
  EXPECT_EQ(ReadText(*again), model_);
  EXPECT_EQ(downloads_.load(), 2);
  EXPECT_EQ(storage->stats().corrupt_files, 1u);

  fs::remove(*path);
  ASSERT_TRUE(storage->Fetch(uri));
  EXPECT_EQ(ReadText(*path), model_);
  EXPECT_EQ(downloads_.load(), 3);

  // A cache without its record (crash before the .meta was written) is not trusted.
  fs::remove(fs::path(*path).parent_path().string() + ".meta");
  ASSERT_TRUE(storage->Fetch(uri));
  EXPECT_EQ(downloads_.load(), 4);
}

TEST_F(StorageHttpTest, HttpErrorsNameTheUrlAndStatus) {
  auto storage = Make(Options(dir_));
  auto missing = storage->Fetch(server_.Url("/models/nope/model.joblib"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), Code::kNotFound);
  EXPECT_TRUE(Contains(missing.error(), server_.Url("/models/nope/model.joblib")))
      << missing.error();
  EXPECT_TRUE(Contains(missing.error(), "HTTP 404")) << missing.error();

  auto busy = storage->Fetch(server_.Url("/busy"));
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().code(), Code::kUnavailable);
  EXPECT_TRUE(Contains(busy.error(), "HTTP 503")) << busy.error();

  auto denied = storage->Fetch(server_.Url("/private"));
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code(), Code::kPermissionDenied);

  // Nothing listens on this port.
  auto down = storage->Fetch("http://127.0.0.1:1/model.bst");
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().code(), Code::kUnavailable) << down.error();
  EXPECT_TRUE(Contains(down.error(), "http://127.0.0.1:1/model.bst")) << down.error();
  EXPECT_EQ(storage->stats().files_downloaded, 0u);
}

TEST_F(StorageHttpTest, SizeLimitIsEnforcedWhileStreaming) {
  ModelStorageOptions o = Options(dir_);
  o.max_download_bytes = 16 * 1024;
  auto storage = Make(o);
  const std::string uri = server_.Url("/big.bin");
  auto r = storage->Fetch(uri);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kResourceExhausted);
  EXPECT_TRUE(Contains(r.error(), "16384 bytes")) << r.error();
  EXPECT_TRUE(Contains(r.error(), uri)) << r.error();
  EXPECT_TRUE(EntryFiles(uri).empty());  // no partial file, no temporary
  EXPECT_FALSE(
      FileExists((fs::path(dir_ / "cache/http") / HexEncode(Sha256(uri))).string() + ".meta"));
}

TEST_F(StorageHttpTest, RedirectsAreFollowedWithABound) {
  auto storage = Make(Options(dir_));
  auto r = storage->Fetch(server_.Url("/moved"));
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(ReadText(*r), model_);
  EXPECT_EQ(fs::path(*r).filename(), "moved");  // named after the storageUri

  auto loop = storage->Fetch(server_.Url("/loop"));
  ASSERT_FALSE(loop);
  EXPECT_EQ(loop.error().code(), Code::kUnavailable);
  EXPECT_TRUE(Contains(loop.error(), "redirect")) << loop.error();
}

TEST_F(StorageHttpTest, AStalledBodyTimesOut) {
  stall_->Push("partial");
  ModelStorageOptions o = Options(dir_);
  o.io_timeout = 300ms;
  auto storage = Make(o);
  const std::string uri = server_.Url("/stall");
  auto start = std::chrono::steady_clock::now();
  auto r = storage->Fetch(uri);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kDeadlineExceeded) << r.error();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_TRUE(EntryFiles(uri).empty());
  stall_->End();
}

TEST_F(StorageHttpTest, ConcurrentFetchesOfOneUriDownloadOnce) {
  auto storage = Make(Options(dir_));
  const std::string uri = server_.Url("/models/iris/model.joblib");
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      if (auto r = storage->Fetch(uri); r && ReadText(*r) == model_) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 4);
  EXPECT_EQ(downloads_.load(), 1);
  EXPECT_EQ(storage->stats().cache_hits, 3u);
}

TEST(StorageHttpsTest, TlsPeersAreVerified) {
  auto cert = http::testing::MakeCert("localhost", "IP:127.0.0.1");
  http::ServerOptions so;
  so.tls_cert_file = cert->pem_path;
  so.tls_key_file = cert->key_path;
  so.tls_only = true;
  so.shutdown_grace = 200ms;
  http::testing::TestServer server(so, [](http::Router& r, http::Server&) {
    r.Add(
        {"GET"}, "/model.bst", [](http::Request&) { return http::Response::Text(200, "bst"); },
        http::Execution::kInline);
  });
  const std::string uri = "https://127.0.0.1:" + std::to_string(server.port()) + "/model.bst";
  TempDir dir;

  auto untrusted = Make(Options(dir));
  auto r = untrusted->Fetch(uri);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kUnavailable) << r.error();

  ModelStorageOptions o = Options(dir);
  o.ca_file = cert->pem_path;
  auto trusted = Make(o);
  auto ok = trusted->Fetch(uri);
  ASSERT_TRUE(ok) << ok.error();
  EXPECT_EQ(ReadText(*ok), "bst");
}

}  // namespace
}  // namespace skiff::serving
