#include "pipelines/artifact_store.hpp"

#include <filesystem>

#include "core/crypto.hpp"
#include "core/fs.hpp"

namespace skiff::pipelines {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kFile = "file://";
constexpr std::string_view kS3 = "s3://";

Status CopyTree(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::create_directories(to.parent_path(), ec);
  fs::remove_all(to, ec);
  if (fs::is_directory(from, ec)) {
    fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::overwrite_existing, ec);
  } else {
    fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  }
  if (ec) return Internal("copying " + from.string() + " to " + to.string() + ": " + ec.message());
  return Status();
}

// A relative key or path without empty, "." or ".." segments.
bool CleanRelative(std::string_view rel) {
  if (rel.empty()) return false;
  size_t start = 0;
  while (start <= rel.size()) {
    size_t slash = rel.find('/', start);
    std::string_view seg =
        rel.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (seg.empty() || seg == "." || seg == "..") return false;
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return true;
}

class LocalStore final : public ArtifactStore {
 public:
  explicit LocalStore(std::string dir) : dir_(fs::path(std::move(dir)).lexically_normal()) {
    while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
  }
  std::string Root() const override { return std::string(kFile) + dir_; }
  bool Owns(std::string_view uri) const override { return !HostPath(uri).empty(); }
  std::string HostPath(std::string_view uri) const override {
    if (uri.rfind(kFile, 0) != 0) return {};
    std::string_view path = uri.substr(kFile.size());
    if (path.rfind(dir_ + "/", 0) != 0) return {};
    if (!CleanRelative(path.substr(dir_.size() + 1))) return {};
    return std::string(path);
  }
  Status Put(const std::string& host_path, const std::string& uri) override {
    std::string dest = HostPath(uri);
    if (dest.empty()) return InvalidArgument(uri + " is outside the artifact store " + Root());
    std::error_code ec;
    fs::create_directories(fs::path(dest).parent_path(), ec);
    fs::remove_all(dest, ec);
    fs::rename(host_path, dest, ec);
    if (!ec) return Status();
    return CopyTree(host_path, dest);  // across devices
  }
  Status CopyTo(const std::string& uri, const std::string& dest) override {
    std::string from = HostPath(uri);
    if (from.empty()) return InvalidArgument("cannot read " + uri);
    std::error_code ec;
    if (!fs::exists(from, ec)) return NotFound(uri + " is no longer stored");
    return CopyTree(from, dest);
  }
  Result<bool> Exists(const std::string& uri) override {
    std::string p = HostPath(uri);
    if (p.empty()) return InvalidArgument("cannot read " + uri);
    std::error_code ec;
    return fs::exists(p, ec);
  }
  Result<LocalArtifact> Open(const std::string& uri) override {
    std::string p = HostPath(uri);
    std::error_code ec;
    if (p.empty() || !fs::exists(p, ec)) return NotFound(uri + " is not stored");
    return LocalArtifact{p, false};
  }

 private:
  std::string dir_;
};

class S3Store final : public ArtifactStore {
 public:
  S3Store(S3ArtifactStoreOptions o, http::S3Uri loc, const Clock& clock)
      : o_(std::move(o)), bucket_(std::move(loc.bucket)), client_(o_.s3, clock) {
    prefix_ = loc.key;
    while (!prefix_.empty() && prefix_.back() == '/') prefix_.pop_back();
  }

  std::string Root() const override {
    return std::string(kS3) + bucket_ + (prefix_.empty() ? "" : "/" + prefix_);
  }
  bool Owns(std::string_view uri) const override { return Key(uri).has_value(); }

  Status Put(const std::string& host_path, const std::string& uri) override {
    auto key = Key(uri);
    if (!key) return InvalidArgument(uri + " is outside the artifact store " + Root());
    std::error_code ec;
    if (fs::is_directory(host_path, ec)) {
      // Replace: objects left from an earlier attempt would mix with the new ones.
      SKIFF_RETURN_IF_ERROR(DeleteUnder(*key + "/"));
      for (auto it = fs::recursive_directory_iterator(host_path, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (!it->is_regular_file(ec)) continue;
        std::string rel = fs::relative(it->path(), host_path, ec).generic_string();
        if (ec) break;
        SKIFF_RETURN_IF_ERROR(PutFile(it->path().string(), *key + "/" + rel));
      }
      if (ec) return Internal("reading " + host_path + ": " + ec.message());
      return Status();
    }
    // A directory stored there by an earlier attempt would shadow the file (CopyTo).
    SKIFF_RETURN_IF_ERROR(DeleteUnder(*key + "/"));
    return PutFile(host_path, *key);
  }

  Status CopyTo(const std::string& uri, const std::string& dest) override {
    auto key = Key(uri);
    if (!key) return InvalidArgument("cannot read " + uri);
    std::error_code ec;
    fs::remove_all(dest, ec);
    fs::create_directories(fs::path(dest).parent_path(), ec);
    SKIFF_ASSIGN_OR_RETURN(std::vector<http::S3Object> under, ListUnder(*key + "/"));
    if (under.empty()) {
      return client_.GetObjectToFile(bucket_, *key, dest, o_.max_artifact_bytes, o_.io_timeout);
    }
    uint64_t total = 0;
    for (const http::S3Object& obj : under) {
      std::string rel = obj.key.substr(key->size() + 1);
      if (!CleanRelative(rel)) continue;  // not a path skiff would write
      total += obj.size;
      if (total > o_.max_artifact_bytes) {
        return ResourceExhausted(uri + ": the artifact exceeds " +
                                 std::to_string(o_.max_artifact_bytes) + " bytes");
      }
      fs::path target = fs::path(dest) / rel;
      fs::create_directories(target.parent_path(), ec);
      SKIFF_RETURN_IF_ERROR(client_.GetObjectToFile(bucket_, obj.key, target.string(),
                                                    o_.max_artifact_bytes, o_.io_timeout));
    }
    return Status();
  }

  Result<bool> Exists(const std::string& uri) override {
    auto key = Key(uri);
    if (!key) return InvalidArgument("cannot read " + uri);
    // One listing answers both: the object itself or objects under KEY/.
    SKIFF_ASSIGN_OR_RETURN(std::vector<http::S3Object> objects, ListUnder(*key));
    for (const http::S3Object& obj : objects) {
      if (obj.key == *key || obj.key.rfind(*key + "/", 0) == 0) return true;
    }
    return false;
  }

  Result<LocalArtifact> Open(const std::string& uri) override {
    auto key = Key(uri);
    if (!key) return NotFound(uri + " is not stored");
    std::string dir = o_.scratch_dir + "/" + RandomToken(12);
    SKIFF_RETURN_IF_ERROR(EnsureDirectory(dir, 0700));
    std::string name = key->substr(key->rfind('/') + 1);
    LocalArtifact a{dir + "/" + name, true};
    Status s = CopyTo(uri, a.path);
    if (!s.ok()) {
      std::error_code ec;
      fs::remove_all(dir, ec);
      return s;
    }
    return a;
  }

 private:
  // The object key of a URI inside the store.
  std::optional<std::string> Key(std::string_view uri) const {
    std::string root = Root() + "/";
    if (uri.rfind(root, 0) != 0) return std::nullopt;
    std::string_view rel = uri.substr(root.size());
    if (!CleanRelative(rel)) return std::nullopt;
    return (prefix_.empty() ? "" : prefix_ + "/") + std::string(rel);
  }

  Result<std::vector<http::S3Object>> ListUnder(const std::string& prefix) const {
    return client_.List(bucket_, prefix, 1000, o_.max_objects,
                        std::chrono::steady_clock::now() + 4 * o_.io_timeout, o_.io_timeout);
  }

  Status PutFile(const std::string& path, const std::string& key) const {
    SKIFF_ASSIGN_OR_RETURN(std::string body, ReadFile(path, o_.max_artifact_bytes));
    return client_.PutObject(bucket_, key, body, o_.io_timeout);
  }

  Status DeleteUnder(const std::string& prefix) const {
    SKIFF_ASSIGN_OR_RETURN(std::vector<http::S3Object> objects, ListUnder(prefix));
    for (const http::S3Object& obj : objects) {
      http::ClientRequest req = client_.Prepare("DELETE", bucket_, obj.key, {},
                                                http::sigv4::kEmptyPayloadHash, o_.io_timeout);
      auto resp = http::Fetch(req);
      std::string what = "deleting s3://" + bucket_ + "/" + obj.key;
      if (!resp) return resp.error().WithPrefix(what);
      if (resp->status / 100 != 2) return client_.StatusFor(resp->status, resp->body, what);
    }
    return Status();
  }

  S3ArtifactStoreOptions o_;
  std::string bucket_;
  std::string prefix_;  // without a trailing '/'; may be empty
  http::S3Client client_;
};

}  // namespace

void RemoveLocalArtifact(const LocalArtifact& a) {
  if (!a.temporary) return;
  std::error_code ec;
  fs::remove_all(fs::path(a.path).parent_path(), ec);
}

std::unique_ptr<ArtifactStore> MakeLocalArtifactStore(std::string dir) {
  return std::make_unique<LocalStore>(std::move(dir));
}

Result<std::unique_ptr<ArtifactStore>> MakeS3ArtifactStore(S3ArtifactStoreOptions options,
                                                           const Clock& clock) {
  SKIFF_ASSIGN_OR_RETURN(http::S3Uri loc, http::ParseS3Uri(options.uri));
  if (!loc.key.empty() &&
      !CleanRelative(std::string_view(loc.key).substr(0, loc.key.find_last_not_of('/') + 1))) {
    return InvalidArgument("pipelines.artifacts.uri \"" + options.uri +
                           "\": the prefix has empty, \".\" or \"..\" segments");
  }
  SKIFF_RETURN_IF_ERROR(http::S3Client::Validate(options.s3));
  if (options.scratch_dir.empty()) return InvalidArgument("S3 artifact store: no scratch_dir");
  // Downloads left by a crash mid-read.
  std::error_code ec;
  fs::remove_all(options.scratch_dir, ec);
  SKIFF_RETURN_IF_ERROR(EnsureDirectory(options.scratch_dir, 0700));
  return std::unique_ptr<ArtifactStore>(
      std::make_unique<S3Store>(std::move(options), std::move(loc), clock));
}

Result<std::unique_ptr<ArtifactStore>> MakeArtifactStore(const std::string& uri,
                                                         const std::string& pipelines_dir,
                                                         const http::S3Options& s3,
                                                         const Clock& clock) {
  if (uri.empty()) return MakeLocalArtifactStore(pipelines_dir + "/artifacts");
  if (uri.rfind(kS3, 0) == 0) {
    S3ArtifactStoreOptions o;
    o.uri = uri;
    o.s3 = s3;
    o.scratch_dir = pipelines_dir + "/s3-downloads";
    return MakeS3ArtifactStore(std::move(o), clock);
  }
  return InvalidArgument("pipelines.artifacts.uri \"" + uri +
                         "\": only s3://bucket/prefix is supported (empty: the data dir)");
}

}  // namespace skiff::pipelines
