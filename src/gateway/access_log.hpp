#pragma once
// The gateway's access log: one line per request, Envoy-like, written by a background thread so
// the I/O threads only format and queue. Two formats:
//
//   text (default):
//     [START] "METHOD PATH PROTOCOL" CODE FLAGS BYTES_RECEIVED BYTES_SENT DURATION_MS
//     "X-FORWARDED-FOR" "USER-AGENT" "REQUEST-ID" "AUTHORITY" "UPSTREAM" "ROUTE" "USER"
//   e.g.
//     [2026-11-28T16:50:00.123456Z] "POST /v1/models/iris:predict HTTP/1.1" 200 - 52 21 1
//     "127.0.0.1" "curl/7.88.1" "6f1c..." "iris.default.example.com" "model default/iris"
//     "serving" "alice@example.com"
//   json: one object per line with the same fields: start_time, method, path, protocol,
//     response_code, response_flags, bytes_received, bytes_sent, duration_ms,
//     downstream_remote_address, user_agent, request_id, authority, upstream_host, route_name,
//     user.
//
// "-" stands for an empty field. Values of query parameters that carry credentials (code,
// state, token, access_token, id_token, refresh_token, password, client_secret, ...) are
// replaced by "REDACTED"; headers other than the ones above are never logged. Thread-safe.

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/result.hpp"
#include "http/server.hpp"

namespace skiff::gateway {

enum class AccessLogFormat { kText, kJson };

// One line (without the newline) for a record.
std::string FormatAccessRecord(const http::AccessRecord& record, AccessLogFormat format);
// The target with credential-bearing query values redacted.
std::string RedactTarget(std::string_view target);

class AccessLog {
 public:
  // `destination`: "stdout", "stderr" or a file path (appended to, created 0640).
  // `max_queued_lines`: lines waiting for the writer beyond this are dropped and counted.
  static Result<std::unique_ptr<AccessLog>> Open(const std::string& destination,
                                                 AccessLogFormat format,
                                                 size_t max_queued_lines = 65536);
  // Writes what is queued, then closes.
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  // Formats and queues; never blocks on I/O.
  void Write(const http::AccessRecord& record);
  // Blocks until every line queued so far is written (tests, shutdown).
  void Flush();
  uint64_t dropped() const;

 private:
  AccessLog(int fd, bool owns_fd, AccessLogFormat format, size_t max_queued);
  void Run();

  const int fd_;
  const bool owns_fd_;
  const AccessLogFormat format_;
  const size_t max_queued_;
  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  std::condition_variable flushed_cv_;
  std::string pending_;  // lines waiting for the writer
  size_t pending_lines_ = 0;
  uint64_t queued_total_ = 0;   // lines ever queued
  uint64_t written_total_ = 0;  // lines the writer has written
  uint64_t dropped_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace skiff::gateway
