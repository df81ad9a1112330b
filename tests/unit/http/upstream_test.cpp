// UpstreamPool against real sockets on 127.0.0.1: an http::Server upstream for the ordinary
// cases and raw socket upstreams for the misbehaving ones (silent, resetting, stale, 101).

#include "http/upstream.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

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
