#pragma once
// Where pipeline artifacts live (issue 7, "Artifacts in the data dir by default, or in S3").
// The engine stores a task's output artifacts after it ends (Put), copies input artifacts into
// a task before it starts (CopyTo), checks that cached artifacts still exist (Exists), and the
// API reads an artifact through Open.
//
// Two stores:
//   - local (default): file:///DATA/pipelines/artifacts/NS/RUN/..., the artifact is the file or
//     directory at that path; Put moves (renames) the task's output there;
//   - S3 (`pipelines.artifacts.uri = s3://bucket/prefix`): s3://bucket/prefix/NS/RUN/..., as
//     KFP/Argo store artifacts in MinIO: a file is one object at the key, a directory is the
//     objects under KEY/ (its relative paths as key suffixes). Uses the shared S3 client
//     (http/s3_client.hpp) with skiff's storage.s3.* connection settings.
//
// URIs of the form the store owns are the only ones it accepts (a URI outside its root, with
// ".." segments, or of another scheme is refused), so a pipeline file cannot make skiff read or
// write elsewhere.
//
// Threading: thread-safe (no mutable state besides the file system / the bucket). Every call
// blocks on disk or network I/O: call from the engine's thread or the blocking pool.

#include <memory>
#include <string>
#include <string_view>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "http/s3_client.hpp"

namespace skiff::pipelines {

// A host path holding an artifact's content for reading. `temporary`: a private download the
// caller removes (RemoveLocalArtifact) when done.
struct LocalArtifact {
  std::string path;
  bool temporary = false;
};
void RemoveLocalArtifact(const LocalArtifact& a);

class ArtifactStore {
 public:
  virtual ~ArtifactStore() = default;
  // "file://" + DATA/pipelines/artifacts, or "s3://bucket/prefix" (no trailing '/').
  virtual std::string Root() const = 0;
  // Root()/NS/RUN: a run's artifacts (KFP's pipeline_root for that run).
  std::string RunRoot(const std::string& ns, const std::string& run_id) const {
    return Root() + "/" + ns + "/" + run_id;
  }
  // Whether `uri` names a place inside this store.
  virtual bool Owns(std::string_view uri) const = 0;
  // Stores the file or directory at `host_path` as `uri` (replacing what was there). The local
  // store moves it; S3 uploads it (the host copy stays). InvalidArgument when !Owns(uri).
  virtual Status Put(const std::string& host_path, const std::string& uri) = 0;
  // Copies the artifact to `dest` (a file or directory; its parent is created). NotFound when
  // it is not stored.
  virtual Status CopyTo(const std::string& uri, const std::string& dest) = 0;
  // Whether the artifact is stored.
  virtual Result<bool> Exists(const std::string& uri) = 0;
  // A host path with the artifact's content (see LocalArtifact). NotFound when not stored.
  virtual Result<LocalArtifact> Open(const std::string& uri) = 0;
  // The host path of a local artifact URI; empty for S3 and URIs outside the store.
  virtual std::string HostPath(std::string_view /*uri*/) const { return {}; }
};

// The data-dir store: artifacts under `dir` (DATA/pipelines/artifacts; created on first Put).
std::unique_ptr<ArtifactStore> MakeLocalArtifactStore(std::string dir);

struct S3ArtifactStoreOptions {
  std::string uri;  // "s3://bucket" or "s3://bucket/prefix"
  http::S3Options s3;
  // Downloads for Open go under it (DATA/pipelines/s3-downloads; emptied and created: the
  // store's own).
  std::string scratch_dir;
  uint64_t max_artifact_bytes = uint64_t{4} << 30;  // per artifact (all its objects)
  size_t max_objects = 100'000;                     // per directory artifact
  std::chrono::milliseconds io_timeout{30'000};
};
// Errors: InvalidArgument (not an s3:// URI, bad bucket, bad S3 settings).
Result<std::unique_ptr<ArtifactStore>> MakeS3ArtifactStore(S3ArtifactStoreOptions options,
                                                           const Clock& clock);

// The store for `pipelines.artifacts.uri`: local under DATA/pipelines/artifacts when `uri` is
// empty, S3 for s3://. InvalidArgument for any other scheme.
Result<std::unique_ptr<ArtifactStore>> MakeArtifactStore(const std::string& uri,
                                                         const std::string& pipelines_dir,
                                                         const http::S3Options& s3,
                                                         const Clock& clock);

}  // namespace skiff::pipelines
