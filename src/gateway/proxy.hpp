#pragma once
// Proxy: the gateway's reverse proxy. Forwards one request to an HTTP/1.1 upstream chosen by
// routing, through an http::UpstreamPool, and streams the answer back. What it does to a request:
//   - drops hop-by-hop headers both ways (Connection and the headers it names, Keep-Alive,
//     Proxy-*, TE, Trailer, Transfer-Encoding, Upgrade except on upgrades; Content-Length is
//     rewritten from the actual framing);
//   - X-Forwarded-For: appends the client address; X-Forwarded-Proto and X-Forwarded-Host: the
//     scheme and Host the client used (a client's own values are replaced unless
//     ProxyOptions::trust_forwarded_headers); Via: appends "1.1 skiff" (request and response);
//     x-request-id passes through (set from AccessNotes::request_id when absent); Expect is
//     dropped (the server already answered 100-continue; the body is sent without waiting);
//   - Host is ProxyTarget::authority; then the route's header operations apply, in order;
//   - retries per the route's policy (Istio semantics: `attempts` is the number of RETRIES, so up
//     to attempts+1 tries; no back-off between tries). A request whose body is streamed
//     (Request::body_source) cannot be replayed: it is retried only after failures that happened
//     before its body was read (connect-failure, connect time-out);
//   - failures: connect refused/unreachable -> 503 (flag UF), connect or response time-out -> 504
//     (UF / UT), reset or malformed response -> 502 (UC); retries used up on a failure add URX.
//     The body is JSON ({"error","code","message"}) and names the upstream;
//   - the response body is streamed back (Response::stream) as it arrives; a 101 answer bridges
//     the client's and the upstream's connections both ways (Response::upgrade).
// It fills req.notes->upstream and req.notes->flags when notes is set.
//
// Threading: Forward may be called on any thread (normally a server I/O thread) and does not
// block; the Responder is called on a pool thread. The Proxy is thread-safe and must outlive
// the requests it forwards (like its pool).

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gateway/route_table.hpp"
#include "http/http.hpp"
#include "http/upstream.hpp"

namespace skiff::gateway {

struct ProxyTarget {
  http::UpstreamEndpoint endpoint;   // scheme, host, port, CA file / SNI (see ParseUpstreamUrl)
  std::string path_and_query = "/";  // origin-form target to send, after rewrites
  std::string authority;             // Host to send; empty = the client's Host
  std::vector<HeaderOp> request_headers;   // route operations on the forwarded request
  std::vector<HeaderOp> response_headers;  // route operations on the response
  // Istio `timeout`: bounds all tries until the response header (not the streamed body).
  // nullopt = ProxyOptions::default_timeout.
  std::optional<std::chrono::milliseconds> timeout;
  std::optional<Retries> retries;  // nullopt = a single try
  // Drop the client's Authorization (a credential skiff itself verified).
  bool drop_authorization = false;
  // The last steps on every answer, the proxy's own errors included: these operations (the
  // routes' response header operations, as the dispatcher collects them), then x-request-id set
  // to AccessNotes::request_id when `echo_request_id`, the notes have one and the answer has
  // none. What the dispatcher's Responder does for the other destinations, without wrapping
  // the proxy's.
  std::vector<HeaderOp> answer_headers;
  bool echo_request_id = false;
};

struct ProxyOptions {
  std::chrono::milliseconds default_timeout{300'000};
  // Keep X-Forwarded-Proto/X-Forwarded-Host sent by the client (skiff behind a trusted proxy,
  // e.g. an AWS ALB). X-Forwarded-For is always appended to, never replaced.
  bool trust_forwarded_headers = false;
};

// Istio retryOn conditions understood (Envoy's names): 5xx, gateway-error, connect-failure,
// reset, retriable-4xx (409), retriable-status-codes (with numeric codes in the same list, e.g.
// "503,retriable-status-codes" or just "503"), refused-stream (HTTP/2 only: never true here).
// Unknown names (gRPC ones: cancelled, unavailable, ...) are ignored.
struct RetryPolicy {
  int retries = 0;
  std::optional<std::chrono::milliseconds> per_try_timeout;
  bool on_5xx = false;
  bool on_gateway_error = false;
  bool on_connect_failure = false;
  bool on_reset = false;
  bool on_retriable_4xx = false;
  std::vector<int> status_codes;
  static RetryPolicy From(const Retries& r);
  // Whether an answer with this status is retried.
  bool RetryStatus(int status) const;
  // Whether a failure of this kind is retried.
  bool RetryFailure(http::UpstreamFailure f) const;
};

// A routing Decision's upstream: "host:port", "[v6]:port", "host" (port 80) or an http(s):// URL
// (the skiff.dev/upstream mapping; a path in it is ignored).
Result<http::UpstreamEndpoint> ParseUpstream(std::string_view upstream);

// Connects two byte streams both ways until either ends or fails; then closes both.
void Bridge(std::shared_ptr<http::ByteStream> a, std::shared_ptr<http::ByteStream> b);

class Proxy {
 public:
  // `pool` must outlive the Proxy.
  Proxy(http::UpstreamPool* pool, ProxyOptions options = {});

  // Forwards `req` (moving its headers and body out; `route` and `notes` stay) and answers
  // through `respond` exactly once. `target` is consumed (its strings moved out): taken by
  // reference, not by value, so that the caller's is not moved into a parameter first.
  void Forward(http::Request& req, ProxyTarget&& target, http::Responder respond) const;

 private:
  http::UpstreamPool* pool_;
  ProxyOptions options_;
};

}  // namespace skiff::gateway
