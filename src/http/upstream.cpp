#include "http/upstream.hpp"

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/url/parse.hpp>
#include <charconv>
#include <cstring>
#include <deque>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/caching_allocator.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "http/copy_piece.hpp"
#include "http/head_parser.hpp"
#include "http/server_internal.hpp"

namespace skiff::http {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace ssl = boost::asio::ssl;
namespace bhttp = boost::beast::http;
using boost::system::error_code;
using net::ip::tcp;
using std::chrono::milliseconds;
using std::chrono::steady_clock;
using Piece = Result<std::optional<std::string>>;

// A response parser that fills a HeaderMap straight from Beast's callbacks (no intermediate
// beast::http::fields, whose every field is a separate allocation) and writes body bytes into
// a window the caller sets, as beast::http::buffer_body does: when the window is full (or not
// set) the parse stops with error::need_buffer.
class Parser final : public bhttp::basic_parser<false> {
 public:
  int status() const { return status_; }
  HeaderMap& headers() { return headers_; }
  // The window for the next body bytes; body_left() is what remains of it after a parse.
  void set_body(char* data, size_t size) {
    data_ = data;
    left_ = size;
  }
  size_t body_left() const { return left_; }

 private:
  void on_request_impl(bhttp::verb, beast::string_view, beast::string_view, int,
                       error_code& ec) override {
    ec = bhttp::error::bad_method;  // never called for a response parser
  }
  void on_response_impl(int code, beast::string_view, int, error_code&) override { status_ = code; }
  void on_field_impl(bhttp::field, beast::string_view name, beast::string_view value,
                     error_code&) override {
    headers_.Add({name.data(), name.size()}, {value.data(), value.size()});
  }
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(const boost::optional<uint64_t>&, error_code&) override {}
  size_t on_body_impl(beast::string_view body, error_code& ec) override { return Put(body, ec); }
  void on_chunk_header_impl(uint64_t, beast::string_view, error_code&) override {}
  size_t on_chunk_body_impl(uint64_t, beast::string_view body, error_code& ec) override {
    return Put(body, ec);
  }
  void on_finish_impl(error_code&) override {}

  size_t Put(beast::string_view body, error_code& ec) {
    if (data_ == nullptr) {
      ec = bhttp::error::need_buffer;
      return 0;
    }
    size_t n = std::min(left_, body.size());
    std::memcpy(data_, body.data(), n);
    data_ += n;
    left_ -= n;
    if (n < body.size()) ec = bhttp::error::need_buffer;
    return n;
  }

  int status_ = 0;
  HeaderMap headers_;
  char* data_ = nullptr;
  size_t left_ = 0;
};

constexpr size_t kPieceBytes = 64 * 1024;
constexpr size_t kReadBytes = 16 * 1024;  // an upstream connection's read buffer

auto Nothrow(error_code& ec) { return net::redirect_error(net::use_awaitable, ec); }

std::string Ms(milliseconds d) { return std::to_string(d.count()) + " ms"; }

struct Shard;

struct Link;

struct PoolCore {
  UpstreamPoolOptions options;
  // Distinguishes pools in the server io_contexts' BorrowedShards (addresses are reused).
  const uint64_t id = [] {
    static std::atomic<uint64_t> next{1};
    return next.fetch_add(1);
  }();
  std::mutex borrowed_mu;                       // guards borrowed
  std::vector<std::shared_ptr<Link>> borrowed;  // shards on server I/O threads' io_contexts
  std::vector<std::unique_ptr<Shard>> shards;
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> opened{0};
  // Counted on every exchange by every thread: sharded (an atomic each would move between the
  // cores' caches on every request).
  ShardedSum<uint64_t> exchanges;
  ShardedSum<uint64_t> reused;
  ShardedSum<int64_t> idle;
  // The pool's destructor has stopped the threads: objects destroyed from now on (handlers
  // dropped by the io_context's destruction) must not post to it.
  std::atomic<bool> stopping{false};
};

class Conn;

// One I/O thread and the connections it owns. `idle` and `tls_cache` are touched only on the
// shard's thread. Owned shards run their own io_context on a pool thread; borrowed shards use a
// server I/O thread's io_context (exchanges started there stay there: no thread hand-offs).
struct Shard {
  Shard(PoolCore* core, net::io_context* borrowed)
      : core(core),
        own(borrowed != nullptr ? nullptr : std::make_unique<net::io_context>(1)),
        ctx(borrowed != nullptr ? *borrowed : *own) {
    if (own) {
      guard.emplace(net::make_work_guard(*own));
      sweep.emplace(ctx);
    }
  }
  bool OnThread() const { return internal::CurrentIoContext() == &ctx; }
  PoolCore* core;
  std::unique_ptr<net::io_context> own;  // null for a borrowed shard
  net::io_context& ctx;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> guard;
  std::thread thread;
  // Owned shards only (a borrowed shard may outlive its io_context): borrowed ones sweep when a
  // connection returns.
  std::optional<net::steady_timer> sweep;
  steady_clock::time_point last_sweep;
  // Borrowed: the server's io_context is shutting down (set on its destroying thread).
  bool dead = false;
  std::unordered_map<std::string, std::deque<std::shared_ptr<Conn>>> idle;
  std::map<std::string, std::shared_ptr<ssl::context>> tls_cache;
  // The last body read whole with its head (FastExchange's lean path), handed out again to the
  // next one of the same length: such a body is immutable (at its end, Cancel does nothing).
  std::shared_ptr<UpstreamBody> last_ended;
  uint64_t last_ended_length = 0;
};

// One upstream connection: plain or TLS, with a watchdog that closes it when the current
// operation outlives its deadline. Touched only on its shard's thread.
class Conn : public std::enable_shared_from_this<Conn> {
 public:
  Conn(Shard* shard, std::string key, std::string authority)
      : shard(shard),
        key(std::move(key)),
        authority(std::move(authority)),
        plain_(shard->ctx),
        timer_(shard->ctx) {
    // Beast reads at most max(512, free capacity) bytes at a time: room for a whole small
    // response in one read instead of 512-byte pieces.
    buf.reserve(kReadBytes);
  }

  tcp::socket& Socket() { return tls_ ? tls_->next_layer() : plain_; }
  bool Plain() const { return !tls_; }
  // Calls f(stream) with the stream that carries HTTP (the TLS stream or the socket).
  template <class F>
  decltype(auto) Stream(F&& f) {
    if (tls_) return f(*tls_);
    return f(plain_);
  }
  void UseTls(std::shared_ptr<ssl::context> ctx) {
    tls_ctx_ = std::move(ctx);
    tls_.emplace(std::move(plain_), *tls_ctx_);
  }
  ssl::stream<tcp::socket>& tls() { return *tls_; }

