#pragma once
// Client: an HTTP/1.1 client for upstreams, JWKS and the CLI. http:// and https:// (TLS with
// peer verification against the system store or a CA file), connect/response time-outs, a
// response size limit. The blocking form owns a private io_context per call and may be used
// from any non-I/O thread; the async form runs on the caller-provided executor's threads.

#include <chrono>
#include <functional>
#include <memory>
#include <string>

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
};

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
