#pragma once
// skiff_http: HTTP/1.1 on Boost.Beast/Asio. Owns sockets, connections, limits, time-outs, TLS
// (listener and client), the router, the metrics of requests, and an HTTP client. Depends on
// skiff_core only. This header and router.hpp are sans-I/O: Asio/Beast appear only in .cpp files.
//
// Threading: the server runs one io_context per I/O thread; each connection is one coroutine on
// one of them. Handlers are called on an I/O thread and must not block; work that blocks
// (SQLite, files) is posted to blocking_pool(), CPU-heavy work to cpu_pool(). A Responder may be
// called from any thread, exactly once.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/principal.hpp"
#include "core/result.hpp"

namespace skiff::http {

// Ordered, case-insensitive header list. Keeps duplicates (Set replaces all, Add appends).
class HeaderMap {
 public:
  using Entry = std::pair<std::string, std::string>;
  // The first value of `name`, or nullopt.
  std::optional<std::string_view> Get(std::string_view name) const;
  std::vector<std::string_view> GetAll(std::string_view name) const;
  bool Has(std::string_view name) const { return Get(name).has_value(); }
  void Set(std::string_view name, std::string_view value);
  void Add(std::string_view name, std::string_view value);
  void Remove(std::string_view name);
  // Removes every entry for which pred(name, value) is true; keeps the others' order.
  template <class Pred>
  void RemoveIf(Pred pred) {
    std::erase_if(entries_, [&](const Entry& e) { return pred(e.first, e.second); });
  }
  // Removes every entry; keeps the storage for reuse.
  void clear() { entries_.clear(); }
  size_t size() const { return entries_.size(); }
  std::vector<Entry>::const_iterator begin() const { return entries_.begin(); }
  std::vector<Entry>::const_iterator end() const { return entries_.end(); }

 private:
  static constexpr size_t kInitialCapacity = 16;
  std::vector<Entry> entries_;
};

bool EqualsIgnoreCaseSameSize(std::string_view a, std::string_view b);
// ASCII case-insensitive equality (header names, tokens). The size check is inline: most
// comparisons of header names fail on it.
inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && EqualsIgnoreCaseSameSize(a, b);
}
// `s` without leading and trailing optional whitespace (RFC 9110 OWS: spaces and tabs).
std::string_view TrimOws(std::string_view s);

// A request body read as it arrives, for handlers that forward large bodies (the gateway's
// proxy). The server sets Request::body_source (and leaves Request::body empty) when
// ServerOptions::stream_body returns true for the request's head.
class BodySource {
 public:
  virtual ~BodySource() = default;
  // Calls `ready` exactly once, from any thread, with the next piece of the body (never
  // empty), nullopt at the end of the body, or an error: DeadlineExceeded (body time-out),
  // InvalidArgument (malformed chunked encoding), ResourceExhausted (over the limit),
  // Unavailable (the client went away). Call Read again only after `ready` has run.
  virtual void Read(std::function<void(Result<std::optional<std::string>>)> ready) = 0;
  // The declared Content-Length, or nullopt for a chunked body.
  virtual std::optional<uint64_t> content_length() const = 0;
};

// A bidirectional byte stream after a protocol switch (WebSocket): one side of a tunnel.
class ByteStream {
 public:
  virtual ~ByteStream() = default;
  // Calls `ready` exactly once, from any thread, with the next bytes (never empty), nullopt
  // at end of stream, or an error. One Read at a time.
  virtual void Read(std::function<void(Result<std::optional<std::string>>)> ready) = 0;
  // Writes all of `data`; calls `done` exactly once with the outcome. One Write at a time.
  virtual void Write(std::string data, std::function<void(Status)> done) = 0;
  // Closes both directions; pending Read/Write complete with errors. Idempotent; any thread.
  virtual void Close() = 0;
};

// What handlers tell the access log about a request. The server creates one per request
// (Request::notes) and reads it after the response is written; handlers fill it before they
// call the Responder.
struct AccessNotes {
  std::string route_name;  // the gateway route that matched: "team-a/kfserving-iap[0]"
  std::string upstream;    // "127.0.0.1:9000", "model team-a/sklearn-iap", "api"
  std::string user;        // the authenticated principal's name
  std::string flags;       // Envoy-style response flags: "NR", "UF", "UT", "URX", "FI", "DI"
  std::string request_id;  // x-request-id, generated or propagated
};