  // The watchdog is lazy, like the server connection's: a deadline later than the pending
  // wait's expiry is a plain store (the wait re-arms when it fires), so the usual exchange
  // costs no timer operation. When the deadline passes, the connection is closed (pending
  // operations fail) and timed_out is set.
  void Arm(milliseconds d) {
    timed_out = false;
    deadline_ = steady_clock::now() + d;
    if (!waiting_) {
      timer_.expires_at(deadline_);
      Wait();
    } else if (deadline_ < timer_.expiry()) {
      timer_.expires_at(deadline_);  // ends the pending wait; OnTimer waits again
    }
  }
  void Disarm() { deadline_ = steady_clock::time_point::max(); }
  void Close() {
    closed = true;
    error_code ec;
    if (resolver) resolver->cancel();
    Socket().close(ec);
    timer_.cancel();  // drops the pending wait's reference
  }
  // An idle connection the peer has closed (EOF, seen with `probe`) or that holds unexpected
  // bytes is not reusable.
  bool LooksAlive(bool probe) {
    if (closed || !Socket().is_open() || buf.size() > 0) return false;
    if (!probe) return true;
    char c;
    ssize_t n = ::recv(Socket().native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }

  Shard* shard;
  const std::string key;
  const std::string authority;
  boost::beast::flat_buffer buf;
  std::string head;  // the request head being sent (its storage reused across exchanges)
  steady_clock::time_point idle_since;
  bool timed_out = false;
  bool closed = false;
  std::optional<tcp::resolver> resolver;  // while connecting

 private:
  tcp::socket plain_;
  std::shared_ptr<ssl::context> tls_ctx_;  // outlives tls_
  std::optional<ssl::stream<tcp::socket>> tls_;
  void Wait() {
    waiting_ = true;
    timer_.async_wait([self = shared_from_this()](error_code) { self->OnTimer(); });
  }
  void OnTimer() {
    waiting_ = false;
    if (closed || deadline_ == steady_clock::time_point::max()) return;
    if (deadline_ <= steady_clock::now()) {
      deadline_ = steady_clock::time_point::max();
      timed_out = true;
      Close();
      return;
    }
    timer_.expires_at(deadline_);
    Wait();
  }

  net::steady_timer timer_;
  steady_clock::time_point deadline_ = steady_clock::time_point::max();
  bool waiting_ = false;  // an async_wait on timer_ is pending
};

// A borrowed shard, shared by its pool and by its io_context's BorrowedShards; whichever goes
// first closes the shard's idle connections.
struct Link {
  std::mutex mu;
  std::unique_ptr<Shard> shard;
  bool closed = false;  // idle connections closed: by the pool's destructor or the io_context's
};

void CloseIdle(Shard* shard) {
  for (auto& [key, q] : shard->idle) {
    for (auto& c : q) c->Close();
  }
  shard->idle.clear();
}

// Per server io_context: the borrowed shards of every pool used on its thread. Asio shuts the
// service down while destroying the io_context, before queued handlers are destroyed: idle
// sockets are closed while their io_context still exists.
class BorrowedShards final : public net::execution_context::service {
 public:
  using key_type = BorrowedShards;
  static inline net::execution_context::id id;
  explicit BorrowedShards(net::execution_context& ctx) : service(ctx) {}
  // Touched only on the io_context's thread (and by shutdown, when no thread runs it).
  std::unordered_map<uint64_t, std::shared_ptr<Link>> links;

