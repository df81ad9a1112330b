#include "gateway/route_table.hpp"

#include <algorithm>
#include <array>
#include <random>
#include <set>
#include <tuple>

#include "gateway/proxy.hpp"
#include "gateway/route_internal.hpp"

namespace skiff::gateway {

namespace {

using internal::DescribeDestination;
using internal::DescribeOp;
using internal::Join;
using internal::OpName;

const std::string kBuiltin = "built-in";

// True with probability pct/100 (pct in 0..100).
bool Draw(Random& random, double pct) {
  if (pct >= 100) return true;
  if (pct <= 0) return false;
  return static_cast<double>(random.Below(1000000)) < pct * 10000.0;
}

// How specifically one host entry matches the request host: (rank, length); rank 0 = no match.
struct HostScore {
  int rank = 0;  // 3 exact, 2 "*.suffix", 1 "*"
  size_t length = 0;
  auto operator<=>(const HostScore&) const = default;
};

HostScore ScoreHost(std::string_view entry, std::string_view host) {
  if (entry == "*") return {1, 0};
  if (entry.substr(0, 2) == "*.") {
    std::string_view suffix = entry.substr(1);  // ".example.com"
    if (host.size() > suffix.size() && host.substr(host.size() - suffix.size()) == suffix) {
      return {2, suffix.size()};
    }
    return {};
  }
  if (entry == host) return {3, entry.size()};
  return {};
}

HostScore BestScore(const VirtualService& vs, std::string_view host) {
  HostScore best;
  for (const auto& h : vs.hosts) best = std::max(best, ScoreHost(h, host));
  return best;
}

// The static specificity of a VirtualService: its most specific host entry.
HostScore StaticScore(const VirtualService& vs) {
  HostScore best;
  for (const auto& h : vs.hosts) {
    if (h == "*") {
      best = std::max(best, HostScore{1, 0});
    } else if (h.substr(0, 2) == "*.") {
      best = std::max(best, HostScore{2, h.size() - 1});
    } else {
      best = std::max(best, HostScore{3, h.size()});
    }
  }
  return best;
}

// Oldest first; a missing timestamp sorts last.
bool OlderThan(const VirtualService& a, const VirtualService& b) {
  auto key = [](const VirtualService& v) {
    return std::make_tuple(v.creation_timestamp.empty(), v.creation_timestamp, v.namespace_name,
                           v.name);
  };
  return key(a) < key(b);
}

std::string RouteName(const VirtualService& vs, const HttpRoute& r, size_t i) {
  if (!r.name.empty()) return r.name;
  return vs.Key() + "[" + std::to_string(i) + "]";
}

std::string SourceOf(const VirtualService& vs) { return "VirtualService " + vs.Key(); }

std::string HostList(const std::vector<std::string>& hosts) {
  return "[" + Join(hosts, ", ") + "]";
}

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

// Query parameters, percent-decoded where valid (raw otherwise). First value wins on lookup.
std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t start = 0;
  while (start < query.size()) {
    size_t amp = query.find('&', start);
    std::string_view part = query.substr(start, amp == query.npos ? query.npos : amp - start);
    if (!part.empty()) {
      size_t eq = part.find('=');
      std::string_view k = part.substr(0, eq);
      std::string_view v = eq == part.npos ? std::string_view() : part.substr(eq + 1);
      auto dk = http::PercentDecode(k, true);
      auto dv = http::PercentDecode(v, true);
      out.emplace_back(dk ? *dk : std::string(k), dv ? *dv : std::string(v));
    }
    if (amp == query.npos) break;
    start = amp + 1;
  }
  return out;
}

// All values of a header joined with "," (how Envoy matches repeated headers).
std::optional<std::string> HeaderValue(const http::HeaderMap& headers, std::string_view name) {
  auto all = headers.GetAll(name);
  if (all.empty()) return std::nullopt;
  std::string out;
  for (size_t i = 0; i < all.size(); ++i) {
    if (i) out += ',';
    out += all[i];
  }
  return out;
}

// Records why a check failed (only when someone asks: the reasons cost allocations).
template <class F>
bool Fail(std::string* why, F&& reason) {
  if (why) *why = reason();
  return false;
}

// Whether `m` matches; otherwise, when `why` is given, why not.
bool CheckMatch(const HttpMatch& m, const RouteRequest& req,
                const std::vector<std::pair<std::string, std::string>>& query, std::string* why) {
  if (m.uri && !m.uri->Matches(req.path, m.ignore_uri_case)) {
    return Fail(why, [&] {
      return std::string("uri " + m.uri->Describe() +
                         (m.ignore_uri_case ? " (ignoring case)" : "") + " does not match " +
                         req.path);
    });
  }
  if (m.scheme && !m.scheme->Matches(req.scheme)) {
    return Fail(why, [&] {
      return std::string("scheme " + m.scheme->Describe() + " does not match " + req.scheme);
    });
  }
  if (m.method && !m.method->Matches(req.method)) {
    return Fail(why, [&] {
      return std::string("method " + m.method->Describe() + " does not match " + req.method);
    });
  }
  if (m.authority && !m.authority->Matches(req.authority)) {
    return Fail(why, [&] {
      return std::string("authority " + m.authority->Describe() + " does not match " +
                         Quote(req.authority));
    });
  }
  for (const auto& h : m.headers) {
    auto v = HeaderValue(req.headers, h.name);
    if (!v) return Fail(why, [&] { return std::string("header " + h.name + ": missing"); });
    if (!h.match.Matches(*v)) {
      return Fail(why, [&] {
        return std::string("header " + h.name + ": " + h.match.Describe() + " does not match " +
                           Quote(*v));
      });
    }
  }
  for (const auto& q : m.query_params) {
    auto it = std::find_if(query.begin(), query.end(),
                           [&](const auto& kv) { return kv.first == q.name; });
    if (it == query.end())
      return Fail(why, [&] { return std::string("query parameter " + q.name + ": missing"); });
    if (!q.match.Matches(it->second)) {
      return Fail(why, [&] {
        return std::string("query parameter " + q.name + ": " + q.match.Describe() +
                           " does not match " + Quote(it->second));
      });
    }
  }
  for (const auto& h : m.without_headers) {
    auto v = HeaderValue(req.headers, h.name);
    if (v && h.match.Matches(*v)) {
      return Fail(why, [&] {
        return std::string("withoutHeaders " + h.name + ": " + h.match.Describe() + " matches " +
                           Quote(*v));
      });
    }
  }
  if (m.port && *m.port != req.port) {
    return Fail(why, [&] {
      return std::string("port " + std::to_string(*m.port) + " does not match listener port " +
                         std::to_string(req.port));
    });
  }
  if (!m.source_labels.empty()) {
    return Fail(why, [&] {
      return std::string(
          "sourceLabels select sidecar workloads; requests through the gateway have none");
    });
  }
  return true;
}

std::string DescribeMatch(const HttpMatch& m) {
  std::vector<std::string> parts;
  if (m.uri) parts.push_back("uri " + m.uri->Describe() + (m.ignore_uri_case ? " (any case)" : ""));
  if (m.scheme) parts.push_back("scheme " + m.scheme->Describe());
  if (m.method) parts.push_back("method " + m.method->Describe());
  if (m.authority) parts.push_back("authority " + m.authority->Describe());
  for (const auto& h : m.headers) parts.push_back("header " + h.name + " " + h.match.Describe());
  for (const auto& q : m.query_params) {
    parts.push_back("query " + q.name + " " + q.match.Describe());
  }
  for (const auto& h : m.without_headers) {
    parts.push_back("without header " + h.name + " " + h.match.Describe());
  }
  if (m.port) parts.push_back("port " + std::to_string(*m.port));
  if (!m.source_labels.empty()) parts.push_back("sourceLabels (never at the gateway)");
  if (parts.empty()) return "any";
  return Join(parts, " && ");
}

std::string DescribeBuiltinMatch(const BuiltinRoute& b) {
  std::vector<std::string> parts;
  switch (b.path_kind) {
    case BuiltinRoute::PathKind::kAny:
      break;
    case BuiltinRoute::PathKind::kExact:
      parts.push_back("path exact " + b.path);
      break;
    case BuiltinRoute::PathKind::kPrefix:
      parts.push_back("path prefix " + b.path);
      break;
  }
  if (!b.methods.empty()) parts.push_back("method in [" + Join(b.methods, ", ") + "]");
  if (b.predicate) {
    parts.push_back(b.predicate_description.empty() ? "predicate" : b.predicate_description);
  }
  if (parts.empty()) return "any";
  return Join(parts, " && ");
}

bool BuiltinPathMatches(const BuiltinRoute& b, std::string_view path) {
  switch (b.path_kind) {
    case BuiltinRoute::PathKind::kAny:
      return true;
    case BuiltinRoute::PathKind::kExact:
      return path == b.path;
    case BuiltinRoute::PathKind::kPrefix:
      // Every request is tried against each reserved prefix: the second byte (the first after
      // '/') tells most apart without a comparison call.
      if (path.size() < b.path.size() || (b.path.size() > 1 && path[1] != b.path[1])) {
        return false;
      }
      if (path.substr(0, b.path.size()) != b.path) return false;
      return b.path.ends_with('/') || path.size() == b.path.size() || path[b.path.size()] == '/';
  }
  return false;
}

// Whether the built-in route matches; otherwise, when `why` is given, why not.
bool CheckBuiltin(const BuiltinRoute& b, const RouteRequest& req, std::string* why) {
  if (!BuiltinPathMatches(b, req.path)) {
    return Fail(why, [&] {
      return std::string("path " + req.path + " does not match " +
                         (b.path_kind == BuiltinRoute::PathKind::kExact ? "exact " : "prefix ") +
                         b.path);
    });
  }
  if (!b.methods.empty() &&
      std::find(b.methods.begin(), b.methods.end(), req.method) == b.methods.end()) {
    return Fail(why, [&] {
      return std::string("method " + req.method + " not in [" + Join(b.methods, ", ") + "]");
    });
  }
  if (b.predicate && !b.predicate(req)) {
    return Fail(why, [&] {
      return std::string(
          (b.predicate_description.empty() ? std::string("predicate") : b.predicate_description) +
          ": no");
    });
  }
  return true;
}

size_t CommonPrefix(std::string_view a, std::string_view b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

// Appends one level of operations in Envoy's order: remove, set, add.
void AppendEachOp(const HeaderOperations& ops, std::vector<HeaderOp>& out) {
  for (const auto& name : ops.remove) out.push_back({HeaderOp::Kind::kRemove, name, ""});
  for (const auto& [name, value] : ops.set) out.push_back({HeaderOp::Kind::kSet, name, value});
  for (const auto& [name, value] : ops.add) out.push_back({HeaderOp::Kind::kAdd, name, value});
}

// Most routes and destinations have no header operations: that is tested inline (routing a
// request asks four times), the call made only when there are some.
[[gnu::always_inline]] inline void AppendOps(const HeaderOperations& ops,
                                             std::vector<HeaderOp>& out) {
  if (!ops.empty()) AppendEachOp(ops, out);
}

bool IsHostHeader(std::string_view name) { return name == "host" || name == ":authority"; }

// Splits "host:port" / "[v6]:port"; port empty when absent.
std::pair<std::string, std::string> SplitAuthority(std::string_view authority) {
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == authority.npos) return {std::string(authority), ""};
    std::string host(authority.substr(0, close + 1));
    if (close + 1 < authority.size() && authority[close + 1] == ':') {
      return {host, std::string(authority.substr(close + 2))};
    }
    return {host, ""};
  }
  size_t colon = authority.rfind(':');
  if (colon == authority.npos) return {std::string(authority), ""};
  return {std::string(authority.substr(0, colon)), std::string(authority.substr(colon + 1))};
}

}  // namespace

