#include "http/connection.hpp"

#include <algorithm>
#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <charconv>
#include <cstring>
#include <new>

#include "core/caching_allocator.hpp"
#include "core/log.hpp"
#include "http/copy_piece.hpp"
#include "http/head_parser.hpp"
#include "http/router.hpp"

namespace skiff::http::internal {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using boost::system::error_code;
using std::chrono::steady_clock;

namespace {

constexpr size_t kReadSize = 16 * 1024;
// A disconnect-detecting read stops when this much pipelined input has piled up.
constexpr size_t kMaxDetectBuffer = 64 * 1024;
// Lingering close after an error answer: discard input for this long (or this many bytes) so
// that the peer reads our answer instead of a reset.
constexpr std::chrono::milliseconds kLinger{1000};
constexpr size_t kLingerBytes = 1 << 20;
// A request body's capacity above this is released after the request.
constexpr size_t kKeepBodyCapacity = 64 * 1024;

auto Nothrow(error_code& ec) { return net::redirect_error(net::use_awaitable, ec); }

void AppendNumber(std::string& out, uint64_t v, int base = 10) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v, base);
  out.append(buf, r.ptr);
}

// Framing Beast accepts leniently or waits on, checked on the raw bytes of a request's header
// block (up to its blank line; all of `data` while it is incomplete): a bare LF or CR as a line
// end, obs-fold continuation lines (RFC 9112 section 5.2 allows rejecting them), whitespace
// between a field name and its colon (section 5.1: MUST reject), NUL. Proxies that parse such
// requests differently are how requests are smuggled. Returns the reason, or nullopt.
std::optional<std::string_view> RawHeaderProblem(std::string_view data) {
  size_t i = 0;
  bool first = true;
  while (i < data.size()) {
    size_t eol = FindCrLf(data, i);
    if (eol == std::string_view::npos) eol = data.size();
    std::string_view line = data.substr(i, eol - i);
    if (line.find('\0') != std::string_view::npos) return "NUL byte in the header";
    if (eol == data.size()) return std::nullopt;  // the line is incomplete
    if (data[eol] == '\n') return "bare LF line ending";
    if (eol + 1 == data.size()) return std::nullopt;
    if (data[eol + 1] != '\n') return "bare CR in the header";
    i = eol + 2;
    if (line.empty()) {
      if (first) continue;  // empty lines before the request line (RFC 9112 section 2.2)
      return std::nullopt;  // the end of the header block
    }
    if (!first) {
      if (line.front() == ' ' || line.front() == '\t') return "obsolete line folding";
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) return "header field without a colon";
      for (char c : line.substr(0, colon)) {
        if (c == ' ' || c == '\t') return "whitespace in a header field name";
      }
    }
    first = false;
  }
  return std::nullopt;
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Each connection's Responder: exactly-once delivery to the connection's thread, and a 500 when
// every copy is dropped unanswered.
class ResponderState {
 public:
  ResponderState(std::shared_ptr<WorkerHandle> handle, std::weak_ptr<Connection> conn, uint64_t seq)
      : handle_(std::move(handle)), conn_(std::move(conn)), seq_(seq) {}
  ~ResponderState() {
    if (!called_.exchange(true)) Send(ErrorResponse(Internal("handler dropped its responder")));
  }
  void Call(Response&& r) {
    if (called_.exchange(true)) {
      SPDLOG_WARN("a Responder was called more than once; the extra response is dropped");
      return;
    }
    Send(std::move(r));
  }

 private:
  void Send(Response&& r) {
    if (handle_->OnThisThread()) {
      if (auto c = conn_.lock()) c->Deliver(seq_, std::move(r));
      return;
    }
    handle_->Post([conn = conn_, seq = seq_, r = std::move(r)]() mutable {
      if (auto c = conn.lock()) c->Deliver(seq, std::move(r));
    });
  }

  std::shared_ptr<WorkerHandle> handle_;
  std::weak_ptr<Connection> conn_;
  uint64_t seq_;
  std::atomic<bool> called_{false};
};

// A streamed request body: each Read is posted to the connection's thread (never run inline,
// so a handler's callback is not re-entered from its own Read).
class ConnectionBodySource final : public BodySource {
 public:
  ConnectionBodySource(std::shared_ptr<WorkerHandle> handle, std::weak_ptr<Connection> conn,
                       uint64_t seq, std::optional<uint64_t> length)
      : handle_(std::move(handle)), conn_(std::move(conn)), seq_(seq), length_(length) {}
  void Read(std::function<void(Result<std::optional<std::string>>)> ready) override {
    handle_->Post([conn = conn_, seq = seq_, ready = std::move(ready)]() mutable {
      if (auto c = conn.lock()) {
        c->ReadBody(seq, std::move(ready));
      } else {
        ready(Unavailable("the client connection is closed"));
      }
    });
  }
  std::optional<uint64_t> content_length() const override { return length_; }

 private:
  std::shared_ptr<WorkerHandle> handle_;
  std::weak_ptr<Connection> conn_;
  uint64_t seq_;
  std::optional<uint64_t> length_;
};

// The client's side of an upgraded connection. Operations are posted to the connection's
// thread; dropping the last reference closes the tunnel.
class TunnelStream final : public ByteStream {
 public:
  TunnelStream(std::shared_ptr<WorkerHandle> handle, std::weak_ptr<Connection> conn)
      : handle_(std::move(handle)), conn_(std::move(conn)) {}
  ~TunnelStream() override { Close(); }
  void Read(std::function<void(Result<std::optional<std::string>>)> ready) override {
    handle_->Post([conn = conn_, ready = std::move(ready)]() mutable {
      if (auto c = conn.lock()) {
        c->TunnelRead(std::move(ready));
      } else {
        ready(Unavailable("the client connection is closed"));
      }
    });
  }
  void Write(std::string data, std::function<void(Status)> done) override {
    handle_->Post([conn = conn_, data = std::move(data), done = std::move(done)]() mutable {
      if (auto c = conn.lock()) {
        c->TunnelWrite(std::move(data), std::move(done));
      } else {
        done(Unavailable("the client connection is closed"));
      }
    });
  }
  void Close() override {
    if (closed_.exchange(true)) return;
    handle_->Post([conn = conn_]() {
      if (auto c = conn.lock()) c->CloseTunnel();
    });
  }

 private:
  std::shared_ptr<WorkerHandle> handle_;
  std::weak_ptr<Connection> conn_;
  std::atomic<bool> closed_{false};
};

}  // namespace