 private:
  void shutdown() override {
    for (auto& [id, link] : links) {
      std::lock_guard lock(link->mu);
      link->shard->dead = true;
      if (!link->closed) CloseIdle(link->shard.get());  // no idle-count update: pool may be gone
      link->closed = true;
    }
  }
};

void Sweep(Shard* shard);
milliseconds SweepInterval(const PoolCore* core) {
  return std::clamp(core->options.idle_timeout / 2, milliseconds(50), milliseconds(1000));
}

void ReturnToPool(std::shared_ptr<Conn> conn) {
  Shard* shard = conn->shard;
  const auto now = steady_clock::now();
  if (!shard->own) {
    if (now - shard->last_sweep >= SweepInterval(shard->core)) {
      shard->last_sweep = now;
      Sweep(shard);
    }
    if (shard->dead) {
      conn->Close();
      return;
    }
  }
  auto& q = shard->idle[conn->key];
  if (conn->closed || q.size() >= shard->core->options.max_idle_per_upstream) {
    conn->Close();
    return;
  }
  conn->idle_since = now;
  q.push_back(std::move(conn));
  shard->core->idle.Add(1);
}

// The most recently used idle connection for `key`. With `probe`, one that the peer has closed
// meanwhile is found by a recv (a syscall) and dropped; without, the caller's exchange finds it
// (a request that may be retried on a fresh connection when its pooled one was stale: most are).
std::shared_ptr<Conn> TakeIdle(Shard* shard, const std::string& key, bool probe) {
  auto it = shard->idle.find(key);
  if (it == shard->idle.end()) return nullptr;
  auto& q = it->second;
  auto now = steady_clock::now();
  while (!q.empty()) {
    std::shared_ptr<Conn> c = std::move(q.back());  // most recently used: least likely stale
    q.pop_back();
    shard->core->idle.Add(-1);
    if (now - c->idle_since < shard->core->options.idle_timeout && c->LooksAlive(probe)) return c;
    c->Close();
  }
  return nullptr;
}

void Sweep(Shard* shard) {
  auto now = steady_clock::now();
  for (auto it = shard->idle.begin(); it != shard->idle.end();) {
    auto& q = it->second;
    while (!q.empty() && now - q.front()->idle_since >= shard->core->options.idle_timeout) {
      q.front()->Close();
      q.pop_front();
      shard->core->idle.Add(-1);
    }
    it = q.empty() ? shard->idle.erase(it) : std::next(it);
  }
}

void ArmSweep(Shard* shard) {
  shard->sweep->expires_after(SweepInterval(shard->core));
  shard->sweep->async_wait([shard](error_code ec) {
    if (ec) return;
    Sweep(shard);
    ArmSweep(shard);
  });
}

Result<std::shared_ptr<ssl::context>> TlsContext(Shard* shard, const UpstreamEndpoint& ep) {
  std::string key = (ep.insecure_skip_verify ? "1|" : "0|") + ep.ca_file;
  if (!ep.ca_file.empty()) {
    std::error_code fs_ec;
    auto mtime = std::filesystem::last_write_time(ep.ca_file, fs_ec);
    auto size = std::filesystem::file_size(ep.ca_file, fs_ec);
    if (fs_ec) return InvalidArgument("cannot read CA file " + ep.ca_file + ": " + fs_ec.message());
    key += "|" + std::to_string(mtime.time_since_epoch().count()) + "|" + std::to_string(size);
  }
  if (auto it = shard->tls_cache.find(key); it != shard->tls_cache.end()) return it->second;
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  error_code ec;
  ctx->set_default_verify_paths(ec);
  if (!ep.ca_file.empty()) {
    ctx->load_verify_file(ep.ca_file, ec);
    if (ec) return InvalidArgument("cannot load CA file " + ep.ca_file + ": " + ec.message());
  }
  ctx->set_verify_mode(ep.insecure_skip_verify ? ssl::verify_none : ssl::verify_peer);
  if (shard->tls_cache.size() >= 64) shard->tls_cache.clear();  // bounded: rotated files
  shard->tls_cache.emplace(key, ctx);
  return ctx;
}

struct Failure {
  Status status;
  UpstreamFailure kind;
  bool stale = false;  // a reused connection failed before any response byte: may retry
};

bool IsIdempotent(std::string_view m) {
  return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "TRACE" || m == "PUT" || m == "DELETE";
}

bool IsDisconnect(const error_code& ec) {
  return ec == net::error::eof || ec == bhttp::error::end_of_stream ||
         ec == net::error::connection_reset || ec == net::error::broken_pipe ||
         ec == net::error::connection_aborted || ec == ssl::error::stream_truncated;
}

// The steps and failures both exchange forms share (Talk, a coroutine for every case;
// FastExchange, callbacks for a plain request on a pooled connection): one text per failure.
std::string Who(const Conn& c) { return "upstream " + c.authority; }

Failure BadHeader(std::string_view name) {
  return {InvalidArgument("header \"" + std::string(name) + "\" cannot be sent upstream"),
          UpstreamFailure::kInvalid};
}

// Sending the request (`during`: "receiving the request", "... body") ended with `ec`.
Failure SendFailed(const Conn& c, const UpstreamRequest& req, const error_code& ec,
                   std::string_view during, bool reused) {
  if (c.timed_out) {
    return {
        DeadlineExceeded(Who(c) + " did not accept the request within " + Ms(req.response_timeout)),
        UpstreamFailure::kResponseTimeout};
  }
  return {Unavailable(Who(c) + " closed the connection while " + std::string(during) + " (" +
                      ec.message() + ")"),
          UpstreamFailure::kReset, reused && IsDisconnect(ec)};
}

// A read of the response header ended with `ec` or timed out; nullopt: it arrived. A reused
// connection that closed before any response byte (`nothing_yet`) is stale: may retry.
std::optional<Failure> HeaderFailed(const Conn& c, const UpstreamRequest& req, const error_code& ec,
                                    bool reused, bool nothing_yet) {
  if (c.timed_out) {
    return Failure{DeadlineExceeded(Who(c) + " did not answer within " + Ms(req.response_timeout)),
                   UpstreamFailure::kResponseTimeout};
  }
  if (!ec) return std::nullopt;
  if (IsDisconnect(ec) || ec == bhttp::error::partial_message) {
    return Failure{Unavailable(Who(c) + " closed the connection before sending a response (" +
                               ec.message() + ")"),
                   UpstreamFailure::kReset,
                   reused && nothing_yet && ec != bhttp::error::partial_message};
  }
  return Failure{Unavailable(Who(c) + " sent a malformed response header: " + ec.message()),
                 UpstreamFailure::kProtocol};
}

Failure UnaskedSwitch(const Conn& c) {
  return {Unavailable(Who(c) + " switched protocols without being asked to"),
          UpstreamFailure::kProtocol};
}

// A read of a small response body (the one read whole) ended with `ec` (need_buffer is not
// an error) or timed out; nullopt: it went on.
std::optional<Failure> BodyFailed(const Conn& c, error_code ec) {
  if (ec == bhttp::error::need_buffer) ec = {};
  if (c.timed_out) {
    return Failure{DeadlineExceeded(Who(c) + " sent no response data for " +
                                    Ms(c.shard->core->options.io_timeout)),
                   UpstreamFailure::kResponseTimeout};
  }
  if (!ec) return std::nullopt;
  return Failure{Unavailable(Who(c) + " closed the connection in the middle of the response " +
                             "body (" + ec.message() + ")"),
                 UpstreamFailure::kReset};
}

// A parser for the next response header (or an interim one) of `req`.
std::unique_ptr<Parser> ResponseParser(const UpstreamRequest& req, const UpstreamPoolOptions& o) {
  auto parser = std::make_unique<Parser>();
  parser->header_limit(static_cast<uint32_t>(o.max_response_header_bytes));
  parser->body_limit(boost::none);
  if (std::string_view(req.method) == "HEAD") parser->skip(true);
  return parser;
}

// An interim response (1xx other than 101): skipped, the next header follows.
bool IsInterim(int status) { return status >= 100 && status < 200 && status != 101; }

// The length of a body small enough to be read here, whole (one hand-off to the caller in all),
// after its header; nullopt when it is streamed (or already done).
std::optional<size_t> BufferedLength(Parser& p, const UpstreamPoolOptions& o,
                                     const UpstreamRequest& req) {
  const auto cl = p.content_length();
  if (!cl || *cl == 0 || *cl > o.buffer_body_bytes || p.is_done() || req.upgrade) {
    return std::nullopt;
  }
  return static_cast<size_t>(*cl);
}

// Parses the body bytes the head's read brought (usually all of a small body) instead of letting
// a read parse them (which would answer through the scheduler). False: more must be read.
bool ParseBuffered(Conn& c, Parser& p, error_code& ec) {
  if (c.buf.size() == 0) return false;
  ec = {};
  size_t used = p.put(c.buf.data(), ec);
  c.buf.consume(used);
  return ec != bhttp::error::need_more;
}

void TakeHead(Parser& p, bool reused, UpstreamResponse& out) {
  out.status = p.status();
  out.headers = std::move(p.headers());
  out.reused_connection = reused;
}

// Waits for the next piece of a streamed request body; resumes on the coroutine's executor. The
// source answers on any thread; its answer is posted here and wakes a timer used as an event.
struct SourceWait {
  explicit SourceWait(const net::any_io_executor& ex) : timer(ex) {}
  net::steady_timer timer;
  std::optional<Piece> piece;
};

net::awaitable<Piece> ReadSource(std::shared_ptr<BodySource> src) {
  auto wait = std::make_shared<SourceWait>(co_await net::this_coro::executor);
  wait->timer.expires_at(steady_clock::time_point::max());
  src->Read([wait](Piece p) {
    net::post(wait->timer.get_executor(), [wait, p = std::move(p)]() mutable {
      wait->piece = std::move(p);
      wait->timer.cancel();
    });
  });
  while (!wait->piece) {
    error_code ec;
    co_await wait->timer.async_wait(Nothrow(ec));
  }
  co_return std::move(*wait->piece);
}

// Connects (and handshakes) a fresh connection within connect_timeout.
net::awaitable<std::optional<Failure>> Connect(Shard* shard, std::shared_ptr<Conn> conn,
                                               UpstreamEndpoint ep) {
  const auto& opts = shard->core->options;
  const std::string who = "upstream " + conn->authority;
  error_code ec;
  std::vector<tcp::endpoint> endpoints;
  error_code addr_ec;
  auto literal = net::ip::make_address(ep.host, addr_ec);
  if (ep.tls) {
    auto ctx = TlsContext(shard, ep);
    if (!ctx) co_return Failure{ctx.error(), UpstreamFailure::kInvalid};
    conn->UseTls(std::move(*ctx));
  }
  conn->Arm(opts.connect_timeout);
  if (!addr_ec) {
    endpoints.emplace_back(literal, ep.port);
  } else {
    conn->resolver.emplace(shard->ctx);
    auto results =
        co_await conn->resolver->async_resolve(ep.host, std::to_string(ep.port), Nothrow(ec));
    conn->resolver.reset();
    if (conn->timed_out) {
      co_return Failure{DeadlineExceeded(who + ": resolving " + ep.host + " took longer than " +
                                         Ms(opts.connect_timeout)),
                        UpstreamFailure::kConnectTimeout};
    }
    if (ec) {
      conn->Disarm();
      conn->Close();
      co_return Failure{Unavailable(who + ": cannot resolve " + ep.host + ": " + ec.message()),
                        UpstreamFailure::kConnectFailure};
    }
    for (const auto& r : results) endpoints.push_back(r.endpoint());
  }
  co_await net::async_connect(conn->Socket(), endpoints, Nothrow(ec));
  if (conn->timed_out) {
    co_return Failure{
        DeadlineExceeded(who + " did not accept the connection within " + Ms(opts.connect_timeout)),
        UpstreamFailure::kConnectTimeout};
  }
  if (ec) {
    conn->Disarm();
    conn->Close();
    if (ec == net::error::connection_refused) {
      co_return Failure{Unavailable(who + " refused the connection"),
                        UpstreamFailure::kConnectFailure};
    }
    co_return Failure{Unavailable("cannot connect to " + who + ": " + ec.message()),
                      UpstreamFailure::kConnectFailure};
  }
  {
    error_code ignored;
    conn->Socket().set_option(tcp::no_delay(true), ignored);
  }
  if (ep.tls) {
    std::string name = !ep.sni.empty() ? ep.sni : ep.host;
    if (!ep.sni.empty() || addr_ec) {  // SNI carries DNS names only (RFC 6066 section 3)
      SSL_set_tlsext_host_name(conn->tls().native_handle(), name.c_str());
    }
    if (!ep.insecure_skip_verify) {
      conn->tls().set_verify_mode(ssl::verify_peer);
      conn->tls().set_verify_callback(ssl::host_name_verification(name));
    }
    co_await conn->tls().async_handshake(ssl::stream_base::client, Nothrow(ec));
    if (conn->timed_out) {
      co_return Failure{DeadlineExceeded("TLS handshake with " + who + " took longer than " +
                                         Ms(opts.connect_timeout)),
                        UpstreamFailure::kConnectTimeout};
    }
    if (ec) {
      conn->Disarm();
      conn->Close();
      co_return Failure{Unavailable("TLS handshake with " + who + " failed: " + ec.message()),
                        UpstreamFailure::kConnectFailure};
    }
  }
  conn->Disarm();
  shard->core->opened.fetch_add(1);
  co_return std::nullopt;
}

class BodyImpl final : public UpstreamBody, public std::enable_shared_from_this<BodyImpl> {
 public:
  BodyImpl(std::shared_ptr<Conn> conn, std::unique_ptr<Parser> parser, bool keep_alive)
      : conn_(std::move(conn)),
        shard_(conn_->shard),
        parser_(std::move(parser)),
        keep_alive_(keep_alive),
        content_length_(parser_->content_length()
                            ? std::optional<uint64_t>(*parser_->content_length())
                            : std::nullopt) {}
  ~BodyImpl() override {
    if (!conn_) return;
    if (shard_->OnThread() || shard_->dead) {
      conn_->Close();
    } else if (!shard_->core->stopping.load()) {
      net::post(shard_->ctx, [c = std::move(conn_)]() { c->Close(); });
    }
  }

