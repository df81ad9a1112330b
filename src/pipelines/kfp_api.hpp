#pragma once
// The Kubeflow Pipelines REST API, v1beta1 and v2beta1, as KFP's swagger documents them, mounted
// at /apis/v1beta1/..., /apis/v2beta1/... and the same under /pipeline (the path KFP's UI and
// SDK use through the Kubeflow gateway). JSON field names, list paging/sorting/filtering and the
// error shape are KFP's (listing.hpp).
//
// Multi-user mode is the only mode: every call needs an authenticated principal and is
// authorized by the RBAC engine (authz::Authorizer) in the namespace of the experiment, run or
// namespaced pipeline (group pipelines.kubeflow.org; resources pipelines, pipelines/versions,
// experiments, runs; KFP's verbs archive, unarchive, terminate, retry, readArtifact). Shared
// pipelines (no namespace; what KFP calls shared) are readable by every authenticated user and
// uploadable by anyone, as in KFP; deleting a shared pipeline or version needs a cluster admin
// or the person who uploaded it.
//
// Task logs (not part of KFP's API; KFP's UI reads them from Kubernetes) are served at
// GET /pipeline/k8s/pod/logs?podname=NODE_ID&runid=RUN_ID (the ml-pipeline-ui route), authorized
// as `get runs` in the run's namespace.
//
// Threading: Handle blocks (catalog writes, files): call it on the blocking pool. Thread-safe.

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "authz/authz.hpp"
#include "http/http.hpp"
#include "pipelines/catalog.hpp"
#include "pipelines/engine.hpp"
#include "pipelines/listing.hpp"

namespace skiff::pipelines {

struct KfpApiOptions {
  // Signs page tokens (listing.hpp); empty: unsigned.
  std::string token_secret;
  // Fetching a pipeline from a URL (create from URL): the largest body and the time-out.
  size_t max_fetch_bytes = kMaxFetchBytes;
  std::chrono::milliseconds fetch_timeout{30'000};
  // Whether such a URL may name a loopback, private or link-local address (http::IsPublicAddress);
  // off, only public addresses are connected to.
  bool fetch_private_addresses = false;
  // Called after a recurring run is created, enabled or disabled (wakes the scheduler).
  std::function<void()> on_recurring_change;
  static constexpr size_t kMaxFetchBytes = 32 << 20;
};

class KfpApi {
 public:
  // All must outlive the API. `authorizer` null only in tests that test no authorization.
  KfpApi(Catalog& catalog, Engine& engine, const authz::Authorizer* authorizer,
         KfpApiOptions options);

  // Whether `path` (normalized) is the API's.
  static bool Matches(std::string_view path);
  http::Response Handle(http::Request& req);

  // For the scheduler (scheduler.hpp): creates the run of a recurring run scheduled at
  // `scheduled_at` (Unix seconds), and counts a recurring run's unfinished runs. Blocking.
  Status FireRecurringRun(const Record& recurring, int64_t scheduled_at);
  int64_t ActiveRunsOf(const std::string& recurring_id) const;

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace skiff::pipelines