// Fills a Request straight from Beast's parser callbacks (no intermediate beast::http::fields).
class RequestParser final : public bhttp::basic_parser<true> {
 public:
  RequestParser(Request* req, const ServerOptions& o) : req_(req) {
    header_limit(static_cast<uint32_t>(std::min<size_t>(o.max_header_bytes, UINT32_MAX)));
    // The body limit depends on whether the body is streamed, known only after the header:
    // ReadRequest sets it then (Beast would check a Content-Length against it at the header).
    // Not eager until then, so that no body byte is parsed before the sink is chosen.
    body_limit(boost::none);
    eager(false);
  }
  // Body bytes go to `sink` (a streamed body) instead of the request. Set before the body.
  void set_sink(std::string* sink) { sink_ = sink; }
  int version() const { return version_; }
  bool expect_continue() const { return expect_continue_; }
  bool transfer_encoding() const { return transfer_encoding_; }

 private:
  void on_request_impl(bhttp::verb, beast::string_view method, beast::string_view target,
                       int version, error_code&) override {
    req_->method.assign(method.data(), method.size());
    req_->target.assign(target.data(), target.size());
    version_ = version;
  }
  void on_response_impl(int, beast::string_view, int, error_code& ec) override {
    ec = bhttp::error::bad_version;
  }
  void on_field_impl(bhttp::field f, beast::string_view name, beast::string_view value,
                     error_code&) override {
    if (f == bhttp::field::expect &&
        EqualsIgnoreCase({value.data(), value.size()}, "100-continue")) {
      expect_continue_ = true;
    }
    if (f == bhttp::field::transfer_encoding) transfer_encoding_ = true;
    req_->headers.Add({name.data(), name.size()}, {value.data(), value.size()});
  }
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(const boost::optional<uint64_t>& length, error_code&) override {
    // Already within the body limit.
    if (length && sink_ == nullptr) req_->body.reserve(static_cast<size_t>(*length));
  }
  size_t on_body_impl(beast::string_view body, error_code&) override {
    (sink_ != nullptr ? *sink_ : req_->body).append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(uint64_t, beast::string_view, error_code&) override {}
  size_t on_chunk_body_impl(uint64_t, beast::string_view body, error_code&) override {
    (sink_ != nullptr ? *sink_ : req_->body).append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(error_code&) override {}

  Request* req_;
  std::string* sink_ = nullptr;
  int version_ = 11;
  bool expect_continue_ = false;
  bool transfer_encoding_ = false;
};

Connection::Connection(ServerCore& core, Worker& worker, tcp::socket socket, bool admitted)
    : core_(core),
      worker_(worker),
      socket_(std::move(socket)),
      admitted_(admitted),
      watchdog_(socket_.get_executor()),
      body_timer_(socket_.get_executor()) {
  {
    std::lock_guard lock(core_.mu);
    ++core_.live;
  }
  worker_.connections.insert(this);
  error_code ec;
  auto ep = sock().remote_endpoint(ec);
  if (!ec) {
    remote_addr_ = ep.address().to_string() + ":" + std::to_string(ep.port());
  }
  sock().set_option(tcp::no_delay(true), ec);
}

Connection::~Connection() {
  worker_.connections.erase(this);
  if (admitted_) core_.open->fetch_sub(1);
  {
    std::lock_guard lock(core_.mu);
    --core_.live;
  }
  core_.cv.notify_all();
}

void Connection::Start(std::shared_ptr<Connection> self) {
  if (self->core_.stopping.load()) self->closing_ = true;
  self->watchdog_.expires_at(steady_clock::time_point::max());
  self->ArmWatchdog();
  auto executor = self->watchdog_.get_executor();
  net::co_spawn(executor, Run(std::move(self)), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      SPDLOG_WARN("http connection ended by exception: {}", ex.what());
    }
  });
}

net::awaitable<void> Connection::Run(std::shared_ptr<Connection> self) {
  try {
    if (self->admitted_) {
      co_await self->Loop();
    } else {
      co_await self->RejectBusy();
    }
  } catch (const std::exception& e) {
    SPDLOG_WARN("http connection from {} failed: {}", self->remote_addr_, e.what());
  }
  self->Close();
}

void Connection::SetDeadline(std::chrono::milliseconds d) {
  timed_out_ = false;
  deadline_ = steady_clock::now() + d;
  // Only a deadline earlier than the armed one needs a timer operation (it wakes the pending
  // wait, which re-arms); later deadlines are picked up when the watchdog fires.
  if (deadline_ < watchdog_.expiry()) watchdog_.expires_at(deadline_);
}

void Connection::ArmWatchdog() {
  watchdog_.async_wait([self = shared_from_this()](error_code) { self->OnWatchdog(); });
}

void Connection::OnWatchdog() {
  if (closed_) return;
  auto now = steady_clock::now();
  if (deadline_ <= now) {
    timed_out_ = true;
    deadline_ = steady_clock::time_point::max();
    error_code ec;
    sock().cancel(ec);
    if (phase_ == Phase::kTunnel && tunnel_open_) {
      AddFlag("SI");
      CloseTunnel();
    }
  }
  if (parked_ && wake_at_ <= now) Wake();  // the parked wait's own time-out
  // Re-armed for the earlier of the deadline and the parked wait's end, when it fired or when
  // that is earlier than what it was armed for.
  const auto next = parked_ ? std::min(deadline_, wake_at_) : deadline_;
  if (watchdog_.expiry() <= now || next < watchdog_.expiry()) watchdog_.expires_at(next);
  ArmWatchdog();
}

void Connection::Close() {
  if (closed_) return;
  closed_ = true;
  watchdog_.cancel();
  Wake();
  body_timer_.cancel();
  error_code ec;
  sock().close(ec);
}

void Connection::BeginShutdown() {
  closing_ = true;
  if (phase_ == Phase::kIdle) {
    error_code ec;
    sock().cancel(ec);
  } else if (phase_ == Phase::kStreaming && stream_) {
    stream_->Cancel();
  } else if (phase_ == Phase::kTunnel) {
    CloseTunnel();
  }
}

void Connection::ForceClose() {
  forced_ = true;
  closing_ = true;
  if (stream_) stream_->Cancel();
  Close();
}

namespace {
thread_local std::string t_spare_body;  // see TakeSpareBody
}  // namespace

void TakeSpareBody(std::string& into, size_t length) {
  if (into.capacity() < length && t_spare_body.capacity() >= length) into.swap(t_spare_body);
}

void GiveSpareBody(std::string&& body) {
  if (body.capacity() > t_spare_body.capacity() && body.capacity() <= kSpareBodyBytes) {
    body.clear();
    t_spare_body.swap(body);
  }
}

void Connection::Deliver(uint64_t seq, Response&& response) {
  if (seq != seq_ || response_) return;
  response_.emplace(std::move(response));
  Wake();
}

