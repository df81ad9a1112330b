#pragma once
// RouteTable: skiff's one routing table. An immutable snapshot compiled from
//   (a) built-in routes that come BEFORE user routes (skiff's reserved platform paths: /healthz,
//       /readyz, /metrics, the identity provider, /api, /apis, /version, /openapi, /skiff,
//       /login, /logout, /authservice) -- users cannot shadow them;
//   (b) the VirtualServices;
//   (c) built-in routes that come AFTER them (model serving by Host or path, then the
//       dashboard's catch-all "/"), so a model call never lands on the UI by accident.
// Route() is sans-I/O: it decides and explains, it does not send anything.
//
// Precedence across VirtualServices (deterministic, documented for `skiff routes explain`):
//   1. only VirtualServices with a host entry matching the request's host (Host header without
//      port, case-insensitive) take part;
//   2. they are ordered by their most specific matching host entry: an exact host first, then
//      "*.suffix" entries, longer suffix first, then "*";
//   3. ties: metadata.creationTimestamp, oldest first (Istio's merge order), then
//      namespace/name;
//   4. within a VirtualService, http[] in order; within an http route, match[] in order (OR);
//      the first match wins.
// Difference from Envoy: Envoy consults only the single most specific virtual host; skiff falls
// through to less specific hosts and then to the built-in routes after. Whenever Istio would
// route a request, skiff routes it the same way.
//
// Istio semantics implemented (see virtual_service.hpp for the fields): string prefix (not
// segment) uri prefix matching; rewrite.uri replaces the matched prefix (whole path for exact
// and regex uri matches, the prefix "/" when the route has no uri match: Envoy's prefix_rewrite);
// rewrite.authority wins over a Host set by header operations; header operations apply
// destination-level first then route-level, and within one level remove, then set, then add
// (Envoy's order); weights choose one destination through the injected Random.
//
// Destinations (route[].destination.host, after the weighted choice):
//   - a host named in RouteTableOptions::upstreams -> kUpstream to the mapped URL;
//   - a host in RouteTableOptions::reenter_hosts (Istio's gateways: cluster-local-gateway, ...)
//     -> kReenter: skiff itself; route again with the rewritten path and authority (a Host set
//     by header operations, as in Kubeflow's KFServing VirtualServices);
//   - NAME.NS.svc.cluster.local, NAME.NS.svc or a short NAME (expanded in the VirtualService's
//     namespace) -> kReenter with the authority set to that name, which the serving route
//     resolves to the local model (NAME-predictor-default.NS.svc.cluster.local);
//   - anything else -> kUpstream "host:port" (destination.port.number, default 80).
// spec.gateways and match[].gateways are recorded, never matched: skiff is both the ingress
// gateway and the mesh (re-entered requests are the mesh's in-cluster calls), so a VirtualService
// applies whichever gateways it names. sourceLabels never match (no workloads at the gateway).
// Fault injection runs first (abort wins over everything, delay is reported), then CORS
// (preflights from allowed origins are answered directly), then directResponse / redirect /
// route.
//
// Thread-safety: a built RouteTable is immutable and may be used from any number of threads
// at once (share it as std::shared_ptr<const RouteTable>). Random is per caller.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.hpp"
#include "core/result.hpp"
#include "gateway/virtual_service.hpp"
#include "http/http.hpp"

namespace skiff::http {
struct UpstreamEndpoint;
}  // namespace skiff::http

namespace skiff::gateway {

// The randomness the table draws from (weighted split, fault and mirror percentages). Not
// shared between threads: each caller passes its own (ThreadLocalRandom() in the server).
class Random {
 public:
  virtual ~Random() = default;
  // A uniform integer in [0, n). REQUIRES: n > 0.
  virtual uint64_t Below(uint64_t n) = 0;
};
// Deterministic, for tests. Not thread-safe.
class SeededRandom : public Random {
 public:
  explicit SeededRandom(uint64_t seed);
  uint64_t Below(uint64_t n) override;

