#include "http/server.hpp"

#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <time.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/version.hpp>
#include <charconv>

#include "core/log.hpp"
#include "http/client_internal.hpp"
#include "http/connection.hpp"

namespace skiff::http {

namespace internal {

namespace {

// Ignores exceptions a task throws (a handler bug must not take the pool thread down).
class PoolRunner final : public TaskRunner {
 public:
  explicit PoolRunner(int threads) : pool_(static_cast<size_t>(threads)) {}
  void Post(std::function<void()> task) override {
    net::post(pool_, [task = std::move(task)]() {
      try {
        task();
      } catch (const std::exception& e) {
        SPDLOG_ERROR("pool task threw: {}", e.what());
      } catch (...) {
        SPDLOG_ERROR("pool task threw a non-exception");
      }
    });
  }
  void Stop() { pool_.stop(); }
  void Join() { pool_.join(); }

 private:
  net::thread_pool pool_;
};

int DefaultThreads() { return std::max(1u, std::thread::hardware_concurrency()); }

Result<std::shared_ptr<net::ssl::context>> ServerTlsContext(const std::string& cert_file,
                                                            const std::string& key_file) {
  if (cert_file.empty() || key_file.empty()) {
    return InvalidArgument("TLS needs both a certificate file and a key file");
  }
  auto ctx = std::make_shared<net::ssl::context>(net::ssl::context::tls_server);
  ctx->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                   net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                   net::ssl::context::no_tlsv1_1 | net::ssl::context::single_dh_use);
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(cert_file, ec);
  if (ec) return InvalidArgument("cannot load TLS certificate " + cert_file + ": " + ec.message());
  ctx->use_private_key_file(key_file, net::ssl::context::pem, ec);
  if (ec) return InvalidArgument("cannot load TLS key " + key_file + ": " + ec.message());
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    return InvalidArgument("TLS key " + key_file + " does not match certificate " + cert_file);
  }
  return ctx;
}

}  // namespace

std::string_view MethodLabel(std::string_view method) {
  static constexpr std::string_view kKnown[] = {"GET",   "HEAD",    "POST",  "PUT",    "DELETE",
                                                "PATCH", "OPTIONS", "TRACE", "CONNECT"};
  for (auto k : kKnown) {
    if (method == k) return k;
  }
  return method.empty() ? std::string_view() : std::string_view("OTHER");
}

std::string_view ReasonPhrase(int status) {
  auto r = boost::beast::http::obsolete_reason(
      boost::beast::http::int_to_status(static_cast<unsigned>(status)));
  if (r.empty() || r.front() == '<') return "Status";
  return {r.data(), r.size()};
}

namespace {
thread_local net::io_context* current_io_context = nullptr;
}  // namespace

net::io_context* CurrentIoContext() { return current_io_context; }
void SetCurrentIoContext(net::io_context* ctx) { current_io_context = ctx; }