void Connection::DeliverChunk(uint64_t seq, Result<std::optional<std::string>> chunk) {
  if (seq != pull_seq_ || chunk_ready_) return;
  chunk_ready_ = true;
  if (!chunk) {
    SPDLOG_WARN("response body of route {} failed midway: {}", route_, chunk.error().message());
    stream_failed_ = true;
    stream_ended_ = true;
    chunk_.reset();
  } else {
    if (!*chunk) stream_ended_ = true;
    chunk_ = std::move(*chunk);
  }
  Wake();
}

// Not a coroutine (no frame of its own per wait): the awaitable of the parking operation.
net::awaitable<void> Connection::WaitForWake(steady_clock::time_point until) {
  wake_at_ = until;  // read only while parked
  // The watchdog ends the wait at `until`: a timer operation only when it would fire later.
  if (until < watchdog_.expiry()) watchdog_.expires_at(until);
  return net::async_initiate<const net::use_awaitable_t<>&, void()>(
      [this](auto&& handler) { parked_.emplace(std::move(handler)); }, net::use_awaitable);
}

void Connection::Wake() {
  if (!parked_) return;
  // Through the thread's io_context itself (not the type-erased executor the handler names):
  // from its own thread, a post goes to the thread's private queue.
  net::post(worker_.ctx->get_executor(),
            [handler = std::move(*parked_)]() mutable { std::move(handler)(); });
  parked_.reset();
}

void Connection::ResetRequest() {
  request_.method.clear();
  request_.target.clear();
  request_.path.clear();
  request_.raw_query.clear();
  request_.headers.clear();
  if (request_.body.capacity() > kKeepBodyCapacity) {
    std::string().swap(request_.body);
  } else {
    request_.body.clear();
  }
  // The same on every request of the connection, unless a handler took the request's.
  if (request_.remote_addr != remote_addr_) request_.remote_addr = remote_addr_;
  request_.tls = tls_.has_value();
  request_.keep_alive = true;
  request_.principal.reset();
  request_.route.clear();
  request_.path_rest.clear();
  request_.body_source.reset();
  target_state_ = TargetState::kUnknown;
  body_streamed_ = false;
  body_done_ = false;
  body_retired_ = false;
  continue_sent_ = false;
  body_timed_out_ = false;
  body_error_.reset();
  body_ready_ = nullptr;
  body_piece_.clear();
  // The previous request's notes are reused when no one else holds them any more (the
  // usual case: a handler's copies are gone once it has answered).
  request_.notes.reset();
  if (notes_ && notes_.use_count() == 1) {
    // Each string cleared (its storage kept), rather than assigned from a fresh AccessNotes.
    static_assert(sizeof(AccessNotes) == 5 * sizeof(std::string), "clear every field below");
    notes_->route_name.clear();
    notes_->upstream.clear();
    notes_->user.clear();
    notes_->flags.clear();
    notes_->request_id.clear();
  } else {
    notes_ = std::make_shared<AccessNotes>();
  }
  request_.notes = notes_;
  bytes_sent_ = 0;
  bytes_received_ = 0;
  flags_.clear();
  if (core_.options.access_log) access_.start = std::chrono::system_clock::now();
}

void Connection::AddFlag(std::string_view flag) {
  if (flags_.find(flag) != std::string::npos) return;
  if (!flags_.empty()) flags_ += ',';
  flags_ += flag;
}

void Connection::CaptureAccess() {
  if (!core_.options.access_log) return;
  access_.method = request_.method;
  access_.target = request_.target;
  access_.path = request_.path;
  access_.version = version_;
  auto host = request_.headers.Get("Host");
  access_.host.assign(host ? *host : std::string_view());
  auto agent = request_.headers.Get("User-Agent");
  access_.user_agent.assign(agent ? *agent : std::string_view());
}

void Connection::LogAccess(int status) {
  if (!core_.options.access_log) return;
  access_.status = status;
  access_.bytes_received = bytes_received_;
  access_.bytes_sent = bytes_sent_;
  access_.duration =
      std::chrono::duration_cast<std::chrono::microseconds>(steady_clock::now() - started_);
  access_.remote_addr = remote_addr_;
  access_.route = route_;
  access_.notes = notes_ ? *notes_ : AccessNotes{};
  access_.flags = flags_;
  try {
    core_.options.access_log(access_);
  } catch (const std::exception& e) {
    SPDLOG_ERROR("access log hook threw: {}", e.what());
  }
}

