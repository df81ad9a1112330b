#pragma once
// Server: the HTTP/1.1 listener. Accepts on one address, runs each connection as a coroutine
// on one of `io_threads` io_contexts, enforces limits, calls the root handler per request and
// records metrics. Thread-safe: Start/Shutdown may be called from any thread.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "core/metrics.hpp"
#include "core/result.hpp"
#include "http/http.hpp"

namespace skiff::http {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0 picks a free port
  int io_threads = 0;    // 0 = hardware concurrency
  int blocking_threads = 8;
  int cpu_threads = 0;  // 0 = hardware concurrency
  size_t max_header_bytes = 16 * 1024;       // request line + headers; over -> 431
  size_t max_body_bytes = 8 * 1024 * 1024;  // over -> 413
  std::chrono::milliseconds header_timeout{10'000};  // to receive a full header -> 408
  std::chrono::milliseconds body_timeout{60'000};    // to receive the body -> 408
  std::chrono::milliseconds idle_timeout{60'000};    // keep-alive between requests -> close
  std::chrono::milliseconds write_timeout{60'000};   // per write of a response or chunk
  // A handler that has not responded by then gets 504 (streams are exempt once started).
  std::chrono::milliseconds handler_timeout{300'000};
  size_t max_connections = 10'000;  // over -> 503 and close
  std::chrono::milliseconds shutdown_grace{10'000};
  std::string server_header = "skiff";
};

class Server {
 public:
  // `metrics` may be null. Registers skiff_http_requests_total{route,method,code},
  // skiff_http_request_duration_seconds{route,method}, skiff_http_open_connections.
  Server(ServerOptions options, Handler root, MetricsRegistry* metrics);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts the I/O threads. Returns the bound port.
  Result<uint16_t> Start();
  // Stops accepting, lets in-flight requests finish (bounded by the grace period), cancels
  // streams and idle keep-alive connections, then stops the threads. Idempotent.
  void Shutdown();
  // Blocks until Shutdown has completed.
  void Wait();

  TaskRunner& blocking_pool();
  TaskRunner& cpu_pool();
  uint16_t port() const;
  size_t open_connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace skiff::http