// ---------------------------------------------------------------------------------------------

SeededRandom::SeededRandom(uint64_t seed) : state_(seed) {}

uint64_t SeededRandom::Below(uint64_t n) {
  // splitmix64: small, fast and good enough for traffic splitting.
  state_ += 0x9e3779b97f4a7c15ULL;
  uint64_t z = state_;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return z % n;
}

Random& ThreadLocalRandom() {
  thread_local SeededRandom random([] {
    std::random_device rd;
    return (uint64_t{rd()} << 32) ^ rd();
  }());
  return random;
}

namespace {

// RouteRequest::Host() of `authority` written over `out` (its storage reused): the part before
// the port (SplitAuthority's), lower-cased, without a final '.'.
void AssignHost(std::string_view authority, std::string& out) {
  std::string_view host = authority;
  if (!authority.empty() && authority.front() == '[') {
    if (size_t close = authority.find(']'); close != authority.npos) {
      host = authority.substr(0, close + 1);
    }
  } else if (size_t colon = authority.rfind(':'); colon != authority.npos) {
    host = authority.substr(0, colon);
  }
  out.assign(host);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  if (out.size() > 1 && out.back() == '.') out.pop_back();  // "a.example.com." is absolute
}

}  // namespace

std::string RouteRequest::Host() const {
  std::string host;
  AssignHost(authority, host);
  return host;
}