net::awaitable<void> Connection::Loop() {
  if (core_.tls_enabled) {
    // TLS and plain HTTP share the port: a TLS ClientHello starts with a handshake record
    // (content type 22). The bytes read to decide are handed to the handshake.
    SetDeadline(core_.options.header_timeout);
    size_t n = co_await socket_.async_read_some(buffer_.prepare(kReadSize), Nothrow(ec_));
    if (ec_) co_return;
    buffer_.commit(n);
    const auto* first = static_cast<const unsigned char*>(buffer_.data().data());
    if (n > 0 && first[0] == 0x16) {
      tls_ctx_ = core_.TlsContext();
      tls_.emplace(std::move(socket_), *tls_ctx_);
      size_t used = co_await tls_->async_handshake(net::ssl::stream_base::server, buffer_.data(),
                                                   Nothrow(ec_));
      if (ec_) co_return;  // untrusted by the client, or too slow: nothing to answer
      buffer_.consume(used);
    } else if (core_.options.tls_only) {
      co_return;
    }
  }
  bool fresh = true;
  for (;;) {
    // Wait for the first byte of a request: silence here is not an error, just the end.
    if (buffer_.size() == 0) {
      if (closing_ || core_.stopping.load()) co_return;
      phase_ = Phase::kIdle;
      SetDeadline(fresh ? core_.options.header_timeout : core_.options.idle_timeout);
      // The only operation pending on the socket (answers are written, the detector stopped):
      // once read empty, it is read again when epoll reports the next request (ReadGate).
      size_t n = 0;
      if (tls_) {
        n = co_await ReadSome(buffer_.prepare(kReadSize), Nothrow(ec_));
      } else if (ReadGate gate(socket_);
                 !gate.TryNow(socket_, buffer_.prepare(kReadSize), n, ec_)) {
        n = co_await socket_.async_read_some(buffer_.prepare(kReadSize), Nothrow(ec_));
        gate.Drained(socket_, ec_, n, kReadSize);
      }
      if (ec_) co_return;
      buffer_.commit(n);
    }
    fresh = false;
    phase_ = Phase::kReading;
    started_ = steady_clock::now();
    ResetRequest();
    ReadOutcome read = co_await ReadRequest();
    if (read.kind == ReadOutcome::kClosed) co_return;
    method_.assign(MethodLabel(request_.method));
    route_.clear();
    bytes_received_ = request_.body.size();
    if (read.kind == ReadOutcome::kReject) {
      CaptureAccess();
      if (read.status == 408) {
        AddFlag("RT");
      } else if (read.status == 400 || read.status == 501) {
        AddFlag("DPE");  // downstream protocol error, as Envoy names it
      }
      response_.emplace(ErrorResponse(read.status, read.error, reject_message_));
      keep_alive_ = false;
      phase_ = Phase::kWriting;
      Histogram* duration = core_.Count(worker_, route_, method_, read.status);
      bool ok = false;
      if (!WriteNow(&ok)) ok = co_await Write();
      if (duration != nullptr) {
        duration->Observe(std::chrono::duration<double>(steady_clock::now() - started_).count());
      }
      if (!ok) AddFlag("DC");
      LogAccess(read.status);
      if (ok) co_await LingerClose();
      co_return;
    }
    keep_alive_ = request_.keep_alive;

    Status target_error;
    if (!PrepareTarget(&target_error)) {
      CaptureAccess();
      response_.emplace(ErrorResponse(target_error));
    } else {
      CaptureAccess();
      phase_ = Phase::kHandling;
      Handle();
      if (!response_) {
        // An asynchronous answer (the usual proxied request): wait here, in Loop's own frame.
        ClearDeadline();
        // Other wake-ups (a streamed body's reads) may end the wait early: wait again until
        // answered. The clock read for `until` serves as the first check's too.
        auto now = steady_clock::now();
        const auto until = now + core_.options.handler_timeout;
        while (!response_ && !forced_ && !closed_ && now < until) {
          co_await WaitForWake(until);
          if (!response_ && !forced_ && !closed_) now = steady_clock::now();
        }
        if (!response_ && !forced_ && !closed_) {
          ++seq_;  // a late answer is dropped
          response_.emplace(
              ErrorResponse(504, "GatewayTimeout", "the handler did not answer in time"));
        }
      }
      if (forced_ || !response_) {
        AddFlag("DC");
        LogAccess(0);
        co_return;
      }
      // Never two writes at once: a "100 Continue" for a streamed body may be on its way.
      while (continue_writing_ && !closed_) co_await WaitForWake(steady_clock::time_point::max());
    }
    if (closing_ || core_.stopping.load()) keep_alive_ = false;
    if (response_->status == 101 && !response_->upgrade) {
      response_.emplace(ErrorResponse(Internal("a 101 response without an upgrade callee")));
    }
    if (response_->status != 101) response_->upgrade = nullptr;
    const int status = response_->status;
    phase_ = Phase::kWriting;
    Histogram* duration = core_.Count(worker_, route_, method_, status);
    bool ok = false;
    if (!WriteNow(&ok)) ok = co_await Write();
    auto upgrade = std::move(response_->upgrade);
    if (duration != nullptr) {
      duration->Observe(std::chrono::duration<double>(steady_clock::now() - started_).count());
    }
    GiveSpareBody(std::move(response_->body));  // written (or failed): the buffer is free
    response_.reset();
    if (!ok) AddFlag("DC");
    bool linger = false;
    if (ok && body_streamed_ && !co_await FinishStreamedBody()) {
      keep_alive_ = false;
      linger = !closed_;
    }
    if (ok && upgrade && !linger && !closed_ && !forced_) {
      co_await Tunnel(std::move(upgrade));
      LogAccess(status);
      co_return;
    }
    LogAccess(status);
    if (!ok) co_return;
    if (linger) {
      co_await LingerClose();
      co_return;
    }
    if (!keep_alive_ || closing_) {
      error_code ec;
      sock().shutdown(tcp::socket::shutdown_send, ec);
      co_return;
    }
  }
}

bool Connection::ReadLeanRequest() {
  auto data = buffer_.data();
  ParsedHead head;
  if (!ParseRequestHead(std::string_view(static_cast<const char*>(data.data()), data.size()),
                        core_.options.max_header_bytes, head, request_.headers)) {
    request_.headers.clear();
    return false;
  }
  request_.method.assign(head.method);
  request_.target.assign(head.target);
  buffer_.consume(head.size);  // after the copies: the views point into the buffer
  version_ = head.version;
  request_.keep_alive = head.keep_alive;
  return true;
}