 private:
  uint64_t state_;
};
// One generator per thread, seeded from std::random_device.
Random& ThreadLocalRandom();

// The request as the table sees it.
struct RouteRequest {
  std::string method = "GET";
  std::string path = "/";  // normalized (http::NormalizePath), without the query
  std::string query;       // raw query string, without '?'
  std::string authority;   // the Host header as sent ("a.example.com:8443"); "" if none
  std::string scheme = "http";
  uint32_t port = 0;  // the listener's port (HTTPMatchRequest.port), 0 if unknown
  http::HeaderMap headers;
  // Host part of `authority`, lower-cased, without port (what hosts are matched against).
  std::string Host() const;
};

// A route of skiff's own.
struct BuiltinRoute {
  enum class PathKind { kAny, kExact, kPrefix };
  std::string name;  // "api", "identity", "serving", "dashboard"
  std::string description;
  PathKind path_kind = PathKind::kAny;
  // kExact: equal. kPrefix: segment-aware ("/api" matches "/api" and "/api/x", not
  // "/apiary"); a prefix ending in "/" (like "/") matches everything under it.
  std::string path;
  std::vector<std::string> methods;  // empty: any method
  std::string service;               // in-process service id: "api", "identity", "serving", ...
  // Optional extra condition, evaluated after path and method (serving matches by Host).
  std::function<bool(const RouteRequest&)> predicate;
  std::string predicate_description;  // shown in list/explain: "Host NAME.NS.svc.cluster.local"
};

// skiff's reserved platform routes (the "before" list), each naming its service id:
// healthz/readyz/metrics -> "health"/"metrics", identity_prefix (e.g. "/dex") -> "identity",
// /api /apis /version /openapi -> "api", /skiff -> "skiff", /login /logout /authservice ->
// "auth".
std::vector<BuiltinRoute> PlatformRoutes(std::string_view identity_prefix);

struct RouteTableOptions {
  // Destination hosts that mean "skiff itself": the request re-enters routing after rewrites
  // and header operations. Lower-case.
  std::set<std::string> reenter_hosts = {
      "cluster-local-gateway.istio-system.svc.cluster.local",
      "istio-ingressgateway.istio-system.svc.cluster.local",
      "knative-local-gateway.istio-system.svc.cluster.local",
      "cluster-local-gateway.istio-system",
      "istio-ingressgateway.istio-system",
      "knative-local-gateway.istio-system",
      "cluster-local-gateway",
      "istio-ingressgateway",
      "knative-local-gateway",
  };
  // Destination host -> upstream URL ("http://10.0.0.5:8080", "https://api.internal"): the
  // skiff.dev/upstream mapping from the configuration. Wins over the in-cluster rule.
  std::map<std::string, std::string> upstreams;
  std::string cluster_domain = "cluster.local";
  // The namespace a request addresses, when it names one: a model's Host or serving path
  // (/kfserving/NS/..., /serving/NS/...). Such a request, and one whose Host is
  // NAME.NS.svc.<cluster_domain>, is routed only by the VirtualServices of that namespace, so a
  // VirtualService in one namespace can neither capture nor break another namespace's model
  // URLs (whatever its hosts and matches say). Optional: without it only the Host rule applies.
  std::function<std::string(const RouteRequest&)> addressed_namespace;
};

// One header operation in the order to apply it.
struct HeaderOp {
  enum class Kind { kRemove, kSet, kAdd };
  Kind kind = Kind::kSet;
  std::string name;  // lower-case
  std::string value;
};
// Applies ops in order to `headers`.
void ApplyHeaderOps(const std::vector<HeaderOp>& ops, http::HeaderMap& headers);

struct Decision {
  enum class Kind {
    kService,         // in-process service `service`
    kReenter,         // route again with path/authority/request_headers applied
    kUpstream,        // proxy to `upstream`
    kRedirect,        // answer `status` with Location `location`
    kDirectResponse,  // answer `status` with `body` (also CORS preflights)
    kAbort,           // fault injection: answer `status`
    kNoRoute,         // 404: nothing matched; see `candidates`
  };
  Kind kind = Kind::kNoRoute;
  std::string route_name;  // "api", "team-a/kfserving-iap[0]", or the http route's name
  // "built-in" or "VirtualService team-a/kfserving-iap": text of the table that made the
  // decision, valid while that table lives (RoutePlan keeps it).
  std::string_view source;
  // The VirtualService whose route matched (empty for built-in routes): who may take it is
  // decided on it (dispatcher.hpp, Authorization). Views of the table's, like `source`.
  std::string_view vs_namespace;
  std::string_view vs_name;
  std::string service;  // kService

