#pragma once
// Private to skiff_http: one HTTP/1.1 connection, run as one coroutine on its worker's thread.
//
// Time-outs use one lazily re-armed watchdog timer: setting a later deadline is a plain store,
// so the common keep-alive request costs no timer operation. When the deadline passes the
// watchdog cancels the socket's pending operations and sets timed_out_; the coroutine reads
// that flag to tell a time-out (408) from a peer that went away.
//
// Waiting for a handler's Responder or a BodyStream's chunk parks the coroutine (WaitForWake
// keeps its completion handler), and the delivery, which always runs on the worker's thread,
// stores the value and calls Wake, which posts that handler to the thread. No timer operation
// per wait: a wait's own time-out (the handler time-out) is the watchdog's, re-armed lazily like
// the deadlines. Deliveries carry a sequence number so that a late answer to an earlier request
// is dropped. Waits loop on their condition: other events (a streamed body's read, a tunnel
// closing, Close) wake the same wait.
//
// Two things run as callbacks beside the coroutine rather than inside it, because the handler
// drives them while the coroutine waits: a streamed request body (BodySource reads, with their
// own per-read timer; the disconnect detector stays off while they own the read side) and the
// tunnel after a 101 (ByteStream reads and writes; the watchdog is its idle time-out). Socket
// reads never overlap: FinishStreamedBody waits out (or cancels) a body read before the
// coroutine reads again, and "100 Continue" finishes before the response is written.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <memory>
#include <optional>
#include <string>

#include "http/server_internal.hpp"

namespace skiff::http::internal {

class RequestParser;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // `admitted` false: the server is full; the connection answers 503 and closes.
  Connection(ServerCore& core, Worker& worker, tcp::socket socket, bool admitted);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Starts the coroutine. Call on the worker's thread.
  static void Start(std::shared_ptr<Connection> self);

  // Shutdown hooks, called on the worker's thread. BeginShutdown closes an idle connection,
  // cancels a stream and makes the current response the last; ForceClose closes the socket and
  // wakes every wait.
  void BeginShutdown();
  void ForceClose();

  // Deliveries, on the worker's thread.
  void Deliver(uint64_t seq, Response&& response);
  void DeliverChunk(uint64_t seq, Result<std::optional<std::string>> chunk);
  // A streamed body's Read (BodySource), on the worker's thread; `seq` names the request.
  using BodyReady = std::function<void(Result<std::optional<std::string>>)>;
  void ReadBody(uint64_t seq, BodyReady ready);
  // The upgraded connection's ByteStream operations, on the worker's thread.
  void TunnelRead(BodyReady ready);
  void TunnelWrite(std::string data, std::function<void(Status)> done);
  void CloseTunnel();

 private:
  enum class Phase { kIdle, kReading, kHandling, kWriting, kStreaming, kTunnel };
  // ReadRequest's result: trivially copyable (a coroutine's result is moved on its way out);
  // a rejection's message is in reject_message_ (see Reject).
  struct ReadOutcome {
    enum Kind { kOk, kClosed, kReject } kind = kOk;
    int status = 0;
    std::string_view error;  // kReject: a literal ("BadRequest")
    static ReadOutcome Closed() {
      ReadOutcome out;
      out.kind = kClosed;
      return out;
    }
  };
  // A kReject outcome; `message` goes to reject_message_.
  ReadOutcome Reject(int status, std::string_view error, std::string message) {
    reject_message_ = std::move(message);
    ReadOutcome out;
    out.kind = ReadOutcome::kReject;
    out.status = status;
    out.error = error;
    return out;
  }
  ReadOutcome RejectNoHost() { return Reject(400, "BadRequest", "HTTP/1.1 request without Host"); }

  static net::awaitable<void> Run(std::shared_ptr<Connection> self);
  net::awaitable<void> Loop();
  net::awaitable<void> RejectBusy();
  net::awaitable<ReadOutcome> ReadRequest();
  // Parses a request head without a body that is whole in buffer_ (head_parser.hpp) into
  // request_; false (nothing consumed) when Beast's parser must read it.
  bool ReadLeanRequest();
  // Calls the root handler; response_ is set when it answered inline. Loop waits for a later
  // answer itself (no coroutine frame of its own per request).
  void Handle();
  // Writes response_; clears keep_alive_ when the connection must close. False on I/O failure.
  // WriteNow builds the head and sends what the socket takes at once: true when that was the
  // whole response (then *ok is set, and no coroutine is needed); else Write sends the rest.
  bool WriteNow(bool* ok);
  net::awaitable<bool> Write();
  net::awaitable<bool> StreamBody(std::shared_ptr<BodyStream> stream, bool chunked);
  net::awaitable<std::optional<std::string>> PullChunk(BodyStream& stream);
  // Parks the coroutine until Wake, or until `until` (time_point::max(): no time-out). Each wait
  // is a loop on its condition: a wake-up is no promise that it holds.
  net::awaitable<void> WaitForWake(std::chrono::steady_clock::time_point until);
  // Resumes a parked WaitForWake (posted to the thread, not run inside the caller); no-op when
  // none is parked. Worker thread only.
  void Wake();
  net::awaitable<void> LingerClose();

  // Streamed request bodies: parse what is buffered, else read more (callback-driven: the
  // coroutine is waiting for the handler meanwhile).
  bool StreamThisBody();
  void PumpBody();
  void StartBodyRead();
  void OnBodyRead(boost::system::error_code ec, size_t n);
  void FailBody(Status status);
  void DeliverBody(Result<std::optional<std::string>> value);
  bool BodyInProgress() const {
    return body_streamed_ && !body_done_ && !body_error_ && !body_retired_;
  }
  // After the response: waits out body I/O and drains what the handler left unread. False: the
  // connection must close.
  net::awaitable<bool> FinishStreamedBody();