net::awaitable<Connection::ReadOutcome> Connection::ReadRequest() {
  // The usual request, without a body and whole in the buffer, is parsed by the lean parser
  // (head_parser.hpp); it declines anything else (a body to frame, anything unusual or
  // malformed), which Beast's parser then reads as before. No Content-Length or
  // Transfer-Encoding here: no body, so none of the framing checks below applies.
  if (buffer_.size() > 0 && ReadLeanRequest()) {
    if (version_ >= 11 && !request_.headers.Has("Host")) co_return RejectNoHost();
    if (core_.options.stream_body && StreamThisBody()) {
      // As Beast's path does for a request without a body: a stream that ends at once. The
      // parser is not used: body_done_ keeps PumpBody and FinishStreamedBody away from it.
      body_streamed_ = true;
      body_done_ = true;
      request_.body_source = std::make_shared<ConnectionBodySource>(
          worker_.handle, weak_from_this(), ++body_seq_, std::optional<uint64_t>(0));
    }
    ClearDeadline();
    co_return ReadOutcome{};
  }
  // A parser cannot be reset: the previous request's is destroyed and a new one built in its
  // storage (no allocation per request).
  if (parser_) {
    parser_->~RequestParser();
    new (parser_.get()) RequestParser(&request_, core_.options);
  } else {
    parser_ = std::make_unique<RequestParser>(&request_, core_.options);
  }
  RequestParser& p = *parser_;
  auto failure = [this](const error_code& ec) {
    if (ec == bhttp::error::header_limit) {
      return Reject(431, "RequestHeaderFieldsTooLarge", "request header too large");
    }
    if (ec == bhttp::error::body_limit) {
      return Reject(413, "PayloadTooLarge", "request body too large");
    }
    return Reject(400, "BadRequest", "malformed request: " + ec.message());
  };
  auto timeout = [this](std::string what) {
    return Reject(408, "RequestTimeout", "timed out reading the request " + what);
  };

  auto refuse = [this](int status, std::string message) {
    return Reject(status, status == 501 ? "NotImplemented" : "BadRequest", std::move(message));
  };

  bool deadline_set = false;
  while (!p.is_header_done()) {
    if (buffer_.size() > 0) {
      auto data = buffer_.data();
      if (auto problem = RawHeaderProblem(
              std::string_view(static_cast<const char*>(data.data()), data.size()))) {
        co_return refuse(400, "malformed request: " + std::string(*problem));
      }
      size_t used = p.put(net::const_buffer(buffer_.data()), ec_);
      buffer_.consume(used);
      if (!ec_ && used > 0) continue;
      if (ec_ && ec_ != bhttp::error::need_more) co_return failure(ec_);
    }
    if (!deadline_set) {
      SetDeadline(core_.options.header_timeout);
      deadline_set = true;
    }
    size_t n = co_await ReadSome(buffer_.prepare(kReadSize), Nothrow(ec_));
    if (ec_) {
      if (timed_out_) co_return timeout("header");
      co_return ReadOutcome::Closed();
    }
    buffer_.commit(n);
  }
  version_ = p.version();
  request_.keep_alive = p.keep_alive();
  // Request framing as strict as Envoy's: exactly one "Transfer-Encoding: chunked" (anything
  // else is 501, RFC 9112 section 6.1; Beast would take a list without a final "chunked" as no
  // body and parse the body as the next request), never together with Content-Length (section
  // 6.3 rule 3), never in HTTP/1.0; Content-Length one plain decimal number, once.
  const auto te = request_.headers.GetAll("Transfer-Encoding");
  const auto cl = request_.headers.GetAll("Content-Length");
  if (!te.empty()) {
    if (!cl.empty()) co_return refuse(400, "both Content-Length and Transfer-Encoding");
    if (version_ < 11) co_return refuse(400, "Transfer-Encoding in an HTTP/1.0 request");
    if (te.size() > 1) co_return refuse(400, "more than one Transfer-Encoding header");
    if (!EqualsIgnoreCase(te.front(), "chunked") || !p.chunked()) {
      co_return refuse(501, "unsupported transfer-encoding");
    }
  }
  if (cl.size() > 1) co_return refuse(400, "more than one Content-Length header");
  if (cl.size() == 1 && !AllDigits(cl.front())) co_return refuse(400, "invalid Content-Length");
  if (p.transfer_encoding() && !p.chunked()) {
    co_return refuse(501, "unsupported transfer-encoding");
  }
  if (version_ >= 11 && !request_.headers.Has("Host")) co_return RejectNoHost();

  const bool streamed = core_.options.stream_body && StreamThisBody();
  const size_t limit =
      streamed ? core_.options.max_streamed_body_bytes : core_.options.max_body_bytes;
  if (limit > 0) {
    auto length = p.content_length();
    if (length && *length > limit) co_return failure(bhttp::error::body_limit);
    p.body_limit(static_cast<uint64_t>(limit));
  }
  p.eager(true);
  if (streamed) {
    body_streamed_ = true;
    body_done_ = p.is_done();
    p.set_sink(&body_piece_);
    auto length = p.content_length();
    request_.body_source = std::make_shared<ConnectionBodySource>(
        worker_.handle, weak_from_this(), ++body_seq_,
        length ? std::optional<uint64_t>(*length)
               : (p.chunked() ? std::nullopt : std::optional<uint64_t>(0)));
    ClearDeadline();
    co_return ReadOutcome{};
  }

  if (!p.is_done()) {
    if (p.expect_continue() && version_ >= 11 && buffer_.size() == 0) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      SetDeadline(core_.options.write_timeout);
      co_await WriteAll(net::buffer(kContinue), Nothrow(ec_));
      if (ec_) co_return ReadOutcome::Closed();
    }
    SetDeadline(core_.options.body_timeout);
    while (!p.is_done()) {
      if (buffer_.size() > 0) {
        size_t used = p.put(net::const_buffer(buffer_.data()), ec_);
        buffer_.consume(used);
        if (!ec_ && used > 0) continue;
        if (ec_ && ec_ != bhttp::error::need_more) co_return failure(ec_);
      }
      size_t n = co_await ReadSome(buffer_.prepare(kReadSize), Nothrow(ec_));
      if (ec_) {
        if (timed_out_) co_return timeout("body");
        co_return ReadOutcome::Closed();
      }
      buffer_.commit(n);
    }
  }
  ClearDeadline();
  co_return ReadOutcome{};
}

// Once per request: the stream_body predicate needs the path before the body is read, and
// the dispatch after it; the outcome of the first call is kept.
bool Connection::PrepareTarget(Status* error) {
  if (target_state_ == TargetState::kReady) return true;
  if (target_state_ == TargetState::kInvalid) {
    *error = target_error_;
    return false;
  }
  bool ok = SplitTarget(error);
  target_state_ = ok ? TargetState::kReady : TargetState::kInvalid;
  if (!ok) target_error_ = *error;
  return ok;
}

// Splits the request-target into path and query and normalizes the path. Accepts origin-form
// ("/a?b") and absolute-form ("http://host/a?b", RFC 9112 section 3.2.2).
bool Connection::SplitTarget(Status* error) {
  std::string_view target = request_.target;
  if (target.empty() || target.front() != '/') {
    size_t scheme = target.find("://");
    if (scheme == std::string_view::npos || scheme == 0) {
      *error = InvalidArgument("request-target must be a path or an absolute URL");
      return false;
    }
    size_t slash = target.find('/', scheme + 3);
    size_t query = target.find('?', scheme + 3);
    if (slash == std::string_view::npos || (query != std::string_view::npos && query < slash)) {
      target = query == std::string_view::npos ? std::string_view("/")
                                               : target.substr(query);  // "?q" with an empty path
    } else {
      target = target.substr(slash);
    }
  }
  size_t q = target.find('?');
  std::string_view raw_path = target.substr(0, q);
  if (q != std::string_view::npos) request_.raw_query.assign(target.substr(q + 1));
  if (raw_path.empty()) raw_path = "/";
  if (Status s = NormalizePathInto(raw_path, request_.path); !s.ok()) {
    *error = std::move(s);
    return false;
  }
  return true;
}

void Connection::Handle() {
  ++seq_;
  response_.reset();
  {
    Responder responder([state = std::allocate_shared<ResponderState>(
                             CachingAllocator<ResponderState>(), worker_.handle, weak_from_this(),
                             seq_)](Response&& r) { state->Call(std::move(r)); });
    try {
      core_.root(request_, std::move(responder));
    } catch (const std::exception& e) {
      SPDLOG_ERROR("root handler threw: {}", e.what());
      if (!response_) response_.emplace(ErrorResponse(Internal("handler threw")));
    } catch (...) {
      SPDLOG_ERROR("root handler threw a non-exception");
      if (!response_) response_.emplace(ErrorResponse(Internal("handler threw")));
    }
  }
  route_.assign(request_.route);
}

