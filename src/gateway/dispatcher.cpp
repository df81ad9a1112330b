#include "gateway/dispatcher.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <mutex>

#include "core/crypto.hpp"
#include "core/html.hpp"
#include "core/json.hpp"
#include "http/router.hpp"

namespace skiff::gateway {

namespace {

constexpr std::string_view kRequestIdHeader = "x-request-id";

// RFC 3986 pchar plus '/': unreserved, sub-delims, ':' and '@'.
constexpr std::array<bool, 256> kPathChars = [] {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = t[c - 'a' + 'A'] = true;
  for (char c : std::string_view("-._~!$&'()*+,;=:@/")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

// A normalized (decoded) path in origin-form for an upstream, bytes outside pchar escaped, and
// "?query" when there is one.
std::string OriginForm(std::string_view path, std::string_view query) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(path.size() + 1 + query.size());
  size_t run = 0;  // start of the bytes not yet appended, all pchars
  for (size_t i = 0; i < path.size(); ++i) {
    const auto c = static_cast<unsigned char>(path[i]);
    if (kPathChars[c]) continue;
    out.append(path.substr(run, i - run));
    const char escaped[3] = {'%', kHex[c >> 4], kHex[c & 15]};
    out.append(escaped, 3);
    run = i + 1;
  }
  out.append(path.substr(run));
  if (!query.empty()) out.append(1, '?').append(query);
  return out;
}

bool WantsHtml(const http::Request& req) {
  auto accept = req.headers.Get("Accept");
  return accept && accept->find("text/html") != std::string_view::npos;
}

http::Response NoRoute(const http::Request& req, const RoutePlan& plan) {
  std::string what = plan.request.method + " " + plan.request.Host() + plan.request.path;
  if (WantsHtml(req)) {
    std::string html =
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Not found</title></head>"
        "<body><h1>Not found</h1><p>No route for <code>" +
        HtmlEscape(what) + "</code>.</p>";
    if (!plan.decision.candidates.empty()) {
      html += "<p>Closest routes:</p><ul>";
      for (const auto& c : plan.decision.candidates) html += "<li>" + HtmlEscape(c) + "</li>";
      html += "</ul>";
    }
    html += "<p><code>skiff routes explain " + HtmlEscape(plan.request.method) + " " +
            HtmlEscape(plan.request.path) + "</code> shows why.</p></body></html>\n";
    http::Response r;
    r.status = 404;
    r.headers.Set("Content-Type", "text/html; charset=utf-8");
    r.body = std::move(html);
    return r;
  }
  json::array candidates;
  for (const auto& c : plan.decision.candidates) candidates.emplace_back(c);
  json::object o{
      {"error", "NotFound"},
      {"code", 404},
      {"message", "no route for " + what + " (skiff routes explain shows every route tried)"},
      {"candidates", std::move(candidates)}};
  return http::Response::Json(404, Serialize(o));
}

// The Responder handed to the destination: applies the routes' response header operations and
// x-request-id, and cancels the route time-out. Called at most once by the server.
struct Completion {
  http::Responder respond;
  std::vector<HeaderOp> response_headers;
  // Its request_id (set before dispatch, never changed after) is the x-request-id to echo.
  std::shared_ptr<http::AccessNotes> notes;
  Timers* timers = nullptr;
  std::atomic<uint64_t> timer{0};
  std::atomic<bool> done{false};

  void Finish(http::Response&& r) {
    if (done.exchange(true)) return;
    if (uint64_t t = timer.load(); t != 0 && timers != nullptr) timers->Cancel(t);
    ApplyHeaderOps(response_headers, r.headers);
    if (notes && !notes->request_id.empty() && !r.headers.Has(kRequestIdHeader)) {
      r.headers.Set(kRequestIdHeader, notes->request_id);
    }
    respond(std::move(r));
  }
};

}  // namespace

void FillRouteRequest(const http::Request& req, http::HeaderMap&& headers, std::string&& path,
                      std::string&& query, RouteRequest& rr) {
  // Method and scheme are mostly the defaults already there ("GET", "http"): compared, not
  // assigned.
  if (rr.method != req.method) rr.method = req.method;
  rr.path = std::move(path);
  rr.query = std::move(query);
  rr.authority = headers.Get("Host").value_or("");
  const std::string_view scheme = req.tls ? "https" : "http";
  if (rr.scheme != scheme) rr.scheme = scheme;
  rr.headers = std::move(headers);
}

RouteRequest RouteRequestFrom(const http::Request& req, http::HeaderMap headers) {
  RouteRequest rr;
  FillRouteRequest(req, std::move(headers), std::string(req.path), std::string(req.raw_query), rr);
  return rr;
}

namespace {

uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// A random-looking version 4 UUID for x-request-id, written into `out` (36 characters): unique
// (each thread starts from 128 bits of OpenSSL randomness, then steps a SplitMix64 sequence),
// not secret, and without a call into OpenSSL's locked generator per request.
void FastRequestUid(char (&out)[36]) {
  thread_local uint64_t state[2] = {0, 0};
  thread_local bool seeded = false;
  if (!seeded) {
    std::string seed = RandomBytes(16);
    std::memcpy(state, seed.data(), sizeof state);
    seeded = true;
  }
  uint64_t hi = SplitMix64(state[0]);
  uint64_t lo = SplitMix64(state[1]);
  hi = (hi & ~0xf000ULL) | 0x4000ULL;                         // version 4
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // RFC 4122 variant
  // 8-4-4-4-12 hex digits: byte i of hi then lo, most significant first, two digits at kAt[i],
  // copied as a pair from a table of the 256 bytes' two digits.
  static constexpr std::array<char, 512> kHexPairs = [] {
    constexpr char kHex[] = "0123456789abcdef";
    std::array<char, 512> t{};
    for (int b = 0; b < 256; ++b) {
      t[2 * b] = kHex[b >> 4];
      t[2 * b + 1] = kHex[b & 15];
    }
    return t;
  }();
  static constexpr int kAt[16] = {0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34};
  // Unrolled: each step's word, shift and place are constants (-O2 keeps the loop otherwise).
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i) {
    const auto v = static_cast<unsigned>(((i < 8 ? hi : lo) >> (56 - 8 * (i % 8))) & 0xff);
    std::memcpy(out + kAt[i], &kHexPairs[2 * v], 2);
  }
  out[8] = out[13] = out[18] = out[23] = '-';
}

}  // namespace

void EnsureRequestId(http::Request& req) {
  // The client's id is kept when it is the only one and well-formed; else a new one. Either way
  // it is copied into the notes' string (whose storage the connection reuses), not a new one.
  std::optional<std::string_view> given;
  size_t count = 0;
  for (const auto& [name, value] : req.headers) {
    if (http::EqualsIgnoreCase(name, kRequestIdHeader)) {
      given = value;
      ++count;
    }
  }
  if (count == 1 && !given->empty() && given->size() <= 128 &&
      std::all_of(given->begin(), given->end(), [](char c) { return c > 0x20 && c < 0x7f; })) {
    if (req.notes) req.notes->request_id.assign(*given);
    return;
  }
  char id[36];
  FastRequestUid(id);
  if (count == 0) {
    req.headers.Add(kRequestIdHeader, std::string_view(id, sizeof id));  // none to replace
  } else {
    req.headers.Set(kRequestIdHeader, std::string_view(id, sizeof id));
  }
  if (req.notes) req.notes->request_id.assign(id, sizeof id);
}

bool ShouldStreamBody(const Dispatcher& dispatcher, const http::Request& head) {
  bool has_body = head.headers.Has("Transfer-Encoding");
  if (!has_body) {
    auto length = head.headers.Get("Content-Length");
    has_body = length && *length != "0";
  }
  if (!has_body) return false;
  RoutePlan plan = dispatcher.Plan(RouteRequestFrom(head), ThreadLocalRandom());
  return plan.decision.kind == Decision::Kind::kUpstream && !plan.loop;
}

Dispatcher::Dispatcher(TableSource table, ServiceMap services, const Proxy* proxy, Timers* timers,
                       DispatcherOptions options)
    : table_(std::move(table)),
      services_(std::move(services)),
      proxy_(proxy),
      timers_(timers),
      options_(std::move(options)) {}

authz::Attributes VirtualServiceAttributes(const std::string& ns, const std::string& name) {
  authz::Attributes a;
  a.verb = "get";
  a.group = "networking.istio.io";
  a.resource = "virtualservices";
  a.ns = ns;
  a.name = name;
  return a;
}

RoutePlan Dispatcher::Plan(RouteRequest request, Random& random, std::vector<Trace>* hops) const {
  RoutePlan plan;
  plan.request = std::move(request);
  PlanInPlace(plan, random, hops, nullptr);
  return plan;
}

void Dispatcher::PlanInPlace(RoutePlan& plan, Random& random, std::vector<Trace>* hops,
                             Original* original) const {
  RouteRequest& request = plan.request;
  std::shared_ptr<const RouteTable> table = table_();
  for (int hop = 0;; ++hop) {
    Trace* trace = nullptr;
    if (hops != nullptr) trace = &hops->emplace_back();
    if (hop > 0) plan.decision = Decision{};  // each pass decides afresh
    table->Route(request, random, trace, plan.decision);
    const Decision& d = plan.decision;
    plan.hops = hop + 1;
    plan.response_headers.insert(plan.response_headers.end(), d.response_headers.begin(),
                                 d.response_headers.end());
    if (d.timeout && (!plan.timeout || *d.timeout < *plan.timeout)) plan.timeout = d.timeout;
    if (d.delay) plan.delay += *d.delay;
    if (d.kind == Decision::Kind::kNoRoute) break;
    if (!d.vs_name.empty() && plan.virtual_service_count < plan.virtual_service_slots.size()) {
      plan.virtual_service_slots[plan.virtual_service_count++] = {d.vs_namespace, d.vs_name};
    }
    // Only a request that re-enters can end without a route (or in a loop) after its headers
    // were changed: then the caller gets them as sent.
    if (original != nullptr && hop == 0 && d.kind == Decision::Kind::kReenter) {
      original->headers = request.headers;
    }
    // The request as the destination sees it (the caller's path and query kept the first time
    // they change).
    if (request.path != d.path || request.query != d.query) {
      if (original != nullptr && !original->rewritten) {
        original->rewritten = true;
        original->path = std::move(request.path);
        original->query = std::move(request.query);
      }
      request.path = d.path;
      request.query = d.query;
    }
    ApplyHeaderOps(d.request_headers, request.headers);
    if (d.authority != request.authority) {
      request.authority = d.authority;
      request.headers.Set("Host", d.authority);
    }
    if (d.kind != Decision::Kind::kReenter) break;
    if (hop >= RouteTable::kMaxReenter) {
      plan.loop = true;
      if (trace) {
        trace->actions.push_back("routing loop: re-entered more than " +
                                 std::to_string(RouteTable::kMaxReenter) + " times (508)");
      }
      break;
    }
  }
  plan.table = std::move(table);
}

void Dispatcher::Handle(http::Request& req, http::Responder respond) const {
  // Routing takes the request's headers, path and query rather than copies of them; they come
  // back below (what routing changed of them is kept in `original`).
  RoutePlan plan;
  FillRouteRequest(req, std::move(req.headers), std::move(req.path), std::move(req.raw_query),
                   plan.request);
  Original original;
  PlanInPlace(plan, ThreadLocalRandom(), nullptr, &original);
  const Decision& d = plan.decision;
  if (req.notes) req.notes->route_name = d.route_name;
  if (d.kind != Decision::Kind::kService) req.route = d.route_name;
  // The routed request replaces the original: path, query and headers after rewrites.
  if (d.kind != Decision::Kind::kNoRoute && !plan.loop) {
    // (Nothing reads the routed plan's path and query after this: they are moved.)
    req.path = std::move(plan.request.path);
    req.raw_query = std::move(plan.request.query);
    const bool rewritten =
        original.rewritten && (req.path != original.path || req.raw_query != original.query);
    if (rewritten) req.target = OriginForm(req.path, req.raw_query);
    req.headers = std::move(plan.request.headers);
  } else {
    // Unrouted: the request as sent (a first pass that ends here changed none of it). The plan's
    // path and query stay for the 404's text.
    req.path = original.rewritten ? std::move(original.path) : plan.request.path;
    req.raw_query = original.rewritten ? std::move(original.query) : plan.request.query;
    req.headers = std::move(plan.hops == 1 ? plan.request.headers : original.headers);
  }
  if (plan.delay.count() > 0 && timers_ != nullptr) {
    if (req.notes) req.notes->flags += req.notes->flags.empty() ? "DI" : ",DI";
    auto held = std::make_shared<http::Request>(std::move(req));
    auto respond_held = std::make_shared<http::Responder>(std::move(respond));
    auto plan_held = std::make_shared<RoutePlan>(std::move(plan));
    timers_->After(plan_held->delay, [this, held, respond_held, plan_held] {
      Dispatch(held, std::move(*plan_held), std::move(*respond_held));
    });
    // The server reads `route` after the handler returns.
    req.route = held->route;
    return;
  }
  // Dispatch wants an owned request only when it must outlive this call; services and the
  // proxy copy what they keep, so the caller's request is used in place.
  Dispatch(std::shared_ptr<http::Request>(std::shared_ptr<void>(), &req), std::move(plan),
           std::move(respond));
}

void Dispatcher::Mirror(const http::Request& req, const Decision& d) const {
  // Istio's mirror: a copy, fire and forget, with "-shadow" appended to the Host; its answer is
  // dropped. A streamed body cannot be copied (it is read once), so such requests are not
  // mirrored; in-cluster names are mirrored only when gateway.upstreams maps them.
  if (proxy_ == nullptr || req.body_source || d.mirror_upstream.empty()) return;
  const std::string& host = d.mirror->host;
  bool in_cluster = host.ends_with(".svc.cluster.local") || host.ends_with(".svc");
  if (in_cluster && d.mirror_upstream.find("://") == std::string::npos) return;
  auto endpoint = ParseUpstream(d.mirror_upstream);
  if (!endpoint) return;
  http::Request copy;
  copy.method = req.method;
  copy.path = req.path;
  copy.raw_query = req.raw_query;
  copy.headers = req.headers;
  copy.body = req.body;
  copy.remote_addr = req.remote_addr;
  copy.tls = req.tls;
  copy.principal = req.principal;
  std::string authority(req.headers.Get("Host").value_or(""));
  size_t colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']', colon) == std::string::npos) {
    authority.insert(colon, "-shadow");
  } else {
    authority += "-shadow";
  }
  ProxyTarget target;
  target.endpoint = std::move(*endpoint);
  if (target.endpoint.tls && target.endpoint.ca_file.empty()) {
    target.endpoint.ca_file = options_.upstream_ca_file;
  }
  target.path_and_query = OriginForm(req.path, req.raw_query);
  target.authority = authority;
  proxy_->Forward(copy, std::move(target), [](http::Response r) {
    if (r.stream) r.stream->Cancel();
  });
}