void AppendDateHeader(std::string& out) {
  thread_local time_t cached_second = 0;
  thread_local char cached[64] = {0};
  thread_local size_t cached_len = 0;
  time_t now = ::time(nullptr);
  if (now != cached_second) {
    struct tm tm;
    ::gmtime_r(&now, &tm);
    cached_len = ::strftime(cached, sizeof cached, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
    cached_second = now;
  }
  out.append(cached, cached_len);
}

Histogram* ServerCore::Count(Worker& w, std::string_view route, std::string_view method, int code) {
  if (requests_total == nullptr) return nullptr;
  if (w.last_children.requests != nullptr && code == w.last_code && route == w.last_route &&
      method == w.last_method) {
    w.last_children.requests->Inc();
    return w.last_children.duration;
  }
  std::string& key = w.metric_key;
  key.assign(route);
  key += '\x1f';
  key += method;
  key += '\x1f';
  char buf[12];
  auto r = std::to_chars(buf, buf + sizeof buf, code);
  std::string_view code_str(buf, static_cast<size_t>(r.ptr - buf));
  key += code_str;
  auto it = w.metric_cache.find(key);
  MetricChildren children;
  if (it != w.metric_cache.end()) {
    children = it->second;
  } else {
    std::string route_s(route), method_s(method);
    children.requests = &requests_total->With({route_s, method_s, std::string(code_str)});
    children.duration = &request_duration->With({route_s, method_s});
    // Bounded: route names come from the route table, methods and codes from small sets.
    if (w.metric_cache.size() < 4096) w.metric_cache.emplace(key, children);
  }
  w.last_children = children;
  w.last_route.assign(route);
  w.last_method.assign(method);
  w.last_code = code;
  children.requests->Inc();
  return children.duration;
}

// ReadGate uses the socket's state in Asio's epoll reactor: its "try a read at once" flag, the
// events it registered and the events epoll reported last. All are private; C++ leaves one way
// to name them: the arguments of an explicit instantiation are not access-checked (Reach
// below). Tied to Boost 1.81's layout, so to that version only.
#if BOOST_VERSION == 108100 && defined(BOOST_ASIO_HAS_EPOLL) && \
    !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
namespace {

using Reactor = net::detail::epoll_reactor;
using State = Reactor::descriptor_state;
using SocketBase = net::basic_socket<tcp, net::any_io_executor>;

template <typename Tag, typename Tag::Type M>
struct Reach {
  friend typename Tag::Type Get(Tag) { return M; }
};
struct SocketImpl {
  using Type =
      net::detail::io_object_impl<net::detail::reactive_socket_service<tcp>, net::any_io_executor>
          SocketBase::*;
  friend Type Get(SocketImpl);
};
struct TrySpeculative {
  using Type = bool (State::*)[Reactor::max_ops];
  friend Type Get(TrySpeculative);
};
struct Registered {
  using Type = uint32_t State::*;
  friend Type Get(Registered);
};
struct ReactorOf {
  using Type = Reactor* State::*;
  friend Type Get(ReactorOf);
};
struct EpollFd {
  using Type = int Reactor::*;
  friend Type Get(EpollFd);
};
struct LastEvents {
  using Type = unsigned int net::detail::scheduler_operation::*;
  friend Type Get(LastEvents);
};
template struct Reach<SocketImpl, &SocketBase::impl_>;
template struct Reach<TrySpeculative, &State::try_speculative_>;
template struct Reach<Registered, &State::registered_events_>;
template struct Reach<ReactorOf, &State::reactor_>;
template struct Reach<EpollFd, &Reactor::epoll_fd_>;
template struct Reach<LastEvents, &net::detail::scheduler_operation::task_result_>;

State* StateOf(tcp::socket& s) {
  return (static_cast<SocketBase&>(s).*Get(SocketImpl{})).get_implementation().reactor_data_;
}

bool& ReadFlag(State* d) { return (d->*Get(TrySpeculative{}))[Reactor::read_op]; }

// Marks the socket read empty: its next read waits for epoll. A read that returned less than
// asked does not tell whether the peer's FIN came with the bytes; epoll does (EPOLLRDHUP),
// once registered for it: a socket whose last report had it, or an error, is not marked (the
// next read sees the end at once, and no event would announce it again). It is registered the
// first time a read finds the socket empty (`nothing_there`: no FIN has come), so a connection
// that carries one request costs no epoll_ctl; until then the socket is not marked.
void MarkEmpty(tcp::socket& s, State* d, bool nothing_there) {
  uint32_t& registered = d->*Get(Registered{});
  if ((registered & EPOLLRDHUP) == 0) {
    if (!nothing_there) return;
    epoll_event ev{};
    ev.events = registered | EPOLLRDHUP;
    ev.data.ptr = d;
    if (::epoll_ctl((d->*Get(ReactorOf{}))->*Get(EpollFd{}), EPOLL_CTL_MOD, s.native_handle(),
                    &ev) != 0) {
      return;
    }
    registered |= EPOLLRDHUP;
  }
  // A C-style cast reaches the private base that holds the last reported events.
  const unsigned events = ((net::detail::scheduler_operation*)d)->*Get(LastEvents{});
  if (!nothing_there && (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) return;
  ReadFlag(d) = false;
}

}  // namespace

ReadGate::ReadGate(tcp::socket& s) {
  State* d = StateOf(s);
  open_ = d != nullptr && ReadFlag(d);
}

void ReadGate::Drained(tcp::socket& s, const boost::system::error_code& ec, size_t n,
                       size_t asked) const {
  if (open_ || ec || n >= asked) return;  // after a try, the reactor's read may be late
  if (State* d = StateOf(s)) MarkEmpty(s, d, /*nothing_there=*/false);
}

bool ReadGate::TryNow(tcp::socket& s, net::mutable_buffer b, size_t& n,
                      boost::system::error_code& ec) {
  if (!open_) return false;
  if (!s.non_blocking()) {
    s.non_blocking(true, ec);
    if (ec) return true;
  }
  n = s.read_some(b, ec);
  const bool nothing = ec == net::error::would_block || ec == net::error::try_again;
  if (nothing || (!ec && n < b.size())) {
    if (State* d = StateOf(s)) MarkEmpty(s, d, nothing);
  }
  if (!nothing) return true;
  ec = {};
  open_ = false;  // the reactor's read that follows is started without a try
  return false;
}
#else
ReadGate::ReadGate(tcp::socket&) : open_(false) {}
void ReadGate::Drained(tcp::socket&, const boost::system::error_code&, size_t, size_t) const {}
bool ReadGate::TryNow(tcp::socket&, net::mutable_buffer, size_t&, boost::system::error_code&) {
  return false;
}
#endif

}  // namespace internal

using internal::Connection;
using internal::tcp;
using internal::Worker;
using internal::net::awaitable;
namespace net = internal::net;

struct Server::Impl {
  internal::ServerCore core;
  internal::PoolRunner blocking;
  internal::PoolRunner cpu;
  uint16_t port = 0;

  std::mutex mu;  // guards started, shutdown_begun, done, helper
  std::condition_variable done_cv;
  bool started = false;
  bool shutdown_begun = false;
  bool done = false;
  std::thread helper;  // runs Shutdown when it was asked for on an I/O thread

  Impl(ServerOptions options, Handler root)
      : blocking(std::max(1, options.blocking_threads)),
        cpu(options.cpu_threads > 0 ? options.cpu_threads : internal::DefaultThreads()) {
    core.options = std::move(options);
    core.root = std::move(root);
  }

  bool OnIoThread() const {
    for (const auto& w : core.workers) {
      if (w->handle->OnThisThread()) return true;
    }
    return false;
  }

  // Runs `f` on every worker's thread and waits for all of them (bounded).
  template <class F>
  void OnEveryWorker(F f) {
    auto pending = std::make_shared<std::atomic<int>>(static_cast<int>(core.workers.size()));
    for (auto& w : core.workers) {
      net::post(*w->ctx, [f, wp = w.get(), pending, this]() {
        f(*wp);
        if (pending->fetch_sub(1) == 1) {
          std::lock_guard lock(core.mu);
          core.cv.notify_all();
        }
      });
    }
    std::unique_lock lock(core.mu);
    core.cv.wait_for(lock, std::chrono::seconds(5), [&] { return pending->load() == 0; });
  }

  void DoShutdown();
};

namespace {

awaitable<void> AcceptLoop(internal::ServerCore* core_ptr) {
  boost::system::error_code ec;
  internal::ServerCore& core = *core_ptr;
  for (;;) {
    Worker& w = core.NextWorker();
    tcp::socket socket(*w.ctx);
    co_await core.acceptor->async_accept(socket, net::redirect_error(net::use_awaitable, ec));
    if (core.stopping.load()) co_return;
    if (ec) {
      if (ec == net::error::operation_aborted || ec == net::error::bad_descriptor) co_return;
      // Out of descriptors and the like: back off instead of spinning.
      SPDLOG_WARN("http accept failed: {}", ec.message());
      net::steady_timer t(core.acceptor->get_executor(), std::chrono::milliseconds(50));
      co_await t.async_wait(net::redirect_error(net::use_awaitable, ec));
      continue;
    }
    bool admitted = core.open->fetch_add(1) < static_cast<int64_t>(core.options.max_connections);
    if (!admitted) core.open->fetch_sub(1);
    net::post(*w.ctx, [&core, &w, admitted, socket = std::move(socket)]() mutable {
      Connection::Start(std::make_shared<Connection>(core, w, std::move(socket), admitted));
    });
  }
}

}  // namespace

Server::Server(ServerOptions options, Handler root, MetricsRegistry* metrics)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(root))) {
  if (metrics != nullptr) {
    impl_->core.requests_total = &metrics->AddCounter(
        "skiff_http_requests_total", "HTTP requests answered", {"route", "method", "code"});
    impl_->core.request_duration = &metrics->AddHistogram(
        "skiff_http_request_duration_seconds",
        "Time from the first byte of a request to its last response byte", {"route", "method"});
    metrics->AddGaugeFunc(
        "skiff_http_open_connections", "Open HTTP connections",
        [open = impl_->core.open]() { return static_cast<double>(open->load()); });
  }
}