bool Connection::WriteNow(bool* ok) {
  ec_ = {};  // what Write finds: a failure of the send below, or none
  Response& resp = *response_;
  const int status = resp.status;
  const bool head_request = std::string_view(request_.method) == "HEAD";
  const bool bodiless_status = status < 200 || status == 204 || status == 304;
  const bool streaming = resp.stream != nullptr && !bodiless_status;
  const bool chunked = streaming && version_ >= 11;
  if (streaming && !chunked) keep_alive_ = false;  // HTTP/1.0: the body ends with the connection

  // A protocol switch keeps the handler's Connection/Upgrade headers (RFC 9110 section 7.8).
  const bool upgrading = status == 101 && resp.upgrade;
  std::string& h = head_;
  h.clear();
  h += std::string_view("HTTP/1.1 ");
  AppendNumber(h, static_cast<uint64_t>(status));
  h += ' ';
  h += ReasonPhrase(status);
  h += std::string_view("\r\n");
  // The handler's headers: room made once, then plain copies (a call and a capacity check per
  // piece otherwise, for every header of every response). A Server or Date the handler set (a
  // route's header operation) replaces the server's own: each is written once.
  size_t room = 0;
  bool own_server = !core_.options.server_header.empty(), own_date = true;
  for (const auto& [name, value] : resp.headers) {
    room += name.size() + value.size() + 4;
    if (name.size() == 4) {
      own_date = own_date && !EqualsIgnoreCaseSameSize(name, "date");
    } else if (name.size() == 6) {
      own_server = own_server && !EqualsIgnoreCaseSameSize(name, "server");
    }
  }
  if (own_server) {
    h += std::string_view("Server: ");
    h += core_.options.server_header;
    h += std::string_view("\r\n");
  }
  if (own_date) AppendDateHeader(h);
  // Each name and value is checked for CR/LF only when the map's bytes hold one somewhere.
  const bool check_crlf = resp.headers.MayHoldCrLf();
  size_t at = h.size();
  h.resize(at + room);
  char* p = h.data() + at;
  auto put = [&p](std::string_view s) {
    CopyPiece(p, s.data(), s.size());
    p += s.size();
  };
  for (const auto& [name, value] : resp.headers) {
    if (EqualsIgnoreCase(name, "Content-Length") || EqualsIgnoreCase(name, "Transfer-Encoding")) {
      continue;
    }
    if (EqualsIgnoreCase(name, "Connection") && !upgrading) {
      if (EqualsIgnoreCase(value, "close")) keep_alive_ = false;
      continue;
    }
    if (name.empty() || (check_crlf && (HasCrLf(name) || HasCrLf(value)))) {
      SPDLOG_WARN("dropping response header with CR/LF (route {})", route_);
      continue;
    }
    put(name);
    put(": ");
    put(value);
    put("\r\n");
  }
  h.resize(static_cast<size_t>(p - h.data()));
  if (chunked) {
    h += std::string_view("Transfer-Encoding: chunked\r\n");
  } else if (!streaming && status >= 200 && status != 204 &&
             (status != 304 || resp.head_content_length)) {
    // A 304 states the length only as the one the 200 would have (RFC 9110 section 8.6).
    h += std::string_view("Content-Length: ");
    AppendNumber(h, (head_request || status == 304) && resp.head_content_length
                        ? *resp.head_content_length
                        : resp.body.size());
    h += std::string_view("\r\n");
  }
  if (upgrading) {
    // The handler's own Connection header said "upgrade".
  } else if (!keep_alive_) {
    h += std::string_view("Connection: close\r\n");
  } else if (version_ < 11) {
    h += std::string_view("Connection: keep-alive\r\n");
  }
  h += std::string_view("\r\n");

  const bool with_body = !streaming && !head_request && !bodiless_status && !resp.body.empty();
  timed_out_ = false;
  write_ = WriteState{};
  write_.body_bytes = with_body ? resp.body.size() : 0;
  write_.head_request = head_request;
  write_.streaming = streaming;
  write_.chunked = chunked;
  if (!tls_) {
    // Plain TCP: what the socket takes at once is sent here (a call that does not wait, so no
    // deadline is needed for it), the rest (if any) waits in Write, under the write deadline.
    std::array<net::const_buffer, 2> bufs = {net::buffer(h),
                                             net::buffer(resp.body.data(), write_.body_bytes)};
    write_.sent = SendNow(socket_, bufs, ec_);
    if (ec_) {
      ClearDeadline();
      return false;  // Write reports the failure
    }
    if (write_.sent == h.size() + write_.body_bytes && !resp.stream) {
      bytes_sent_ += write_.body_bytes;
      ClearDeadline();
      *ok = true;
      return true;
    }
  }
  SetDeadline(core_.options.write_timeout);
  return false;
}

net::awaitable<bool> Connection::Write() {
  Response& resp = *response_;
  std::string& h = head_;
  if (!ec_) {
    std::array<net::const_buffer, 2> bufs = {net::buffer(h),
                                             net::buffer(resp.body.data(), write_.body_bytes)};
    if (!tls_) {
      if (write_.sent < h.size() + write_.body_bytes) {
        beast::buffers_suffix<std::array<net::const_buffer, 2>> rest(bufs);
        rest.consume(write_.sent);
        co_await WriteAll(rest, Nothrow(ec_));
      }
    } else {
      co_await WriteAll(bufs, Nothrow(ec_));
    }
  }
  if (!ec_) bytes_sent_ += write_.body_bytes;
  ClearDeadline();
  if (ec_) {
    if (resp.stream) resp.stream->Cancel();
    co_return false;
  }
  if (resp.stream) {
    if (!write_.streaming || write_.head_request) {
      resp.stream->Cancel();
      co_return true;
    }
    co_return co_await StreamBody(resp.stream, write_.chunked);
  }
  co_return true;
}

net::awaitable<bool> Connection::StreamBody(std::shared_ptr<BodyStream> stream, bool chunked) {
  phase_ = Phase::kStreaming;
  stream_ = stream;
  stream_ended_ = false;
  stream_failed_ = false;
  peer_gone_ = false;
  if (closing_) stream->Cancel();
  StartDetector();
  bool write_failed = false;
  std::string size_line;
  for (;;) {
    if (peer_gone_ || forced_) break;
    std::optional<std::string> chunk = co_await PullChunk(*stream);
    if (!chunk) break;
    if (chunk->empty()) continue;
    SetDeadline(core_.options.write_timeout);
    if (chunked) {
      size_line.clear();
      AppendNumber(size_line, chunk->size(), 16);
      size_line += "\r\n";
      std::array<net::const_buffer, 3> bufs = {net::buffer(size_line), net::buffer(*chunk),
                                               net::buffer("\r\n", 2)};
      co_await WriteAll(bufs, Nothrow(ec_));
    } else {
      co_await WriteAll(net::buffer(*chunk), Nothrow(ec_));
    }
    ClearDeadline();
    if (ec_) {
      write_failed = true;
      break;
    }
    bytes_sent_ += chunk->size();
  }
  if (!stream_ended_) stream->Cancel();
  stream_.reset();
  ++pull_seq_;  // a chunk still in flight is dropped

  // A failed stream must not look complete: no final chunk, and the connection closes.
  bool ok = !write_failed && !peer_gone_ && !forced_ && !stream_failed_;
  if (stream_failed_) keep_alive_ = false;
  if (ok && chunked) {
    SetDeadline(core_.options.write_timeout);
    co_await WriteAll(net::buffer("0\r\n\r\n", 5), Nothrow(ec_));
    ClearDeadline();
    ok = !ec_;
  }
  // Take back the socket's read side: stop the detector and keep whatever it read.
  if (detecting_) {
    stop_detect_ = true;
    error_code ec;
    sock().cancel(ec);
    while (detecting_ && !closed_) co_await WaitForWake(steady_clock::time_point::max());
    stop_detect_ = false;
  }
  if (peer_gone_) ok = false;
  phase_ = Phase::kWriting;
  co_return ok;
}

