// UpstreamPool against real sockets on 127.0.0.1: an http::Server upstream for the ordinary
// cases and raw socket upstreams for the misbehaving ones (silent, resetting, stale, 101).

#include "http/upstream.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <future>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "http/server_internal.hpp"
#include "unit/http/raw_upstream.hpp"
#include "unit/http/test_certs.hpp"
#include "unit/http/test_util.hpp"

namespace skiff::http {
namespace {

using namespace std::chrono_literals;
using testing::DrainChunked;
using testing::Fill;
using testing::RawUpstream;
using testing::ReadHead;
using testing::SendAll;
using testing::TestServer;
using testing::WaitUntil;

struct Sent {
  Result<UpstreamResponse> response = Internal("no answer");
  UpstreamFailure failure = UpstreamFailure::kInvalid;
};

Sent SendSync(UpstreamPool& pool, UpstreamRequest req) {
  auto p = std::make_shared<std::promise<Sent>>();
  auto f = p->get_future();
  pool.Send(std::move(req), [p](Result<UpstreamResponse> r, UpstreamFailure kind) {
    p->set_value(Sent{std::move(r), kind});
  });
  if (f.wait_for(20s) != std::future_status::ready) return Sent{};
  return f.get();
}

Result<std::optional<std::string>> ReadPiece(BodySource& body) {
  auto p = std::make_shared<std::promise<Result<std::optional<std::string>>>>();
  auto f = p->get_future();
  body.Read([p](Result<std::optional<std::string>> r) { p->set_value(std::move(r)); });
  if (f.wait_for(20s) != std::future_status::ready) return DeadlineExceeded("test: no piece");
  return f.get();
}

Result<std::string> ReadAll(BodySource& body) {
  std::string out;
  for (;;) {
    auto piece = ReadPiece(body);
    if (!piece) return piece.error();
    if (!*piece) return out;
    out += **piece;
  }
}

// The whole body: buffered with the header (small, known length) or read piece by piece.
Result<std::string> ReadAll(UpstreamResponse& r) {
  if (r.buffered_body) {
    auto rest = ReadAll(*r.body);  // already at its end
    if (!rest) return rest.error();
    EXPECT_EQ(*rest, "");
    return *r.buffered_body;
  }
  return ReadAll(*r.body);
}

UpstreamRequest Get(uint16_t port, std::string target) {
  UpstreamRequest req;
  req.endpoint.host = "127.0.0.1";
  req.endpoint.port = port;
  req.target = std::move(target);
  req.headers.Set("Host", "upstream.test");
  return req;
}

// A streamed request body of `pieces` pieces of `piece_bytes`, produced only when asked for.
class CountingSource : public BodySource {
 public:
  CountingSource(int pieces, size_t piece_bytes, std::optional<uint64_t> length)
      : pieces_(pieces), piece_bytes_(piece_bytes), length_(length) {}
  void Read(std::function<void(Result<std::optional<std::string>>)> ready) override {
    int outstanding = ++outstanding_;
    max_outstanding_ = std::max(max_outstanding_.load(), outstanding);
    std::optional<std::string> piece;
    if (produced_ < pieces_) {
      ++produced_;
      piece = std::string(piece_bytes_, 'q');
    }
    --outstanding_;
    // Answer from another thread, as a server connection would.
    std::thread([ready = std::move(ready), piece = std::move(piece)]() mutable {
      ready(std::move(piece));
    }).detach();
  }
  std::optional<uint64_t> content_length() const override { return length_; }
  int max_outstanding() const { return max_outstanding_.load(); }

