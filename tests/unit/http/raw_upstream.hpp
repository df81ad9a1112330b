#pragma once
// Raw-socket upstreams for tests that need exact bytes or misbehaviour (silent, resetting,
// stale, 101) from the other side of a connection: the pool's and the proxy's tests. Loopback
// only; every wait is bounded (10 s).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace skiff::http::testing {

// A listening socket whose connections are each served by `fn(fd, index)` on their own thread.
// The destructor shuts every connection down (unblocking the handlers) and joins them.
class RawUpstream {
 public:
  using Fn = std::function<void(int fd, int index)>;
  explicit RawUpstream(Fn fn) : fn_(std::move(fn)) {
    lfd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(lfd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(lfd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(lfd_, 64);
    socklen_t len = sizeof addr;
    ::getsockname(lfd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }
  ~RawUpstream() {
    stop_ = true;
    ::shutdown(lfd_, SHUT_RDWR);
    acceptor_.join();
    {
      std::lock_guard lock(mu_);
      for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : threads_) t.join();
    for (int fd : fds_) ::close(fd);
    ::close(lfd_);
  }
  uint16_t port() const { return port_; }
  int accepted() const { return accepted_.load(); }

 private:
  void AcceptLoop() {
    while (!stop_) {
      pollfd p{lfd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int fd = ::accept(lfd_, nullptr, nullptr);
      if (fd < 0) continue;
      int index = accepted_.fetch_add(1);
      std::lock_guard lock(mu_);
      fds_.push_back(fd);
      threads_.emplace_back([this, fd, index] { fn_(fd, index); });
    }
  }

  Fn fn_;
  int lfd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread acceptor_;
  std::mutex mu_;  // guards fds_ and threads_
  std::vector<int> fds_;
  std::vector<std::thread> threads_;
};

// Reads until `buf` holds a full header block; returns it (each line ending in CRLF, without the
// blank line) and leaves
// the rest in `buf`. Empty on EOF or after 10 s.
inline std::string ReadHead(int fd, std::string& buf) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  size_t end;
  while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    if (std::chrono::steady_clock::now() > deadline || ::poll(&p, 1, 100) < 0) return {};
    if (!(p.revents & (POLLIN | POLLHUP | POLLERR))) continue;
    char tmp[65536];
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return {};
    buf.append(tmp, static_cast<size_t>(n));
  }
  std::string head = buf.substr(0, end + 2);
  buf.erase(0, end + 4);
  return head;
}

inline bool Fill(int fd, std::string& buf) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 10'000) <= 0) return false;
  char tmp[65536];
  ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
  if (n <= 0) return false;
  buf.append(tmp, static_cast<size_t>(n));
  return true;
}

// Reads a chunked body and returns its size (its bytes are dropped); -1 on a framing error.
inline int64_t DrainChunked(int fd, std::string& buf) {
  int64_t total = 0;
  for (;;) {
    size_t eol;
    while ((eol = buf.find("\r\n")) == std::string::npos) {
      if (!Fill(fd, buf)) return -1;
    }
    size_t size = std::stoul(buf.substr(0, eol), nullptr, 16);
    buf.erase(0, eol + 2);
    while (buf.size() < size + 2) {
      if (!Fill(fd, buf)) return -1;
    }
    buf.erase(0, size + 2);
    if (size == 0) return total;
    total += static_cast<int64_t>(size);
  }
}

inline bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace skiff::http::testing
