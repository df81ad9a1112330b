#include "serving/storage.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/url/parse.hpp>
#include <charconv>
#include <filesystem>
#include <set>
#include <sstream>

#include "core/crypto.hpp"
#include "core/fs.hpp"
#include "serving/storage_io.hpp"

namespace skiff::serving {

namespace fs = std::filesystem;
using SteadyTime = std::chrono::steady_clock::time_point;

namespace storage_detail {

struct ManifestEntry {
  std::string sha256_hex;
  uint64_t size = 0;
  std::string rel;  // relative to the snapshot directory
};

struct Manifest {
  bool single = false;  // the URI names one object: its file is the model path
  std::vector<ManifestEntry> entries;
};

struct Snapshot {
  std::string bucket;
  std::string prefix;  // the listed prefix ("" for a single object)
  bool single = false;
  std::vector<http::S3Object> objects;
  std::vector<std::string> rel;  // where each object goes, relative to the snapshot directory
  std::string version;           // hash of the listing: the snapshot directory's name
};

}  // namespace storage_detail

namespace {

using storage_detail::Manifest;
using storage_detail::ManifestEntry;
using storage_detail::Snapshot;

constexpr std::string_view kManifestHeader = "skiff-s3-snapshot 1";
constexpr unsigned kDirMode = 0700;

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string Join(const std::string& dir, std::string_view name) {
  return dir + "/" + std::string(name);
}

std::string UnsupportedMessage(std::string_view what) {
  return std::string(what) +
         " storage is not supported by this skiff build: copy the model to a local path, "
         "http(s):// or s3:// and use that storageUri";
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// A relative path for an object key that cannot escape the directory it is written into.
Status CheckRelativePath(std::string_view rel, std::string_view key, std::string_view uri) {
  auto bad = [&](std::string_view why) {
    return InvalidArgument("storageUri \"" + std::string(uri) + "\": object key \"" +
                           std::string(key) + "\" cannot be stored as a local file (" +
                           std::string(why) + "); rename the object");
  };
  if (rel.empty()) return bad("nothing after the prefix");
  if (rel.find('\0') != std::string_view::npos) return bad("it contains a NUL byte");
  if (rel.front() == '/') return bad("an absolute path after the prefix");
  size_t pos = 0;
  while (pos <= rel.size()) {
    size_t next = rel.find('/', pos);
    if (next == std::string_view::npos) next = rel.size();
    std::string_view seg = rel.substr(pos, next - pos);
    if (seg.empty()) return bad("an empty path segment");
    if (seg == "." || seg == "..") return bad("a \".\" or \"..\" path segment");
    pos = next + 1;
  }
  return Status::Ok();
}

// The file name an http(s) URL is stored under: its last path segment, decoded, so runtimes
// that look at extensions (model.joblib, model.bst) see the original name.
std::string FileNameForUrl(const boost::urls::url_view& u) {
  std::string path = u.path();
  std::string name = path.substr(path.find_last_of('/') + 1);
  for (auto& c : name) {
    if (c == '\0' || c == '\\') c = '_';
  }
  if (name.empty() || name == "." || name == ".." || name.rfind(".tmp-", 0) == 0) {
    name = "model";
  }
  if (name.size() > 200) name = name.substr(name.size() - 200);
  return name;
}

std::string FormatManifest(const Manifest& m) {
  std::string out = std::string(kManifestHeader) + (m.single ? " single\n" : " dir\n");
  for (const auto& e : m.entries) {
    out += e.sha256_hex + " " + std::to_string(e.size) + " " +
           http::sigv4::UriEncode(e.rel, /*keep_slash=*/true) + "\n";
  }
  return out;
}

Result<Manifest> ReadManifest(const std::string& path) {
  SKIFF_ASSIGN_OR_RETURN(std::string text, ReadFile(path, 64 << 20));
  std::istringstream in(text);
  std::string line;
  Manifest m;
  if (!std::getline(in, line) || line.rfind(kManifestHeader, 0) != 0) {
    return InvalidArgument("bad manifest header in " + path);
  }
  m.single = EndsWith(line, " single");
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    ManifestEntry e;
    std::string rel;
    if (!(fields >> e.sha256_hex >> e.size >> rel) || e.sha256_hex.size() != 64) {
      return InvalidArgument("bad manifest line in " + path);
    }
    auto decoded = http::PercentDecode(rel, false);
    if (!decoded) return InvalidArgument("bad path in manifest " + path);
    e.rel = std::move(*decoded);
    m.entries.push_back(std::move(e));
  }
  if (m.entries.empty() || (m.single && m.entries.size() != 1)) {
    return InvalidArgument("manifest " + path + " lists no files");
  }
  return m;
}

// Indices of the entries whose file is missing, not regular, or differs in size or SHA-256.
std::vector<size_t> VerifyFiles(const std::string& data_dir, const Manifest& m) {
  std::vector<size_t> bad;
  for (size_t i = 0; i < m.entries.size(); ++i) {
    auto d = storage_io::HashFile(Join(data_dir, m.entries[i].rel));
    if (!d || d->size != m.entries[i].size || d->sha256_hex != m.entries[i].sha256_hex) {
      bad.push_back(i);
    }
  }
  return bad;
}

std::string SnapshotPath(const std::string& data_dir, const Manifest& m) {
  return m.single ? Join(data_dir, m.entries.front().rel) : data_dir;
}

Status MakeParents(const std::string& root, std::string_view rel) {
  size_t slash = rel.rfind('/');
  if (slash == std::string_view::npos) return Status::Ok();
  std::string dir = root;
  size_t pos = 0;
  while (pos < slash) {
    size_t next = rel.find('/', pos);
    dir += "/" + std::string(rel.substr(pos, next - pos));
    SKIFF_RETURN_IF_ERROR(EnsureDirectory(dir, kDirMode));
    pos = next + 1;
  }
  return Status::Ok();
}

// Removes hidden temporaries left by an interrupted download.
void RemoveTemporaries(const std::string& dir) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename().string().rfind(".tmp-", 0) == 0) {
      storage_io::RemoveAll(it->path().string());
    }
  }
}