net::awaitable<std::optional<std::string>> Connection::PullChunk(BodyStream& stream) {
  ++pull_seq_;
  chunk_ready_ = false;
  chunk_.reset();
  stream.PullOrFail([handle = worker_.handle, conn = weak_from_this(),
                     seq = pull_seq_](Result<std::optional<std::string>> chunk) {
    if (handle->OnThisThread()) {
      if (auto c = conn.lock()) c->DeliverChunk(seq, std::move(chunk));
      return;
    }
    handle->Post([conn, seq, chunk = std::move(chunk)]() mutable {
      if (auto c = conn.lock()) c->DeliverChunk(seq, std::move(chunk));
    });
  });
  while (!chunk_ready_ && !peer_gone_ && !forced_ && !closed_) {
    co_await WaitForWake(steady_clock::time_point::max());
  }
  if (!chunk_ready_) co_return std::nullopt;
  co_return std::move(chunk_);
}

// A read pending alongside a stream's writes: its failure is how a client's disconnect shows.
void Connection::StartDetector() {
  // While a streamed request body is still being read, its reads own the socket's read side.
  if (detecting_ || closed_ || buffer_.size() >= kMaxDetectBuffer || BodyInProgress()) return;
  detecting_ = true;
  ReadSome(buffer_.prepare(kReadSize),
           [self = shared_from_this()](error_code ec, size_t n) { self->OnDetect(ec, n); });
}

void Connection::OnDetect(error_code ec, size_t n) {
  detecting_ = false;
  if (!ec) {
    buffer_.commit(n);
    if (!stop_detect_ && phase_ == Phase::kStreaming) {
      StartDetector();
      if (detecting_) return;
    }
  } else if (!stop_detect_) {
    peer_gone_ = true;
    if (stream_) stream_->Cancel();
  }
  Wake();
}

bool Connection::StreamThisBody() {
  Status target_error;
  if (!PrepareTarget(&target_error)) return false;  // answered with the error, body buffered
  try {
    return core_.options.stream_body(request_);
  } catch (const std::exception& e) {
    SPDLOG_ERROR("stream_body predicate threw: {}", e.what());
    return false;
  }
}

void Connection::ReadBody(uint64_t seq, BodyReady ready) {
  if (seq != body_seq_ || !body_streamed_ || body_retired_ || closed_) {
    ready(Unavailable("the request is over: its body can no longer be read"));
    return;
  }
  if (body_ready_) {
    ready(FailedPrecondition("a Read of the request body is already pending"));
    return;
  }
  if (body_error_) {
    ready(*body_error_);
    return;
  }
  if (body_done_) {
    ready(std::optional<std::string>());
    return;
  }
  body_ready_ = std::move(ready);
  PumpBody();
}

void Connection::PumpBody() {
  RequestParser& p = *parser_;
  body_piece_.clear();
  while (buffer_.size() > 0 && !p.is_done()) {
    error_code ec;
    size_t used = p.put(net::const_buffer(buffer_.data()), ec);
    buffer_.consume(used);
    if (ec == bhttp::error::body_limit) {
      FailBody(ResourceExhausted("request body over the limit"));
      return;
    }
    if (ec && ec != bhttp::error::need_more) {
      FailBody(InvalidArgument("malformed request body: " + ec.message()));
      return;
    }
    if (ec || used == 0) break;
  }
  if (p.is_done()) body_done_ = true;
  if (!body_piece_.empty()) {
    bytes_received_ += body_piece_.size();
    std::string piece;
    piece.swap(body_piece_);
    DeliverBody(std::optional<std::string>(std::move(piece)));
    return;
  }
  if (body_done_) {
    DeliverBody(std::optional<std::string>());
    return;
  }
  if (closed_) {
    FailBody(Unavailable("the client connection is closed"));
    return;
  }
  // RFC 9110 section 10.1.1: the client may wait for "100 Continue" before sending the body.
  // Only while the response has not started (never two writes at once).
  if (p.expect_continue() && version_ >= 11 && !continue_sent_ && phase_ == Phase::kHandling) {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    continue_sent_ = true;
    continue_writing_ = true;
    WriteAll(net::buffer(kContinue), [self = shared_from_this()](error_code ec, size_t) {
      self->continue_writing_ = false;
      self->Wake();
      if (!self->body_ready_) return;
      if (ec) {
        self->FailBody(Unavailable("the client went away"));
      } else {
        self->StartBodyRead();
      }
    });
    return;
  }
  StartBodyRead();
}

void Connection::StartBodyRead() {
  body_reading_ = true;
  const uint64_t gen = ++body_read_gen_;
  body_timer_.expires_after(core_.options.body_timeout);
  body_timer_.async_wait([self = shared_from_this(), gen](error_code ec) {
    if (ec || gen != self->body_read_gen_ || !self->body_reading_ || self->closed_) return;
    self->body_timed_out_ = true;
    error_code ignored;
    self->sock().cancel(ignored);
  });
  ReadSome(buffer_.prepare(kReadSize),
           [self = shared_from_this()](error_code ec, size_t n) { self->OnBodyRead(ec, n); });
}

void Connection::OnBodyRead(error_code ec, size_t n) {
  body_reading_ = false;
  ++body_read_gen_;
  body_timer_.cancel();
  Wake();  // FinishStreamedBody may be waiting for this read
  if (ec) {
    if (body_timed_out_) {
      AddFlag("RT");
      FailBody(DeadlineExceeded("timed out reading the request body"));
    } else {
      if (!body_retired_) AddFlag("DC");
      FailBody(Unavailable("the client went away while sending the body"));
    }
    return;
  }
  buffer_.commit(n);
  if (body_ready_ && !body_retired_) {
    PumpBody();
  } else if (body_ready_) {
    DeliverBody(Unavailable("the request is over: its body can no longer be read"));
  }
}

void Connection::FailBody(Status status) {
  body_error_ = status;
  keep_alive_ = false;  // the framing is lost
  if (body_ready_) DeliverBody(std::move(status));
}

void Connection::DeliverBody(Result<std::optional<std::string>> value) {
  BodyReady ready = std::move(body_ready_);
  body_ready_ = nullptr;
  try {
    ready(std::move(value));
  } catch (const std::exception& e) {
    SPDLOG_ERROR("request body callback threw: {}", e.what());
  }
}