std::vector<BuiltinRoute> PlatformRoutes(std::string_view identity_prefix) {
  using K = BuiltinRoute::PathKind;
  std::vector<BuiltinRoute> routes;
  auto add = [&](std::string name, std::string description, K kind, std::string path,
                 std::string service) {
    BuiltinRoute r;
    r.name = std::move(name);
    r.description = std::move(description);
    r.path_kind = kind;
    r.path = std::move(path);
    r.service = std::move(service);
    routes.push_back(std::move(r));
  };
  add("healthz", "liveness", K::kExact, "/healthz", "health");
  add("readyz", "readiness", K::kExact, "/readyz", "health");
  add("metrics", "Prometheus metrics", K::kExact, "/metrics", "metrics");
  if (!identity_prefix.empty() && identity_prefix != "/") {
    std::string prefix(identity_prefix);
    while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
    add("identity", "built-in OIDC identity provider", K::kPrefix, prefix, "identity");
  }
  add("api", "Kubernetes core API", K::kPrefix, "/api", "api");
  add("apis", "Kubernetes API groups", K::kPrefix, "/apis", "api");
  add("version", "API server version", K::kPrefix, "/version", "api");
  add("openapi", "OpenAPI documents", K::kPrefix, "/openapi", "api");
  add("skiff", "skiff's own endpoints", K::kPrefix, "/skiff", "skiff");
  add("login", "browser login", K::kPrefix, "/login", "auth");
  add("logout", "browser logout", K::kPrefix, "/logout", "auth");
  add("authservice", "OIDC callback and session endpoints", K::kPrefix, "/authservice", "auth");
  return routes;
}

void ApplyHeaderOps(const std::vector<HeaderOp>& ops, http::HeaderMap& headers) {
  for (const auto& op : ops) {
    switch (op.kind) {
      case HeaderOp::Kind::kRemove:
        headers.Remove(op.name);
        break;
      case HeaderOp::Kind::kSet:
        headers.Set(op.name, op.value);
        break;
      case HeaderOp::Kind::kAdd:
        headers.Add(op.name, op.value);
        break;
    }
  }
}