Server::~Server() {
  Shutdown();
  Wait();
  if (impl_->helper.joinable()) impl_->helper.join();
  impl_->blocking.Stop();
  impl_->cpu.Stop();
  impl_->blocking.Join();
  impl_->cpu.Join();
  // Connections still suspended (forced past the grace period) die with their io_context.
  impl_->core.acceptor.reset();
  for (auto& w : impl_->core.workers) w->handle->Detach();
  for (auto& w : impl_->core.workers) w->ctx.reset();
}

Result<uint16_t> Server::Start() {
  Impl& impl = *impl_;
  {
    std::lock_guard lock(impl.mu);
    if (impl.started) return FailedPrecondition("server already started");
  }
  const auto& opts = impl.core.options;
  if (!opts.tls_cert_file.empty() || !opts.tls_key_file.empty()) {
    SKIFF_ASSIGN_OR_RETURN(auto ctx,
                           internal::ServerTlsContext(opts.tls_cert_file, opts.tls_key_file));
    impl.core.SetTlsContext(std::move(ctx));
    impl.core.tls_enabled = true;
  }
  int n = opts.io_threads > 0 ? opts.io_threads : internal::DefaultThreads();
  for (int i = 0; i < n; ++i) impl.core.workers.push_back(std::make_unique<Worker>(i));

  boost::system::error_code ec;
  auto addr = net::ip::make_address(opts.host, ec);
  tcp::endpoint endpoint;
  if (!ec) {
    endpoint = tcp::endpoint(addr, opts.port);
  } else {
    tcp::resolver resolver(*impl.core.workers[0]->ctx);
    auto results = resolver.resolve(opts.host, std::to_string(opts.port), ec);
    if (ec || results.empty()) {
      impl.core.workers.clear();
      return InvalidArgument("cannot resolve listen host \"" + opts.host + "\"");
    }
    endpoint = *results.begin();
  }
  const std::string where = opts.host + ":" + std::to_string(opts.port);
  impl.core.acceptor.emplace(*impl.core.workers[0]->ctx);
  impl.core.acceptor->open(endpoint.protocol(), ec);
  if (!ec) impl.core.acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl.core.acceptor->bind(endpoint, ec);
  if (!ec) impl.core.acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    impl.core.acceptor.reset();
    impl.core.workers.clear();
    return Unavailable("cannot listen on " + where + ": " + ec.message());
  }
  impl.port = impl.core.acceptor->local_endpoint().port();

  for (auto& w : impl.core.workers) {
    Worker* wp = w.get();
    w->thread = std::thread([wp] {
      wp->handle->SetThread(std::this_thread::get_id());
      internal::SetCurrentIoContext(wp->ctx.get());
      for (;;) {
        try {
          wp->ctx->run();
          break;
        } catch (const std::exception& e) {
          SPDLOG_ERROR("http I/O thread caught: {}", e.what());
        }
      }
      internal::SetCurrentIoContext(nullptr);
      wp->handle->SetThread(std::thread::id());
    });
  }
  net::co_spawn(*impl.core.workers[0]->ctx, AcceptLoop(&impl.core), [](std::exception_ptr e) {
    if (e) SPDLOG_ERROR("http accept loop ended by an exception");
  });
  {
    std::lock_guard lock(impl.mu);
    impl.started = true;
  }
  return impl.port;
}