  // The request after rewrites (always filled when a route matched).
  std::string path;
  std::string query;
  std::string authority;  // after rewrite.authority and Host header operations
  // Header operations on the forwarded request and on the response, in application order.
  // Operations on Host/:authority are not listed: they are reflected in `authority`.
  std::vector<HeaderOp> request_headers;
  std::vector<HeaderOp> response_headers;

  // kUpstream and kReenter: the chosen destination.
  std::optional<Destination> destination;
  std::string upstream;  // kUpstream: "host:port" or the mapped URL
  // kUpstream: `upstream` parsed (ParseUpstream, proxy.hpp), made once when the table was
  // built: an error when it does not parse. Null in decisions made by other means. The table's,
  // like `source`: valid while that table lives (a pointer, so that routing a request touches
  // no reference count shared by every thread's requests).
  const Result<http::UpstreamEndpoint>* endpoint = nullptr;
  uint32_t port = 0;  // destination port (80 when not given)
  std::optional<std::chrono::milliseconds> timeout;
  std::optional<Retries> retries;
  std::optional<std::chrono::milliseconds> delay;  // fault.delay drawn for this request
  std::optional<Destination> mirror;               // mirror drawn for this request
  // Where the mirror copy goes: the upstreams mapping's URL, else "host:port" (port 80 unless
  // given). Mirrors are always upstreams: an in-cluster name is not re-entered.
  std::string mirror_upstream;

  int status = 0;        // kRedirect, kDirectResponse, kAbort
  std::string location;  // kRedirect
  std::string body;      // kDirectResponse
  bool cors_preflight = false;

  // kNoRoute: up to three routes closest to the request (host matched, longest common path
  // prefix), for the 404 body.
  std::vector<std::string> candidates;

  static std::string_view KindName(Kind k);  // "service", "reenter", "upstream", ...
  json::object ToJson() const;
  std::string ToText() const;  // several lines, for `skiff routes explain`
};

// What Route() tried, for `skiff routes explain`.
struct Trace {
  struct Step {
    std::string route;   // route name
    std::string source;  // "built-in" / "VirtualService ns/name"
    bool matched = false;
    std::string reason;  // why it did or did not match
  };
  std::string host;                  // the host matched against
  std::vector<Step> steps;           // in the order tried
  std::vector<std::string> actions;  // rewrites, header changes, destination, in order

  json::object ToJson() const;
  std::string ToText() const;
};

// One row of `skiff routes list`.
struct RouteRow {
  int order = 0;            // 1-based
  std::string name;         // route name
  std::string source;       // "built-in" / "VirtualService ns/name"
  std::string hosts;        // "*" / "a.example.com, *.b.com"
  std::string match;        // "uri prefix /kfserving/team-a/sklearn-iap" / "any"
  std::string destination;  // "service api" / "reenter cluster-local-gateway... (rewrite ...)"
};
json::array RowsToJson(const std::vector<RouteRow>& rows);
std::string RowsToText(const std::vector<RouteRow>& rows);  // aligned columns with a header

class RouteTable {
 public:
  // Compiles a table. Refuses duplicate built-in route names. VirtualServices must come from
  // ParseVirtualService (already valid).
  static Result<std::shared_ptr<const RouteTable>> Build(std::vector<BuiltinRoute> before,
                                                         std::vector<VirtualService> services,
                                                         std::vector<BuiltinRoute> after,
                                                         RouteTableOptions options = {});

  // Decides where `request` goes. When `trace` is given, records every route tried and the
  // actions taken. Never fails: no match is Decision::Kind::kNoRoute. Callers that follow
  // kReenter decisions must bound the depth (kMaxReenter).
  Decision Route(const RouteRequest& request, Random& random, Trace* trace = nullptr) const;
  // The same, written into `out` (no Decision moved per request). REQUIRES: `out` is a
  // default-constructed Decision.
  void Route(const RouteRequest& request, Random& random, Trace* trace, Decision& out) const;

  // The table in its static order: built-in before, VirtualServices (ordered by their most
  // specific host entry, then age, then name: the order a request whose host matches all of
  // them would see), built-in after.
  std::vector<RouteRow> List() const;

  static constexpr int kMaxReenter = 4;

  struct Impl;
  explicit RouteTable(std::unique_ptr<Impl> impl);
  ~RouteTable();

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace skiff::gateway