struct Request {
  std::string method;     // as sent, e.g. "GET"
  std::string target;     // raw request-target as sent
  std::string path;       // percent-decoded, normalized path (no "." or ".." segments)
  std::string raw_query;  // the part after '?', not decoded
  HeaderMap headers;
  std::string body;
  std::string remote_addr;  // "127.0.0.1:54321"
  bool keep_alive = true;
  bool tls = false;  // the connection is TLS
  // Set by authentication before dispatch; empty for public routes.
  std::optional<Principal> principal;
  // Set by the router: the route's name (for metrics and logs) and the pattern's remainder
  // for prefix routes ("/api/*" matched by "/api/v1" gives "v1").
  std::string route;
  std::string path_rest;
  // Set by the server when ServerOptions::stream_body chose to stream this request's body.
  std::shared_ptr<BodySource> body_source;
  // Never null for requests the server dispatches.
  std::shared_ptr<AccessNotes> notes;

  // Decoded value of the first query parameter `name` ("a+b" and "a%20b" both give "a b").
  std::optional<std::string> Query(std::string_view name) const;
};

// A body produced over time (Kubernetes watch streams, logs). The connection pulls chunks and
// writes each as it comes (chunked transfer encoding).
class BodyStream {
 public:
  virtual ~BodyStream() = default;
  // Calls `ready` exactly once, from any thread, with the next chunk, or nullopt when the
  // stream has ended. The connection calls Pull again only after `ready` has run.
  virtual void Pull(std::function<void(std::optional<std::string>)> ready) = 0;
  // What the connection calls instead of Pull: like Pull, but the answer may also be an error,
  // meaning the body failed midway (an upstream reset or timed out). The connection then closes
  // without ending the body (no final chunk), so the client sees a truncated response rather
  // than a complete one, and calls neither Pull nor Cancel again. The default calls Pull (a
  // stream that cannot fail). Same threading and once-only rules as Pull.
  virtual void PullOrFail(std::function<void(Result<std::optional<std::string>>)> ready) {
    Pull([ready = std::move(ready)](std::optional<std::string> chunk) {
      ready(Result<std::optional<std::string>>(std::move(chunk)));
    });
  }
  // The client went away or the server is shutting down: a pending Pull must complete
  // promptly (with nullopt) and later ones at once. May be called from any thread.
  virtual void Cancel() = 0;
};

struct Response {
  int status = 200;
  HeaderMap headers;
  std::string body;
  // When set, `body` is ignored and the stream's chunks are the body.
  std::shared_ptr<BodyStream> stream;
  // With status 101: after writing the head the connection stops speaking HTTP and calls
  // `upgrade` with the client's side of the connection; the connection closes when that
  // ByteStream is closed (by the callee) or the client goes away.
  std::function<void(std::shared_ptr<ByteStream> client)> upgrade;
  // An answer to HEAD without its body: the Content-Length the body would have (a proxied
  // HEAD passes the upstream's on). Unset: the length of `body`.
  std::optional<uint64_t> head_content_length;

  static Response Text(int status, std::string body);
  static Response Json(int status, std::string body);
};

// Completes a request. Call exactly once, from any thread; later calls are ignored. If every
// copy of a Responder is destroyed without having been called, the server answers 500.
using Responder = std::function<void(Response)>;
// The shape every request handler has at the server's edge. The Request& is valid only until the
// handler returns: a handler that answers later must copy or move out what it needs (moving from
// the request is allowed, but leave `route` in place: the server reads it for metrics after the
// handler returns; Router's pooled routes do this for you).
using Handler = std::function<void(Request&, Responder)>;

// Runs tasks on a pool of threads (the server's blocking or CPU pool).
class TaskRunner {
 public:
  virtual ~TaskRunner() = default;
  virtual void Post(std::function<void()> task) = 0;
};

// Decodes %XX escapes (and '+' as space when `plus_is_space`). Returns nullopt on a
// malformed escape.
std::optional<std::string> PercentDecode(std::string_view s, bool plus_is_space);
std::string PercentEncode(std::string_view s);
// Normalizes a request path: must start with '/', decodes percent escapes, rejects encoded
// '/' (%2F), NUL, backslash, "." / ".." segments that would escape the root and dot segments
// with parameters ("..;x", which servlet containers resolve as ".."), and collapses duplicate
// slashes. Returns InvalidArgument with a reason on ambiguity.
Result<std::string> NormalizePath(std::string_view raw_path);

}  // namespace skiff::http
