#pragma once
// Client: an HTTP/1.1 client for upstreams, JWKS and the CLI. http:// and https:// (TLS with
// peer verification against the system store or a CA file), connect/response time-outs, a
// response size limit. The blocking form owns a private io_context per call and may be used
// from any non-I/O thread; the async form runs on the caller-provided executor's threads.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "http/http.hpp"

namespace skiff::http {

struct ClientRequest {
  std::string method = "GET";
  std::string url;  // absolute: http://host:port/path?query or https://...
  HeaderMap headers;
  std::string body;
  std::chrono::milliseconds timeout{30'000};  // whole exchange
  size_t max_response_bytes = 64 * 1024 * 1024;
  std::string ca_file;  // https: extra trust anchor (PEM); empty = system store
  bool insecure_skip_verify = false;
  // When set, only addresses it accepts ("127.0.0.1", "::1") are connected to: the resolved
  // addresses are filtered before connecting (so a DNS answer that changes between a check and the
  // connection cannot slip through), and PermissionDenied names the host when none is left.
  std::function<bool(std::string_view ip)> allow_address;
};

// Whether `ip` (a literal) is a public unicast address: false for loopback, private (10/8,
// 172.16/12, 192.168/16, fc00::/7), shared (100.64/10), link-local (169.254/16, where cloud
// metadata lives, fe80::/10), unspecified, multicast, broadcast and reserved ranges, the same in
// IPv4-mapped IPv6, and for anything that is not an address. For ClientRequest::allow_address
// where users name the URL (server-side request forgery).
bool IsPublicAddress(std::string_view ip);

struct ClientResponse {
  int status = 0;
  HeaderMap headers;
  std::string body;
};

// Blocking. Errors: Unavailable (resolve/connect/reset/TLS verification), DeadlineExceeded,
// InvalidArgument (bad URL, unreadable ca_file), ResourceExhausted (response too large),
// Unauthenticated is never used here. Sends "Connection: close" (one connection per call).
// Known limit: resolving a DNS name (getaddrinfo) cannot be interrupted, so a hung resolver can
// make a call outlast `timeout`; IP literals skip the resolver.
Result<ClientResponse> Fetch(const ClientRequest& request);

// Streams a response body piece by piece as it arrives (watch); `on_chunk` returns false to stop.
// Returns the response status. Blocking. `timeout` bounds connecting plus the response header,
// and then each wait for more body (not the whole stream); max_response_bytes does not apply.
Result<int> FetchStream(const ClientRequest& request,
                        const std::function<bool(std::string_view chunk)>& on_chunk);

}  // namespace skiff::http