void Dispatcher::CollectBody(std::shared_ptr<http::BodySource> source,
                             std::shared_ptr<http::Request> req, RoutePlan plan,
                             http::Responder respond) const {
  auto plan_held = std::make_shared<RoutePlan>(std::move(plan));
  source->Read([this, source, req, plan_held,
                respond = std::move(respond)](Result<std::optional<std::string>> piece) mutable {
    if (!piece) {
      Status s = piece.error();
      respond(s.code() == Code::kResourceExhausted
                  ? http::ErrorResponse(413, "RequestEntityTooLarge", s.message())
                  : http::ErrorResponse(s.code() == Code::kDeadlineExceeded ? 408 : 400,
                                        "BadRequest", s.message()));
      return;
    }
    if (!piece->has_value()) {
      Dispatch(req, std::move(*plan_held), std::move(respond));
      return;
    }
    if (req->body.size() + (*piece)->size() > options_.max_collected_body_bytes) {
      respond(http::ErrorResponse(413, "RequestEntityTooLarge",
                                  "request body larger than " +
                                      std::to_string(options_.max_collected_body_bytes) +
                                      " bytes"));
      return;
    }
    req->body += **piece;
    CollectBody(source, req, std::move(*plan_held), std::move(respond));
  });
}

void Dispatcher::Dispatch(std::shared_ptr<http::Request> req_ptr, RoutePlan&& plan,
                          http::Responder respond) const {
  if (req_ptr->body_source && plan.decision.kind == Decision::Kind::kService && !plan.loop) {
    // The listener streamed the body for an upstream, but this request ends in-process (a
    // weighted split between an upstream and a model): in-process services read
    // Request::body, so collect it first, within the usual body limit. A non-owning req_ptr
    // (use_count 0: the caller's request) is copied out, as the read completes later.
    auto held =
        req_ptr.use_count() > 0 ? req_ptr : std::make_shared<http::Request>(std::move(*req_ptr));
    if (held != req_ptr) req_ptr->route = held->route;
    auto source = std::move(held->body_source);
    CollectBody(std::move(source), std::move(held), std::move(plan), std::move(respond));
    return;
  }
  http::Request& req = *req_ptr;
  const Decision& d = plan.decision;
  // The Completion is made for the answers given here and by services; the proxy does the same
  // itself (ProxyTarget::answer_headers), so its Responder is not wrapped.
  std::shared_ptr<Completion> done;
  auto completion = [&]() -> const std::shared_ptr<Completion>& {
    if (!done) {
      done = std::make_shared<Completion>();
      done->respond = std::move(respond);
      done->response_headers = std::move(plan.response_headers);
      done->notes = req.notes;
      done->timers = timers_;
    }
    return done;
  };
  auto finish = [&](http::Response&& r) { completion()->Finish(std::move(r)); };
  auto flag = [&](std::string_view f) {
    if (req.notes) req.notes->flags += (req.notes->flags.empty() ? "" : ",") + std::string(f);
  };

  if (options_.authorizer != nullptr && !plan.loop) {
    // Built once per thread; each check assigns the namespace and name (no new strings), when
    // they differ from the last request's (the usual request names the same VirtualService).
    thread_local authz::Attributes what = VirtualServiceAttributes("", "");
    for (const auto& [ns, name] : plan.virtual_services()) {
      if (what.ns != ns) what.ns = ns;
      if (what.name != name) what.name = name;
      if (req.principal && options_.authorizer->Allows(*req.principal, what)) continue;
      // The reason is written only for a refusal.
      std::string reason = req.principal ? options_.authorizer->Decide(*req.principal, what).reason
                                         : "the request has no authenticated user";
      flag("UAEX");
      finish(http::ErrorResponse(403, "Forbidden",
                                 "route of VirtualService " + std::string(ns) + "/" +
                                     std::string(name) + " refused: " + reason));
      return;
    }
  }
  if (d.mirror && !plan.loop) Mirror(req, d);
  if (plan.loop) {
    finish(http::ErrorResponse(508, "LoopDetected",
                               "the request re-entered routing more than " +
                                   std::to_string(RouteTable::kMaxReenter) +
                                   " times: check the VirtualServices routing to skiff itself"));
    return;
  }
  switch (d.kind) {
    case Decision::Kind::kNoRoute:
      flag("NR");
      finish(NoRoute(req, plan));
      return;
    case Decision::Kind::kRedirect: {
      http::Response r;
      r.status = d.status;
      r.headers.Set("Location", d.location);
      finish(std::move(r));
      return;
    }
    case Decision::Kind::kDirectResponse: {
      http::Response r;
      r.status = d.status;
      r.body = d.body;
      if (!r.body.empty()) r.headers.Set("Content-Type", "text/plain");
      finish(std::move(r));
      return;
    }
    case Decision::Kind::kAbort:
      flag("FI");
      finish(http::Response::Text(d.status, "fault filter abort"));
      return;
    case Decision::Kind::kService: {
      auto it = services_.find(d.service);
      if (it == services_.end()) {
        finish(http::ErrorResponse(Unavailable("service " + d.service + " is not running")));
        return;
      }
      if (req.notes) req.notes->upstream = d.service;
      completion();
      if (plan.timeout && timers_ != nullptr) {
        std::weak_ptr<Completion> weak = done;
        std::string route = d.route_name;
        done->timer = timers_->After(*plan.timeout, [weak, route] {
          if (auto c = weak.lock()) {
            c->timer = 0;
            c->Finish(http::ErrorResponse(504, "GatewayTimeout", "route " + route + " timed out"));
          }
        });
      }
      it->second(req, [done](http::Response&& r) { done->Finish(std::move(r)); });
      return;
    }
    case Decision::Kind::kUpstream: {
      if (proxy_ == nullptr) {
        finish(http::ErrorResponse(Unavailable("the reverse proxy is not configured")));
        return;
      }
      // Parsed when the table was built (decisions made otherwise: here, only then).
      std::optional<Result<http::UpstreamEndpoint>> parsed;
      if (!d.endpoint) parsed.emplace(ParseUpstream(d.upstream));
      const Result<http::UpstreamEndpoint>& endpoint = d.endpoint ? *d.endpoint : *parsed;
      if (!endpoint) {
        finish(http::ErrorResponse(502, "BadGateway",
                                   "route " + d.route_name + " names an invalid upstream " +
                                       d.upstream + ": " + endpoint.error().message()));
        return;
      }
      // The bearer credential skiff verified is not an upstream's business (Istio's
      // forwardOriginalToken: false); the identity headers say who called.
      ProxyTarget target;
      target.drop_authorization =
          req.principal && (std::string_view(req.principal->method) == "token" ||
                            std::string_view(req.principal->method) == "jwt");
      target.endpoint = *endpoint;
      if (target.endpoint.tls && target.endpoint.ca_file.empty()) {
        target.endpoint.ca_file = options_.upstream_ca_file;
      }
      target.path_and_query = OriginForm(req.path, req.raw_query);
      target.authority = std::move(plan.request.authority);  // the plan is ours, done with
      target.timeout = plan.timeout;
      target.retries = d.retries;
      // Request header operations are already applied to req.headers; the response's, and
      // x-request-id, the proxy applies last to every answer, as Completion::Finish would.
      target.answer_headers = std::move(plan.response_headers);
      target.echo_request_id = true;
      proxy_->Forward(req, std::move(target), std::move(respond));
      return;
    }
    case Decision::Kind::kReenter:
      break;  // Plan never ends on a re-entry
  }
  finish(http::ErrorResponse(Internal("unexpected routing decision")));
}

}  // namespace skiff::gateway
