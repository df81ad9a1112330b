#pragma once
// Test helpers for skiff_http: a raw POSIX client that speaks just enough HTTP/1.1 to check the
// server byte by byte, a test server wrapper, and condition waits with deadlines.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "http/router.hpp"
#include "http/server.hpp"
#include "unit/wait_until.hpp"

namespace skiff::http::testing {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

using ::skiff::testing::WaitUntil;

struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names (the last of repeated ones)
  std::map<std::string, size_t> counts;        // how often each lower-case name came
  std::string body;
  bool chunked = false;
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// A blocking client socket with deadlines on every read.
class RawConn {
 public:
  explicit RawConn(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
    int one = 1;
    if (fd_ >= 0) ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~RawConn() { Close(); }
  RawConn(const RawConn&) = delete;
  RawConn& operator=(const RawConn&) = delete;

  bool ok() const { return fd_ >= 0; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  void ShutdownWrite() { ::shutdown(fd_, SHUT_WR); }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads more bytes into the buffer. False on EOF, error or time-out.
  bool Fill(Clock::time_point deadline) {
    if (fd_ < 0) return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buf[16384];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buf_.append(buf, static_cast<size_t>(n));
    return true;
  }

  // True when the peer closes (EOF or reset) before the deadline, with no further bytes
  // expected; any bytes that arrive are kept in buffered().
  bool WaitClosed(std::chrono::milliseconds timeout = 5s) {
    auto deadline = Clock::now() + timeout;
    while (!eof_) {
      if (!Fill(deadline) && !eof_) return false;
    }
    return true;
  }

  // Reads a status line and header block. nullopt on time-out or EOF.
  std::optional<RawResponse> ReadHead(std::chrono::milliseconds timeout = 5s) {
    auto deadline = Clock::now() + timeout;
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill(deadline)) return std::nullopt;
    }
    std::string head = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    RawResponse r;
    if (head.size() < 12 || head.compare(0, 5, "HTTP/") != 0) return std::nullopt;
    r.status = std::stoi(head.substr(9, 3));
    size_t pos = head.find("\r\n");
    while (pos != std::string::npos) {
      size_t next = head.find("\r\n", pos + 2);
      std::string line =
          head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        size_t v = line.find_first_not_of(' ', colon + 1);
        r.headers[name] = v == std::string::npos ? "" : line.substr(v);
        ++r.counts[name];
      }
      pos = next;
    }
    r.chunked = r.Header("transfer-encoding") == "chunked";
    return r;
  }

  // Reads one chunk of a chunked body; "" is the last chunk. nullopt on time-out or EOF.
  std::optional<std::string> ReadChunk(std::chrono::milliseconds timeout = 5s) {
    auto deadline = Clock::now() + timeout;
    size_t eol;
    while ((eol = buf_.find("\r\n")) == std::string::npos) {
      if (!Fill(deadline)) return std::nullopt;
    }
    size_t size = std::stoul(buf_.substr(0, eol), nullptr, 16);
    while (buf_.size() < eol + 2 + size + 2) {
      if (!Fill(deadline)) return std::nullopt;
    }
    std::string data = buf_.substr(eol + 2, size);
    buf_.erase(0, eol + 2 + size + 2);
    return data;
  }

  // Reads a whole response (Content-Length, chunked, or until EOF when neither).
  std::optional<RawResponse> ReadResponse(std::chrono::milliseconds timeout = 5s,
                                          bool head_request = false) {
    auto deadline = Clock::now() + timeout;
    auto r = ReadHead(timeout);
    if (!r) return std::nullopt;
    if (head_request || r->status == 204 || r->status == 304 || r->status < 200) return r;
    if (r->chunked) {
      for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        auto c = ReadChunk(left);
        if (!c) return std::nullopt;
        if (c->empty()) break;
        r->body += *c;
      }
      return r;
    }
    if (r->headers.count("content-length")) {
      size_t len = std::stoul(r->Header("content-length"));
      while (buf_.size() < len) {
        if (!Fill(deadline)) return std::nullopt;
      }
      r->body = buf_.substr(0, len);
      buf_.erase(0, len);
      return r;
    }
    while (Fill(deadline)) {
    }
    r->body = std::move(buf_);
    buf_.clear();
    return r;
  }

  const std::string& buffered() const { return buf_; }

 private:
  int fd_ = -1;
  std::string buf_;
  bool eof_ = false;
};

inline std::string Get(std::string_view path, std::string_view extra_headers = "") {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: test\r\n" + std::string(extra_headers) +
         "\r\n";
}

// A started Server with a Router as its root. Routes are added in `setup`, before Start.
class TestServer {
 public:
  explicit TestServer(ServerOptions options, const std::function<void(Router&, Server&)>& setup,
                      MetricsRegistry* metrics = nullptr) {
    options.host = "127.0.0.1";
    options.port = 0;
    if (options.io_threads == 0) options.io_threads = 2;
    if (options.cpu_threads == 0) options.cpu_threads = 2;
    server_ = std::make_unique<Server>(
        options, [this](Request& req, Responder respond) { router_->Dispatch(req, respond); },
        metrics);
    router_ = std::make_unique<Router>(&server_->blocking_pool(), &server_->cpu_pool());
    setup(*router_, *server_);
    auto port = server_->Start();
    if (port) port_ = *port;
  }
  ~TestServer() {
    server_->Shutdown();
    server_->Wait();
  }
  Server& server() { return *server_; }
  uint16_t port() const { return port_; }
  std::string Url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }

 private:
  std::unique_ptr<Router> router_;
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
};

}  // namespace skiff::http::testing