  // After a 101 with Response::upgrade: hands the connection to `upgrade` as a ByteStream and
  // waits until the tunnel is closed (by the callee, the peer, the idle time-out or shutdown).
  net::awaitable<void> Tunnel(std::function<void(std::shared_ptr<ByteStream>)> upgrade);

  // The response being written: what WriteNow sent and decided, for Write.
  struct WriteState {
    size_t sent = 0;
    size_t body_bytes = 0;  // of resp.body in the write (0: none)
    bool head_request = false;
    bool streaming = false;
    bool chunked = false;
  } write_;

  void ResetRequest();
  // Access log: copies what the handler may move away, then writes the record.
  void CaptureAccess();
  void LogAccess(int status);
  void AddFlag(std::string_view flag);
  bool PrepareTarget(Status* error);
  bool SplitTarget(Status* error);
  void SetDeadline(std::chrono::milliseconds d);
  void ClearDeadline() { deadline_ = std::chrono::steady_clock::time_point::max(); }
  void ArmWatchdog();
  void OnWatchdog();
  void StartDetector();
  void OnDetect(boost::system::error_code ec, size_t n);
  void Close();

  // The TCP socket, inside the TLS stream when there is one.
  tcp::socket& sock() { return tls_ ? tls_->next_layer() : socket_; }
  // Reads/writes through TLS when on; both branches have the same awaitable type.
  template <class Buffers, class Token>
  auto ReadSome(const Buffers& b, Token&& token) {
    if (tls_) return tls_->async_read_some(b, std::forward<Token>(token));
    return socket_.async_read_some(b, std::forward<Token>(token));
  }
  template <class Buffers, class Token>
  auto WriteAll(const Buffers& b, Token&& token) {
    if (tls_) return net::async_write(*tls_, b, std::forward<Token>(token));
    return net::async_write(socket_, b, std::forward<Token>(token));
  }

  ServerCore& core_;
  Worker& worker_;
  tcp::socket socket_;  // moved into tls_ when TLS is on
  // The TLS context this connection's stream uses, kept alive past a reload (before tls_, so
  // that it is destroyed after it).
  std::shared_ptr<net::ssl::context> tls_ctx_;
  std::optional<net::ssl::stream<tcp::socket>> tls_;
  const bool admitted_;
  boost::beast::flat_buffer buffer_;
  std::string remote_addr_;

  net::steady_timer watchdog_;
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
  bool timed_out_ = false;
  // WaitForWake's completion handler while the coroutine is parked there, and when that wait
  // ends by itself (time_point::max(): only Wake ends it).
  using Parked = net::async_result<net::use_awaitable_t<>, void()>::handler_type;
  std::optional<Parked> parked_;
  std::chrono::steady_clock::time_point wake_at_ = std::chrono::steady_clock::time_point::max();

  Phase phase_ = Phase::kIdle;
  bool closing_ = false;  // shutdown: this response is the last
  bool forced_ = false;   // shutdown grace is over
  bool closed_ = false;
  boost::system::error_code ec_;

  // The current request.
  std::unique_ptr<RequestParser> parser_;
  Request request_;
  int version_ = 11;
  bool keep_alive_ = true;
  // PrepareTarget's outcome for the current request (target_error_ when kInvalid).
  enum class TargetState { kUnknown, kReady, kInvalid } target_state_ = TargetState::kUnknown;
  Status target_error_;
  std::string method_;          // copied before dispatch: the handler may move from request_
  std::string reject_message_;  // the message of ReadRequest's last kReject outcome
  std::string route_;
  std::chrono::steady_clock::time_point started_;
  std::shared_ptr<AccessNotes> notes_;  // the handler's copy is request_.notes
  AccessRecord access_;                 // filled only when the access log is on
  uint64_t bytes_sent_ = 0;             // response body bytes of the current request
  uint64_t bytes_received_ = 0;         // request body bytes of the current request
  std::string flags_;                   // the server's own flags for the current request
  uint64_t seq_ = 0;
  std::optional<Response> response_;
  std::string head_;  // response head, reused

  // The current request's streamed body (ServerOptions::stream_body).
  bool body_streamed_ = false;
  bool body_done_ = false;         // the parser has seen the end of the body
  bool body_retired_ = false;      // the response is written: Reads fail from now on
  bool body_reading_ = false;      // a socket read for the body is pending
  bool continue_writing_ = false;  // "100 Continue" is being written
  bool continue_sent_ = false;
  bool body_timed_out_ = false;
  uint64_t body_seq_ = 0;             // names the current streamed body for its BodySource
  uint64_t body_read_gen_ = 0;        // matches body_timer_ expiries to reads
  std::optional<Status> body_error_;  // sticky: later Reads get it again
  BodyReady body_ready_;              // the handler's pending Read
  std::string body_piece_;            // the parser's sink while streaming
  net::steady_timer body_timer_;      // per-read body time-out

  // The tunnel after an upgrade.
  bool tunnel_open_ = false;
  bool tunnel_reading_ = false;
  bool tunnel_writing_ = false;
  std::string tunnel_out_;  // the bytes being written

  // The current stream.
  std::shared_ptr<BodyStream> stream_;
  uint64_t pull_seq_ = 0;
  bool chunk_ready_ = false;
  bool stream_ended_ = false;
  bool stream_failed_ = false;  // the stream's PullOrFail answered an error
  std::optional<std::string> chunk_;
  bool detecting_ = false;    // a disconnect-detecting read is pending
  bool stop_detect_ = false;  // we cancelled it ourselves
  bool peer_gone_ = false;
};

}  // namespace skiff::http::internal