  // On the shard's thread, right after construction: a body that is already complete (HEAD,
  // 204, 304, Content-Length: 0) gives its connection back at once.
  void Start() {
    if (parser_->is_done()) Finish();
  }

  void Read(std::function<void(Piece)> ready) override {
    if (shard_->OnThread()) return DoRead(std::move(ready));
    net::post(shard_->ctx, [self = shared_from_this(), ready = std::move(ready)]() mutable {
      self->DoRead(std::move(ready));
    });
  }
  std::optional<uint64_t> content_length() const override { return content_length_; }
  void Cancel() override {
    if (shard_->OnThread()) return DoCancel();
    net::post(shard_->ctx, [self = shared_from_this()]() { self->DoCancel(); });
  }
  size_t buffered_bytes() const override { return buffered_.load(); }

 private:
  void DoCancel() {
    cancelled_ = true;
    if (conn_) conn_->Close();
  }
  void DoRead(std::function<void(Piece)> ready) {
    if (error_) return ready(*error_);
    if (finished_) return ready(std::optional<std::string>());
    if (cancelled_) return ready(Cancelled("upstream response body cancelled"));
    if (piece_.empty()) piece_.resize(kPieceBytes);  // not for bodies that end at once
    parser_->set_body(piece_.data(), piece_.size());
    conn_->Arm(shard_->core->options.io_timeout);
    conn_->Stream([&](auto& s) {
      bhttp::async_read_some(
          s, conn_->buf, *parser_,
          [self = shared_from_this(), ready = std::move(ready)](error_code ec, size_t) mutable {
            self->OnRead(ec, std::move(ready));
          });
    });
  }

  void OnRead(error_code ec, std::function<void(Piece)> ready) {
    conn_->Disarm();
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec) {
      Status s = cancelled_ ? Cancelled("upstream response body cancelled")
                            : BodyFailed(*conn_, ec)->status;
      conn_->Close();
      error_ = s;
      return ready(std::move(s));
    }
    buffered_.store(conn_->buf.size());
    size_t n = piece_.size() - parser_->body_left();
    bool done = parser_->is_done();
    if (done) Finish();
    if (n > 0) return ready(std::optional<std::string>(std::string(piece_.data(), n)));
    if (done) return ready(std::optional<std::string>());
    DoRead(std::move(ready));  // only framing (chunk sizes) arrived
  }

  void Finish() {
    finished_ = true;
    buffered_.store(0);
    std::shared_ptr<Conn> c = std::move(conn_);
    if (keep_alive_ && parser_->keep_alive() && !cancelled_) {
      ReturnToPool(std::move(c));
    } else {
      c->Close();
    }
  }

  std::shared_ptr<Conn> conn_;  // null once the body is complete
  Shard* shard_;
  std::unique_ptr<Parser> parser_;
  bool keep_alive_;
  std::optional<uint64_t> content_length_;
  std::vector<char> piece_;
  bool finished_ = false;
  bool cancelled_ = false;
  std::optional<Status> error_;
  std::atomic<size_t> buffered_{0};
};

// A body read whole with its head (FastExchange's lean path): at its end from the start, its
// connection already back in the pool or closed.
class EndedBody final : public UpstreamBody, public std::enable_shared_from_this<EndedBody> {
 public:
  EndedBody(Shard* shard, uint64_t length) : shard_(shard), length_(length) {}
  void Read(std::function<void(Piece)> ready) override {
    if (shard_->OnThread()) return ready(std::optional<std::string>());
    net::post(shard_->ctx, [ready = std::move(ready)]() { ready(std::optional<std::string>()); });
  }
  std::optional<uint64_t> content_length() const override { return length_; }
  void Cancel() override {}
  size_t buffered_bytes() const override { return 0; }

 private:
  Shard* shard_;
  uint64_t length_;
};

// The upstream's side of an upgraded connection. No time-out: WebSocket connections may idle;
// the client side's closing ends the bridge.
class TunnelImpl final : public ByteStream, public std::enable_shared_from_this<TunnelImpl> {
 public:
  explicit TunnelImpl(std::shared_ptr<Conn> conn) : conn_(std::move(conn)) {}
  ~TunnelImpl() override {
    Shard* shard = conn_->shard;
    if (shard->OnThread() || shard->dead) {
      conn_->Close();
      return;
    }
    if (shard->core->stopping.load()) return;
    net::post(shard->ctx, [c = std::move(conn_)]() { c->Close(); });
  }

