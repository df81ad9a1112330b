#pragma once
// GET /api/skiff/models/{namespace}/{name}/stats: what the dashboard's model page polls (every
// 2-5 s; it computes rates from the deltas between two answers):
//
//   {"requests": {"2xx": n, "4xx": n, "5xx": n, "total": n},
//    "latency": {"count": n, "sum_seconds": x, "p50_ms": x, "p90_ms": x, "p99_ms": x},
//    "recentErrors": [{"time": RFC3339, "status": 500, "message": "...", "revision": "..."}],
//    "sampledAt": RFC3339 with microseconds}
//
// Counters are totals since skiff started, over every revision of the model (serving's
// skiff_model_requests_total and skiff_model_request_duration_seconds); the percentiles are
// estimated from the histogram's buckets and left out while there are no requests;
// recentErrors are the model's last 20 4xx/5xx answers, newest first (serving::RecentError:
// the client's error message, never a request body or credential).
//
// Authorization: like `get` on that InferenceService in that namespace (403 otherwise, before
// any 404, so that the answer does not tell whether a model exists; the API group asked is the
// model's, serving.kserve.io when there is none); an unknown model is 404. Sans-I/O and
// non-blocking (reads the serving table snapshot and the metrics): runs inline on I/O threads;
// thread-safe.

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "authz/authz.hpp"
#include "core/clock.hpp"
#include "http/http.hpp"
#include "serving/controller.hpp"
#include "serving/executor.hpp"

namespace skiff::dashboard {

inline constexpr std::string_view kModelStatsPrefix = "/api/skiff/models/";

// {namespace, name} of ".../models/NS/NAME/stats", or nullopt for any other path.
std::optional<std::pair<std::string, std::string>> ParseModelStatsPath(std::string_view path);

class ModelStatsApi {
 public:
  using TableSource = std::function<std::shared_ptr<const serving::ServingTable>()>;
  // `metrics` may be null (all zeros); `authorizer` null means no authorization (tests).
  // Everything must outlive this.
  ModelStatsApi(TableSource table, const serving::ServingMetrics* metrics,
                const authz::Authorizer* authorizer, const Clock& clock);

  http::Response Handle(const http::Request& req) const;

 private:
  TableSource table_;
  const serving::ServingMetrics* metrics_;
  const authz::Authorizer* authorizer_;
  const Clock& clock_;
};

}  // namespace skiff::dashboard
