#pragma once
// skiff_gateway: the routing gateway. This part (virtual_service, match, route_table) is the
// sans-I/O routing core: it parses and validates Istio VirtualService resources and compiles
// them, with skiff's built-in routes, into an immutable RouteTable that answers "where does this
// request go, and why". The proxy and access log live beside it (proxy*, access_log*). Depends
// on skiff_core, skiff_http (HeaderMap) and skiff_api (FieldError) only.
//
// VirtualService: networking.istio.io v1beta1 / v1alpha3 / v1 (one schema). Only HTTP routing
// is supported; spec.tcp and spec.tls are refused with a field error, as are unknown fields
// (Kubernetes strict field validation: `unknown field "spec.http[0].foo"`). Field paths in
// errors follow Kubernetes: "spec.http[0].match[1].uri.regex".
//
// Threading: the parsed structures are plain values; once built they are only read (a
// RouteTable shares them between I/O threads).

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "api/kind.hpp"
#include "core/json.hpp"
#include "core/result.hpp"
#include "gateway/match.hpp"

namespace skiff::gateway {

// Istio's Headers.HeaderOperations. Names are lower-cased at parse time.
struct HeaderOperations {
  std::vector<std::pair<std::string, std::string>> set;  // overwrite
  std::vector<std::pair<std::string, std::string>> add;  // append
  std::vector<std::string> remove;
  bool empty() const { return set.empty() && add.empty() && remove.empty(); }
};
struct Headers {
  HeaderOperations request;
  HeaderOperations response;
};

// One named condition on a header or query parameter.
struct NamedMatch {
  std::string name;  // header names lower-cased; query parameter names as written
  StringMatch match;
};

// HTTPMatchRequest: every condition present must hold (AND); the match[] list is OR.
struct HttpMatch {
  std::string name;
  std::optional<StringMatch> uri;        // against the normalized path (no query)
  std::optional<StringMatch> scheme;     // "http" / "https"
  std::optional<StringMatch> method;     // "GET"
  std::optional<StringMatch> authority;  // against the Host header as sent (port included)
  std::vector<NamedMatch> headers;
  std::vector<NamedMatch> without_headers;  // each must NOT match
  std::vector<NamedMatch> query_params;     // exact/regex only
  bool ignore_uri_case = false;
  std::optional<uint32_t> port;                      // listener port
  std::map<std::string, std::string> source_labels;  // accepted, never matches a label
  std::vector<std::string> gateways;                 // accepted, recorded
};

struct Destination {
  std::string host;    // as written (short names are not expanded here)
  std::string subset;  // accepted, recorded
  std::optional<uint32_t> port;
};

// HTTPRouteDestination.
struct RouteDestination {
  Destination destination;
  int weight = 0;  // 0..100; a single destination without weight gets 100
  Headers headers;
};

struct Redirect {
  enum class DerivePort { kNone, kFromProtocolDefault, kFromRequestPort };
  std::string uri;        // replaces the whole path ("" keeps it)
  std::string authority;  // "" keeps it
  std::optional<uint32_t> port;
  DerivePort derive_port = DerivePort::kNone;
  std::string scheme;  // "" keeps it
  int redirect_code = 301;
};

struct DirectResponse {
  int status = 200;
  std::string body;  // body.string, or body.bytes base64-decoded
};

struct RegexRewrite {
  StringMatch match;    // kRegex
  std::string rewrite;  // RE2 substitution (\1 ...)
};
struct Rewrite {
  std::string uri;  // Envoy prefix_rewrite: replaces the matched prefix (or whole exact path)
  std::string authority;
  std::optional<RegexRewrite> uri_regex;
};

struct Retries {
  int attempts = 0;
  std::optional<std::chrono::milliseconds> per_try_timeout;
  std::string retry_on;  // Envoy retry policy list: "5xx,connect-failure,..."
};

// Percentages as Istio documents them: an absent fault percentage injects no fault; an absent
// mirrorPercentage mirrors all traffic.
struct FaultDelay {
  std::chrono::milliseconds fixed_delay{0};
  double percentage = 0;  // 0..100
};
struct FaultAbort {
  int http_status = 0;
  double percentage = 0;  // 0..100
};
struct Fault {
  std::optional<FaultDelay> delay;
  std::optional<FaultAbort> abort;
};

// CorsPolicy, applied by the table (preflight answered directly; response headers added to
// actual requests from an allowed origin).
struct CorsPolicy {
  std::vector<StringMatch> allow_origins;
  std::vector<std::string> allow_methods;
  std::vector<std::string> allow_headers;
  std::vector<std::string> expose_headers;
  std::optional<std::chrono::seconds> max_age;
  std::optional<bool> allow_credentials;
};

// HTTPRoute: one element of spec.http[].
struct HttpRoute {
  std::string name;
  std::vector<HttpMatch> match;  // empty: matches every request
  std::vector<RouteDestination> route;
  std::optional<Redirect> redirect;
  std::optional<DirectResponse> direct_response;
  std::optional<Rewrite> rewrite;
  std::optional<std::chrono::milliseconds> timeout;
  std::optional<Retries> retries;
  std::optional<Fault> fault;
  std::optional<Destination> mirror;
  double mirror_percentage = 100;  // used only with `mirror`
  Headers headers;
  std::optional<CorsPolicy> cors_policy;
};

struct VirtualService {
  std::string namespace_name;      // metadata.namespace ("default" when absent)
  std::string name;                // metadata.name
  std::string creation_timestamp;  // metadata.creationTimestamp (RFC 3339) or ""
  // spec.hosts, lower-cased, with short names expanded: "sklearn" in namespace team-a becomes
  // "sklearn.team-a.svc.cluster.local" (Istio's rule for names without a dot).
  std::vector<std::string> hosts;
  std::vector<std::string> gateways;  // spec.gateways, recorded only
  std::vector<HttpRoute> http;

  std::string Key() const { return namespace_name + "/" + name; }  // "team-a/kfserving-iap"
};

// Every validation failure of a VirtualService object (apiVersion, kind, metadata and spec),
// in document order, with Kubernetes field paths. Empty when valid. Suitable for
// api::KindInfo::validate.
api::FieldErrors ValidateVirtualService(const json::object& obj);

// Parses a valid VirtualService. On failure returns InvalidArgument whose message lists the
// field errors ("spec.http[0].match[0].uri.regex: Invalid value: ...; ..."), and fills
// `errors` when given. `cluster_domain` is used to expand short host names.
Result<VirtualService> ParseVirtualService(const json::object& obj,
                                           api::FieldErrors* errors = nullptr,
                                           std::string_view cluster_domain = "cluster.local");

// "spec.http[0].foo: Unsupported value ..."-style one-line rendering of field errors.
std::string FormatFieldErrors(const api::FieldErrors& errors);

}  // namespace skiff::gateway
