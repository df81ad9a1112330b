#pragma once
// Server: the HTTP/1.1 listener. Accepts on one address, runs each connection as a coroutine
// on one of `io_threads` io_contexts, enforces limits, calls the root handler per request and
// records metrics. Thread-safe: Start/Shutdown may be called from any thread.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/metrics.hpp"
#include "core/result.hpp"
#include "http/client.hpp"
#include "http/http.hpp"

namespace skiff::http {

// One finished request, for the access log (ServerOptions::access_log). Also written for
// requests the server refused itself (400, 408, 413, 431, 501): their notes are empty.
struct AccessRecord {
  std::chrono::system_clock::time_point start;  // first byte of the request
  std::string method;                           // as sent ("" when the request line was bad)
  std::string target;                           // raw request-target as sent
  std::string path;                             // normalized path; "" when not reached
  int version = 11;                             // 10 or 11
  int status = 0;               // 0: nothing was written (the client went away first)
  uint64_t bytes_received = 0;  // request body bytes (tunnel bytes from the client included)
  uint64_t bytes_sent = 0;      // response body bytes (stream chunks and tunnel bytes included)
  std::chrono::microseconds duration{0};  // first request byte to last response byte
  std::string remote_addr;                // "127.0.0.1:54321"
  std::string host;                       // the Host header
  std::string user_agent;
  std::string route;  // Request::route as the router left it
  AccessNotes notes;  // what the handler wrote into Request::notes
  // What the server decided itself, Envoy-style and comma-separated: "DC" the client went away
  // before the response was complete, "SI" a tunnel's idle time-out, "DPE" a malformed
  // request refused with 400 or 501, "RT" the request (header or body) timed out.
  std::string flags;
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0 picks a free port
  int io_threads = 0;    // 0 = hardware concurrency
  int blocking_threads = 8;
  int cpu_threads = 0;                               // 0 = hardware concurrency
  size_t max_header_bytes = 16 * 1024;               // request line + headers; over -> 431
  size_t max_body_bytes = 8 * 1024 * 1024;           // over -> 413
  std::chrono::milliseconds header_timeout{10'000};  // to receive a full header -> 408
  std::chrono::milliseconds body_timeout{60'000};    // to receive the body -> 408
  std::chrono::milliseconds idle_timeout{60'000};    // keep-alive between requests -> close
  std::chrono::milliseconds write_timeout{60'000};   // per write of a response or chunk
  // A handler that has not responded by then gets 504 (streams are exempt once started).
  std::chrono::milliseconds handler_timeout{300'000};
  size_t max_connections = 10'000;  // over -> 503 and close
  std::chrono::milliseconds shutdown_grace{10'000};
  std::string server_header = "skiff";
  // HTTPS: when both are set the listener speaks TLS (TLS 1.2+). PEM files: the server
  // certificate chain and its private key. The handshake must finish within header_timeout.
  std::string tls_cert_file;
  std::string tls_key_file;
  // With TLS on, a connection whose first byte is not a TLS handshake record is served as
  // plain HTTP on the same port (curl, probes, browsers on loopback) unless this is set.
  bool tls_only = false;

  // Streamed request bodies (the gateway's proxy). Called on the I/O thread with a request's
  // head (method, target, path, raw_query, headers, remote_addr, tls set; body empty) once the
  // header has arrived; must not block. When it returns true the handler is called at once with
  // Request::body_source set (for bodiless requests too: its first Read gives nullopt) and
  // reads the body itself; "Expect: 100-continue" is answered at its first Read. Body bytes the
  // handler leaves unread when it answers are drained (up to 256 KiB, else the connection
  // closes after the response). Null: every body is buffered into Request::body.
  std::function<bool(const Request& head)> stream_body;
  // Limit of a streamed body: a larger Content-Length is refused with 413 before the handler
  // runs, a chunked body past it makes Read fail with ResourceExhausted. 0 = unlimited.
  size_t max_streamed_body_bytes = 0;

  // An upgraded connection (Response::upgrade) with no byte either way for this long is closed.
  std::chrono::milliseconds tunnel_idle_timeout{3'600'000};

  // Called once per request on the connection's I/O thread, after the response has been written
  // (or the connection failed first). Must not block; null: no access log.
  std::function<void(const AccessRecord&)> access_log;
};

class Server {
 public:
  // `metrics` may be null; otherwise it must outlive the Server, and no other Server may register
  // on it (families would be duplicated). Registers skiff_http_requests_total{route,method,code},
  // skiff_http_request_duration_seconds{route,method}, skiff_http_open_connections. Requests
  // that never reached the handler (400, 408, 413, 431, 501) are counted with route="".
  Server(ServerOptions options, Handler root, MetricsRegistry* metrics);
  // Shuts down (if needed), then joins the pools: tasks still queued there are dropped, and
  // their Responders answer nothing (the connections are gone).
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts the I/O threads. Returns the bound port. Errors: InvalidArgument (bad host,
  // unreadable TLS files), Unavailable (cannot listen).
  Result<uint16_t> Start();
  // Stops accepting, lets in-flight requests finish (bounded by the grace period), cancels
  // streams and idle keep-alive connections, then stops the threads. Idempotent. Blocks until
  // done, except when called on one of the server's own I/O threads (from a handler): then it
  // starts the shutdown on a helper thread and returns at once.
  void Shutdown();
  // Blocks until Shutdown has completed (returns at once if Start never succeeded).
  void Wait();
  // Reads ServerOptions::tls_cert_file/tls_key_file again and uses them for new connections;
  // connections already open keep the certificate they started with. On error (unreadable
  // files, a key that does not match) the old certificate stays in use. Errors:
  // FailedPrecondition (TLS is off), InvalidArgument. Blocking (reads files): call it from a
  // signal-handling or blocking-pool thread, not from an I/O thread. Thread-safe.
  Status ReloadTls();

  // Pools for handlers' blocking and CPU-bound work. Valid for the Server's lifetime; tasks
  // posted after Shutdown may never run.
  TaskRunner& blocking_pool();
  TaskRunner& cpu_pool();

  // An asynchronous HTTP/1.1 exchange (same semantics and errors as http::Fetch) run on one of
  // the server's I/O threads, for proxying without blocking. `done` is called exactly once on
  // an I/O thread and must not block, unless the server shuts down first: then the exchange is
  // abandoned and `done` is destroyed without being called. One connection per exchange (no
  // pooling). REQUIRES: Start() succeeded.
  void Fetch(ClientRequest request, std::function<void(Result<ClientResponse>)> done);
  uint16_t port() const;
  size_t open_connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace skiff::http