// ---------------------------------------------------------------------------------------------

struct RouteTable::Impl {
  std::vector<BuiltinRoute> before;
  std::vector<VirtualService> services;  // oldest first, then namespace/name
  std::vector<BuiltinRoute> after;
  RouteTableOptions options;
  bool any_query_params = false;  // some match has queryParams: parse the query string
  // Per service (same order as `services`): "VirtualService ns/name", and each http route's
  // name, computed once so that routing a request does not build them.
  std::vector<std::string> sources;
  std::vector<std::vector<std::string>> names;
  // Per service, http route and destination (same order as services[i].http[j].route[k]):
  // Classify's result, made once so that routing a request looks nothing up.
  struct Classified {
    Decision::Kind kind = Decision::Kind::kUpstream;
    uint32_t port = 80;
    std::string upstream;   // kUpstream
    std::string authority;  // kReenter of an in-cluster service: its expanded name; else ""
    std::shared_ptr<const Result<http::UpstreamEndpoint>> endpoint;  // kUpstream
  };
  std::vector<std::vector<std::vector<Classified>>> classified;
  Classified ClassifyOnce(const Destination& dest, const VirtualService& vs) const;

  // The classification of a destination host: fills kind/upstream/authority of `d`.
  void Classify(const Destination& dest, const VirtualService& vs, Decision& d) const;
  std::string UpstreamOf(const Destination& dest, const VirtualService& vs) const;
  std::string ExpandHost(const std::string& host, const VirtualService& vs) const {
    if (host.find('.') != std::string::npos) return host;
    return host + "." + vs.namespace_name + ".svc." + options.cluster_domain;
  }
  std::string cluster_suffix;  // ".svc." + cluster_domain
  bool InCluster(const std::string& host) const {
    return host.ends_with(cluster_suffix) || host.ends_with(".svc");
  }
  void Apply(const VirtualService& vs, const HttpRoute& r, size_t route_index,
             const HttpMatch* matched, const RouteRequest& req, Random& random, Trace* trace,
             Decision& d) const;
  std::string DestinationSummary(const VirtualService& vs, const HttpRoute& r) const;
};

std::string RouteTable::Impl::UpstreamOf(const Destination& dest, const VirtualService& vs) const {
  auto it = options.upstreams.find(dest.host);
  if (it == options.upstreams.end()) it = options.upstreams.find(ExpandHost(dest.host, vs));
  if (it != options.upstreams.end()) return it->second;
  return dest.host + ":" + std::to_string(dest.port.value_or(80));
}

void RouteTable::Impl::Classify(const Destination& dest, const VirtualService& vs,
                                Decision& d) const {
  d.port = dest.port.value_or(80);
  std::string expanded = ExpandHost(dest.host, vs);
  if (options.upstreams.contains(dest.host) || options.upstreams.contains(expanded)) {
    d.kind = Decision::Kind::kUpstream;
    d.upstream = UpstreamOf(dest, vs);
  } else if (options.reenter_hosts.contains(dest.host) ||
             options.reenter_hosts.contains(expanded)) {
    d.kind = Decision::Kind::kReenter;  // skiff itself: keep the (rewritten) authority
  } else if (InCluster(expanded)) {
    d.kind = Decision::Kind::kReenter;  // an in-cluster service: the local model
    d.authority = expanded;
  } else {
    d.kind = Decision::Kind::kUpstream;
    d.upstream = UpstreamOf(dest, vs);
  }
}

RouteTable::Impl::Classified RouteTable::Impl::ClassifyOnce(const Destination& dest,
                                                            const VirtualService& vs) const {
  Decision d;
  Classify(dest, vs, d);
  Classified c;
  c.kind = d.kind;
  c.port = d.port;
  c.authority = std::move(d.authority);  // set only for an in-cluster service
  if (d.kind == Decision::Kind::kUpstream) {
    c.endpoint = std::make_shared<const Result<http::UpstreamEndpoint>>(ParseUpstream(d.upstream));
    c.upstream = std::move(d.upstream);
  }
  return c;
}