void Server::Impl::DoShutdown() {
  core.stopping.store(true);
  auto grace_end = std::chrono::steady_clock::now() + core.options.shutdown_grace;
  net::post(*core.workers[0]->ctx, [this] {
    boost::system::error_code ec;
    core.acceptor->close(ec);
  });
  OnEveryWorker([](Worker& w) {
    // BeginShutdown may end a connection (and erase it) only later, on this thread: copy.
    std::vector<Connection*> conns(w.connections.begin(), w.connections.end());
    for (Connection* c : conns) c->BeginShutdown();
  });
  {
    std::unique_lock lock(core.mu);
    core.cv.wait_until(lock, grace_end, [&] { return core.live == 0; });
  }
  bool forced;
  {
    std::lock_guard lock(core.mu);
    forced = core.live > 0;
  }
  if (forced) {
    SPDLOG_WARN("http shutdown grace period over; closing remaining connections");
    OnEveryWorker([](Worker& w) {
      std::vector<Connection*> conns(w.connections.begin(), w.connections.end());
      for (Connection* c : conns) c->ForceClose();
    });
    std::unique_lock lock(core.mu);
    core.cv.wait_for(lock, std::chrono::seconds(1), [&] { return core.live == 0; });
  }
  for (auto& w : core.workers) {
    w->guard.reset();
    w->ctx->stop();
  }
  for (auto& w : core.workers) {
    if (w->thread.joinable()) w->thread.join();
  }
  std::lock_guard lock(mu);
  done = true;
  done_cv.notify_all();
}

