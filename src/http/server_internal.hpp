#pragma once
// Private to skiff_http: the state server.cpp and connection.cpp share. Includes Asio, so only
// .cpp files of src/http may include it.
//
// Threading: each Worker is one io_context run by one thread; everything a connection owns is
// touched only on its worker's thread. Foreign threads (pools, handlers' own threads) reach a
// connection only through WorkerHandle::Post, which stays safe after the io_context is gone.

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "core/metrics.hpp"
#include "http/server.hpp"

namespace skiff::http::internal {

namespace net = boost::asio;
using tcp = net::ip::tcp;

class Connection;

// A way for any thread to run a function on one worker's thread, or to learn that it is the
// worker's thread. Outlives the io_context (shared by Responders that may outlive the server).
class WorkerHandle {
 public:
  explicit WorkerHandle(net::io_context* ctx) : ctx_(ctx) {}
  bool OnThisThread() const { return thread_id_.load() == std::this_thread::get_id(); }
  void SetThread(std::thread::id id) { thread_id_.store(id); }
  // Runs `f` on the worker's thread later; drops it if the io_context is gone.
  template <class F>
  void Post(F&& f) {
    std::lock_guard lock(mu_);
    if (ctx_ != nullptr) net::post(*ctx_, std::forward<F>(f));
  }
  // Called before the io_context is destroyed.
  void Detach() {
    std::lock_guard lock(mu_);
    ctx_ = nullptr;
  }

 private:
  std::atomic<std::thread::id> thread_id_{};
  std::mutex mu_;  // guards ctx_
  net::io_context* ctx_;
};

struct MetricChildren {
  Counter* requests = nullptr;
  Histogram* duration = nullptr;
};

struct Worker {
  explicit Worker(int index)
      : index(index),
        // One thread runs it, and every socket on it is used on that thread only (connections
        // and the upstream pool's borrowed shards; other threads post): its reactor's
        // per-socket locks are skipped. Posts from other threads and timers stay locked.
        ctx(std::make_unique<net::io_context>(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO)),
        guard(net::make_work_guard(*ctx)),
        handle(std::make_shared<WorkerHandle>(ctx.get())) {}

  int index;
  std::unique_ptr<net::io_context> ctx;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> guard;
  std::shared_ptr<WorkerHandle> handle;
  std::thread thread;
  // Live connections of this worker, for shutdown. Touched only on this worker's thread (or
  // after it has stopped).
  std::unordered_set<Connection*> connections;
  // Metric children by "route\x1fmethod\x1fcode"; touched only on this worker's thread.
  std::unordered_map<std::string, MetricChildren> metric_cache;
  std::string metric_key;  // reused key buffer
  // The children of the last request recorded and what they were for: a run of requests to the
  // same route, method and code (the usual case) skips building the key and the lookup.
  MetricChildren last_children;
  std::string last_route, last_method;
  int last_code = 0;
};

// What every connection reads; owned by Server::Impl, outlives every connection.
struct ServerCore {
  ServerOptions options;
  Handler root;
  bool tls_enabled = false;  // set before the I/O threads start
  // The context new TLS connections use; swapped by Server::ReloadTls. A connection keeps the
  // context it started with (its own shared_ptr), so a reload drops no connection.
  std::shared_ptr<net::ssl::context> TlsContext() {
    std::lock_guard lock(tls_mu);
    return tls;
  }
  void SetTlsContext(std::shared_ptr<net::ssl::context> ctx) {
    std::lock_guard lock(tls_mu);
    tls = std::move(ctx);
  }
  Family<Counter>* requests_total = nullptr;  // null when metrics are off
  Family<Histogram>* request_duration = nullptr;
  // Open (admitted) connections; shared with the metrics gauge, which may outlive the server.
  std::shared_ptr<std::atomic<int64_t>> open = std::make_shared<std::atomic<int64_t>>(0);
  std::vector<std::unique_ptr<Worker>> workers;
  std::optional<tcp::acceptor> acceptor;  // used on workers[0]'s thread
  std::atomic<size_t> next_worker{0};
  std::atomic<bool> stopping{false};  // Shutdown began: answer the current request, then close

  std::mutex mu;               // guards live (and pairs with cv)
  std::condition_variable cv;  // notified when a connection ends
  int64_t live = 0;            // Connection objects alive, admitted or being rejected

  std::mutex tls_mu;  // guards tls
  std::shared_ptr<net::ssl::context> tls;

  Worker& NextWorker() {
    size_t i = next_worker.fetch_add(1, std::memory_order_relaxed) % workers.size();
    return *workers[i];
  }

  // Counts one answered request, before its response is written (a client that has read the
  // response sees it counted), and returns the histogram its duration goes to once the response
  // is written (nullptr without metrics). Call on `w`'s thread.
  Histogram* Count(Worker& w, std::string_view route, std::string_view method, int code);
};

// The io_context of the server I/O thread running this code, or null on any other thread. The
// upstream pool runs exchanges started on a server I/O thread on that thread's own io_context,
// so a proxied request never changes threads.
net::io_context* CurrentIoContext();
void SetCurrentIoContext(net::io_context* ctx);

// Bounds a method label to the standard verbs (a client must not grow the metric families).
std::string_view MethodLabel(std::string_view method);

// The first CR or LF in `s` at or after `from`, or npos. One pass over the bytes, where
// find_first_of("\r\n") calls memchr once per byte (measurable on every header of a request),
// eight bytes at a time (the request head is scanned, and every header name and value of every
// response checked): a byte is CR or LF when XOR with it leaves a zero byte, which the usual
// has-zero-byte test finds; the word that has one is then searched byte by byte.
// Whether any of the eight bytes of `word` is `c`.
inline bool WordHasByte(uint64_t word, char c) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL, kHighs = 0x8080808080808080ULL;
  const uint64_t v = word ^ (kOnes * static_cast<unsigned char>(c));
  return ((v - kOnes) & ~v & kHighs) != 0;
}