void RouteTable::Impl::Apply(const VirtualService& vs, const HttpRoute& r, size_t route_index,
                             const HttpMatch* matched, const RouteRequest& req, Random& random,
                             Trace* trace, Decision& d) const {
  // Action descriptions are built only when tracing (this runs for every request).
#define SKIFF_GATEWAY_ACT(text)                \
  do {                                         \
    if (trace) trace->actions.push_back(text); \
  } while (0)
  size_t vs_index = static_cast<size_t>(&vs - services.data());
  d.route_name = names[vs_index][route_index];
  d.source = sources[vs_index];
  d.vs_namespace = vs.namespace_name;
  d.vs_name = vs.name;
  d.path = req.path;
  d.query = req.query;
  d.authority = req.authority;

  // Fault injection happens before anything else (Envoy's fault filter precedes the router).
  if (r.fault) {
    auto pct = [](double p) { return FormatJsonNumber(p) + "%"; };
    if (r.fault->delay) {
      if (Draw(random, r.fault->delay->percentage)) {
        d.delay = r.fault->delay->fixed_delay;
        SKIFF_GATEWAY_ACT("fault delay " + FormatDuration(*d.delay) + " (drawn at " +
                          pct(r.fault->delay->percentage) + ")");
      } else {
        SKIFF_GATEWAY_ACT("fault delay not drawn (" + pct(r.fault->delay->percentage) + ")");
      }
    }
    if (r.fault->abort) {
      if (Draw(random, r.fault->abort->percentage)) {
        d.kind = Decision::Kind::kAbort;
        d.status = r.fault->abort->http_status;
        SKIFF_GATEWAY_ACT("fault abort " + std::to_string(d.status) + " (drawn at " +
                          pct(r.fault->abort->percentage) + ")");
        return;
      }
      SKIFF_GATEWAY_ACT("fault abort not drawn (" + pct(r.fault->abort->percentage) + ")");
    }
  }

  // CORS (Envoy's cors filter): answer preflights from allowed origins, decorate responses.
  std::vector<HeaderOp> cors_ops;
  if (r.cors_policy) {
    const CorsPolicy& c = *r.cors_policy;
    auto origin = req.headers.Get("origin");
    bool allowed = origin && std::any_of(c.allow_origins.begin(), c.allow_origins.end(),
                                         [&](const StringMatch& m) { return m.Matches(*origin); });
    if (origin && !allowed) SKIFF_GATEWAY_ACT("CORS: origin " + Quote(*origin) + " not allowed");
    if (allowed) {
      cors_ops.push_back(
          {HeaderOp::Kind::kSet, "access-control-allow-origin", std::string(*origin)});
      if (c.allow_credentials.value_or(false)) {
        cors_ops.push_back({HeaderOp::Kind::kSet, "access-control-allow-credentials", "true"});
      }
      bool preflight = req.method == "OPTIONS" && req.headers.Has("access-control-request-method");
      if (preflight) {
        if (!c.allow_methods.empty()) {
          cors_ops.push_back(
              {HeaderOp::Kind::kSet, "access-control-allow-methods", Join(c.allow_methods, ",")});
        }
        if (!c.allow_headers.empty()) {
          cors_ops.push_back(
              {HeaderOp::Kind::kSet, "access-control-allow-headers", Join(c.allow_headers, ",")});
        }
        if (c.max_age) {
          cors_ops.push_back(
              {HeaderOp::Kind::kSet, "access-control-max-age", std::to_string(c.max_age->count())});
        }
        d.kind = Decision::Kind::kDirectResponse;
        d.status = 200;
        d.cors_preflight = true;
        d.response_headers = std::move(cors_ops);
        SKIFF_GATEWAY_ACT("CORS preflight from " + Quote(*origin) + " answered 200");
        return;
      }
      if (!c.expose_headers.empty()) {
        cors_ops.push_back(
            {HeaderOp::Kind::kSet, "access-control-expose-headers", Join(c.expose_headers, ",")});
      }
      SKIFF_GATEWAY_ACT("CORS: origin " + Quote(*origin) + " allowed");
    }
  }

  if (r.direct_response) {
    d.kind = Decision::Kind::kDirectResponse;
    d.status = r.direct_response->status;
    d.body = r.direct_response->body;
    AppendOps(r.headers.response, d.response_headers);
    d.response_headers.insert(d.response_headers.end(), cors_ops.begin(), cors_ops.end());
    SKIFF_GATEWAY_ACT("direct response " + std::to_string(d.status));
    return;
  }

  if (r.redirect) {
    const Redirect& rd = *r.redirect;
    std::string scheme = rd.scheme.empty() ? req.scheme : rd.scheme;
    auto [host, port] = SplitAuthority(req.authority);
    if (!rd.authority.empty()) {
      auto split = SplitAuthority(rd.authority);
      host = split.first;
      port = split.second;
    }
    if (rd.port) {
      port = std::to_string(*rd.port);
    } else if (rd.derive_port == Redirect::DerivePort::kFromProtocolDefault) {
      port.clear();
    } else if (rd.derive_port == Redirect::DerivePort::kFromRequestPort) {
      std::string request_port = SplitAuthority(req.authority).second;
      port = request_port.empty() && req.port ? std::to_string(req.port) : request_port;
    }
    if ((scheme == "http" && port == "80") || (scheme == "https" && port == "443")) port.clear();
    std::string path = rd.uri.empty() ? req.path : rd.uri;
    // Without any host to name, a relative reference (RFC 9110 allows one in Location).
    std::string location =
        host.empty() ? path : scheme + "://" + host + (port.empty() ? "" : ":" + port) + path;
    if (path.find('?') == std::string::npos && !req.query.empty()) location += "?" + req.query;
    d.kind = Decision::Kind::kRedirect;
    d.status = rd.redirect_code;
    d.location = location;
    AppendOps(r.headers.response, d.response_headers);
    SKIFF_GATEWAY_ACT("redirect " + std::to_string(d.status) + " to " + location);
    return;
  }

  // route[]: pick one destination by weight.
  const RouteDestination* chosen = nullptr;
  if (r.route.size() == 1) {
    chosen = &r.route[0];
  } else if (!r.route.empty()) {
    uint64_t draw = random.Below(100);
    uint64_t cumulative = 0;
    for (const auto& rd : r.route) {
      cumulative += static_cast<uint64_t>(rd.weight);
      if (draw < cumulative) {
        chosen = &rd;
        break;
      }
    }
    if (!chosen) chosen = &r.route.back();
    SKIFF_GATEWAY_ACT("weighted choice: " + chosen->destination.host + " (weight " +
                      std::to_string(chosen->weight) + " of 100)");
  }

  // Path rewrite (Envoy: prefix_rewrite or regex_rewrite).
  if (r.rewrite) {
    std::string before = d.path;
    if (r.rewrite->uri_regex) {
      d.path = r.rewrite->uri_regex->match.ReplaceAll(d.path, r.rewrite->uri_regex->rewrite);
    } else if (!r.rewrite->uri.empty()) {
      size_t replaced = 1;  // no uri match: the route's prefix is "/"
      if (matched && matched->uri) {
        replaced = matched->uri->kind() == StringMatch::Kind::kPrefix ? matched->uri->value().size()
                                                                      : d.path.size();
      }
      d.path = r.rewrite->uri + d.path.substr(std::min(replaced, d.path.size()));
    }
    if (d.path != before) SKIFF_GATEWAY_ACT("rewrite path " + before + " -> " + d.path);
  }

  // Header operations: destination level first, then the route level (Envoy's order).
  std::vector<HeaderOp> request_ops;
  if (chosen) AppendOps(chosen->headers.request, request_ops);
  AppendOps(r.headers.request, request_ops);
  for (auto& op : request_ops) {
    if (IsHostHeader(op.name)) {
      if (op.kind != HeaderOp::Kind::kRemove) {
        SKIFF_GATEWAY_ACT("set authority " + Quote(d.authority) + " -> " + Quote(op.value) +
                          " (request header " + op.name + ")");
        d.authority = op.value;
      }
      continue;
    }
    SKIFF_GATEWAY_ACT("request header " + DescribeOp(op));
    d.request_headers.push_back(std::move(op));
  }
  if (chosen) AppendOps(chosen->headers.response, d.response_headers);
  AppendOps(r.headers.response, d.response_headers);
  d.response_headers.insert(d.response_headers.end(), cors_ops.begin(), cors_ops.end());
  for (const auto& op : d.response_headers) SKIFF_GATEWAY_ACT("response header " + DescribeOp(op));
  if (r.rewrite && !r.rewrite->authority.empty()) {
    SKIFF_GATEWAY_ACT("rewrite authority " + Quote(d.authority) + " -> " +
                      Quote(r.rewrite->authority));
    d.authority = r.rewrite->authority;
  }

  d.timeout = r.timeout;
  d.retries = r.retries;
  if (r.mirror && Draw(random, r.mirror_percentage)) {
    d.mirror = *r.mirror;
    d.mirror_upstream = UpstreamOf(*r.mirror, vs);
    SKIFF_GATEWAY_ACT("mirror to " + d.mirror_upstream);
  }
  if (chosen) {
    d.destination = chosen->destination;
    const Classified& c =
        classified[vs_index][route_index][static_cast<size_t>(chosen - r.route.data())];
    d.kind = c.kind;
    d.port = c.port;
    d.upstream = c.upstream;
    d.endpoint = c.endpoint.get();
    const bool authority_changed = !c.authority.empty() && c.authority != d.authority;
    if (authority_changed) d.authority = c.authority;
    switch (d.kind) {
      case Decision::Kind::kUpstream:
        SKIFF_GATEWAY_ACT("destination " + DescribeDestination(chosen->destination) +
                          ": upstream " + d.upstream);
        break;
      case Decision::Kind::kReenter:
        if (authority_changed) {
          SKIFF_GATEWAY_ACT("destination " + chosen->destination.host +
                            ": an in-cluster service, re-enter routing with Host " + d.authority);
        } else {
          SKIFF_GATEWAY_ACT("destination " + chosen->destination.host +
                            ": skiff's own gateway, re-enter routing as " + d.authority + d.path);
        }
        break;
      default:
        break;
    }
  }
#undef SKIFF_GATEWAY_ACT
}