void Server::Shutdown() {
  Impl& impl = *impl_;
  {
    std::lock_guard lock(impl.mu);
    if (!impl.started || impl.shutdown_begun) return;
    impl.shutdown_begun = true;
    if (impl.OnIoThread()) {
      // Joining the I/O threads from one of them would deadlock.
      impl.helper = std::thread([&impl] { impl.DoShutdown(); });
      return;
    }
  }
  impl.DoShutdown();
}

void Server::Wait() {
  std::unique_lock lock(impl_->mu);
  impl_->done_cv.wait(lock, [&] { return !impl_->started || impl_->done; });
}

Status Server::ReloadTls() {
  internal::ServerCore& core = impl_->core;
  if (!core.tls_enabled) return FailedPrecondition("the listener does not speak TLS");
  SKIFF_ASSIGN_OR_RETURN(
      auto ctx, internal::ServerTlsContext(core.options.tls_cert_file, core.options.tls_key_file));
  core.SetTlsContext(std::move(ctx));
  SPDLOG_INFO("reloaded TLS certificate {}", core.options.tls_cert_file);
  return Status::Ok();
}

TaskRunner& Server::blocking_pool() { return impl_->blocking; }
TaskRunner& Server::cpu_pool() { return impl_->cpu; }
uint16_t Server::port() const { return impl_->port; }

size_t Server::open_connections() const {
  return static_cast<size_t>(std::max<int64_t>(0, impl_->core.open->load()));
}

void Server::Fetch(ClientRequest request, std::function<void(Result<ClientResponse>)> done) {
  SKIFF_CHECK(!impl_->core.workers.empty());
  internal::StartFetch(*impl_->core.NextWorker().ctx, std::move(request), std::move(done));
}

}  // namespace skiff::http
