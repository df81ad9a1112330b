#include "http/client.hpp"

#include <gtest/gtest.h>

#include <future>

#include "unit/http/test_stream.hpp"
#include "unit/http/test_util.hpp"

namespace skiff::http {
namespace {

using namespace std::chrono_literals;
using testing::TestServer;
using testing::TestStream;

// A port with nothing listening: bind one, read its number, close it.
uint16_t UnusedPort() {
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

class ClientTest : public ::testing::Test {
 protected:
  ClientTest()
      : server_(Options(), [this](Router& r, Server&) {
          r.Add(
              {"GET", "POST", "PUT"}, "/echo",
              [](Request& req) {
                Response resp = Response::Text(
                    200, req.method + " " + req.path + "?" + req.raw_query + " " + req.body);
                resp.headers.Set("X-Got", std::string(req.headers.Get("X-Test").value_or("")));
                return resp;
              },
              Execution::kInline);
          r.Add(
              {"GET"}, "/big", [](Request&) { return Response::Text(200, std::string(5000, 'b')); },
              Execution::kInline);
          r.Add({"GET"}, "/never", [this](Request&, Responder respond) {
            std::lock_guard lock(mu_);
            parked_.push_back(std::move(respond));
          });
          r.Add({"GET"}, "/chunks", [](Request&, Responder respond) {
            auto s = std::make_shared<TestStream>();
            s->Push("alpha,");
            s->Push("beta,");
            s->Push("gamma");
            s->End();
            Response resp;
            resp.stream = s;
            respond(std::move(resp));
          });
          r.Add({"GET"}, "/watch", [this](Request&, Responder respond) {
            Response resp;
            resp.stream = watch_;
            respond(std::move(resp));
          });
        }) {}
  ~ClientTest() override {
    std::lock_guard lock(mu_);
    parked_.clear();
  }

  static ServerOptions Options() {
    ServerOptions o;
    o.shutdown_grace = 500ms;
    return o;
  }

  ClientRequest Req(std::string path) {
    ClientRequest r;
    r.url = server_.Url(path);
    r.timeout = 5s;
    return r;
  }

  std::shared_ptr<TestStream> watch_ = std::make_shared<TestStream>();
  std::mutex mu_;
  std::vector<Responder> parked_;
  TestServer server_;
};

TEST_F(ClientTest, GetAndPost) {
  ClientRequest get = Req("/echo?a=1&b=x%20y");
  get.headers.Set("X-Test", "hello");
  auto r = Fetch(get);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "GET /echo?a=1&b=x%20y ");
  EXPECT_EQ(r->headers.Get("x-got"), "hello");
  EXPECT_EQ(r->headers.Get("Content-Type"), "text/plain; charset=utf-8");

  ClientRequest post = Req("/echo");
  post.method = "POST";
  post.body = "payload";
  auto p = Fetch(post);
  ASSERT_TRUE(p) << p.error();
  EXPECT_EQ(p->body, "POST /echo? payload");

  auto missing = Fetch(Req("/missing"));
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
}

TEST_F(ClientTest, ChunkedResponse) {
  auto r = Fetch(Req("/chunks"));
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->headers.Get("Transfer-Encoding"), "chunked");
  EXPECT_EQ(r->body, "alpha,beta,gamma");

  std::string streamed;
  auto status = FetchStream(Req("/chunks"), [&](std::string_view c) {
    streamed += c;
    return true;
  });
  ASSERT_TRUE(status) << status.error();
  EXPECT_EQ(*status, 200);
  EXPECT_EQ(streamed, "alpha,beta,gamma");
}

TEST_F(ClientTest, FetchStreamDeliversPiecesAsTheyComeAndStops) {
  std::vector<std::string> got;
  std::thread pusher([this] {
    testing::WaitUntil([&] { return watch_->waiting(); });
    watch_->Push("one\n");
  });
  auto status = FetchStream(Req("/watch"), [&](std::string_view c) {
    got.emplace_back(c);
    return false;  // stop after the first piece: it must arrive before the stream ends
  });
  pusher.join();
  ASSERT_TRUE(status) << status.error();
  EXPECT_EQ(*status, 200);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], "one\n");
  // The client hung up: the server cancels the stream.
  EXPECT_TRUE(testing::WaitUntil([&] { return watch_->cancels() >= 1; }));
}

TEST_F(ClientTest, TimeoutIsDeadlineExceeded) {
  ClientRequest r = Req("/never");
  r.timeout = 200ms;
  auto start = std::chrono::steady_clock::now();
  auto res = Fetch(r);
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().code(), Code::kDeadlineExceeded);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

