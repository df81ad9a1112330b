#pragma once
// Model storage: turns a KServe `storageUri` into a local path (a file or a directory) that a
// runtime can load (LoadRequest.path).
//
//   /abs/path, rel/path, file://...  used in place (checked to exist; relative to base_dir)
//   http://..., https://...          downloaded once into the cache (TLS verified)
//   s3://bucket/prefix/              every object under the prefix, mirrored as a directory
//   s3://bucket/key                  the objects under key/ as a directory if there are any,
//                                    else the one object `key` (a file, found by HEAD, so a
//                                    policy granting GetObject without ListBucket works)
//   gs://, pvc://, hdfs://, Azure    FailedPrecondition: not supported by this build
//
// Cache layout (cache_dir, 0700, inside the data dir):
//   http/<K>/<name>       the downloaded file, named after the URL's last path segment;
//                         K = hex SHA-256 of the URI
//   http/<K>.meta         "sha256 <hex>\nsize <n>\nname <enc>\nuri <enc>\n" (URI-encoded
//                         name and URI), written last: the entry's commit record
//   s3/<K>/<V>/...        a snapshot of the objects, keys mirrored as relative paths;
//                         K = hex SHA-256 of endpoint + URI, V = 16 hex digits of the SHA-256 of
//                         the listing (relative paths, sizes, ETags)
//   s3/<K>/<V>.manifest   "skiff-s3-snapshot 1 dir|single", then one line per file:
//                         "<sha256> <size> <URI-encoded relative path>"; written last
// The newest other snapshot of a URI is kept (a runtime may still read it); older ones go.
// Entries are written to hidden temporaries and renamed into place, so a crash never leaves a
// half-written file that looks complete. Every reuse re-hashes the files against the recorded
// SHA-256 ("checksum on disk"); a missing or corrupted file is downloaded again.
//
// s3:// is listed on every Fetch (cheap) so that new uploads under the same prefix are noticed;
// when S3 is unreachable (Unavailable or DeadlineExceeded) the newest verified snapshot is used.
// http(s):// is not revalidated: a changed file at the same URL needs a new URL (or the entry
// deleted).
//
// Thread-safety: Fetch may be called concurrently; fetches of the same URI are serialized (one
// download), different URIs proceed in parallel. Blocking: call from the blocking pool.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "http/s3_client.hpp"

namespace skiff::serving {

namespace storage_detail {
struct Snapshot;
struct Manifest;
}  // namespace storage_detail

struct ModelStorageOptions {
  std::string cache_dir;  // required; created with mode 0700 (parents 0755)
  // Relative local paths (and file://relative) resolve here; empty = the current directory.
  std::string base_dir;
  // When not empty, local paths must lie (symbolic links resolved) under one of these
  // directories; anything else is PermissionDenied. Set it when users who may not read the
  // server's files can create InferenceServices.
  std::vector<std::string> local_roots;
  uint64_t max_download_bytes = uint64_t{2} << 30;  // per model: one file or all S3 objects
  size_t max_objects = 10'000;                      // per s3:// prefix
  // Connecting and each wait for more data; and the whole Fetch (every object of a prefix).
  std::chrono::milliseconds io_timeout{60'000};
  std::chrono::milliseconds fetch_timeout{30 * 60'000};
  int max_redirects = 5;  // http(s) only; S3 requests never follow redirects
  // http(s) downloads: extra trust anchor (PEM) and the test-only escape hatch.
  std::string ca_file;
  bool insecure_skip_verify = false;
  // Usually http::S3OptionsFromEnvironment(settings from skiff's configuration).
  http::S3Options s3;
  int s3_page_size = 1000;  // ListObjectsV2 max-keys (1..1000)
};

// Counters since construction, for metrics and tests.
struct ModelStorageStats {
  uint64_t files_downloaded = 0;  // files fetched over the network (http objects, S3 objects)
  uint64_t bytes_downloaded = 0;
  uint64_t cache_hits = 0;       // Fetches answered entirely from verified cache entries
  uint64_t corrupt_files = 0;    // cached files whose size or SHA-256 did not match
  uint64_t stale_fallbacks = 0;  // s3 Fetches served from cache because S3 was unreachable
};

class ModelStorage {
 public:
  // Validates the options and creates cache_dir. Errors: InvalidArgument (no cache_dir, bad S3
  // endpoint, half a key pair, bad limits), PermissionDenied/FailedPrecondition (cache_dir not
  // usable).
  static Result<std::unique_ptr<ModelStorage>> Create(ModelStorageOptions options,
                                                      const Clock& clock = SystemClock());

  // Returns the local path of the model named by `storage_uri`. Errors name the URI and say what
  // to do: InvalidArgument (malformed URI, unsafe object key), NotFound (missing path, bucket,
  // object or prefix; HTTP 404), PermissionDenied (outside local_roots; HTTP or S3 401/403),
  // FailedPrecondition (unsupported scheme, wrong S3 region, clock skew), ResourceExhausted
  // (over max_download_bytes or max_objects; disk full), Unavailable (network, TLS, HTTP 5xx),
  // DeadlineExceeded (fetch_timeout).
  Result<std::string> Fetch(const std::string& storage_uri);

  ModelStorageStats stats() const;
  const ModelStorageOptions& options() const { return options_; }
  const http::S3Client& s3() const { return s3_; }

 private:
  ModelStorage(ModelStorageOptions options, const Clock& clock);

  Result<std::string> FetchLocal(const std::string& uri, std::string path);
  Result<std::string> FetchHttp(const std::string& uri);
  Result<std::string> FetchS3(const std::string& uri);

  using Snapshot = storage_detail::Snapshot;
  using Manifest = storage_detail::Manifest;
  // What an s3:// URI names now: the objects under KEY/ (or under the prefix when the URI ends
  // with '/'), else the one object KEY.
  Result<Snapshot> Discover(const std::string& uri, const http::S3Uri& loc,
                            std::chrono::steady_clock::time_point deadline);
  Result<std::string> UseSnapshot(const std::string& uri, const std::string& entry_dir,
                                  const Snapshot& snap,
                                  std::chrono::steady_clock::time_point deadline);
  Status DownloadSnapshot(const std::string& uri, const std::string& entry_dir,
                          const Snapshot& snap, std::chrono::steady_clock::time_point deadline);
  Status RepairFiles(const std::string& uri, const std::string& data_dir, const Snapshot& snap,
                     Manifest& manifest, const std::vector<size_t>& bad,
                     std::chrono::steady_clock::time_point deadline);
  // Downloads one object to `path` (which must not exist), within `budget` bytes.
  Result<std::pair<uint64_t, std::string>> DownloadObject(
      const std::string& uri, const std::string& bucket, const std::string& key,
      const std::string& path, uint64_t budget, std::chrono::steady_clock::time_point deadline);

  // Serializes fetches of one cache key. The returned lock holds a shared mutex for the key.
  std::unique_lock<std::mutex> LockKey(const std::string& key, std::shared_ptr<std::mutex>& holder);

  const ModelStorageOptions options_;
  const Clock& clock_;
  const http::S3Client s3_;

  std::mutex keys_mu_;  // guards key_locks_
  std::map<std::string, std::weak_ptr<std::mutex>> key_locks_;

  std::atomic<uint64_t> files_downloaded_{0};
  std::atomic<uint64_t> bytes_downloaded_{0};
  std::atomic<uint64_t> cache_hits_{0};
  std::atomic<uint64_t> corrupt_files_{0};
  std::atomic<uint64_t> stale_fallbacks_{0};
};

}  // namespace skiff::serving