std::string RouteTable::Impl::DestinationSummary(const VirtualService& vs,
                                                 const HttpRoute& r) const {
  std::vector<std::string> parts;
  if (r.direct_response) parts.push_back("respond " + std::to_string(r.direct_response->status));
  if (r.redirect) {
    std::string target = r.redirect->authority + r.redirect->uri;
    parts.push_back("redirect " + std::to_string(r.redirect->redirect_code) +
                    (target.empty() ? "" : " " + target));
  }
  std::vector<std::string> dests;
  for (const auto& rd : r.route) {
    Decision d;
    Classify(rd.destination, vs, d);
    std::string s = rd.destination.host;
    if (rd.destination.port) s += ":" + std::to_string(*rd.destination.port);
    if (r.route.size() > 1) s += " " + std::to_string(rd.weight) + "%";
    s += d.kind == Decision::Kind::kUpstream ? " (upstream " + d.upstream + ")" : " (re-enter)";
    dests.push_back(std::move(s));
  }
  if (!dests.empty()) parts.push_back(Join(dests, ", "));
  if (r.rewrite && !r.rewrite->uri.empty()) parts.push_back("rewrite " + r.rewrite->uri);
  if (r.rewrite && r.rewrite->uri_regex) {
    parts.push_back("rewrite regex " + r.rewrite->uri_regex->match.value());
  }
  if (r.rewrite && !r.rewrite->authority.empty()) {
    parts.push_back("authority " + r.rewrite->authority);
  }
  if (r.timeout) parts.push_back("timeout " + FormatDuration(*r.timeout));
  if (r.fault) parts.push_back("fault");
  if (r.mirror) parts.push_back("mirror " + r.mirror->host);
  return Join(parts, "; ");
}

