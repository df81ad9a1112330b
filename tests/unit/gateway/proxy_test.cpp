// gateway::Proxy against real upstreams on 127.0.0.1 (an http::Server, or raw sockets for exact
// bytes and misbehaviour). Requests are handed to Forward directly, with streamed bodies built
// by the test, and response streams are pulled by the test, as the server connection would.

#include "gateway/proxy.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <future>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "unit/http/raw_upstream.hpp"
#include "unit/http/test_certs.hpp"
#include "unit/http/test_util.hpp"

namespace skiff::gateway {
namespace {

using namespace std::chrono_literals;
using http::Request;
using http::Response;
using http::testing::DrainChunked;
using http::testing::Fill;
using http::testing::RawUpstream;
using http::testing::ReadHead;
using http::testing::SendAll;
using http::testing::TestServer;
using skiff::testing::WaitUntil;

bool HasLine(const std::string& head, const std::string& line) {
  return head.find("\r\n" + line + "\r\n") != std::string::npos;
}
bool HasName(const std::string& head, std::string name) {
  std::string lower = head;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower.find("\r\n" + name + ":") != std::string::npos;
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

Request MakeRequest(std::string method = "GET") {
  Request req;
  req.method = std::move(method);
  req.target = "/in";
  req.path = "/in";
  req.remote_addr = "127.0.0.1:50000";
  req.headers.Set("Host", "gw.example.com");
  req.notes = std::make_shared<http::AccessNotes>();
  return req;
}

ProxyTarget Target(uint16_t port, std::string path = "/") {
  ProxyTarget t;
  t.endpoint.host = "127.0.0.1";
  t.endpoint.port = port;
  t.path_and_query = std::move(path);
  t.authority = "backend.internal";
  return t;
}

// An upstream that records the head of a connection's first request in `seen` (under `mu`) and
// answers it with `response`.
RawUpstream::Fn RecordAndAnswer(std::mutex& mu, std::string& seen, std::string response) {
  return [&mu, &seen, response = std::move(response)](int fd, int) {
    std::string buf;
    std::string head = ReadHead(fd, buf);
    {
      std::lock_guard lock(mu);
      seen = head;
    }
    SendAll(fd, response);
    ReadHead(fd, buf);
  };
}

Response Forward(const Proxy& proxy, Request& req, const ProxyTarget& target) {
  auto p = std::make_shared<std::promise<Response>>();
  auto f = p->get_future();
  proxy.Forward(req, ProxyTarget(target), [p](Response r) { p->set_value(std::move(r)); });
  if (f.wait_for(30s) != std::future_status::ready) return Response::Text(599, "test: no answer");
  return f.get();
}

std::optional<std::string> Pull(http::BodyStream& s) {
  auto p = std::make_shared<std::promise<std::optional<std::string>>>();
  auto f = p->get_future();
  s.Pull([p](std::optional<std::string> c) { p->set_value(std::move(c)); });
  if (f.wait_for(20s) != std::future_status::ready) return std::string("test: pull timed out");
  return f.get();
}

std::string BodyOf(Response& r) {
  if (!r.stream) return r.body;
  std::string out;
  while (auto c = Pull(*r.stream)) out += *c;
  return out;
}

class CountingSource : public http::BodySource {
 public:
  CountingSource(int pieces, size_t piece_bytes) : pieces_(pieces), piece_bytes_(piece_bytes) {}
  void Read(std::function<void(Result<std::optional<std::string>>)> ready) override {
    std::optional<std::string> piece;
    if (produced_ < pieces_) {
      ++produced_;
      piece = std::string(piece_bytes_, 'q');
    }
    std::thread([ready = std::move(ready), piece = std::move(piece)]() mutable {
      ready(std::move(piece));
    }).detach();
  }
  std::optional<uint64_t> content_length() const override { return std::nullopt; }
  int produced() const { return produced_.load(); }

 private:
  int pieces_;
  size_t piece_bytes_;
  std::atomic<int> produced_{0};
};

// One side of a tunnel driven by the test: Push/End feed Read; Write collects.
class FakeStream : public http::ByteStream {
 public:
  void Read(std::function<void(Result<std::optional<std::string>>)> ready) override {
    std::optional<std::string> value;
    {
      std::lock_guard lock(mu_);
      if (queue_.empty() && !ended_ && !closed_) {
        pending_ = std::move(ready);
        return;
      }
      if (!queue_.empty()) {
        value = std::move(queue_.front());
        queue_.pop_front();
      }
    }
    ready(std::move(value));
  }
  void Write(std::string data, std::function<void(Status)> done) override {
    {
      std::lock_guard lock(mu_);
      if (closed_) return done(Unavailable("closed"));
      written_ += data;
    }
    done(Status::Ok());
  }
  void Close() override {
    std::function<void(Result<std::optional<std::string>>)> pending;
    {
      std::lock_guard lock(mu_);
      closed_ = true;
      pending = std::move(pending_);
      pending_ = nullptr;
    }
    if (pending) pending(std::optional<std::string>());
  }
  void Push(std::string data) {
    std::function<void(Result<std::optional<std::string>>)> pending;
    {
      std::lock_guard lock(mu_);
      if (!pending_) {
        queue_.push_back(std::move(data));
        return;
      }
      pending = std::move(pending_);
      pending_ = nullptr;
    }
    pending(std::optional<std::string>(std::move(data)));
  }
  void End() {
    std::function<void(Result<std::optional<std::string>>)> pending;
    {
      std::lock_guard lock(mu_);
      ended_ = true;
      pending = std::move(pending_);
      pending_ = nullptr;
    }
    if (pending) pending(std::optional<std::string>());
  }
  std::string written() const {
    std::lock_guard lock(mu_);
    return written_;
  }
  bool closed() const {
    std::lock_guard lock(mu_);
    return closed_;
  }

 private:
  mutable std::mutex mu_;  // guards everything below
  std::deque<std::string> queue_;
  std::function<void(Result<std::optional<std::string>>)> pending_;
  std::string written_;
  bool ended_ = false;
  bool closed_ = false;
};

// Repeated X-Forwarded-For and Via headers join in order; trusted X-Forwarded-Proto/-Host and a
// client's X-Request-Id stay where they were, once; the added headers follow in a fixed order;
// the upstream's Via keeps its place in the response and gets skiff's appended.
TEST(ProxyTest, ForwardingHeadersJoinRepeatsAndKeepTrustedOnesInPlace) {
  std::mutex mu;
  std::string seen;  // guarded by mu
  RawUpstream upstream(RecordAndAnswer(
      mu, seen,
      "HTTP/1.1 200 OK\r\nX-First: 1\r\nVia: 1.0 cache-a\r\nX-Mid: 2\r\nvia: 1.1 cache-b\r\n"
      "Content-Length: 2\r\n\r\nok"));
  http::UpstreamPool pool;
  ProxyOptions options;
  options.trust_forwarded_headers = true;
  Proxy proxy(&pool, options);
  Request req = MakeRequest();
  req.headers.Add("X-Forwarded-For", "10.0.0.1");
  req.headers.Add("X-Forwarded-Proto", "https");
  req.headers.Add("Via", "1.0 a");
  req.headers.Add("x-forwarded-for", "10.0.0.2, 10.0.0.3");
  req.headers.Add("X-Forwarded-Host", "public.example.com");
  req.headers.Add("X-Request-Id", "req-9");
  req.headers.Add("via", "1.1 b");
  req.notes->request_id = "req-9";
  Response r = Forward(proxy, req, Target(upstream.port()));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(BodyOf(r), "ok");
  {
    std::lock_guard lock(mu);
    const std::string want =
        "GET / HTTP/1.1\r\n"
        "X-Forwarded-Proto: https\r\n"
        "X-Forwarded-Host: public.example.com\r\n"
        "X-Request-Id: req-9\r\n"
        "Host: backend.internal\r\n"
        "X-Forwarded-For: 10.0.0.1, 10.0.0.2, 10.0.0.3, 127.0.0.1\r\n"
        "Via: 1.0 a, 1.1 b, 1.1 skiff\r\n";
    EXPECT_EQ(seen, want);
  }
  std::vector<std::pair<std::string, std::string>> got;
  for (const auto& [name, value] : r.headers) got.emplace_back(name, value);
  const std::vector<std::pair<std::string, std::string>> want = {
      {"X-First", "1"}, {"Via", "1.0 cache-a, 1.1 cache-b, 1.1 skiff"}, {"X-Mid", "2"}};
  EXPECT_EQ(got, want);
}

TEST(ProxyTest, StripsHopByHopHeadersAndAddsForwardingHeaders) {
  std::mutex mu;
  std::string seen;  // guarded by mu
  RawUpstream upstream(
      RecordAndAnswer(mu, seen,
                      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: X-Hop\r\nX-Hop: 1\r\n"
                      "Keep-Alive: timeout=5\r\nProxy-Authenticate: Basic\r\nTrailer: X-T\r\n"
                      "X-Keep: yes\r\nX-Drop-Me: 1\r\n\r\nok"));
  http::UpstreamPool pool;
  Proxy proxy(&pool);
  Request req = MakeRequest();
  req.headers.Add("Connection", "keep-alive, X-Secret-Hop");
  req.headers.Add("X-Secret-Hop", "hidden");
  req.headers.Add("Keep-Alive", "timeout=5");
  req.headers.Add("Proxy-Authorization", "Basic Zm9vOmJhcg==");
  req.headers.Add("TE", "trailers");
  req.headers.Add("Upgrade", "h2c");  // without "Connection: upgrade": dropped
  req.headers.Add("X-Forwarded-For", "10.0.0.1");
  req.headers.Add("X-Forwarded-Proto", "https");  // the client's claim is replaced
  req.headers.Add("Via", "1.0 corp-proxy");
  req.headers.Add("X-Request-Id", "req-123");
  req.headers.Add("X-Remove", "x");
  req.headers.Add("Accept", "text/plain");
  ProxyTarget t = Target(upstream.port(), "/rewritten?q=1");
  t.request_headers = {{HeaderOp::Kind::kSet, "x-route", "r1"},
                       {HeaderOp::Kind::kRemove, "x-remove", ""}};
  t.response_headers = {{HeaderOp::Kind::kRemove, "x-drop-me", ""},
                        {HeaderOp::Kind::kAdd, "x-added", "a"}};
  Response r = Forward(proxy, req, t);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(BodyOf(r), "ok");

  std::lock_guard lock(mu);
  EXPECT_EQ(seen.rfind("GET /rewritten?q=1 HTTP/1.1\r\n", 0), 0u) << seen;
  EXPECT_TRUE(HasLine(seen, "Host: backend.internal")) << seen;
  EXPECT_TRUE(HasLine(seen, "X-Forwarded-For: 10.0.0.1, 127.0.0.1")) << seen;
  EXPECT_TRUE(HasLine(seen, "X-Forwarded-Proto: http")) << seen;
  EXPECT_TRUE(HasLine(seen, "X-Forwarded-Host: gw.example.com")) << seen;
  EXPECT_TRUE(HasLine(seen, "Via: 1.0 corp-proxy, 1.1 skiff")) << seen;
  EXPECT_TRUE(HasLine(seen, "X-Request-Id: req-123")) << seen;
  EXPECT_TRUE(HasLine(seen, "x-route: r1")) << seen;
  EXPECT_TRUE(HasLine(seen, "Accept: text/plain")) << seen;
  for (const char* gone : {"X-Secret-Hop", "Keep-Alive", "Proxy-Authorization", "TE", "Upgrade",
                           "Connection", "X-Remove"}) {
    EXPECT_FALSE(HasName(seen, gone)) << gone << " in\n" << seen;
  }
  EXPECT_EQ(r.headers.Get("X-Keep").value_or(""), "yes");
  EXPECT_EQ(r.headers.Get("x-added").value_or(""), "a");
  EXPECT_EQ(r.headers.Get("Via").value_or(""), "1.1 skiff");
  for (const char* gone : {"X-Hop", "Keep-Alive", "Proxy-Authenticate", "Trailer", "Connection",
                           "Content-Length", "X-Drop-Me"}) {
    EXPECT_FALSE(r.headers.Has(gone)) << gone;
  }
  EXPECT_EQ(req.notes->upstream, "127.0.0.1:" + std::to_string(upstream.port()));
  EXPECT_EQ(req.notes->flags, "");
}

// ProxyTarget::answer_headers and echo_request_id: applied last, to the upstream's answers and
// to the proxy's own errors; an upstream's x-request-id is kept (once), and one the operations
// add is not doubled.
TEST(ProxyTest, AnswerHeadersAndRequestIdApplyLastToEveryAnswer) {
  std::mutex mu;
  std::string seen;  // guarded by mu
  auto answer = [&](std::string response, ProxyTarget t) {
    RawUpstream upstream(RecordAndAnswer(mu, seen, std::move(response)));
    http::UpstreamPool pool;
    Proxy proxy(&pool);
    Request req = MakeRequest();
    req.notes->request_id = "rid-1";
    t.endpoint.port = upstream.port();
    return Forward(proxy, req, t);
  };
  ProxyTarget t = Target(0);
  t.response_headers = {{HeaderOp::Kind::kSet, "x-order", "response-ops"}};
  t.answer_headers = {{HeaderOp::Kind::kSet, "x-order", "answer-ops"},
                      {HeaderOp::Kind::kRemove, "x-drop-me", ""}};
  t.echo_request_id = true;

  Response plain = answer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Drop-Me: 1\r\n\r\nok", t);
  ASSERT_EQ(plain.status, 200) << plain.body;
  EXPECT_EQ(plain.headers.GetAll("x-order"), std::vector<std::string_view>{"answer-ops"});
  EXPECT_FALSE(plain.headers.Has("x-drop-me"));
  EXPECT_EQ(plain.headers.GetAll("x-request-id"), std::vector<std::string_view>{"rid-1"});

  Response own =
      answer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Request-Id: upstream-id\r\n\r\nok", t);
  ASSERT_EQ(own.status, 200) << own.body;
  EXPECT_EQ(own.headers.GetAll("x-request-id"), std::vector<std::string_view>{"upstream-id"});

  // The upstream's id named by its Connection header goes as hop-by-hop: then the echo is added.
  Response hop = answer(
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: x-request-id\r\n"
      "X-Request-Id: upstream-id\r\n\r\nok",
      t);
  ASSERT_EQ(hop.status, 200) << hop.body;
  EXPECT_EQ(hop.headers.GetAll("x-request-id"), std::vector<std::string_view>{"rid-1"});

  ProxyTarget by_ops = t;
  by_ops.answer_headers.push_back({HeaderOp::Kind::kAdd, "x-request-id", "from-ops"});
  Response added = answer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", by_ops);
  EXPECT_EQ(added.headers.GetAll("x-request-id"), std::vector<std::string_view>{"from-ops"});

  ProxyTarget quiet = t;
  quiet.echo_request_id = false;
  Response no_echo = answer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", quiet);
  EXPECT_FALSE(no_echo.headers.Has("x-request-id"));
  EXPECT_EQ(no_echo.headers.Get("x-order").value_or(""), "answer-ops");

  // The proxy's own error (connection refused: 503) gets them too.
  http::UpstreamPool pool;
  Proxy proxy(&pool);
  Request req = MakeRequest();
  req.notes->request_id = "rid-2";
  ProxyTarget refused = t;
  refused.endpoint.port = ClosedPort();
  Response error = Forward(proxy, req, refused);
  EXPECT_EQ(error.status, 503);
  EXPECT_EQ(error.headers.Get("x-order").value_or(""), "answer-ops");
  EXPECT_EQ(error.headers.GetAll("x-request-id"), std::vector<std::string_view>{"rid-2"});
}

TEST(ProxyTest, SequentialRequestsShareOneUpstreamConnection) {
  std::mutex mu;
  std::set<std::string> peers;  // guarded by mu
  TestServer upstream({}, [&](http::Router& r, http::Server&) {
    r.Add({"GET"}, "/n", [&](Request& req, http::Responder respond) {
      {
        std::lock_guard lock(mu);
        peers.insert(req.remote_addr);
      }
      respond(Response::Text(200, "n"));
    });
  });
  http::UpstreamPool pool;
  Proxy proxy(&pool);
  for (int i = 0; i < 10; ++i) {
    Request req = MakeRequest();
    Response r = Forward(proxy, req, Target(upstream.port(), "/n"));
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(BodyOf(r), "n");
  }
  std::lock_guard lock(mu);
  EXPECT_EQ(peers.size(), 1u);
}

TEST(ProxyTest, StreamsFiftyMegabytesBothWaysWithoutBufferingThem) {
  constexpr int kPieces = 50;
  constexpr size_t kPiece = 1 << 20;
  constexpr uint64_t kTotal = uint64_t{kPieces} * kPiece;
  std::atomic<int64_t> received{-2};
  std::atomic<uint64_t> sent{0};
  RawUpstream upstream([&](int fd, int) {
    std::string buf;
    std::string head = ReadHead(fd, buf);
    if (!HasLine(head, "Transfer-Encoding: chunked")) return;
    received = DrainChunked(fd, buf);
    SendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kTotal) + "\r\n\r\n");
    std::string block(64 * 1024, 'r');
    while (sent < kTotal) {
      if (!SendAll(fd, block)) return;
      sent += block.size();
    }
    ReadHead(fd, buf);
  });
  http::UpstreamPool pool;
  Proxy proxy(&pool);
  Request req = MakeRequest("POST");
  auto source = std::make_shared<CountingSource>(kPieces, kPiece);
  req.body_source = source;
  Response r = Forward(proxy, req, Target(upstream.port(), "/upload"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(received.load(), static_cast<int64_t>(kTotal));
  ASSERT_TRUE(r.stream);
  auto first = Pull(*r.stream);
  ASSERT_TRUE(first);
  uint64_t got = first->size();
  // While the client does not pull, flow control stops the upstream well short of the whole body:
  // the proxy holds at most a piece, the kernel's socket buffers the rest.
  EXPECT_FALSE(WaitUntil([&] { return sent.load() >= kTotal; }, 1s));
  EXPECT_LT(sent.load(), 24u << 20);
  size_t max_piece = first->size();
  while (auto c = Pull(*r.stream)) {
    got += c->size();
    max_piece = std::max(max_piece, c->size());
  }
  EXPECT_EQ(got, kTotal);
  EXPECT_LE(max_piece, 64u * 1024);
}

TEST(ProxyTest, SilentUpstreamGives504NamingTheUpstream) {
  RawUpstream upstream([](int fd, int) {
    std::string buf;
    ReadHead(fd, buf);
    ReadHead(fd, buf);
  });
  http::UpstreamPool pool;
  Proxy proxy(&pool);
  Request req = MakeRequest();
  ProxyTarget t = Target(upstream.port());
  t.timeout = 200ms;
  Response r = Forward(proxy, req, t);
  EXPECT_EQ(r.status, 504);
  EXPECT_NE(r.body.find("upstream 127.0.0.1:" + std::to_string(upstream.port()) +
                        " did not answer within 200 ms"),
            std::string::npos)
      << r.body;
  EXPECT_EQ(req.notes->flags, "UT");
}

TEST(ProxyTest, RefusedUpstreamGives503WithAClearBody) {
  http::UpstreamPool pool;
  Proxy proxy(&pool);
  uint16_t port = ClosedPort();
  Request req = MakeRequest();
  Response r = Forward(proxy, req, Target(port));
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("upstream 127.0.0.1:" + std::to_string(port) + " refused the connection"),
            std::string::npos)
      << r.body;
  EXPECT_EQ(r.headers.Get("Content-Type").value_or(""), "application/json");
  EXPECT_EQ(req.notes->flags, "UF");
}

TEST(ProxyTest, ResetBeforeTheResponseGives502) {
  RawUpstream upstream([](int fd, int) {
    std::string buf;
    ReadHead(fd, buf);
    ::shutdown(fd, SHUT_RDWR);
  });
  http::UpstreamPool pool;
  Proxy proxy(&pool);
  Request req = MakeRequest("POST");
  req.body = "x";
  Response r = Forward(proxy, req, Target(upstream.port()));
  EXPECT_EQ(r.status, 502);
  EXPECT_NE(r.body.find("closed the connection before sending a response"), std::string::npos)
      << r.body;
  EXPECT_EQ(req.notes->flags, "UC");
}

TEST(ProxyTest, ResetInTheMiddleOfTheResponseEndsTheStreamAndFlagsUC) {
  RawUpstream upstream([](int fd, int) {
    std::string buf;
    ReadHead(fd, buf);
    SendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\npartial");
    ::shutdown(fd, SHUT_RDWR);
  });
  http::UpstreamPool pool;
  Proxy proxy(&pool);
  Request req = MakeRequest();
  Response r = Forward(proxy, req, Target(upstream.port()));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(BodyOf(r), "partial");
  EXPECT_EQ(req.notes->flags, "UC");
}

TEST(ProxyTest, RetriesAFlakyUpstreamUntilItAnswers) {
  std::atomic<int> hits{0};
  TestServer upstream({}, [&](http::Router& r, http::Server&) {
    r.Add({"GET", "POST"}, "/flaky", [&](Request&, http::Responder respond) {
      int n = ++hits;
      respond(n <= 2 ? Response::Text(503, "down " + std::to_string(n))
                     : Response::Text(200, "up"));
    });
  });
  http::UpstreamPool pool;
  Proxy proxy(&pool);
  ProxyTarget t = Target(upstream.port(), "/flaky");
  t.retries = Retries{3, 2000ms, "5xx"};
  Request req = MakeRequest();
  Response r = Forward(proxy, req, t);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(BodyOf(r), "up");
  EXPECT_EQ(hits.load(), 3);
  EXPECT_EQ(req.notes->flags, "");

  // Retries used up: the last answer goes back, flagged URX. attempts = retries (Istio).
  hits = -100;
  t.retries = Retries{2, std::nullopt, "gateway-error"};
  Request again = MakeRequest();
  Response last = Forward(proxy, again, t);
  EXPECT_EQ(last.status, 503);
  EXPECT_EQ(BodyOf(last), "down -97");
  EXPECT_EQ(hits.load(), -97);
  EXPECT_EQ(again.notes->flags, "URX");

  // A streamed body cannot be replayed: one try only.
  hits = 0;
  Request streamed = MakeRequest("POST");
  streamed.body_source = std::make_shared<CountingSource>(1, 10);
  Response once = Forward(proxy, streamed, t);
  EXPECT_EQ(once.status, 503);
  EXPECT_EQ(hits.load(), 1);
}

TEST(ProxyTest, RetriesConnectFailuresThenReportsUFAndURX) {
  http::UpstreamPool pool;
  Proxy proxy(&pool);
  ProxyTarget t = Target(ClosedPort());
  t.retries = Retries{2, std::nullopt, "connect-failure"};
  Request req = MakeRequest();
  Response r = Forward(proxy, req, t);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(req.notes->flags, "UF,URX");
  EXPECT_GE(pool.stats().exchanges, 3u);
}

TEST(ProxyTest, RetryOnParsesIstioConditions) {
  RetryPolicy p = RetryPolicy::From(Retries{2, std::nullopt, "gateway-error, 409,retriable-4xx"});
  EXPECT_EQ(p.retries, 2);
  EXPECT_TRUE(p.RetryStatus(502));
  EXPECT_TRUE(p.RetryStatus(504));
  EXPECT_FALSE(p.RetryStatus(500));
  EXPECT_TRUE(p.RetryStatus(409));
  EXPECT_TRUE(p.RetryFailure(http::UpstreamFailure::kConnectFailure));
  EXPECT_FALSE(p.RetryFailure(http::UpstreamFailure::kRequestBody));
  RetryPolicy none = RetryPolicy::From(Retries{0, std::nullopt, "5xx"});
  EXPECT_FALSE(none.RetryStatus(503));
  RetryPolicy codes = RetryPolicy::From(Retries{1, std::nullopt, "retriable-status-codes,429"});
  EXPECT_TRUE(codes.RetryStatus(429));
  EXPECT_FALSE(codes.RetryStatus(503));
  EXPECT_FALSE(codes.RetryFailure(http::UpstreamFailure::kReset));
}

TEST(ProxyTest, TlsUpstreamWithACaFile) {
  auto cert = http::testing::MakeCert("upstream", "IP:127.0.0.1");
  http::ServerOptions opts;
  opts.tls_cert_file = cert->pem_path;
  opts.tls_key_file = cert->key_path;
  opts.tls_only = true;
  TestServer upstream(opts, [&](http::Router& r, http::Server&) {
    r.Add({"GET"}, "/s", [](Request& req, http::Responder respond) {
      respond(Response::Text(200, std::string(req.tls ? "tls " : "plain ") +
                                      std::string(req.headers.Get("Host").value_or(""))));
    });
  });
  http::UpstreamPool pool;
  Proxy proxy(&pool);
  ProxyTarget t = Target(upstream.port(), "/s");
  t.endpoint.tls = true;
  t.endpoint.ca_file = cert->pem_path;
  Request req = MakeRequest();
  Response r = Forward(proxy, req, t);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(BodyOf(r), "tls backend.internal");

  t.endpoint.ca_file.clear();  // not trusted: a clear 503
  Request bad = MakeRequest();
  Response refused = Forward(proxy, bad, t);
  EXPECT_EQ(refused.status, 503);
  EXPECT_NE(refused.body.find("TLS handshake"), std::string::npos) << refused.body;
}

TEST(ProxyTest, BridgeCopiesBothWaysAndClosesBoth) {
  auto a = std::make_shared<FakeStream>();
  auto b = std::make_shared<FakeStream>();
  Bridge(a, b);
  a->Push("from a");
  b->Push("from b");
  EXPECT_TRUE(WaitUntil([&] { return b->written() == "from a" && a->written() == "from b"; }));
  a->End();
  EXPECT_TRUE(WaitUntil([&] { return a->closed() && b->closed(); }));
}

TEST(ProxyTest, WebSocketUpgradeIsBridgedToTheUpstream) {
  std::mutex mu;
  std::string seen;  // guarded by mu
  std::atomic<bool> upstream_saw_eof{false};
  RawUpstream upstream([&](int fd, int) {
    std::string buf;
    std::string head = ReadHead(fd, buf);
    {
      std::lock_guard lock(mu);
      seen = head;
    }
    SendAll(fd,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: abc\r\n\r\nhello ");
    for (;;) {
      if (buf.empty() && !Fill(fd, buf)) break;
      if (!SendAll(fd, buf)) return;
      buf.clear();
    }
    upstream_saw_eof = true;
  });
  http::UpstreamPool pool;
  Proxy proxy(&pool);
  Request req = MakeRequest();
  req.headers.Set("Connection", "Upgrade");
  req.headers.Set("Upgrade", "websocket");
  req.headers.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
  req.headers.Set("Sec-WebSocket-Version", "13");
  Response r = Forward(proxy, req, Target(upstream.port(), "/ws"));
  ASSERT_EQ(r.status, 101) << r.body;
  EXPECT_EQ(r.headers.Get("Upgrade").value_or(""), "websocket");
  EXPECT_EQ(r.headers.Get("Sec-WebSocket-Accept").value_or(""), "abc");
  ASSERT_TRUE(r.upgrade);
  {
    std::lock_guard lock(mu);
    EXPECT_TRUE(HasLine(seen, "Upgrade: websocket")) << seen;
    EXPECT_TRUE(HasLine(seen, "Connection: upgrade")) << seen;
    EXPECT_TRUE(HasLine(seen, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==")) << seen;
  }
  auto client = std::make_shared<FakeStream>();
  r.upgrade(client);
  client->Push("ping");
  EXPECT_TRUE(WaitUntil([&] { return client->written() == "hello ping"; })) << client->written();
  client->End();  // the client goes away: the upstream connection is closed too
  EXPECT_TRUE(WaitUntil([&] { return upstream_saw_eof.load(); }));
}

TEST(ProxyTest, ParseUpstreamForms) {
  auto a = ParseUpstream("backend.ns.example:8080");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "backend.ns.example");
  EXPECT_EQ(a->port, 8080);
  EXPECT_FALSE(a->tls);
  auto b = ParseUpstream("[::1]:9000");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->port, 9000);
  auto c = ParseUpstream("https://api.internal");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->tls);
  EXPECT_EQ(c->port, 443);
  EXPECT_EQ(ParseUpstream("plain")->port, 80);
  EXPECT_FALSE(ParseUpstream("host:0"));
  EXPECT_FALSE(ParseUpstream("host:http"));
  EXPECT_FALSE(ParseUpstream("a/b:80"));
}

// A real front server (streamed request bodies on) whose every request goes to the proxy.
class Front {
 public:
  Front(const Proxy& proxy, ProxyTarget target) {
    http::ServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.io_threads = 2;
    o.cpu_threads = 1;
    o.blocking_threads = 1;
    o.stream_body = [](const Request&) { return true; };
    server_ = std::make_unique<http::Server>(
        o,
        [&proxy, target](Request& req, http::Responder respond) {
          proxy.Forward(req, ProxyTarget(target), std::move(respond));
        },
        nullptr);
    auto port = server_->Start();
    if (port) port_ = *port;
  }
  ~Front() {
    server_->Shutdown();
    server_->Wait();
  }
  uint16_t port() const { return port_; }