  void Read(std::function<void(Piece)> ready) override {
    net::post(conn_->shard->ctx, [self = shared_from_this(), ready = std::move(ready)]() mutable {
      Conn& c = *self->conn_;
      if (c.buf.size() > 0) {  // bytes that arrived with the 101 head
        auto data = c.buf.data();
        std::string s(static_cast<const char*>(data.data()), data.size());
        c.buf.consume(data.size());
        return ready(std::optional<std::string>(std::move(s)));
      }
      if (c.closed) return ready(Unavailable("upstream tunnel closed"));
      c.Stream([&](auto& s) {
        s.async_read_some(net::buffer(self->rbuf_),
                          [self, ready = std::move(ready)](error_code ec, size_t n) mutable {
                            if (IsDisconnect(ec)) return ready(std::optional<std::string>());
                            if (ec) return ready(Unavailable("upstream tunnel: " + ec.message()));
                            ready(std::optional<std::string>(std::string(self->rbuf_.data(), n)));
                          });
      });
    });
  }
  void Write(std::string data, std::function<void(Status)> done) override {
    net::post(conn_->shard->ctx, [self = shared_from_this(), data = std::move(data),
                                  done = std::move(done)]() mutable {
      auto d = std::make_shared<std::string>(std::move(data));
      self->conn_->Stream([&](auto& s) {
        net::async_write(
            s, net::buffer(*d), [self, d, done = std::move(done)](error_code ec, size_t) {
              done(ec ? Unavailable("upstream tunnel: " + ec.message()) : Status::Ok());
            });
      });
    });
  }
  void Close() override {
    net::post(conn_->shard->ctx, [self = shared_from_this()]() { self->conn_->Close(); });
  }

 private:
  std::shared_ptr<Conn> conn_;
  std::array<char, 16 * 1024> rbuf_;
};

struct Exchange {
  // The request moved in at construction (moving it into a default-made one cost more).
  Exchange(UpstreamRequest&& r, UpstreamPool::Callback&& c)
      : req(std::move(r)), callback(std::move(c)) {}

