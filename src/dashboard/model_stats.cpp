#include "dashboard/model_stats.hpp"

#include "core/json.hpp"
#include "http/router.hpp"
#include "serving/inference_service.hpp"

namespace skiff::dashboard {

std::optional<std::pair<std::string, std::string>> ParseModelStatsPath(std::string_view path) {
  if (path.substr(0, kModelStatsPrefix.size()) != kModelStatsPrefix) return std::nullopt;
  path.remove_prefix(kModelStatsPrefix.size());
  size_t slash = path.find('/');
  if (slash == std::string_view::npos || slash == 0) return std::nullopt;
  std::string_view ns = path.substr(0, slash);
  path.remove_prefix(slash + 1);
  slash = path.find('/');
  if (slash == std::string_view::npos || slash == 0 || path.substr(slash) != "/stats") {
    return std::nullopt;
  }
  return std::make_pair(std::string(ns), std::string(path.substr(0, slash)));
}

ModelStatsApi::ModelStatsApi(TableSource table, const serving::ServingMetrics* metrics,
                             const authz::Authorizer* authorizer, const Clock& clock)
    : table_(std::move(table)), metrics_(metrics), authorizer_(authorizer), clock_(clock) {}

http::Response ModelStatsApi::Handle(const http::Request& req) const {
  auto which = ParseModelStatsPath(req.path);
  if (!which) {
    return http::ErrorResponse(
        NotFound("not a model stats path: use /api/skiff/models/NAMESPACE/NAME/stats"));
  }
  const auto& [ns, name] = *which;
  std::shared_ptr<const serving::ServingTable> table = table_();
  const serving::ServedModel* model = table ? table->Lookup(ns, name) : nullptr;
  if (authorizer_ != nullptr) {
    if (!req.principal) return http::ErrorResponse(Unauthenticated("authentication required"));
    authz::Attributes what;
    what.verb = "get";
    what.group = model != nullptr && !model->group.empty() ? model->group
                                                           : std::string(serving::kKServeGroup);
    what.resource = "inferenceservices";
    what.ns = ns;
    what.name = name;
    if (!authorizer_->Allows(*req.principal, what)) {
      return http::ErrorResponse(
          PermissionDenied(authorizer_->Decide(*req.principal, what).reason));
    }
  }
  if (model == nullptr) {
    return http::ErrorResponse(
        NotFound("no InferenceService \"" + name + "\" in namespace \"" + ns + "\""));
  }
  serving::ModelStats s = metrics_ != nullptr ? metrics_->Stats(ns, name) : serving::ModelStats{};
  json::object latency{{"count", s.latency_count}, {"sum_seconds", s.latency_sum_seconds}};
  if (s.p50_ms) latency["p50_ms"] = *s.p50_ms;
  if (s.p90_ms) latency["p90_ms"] = *s.p90_ms;
  if (s.p99_ms) latency["p99_ms"] = *s.p99_ms;
  json::array errors;
  for (const auto& e : s.recent_errors) {
    errors.emplace_back(json::object{{"time", FormatRfc3339(e.time)},
                                     {"status", e.status},
                                     {"message", e.message},
                                     {"revision", e.revision}});
  }
  json::object body{{"requests", json::object{{"2xx", s.requests_2xx},
                                              {"4xx", s.requests_4xx},
                                              {"5xx", s.requests_5xx},
                                              {"total", s.requests_total}}},
                    {"latency", std::move(latency)},
                    {"recentErrors", std::move(errors)},
                    {"sampledAt", FormatRfc3339(clock_.Now(), /*micros=*/true)}};
  http::Response r = http::Response::Json(200, Serialize(body));
  r.headers.Set("Cache-Control", "no-store");
  return r;
}

}  // namespace skiff::dashboard