 private:
  std::unique_ptr<http::Server> server_;
  uint16_t port_ = 0;
};

// One request on a new connection to `port`, and its whole answer (nullopt: none came).
std::optional<http::testing::RawResponse> Exchange(uint16_t port, const std::string& request) {
  http::testing::RawConn client(port);
  if (!client.ok() || !client.Send(request)) return std::nullopt;
  return client.ReadResponse(10s);
}

TEST(ProxyTest, EndToEndStreamedUploadThroughTheServer) {
  constexpr size_t kTotal = 20u << 20;
  std::mutex mu;
  std::string seen;  // guarded by mu
  RawUpstream upstream([&](int fd, int) {
    std::string buf;
    std::string head = ReadHead(fd, buf);
    {
      std::lock_guard lock(mu);
      seen = head;
    }
    int64_t n = HasLine(head, "Transfer-Encoding: chunked") ? DrainChunked(fd, buf) : -1;
    std::string body = "got " + std::to_string(n);
    SendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                    "\r\nConnection: keep-alive\r\n\r\n" + body);
    ReadHead(fd, buf);
  });
  http::UpstreamPool pool;
  Proxy proxy(&pool);
  Front front(proxy, Target(upstream.port(), "/up"));
  http::testing::RawConn client(front.port());
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(
      client.Send("POST /in HTTP/1.1\r\nHost: gw.example.com\r\nTransfer-Encoding: chunked\r\n"
                  "Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\n\r\n"));
  std::string chunk(1 << 20, 'z');
  char size_line[32];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", chunk.size());
  for (size_t sent = 0; sent < kTotal; sent += chunk.size()) {
    ASSERT_TRUE(client.Send(size_line + chunk + "\r\n"));
  }
  ASSERT_TRUE(client.Send("0\r\n\r\n"));
  auto r = client.ReadResponse(20s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "got " + std::to_string(kTotal));
  EXPECT_EQ(r->Header("via"), "1.1 skiff");
  std::lock_guard lock(mu);
  EXPECT_TRUE(HasLine(seen, "X-Forwarded-For: 127.0.0.1")) << seen;
  EXPECT_FALSE(HasName(seen, "X-Hop")) << seen;
}

// As nginx's proxy_hide_header has it by default: the upstream's Server and Date stay behind,
// the client gets skiff's, once each (not both, as two Date headers would be); a route's
// response operation may still set its own Server.
TEST(ProxyTest, TheUpstreamsServerAndDateAreNotPassedOn) {
  const std::string upstream_date = "Mon, 01 Jan 2024 00:00:00 GMT";
  for (bool route_sets_server : {false, true}) {
    std::mutex mu;
    std::string seen;  // guarded by mu
    RawUpstream upstream(
        RecordAndAnswer(mu, seen,
                        "HTTP/1.1 200 OK\r\nServer: upstream/1.0\r\nDate: " + upstream_date +
                            "\r\nX-Kept: 1\r\nContent-Length: 2\r\n\r\nok"));
    http::UpstreamPool pool;
    Proxy proxy(&pool);
    ProxyTarget t = Target(upstream.port(), "/up");
    if (route_sets_server) t.response_headers = {{HeaderOp::Kind::kSet, "Server", "edge"}};
    Front front(proxy, t);
    auto r = Exchange(front.port(), "GET /in HTTP/1.1\r\nHost: gw.example.com\r\n\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "ok");
    EXPECT_EQ(r->Header("x-kept"), "1");
    EXPECT_EQ(r->Header("server"), route_sets_server ? "edge" : "skiff");
    EXPECT_EQ(r->counts["server"], 1u);
    EXPECT_FALSE(r->Header("date").empty());
    EXPECT_NE(r->Header("date"), upstream_date);
    EXPECT_EQ(r->counts["date"], 1u);
  }
}

TEST(ProxyTest, EndToEndWebSocketThroughTheServer) {
  RawUpstream upstream([&](int fd, int) {
    std::string buf;
    ReadHead(fd, buf);
    SendAll(fd,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "\r\n");
    for (;;) {
      if (buf.empty() && !Fill(fd, buf)) return;
      if (!SendAll(fd, "echo:" + buf)) return;
      buf.clear();
    }
  });
  http::UpstreamPool pool;
  Proxy proxy(&pool);
  Front front(proxy, Target(upstream.port(), "/ws"));
  http::testing::RawConn client(front.port());
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(client.Send(
      "GET /ws HTTP/1.1\r\nHost: gw.example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"));
  auto head = client.ReadHead(10s);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 101);
  EXPECT_EQ(head->Header("upgrade"), "websocket");
  ASSERT_TRUE(client.Send("ping"));
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (client.buffered().find("echo:ping") == std::string::npos) {
    ASSERT_TRUE(client.Fill(deadline)) << client.buffered();
  }
}

TEST(ProxyTest, SmallBodiesKeepTheirContentLengthLargeOnesStream) {
  const std::string small(1000, 's');
  const std::string large(100'000, 'L');
  TestServer upstream({}, [&](http::Router& r, http::Server&) {
    r.Add({"GET"}, "/small",
          [&](Request&, http::Responder respond) { respond(Response::Text(200, small)); });
    r.Add({"GET"}, "/large",
          [&](Request&, http::Responder respond) { respond(Response::Text(200, large)); });
  });
  http::UpstreamPool pool;
  Proxy proxy(&pool);
  Request req = MakeRequest();
  Response r = Forward(proxy, req, Target(upstream.port(), "/small"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.stream, nullptr);  // buffered: the server writes Content-Length
  EXPECT_EQ(r.body, small);
  Request req2 = MakeRequest();
  Response r2 = Forward(proxy, req2, Target(upstream.port(), "/large"));
  ASSERT_EQ(r2.status, 200);
  EXPECT_NE(r2.stream, nullptr);  // over buffer_body_bytes: streamed
  EXPECT_EQ(BodyOf(r2), large);

  // Through a server: Content-Length reaches the client.
  Front front(proxy, Target(upstream.port(), "/small"));
  auto got = Exchange(front.port(), "GET /x HTTP/1.1\r\nHost: gw\r\n\r\n");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 200);
  EXPECT_EQ(got->Header("content-length"), "1000");
  EXPECT_FALSE(got->chunked);
  EXPECT_EQ(got->body, small);
}

// HEAD through the proxy: the client gets the Content-Length a GET's body would have (the
// upstream's), small or large, and no body.
TEST(ProxyTest, HeadKeepsTheUpstreamsContentLength) {
  const std::string small(1000, 's');
  const std::string large(100'000, 'L');
  TestServer upstream({}, [&](http::Router& r, http::Server&) {
    r.Add({"GET", "HEAD"}, "/small",
          [&](Request&, http::Responder respond) { respond(Response::Text(200, small)); });
    r.Add({"GET", "HEAD"}, "/large",
          [&](Request&, http::Responder respond) { respond(Response::Text(200, large)); });
  });
  http::UpstreamPool pool;
  Proxy proxy(&pool);
  for (const auto& [path, length] :
       std::vector<std::pair<std::string, std::string>>{{"/small", "1000"}, {"/large", "100000"}}) {
    Front front(proxy, Target(upstream.port(), path));
    http::testing::RawConn client(front.port());
    ASSERT_TRUE(client.ok());
    ASSERT_TRUE(client.Send("HEAD /x HTTP/1.1\r\nHost: gw\r\n\r\n"));
    auto got = client.ReadResponse(10s, /*head_request=*/true);
    ASSERT_TRUE(got) << path;
    EXPECT_EQ(got->status, 200);
    EXPECT_EQ(got->Header("content-length"), length) << path;
    EXPECT_TRUE(got->body.empty());
    // The connection is still in step: a GET after the HEAD gets the whole body.
    ASSERT_TRUE(client.Send("GET /x HTTP/1.1\r\nHost: gw\r\n\r\n"));
    auto body = client.ReadResponse(10s);
    ASSERT_TRUE(body) << path;
    EXPECT_EQ(body->body.size(), std::stoul(length));
  }
}

TEST(ProxyTest, ResetMidBodyThroughTheServerNeverSendsTheFinalChunk) {
  RawUpstream upstream([](int fd, int) {
    std::string buf;
    ReadHead(fd, buf);
    SendAll(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7\r\npartial\r\n");
    ::shutdown(fd, SHUT_RDWR);
  });
  http::UpstreamPool pool;
  Proxy proxy(&pool);
  Front front(proxy, Target(upstream.port()));
  http::testing::RawConn client(front.port());
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(client.Send("GET /x HTTP/1.1\r\nHost: gw\r\n\r\n"));
  auto head = client.ReadHead(10s);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_TRUE(head->chunked);
  EXPECT_EQ(client.ReadChunk(10s), std::optional<std::string>("partial"));
  // The connection closes without the last chunk ("0\r\n\r\n"): the cut is visible.
  EXPECT_TRUE(client.WaitClosed(10s));
  EXPECT_EQ(client.ReadChunk(1s), std::nullopt);
}

TEST(ProxyTest, ExchangesStartedOnAServerThreadStayOnIt) {
  TestServer upstream({}, [&](http::Router& r, http::Server&) {
    r.Add({"GET"}, "/n",
          [&](Request&, http::Responder respond) { respond(Response::Text(200, "n")); });
  });
  http::UpstreamPool pool;  // its own threads: used only when called from elsewhere
  std::mutex mu;
  int same = 0, other = 0;  // guarded by mu
  http::ServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.io_threads = 2;
  http::UpstreamRequest base;
  base.endpoint.host = "127.0.0.1";
  base.endpoint.port = upstream.port();
  base.target = "/n";
  http::Server front(
      o,
      [&](Request&, http::Responder respond) {
        auto caller = std::this_thread::get_id();
        pool.Send(base, [&, caller, respond](Result<http::UpstreamResponse> r, auto) {
          {
            std::lock_guard lock(mu);
            (std::this_thread::get_id() == caller ? same : other)++;
          }
          respond(r && r->buffered_body ? Response::Text(200, *r->buffered_body)
                                        : Response::Text(502, "no"));
        });
      },
      nullptr);
  auto port = front.Start();
  ASSERT_TRUE(port);
  for (int i = 0; i < 6; ++i) {
    http::testing::RawConn client(*port);
    ASSERT_TRUE(client.Send("GET /x HTTP/1.1\r\nHost: gw\r\n\r\n"));
    auto got = client.ReadResponse(10s);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->status, 200);
    EXPECT_EQ(got->body, "n");
  }
  front.Shutdown();
  std::lock_guard lock(mu);
  EXPECT_EQ(same, 6);
  EXPECT_EQ(other, 0);
}

}  // namespace
}  // namespace skiff::gateway