// ---------------------------------------------------------------------------------------------

RouteTable::RouteTable(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RouteTable::~RouteTable() = default;

Result<std::shared_ptr<const RouteTable>> RouteTable::Build(std::vector<BuiltinRoute> before,
                                                            std::vector<VirtualService> services,
                                                            std::vector<BuiltinRoute> after,
                                                            RouteTableOptions options) {
  std::set<std::string> names;
  for (const auto* list : {&before, &after}) {
    for (const auto& b : *list) {
      if (b.name.empty()) return InvalidArgument("a built-in route needs a name");
      if (!names.insert(b.name).second) {
        return InvalidArgument("duplicate built-in route name \"" + b.name + "\"");
      }
      if (b.path_kind != BuiltinRoute::PathKind::kAny && (b.path.empty() || b.path[0] != '/')) {
        return InvalidArgument("built-in route \"" + b.name + "\": path must start with '/'");
      }
    }
  }
  std::set<std::string> keys;
  for (const auto& vs : services) {
    if (!keys.insert(vs.Key()).second) {
      return InvalidArgument("duplicate VirtualService " + vs.Key());
    }
  }
  std::sort(services.begin(), services.end(), OlderThan);
  auto impl = std::make_unique<Impl>();
  impl->before = std::move(before);
  impl->services = std::move(services);
  impl->after = std::move(after);
  impl->options = std::move(options);
  impl->cluster_suffix = ".svc." + impl->options.cluster_domain;
  for (const auto& vs : impl->services) {
    impl->sources.push_back(SourceOf(vs));
    impl->names.emplace_back();
    for (size_t i = 0; i < vs.http.size(); ++i) {
      impl->names.back().push_back(RouteName(vs, vs.http[i], i));
    }
    auto& classified = impl->classified.emplace_back();
    for (const auto& r : vs.http) {
      for (const auto& m : r.match) impl->any_query_params |= !m.query_params.empty();
      auto& per_route = classified.emplace_back();
      for (const auto& rd : r.route) per_route.push_back(impl->ClassifyOnce(rd.destination, vs));
    }
  }
  return std::make_shared<const RouteTable>(std::move(impl));
}

Decision RouteTable::Route(const RouteRequest& req, Random& random, Trace* trace) const {
  Decision d;
  Route(req, random, trace, d);
  return d;
}

void RouteTable::Route(const RouteRequest& req, Random& random, Trace* trace, Decision& d) const {
  // Reasons and route names are built only when tracing: this runs for every request.
  const Impl& t = *impl_;
  // A per-thread string, reused (Route is not re-entered on a thread).
  thread_local std::string host;
  AssignHost(req.authority, host);
  if (trace) trace->host = host;
  std::string why;
  std::string* why_ptr = trace ? &why : nullptr;
  auto step = [&](std::string route, const std::string& source, bool matched, std::string reason) {
    trace->steps.push_back({std::move(route), source, matched, std::move(reason)});
  };

  auto try_builtins = [&](const std::vector<BuiltinRoute>& list) -> bool {
    for (const auto& b : list) {
      if (CheckBuiltin(b, req, why_ptr)) {
        d.kind = Decision::Kind::kService;
        d.route_name = b.name;
        d.source = kBuiltin;
        d.service = b.service;
        d.path = req.path;
        d.query = req.query;
        d.authority = req.authority;
        if (trace) {
          step(b.name, kBuiltin, true,
               "matched " + DescribeBuiltinMatch(b) + " -> service " + b.service);
          trace->actions.push_back("in-process service " + b.service);
        }
        return true;
      }
      if (trace) step(b.name, kBuiltin, false, std::move(why));
    }
    return false;
  };

  if (try_builtins(t.before)) return;

  // A request that names a namespace is routed by that namespace's VirtualServices only.
  std::string addressed;
  for (std::string_view suffix : {std::string_view(t.cluster_suffix), std::string_view(".svc")}) {
    if (!host.ends_with(suffix)) continue;
    std::string_view name = std::string_view(host).substr(0, host.size() - suffix.size());
    size_t dot = name.rfind('.');
    if (dot != std::string_view::npos) addressed = std::string(name.substr(dot + 1));
    break;
  }
  if (addressed.empty() && t.options.addressed_namespace) {
    addressed = t.options.addressed_namespace(req);
  }

  // VirtualServices whose hosts match, most specific host first (stable: oldest first). A
  // per-thread vector, reused: Route is not re-entered on a thread.
  thread_local std::vector<std::pair<HostScore, const VirtualService*>> order;
  order.clear();
  for (const auto& vs : t.services) {
    if (!addressed.empty() && vs.namespace_name != addressed) {
      if (trace) {
        step(vs.Key(), SourceOf(vs), false,
             "the request addresses namespace " + addressed +
                 ": only its own VirtualServices may route it");
      }
      continue;
    }
    HostScore score = BestScore(vs, host);
    if (score.rank == 0) {
      if (trace) {
        step(vs.Key(), SourceOf(vs), false,
             "host " + (host.empty() ? std::string("(none)") : host) + " not in hosts " +
                 HostList(vs.hosts));
      }
      continue;
    }
    order.emplace_back(score, &vs);
  }
  // Services are stored oldest first: ties keep that order (pointer order = storage order).
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });

  std::vector<std::pair<std::string, std::string>> query;
  if (t.any_query_params && !req.query.empty()) query = ParseQuery(req.query);
  for (const auto& [score, vs] : order) {
    for (size_t i = 0; i < vs->http.size(); ++i) {
      const HttpRoute& r = vs->http[i];
      const HttpMatch* matched = nullptr;
      std::vector<std::string> reasons;
      for (size_t j = 0; j < r.match.size(); ++j) {
        if (CheckMatch(r.match[j], req, query, why_ptr)) {
          matched = &r.match[j];
          break;
        }
        if (trace) {
          reasons.push_back(r.match.size() > 1 ? "match[" + std::to_string(j) + "]: " + why : why);
        }
      }
      if (matched || r.match.empty()) {
        if (trace) {
          std::string reason =
              "matched " + (matched ? DescribeMatch(*matched) : std::string("any"));
          if (matched && !matched->name.empty()) reason += " (match " + matched->name + ")";
          step(RouteName(*vs, r, i), SourceOf(*vs), true, std::move(reason));
        }
        t.Apply(*vs, r, i, matched, req, random, trace, d);
        return;
      }
      if (trace) step(RouteName(*vs, r, i), SourceOf(*vs), false, Join(reasons, "; "));
    }
  }

  if (try_builtins(t.after)) return;

  d.kind = Decision::Kind::kNoRoute;
  d.path = req.path;
  d.query = req.query;
  d.authority = req.authority;
  // The closest candidates: routes sharing the longest path prefix with the request.
  std::vector<std::pair<size_t, std::string>> near;
  for (const auto* list : {&t.before, &t.after}) {
    for (const auto& b : *list) {
      if (b.path_kind != BuiltinRoute::PathKind::kAny) {
        near.emplace_back(CommonPrefix(req.path, b.path), b.name);
      }
    }
  }
  for (const auto& [score, vs] : order) {
    for (size_t i = 0; i < vs->http.size(); ++i) {
      for (const auto& m : vs->http[i].match) {
        if (m.uri && m.uri->kind() != StringMatch::Kind::kRegex) {
          near.emplace_back(CommonPrefix(req.path, m.uri->value()), RouteName(*vs, vs->http[i], i));
        }
      }
    }
  }
  std::stable_sort(near.begin(), near.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  std::set<std::string> seen;
  for (const auto& [len, name] : near) {
    if (len <= 1 || d.candidates.size() >= 3) break;
    if (seen.insert(name).second) d.candidates.push_back(name);
  }
  if (trace) trace->actions.push_back("no route matched: 404");
}