 private:
  int pieces_;
  size_t piece_bytes_;
  std::optional<uint64_t> length_;
  std::atomic<int> produced_{0};
  std::atomic<int> outstanding_{0};
  std::atomic<int> max_outstanding_{0};
};

TEST(FindCrLfTest, FindsTheFirstCrOrLfInAnyPositionOfAWord) {
  using skiff::http::internal::FindCrLf;
  using skiff::http::internal::HasCrLf;
  // Every length up to three words, with the break at every position (word-wise scanning).
  for (size_t n = 0; n <= 24; ++n) {
    std::string clean(n, 'a');
    EXPECT_FALSE(HasCrLf(clean)) << n;
    EXPECT_EQ(FindCrLf(clean), std::string_view::npos) << n;
    for (size_t at = 0; at < n; ++at) {
      for (char c : {'\r', '\n'}) {
        std::string s = clean;
        s[at] = c;
        if (at + 1 < n) s[n - 1] = '\n';  // a later one must not be found first
        EXPECT_EQ(FindCrLf(s), at) << n << " " << at;
        EXPECT_TRUE(HasCrLf(s));
        EXPECT_EQ(FindCrLf(s, at + 1), at + 1 < n ? n - 1 : std::string_view::npos);
      }
    }
  }
  // Bytes next to CR and LF, and high bytes, are not taken for them.
  EXPECT_FALSE(HasCrLf("\x0b\x0c\x0e\x09\x8d\x8a\xff\x80\x0b\x0c\x0e\x09"));
}

TEST(SpareBodyTest, ABufferGivenBackIsTakenForABodyItFits) {
  using skiff::http::internal::GiveSpareBody;
  using skiff::http::internal::kSpareBodyBytes;
  using skiff::http::internal::TakeSpareBody;
  std::thread fresh([] {  // a thread of its own: its spare starts empty
    std::string none;
    TakeSpareBody(none, 100);
    EXPECT_EQ(none.capacity(), std::string().capacity());

    std::string body(2000, 'b');
    const char* buffer = body.data();
    GiveSpareBody(std::move(body));
    std::string small;
    TakeSpareBody(small, 3000);  // too small for this one: kept
    EXPECT_EQ(small.capacity(), std::string().capacity());
    std::string fits;
    TakeSpareBody(fits, 1500);
    EXPECT_EQ(fits.data(), buffer);
    EXPECT_GE(fits.capacity(), 2000u);
    fits.resize(1500);  // a taken buffer is sized by the caller, as a fresh one
    EXPECT_EQ(fits.size(), 1500u);
    std::string again;
    TakeSpareBody(again, 10);  // the spare went with `fits`
    EXPECT_NE(again.data(), buffer);

    GiveSpareBody(std::string(kSpareBodyBytes + 1, 'x'));  // too large to keep
    std::string big;
    TakeSpareBody(big, 100);
    EXPECT_LT(big.capacity(), 100u);
    // A larger buffer replaces a smaller spare; a smaller one does not replace a larger.
    GiveSpareBody(std::string(500, 's'));
    std::string larger(900, 'l');
    const char* larger_buffer = larger.data();
    GiveSpareBody(std::move(larger));
    GiveSpareBody(std::string(600, 'm'));
    std::string taken;
    TakeSpareBody(taken, 800);
    EXPECT_EQ(taken.data(), larger_buffer);
    EXPECT_TRUE(taken.empty());  // given back cleared
  });
  fresh.join();
}

TEST(SendableNameTest, RefusesColonSpaceCrAndLfInAnyPositionOfAWord) {
  using skiff::http::internal::SendableName;
  EXPECT_FALSE(SendableName("", false));
  EXPECT_FALSE(SendableName("", true));
  for (size_t n = 1; n <= 24; ++n) {
    std::string clean(n, 'x');
    EXPECT_TRUE(SendableName(clean, false)) << n;
    EXPECT_TRUE(SendableName(clean, true)) << n;
    for (size_t at = 0; at < n; ++at) {
      for (char c : {':', ' '}) {
        std::string s = clean;
        s[at] = c;
        EXPECT_FALSE(SendableName(s, false)) << n << " " << at;
        EXPECT_FALSE(SendableName(s, true)) << n << " " << at;
      }
      for (char c : {'\r', '\n'}) {  // without the promise, CR and LF are looked for too
        std::string s = clean;
        s[at] = c;
        EXPECT_FALSE(SendableName(s, false)) << n << " " << at;
      }
    }
  }
  // Bytes next to ':' and ' ' are not taken for them.
  EXPECT_TRUE(SendableName("\x1f!9;\xa0\xba\x80\xff\x1f!9;", true));
}

TEST(UpstreamPoolTest, ReusesOneConnectionForSequentialRequests) {
  UpstreamPool pool;
  std::mutex mu;
  std::set<std::string> peers;  // guarded by mu
  TestServer upstream({}, [&](Router& r, Server&) {
    r.Add({"GET"}, "/who", [&](Request& req, Responder respond) {
      {
        std::lock_guard lock(mu);
        peers.insert(req.remote_addr);
      }
      respond(Response::Text(200, "host=" + std::string(req.headers.Get("Host").value_or(""))));
    });
  });
  for (int i = 0; i < 5; ++i) {
    Sent s = SendSync(pool, Get(upstream.port(), "/who"));
    ASSERT_TRUE(s.response) << s.response.error();
    EXPECT_EQ(s.response->status, 200);
    EXPECT_EQ(s.response->reused_connection, i > 0);
    auto body = ReadAll(*s.response);
    ASSERT_TRUE(body) << body.error();
    EXPECT_EQ(*body, "host=upstream.test");
  }
  std::lock_guard lock(mu);
  EXPECT_EQ(peers.size(), 1u);
  EXPECT_EQ(pool.stats().connections_opened, 1u);
  EXPECT_EQ(pool.stats().reused, 4u);
}

TEST(UpstreamPoolTest, SeveralThreadsEachReuseTheirShardsConnections) {
  UpstreamPoolOptions opts;
  opts.threads = 3;
  UpstreamPool pool(opts);
  TestServer upstream({}, [&](Router& r, Server&) {
    r.Add({"GET"}, "/t", [](Request&, Responder respond) { respond(Response::Text(200, "t")); });
  });
  std::atomic<int> ok{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 3; ++t) {
    callers.emplace_back([&] {
      for (int i = 0; i < 4; ++i) {
        Sent s = SendSync(pool, Get(upstream.port(), "/t"));
        if (!s.response) continue;
        auto body = ReadAll(*s.response);
        if (body && *body == "t") ++ok;
      }
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(ok.load(), 12);
  EXPECT_LE(pool.stats().connections_opened, 3u);
  EXPECT_GE(pool.stats().reused, 9u);
}

TEST(UpstreamPoolTest, UnfinishedBodyClosesTheConnectionInsteadOfReusingIt) {
  UpstreamPool pool;
  TestServer upstream({}, [&](Router& r, Server&) {
    r.Add({"GET"}, "/big", [](Request&, Responder respond) {
      respond(Response::Text(200, std::string(1 << 20, 'x')));
    });
  });
  {
    Sent s = SendSync(pool, Get(upstream.port(), "/big"));
    ASSERT_TRUE(s.response) << s.response.error();
    auto piece = ReadPiece(*s.response->body);
    ASSERT_TRUE(piece && *piece);
    s.response->body->Cancel();
  }
  Sent s = SendSync(pool, Get(upstream.port(), "/big"));
  ASSERT_TRUE(s.response) << s.response.error();
  EXPECT_FALSE(s.response->reused_connection);
  auto body = ReadAll(*s.response);
  ASSERT_TRUE(body);
  EXPECT_EQ(body->size(), 1u << 20);
  EXPECT_EQ(pool.stats().connections_opened, 2u);
}

TEST(UpstreamPoolTest, StreamsFiftyMegabytesBothWaysWithBoundedBuffers) {
  constexpr int kPieces = 50;
  constexpr size_t kPiece = 1 << 20;
  constexpr uint64_t kTotal = uint64_t{kPieces} * kPiece;
  std::atomic<int64_t> received{-2};
  RawUpstream upstream([&](int fd, int) {
    std::string buf;
    std::string head = ReadHead(fd, buf);
    if (head.find("Transfer-Encoding: chunked") == std::string::npos) return;
    received = DrainChunked(fd, buf);
    SendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kTotal) + "\r\n\r\n");
    std::string block(64 * 1024, 'r');
    for (uint64_t sent = 0; sent < kTotal; sent += block.size()) {
      if (!SendAll(fd, block)) return;
    }
    std::string rest;
    ReadHead(fd, rest);  // until the pool closes or the test ends
  });
  UpstreamPool pool;
  auto source = std::make_shared<CountingSource>(kPieces, kPiece, std::nullopt);
  UpstreamRequest req = Get(upstream.port(), "/upload");
  req.method = "POST";
  req.body_source = source;
  Sent s = SendSync(pool, std::move(req));
  ASSERT_TRUE(s.response) << s.response.error();
  EXPECT_EQ(received.load(), static_cast<int64_t>(kTotal));
  EXPECT_EQ(source->max_outstanding(), 1);
  uint64_t got = 0;
  size_t max_buffered = 0, max_piece = 0;
  for (;;) {
    auto piece = ReadPiece(*s.response->body);
    ASSERT_TRUE(piece) << piece.error();
    if (!*piece) break;
    got += (*piece)->size();
    max_piece = std::max(max_piece, (*piece)->size());
    max_buffered = std::max(max_buffered, s.response->body->buffered_bytes());
  }
  EXPECT_EQ(got, kTotal);
  EXPECT_LE(max_piece, 64u * 1024);
  EXPECT_LE(max_buffered, 256u * 1024);
}

TEST(UpstreamPoolTest, StreamedBodyWithLengthIsSentWithContentLength) {
  std::atomic<bool> ok{false};
  RawUpstream upstream([&](int fd, int) {
    std::string buf;
    std::string head = ReadHead(fd, buf);
    if (head.find("Content-Length: 3000") == std::string::npos) return;
    while (buf.size() < 3000) {
      if (!Fill(fd, buf)) return;
    }
    ok = buf == std::string(3000, 'q');
    SendAll(fd, "HTTP/1.1 204 No Content\r\n\r\n");
    std::string rest;
    ReadHead(fd, rest);
  });
  UpstreamPool pool;
  UpstreamRequest req = Get(upstream.port(), "/put");
  req.method = "PUT";
  req.body_source = std::make_shared<CountingSource>(3, 1000, 3000);
  Sent s = SendSync(pool, std::move(req));
  ASSERT_TRUE(s.response) << s.response.error();
  EXPECT_EQ(s.response->status, 204);
  EXPECT_TRUE(ok.load());
}

TEST(UpstreamPoolTest, SilentUpstreamIsAResponseTimeout) {
  RawUpstream upstream([](int fd, int) {
    std::string buf;
    ReadHead(fd, buf);
    ReadHead(fd, buf);  // never answers; returns when the pool gives up
  });
  UpstreamPool pool;
  UpstreamRequest req = Get(upstream.port(), "/slow");
  req.response_timeout = 200ms;
  auto start = std::chrono::steady_clock::now();
  Sent s = SendSync(pool, std::move(req));
  ASSERT_FALSE(s.response);
  EXPECT_EQ(s.failure, UpstreamFailure::kResponseTimeout);
  EXPECT_EQ(s.response.error().code(), Code::kDeadlineExceeded);
  EXPECT_NE(s.response.error().message().find("127.0.0.1:" + std::to_string(upstream.port())),
            std::string::npos)
      << s.response.error();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

uint16_t ClosedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

TEST(UpstreamPoolTest, RefusedConnectionIsAConnectFailureNamingTheUpstream) {
  UpstreamPool pool;
  uint16_t port = ClosedPort();
  Sent s = SendSync(pool, Get(port, "/"));
  ASSERT_FALSE(s.response);
  EXPECT_EQ(s.failure, UpstreamFailure::kConnectFailure);
  EXPECT_EQ(s.response.error().code(), Code::kUnavailable);
  EXPECT_EQ(s.response.error().message(),
            "upstream 127.0.0.1:" + std::to_string(port) + " refused the connection");
}

TEST(UpstreamPoolTest, ResetBeforeTheResponseIsAReset) {
  RawUpstream upstream([](int fd, int) {
    std::string buf;
    ReadHead(fd, buf);
    ::shutdown(fd, SHUT_RDWR);
  });
  UpstreamPool pool;
  UpstreamRequest req = Get(upstream.port(), "/");
  req.method = "POST";  // not idempotent: no retry
  Sent s = SendSync(pool, std::move(req));
  ASSERT_FALSE(s.response);
  EXPECT_EQ(s.failure, UpstreamFailure::kReset);
  EXPECT_EQ(s.response.error().code(), Code::kUnavailable);
  EXPECT_EQ(upstream.accepted(), 1);
}

TEST(UpstreamPoolTest, ResetInTheMiddleOfTheBodyIsAReadError) {
  RawUpstream upstream([](int fd, int) {
    std::string buf;
    ReadHead(fd, buf);
    SendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n0123456789");
    ::shutdown(fd, SHUT_RDWR);
  });
  UpstreamPool pool;
  Sent s = SendSync(pool, Get(upstream.port(), "/"));
  ASSERT_TRUE(s.response) << s.response.error();
  auto body = ReadAll(*s.response);
  ASSERT_FALSE(body);
  EXPECT_EQ(body.error().code(), Code::kUnavailable);
  EXPECT_NE(body.error().message().find("middle of the response body"), std::string::npos);
  // The broken connection is not pooled.
  EXPECT_EQ(pool.stats().idle, 0u);
}

TEST(UpstreamPoolTest, SmallBodyIsBufferedWithTheHeaderAndItsCutIsAReset) {
  RawUpstream whole([](int fd, int) {
    std::string buf;
    ReadHead(fd, buf);
    SendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234");
    SendAll(fd, "56789");
    ReadHead(fd, buf);  // keep-alive: wait for a next request (or the pool's close)
  });
  UpstreamPool pool;
  Sent s = SendSync(pool, Get(whole.port(), "/"));
  ASSERT_TRUE(s.response) << s.response.error();
  ASSERT_TRUE(s.response->buffered_body);
  EXPECT_EQ(*s.response->buffered_body, "0123456789");
  EXPECT_TRUE(WaitUntil([&] { return pool.stats().idle == 1; }, 5s));  // back in the pool

  // A small body cut short fails the exchange itself (the proxy answers 502, not a cut 200).
  RawUpstream cut([](int fd, int) {
    std::string buf;
    ReadHead(fd, buf);
    SendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\ncut");
    ::shutdown(fd, SHUT_RDWR);
  });
  UpstreamRequest req = Get(cut.port(), "/");
  req.method = "POST";  // not retried
  Sent t = SendSync(pool, std::move(req));
  ASSERT_FALSE(t.response);
  EXPECT_EQ(t.failure, UpstreamFailure::kReset);
  EXPECT_NE(t.response.error().message().find("middle of the response body"), std::string::npos);
}

TEST(UpstreamPoolTest, StalePooledConnectionIsRetriedOnceOnAFreshOne) {
  RawUpstream upstream([](int fd, int index) {
    std::string buf;
    if (ReadHead(fd, buf).empty()) return;
    SendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst");
    if (index == 0) {
      // A keep-alive race: the next request arrives as the upstream gives up on the connection.
      ReadHead(fd, buf);
      ::shutdown(fd, SHUT_RDWR);
      return;
    }
    ReadHead(fd, buf);
  });
  UpstreamPool pool;
  Sent first = SendSync(pool, Get(upstream.port(), "/"));
  ASSERT_TRUE(first.response) << first.response.error();
  ASSERT_TRUE(ReadAll(*first.response));
  Sent second = SendSync(pool, Get(upstream.port(), "/"));
  ASSERT_TRUE(second.response) << second.response.error();
  EXPECT_TRUE(second.response->retried);
  EXPECT_FALSE(second.response->reused_connection);
  EXPECT_EQ(upstream.accepted(), 2);
}

// An io_context run on its own thread that says it is a server I/O thread, as Server's threads
// do: Send called there runs on that thread, and a request finding a pooled plain connection is
// exchanged by callbacks instead of a coroutine (the proxy's usual path). Declare it after the
// pool: its io_context closes its idle connections when destroyed.
class IoThread {
 public:
  IoThread() : guard_(boost::asio::make_work_guard(ctx_)) {
    thread_ = std::thread([this] {
      internal::SetCurrentIoContext(&ctx_);
      ctx_.run();
      internal::SetCurrentIoContext(nullptr);
    });
  }
  ~IoThread() {
    guard_.reset();
    ctx_.stop();
    thread_.join();
  }
  Sent Send(UpstreamPool& pool, UpstreamRequest req) {
    auto p = std::make_shared<std::promise<Sent>>();
    auto f = p->get_future();
    boost::asio::post(ctx_, [&pool, req = std::move(req), p]() mutable {
      pool.Send(std::move(req), [p](Result<UpstreamResponse> r, UpstreamFailure kind) {
        p->set_value(Sent{std::move(r), kind});
      });
    });
    if (f.wait_for(20s) != std::future_status::ready) return Sent{};
    return f.get();
  }

 private:
  boost::asio::io_context ctx_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::thread thread_;
};

// Serves `first` to the first request on each connection, then `then(fd, buf, request head)`.
RawUpstream::Fn FirstThen(
    std::string first,
    std::function<void(int fd, std::string& buf, const std::string& head)> then) {
  return [first = std::move(first), then = std::move(then)](int fd, int) {
    std::string buf;
    if (ReadHead(fd, buf).empty()) return;
    SendAll(fd, first);
    std::string head = ReadHead(fd, buf);
    if (head.empty()) return;
    then(fd, buf, head);
  };
}

constexpr std::string_view kFirst = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst";

// The whole body, or the error's message in angle brackets.
std::string BodyOf(UpstreamResponse& r) {
  auto body = ReadAll(r);
  return body ? *body : "<" + body.error().message() + ">";
}

// The first exchange opens (and pools) a connection; returns the second's outcome.
Sent SecondOnPooledConnection(UpstreamPool& pool, IoThread& io, UpstreamRequest second) {
  UpstreamRequest first = second;
  first.method = "GET";
  Sent s = io.Send(pool, std::move(first));
  EXPECT_TRUE(s.response) << s.response.error();
  if (s.response) {
    EXPECT_EQ(BodyOf(*s.response), "first");
  }
  return io.Send(pool, std::move(second));
}

TEST(UpstreamPoolTest, WritesTheRequestHeadExactly) {
  // Every head the pool wrote, byte for byte, on fresh and pooled connections.
  std::mutex mu;
  std::vector<std::string> heads;
  RawUpstream upstream([&](int fd, int) {
    std::string buf;
    for (;;) {
      std::string head = ReadHead(fd, buf);
      if (head.empty()) return;
      size_t cl = head.find("Content-Length: ");
      size_t body = cl == std::string::npos ? 0 : std::stoul(head.substr(cl + 16));
      while (buf.size() < body) {
        if (!Fill(fd, buf)) return;
      }
      buf.erase(0, body);
      {
        std::lock_guard lock(mu);
        heads.push_back(head);
      }
      SendAll(fd, "HTTP/1.1 204 No Content\r\n\r\n");
    }
  });
  UpstreamPool pool;
  IoThread io;
  UpstreamRequest get = Get(upstream.port(), "/a/b?c=d");
  get.headers.Add("X-Long", std::string(300, 'v'));
  get.headers.Add("Connection", "keep-alive");  // the pool's own framing headers are dropped
  get.headers.Add("Content-Length", "99");
  UpstreamRequest post = Get(upstream.port(), "/p");
  post.method = "POST";
  post.headers = HeaderMap();  // no Host: the upstream's host:port
  post.body = "four";
  UpstreamRequest empty_put = Get(upstream.port(), "/e");
  empty_put.method = "PUT";
  for (int round = 0; round < 2; ++round) {
    for (const UpstreamRequest& r : {get, post, empty_put}) {
      Sent sent = io.Send(pool, r);
      ASSERT_TRUE(sent.response) << sent.response.error();
      EXPECT_EQ(sent.response->status, 204);
    }
  }
  const std::string port = std::to_string(upstream.port());
  std::lock_guard lock(mu);
  ASSERT_EQ(heads.size(), 6u);
  for (size_t i = 0; i < heads.size(); i += 3) {
    EXPECT_EQ(heads[i], "GET /a/b?c=d HTTP/1.1\r\nHost: upstream.test\r\nX-Long: " +
                            std::string(300, 'v') + "\r\n");
    EXPECT_EQ(heads[i + 1],
              "POST /p HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\nContent-Length: 4\r\n");
    EXPECT_EQ(heads[i + 2], "PUT /e HTTP/1.1\r\nHost: upstream.test\r\nContent-Length: 0\r\n");
  }
}

TEST(UpstreamPoolFastPathTest, PooledConnectionServesBufferedStreamedHeadAndEmptyAnswers) {
  const std::string big(200'000, 'b');  // over buffer_body_bytes: streamed
  RawUpstream upstream([&](int fd, int) {
    std::string buf;
    for (int i = 0;; ++i) {
      std::string head = ReadHead(fd, buf);
      if (head.empty()) return;
      if (head.rfind("GET /small", 0) == 0) {
        SendAll(fd, "HTTP/1.1 200 OK\r\nX-Up: 1\r\nContent-Length: 11\r\n\r\nhello world");
      } else if (head.rfind("GET /big", 0) == 0) {
        SendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(big.size()) +
                        "\r\n\r\n" + big);
      } else if (head.rfind("HEAD ", 0) == 0) {
        SendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n");
      } else if (head.rfind("POST /continue", 0) == 0) {
        if (head.find("Content-Length: 4\r\n") == std::string::npos) return;
        while (buf.size() < 4) {
          if (!Fill(fd, buf)) return;
        }
        std::string got = buf.substr(0, 4);
        buf.erase(0, 4);
        SendAll(
            fd,
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\n" + got);
      } else {
        SendAll(fd, "HTTP/1.1 204 No Content\r\n\r\n");
      }
    }
  });
  UpstreamPool pool;
  IoThread io;
  for (int round = 0; round < 2; ++round) {
    Sent small = io.Send(pool, Get(upstream.port(), "/small"));
    ASSERT_TRUE(small.response) << small.response.error();
    EXPECT_EQ(small.response->status, 200);
    EXPECT_EQ(small.response->headers.Get("x-up"), "1");
    ASSERT_TRUE(small.response->buffered_body);
    EXPECT_EQ(BodyOf(*small.response), "hello world");
    EXPECT_EQ(small.response->reused_connection, round > 0);

    Sent large = io.Send(pool, Get(upstream.port(), "/big"));
    ASSERT_TRUE(large.response) << large.response.error();
    EXPECT_TRUE(large.response->reused_connection);
    EXPECT_FALSE(large.response->buffered_body);
    auto body = ReadAll(*large.response);
    ASSERT_TRUE(body) << body.error();
    EXPECT_EQ(body->size(), big.size());

    UpstreamRequest head = Get(upstream.port(), "/head");
    head.method = "HEAD";
    Sent h = io.Send(pool, std::move(head));
    ASSERT_TRUE(h.response) << h.response.error();
    EXPECT_TRUE(h.response->reused_connection);
    EXPECT_EQ(h.response->headers.Get("Content-Length"), "999");
    EXPECT_EQ(BodyOf(*h.response), "");

    UpstreamRequest post = Get(upstream.port(), "/continue");
    post.method = "POST";
    post.body = "data";
    Sent c = io.Send(pool, std::move(post));
    ASSERT_TRUE(c.response) << c.response.error();
    EXPECT_EQ(c.response->status, 201);  // the interim 100 skipped
    EXPECT_EQ(BodyOf(*c.response), "data");

    Sent empty = io.Send(pool, Get(upstream.port(), "/empty"));
    ASSERT_TRUE(empty.response) << empty.response.error();
    EXPECT_EQ(empty.response->status, 204);
    EXPECT_EQ(BodyOf(*empty.response), "");
  }
  EXPECT_EQ(upstream.accepted(), 1);  // every exchange on the one pooled connection
  EXPECT_EQ(pool.stats().connections_opened, 1u);
  EXPECT_EQ(pool.stats().exchanges, 10u);
  EXPECT_EQ(pool.stats().reused, 9u);
}

// Bodies read whole with their heads are handed out again to the next of the same length
// (Shard::last_ended): each response's body still has its own length and ends at once, and the
// bodies of earlier responses keep theirs.
TEST(UpstreamPoolFastPathTest, BodiesReadWithTheirHeadsKeepTheirOwnLengths) {
  RawUpstream upstream([](int fd, int) {
    std::string buf;
    for (;;) {
      std::string head = ReadHead(fd, buf);
      if (head.empty()) return;
      const size_t n = std::stoul(head.substr(5, head.find(' ', 5) - 5));  // "GET /N "
      SendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(n) + "\r\n\r\n" +
                      std::string(n, 'x'));
    }
  });
  UpstreamPool pool;
  IoThread io;
  const std::vector<uint64_t> lengths = {5, 7, 7, 5, 0, 1, 5, 5};
  std::vector<std::shared_ptr<UpstreamBody>> bodies;
  for (uint64_t n : lengths) {
    Sent s = io.Send(pool, Get(upstream.port(), "/" + std::to_string(n)));
    ASSERT_TRUE(s.response) << s.response.error();
    EXPECT_EQ(s.response->body->content_length(), n);
    EXPECT_EQ(BodyOf(*s.response), std::string(n, 'x'));
    auto again = ReadAll(*s.response->body);  // at its end: read again, nothing more
    ASSERT_TRUE(again) << again.error();
    EXPECT_EQ(*again, "");
    bodies.push_back(s.response->body);
  }
  for (size_t i = 0; i < lengths.size(); ++i) {
    EXPECT_EQ(bodies[i]->content_length(), lengths[i]) << i;
  }
  EXPECT_EQ(pool.stats().connections_opened, 1u);
}

// The lean head parser's reads on a pooled connection: a small body that follows its head in
// pieces, a head split across segments (Beast's parser reads it on), and answers after which the
// connection is not reused (HTTP/1.0 without keep-alive, "Connection: close").
TEST(UpstreamPoolFastPathTest, PiecemealAndClosingAnswersOnAPooledConnection) {
  RawUpstream upstream([](int fd, int) {
    std::string buf;
    for (;;) {
      std::string head = ReadHead(fd, buf);
      if (head.empty()) return;
      // The pauses put the pieces in separate segments; the outcome is the same if they merge.
      if (head.rfind("GET /pieces", 0) == 0) {
        SendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab");
        std::this_thread::sleep_for(20ms);
        SendAll(fd, "cdef");
        std::this_thread::sleep_for(20ms);
        SendAll(fd, "ghij");
      } else if (head.rfind("GET /split", 0) == 0) {
        SendAll(fd, "HTTP/1.1 200 OK\r\nX-Split: 1\r\nConte");
        std::this_thread::sleep_for(20ms);
        SendAll(fd, "nt-Length: 5\r\n\r\nsplit");
      } else if (head.rfind("GET /old", 0) == 0) {
        SendAll(fd, "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nold");
      } else if (head.rfind("GET /close", 0) == 0) {
        SendAll(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nclose");
      } else {
        SendAll(fd, kFirst);
      }
    }
  });
  UpstreamPool pool;
  IoThread io;
  auto body_of = [&](const std::string& target, bool reused) {
    Sent s = io.Send(pool, Get(upstream.port(), target));
    if (!s.response) return "<" + s.response.error().message() + ">";
    EXPECT_EQ(s.response->reused_connection, reused) << target;
    return BodyOf(*s.response);
  };
  EXPECT_EQ(body_of("/", false), "first");
  EXPECT_EQ(body_of("/pieces", true), "abcdefghij");
  EXPECT_EQ(body_of("/split", true), "split");
  EXPECT_EQ(body_of("/old", true), "old");  // then closed: the next opens a connection
  EXPECT_EQ(body_of("/", false), "first");
  EXPECT_EQ(body_of("/close", true), "close");
  EXPECT_EQ(body_of("/", false), "first");
  EXPECT_EQ(upstream.accepted(), 3);
  EXPECT_EQ(pool.stats().connections_opened, 3u);
}

TEST(UpstreamPoolFastPathTest, StalePooledConnectionIsRetriedOnceOnAFreshOne) {
  RawUpstream upstream([](int fd, int index) {
    std::string buf;
    if (ReadHead(fd, buf).empty()) return;
    SendAll(fd, kFirst);
    if (index == 0) {
      ReadHead(fd, buf);  // the keep-alive race: the upstream gives up as the request arrives
      ::shutdown(fd, SHUT_RDWR);
      return;
    }
    ReadHead(fd, buf);
  });
  UpstreamPool pool;
  IoThread io;
  Sent second = SecondOnPooledConnection(pool, io, Get(upstream.port(), "/"));
  ASSERT_TRUE(second.response) << second.response.error();
  EXPECT_TRUE(second.response->retried);
  EXPECT_FALSE(second.response->reused_connection);
  EXPECT_EQ(BodyOf(*second.response), "first");
  EXPECT_EQ(upstream.accepted(), 2);
}

TEST(UpstreamPoolFastPathTest, NonIdempotentRequestOnAStaleConnectionIsNotRetried) {
  RawUpstream upstream(FirstThen(std::string(kFirst), [](int fd, std::string&, const std::string&) {
    ::shutdown(fd, SHUT_RDWR);
  }));
  UpstreamPool pool;
  IoThread io;
  UpstreamRequest post = Get(upstream.port(), "/");
  post.method = "POST";
  Sent s = SecondOnPooledConnection(pool, io, std::move(post));
  ASSERT_FALSE(s.response);
  EXPECT_EQ(s.failure, UpstreamFailure::kReset);
  EXPECT_EQ(s.response.error().code(), Code::kUnavailable);
  EXPECT_NE(s.response.error().message().find("closed the connection before sending a response"),
            std::string::npos)
      << s.response.error();
  EXPECT_EQ(upstream.accepted(), 1);
  EXPECT_EQ(pool.stats().idle, 0u);
}

// An idle pooled connection the upstream has closed: an idempotent request takes it without a
// probe and is retried on a fresh connection when it fails; a POST (never retried) probes it
// first, so it goes on a fresh connection at once. Both succeed.
TEST(UpstreamPoolFastPathTest, IdleConnectionClosedByTheUpstreamIsNotAFailure) {
  for (const std::string method : {"GET", "POST"}) {
    std::atomic<bool> closed{false};
    RawUpstream upstream([&](int fd, int index) {
      std::string buf;
      if (ReadHead(fd, buf).empty()) return;
      SendAll(fd, kFirst);
      if (index == 0) {
        ::shutdown(fd, SHUT_RDWR);  // gives up on the idle connection
        closed = true;
        return;
      }
      ReadHead(fd, buf);
    });
    UpstreamPool pool;
    IoThread io;
    Sent first = io.Send(pool, Get(upstream.port(), "/"));
    ASSERT_TRUE(first.response) << first.response.error();
    EXPECT_EQ(BodyOf(*first.response), "first");
    ASSERT_TRUE(WaitUntil([&] { return closed.load(); }, 5s));
    UpstreamRequest second = Get(upstream.port(), "/");
    second.method = method;
    if (method == "POST") second.body = "x";
    Sent s = io.Send(pool, std::move(second));
    ASSERT_TRUE(s.response) << method << ": " << s.response.error();
    EXPECT_EQ(BodyOf(*s.response), "first") << method;
    EXPECT_FALSE(s.response->reused_connection) << method;
    EXPECT_EQ(s.response->retried, method == "GET") << method;
    EXPECT_EQ(upstream.accepted(), 2) << method;
  }
}

TEST(UpstreamPoolFastPathTest, SilentUpstreamOnAPooledConnectionIsAResponseTimeout) {
  RawUpstream upstream(
      FirstThen(std::string(kFirst), [](int fd, std::string& buf, const std::string&) {
        ReadHead(fd, buf);  // never answers; returns when the pool gives up
      }));
  UpstreamPool pool;
  IoThread io;
  UpstreamRequest req = Get(upstream.port(), "/slow");
  req.response_timeout = 200ms;
  Sent s = SecondOnPooledConnection(pool, io, std::move(req));
  ASSERT_FALSE(s.response);
  EXPECT_EQ(s.failure, UpstreamFailure::kResponseTimeout);
  EXPECT_EQ(s.response.error().code(), Code::kDeadlineExceeded);
  EXPECT_EQ(s.response.error().message(), "upstream 127.0.0.1:" + std::to_string(upstream.port()) +
                                              " did not answer within 200 ms");
}

TEST(UpstreamPoolFastPathTest, MalformedHeaderAndCutSmallBodyOnAPooledConnection) {
  RawUpstream malformed(
      FirstThen(std::string(kFirst), [](int fd, std::string&, const std::string&) {
        SendAll(fd, "HTTP/1.1 200 OK\r\nBad Header Line\r\n\r\n");
      }));
  RawUpstream cut(FirstThen(std::string(kFirst), [](int fd, std::string&, const std::string&) {
    SendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part");
    ::shutdown(fd, SHUT_RDWR);
  }));
  UpstreamPool pool;
  IoThread io;
  Sent m = SecondOnPooledConnection(pool, io, Get(malformed.port(), "/"));
  ASSERT_FALSE(m.response);
  EXPECT_EQ(m.failure, UpstreamFailure::kProtocol);
  EXPECT_NE(m.response.error().message().find("sent a malformed response header"),
            std::string::npos)
      << m.response.error();
  Sent c = SecondOnPooledConnection(pool, io, Get(cut.port(), "/"));
  ASSERT_FALSE(c.response);
  EXPECT_EQ(c.failure, UpstreamFailure::kReset);
  EXPECT_NE(c.response.error().message().find("in the middle of the response body"),
            std::string::npos)
      << c.response.error();
  EXPECT_EQ(pool.stats().idle, 0u);
}

TEST(UpstreamPoolFastPathTest, HeaderThatCannotBeSentIsInvalid) {
  RawUpstream upstream(
      FirstThen(std::string(kFirst), [](int, std::string&, const std::string&) {}));
  UpstreamPool pool;
  IoThread io;
  Sent first = io.Send(pool, Get(upstream.port(), "/"));
  ASSERT_TRUE(first.response) << first.response.error();
  EXPECT_EQ(BodyOf(*first.response), "first");
  UpstreamRequest req = Get(upstream.port(), "/");
  req.headers.Add("X-Bad", "a\r\nInjected: yes");
  Sent s = io.Send(pool, std::move(req));
  ASSERT_FALSE(s.response);
  EXPECT_EQ(s.failure, UpstreamFailure::kInvalid);
  EXPECT_EQ(s.response.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(s.response.error().message(), "header \"X-Bad\" cannot be sent upstream");
}

TEST(UpstreamPoolTest, TlsUpstreamVerifiedWithACaFile) {
  auto cert = testing::MakeCert("upstream", "IP:127.0.0.1,DNS:upstream.test");
  ServerOptions opts;
  opts.tls_cert_file = cert->pem_path;
  opts.tls_key_file = cert->key_path;
  opts.tls_only = true;
  TestServer upstream(opts, [&](Router& r, Server&) {
    r.Add({"GET"}, "/secure", [](Request& req, Responder respond) {
      respond(Response::Text(200, req.tls ? "tls" : "plain"));
    });
  });
  UpstreamPool pool;
  for (int i = 0; i < 2; ++i) {
    UpstreamRequest req = Get(upstream.port(), "/secure");
    req.endpoint.tls = true;
    req.endpoint.ca_file = cert->pem_path;
    Sent s = SendSync(pool, std::move(req));
    ASSERT_TRUE(s.response) << s.response.error();
    EXPECT_EQ(s.response->reused_connection, i > 0);
    auto body = ReadAll(*s.response);
    ASSERT_TRUE(body);
    EXPECT_EQ(*body, "tls");
  }
  // With SNI/verification against a name the certificate carries.
  UpstreamRequest named = Get(upstream.port(), "/secure");
  named.endpoint.tls = true;
  named.endpoint.ca_file = cert->pem_path;
  named.endpoint.sni = "upstream.test";
  Sent s = SendSync(pool, std::move(named));
  ASSERT_TRUE(s.response) << s.response.error();
  // Without the CA the handshake fails verification.
  UpstreamRequest untrusted = Get(upstream.port(), "/secure");
  untrusted.endpoint.tls = true;
  Sent bad = SendSync(pool, std::move(untrusted));
  ASSERT_FALSE(bad.response);
  EXPECT_EQ(bad.failure, UpstreamFailure::kConnectFailure);
  EXPECT_NE(bad.response.error().message().find("TLS handshake"), std::string::npos);
}

TEST(UpstreamPoolTest, UpgradeHandsOverTheConnection) {
  RawUpstream upstream([](int fd, int) {
    std::string buf;
    std::string head = ReadHead(fd, buf);
    if (head.find("Connection: upgrade") == std::string::npos ||
        head.find("Upgrade: websocket") == std::string::npos) {
      SendAll(fd, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    SendAll(fd,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
            "Upgrade\r\n\r\nhello");
    for (;;) {  // echo
      if (buf.empty() && !Fill(fd, buf)) return;
      if (!SendAll(fd, buf)) return;
      buf.clear();
    }
  });
  UpstreamPool pool;
  UpstreamRequest req = Get(upstream.port(), "/ws");
  req.upgrade = true;
  req.headers.Set("Upgrade", "websocket");
  Sent s = SendSync(pool, std::move(req));
  ASSERT_TRUE(s.response) << s.response.error();
  ASSERT_EQ(s.response->status, 101);
  ASSERT_TRUE(s.response->tunnel);
  auto tunnel = s.response->tunnel;
  auto read = [&]() {
    auto p = std::make_shared<std::promise<Result<std::optional<std::string>>>>();
    tunnel->Read([p](Result<std::optional<std::string>> r) { p->set_value(std::move(r)); });
    return p->get_future().get();
  };
  auto hello = read();
  ASSERT_TRUE(hello && *hello);
  EXPECT_EQ(**hello, "hello");
  auto wrote = std::make_shared<std::promise<Status>>();
  tunnel->Write("ping", [wrote](Status st) { wrote->set_value(st); });
  EXPECT_TRUE(wrote->get_future().get().ok());
  std::string echoed;
  while (echoed.size() < 4) {
    auto r = read();
    ASSERT_TRUE(r && *r);
    echoed += **r;
  }
  EXPECT_EQ(echoed, "ping");
  tunnel->Close();
}

TEST(UpstreamPoolTest, IdleConnectionsAreBoundedAndExpire) {
  UpstreamPoolOptions opts;
  opts.max_idle_per_upstream = 2;
  opts.idle_timeout = 1s;
  UpstreamPool pool(opts);
  std::atomic<int> waiting{0};
  std::atomic<bool> release{false};
  TestServer upstream({}, [&](Router& r, Server&) {
    r.Add({"GET"}, "/hold", [&](Request&, Responder respond) {
      ++waiting;
      // Answer from another thread once all four requests are in flight (four connections).
      std::thread([&release, respond = std::move(respond)] {
        WaitUntil([&] { return release.load(); }, 10s);
        respond(Response::Text(200, "held"));
      }).detach();
    });
  });
  std::vector<std::future<Sent>> inflight;
  for (int i = 0; i < 4; ++i) {
    inflight.push_back(std::async(std::launch::async,
                                  [&] { return SendSync(pool, Get(upstream.port(), "/hold")); }));
  }
  ASSERT_TRUE(WaitUntil([&] { return waiting.load() == 4; }, 10s));
  release = true;
  for (auto& f : inflight) {
    Sent s = f.get();
    ASSERT_TRUE(s.response) << s.response.error();
    ASSERT_TRUE(ReadAll(*s.response));
  }
  EXPECT_EQ(pool.stats().connections_opened, 4u);
  EXPECT_EQ(pool.stats().idle, 2u);  // two kept, two closed
  // Idle past idle_timeout: closed by the sweep; the next request connects afresh.
  EXPECT_TRUE(WaitUntil([&] { return pool.stats().idle == 0; }, 5s));
  Sent s = SendSync(pool, Get(upstream.port(), "/hold"));
  ASSERT_TRUE(s.response);
  EXPECT_FALSE(s.response->reused_connection);
  ASSERT_TRUE(ReadAll(*s.response));
  EXPECT_EQ(pool.stats().connections_opened, 5u);
}

TEST(UpstreamPoolTest, ConnectTimeoutIsReportedApartFromRefusal) {
  // A listener that never accepts, with its backlog full: further SYNs go unanswered.
  int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(lfd, 0), 0);
  socklen_t len = sizeof addr;
  ::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);
  std::vector<int> fillers;
  for (int i = 0; i < 8; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    fillers.push_back(fd);
  }
  UpstreamPoolOptions opts;
  opts.connect_timeout = 300ms;
  UpstreamPool pool(opts);
  Sent s = SendSync(pool, Get(ntohs(addr.sin_port), "/"));
  for (int fd : fillers) ::close(fd);
  ::close(lfd);
  ASSERT_FALSE(s.response);
  EXPECT_EQ(s.failure, UpstreamFailure::kConnectTimeout);
  EXPECT_EQ(s.response.error().code(), Code::kDeadlineExceeded);
  EXPECT_NE(s.response.error().message().find("did not accept the connection within 300 ms"),
            std::string::npos)
      << s.response.error();
}

TEST(UpstreamPoolTest, ParsesUpstreamUrls) {
  auto a = ParseUpstreamUrl("https://example.test");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->tls);
  EXPECT_EQ(a->port, 443);
  auto b = ParseUpstreamUrl("http://[::1]:8080/x");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->Authority(), "[::1]:8080");
  EXPECT_FALSE(ParseUpstreamUrl("ftp://x"));
}

}  // namespace
}  // namespace skiff::http