net::awaitable<bool> Connection::FinishStreamedBody() {
  body_retired_ = true;
  if (body_ready_ && !body_reading_ && !continue_writing_) {
    DeliverBody(Unavailable("the request is over: its body can no longer be read"));
  }
  if (body_error_) co_return false;
  if (body_done_) co_return true;
  // A read still pending: the connection closes (the body's framing is unknown from here); wait
  // for the cancelled operations so that nothing else touches the socket meanwhile.
  if (body_reading_ || continue_writing_) {
    error_code ec;
    sock().cancel(ec);
    while ((body_reading_ || continue_writing_) && !closed_) {
      co_await WaitForWake(steady_clock::time_point::max());
    }
    co_return false;
  }
  // The client waits for "100 Continue" that never came: it may never send the body.
  if (parser_->expect_continue() && !continue_sent_) co_return false;
  if (!keep_alive_ || closing_ || core_.stopping.load()) co_return false;

  // Drain what the handler left unread, bounded, so that the next request starts clean.
  constexpr size_t kDrainBytes = 256 * 1024;
  RequestParser& p = *parser_;
  size_t drained = 0;
  SetDeadline(core_.options.body_timeout);
  for (;;) {
    while (buffer_.size() > 0 && !p.is_done()) {
      body_piece_.clear();
      size_t used = p.put(net::const_buffer(buffer_.data()), ec_);
      buffer_.consume(used);
      drained += body_piece_.size();
      bytes_received_ += body_piece_.size();
      if (ec_ && ec_ != bhttp::error::need_more) co_return false;
      if (ec_ || used == 0) break;
    }
    body_piece_.clear();
    if (p.is_done()) {
      ClearDeadline();
      body_done_ = true;
      co_return true;
    }
    if (drained > kDrainBytes) co_return false;
    size_t n = co_await ReadSome(buffer_.prepare(kReadSize), Nothrow(ec_));
    if (ec_) co_return false;
    buffer_.commit(n);
  }
}

net::awaitable<void> Connection::Tunnel(std::function<void(std::shared_ptr<ByteStream>)> upgrade) {
  phase_ = Phase::kTunnel;
  tunnel_open_ = true;
  SetDeadline(core_.options.tunnel_idle_timeout);
  {
    auto stream = std::make_shared<TunnelStream>(worker_.handle, weak_from_this());
    try {
      upgrade(std::move(stream));
    } catch (const std::exception& e) {
      SPDLOG_ERROR("upgrade callee threw: {}", e.what());
      CloseTunnel();
    }
  }
  // Shutdown began while the 101 was being written: the callee's operations fail at once and
  // it closes its side (it may hold an upstream tunnel).
  if (closing_ || core_.stopping.load()) CloseTunnel();
  while (tunnel_open_ && !closed_ && !forced_) {
    co_await WaitForWake(steady_clock::time_point::max());
  }
  tunnel_open_ = false;
  ClearDeadline();
  // Run closes the socket; operations still pending complete with errors into their callees.
}

void Connection::TunnelRead(BodyReady ready) {
  if (!tunnel_open_ || closed_) {
    ready(Unavailable("the tunnel is closed"));
    return;
  }
  if (tunnel_reading_) {
    ready(FailedPrecondition("a Read of the tunnel is already pending"));
    return;
  }
  if (buffer_.size() > 0) {  // sent right after the upgrade request
    auto data = buffer_.data();
    std::string bytes(static_cast<const char*>(data.data()), data.size());
    buffer_.consume(data.size());
    bytes_received_ += bytes.size();
    ready(std::optional<std::string>(std::move(bytes)));
    return;
  }
  tunnel_reading_ = true;
  ReadSome(buffer_.prepare(kReadSize),
           [self = shared_from_this(), ready = std::move(ready)](error_code ec, size_t n) mutable {
             self->tunnel_reading_ = false;
             if (ec) {
               if (ec == net::error::eof || ec == net::ssl::error::stream_truncated) {
                 ready(std::optional<std::string>());  // the client closed its side
               } else {
                 ready(Unavailable("tunnel read failed: " + ec.message()));
               }
               return;
             }
             self->buffer_.commit(n);
             auto data = self->buffer_.data();
             std::string bytes(static_cast<const char*>(data.data()), data.size());
             self->buffer_.consume(data.size());
             self->bytes_received_ += bytes.size();
             if (self->tunnel_open_) self->SetDeadline(self->core_.options.tunnel_idle_timeout);
             ready(std::optional<std::string>(std::move(bytes)));
           });
}

void Connection::TunnelWrite(std::string data, std::function<void(Status)> done) {
  if (!tunnel_open_ || closed_) {
    done(Unavailable("the tunnel is closed"));
    return;
  }
  if (tunnel_writing_) {
    done(FailedPrecondition("a Write to the tunnel is already pending"));
    return;
  }
  tunnel_writing_ = true;
  tunnel_out_ = std::move(data);
  WriteAll(net::buffer(tunnel_out_),
           [self = shared_from_this(), done = std::move(done)](error_code ec, size_t n) mutable {
             self->tunnel_writing_ = false;
             self->tunnel_out_.clear();
             if (ec) {
               done(Unavailable("tunnel write failed: " + ec.message()));
               return;
             }
             self->bytes_sent_ += n;
             if (self->tunnel_open_) self->SetDeadline(self->core_.options.tunnel_idle_timeout);
             done(Status::Ok());
           });
}

void Connection::CloseTunnel() {
  if (!tunnel_open_) return;
  tunnel_open_ = false;
  error_code ec;
  sock().cancel(ec);  // pending Read/Write complete with errors
  Wake();
}

net::awaitable<void> Connection::LingerClose() {
  error_code ec;
  sock().shutdown(tcp::socket::shutdown_send, ec);
  SetDeadline(kLinger);
  size_t discarded = 0;
  while (discarded < kLingerBytes) {
    buffer_.clear();
    size_t n = co_await ReadSome(buffer_.prepare(kReadSize), Nothrow(ec_));
    if (ec_) break;
    discarded += n;
  }
  buffer_.clear();
}

net::awaitable<void> Connection::RejectBusy() {
  started_ = steady_clock::now();
  if (core_.options.access_log) access_.start = std::chrono::system_clock::now();
  response_.emplace(ErrorResponse(503, "Unavailable", "too many connections"));
  keep_alive_ = false;
  request_.method = "GET";
  phase_ = Phase::kWriting;
  bool ok = false;
  if (!WriteNow(&ok)) ok = co_await Write();
  response_.reset();
  // One access-log line, like any answer: no request was read ("-"); flag OM as Envoy's
  // overload manager marks what it refuses.
  access_.method = "-";
  access_.target = "-";
  AddFlag("OM");
  LogAccess(503);
  if (ok) co_await LingerClose();
}

}  // namespace skiff::http::internal
