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
  std::string ca_file;        // https: extra trust anchor (PEM); empty = system store
  bool insecure_skip_verify = false;
};

struct ClientResponse {
  int status = 0;
  HeaderMap headers;
  std::string body;
};

// Blocking. Errors: Unavailable (connect/reset), DeadlineExceeded, InvalidArgument (bad URL),
// ResourceExhausted (response too large), Unauthenticated is never used here.
Result<ClientResponse> Fetch(const ClientRequest& request);

// Streams a response body chunk by chunk (watch). `on_chunk` returns false to stop. Blocking.
Result<int> FetchStream(const ClientRequest& request,
                        const std::function<bool(std::string_view chunk)>& on_chunk);

}  // namespace skiff::http