std::vector<RouteRow> RouteTable::List() const {
  const Impl& t = *impl_;
  std::vector<RouteRow> rows;
  auto add_builtins = [&](const std::vector<BuiltinRoute>& list) {
    for (const auto& b : list) {
      RouteRow row;
      row.order = static_cast<int>(rows.size()) + 1;
      row.name = b.name;
      row.source = kBuiltin;
      row.hosts = "*";
      row.match = DescribeBuiltinMatch(b);
      row.destination = "service " + b.service;
      rows.push_back(std::move(row));
    }
  };
  add_builtins(t.before);
  std::vector<const VirtualService*> services;
  for (const auto& vs : t.services) services.push_back(&vs);
  std::stable_sort(services.begin(), services.end(),
                   [](const auto* a, const auto* b) { return StaticScore(*a) > StaticScore(*b); });
  for (const auto* vs : services) {
    for (size_t i = 0; i < vs->http.size(); ++i) {
      const HttpRoute& r = vs->http[i];
      RouteRow row;
      row.order = static_cast<int>(rows.size()) + 1;
      row.name = RouteName(*vs, r, i);
      row.source = SourceOf(*vs);
      row.hosts = Join(vs->hosts, ", ");
      std::vector<std::string> matches;
      for (const auto& m : r.match) matches.push_back(DescribeMatch(m));
      row.match = matches.empty() ? "any" : Join(matches, " | ");
      row.destination = t.DestinationSummary(*vs, r);
      rows.push_back(std::move(row));
    }
  }
  add_builtins(t.after);
  return rows;
}

}  // namespace skiff::gateway
