#pragma once
// skiff_http: HTTP/1.1 on Boost.Beast/Asio. Owns sockets, connections, limits, time-outs, TLS
// (listener and client), the router, the metrics of requests, and an HTTP client. Depends on
// skiff_core only. This header and router.hpp are sans-I/O: Asio/Beast appear only in .cpp files.
//
// Threading: the server runs one io_context per I/O thread; each connection is one coroutine on
// one of them. Handlers are called on an I/O thread and must not block; work that blocks
// (SQLite, files) is posted to blocking_pool(), CPU-heavy work to cpu_pool(). A Responder may be
// called from any thread, exactly once.

#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/principal.hpp"
#include "core/result.hpp"

namespace skiff::http {

struct HeaderMapCache;

// Ordered, case-insensitive header list. Keeps duplicates (Set replaces all, Add appends).
//
// Storage: every name and value lives in one character buffer, indexed by a vector of offsets:
// a map costs two allocations however many headers it holds (a copy too), and moving it costs
// none. Views returned by Get/GetAll and by iteration stay valid until the next Add, Set,
// Remove, RemoveIf or clear on the map (a growing buffer moves); a name or value passed to Add or
// Set may be a view of the same map. Remove and Set leave unused bytes behind, which the buffer
// drops when it next grows.
//
// Recycling: a map destroyed (or overwritten by a move) hands its two buffers, when of a usual
// size, to a small cache of its thread, and a map's first Add takes them from there. A proxied
// request's headers travel from the listener's parser to the upstream request and die there,
// and its response's from the upstream parser to the client's response: in steady state every
// map on an I/O thread reuses storage instead of allocating.
class HeaderMap {
 public:
  using Entry = std::pair<std::string_view, std::string_view>;  // (name, value)

  HeaderMap() = default;
  HeaderMap(const HeaderMap&) = default;
  HeaderMap& operator=(const HeaderMap&) = default;
  HeaderMap(HeaderMap&& o) noexcept
      : slots_(std::move(o.slots_)), text_(std::move(o.text_)), used_(o.used_), dead_(o.dead_) {
    o.Forget();
  }
  ~HeaderMap() { Recycle(); }
  HeaderMap& operator=(HeaderMap&& o) noexcept {
    if (this != &o) {
      Recycle();
      slots_ = std::move(o.slots_);
      text_ = std::move(o.text_);
      used_ = o.used_;
      dead_ = o.dead_;
      o.Forget();
    }
    return *this;
  }

  // The first value of `name`, or nullopt.
  std::optional<std::string_view> Get(std::string_view name) const;
  std::vector<std::string_view> GetAll(std::string_view name) const;
  bool Has(std::string_view name) const { return Find(name, 0) != kNone; }
  void Set(std::string_view name, std::string_view value);
  void Add(std::string_view name, std::string_view value);
  void Remove(std::string_view name);
  // Removes every entry for which pred(name, value) is true; keeps the others' order.
  template <class Pred>
  void RemoveIf(Pred pred) {
    size_t out = 0;
    for (size_t i = 0; i < slots_.size(); ++i) {
      if (pred(name(i), value(i))) {
        dead_ += slots_[i].name_len + slots_[i].value_len;
      } else {
        slots_[out++] = slots_[i];
      }
    }
    slots_.resize(out);
  }
  // Removes every entry; keeps the storage for reuse.
  void clear() {
    slots_.clear();
    used_ = 0;
    dead_ = 0;
  }
  size_t size() const { return slots_.size(); }

  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = Entry;
    using difference_type = std::ptrdiff_t;
    using reference = Entry;
    struct pointer {
      Entry e;
      const Entry* operator->() const { return &e; }
    };
    const_iterator() = default;
    Entry operator*() const { return {map_->name(i_), map_->value(i_)}; }
    pointer operator->() const { return {**this}; }
    const_iterator& operator++() {
      ++i_;
      return *this;
    }
    const_iterator operator++(int) {
      const_iterator before = *this;
      ++i_;
      return before;
    }
    bool operator==(const const_iterator& o) const { return i_ == o.i_; }

   private:
    friend class HeaderMap;
    const_iterator(const HeaderMap* map, size_t i) : map_(map), i_(i) {}
    const HeaderMap* map_ = nullptr;
    size_t i_ = 0;
  };
  const_iterator begin() const { return {this, 0}; }
  const_iterator end() const { return {this, slots_.size()}; }

  // Bytes of the character buffer no entry uses any more (for tests).
  size_t unused_bytes() const { return dead_; }

  // False when no name or value holds a CR or LF: one pass over the buffer every entry lives
  // in, sixteen bytes at a time, instead of one per name and value. True when one may (bytes of
  // removed entries count too: then check each entry).
  bool MayHoldCrLf() const;

 private:
  friend struct HeaderMapCache;
  struct Slot {
    uint32_t name_off;
    uint32_t name_len;
    uint32_t value_off;
    uint32_t value_len;
  };
  static constexpr size_t kNone = static_cast<size_t>(-1);
  static constexpr size_t kInitialEntries = 16;
  static constexpr size_t kInitialBytes = 512;

  std::string_view name(size_t i) const {
    return {text_.data() + slots_[i].name_off, slots_[i].name_len};
  }
  std::string_view value(size_t i) const {
    return {text_.data() + slots_[i].value_off, slots_[i].value_len};
  }
  // The index of the first entry from `from` on named `name`, or kNone.
  size_t Find(std::string_view name, size_t from) const;
  // Appends `a` then `b` to text_ and returns their offsets. Either may be a view of text_
  // itself: when the buffer must grow, the new one gets the bytes entries use (their offsets
  // rewritten), then `a` and `b`, before the old one is freed.
  std::pair<uint32_t, uint32_t> Append(std::string_view a, std::string_view b);
  // Append when text_ has no room: kept out of line, so that the usual append saves and restores
  // no registers for it.
  [[gnu::noinline]] std::pair<uint32_t, uint32_t> AppendGrowing(std::string_view a,
                                                                std::string_view b);
  void Forget() {
    slots_.clear();
    text_.clear();
    used_ = 0;
    dead_ = 0;
  }
  // Gives the buffers to this thread's cache (when they are worth keeping) and leaves the map
  // without storage.
  void Recycle() noexcept {
    if (slots_.capacity() != 0 || text_.capacity() > kInlineText) Give();
  }
  void Give() noexcept;
  // Takes cached buffers for a map without storage, if the cache has some.
  void Take();
  static constexpr size_t kInlineText = 15;  // a std::string's capacity without a buffer

  std::vector<Slot> slots_;
  // Names and values in text_[0, used_), dead_ of those bytes no longer used. The string's size
  // is the room there is (bytes past used_ are scratch): an append is two plain copies, without
  // std::string's checks and terminator per piece.
  std::string text_;
  size_t used_ = 0;
  size_t dead_ = 0;
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
// NormalizePath into `out`, whose storage a usual (already normal) path reuses; `out` is left
// unchanged on error.
Status NormalizePathInto(std::string_view raw_path, std::string& out);

}  // namespace skiff::http