TEST_F(ClientTest, ResponseTooLarge) {
  ClientRequest r = Req("/big");
  r.max_response_bytes = 1000;
  auto res = Fetch(r);
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().code(), Code::kResourceExhausted);
  r.max_response_bytes = 5000;
  EXPECT_TRUE(Fetch(r));
}

TEST_F(ClientTest, AsyncFetchOnTheServer) {
  std::promise<Result<ClientResponse>> done;
  ClientRequest r = Req("/echo?async=1");
  server_.server().Fetch(r,
                         [&done](Result<ClientResponse> res) { done.set_value(std::move(res)); });
  auto future = done.get_future();
  ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
  auto res = future.get();
  ASSERT_TRUE(res) << res.error();
  EXPECT_EQ(res->body, "GET /echo?async=1 ");

  std::promise<Result<ClientResponse>> refused;
  ClientRequest bad;
  bad.url = "http://127.0.0.1:" + std::to_string(UnusedPort()) + "/";
  server_.server().Fetch(
      bad, [&refused](Result<ClientResponse> res) { refused.set_value(std::move(res)); });
  auto f2 = refused.get_future();
  ASSERT_EQ(f2.wait_for(5s), std::future_status::ready);
  auto res2 = f2.get();
  ASSERT_FALSE(res2);
  EXPECT_EQ(res2.error().code(), Code::kUnavailable);
}

TEST_F(ClientTest, AllowAddressFiltersWhatIsConnectedTo) {
  int asked = 0;
  ClientRequest r = Req("/echo");
  r.allow_address = [&](std::string_view ip) {
    ++asked;
    return IsPublicAddress(ip);
  };
  auto refused = Fetch(r);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), Code::kPermissionDenied);
  EXPECT_NE(refused.error().message().find("127.0.0.1"), std::string::npos)
      << refused.error().message();
  EXPECT_EQ(asked, 1);
  // A name is checked by what it resolves to, not by how it is spelled.
  ClientRequest by_name = r;
  by_name.url = "http://localhost:" + std::to_string(server_.port()) + "/echo";
  auto named = Fetch(by_name);
  ASSERT_FALSE(named);
  EXPECT_EQ(named.error().code(), Code::kPermissionDenied);
  // Allowed: the request goes through.
  r.allow_address = [](std::string_view ip) { return ip == "127.0.0.1"; };
  auto ok = Fetch(r);
  ASSERT_TRUE(ok) << ok.error();
  EXPECT_EQ(ok->status, 200);
}

TEST(IsPublicAddressTest, RefusesInternalRanges) {
  for (const char* ip : {"127.0.0.1",
                         "127.255.0.9",
                         "10.1.2.3",
                         "172.16.0.1",
                         "172.31.255.255",
                         "192.168.1.1",
                         "169.254.169.254",
                         "100.64.0.1",
                         "0.0.0.0",
                         "224.0.0.1",
                         "255.255.255.255",
                         "192.0.2.5",
                         "::1",
                         "::",
                         "fe80::1",
                         "fd00::1",
                         "fc00::2",
                         "ff02::1",
                         "::ffff:127.0.0.1",
                         "::ffff:169.254.169.254",
                         "::127.0.0.1",
                         "64:ff9b::10.0.0.1",
                         "2001:db8::1",
                         "localhost",
                         "",
                         "not an address"}) {
    EXPECT_FALSE(IsPublicAddress(ip)) << ip;
  }
  for (const char* ip : {"8.8.8.8", "1.1.1.1", "172.32.0.1", "172.15.255.255", "100.128.0.1",
                         "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::8.8.8.8"}) {
    EXPECT_TRUE(IsPublicAddress(ip)) << ip;
  }
}

TEST(ClientErrorsTest, BadUrlsAndRefusedConnections) {
  ClientRequest r;
  r.url = "not a url";
  auto a = Fetch(r);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), Code::kInvalidArgument);
  r.url = "ftp://127.0.0.1/x";
  auto b = Fetch(r);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code(), Code::kInvalidArgument);
  r.url = "http://127.0.0.1:" + std::to_string(UnusedPort()) + "/";
  auto c = Fetch(r);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), Code::kUnavailable);
  r.url = "https://127.0.0.1:1/";
  r.ca_file = "/nonexistent/ca.pem";
  auto d = Fetch(r);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace skiff::http