inline size_t FindCrLf(std::string_view s, size_t from = 0) {
  size_t i = from;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    if (WordHasByte(w, '\r') || WordHasByte(w, '\n')) break;
  }
  for (; i < s.size(); ++i) {
    if (s[i] == '\r' || s[i] == '\n') return i;
  }
  return std::string_view::npos;
}
inline bool HasCrLf(std::string_view s) { return FindCrLf(s) != std::string_view::npos; }

// A header name that cannot break a head: not empty, without CR, LF, ':' or ' '. With `no_crlf`
// (known: the name's map holds no CR or LF anywhere, HeaderMap::MayHoldCrLf) only ':' and ' '
// are looked for, eight bytes at a time as in FindCrLf.
inline bool SendableName(std::string_view name, bool no_crlf) {
  if (name.empty()) return false;
  size_t i = 0;
  if (no_crlf) {
    for (; i + 8 <= name.size(); i += 8) {
      uint64_t w;
      std::memcpy(&w, name.data() + i, 8);
      if (WordHasByte(w, ':') || WordHasByte(w, ' ')) return false;
    }
  }
  for (; i < name.size(); ++i) {
    const char c = name[i];
    if (c == '\r' || c == '\n' || c == ':' || c == ' ') return false;
  }
  return true;
}

// Sends what a plain socket takes at once, without waiting (it is put in non-blocking mode):
// a response head and small body usually go in whole, and an async_write would only confirm
// that after a round through the scheduler. Returns the bytes sent; "would block" is no error.
// The caller writes the rest (if any) asynchronously.
template <class Buffers>
size_t SendNow(tcp::socket& s, const Buffers& buffers, boost::system::error_code& ec) {
  if (!s.non_blocking()) {
    s.non_blocking(true, ec);
    if (ec) return 0;
  }
  size_t n = s.send(buffers, 0, ec);
  if (ec == net::error::would_block || ec == net::error::try_again) {
    ec = {};
    return 0;
  }
  return n;
}

// Reading a socket empty, the nginx way. nginx stops reading a socket once a read returned less
// than it asked for, until epoll reports the socket readable again. Asio's epoll reactor tries a
// read at once when one starts (a "speculative" read) unless the socket's last read returned 0
// bytes, and keeps trying at once after such a try found nothing: on a keep-alive connection,
// the read that waits for the client's next request, and the one that waits for the upstream's
// answer, mostly find nothing yet (EAGAIN), a system call per request for nothing. A ReadGate
// reads only when epoll has reported the socket readable since it was last read empty:
//
//   ReadGate gate(socket);
//   if (!gate.TryNow(socket, buffer, n, ec)) {     // nothing read (maybe nothing there): wait
//     socket.async_read_some(buffer, ...);         // started without a try, the reactor reads
//     ... in its completion handler:  gate.Drained(socket, ec, n, buffer.size());
//   }
//
// TryNow reads at once (one non-blocking recv) when an event came since the socket was last
// read empty. A read that returns less than its buffer, or nothing, marks the socket empty in
// the reactor: its next read is left to epoll. Drained does so for the reactor's read; it runs
// as the reactor's completion, before its next epoll_wait, so no event for bytes that came
// since has been seen yet, and such an event starts the next read. A short read does not tell
// whether the peer's FIN came with its bytes (then no event would come again): the socket is
// registered for EPOLLRDHUP the first time a read finds it empty (it is not marked before), and
// one whose last epoll report had it is not marked.
// Only for sockets of an io_context run by one thread (the reactor runs on the thread that runs
// the handlers, and none other touches its state), whose read is the only operation pending on
// the socket (so that its handler runs as the reactor's first completion, at once). With
// another Boost than 1.81's epoll reactor, whose private state this uses, TryNow returns false
// and Asio reads as it does.
class ReadGate {
 public:
  explicit ReadGate(tcp::socket& s);
  // True when a read was made: `n` bytes read, or `ec` its error (end of stream included).
  bool TryNow(tcp::socket& s, net::mutable_buffer b, size_t& n, boost::system::error_code& ec);
  // The socket is passed again: by then it may have been closed, its reactor state gone.
  void Drained(tcp::socket& s, const boost::system::error_code& ec, size_t n, size_t asked) const;

 private:
  bool open_;  // an event came since the socket was read empty: TryNow reads
};

// A spare buffer per thread for small response bodies: the upstream pool reads a body of known
// length into it (TakeSpareBody) and the connection gives the body's buffer back once the
// response is written (GiveSpareBody), so proxying small bodies on a thread allocates none. One
// buffer of at most kSpareBodyBytes of capacity is kept per thread.
inline constexpr size_t kSpareBodyBytes = 64 * 1024;
// Swaps the thread's spare buffer into `into` when `into` has less room than `length` and the
// spare has enough; otherwise leaves both.
void TakeSpareBody(std::string& into, size_t length);
// Keeps `body`'s buffer as the thread's spare when it is larger than the spare's (and at most
// kSpareBodyBytes).
void GiveSpareBody(std::string&& body);

// "HTTP/1.1 <code> <reason>\r\n"-ready reason phrase.
std::string_view ReasonPhrase(int status);

// Appends "Date: <IMF-fixdate>\r\n", formatted once per second per thread.
void AppendDateHeader(std::string& out);

}  // namespace skiff::http::internal