// The newest snapshot in `entry_dir` whose files all verify: what a Fetch falls back to when S3
// cannot be reached.
Result<std::string> NewestVerifiedSnapshot(const std::string& entry_dir) {
  std::vector<std::pair<fs::file_time_type, std::string>> manifests;
  std::error_code ec;
  for (fs::directory_iterator it(entry_dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (!EndsWith(name, ".manifest")) continue;
    std::error_code tec;
    auto t = fs::last_write_time(it->path(), tec);
    if (!tec) manifests.emplace_back(t, it->path().string());
  }
  std::sort(manifests.begin(), manifests.end(), std::greater<>());
  for (const auto& [time, path] : manifests) {
    auto m = ReadManifest(path);
    if (!m) continue;
    std::string data_dir = path.substr(0, path.size() - std::string_view(".manifest").size());
    if (VerifyFiles(data_dir, *m).empty()) return SnapshotPath(data_dir, *m);
  }
  return NotFound("no verified cached copy");
}

// Keeps the snapshot just written and the newest other complete one (a runtime may still be
// reading it); removes older snapshots, incomplete ones and temporaries.
void PruneSnapshots(const std::string& entry_dir, const std::string& keep_version) {
  std::vector<std::pair<fs::file_time_type, std::string>> others;
  std::set<std::string> complete;
  std::error_code ec;
  for (fs::directory_iterator it(entry_dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (!EndsWith(name, ".manifest")) continue;
    std::string version = name.substr(0, name.size() - std::string_view(".manifest").size());
    if (version == keep_version) continue;
    std::error_code tec;
    auto t = fs::last_write_time(it->path(), tec);
    others.emplace_back(t, version);
  }
  std::sort(others.begin(), others.end(), std::greater<>());
  if (!others.empty()) complete.insert(others.front().second);
  for (size_t i = 1; i < others.size(); ++i) {
    ::unlink(Join(entry_dir, others[i].second + ".manifest").c_str());
  }
  for (fs::directory_iterator it(entry_dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (EndsWith(name, ".manifest") || name == keep_version || complete.count(name)) continue;
    storage_io::RemoveAll(it->path().string());
  }
}

}  // namespace

Result<std::unique_ptr<ModelStorage>> ModelStorage::Create(ModelStorageOptions options,
                                                           const Clock& clock) {
  if (options.cache_dir.empty()) return InvalidArgument("model storage needs a cache directory");
  if (options.max_download_bytes == 0 || options.max_objects == 0) {
    return InvalidArgument("model storage limits must be positive");
  }
  if (options.s3_page_size < 1 || options.s3_page_size > 1000) {
    return InvalidArgument("the S3 listing page size must be between 1 and 1000");
  }
  SKIFF_RETURN_IF_ERROR(http::S3Client::Validate(options.s3));
  options.cache_dir = fs::path(options.cache_dir).lexically_normal().string();
  while (options.cache_dir.size() > 1 && options.cache_dir.back() == '/') {
    options.cache_dir.pop_back();
  }
  SKIFF_RETURN_IF_ERROR(EnsureDirectory(options.cache_dir, kDirMode));
  SKIFF_RETURN_IF_ERROR(EnsureDirectory(Join(options.cache_dir, "http"), kDirMode));
  SKIFF_RETURN_IF_ERROR(EnsureDirectory(Join(options.cache_dir, "s3"), kDirMode));
  return std::unique_ptr<ModelStorage>(new ModelStorage(std::move(options), clock));
}

ModelStorage::ModelStorage(ModelStorageOptions options, const Clock& clock)
    : options_(std::move(options)), clock_(clock), s3_(options_.s3, clock) {}

ModelStorageStats ModelStorage::stats() const {
  ModelStorageStats s;
  s.files_downloaded = files_downloaded_.load();
  s.bytes_downloaded = bytes_downloaded_.load();
  s.cache_hits = cache_hits_.load();
  s.corrupt_files = corrupt_files_.load();
  s.stale_fallbacks = stale_fallbacks_.load();
  return s;
}

std::unique_lock<std::mutex> ModelStorage::LockKey(const std::string& key,
                                                   std::shared_ptr<std::mutex>& holder) {
  {
    std::lock_guard lock(keys_mu_);
    if (key_locks_.size() > 1024) {
      std::erase_if(key_locks_, [](const auto& kv) { return kv.second.expired(); });
    }
    auto& weak = key_locks_[key];
    holder = weak.lock();
    if (!holder) {
      holder = std::make_shared<std::mutex>();
      weak = holder;
    }
  }
  return std::unique_lock<std::mutex>(*holder);
}

Result<std::string> ModelStorage::Fetch(const std::string& storage_uri) {
  if (storage_uri.empty()) return InvalidArgument("storageUri is empty");
  size_t sep = storage_uri.find("://");
  if (sep == std::string::npos) return FetchLocal(storage_uri, storage_uri);
  std::string scheme = ToLower(storage_uri.substr(0, sep));
  if (scheme == "file") return FetchLocal(storage_uri, storage_uri.substr(sep + 3));
  if (scheme == "http" || scheme == "https") return FetchHttp(storage_uri);
  if (scheme == "s3") return FetchS3(storage_uri);
  return FailedPrecondition("storageUri \"" + storage_uri +
                            "\": " + UnsupportedMessage(scheme + "://"));
}

Result<std::string> ModelStorage::FetchLocal(const std::string& uri, std::string path) {
  if (path.rfind("localhost/", 0) == 0) path.erase(0, 9);  // file://localhost/abs
  if (path.empty()) return InvalidArgument("storageUri \"" + uri + "\" names no path");
  fs::path p(path);
  std::error_code ec;
  if (p.is_relative()) {
    fs::path base = options_.base_dir.empty() ? fs::current_path(ec) : fs::path(options_.base_dir);
    p = base / p;
  }
  p = p.lexically_normal();
  std::string out = p.string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  if (!fs::exists(p, ec)) {
    return NotFound("storageUri \"" + uri + "\": local path " + out +
                    " does not exist; put the model there or fix storageUri");
  }
  if (!options_.local_roots.empty()) {
    fs::path real = fs::weakly_canonical(p, ec);
    bool allowed = false;
    for (const auto& root : options_.local_roots) {
      fs::path r = fs::weakly_canonical(root, ec);
      auto rel = real.lexically_relative(r);
      if (!rel.empty() && *rel.begin() != "..") allowed = true;
    }
    if (!allowed) {
      return PermissionDenied("storageUri \"" + uri + "\": local path " + out +
                              " is outside the directories models may be loaded from");
    }
  }
  return out;
}

Result<std::string> ModelStorage::FetchHttp(const std::string& uri) {
  auto parsed = boost::urls::parse_absolute_uri(uri);
  if (!parsed || parsed->encoded_host().empty()) {
    return InvalidArgument("storageUri \"" + uri + "\" is not a valid http(s) URL");
  }
  std::string host = ToLower(parsed->host());
  if (EndsWith(host, ".blob.core.windows.net") || EndsWith(host, ".dfs.core.windows.net")) {
    return FailedPrecondition("storageUri \"" + uri +
                              "\": " + UnsupportedMessage("Azure Blob Storage (" + host + ")"));
  }
  const std::string name = FileNameForUrl(*parsed);
  const std::string key = HexEncode(Sha256(uri));
  const std::string entry_dir = Join(Join(options_.cache_dir, "http"), key);
  const std::string meta_path = entry_dir + ".meta";
  const std::string file = Join(entry_dir, name);
  const SteadyTime deadline = std::chrono::steady_clock::now() + options_.fetch_timeout;

  std::shared_ptr<std::mutex> holder;
  auto lock = LockKey("http\n" + uri, holder);

  if (auto meta = ReadFile(meta_path, 64 * 1024)) {
    std::istringstream in(*meta);
    std::string k1, sha, k2, k3, recorded_name;
    uint64_t size = 0;
    if (in >> k1 >> sha >> k2 >> size >> k3 >> recorded_name && k1 == "sha256" && k3 == "name" &&
        recorded_name == http::sigv4::UriEncode(name, false)) {
      auto d = storage_io::HashFile(file);
      if (d && d->size == size && d->sha256_hex == sha) {
        ++cache_hits_;
        return file;
      }
      ++corrupt_files_;
      spdlog::warn("model storage: cached copy of {} is missing or corrupted; downloading again",
                   uri);
    }
  }

  SKIFF_RETURN_IF_ERROR(EnsureDirectory(entry_dir, kDirMode));
  RemoveTemporaries(entry_dir);
  ::unlink(meta_path.c_str());
  const std::string tmp = Join(entry_dir, storage_io::TempName());
  http::ClientRequest req;
  req.url = uri;
  req.timeout = options_.io_timeout;
  req.ca_file = options_.ca_file;
  req.insecure_skip_verify = options_.insecure_skip_verify;
  auto outcome = storage_io::StreamToFile(req, tmp, options_.max_download_bytes, deadline,
                                          options_.max_redirects);
  if (!outcome) return outcome.error().WithPrefix("storageUri \"" + uri + "\"");
  if (outcome->status / 100 != 2) {
    std::string msg =
        "storageUri \"" + uri + "\": the server answered HTTP " + std::to_string(outcome->status);
    if (outcome->final_url != uri) msg += " for " + outcome->final_url;
    if (outcome->status == 404 || outcome->status == 410) {
      return NotFound(msg + "; check the URL");
    }
    if (outcome->status == 401 || outcome->status == 403) {
      return PermissionDenied(msg +
                              "; the URL needs credentials skiff does not send (use a "
                              "public or pre-signed URL, or s3://)");
    }
    if (outcome->status / 100 == 3) {
      return Unavailable(msg + " (too many redirects)");
    }
    return Unavailable(msg);
  }
  SKIFF_RETURN_IF_ERROR(storage_io::RenameDurably(tmp, file));
  std::string meta = "sha256 " + outcome->digest.sha256_hex + "\nsize " +
                     std::to_string(outcome->digest.size) + "\nname " +
                     http::sigv4::UriEncode(name, false) + "\nuri " +
                     http::sigv4::UriEncode(uri, true) + "\n";
  SKIFF_RETURN_IF_ERROR(WriteFileAtomic(meta_path, meta, 0600));
  ++files_downloaded_;
  bytes_downloaded_ += outcome->digest.size;
  spdlog::info("model storage: downloaded {} ({} bytes) to {}", uri, outcome->digest.size, file);
  return file;
}

Result<std::string> ModelStorage::FetchS3(const std::string& uri) {
  SKIFF_ASSIGN_OR_RETURN(http::S3Uri loc, http::ParseS3Uri(uri));
  const SteadyTime deadline = std::chrono::steady_clock::now() + options_.fetch_timeout;
  const std::string key = HexEncode(Sha256("s3\n" + s3_.Endpoint() + "\n" + uri));
  const std::string entry_dir = Join(Join(options_.cache_dir, "s3"), key);

  std::shared_ptr<std::mutex> holder;
  auto lock = LockKey("s3\n" + key, holder);
  SKIFF_RETURN_IF_ERROR(EnsureDirectory(entry_dir, kDirMode));

  auto discovered = Discover(uri, loc, deadline);
  if (!discovered) {
    const Status& e = discovered.error();
    if (e.code() == Code::kUnavailable || e.code() == Code::kDeadlineExceeded) {
      auto cached = NewestVerifiedSnapshot(entry_dir);
      if (cached) {
        ++stale_fallbacks_;
        spdlog::warn("model storage: {}; using the cached copy {}", e.message(), *cached);
        return cached;
      }
    }
    return e;
  }
  Snapshot& snap = *discovered;
  const std::string& prefix = snap.prefix;

  // Local paths, checked before anything is written.
  std::set<std::string> rels;
  uint64_t total = 0;
  for (const auto& o : snap.objects) {
    std::string rel =
        snap.single ? o.key.substr(o.key.rfind('/') + 1) : o.key.substr(prefix.size());
    SKIFF_RETURN_IF_ERROR(CheckRelativePath(rel, o.key, uri));
    rels.insert(rel);
    snap.rel.push_back(std::move(rel));
    total += o.size;
  }
  for (const auto& rel : rels) {
    for (size_t slash = rel.find('/'); slash != std::string::npos;
         slash = rel.find('/', slash + 1)) {
      if (rels.count(rel.substr(0, slash))) {
        return FailedPrecondition("storageUri \"" + uri + "\": \"" + rel.substr(0, slash) +
                                  "\" is both an object and a prefix of other objects; a local "
                                  "directory cannot hold both");
      }
    }
  }
  if (total > options_.max_download_bytes) {
    return ResourceExhausted("storageUri \"" + uri + "\": " + std::to_string(snap.objects.size()) +
                             " objects totalling " + std::to_string(total) +
                             " bytes exceed the model size limit of " +
                             std::to_string(options_.max_download_bytes) +
                             " bytes (raise the storage max_download_bytes setting if the model "
                             "really is that large)");
  }
  std::string listing = snap.single ? "single\n" : "dir\n";
  for (size_t i = 0; i < snap.objects.size(); ++i) {
    const auto& o = snap.objects[i];
    listing += snap.rel[i] + '\0' + std::to_string(o.size) + '\0' + o.etag + '\n';
  }
  snap.version = HexEncode(Sha256(listing)).substr(0, 16);
  return UseSnapshot(uri, entry_dir, snap, deadline);
}

Result<Snapshot> ModelStorage::Discover(const std::string& uri, const http::S3Uri& loc,
                                        SteadyTime deadline) {
  const std::string what = "storageUri \"" + uri + "\"";
  Snapshot snap;
  snap.bucket = loc.bucket;
  const bool directory = loc.key.empty() || loc.key.back() == '/';
  const std::string prefix = directory ? loc.key : loc.key + "/";
  auto listed = s3_.List(loc.bucket, prefix, options_.s3_page_size, options_.max_objects, deadline,
                         options_.io_timeout);
  if (listed) {
    for (auto& o : *listed) {
      if (o.key.back() != '/') snap.objects.push_back(std::move(o));  // skip "folder" markers
    }
    if (!snap.objects.empty()) {
      snap.prefix = prefix;
      return snap;
    }
    if (directory) {
      return NotFound(what + ": no objects under this prefix in bucket " + loc.bucket);
    }
  } else if (directory || listed.error().code() != Code::kPermissionDenied) {
    return listed.error().WithPrefix(what);
  }

  // Not a "directory", or not listable (a bucket policy may grant GetObject without
  // ListBucket): the URI may name one object.
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) return DeadlineExceeded(what + ": timed out");
  auto head =
      http::Fetch(s3_.Prepare("HEAD", loc.bucket, loc.key, {}, http::sigv4::kEmptyPayloadHash,
                              std::min(left, options_.io_timeout)));
  if (!listed && (!head || head->status / 100 != 2)) return listed.error().WithPrefix(what);
  if (!head) return head.error().WithPrefix(what);
  if (head->status == 404) {
    return NotFound(what + ": no object with key \"" + loc.key + "\" and no objects under \"" +
                    prefix + "\" in bucket " + loc.bucket);
  }
  if (head->status / 100 != 2) {
    auto region = head->headers.Get("x-amz-bucket-region");
    return s3_.StatusFor(head->status, "", what, region ? *region : std::string_view());
  }
  http::S3Object obj;
  obj.key = loc.key;
  if (auto len = head->headers.Get("Content-Length")) {
    std::from_chars(len->data(), len->data() + len->size(), obj.size);
  }
  if (auto etag = head->headers.Get("ETag")) obj.etag = std::string(*etag);
  snap.single = true;
  snap.objects.push_back(std::move(obj));
  return snap;
}

Result<std::string> ModelStorage::UseSnapshot(const std::string& uri, const std::string& entry_dir,
                                              const Snapshot& snap, SteadyTime deadline) {
  const std::string data_dir = Join(entry_dir, snap.version);
  const std::string manifest_path = data_dir + ".manifest";
  if (auto m = ReadManifest(manifest_path)) {
    std::set<std::string> want(snap.rel.begin(), snap.rel.end());
    std::set<std::string> have;
    for (const auto& e : m->entries) have.insert(e.rel);
    if (want == have && m->single == snap.single) {
      std::vector<size_t> bad = VerifyFiles(data_dir, *m);
      if (bad.empty()) {
        ++cache_hits_;
        return SnapshotPath(data_dir, *m);
      }
      corrupt_files_ += bad.size();
      spdlog::warn(
          "model storage: {} cached file(s) of {} missing or corrupted; downloading them "
          "again",
          bad.size(), uri);
      SKIFF_RETURN_IF_ERROR(RepairFiles(uri, data_dir, snap, *m, bad, deadline));
      return SnapshotPath(data_dir, *m);
    }
  }
  SKIFF_RETURN_IF_ERROR(DownloadSnapshot(uri, entry_dir, snap, deadline));
  SKIFF_ASSIGN_OR_RETURN(Manifest m, ReadManifest(manifest_path));
  return SnapshotPath(data_dir, m);
}

Result<std::pair<uint64_t, std::string>> ModelStorage::DownloadObject(
    const std::string& uri, const std::string& bucket, const std::string& key,
    const std::string& path, uint64_t budget, SteadyTime deadline) {
  const std::string what = "storageUri \"" + uri + "\": fetching s3://" + bucket + "/" + key;
  http::ClientRequest req =
      s3_.Prepare("GET", bucket, key, {}, http::sigv4::kEmptyPayloadHash, options_.io_timeout);
  // Signed requests are valid for 15 minutes from x-amz-date; each object is signed just before
  // it is fetched. S3 answers redirects only for wrong regions: never follow them.
  auto outcome = storage_io::StreamToFile(req, path, budget, deadline, /*max_redirects=*/0);
  if (!outcome) {
    Status e = outcome.error();
    if (e.reason() == storage_io::kOverLimit) {
      return ResourceExhausted(what + ": the model exceeds the size limit of " +
                               std::to_string(options_.max_download_bytes) +
                               " bytes (raise the storage max_download_bytes setting if the model "
                               "really is that large)");
    }
    return e.WithPrefix(what);
  }
  if (outcome->status / 100 != 2) {
    return s3_.StatusFor(outcome->status, outcome->error_body, what);
  }
  ++files_downloaded_;
  bytes_downloaded_ += outcome->digest.size;
  return std::make_pair(outcome->digest.size, outcome->digest.sha256_hex);
}

Status ModelStorage::DownloadSnapshot(const std::string& uri, const std::string& entry_dir,
                                      const Snapshot& snap, SteadyTime deadline) {
  const std::string staging = Join(entry_dir, storage_io::TempName());
  SKIFF_RETURN_IF_ERROR(EnsureDirectory(staging, kDirMode));
  struct Cleanup {
    const std::string& dir;
    ~Cleanup() { storage_io::RemoveAll(dir); }  // a no-op once renamed
  } cleanup{staging};

  Manifest m;
  m.single = snap.single;
  uint64_t used = 0;
  for (size_t i = 0; i < snap.objects.size(); ++i) {
    SKIFF_RETURN_IF_ERROR(MakeParents(staging, snap.rel[i]));
    SKIFF_ASSIGN_OR_RETURN(
        auto digest,
        DownloadObject(uri, snap.bucket, snap.objects[i].key, Join(staging, snap.rel[i]),
                       options_.max_download_bytes - used, deadline));
    used += digest.first;
    m.entries.push_back({digest.second, digest.first, snap.rel[i]});
  }
  SKIFF_RETURN_IF_ERROR(storage_io::SyncDirectory(staging));
  const std::string data_dir = Join(entry_dir, snap.version);
  const std::string manifest_path = data_dir + ".manifest";
  ::unlink(manifest_path.c_str());
  storage_io::RemoveAll(data_dir);  // an incomplete earlier attempt
  SKIFF_RETURN_IF_ERROR(storage_io::RenameDurably(staging, data_dir));
  SKIFF_RETURN_IF_ERROR(WriteFileAtomic(manifest_path, FormatManifest(m), 0600));
  PruneSnapshots(entry_dir, snap.version);
  spdlog::info("model storage: fetched {} ({} file(s), {} bytes) into {}", uri, m.entries.size(),
               used, data_dir);
  return Status::Ok();
}

Status ModelStorage::RepairFiles(const std::string& uri, const std::string& data_dir,
                                 const Snapshot& snap, Manifest& manifest,
                                 const std::vector<size_t>& bad, SteadyTime deadline) {
  uint64_t used = 0;
  for (size_t i = 0; i < manifest.entries.size(); ++i) {
    if (std::find(bad.begin(), bad.end(), i) == bad.end()) used += manifest.entries[i].size;
  }
  for (size_t i : bad) {
    ManifestEntry& e = manifest.entries[i];
    auto it = std::find(snap.rel.begin(), snap.rel.end(), e.rel);
    SKIFF_CHECK(it != snap.rel.end());
    const http::S3Object& obj = snap.objects[static_cast<size_t>(it - snap.rel.begin())];
    SKIFF_RETURN_IF_ERROR(MakeParents(data_dir, e.rel));
    const std::string target = Join(data_dir, e.rel);
    const std::string tmp = Join(fs::path(target).parent_path().string(), storage_io::TempName());
    uint64_t budget = used >= options_.max_download_bytes ? 0 : options_.max_download_bytes - used;
    auto digest = DownloadObject(uri, snap.bucket, obj.key, tmp, budget, deadline);
    if (!digest) return digest.error();
    storage_io::RemoveAll(target);  // a directory or link in the file's place
    Status renamed = storage_io::RenameDurably(tmp, target);
    if (!renamed.ok()) {
      ::unlink(tmp.c_str());
      return renamed;
    }
    used += digest->first;
    e.size = digest->first;
    e.sha256_hex = digest->second;
  }
  return WriteFileAtomic(data_dir + ".manifest", FormatManifest(manifest), 0600);
}

}  // namespace skiff::serving