  UpstreamRequest req;
  UpstreamPool::Callback callback;
  bool answered = false;
  // The callback-driven exchange on a pooled connection (FastExchange): its state between steps.
  std::shared_ptr<Conn> conn;
  std::unique_ptr<Parser> parser;
  UpstreamResponse out;
  std::string body;         // a small body of known length, being read
  size_t body_got = 0;      // bytes of `body` read so far (the lean path)
  bool keep_alive = false;  // the lean path: the response lets the connection be reused
  bool nothing_yet = false;
  Shard* retry_shard = nullptr;  // where a stale pooled connection's retry runs
  void done(Result<UpstreamResponse> r, UpstreamFailure f) {
    if (answered) return;
    answered = true;
    callback(std::move(r), f);
  }
};

// Writes the request head into `h` (cleared first; its storage is the connection's, reused).
void RequestHead(const UpstreamRequest& req, bool chunked, std::string* bad_header,
                 std::string& h) {
  // Sized once, then written with plain copies: the head is built for every proxied request,
  // and appending piece by piece cost a capacity check and a call per piece.
  std::string authority;
  if (!req.headers.Has("Host")) authority = req.endpoint.Authority();
  // Request line and Host line; the headers; at most one framing line (38 bytes), "Connection:
  // upgrade" (21) and the blank line.
  size_t bound = req.method.size() + 1 + req.target.size() + 11 + 8 + authority.size() + 64;
  for (const auto& [name, value] : req.headers) bound += name.size() + value.size() + 4;
  h.clear();
  h.resize(bound);
  char* p = h.data();
  auto put = [&p](std::string_view s) {
    internal::CopyPiece(p, s.data(), s.size());
    p += s.size();
  };
  put(req.method);
  put(" ");
  put(req.target);
  put(" HTTP/1.1\r\n");
  if (!authority.empty()) {
    put("Host: ");
    put(authority);
    put("\r\n");
  }
  // Values are checked for CR/LF only when the map's bytes hold one somewhere.
  const bool no_crlf = !req.headers.MayHoldCrLf();
  for (const auto& [name, value] : req.headers) {
    if (EqualsIgnoreCase(name, "Content-Length") || EqualsIgnoreCase(name, "Connection") ||
        EqualsIgnoreCase(name, "Transfer-Encoding")) {
      continue;
    }
    if (!internal::SendableName(name, no_crlf) || (!no_crlf && internal::HasCrLf(value))) {
      *bad_header = name;
      h.clear();
      return;
    }
    put(name);
    put(": ");
    put(value);
    put("\r\n");
  }
  auto put_length = [&](uint64_t n) {
    put("Content-Length: ");
    char digits[24];
    // memcpy, not put: GCC's -Warray-bounds (at -O1, the ASan build) cannot bound the length
    // through CopyPiece's 16-byte head and tail copies and fails the build.
    const auto len =
        static_cast<size_t>(std::to_chars(digits, digits + sizeof digits, n).ptr - digits);
    std::memcpy(p, digits, len);
    p += len;
    put("\r\n");
  };
  // A view: std::string == "literal" is a call to compare (no size test first) on g++ 12.
  const std::string_view m = req.method;
  if (req.body_source) {
    if (chunked) {
      put("Transfer-Encoding: chunked\r\n");
    } else {
      put_length(*req.body_source->content_length());
    }
  } else if (!req.body.empty() || m == "POST" || m == "PUT" || m == "PATCH") {
    put_length(req.body.size());
  }
  if (req.upgrade) put("Connection: upgrade\r\n");
  put("\r\n");
  h.resize(static_cast<size_t>(p - h.data()));
}

// Sends the request on `conn` and reads the response header.
net::awaitable<Result<UpstreamResponse>> Talk(std::shared_ptr<Conn> conn,
                                              std::shared_ptr<Exchange> ex, bool reused,
                                              Failure* failure) {
  const UpstreamRequest& req = ex->req;
  const auto& opts = conn->shard->core->options;
  error_code ec;
  auto fail = [&](Failure f) {
    conn->Disarm();
    conn->Close();
    *failure = std::move(f);
    return failure->status;
  };

  const bool chunked = req.body_source && !req.body_source->content_length();
  std::string bad_header;
  std::string& head = conn->head;
  RequestHead(req, chunked, &bad_header, head);
  if (!bad_header.empty()) co_return fail(BadHeader(bad_header));
  conn->Arm(req.response_timeout);
  std::array<net::const_buffer, 2> bufs = {net::buffer(head), net::buffer(req.body)};
  if (conn->Plain()) {
    // What the socket takes at once is sent here, the rest (if any) waits.
    size_t sent = internal::SendNow(conn->Socket(), bufs, ec);
    if (!ec && sent < head.size() + req.body.size()) {
      beast::buffers_suffix<std::array<net::const_buffer, 2>> rest(bufs);
      rest.consume(sent);
      co_await net::async_write(conn->Socket(), rest, Nothrow(ec));
    }
  } else {
    co_await conn->Stream([&](auto& s) { return net::async_write(s, bufs, Nothrow(ec)); });
  }
  if (ec) co_return fail(SendFailed(*conn, req, ec, "receiving the request", reused));

  if (req.body_source) {
    uint64_t sent = 0;
    for (;;) {
      conn->Disarm();  // the client's body has its own time-outs
      Piece piece = co_await ReadSource(req.body_source);
      if (!piece) {
        co_return fail({piece.error().WithPrefix("request body"), UpstreamFailure::kRequestBody});
      }
      if (conn->closed) {
        co_return fail(
            {Unavailable(Who(*conn) + " closed the connection while receiving the request"),
             UpstreamFailure::kReset});
      }
      conn->Arm(req.response_timeout);
      if (!piece->has_value()) {
        auto declared = req.body_source->content_length();
        if (declared && *declared != sent) {
          co_return fail({InvalidArgument("request body ended after " + std::to_string(sent) +
                                          " of " + std::to_string(*declared) + " bytes"),
                          UpstreamFailure::kRequestBody});
        }
        if (chunked) {
          static constexpr std::string_view kLast = "0\r\n\r\n";
          co_await conn->Stream(
              [&](auto& s) { return net::async_write(s, net::buffer(kLast), Nothrow(ec)); });
          if (ec) {
            co_return fail(SendFailed(*conn, req, ec, "receiving the request body", reused));
          }
        }
        break;
      }
      const std::string& data = **piece;
      sent += data.size();
      if (chunked) {
        char size_line[24];
        int len = std::snprintf(size_line, sizeof size_line, "%zx\r\n", data.size());
        std::array<net::const_buffer, 3> cb = {net::buffer(size_line, static_cast<size_t>(len)),
                                               net::buffer(data), net::buffer("\r\n", 2)};
        co_await conn->Stream([&](auto& s) { return net::async_write(s, cb, Nothrow(ec)); });
      } else {
        co_await conn->Stream(
            [&](auto& s) { return net::async_write(s, net::buffer(data), Nothrow(ec)); });
      }
      if (ec) co_return fail(SendFailed(*conn, req, ec, "receiving the request body", reused));
    }
  }

  // The response header; interim 1xx responses other than 101 are skipped.
  std::unique_ptr<Parser> parser;
  for (;;) {
    parser = ResponseParser(req, opts);
    const bool nothing_yet = conn->buf.size() == 0;
    co_await conn->Stream(
        [&](auto& s) { return bhttp::async_read_header(s, conn->buf, *parser, Nothrow(ec)); });
    if (auto f = HeaderFailed(*conn, req, ec, reused, nothing_yet)) co_return fail(std::move(*f));
    if (!IsInterim(parser->status())) break;
  }
  conn->Disarm();

  UpstreamResponse out;
  TakeHead(*parser, reused, out);
  if (out.status == 101) {
    if (!req.upgrade) co_return fail(UnaskedSwitch(*conn));
    out.tunnel = std::make_shared<TunnelImpl>(std::move(conn));
    co_return out;
  }
  if (const auto length = BufferedLength(*parser, opts, req)) {
    std::string data(*length, '\0');
    parser->set_body(data.data(), data.size());  // the parser advances it
    conn->Arm(opts.io_timeout);
    while (!parser->is_done()) {
      if (!ParseBuffered(*conn, *parser, ec)) {
        co_await conn->Stream(
            [&](auto& s) { return bhttp::async_read_some(s, conn->buf, *parser, Nothrow(ec)); });
      }
      if (auto f = BodyFailed(*conn, ec)) co_return fail(std::move(*f));
    }
    conn->Disarm();
    data.resize(data.size() - parser->body_left());
    out.buffered_body = std::move(data);
  }
  auto body = std::make_shared<BodyImpl>(conn, std::move(parser), !req.upgrade);
  body->Start();
  out.body = std::move(body);
  co_return out;
}

// With `stale_retry`: FastExchange's pooled connection failed before any response byte; this is
// the one retry on a fresh connection (the exchange is counted already).
net::awaitable<void> RunExchange(Shard* shard, std::shared_ptr<Exchange> ex,
                                 bool stale_retry = false) {
  PoolCore* core = shard->core;
  if (!stale_retry) core->exchanges.Add(1);
  const UpstreamEndpoint& ep = ex->req.endpoint;
  const std::string key = ep.Key();
  const bool may_retry = IsIdempotent(ex->req.method) && !ex->req.body_source && !stale_retry;
  bool retried = stale_retry;
  for (int attempt = 0;; ++attempt) {
    std::shared_ptr<Conn> conn =
        attempt == 0 && !stale_retry ? TakeIdle(shard, key, /*probe=*/!may_retry) : nullptr;
    const bool reused = conn != nullptr;
    if (!conn) {
      conn = std::make_shared<Conn>(shard, key, ep.Authority());
      auto failed = co_await Connect(shard, conn, ep);
      if (failed) {
        ex->done(failed->status, failed->kind);
        co_return;
      }
    } else {
      core->reused.Add(1);
    }
    Failure failure{Status::Ok(), UpstreamFailure::kNone};
    Result<UpstreamResponse> r = co_await Talk(conn, ex, reused, &failure);
    if (r) {
      r->retried = retried;
      ex->done(std::move(r), UpstreamFailure::kNone);
      co_return;
    }
    if (failure.stale && may_retry && attempt == 0) {
      retried = true;
      continue;
    }
    ex->done(r.error(), failure.kind);
    co_return;
  }
}

// UpstreamEndpoint::Key() written into `key` (cleared first; its storage reused).
void AppendKey(const UpstreamEndpoint& ep, std::string& key) {
  key.clear();
  key.reserve(24 + ep.host.size() + ep.ca_file.size() + ep.sni.size());
  key.append(ep.tls ? "https|" : "http|").append(ep.host).append("|");
  char port_text[8];
  auto end = std::to_chars(port_text, port_text + sizeof port_text, ep.port).ptr;
  key.append(port_text, end).append("|").append(ep.ca_file).append("|").append(ep.sni);
  key.append(ep.insecure_skip_verify ? "|1" : "|0");
}

void SpawnExchange(Shard* shard, std::shared_ptr<Exchange> ex, bool stale_retry) {
  net::co_spawn(shard->ctx, RunExchange(shard, ex, stale_retry), [ex](std::exception_ptr e) {
    if (e) {
      SPDLOG_ERROR("upstream exchange ended by an exception");
      ex->done(Internal("upstream exchange failed"), UpstreamFailure::kInvalid);
    }
  });
}

// The usual exchange without a coroutine: a request without a streamed body or upgrade, on a
// pooled plain connection, its response header (and a small body) read by callbacks on the
// shard's thread. Same outcomes and messages as Talk; a pooled connection that fails before any
// response byte is retried once by RunExchange on a fresh one, as there.
class FastExchange {
 public:
  static void Start(std::shared_ptr<Exchange> ex, std::shared_ptr<Conn> conn) {
    Shard* shard = conn->shard;
    shard->core->exchanges.Add(1);
    shard->core->reused.Add(1);
    ex->conn = std::move(conn);
    Conn& c = *ex->conn;
    const UpstreamRequest& req = ex->req;
    std::string bad_header;
    RequestHead(req, /*chunked=*/false, &bad_header, c.head);
    if (!bad_header.empty()) return Fail(ex, BadHeader(bad_header));
    c.Arm(req.response_timeout);
    error_code ec;
    std::array<net::const_buffer, 2> bufs = {net::buffer(c.head), net::buffer(req.body)};
    size_t sent = internal::SendNow(c.Socket(), bufs, ec);
    if (ec) return WriteFailed(ex, ec);
    if (sent < c.head.size() + req.body.size()) {
      beast::buffers_suffix<std::array<net::const_buffer, 2>> rest(bufs);
      rest.consume(sent);
      net::async_write(c.Socket(), rest, [ex](error_code ec, size_t) {
        if (ec) return WriteFailed(ex, ec);
        ReadHeader(ex);
      });
      return;
    }
    ReadHeader(ex);
  }

 private:
  static void Fail(const std::shared_ptr<Exchange>& ex, Failure f) {
    ex->conn->Disarm();
    ex->conn->Close();
    ex->conn.reset();
    ex->parser.reset();
    // The retry runs on the same shard (this thread), as RunExchange's would.
    if (f.stale && IsIdempotent(ex->req.method)) {
      return SpawnExchange(ex->retry_shard, ex, /*stale_retry=*/true);
    }
    ex->done(std::move(f.status), f.kind);
  }

  static void WriteFailed(const std::shared_ptr<Exchange>& ex, const error_code& ec) {
    Fail(ex, SendFailed(*ex->conn, ex->req, ec, "receiving the request", /*reused=*/true));
  }

