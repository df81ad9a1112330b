#pragma once
// UpstreamPool: an asynchronous HTTP/1.1 client for the gateway's reverse proxy. Keeps
// keep-alive connections per upstream (scheme, host, port, TLS settings), streams request bodies
// to the upstream as they arrive (chunked when their length is unknown) and response bodies back
// as they arrive, and hands over the raw connection after a 101 (WebSocket).
//
// Threading: Send called on one of an http::Server's I/O threads runs the exchange on that
// thread's own io_context (its connections are pooled per server thread, and `done`, body reads
// and their callbacks all run on that thread: a proxied request never changes threads); the
// server's io_context closes those idle connections when it is destroyed. Send called on any
// other thread uses the pool's own io_context(s) on `threads` threads. Every socket is touched
// only on its io_context's thread. Send, Body::Read/Cancel and the tunnel's methods may be
// called from any thread. Callbacks run on the exchange's thread and must not block. REQUIRES: the
// pool outlives every exchange, body and tunnel it produced (destroy it after the Server that
// serves proxied responses has shut down); its destructor closes idle connections and joins its
// threads.
//
// Failures are reported twice: as a Status (DeadlineExceeded for time-outs, Unavailable for
// refused/reset/TLS, InvalidArgument for bad input, ResourceExhausted for an oversized response
// header) whose message names the upstream ("upstream 127.0.0.1:9 refused the connection"), and
// as an UpstreamFailure kind, so that the proxy can pick 502/503/504 and Envoy response flags.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/result.hpp"
#include "http/http.hpp"

namespace skiff::http {

struct UpstreamPoolOptions {
  // I/O threads, each with its own connection pools, for Send calls from threads that are not
  // a Server's I/O threads. A thread calling Send always uses the same one.
  int threads = 1;
  size_t max_idle_per_upstream = 32;               // idle keep-alive connections kept per upstream
  std::chrono::milliseconds idle_timeout{60'000};  // an idle connection is closed after this
  std::chrono::milliseconds connect_timeout{5'000};  // TCP connect plus TLS handshake
  // Each wait for more response body. (Writes of the request are bounded by the request's
  // response_timeout.)
  std::chrono::milliseconds io_timeout{60'000};
  size_t max_response_header_bytes = 64 * 1024;
  // A response whose Content-Length is at most this is read whole before `done` runs and handed
  // over in UpstreamResponse::buffered_body (one thread hand-off instead of one per piece, and
  // the proxy can keep the Content-Length). 0 turns it off.
  size_t buffer_body_bytes = 64 * 1024;
};

// Where to connect. Connections are pooled per distinct value of all fields.
struct UpstreamEndpoint {
  bool tls = false;
  std::string host;  // DNS name or IP literal (IPv6 without brackets)
  uint16_t port = 80;
  std::string ca_file;  // TLS: extra trust anchor (PEM); empty = system store
  std::string sni;      // TLS: server name to send and verify; empty = host (unless an IP)
  bool insecure_skip_verify = false;

  std::string Authority() const;  // "host:port" ("[::1]:80" for IPv6), for messages and logs
  std::string Key() const;        // the pool key
};

// Parses "http://host[:port]" or "https://..." (a path, if any, is ignored).
Result<UpstreamEndpoint> ParseUpstreamUrl(std::string_view url);

struct UpstreamRequest {
  UpstreamEndpoint endpoint;
  std::string method = "GET";
  std::string target = "/";  // origin-form: path and query
  // Sent as given (the caller strips hop-by-hop headers and sets Host). The pool itself writes
  // Content-Length or Transfer-Encoding and, for upgrades, "Connection: upgrade"; any of
  // these three in `headers` is ignored.
  HeaderMap headers;
  std::string body;  // used when body_source is null
  // Streamed body: read and written as it arrives; chunked unless it declares a length. A
  // streamed body cannot be replayed, so such a request is never retried by the pool.
  std::shared_ptr<BodySource> body_source;
  // Upgrade request (WebSocket): headers must carry Upgrade; the pool adds "Connection: upgrade".
  bool upgrade = false;
  // From the start of sending until the response header has arrived (reset by each piece of a
  // streamed request body sent).
  std::chrono::milliseconds response_timeout{30'000};
};

enum class UpstreamFailure {
  kNone,
  kConnectFailure,   // resolve failed, connection refused, unreachable, TLS handshake failed
  kConnectTimeout,   // connect or TLS handshake took longer than connect_timeout
  kResponseTimeout,  // no complete response header within response_timeout (or a stalled write)
  kReset,            // the upstream closed or reset the connection before a full response header
  kProtocol,         // malformed or oversized response header
  kRequestBody,      // the client's streamed request body failed (client gone, too large, ...)
  kInvalid,          // bad request data (unreadable CA file, header injection)
};
std::string_view UpstreamFailureName(UpstreamFailure f);

// A response body read as it arrives. Read errors: DeadlineExceeded (io_timeout), Unavailable
// (reset or truncated). When it has been read to the end on a keep-alive exchange the connection
// goes back to the pool; otherwise (Cancel, destruction before the end, errors) it is closed.
class UpstreamBody : public BodySource {
 public:
  // Stops reading: a pending Read completes with an error (Cancelled) and the connection is
  // closed. Idempotent; any thread.
  virtual void Cancel() = 0;
  // Bytes received from the upstream but not yet handed to Read (for memory-bound checks).
  virtual size_t buffered_bytes() const = 0;
};

struct UpstreamResponse {
  int status = 0;
  HeaderMap headers;  // as received, hop-by-hop headers included
  // Never null (an empty body ends at once), except for a 101: then `tunnel` is set.
  std::shared_ptr<UpstreamBody> body;
  // After 101 Switching Protocols: the upstream's side of the connection (bytes it sent after
  // the head come first).
  std::shared_ptr<ByteStream> tunnel;
  // The whole body, when its Content-Length was at most UpstreamPoolOptions::buffer_body_bytes
  // (then `body` is already at its end and the connection back in the pool). A failure while
  // reading it is a failure of the exchange (kReset / kResponseTimeout), not of `body`.
  std::optional<std::string> buffered_body;
  bool reused_connection = false;  // sent on a pooled keep-alive connection
  bool retried = false;            // a stale pooled connection failed; sent again on a fresh one
};

struct UpstreamStats {
  uint64_t connections_opened = 0;
  uint64_t exchanges = 0;
  uint64_t reused = 0;
  size_t idle = 0;  // idle pooled connections now
};

class UpstreamPool {
 public:
  using Callback = std::function<void(Result<UpstreamResponse>, UpstreamFailure)>;

  explicit UpstreamPool(UpstreamPoolOptions options = {});
  ~UpstreamPool();
  UpstreamPool(const UpstreamPool&) = delete;
  UpstreamPool& operator=(const UpstreamPool&) = delete;

  // Starts one exchange. `done` runs exactly once on the exchange's thread (see Threading), with
  // the response once its header has arrived (the body follows through UpstreamResponse::body), or
  // an error and its kind (never kNone). A pooled connection that fails before any response byte is
  // retried once on a fresh connection when the method is idempotent (GET, HEAD, OPTIONS, TRACE,
  // PUT, DELETE) and the body is not streamed.
  void Send(UpstreamRequest&& request, Callback done);
  // The same with a copy of `request` (the usual caller moves its request in).
  void Send(const UpstreamRequest& request, Callback done) {
    Send(UpstreamRequest(request), std::move(done));
  }

  UpstreamStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace skiff::http
