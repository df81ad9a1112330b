#pragma once
// skiff_api: the Kubernetes-convention resource API. Owns discovery (/api, /apis, /version,
// /openapi/v3), CRUD with optimistic concurrency, merge/strategic/JSON patches, watch streams,
// server-side tables for kubectl, metav1.Status errors, and the kind registry that later
// modules extend. Depends on skiff_core, skiff_store and the sans-I/O types of skiff_http.
//
// Threading: ResourceApi::Handle blocks on the store and must run on the blocking pool (the
// router's Execution::kBlocking). Watch responses stream from store threads. Thread-safe.

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "api/kind.hpp"
#include "api/request_info.hpp"
#include "core/clock.hpp"
#include "core/principal.hpp"
#include "http/http.hpp"
#include "store/store.hpp"

namespace skiff::api {

struct ApiOptions {
  std::string server_version = "v1.32.0-skiff";  // gitVersion in /version
  std::string git_commit;
  // Longest watch before the server ends it (clients reconnect); kubectl's
  // ?timeoutSeconds= shortens it.
  std::chrono::seconds max_watch{1800};
  int max_patch_retries = 5;

  // Authorization of every resource request (not discovery: /api, /apis, /version and /openapi
  // are readable by every authenticated user), asked after the path is parsed and before
  // anything is read or written. A denial is answered 403 Forbidden in the API server's words
  // (`inferenceservices.serving.kserve.io "m" is forbidden: User "alice" cannot delete resource
  // "inferenceservices" in API group "serving.kserve.io" in the namespace "team-b": REASON`).
  // When set, a request without a principal is refused (401). Empty: everything is allowed
  // (tests, in-process callers). Called on the blocking pool; must not block for long.
  struct Verdict {
    bool allowed = false;
    std::string reason;  // appended to the 403 message after ": " when not empty
  };
  std::function<Verdict(const Principal& who, const RequestInfo& info)> authorize;
  // Every object write the API committed, in commit order per request, before the response is
  // sent: the object as stored (for a delete, its last state at the deletion's version; the
  // contents of a deleted namespace included). Lets caches (the Authorizer's RoleBinding index)
  // be current for the client's next request. Runs on the request's thread; keep it short.
  std::function<void(const store::Object& obj, bool deleted)> on_write;
};

class ResourceApi {
 public:
  // `kinds` and `store` must outlive this object.
  ResourceApi(const KindRegistry& kinds, store::Store& store, Clock& clock, ApiOptions options);
  ~ResourceApi();
  ResourceApi(const ResourceApi&) = delete;
  ResourceApi& operator=(const ResourceApi&) = delete;

  // Serves every path under /api, /apis, /version and /openapi. Blocking.
  http::Response Handle(http::Request& req);

  // Ends all open watch streams (shutdown).
  void CloseWatches();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A metav1.Status response for an error raised outside the resource API (authentication,
// body limits), so that kubectl prints it as it prints the API server's own errors.
http::Response StatusToResponse(const Status& status);

}  // namespace skiff::api