  // The response head is read by a plain socket read and parsed by the lean parser
  // (head_parser.hpp) when it comes whole and is the usual kind: a final status with a small
  // Content-Length body (see Lean). Anything else goes to Beast's parser, which parses the bytes
  // read so far and reads on as before.
  static void ReadHeader(const std::shared_ptr<Exchange>& ex) {
    Conn& c = *ex->conn;
    ex->nothing_yet = c.buf.size() == 0;
    if (!ex->nothing_yet) return Parse(ex);
    // The request is sent whole: this read is the only operation pending on the socket. Once
    // read empty, it is read again when epoll reports the response (ReadGate).
    internal::ReadGate gate(c.Socket());
    size_t n = 0;
    error_code ec;
    if (gate.TryNow(c.Socket(), c.buf.prepare(kReadBytes), n, ec)) return OnHead(ex, ec, n);
    c.Socket().async_read_some(c.buf.prepare(kReadBytes), [ex, gate](error_code ec, size_t n) {
      gate.Drained(ex->conn->Socket(), ec, n, kReadBytes);
      OnHead(ex, ec, n);
    });
  }

  static void OnHead(const std::shared_ptr<Exchange>& ex, error_code ec, size_t n) {
    if (ec) {
      // What Beast's read would report: nothing received yet, so the end of the stream.
      if (ec == net::error::eof) ec = bhttp::error::end_of_stream;
      return OnHeader(ex, ec);
    }
    ex->conn->buf.commit(n);
    Parse(ex);
  }

  static void Parse(const std::shared_ptr<Exchange>& ex) {
    if (Lean(ex)) return;
    ex->parser = ResponseParser(ex->req, ex->conn->shard->core->options);
    bhttp::async_read_header(ex->conn->Socket(), ex->conn->buf, *ex->parser,
                             [ex](error_code ec, size_t) { OnHeader(ex, ec); });
  }

  // The lean path: false (nothing consumed) when Beast must parse the head.
  static bool Lean(const std::shared_ptr<Exchange>& ex) {
    Conn& c = *ex->conn;
    const UpstreamPoolOptions& o = c.shard->core->options;
    auto data = c.buf.data();
    const std::string_view bytes(static_cast<const char*>(data.data()), data.size());
    internal::ParsedHead head;
    HeaderMap& headers = ex->out.headers;
    headers.clear();
    // Interim answers, bodies without a length, HEAD and the bodiless statuses stay Beast's.
    if (!internal::ParseResponseHead(bytes, o.max_response_header_bytes, head, headers) ||
        head.status < 200 || head.status == 204 || head.status == 304 || head.status > 599 ||
        !head.content_length || *head.content_length > o.buffer_body_bytes ||
        std::string_view(ex->req.method) == "HEAD") {
      headers.clear();
      return false;
    }
    c.Disarm();
    c.buf.consume(head.size);
    ex->out.status = head.status;
    ex->out.reused_connection = true;
    ex->keep_alive = head.keep_alive;
    const auto length = static_cast<size_t>(*head.content_length);
    internal::TakeSpareBody(ex->body, length);  // at most buffer_body_bytes: often the spare fits
    ex->body_got = std::min(length, c.buf.size());
    const char* got = static_cast<const char*>(c.buf.data().data());
    if (ex->body_got == length) {
      ex->body.assign(got, length);  // the usual whole body: copied, not zero-filled first
    } else {
      ex->body.resize(length);
      std::memcpy(ex->body.data(), got, ex->body_got);
    }
    c.buf.consume(ex->body_got);
    if (ex->body_got < length) {
      c.Arm(o.io_timeout);
      ReadLeanBody(ex);
    } else {
      FinishLean(ex);
    }
    return true;
  }

  // The rest of a small body, straight into its string.
  static void ReadLeanBody(const std::shared_ptr<Exchange>& ex) {
    Conn& c = *ex->conn;
    c.Socket().async_read_some(
        net::buffer(ex->body.data() + ex->body_got, ex->body.size() - ex->body_got),
        [ex](error_code ec, size_t n) {
          // Cut short: what Beast's parser reports for a body ended early.
          if (ec == net::error::eof) ec = bhttp::error::partial_message;
          if (auto f = BodyFailed(*ex->conn, ec)) return Fail(ex, std::move(*f));
          ex->body_got += n;
          if (ex->body_got < ex->body.size()) return ReadLeanBody(ex);
          ex->conn->Disarm();
          FinishLean(ex);
        });
  }

  static void FinishLean(const std::shared_ptr<Exchange>& ex) {
    const size_t length = ex->body.size();
    // As after Beast's parse: an empty body is no buffered body (BufferedLength).
    if (length > 0) ex->out.buffered_body = std::move(ex->body);
    Shard* shard = ex->conn->shard;
    if (!shard->last_ended || shard->last_ended_length != length) {
      shard->last_ended = std::make_shared<EndedBody>(shard, length);
      shard->last_ended_length = length;
    }
    ex->out.body = shard->last_ended;
    if (ex->keep_alive) {
      ReturnToPool(std::move(ex->conn));
    } else {
      ex->conn->Close();
      ex->conn.reset();
    }
    ex->done(std::move(ex->out), UpstreamFailure::kNone);
  }

  static void OnHeader(const std::shared_ptr<Exchange>& ex, error_code ec) {
    Conn& c = *ex->conn;
    if (auto f = HeaderFailed(c, ex->req, ec, /*reused=*/true, ex->nothing_yet)) {
      return Fail(ex, std::move(*f));
    }
    if (IsInterim(ex->parser->status())) return ReadHeader(ex);
    c.Disarm();
    if (ex->parser->status() == 101) return Fail(ex, UnaskedSwitch(c));
    TakeHead(*ex->parser, /*reused=*/true, ex->out);
    if (const auto length = BufferedLength(*ex->parser, c.shard->core->options, ex->req)) {
      ex->body.assign(*length, '\0');
      ex->parser->set_body(ex->body.data(), ex->body.size());  // the parser advances it
      c.Arm(c.shard->core->options.io_timeout);
      return ReadBody(ex);
    }
    Finish(ex);
  }

  static void ReadBody(const std::shared_ptr<Exchange>& ex) {
    Conn& c = *ex->conn;
    Parser& p = *ex->parser;
    while (!p.is_done()) {
      error_code ec;
      if (!ParseBuffered(c, p, ec)) {
        bhttp::async_read_some(c.Socket(), c.buf, p,
                               [ex](error_code ec, size_t) { OnBody(ex, ec); });
        return;
      }
      if (auto f = BodyFailed(c, ec)) return Fail(ex, std::move(*f));
    }
    c.Disarm();
    ex->body.resize(ex->body.size() - p.body_left());
    ex->out.buffered_body = std::move(ex->body);
    Finish(ex);
  }

  static void OnBody(const std::shared_ptr<Exchange>& ex, error_code ec) {
    if (auto f = BodyFailed(*ex->conn, ec)) return Fail(ex, std::move(*f));
    ReadBody(ex);
  }

  static void Finish(const std::shared_ptr<Exchange>& ex) {
    auto body = std::make_shared<BodyImpl>(std::move(ex->conn), std::move(ex->parser),
                                           /*keep_alive=*/true);
    body->Start();
    ex->out.body = std::move(body);
    ex->done(std::move(ex->out), UpstreamFailure::kNone);
  }
};

}  // namespace

std::string UpstreamEndpoint::Authority() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return h + ":" + std::to_string(port);
}

std::string UpstreamEndpoint::Key() const {
  std::string key;
  AppendKey(*this, key);
  return key;
}

Result<UpstreamEndpoint> ParseUpstreamUrl(std::string_view url) {
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) {
    return InvalidArgument("invalid upstream URL \"" + std::string(url) +
                           "\": " + parsed.error().message());
  }
  const boost::urls::url_view& u = *parsed;
  UpstreamEndpoint ep;
  if (u.scheme_id() == boost::urls::scheme::https) {
    ep.tls = true;
  } else if (u.scheme_id() != boost::urls::scheme::http) {
    return InvalidArgument("unsupported upstream URL scheme in \"" + std::string(url) +
                           "\" (want http or https)");
  }
  if (!u.has_authority() || u.encoded_host().empty()) {
    return InvalidArgument("upstream URL \"" + std::string(url) + "\" has no host");
  }
  ep.host = u.host_address();
  if (u.has_port()) {
    if (u.port_number() == 0) {
      return InvalidArgument("upstream URL \"" + std::string(url) + "\" has an invalid port");
    }
    ep.port = u.port_number();
  } else {
    ep.port = ep.tls ? 443 : 80;
  }
  return ep;
}

std::string_view UpstreamFailureName(UpstreamFailure f) {
  switch (f) {
    case UpstreamFailure::kNone:
      return "none";
    case UpstreamFailure::kConnectFailure:
      return "connect-failure";
    case UpstreamFailure::kConnectTimeout:
      return "connect-timeout";
    case UpstreamFailure::kResponseTimeout:
      return "response-timeout";
    case UpstreamFailure::kReset:
      return "reset";
    case UpstreamFailure::kProtocol:
      return "protocol-error";
    case UpstreamFailure::kRequestBody:
      return "request-body";
    case UpstreamFailure::kInvalid:
      return "invalid";
  }
  return "unknown";
}

struct UpstreamPool::Impl {
  PoolCore core;
};

UpstreamPool::UpstreamPool(UpstreamPoolOptions options) : impl_(std::make_unique<Impl>()) {
  PoolCore& core = impl_->core;
  core.options = std::move(options);
  int n = std::max(1, core.options.threads);
  for (int i = 0; i < n; ++i) core.shards.push_back(std::make_unique<Shard>(&core, nullptr));
  for (auto& s : core.shards) {
    Shard* shard = s.get();
    net::post(shard->ctx, [shard] { ArmSweep(shard); });
    shard->thread = std::thread([shard] {
      for (;;) {
        try {
          shard->ctx.run();
          break;
        } catch (const std::exception& e) {
          SPDLOG_ERROR("upstream I/O thread caught: {}", e.what());
        }
      }
    });
  }
}

UpstreamPool::~UpstreamPool() {
  {
    // Borrowed shards: no exchange or body is running (see REQUIRES), so their idle connections
    // are touched by no one else; close them here unless their io_context already did.
    std::lock_guard lock(impl_->core.borrowed_mu);
    for (auto& link : impl_->core.borrowed) {
      std::lock_guard link_lock(link->mu);
      if (!link->closed) CloseIdle(link->shard.get());
      link->closed = true;
    }
  }
  for (auto& s : impl_->core.shards) {
    Shard* shard = s.get();
    auto cleaned = std::make_shared<std::promise<void>>();
    net::post(shard->ctx, [shard, cleaned] {
      shard->sweep->cancel();
      for (auto& [key, q] : shard->idle) {
        for (auto& c : q) c->Close();
      }
      shard->idle.clear();
      cleaned->set_value();
    });
    cleaned->get_future().wait_for(std::chrono::seconds(2));
  }
  impl_->core.stopping.store(true);
  for (auto& s : impl_->core.shards) {
    s->guard.reset();
    s->ctx.stop();  // exchanges still running are abandoned (see REQUIRES in the header)
    if (s->thread.joinable()) s->thread.join();
  }
}

void UpstreamPool::Send(UpstreamRequest&& request, Callback done) {
  PoolCore& core = impl_->core;
  // Each calling thread sticks to one shard, so its requests find that shard's idle
  // connections (with threads == the server's I/O threads, one shard per I/O thread).
  // On a server I/O thread: that thread's own io_context, through a borrowed shard.
  Shard* shard = nullptr;
  if (net::io_context* current = internal::CurrentIoContext()) {
    // The shard the last request on this thread used, when it was this pool's: use_service
    // locks the io_context's service registry and `links` is a hash map. The io_context, its
    // BorrowedShards and their Links (never removed) outlive the I/O thread's use of them, and
    // pool ids are never reused.
    thread_local const net::io_context* last_context = nullptr;
    thread_local uint64_t last_pool = 0;
    thread_local Shard* last_shard = nullptr;
    if (current == last_context && core.id == last_pool) {
      shard = last_shard;
    } else {
      auto& svc = net::use_service<BorrowedShards>(*current);
      std::shared_ptr<Link>& link = svc.links[core.id];
      if (!link) {
        link = std::make_shared<Link>();
        link->shard = std::make_unique<Shard>(&core, current);
        std::lock_guard lock(core.borrowed_mu);
        core.borrowed.push_back(link);
      }
      shard = link->shard.get();
      last_context = current;
      last_pool = core.id;
      last_shard = shard;
    }
  } else {
    thread_local const size_t sticky = core.next.fetch_add(1, std::memory_order_relaxed);
    shard = core.shards[sticky % core.shards.size()].get();
  }
  // One per exchange: its block comes from the thread's cache (CachingAllocator).
  auto ex = std::allocate_shared<Exchange>(CachingAllocator<Exchange>(), std::move(request),
                                           std::move(done));
  if (ex->req.body_source && ex->req.upgrade) {
    net::post(shard->ctx, [ex] {
      ex->done(InvalidArgument("an upgrade request cannot stream a body"),
               UpstreamFailure::kInvalid);
    });
    return;
  }
  // On the shard's thread, a plain request that finds a pooled connection skips the coroutine.
  if (!ex->req.body_source && !ex->req.upgrade && !ex->req.endpoint.tls && shard->OnThread()) {
    // The pool key, built only when the endpoint differs from the last one on this thread.
    thread_local std::string key;
    thread_local UpstreamEndpoint key_of;
    const UpstreamEndpoint& ep = ex->req.endpoint;
    if (ep.port != key_of.port || ep.tls != key_of.tls || ep.host != key_of.host ||
        ep.ca_file != key_of.ca_file || ep.sni != key_of.sni ||
        ep.insecure_skip_verify != key_of.insecure_skip_verify || key.empty()) {
      AppendKey(ep, key);
      key_of = ep;
    }
    // FastExchange retries a stale connection for idempotent methods: only others probe it.
    if (auto conn = TakeIdle(shard, key, /*probe=*/!IsIdempotent(ex->req.method))) {
      ex->retry_shard = shard;
      FastExchange::Start(std::move(ex), std::move(conn));
      return;
    }
  }
  SpawnExchange(shard, std::move(ex), /*stale_retry=*/false);
}

UpstreamStats UpstreamPool::stats() const {
  const PoolCore& core = impl_->core;
  UpstreamStats s;
  s.connections_opened = core.opened.load();
  s.exchanges = core.exchanges.Value();
  s.reused = core.reused.Value();
  s.idle = static_cast<size_t>(std::max<int64_t>(0, core.idle.Value()));
  return s;
}

}  // namespace skiff::http
