// The server's HTTPS listener, checked with the Client (verifying against a CA file) and with a
// raw OpenSSL client for keep-alive.

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include "http/client.hpp"
#include "http/server.hpp"
#include "unit/http/test_certs.hpp"
#include "unit/http/test_stream.hpp"
#include "unit/http/test_util.hpp"

namespace skiff::http {
namespace {

using namespace std::chrono_literals;
using testing::MakeCert;
using testing::RawConn;
using testing::TestServer;
using testing::TestStream;

class ServerTlsTest : public ::testing::Test {
 protected:
  ServerTlsTest()
      : cert_(MakeCert("localhost", "DNS:localhost,IP:127.0.0.1")),
        server_(Options(*cert_), [this](Router& r, Server&) {
          r.Add(
              {"GET"}, "/healthz", [](Request&) { return Response::Text(200, "ok"); },
              Execution::kInline);
          r.Add(
              {"GET"}, "/scheme",
              [](Request& req) { return Response::Text(200, req.tls ? "tls" : "plain"); },
              Execution::kInline);
          r.Add({"GET"}, "/watch", [this](Request&, Responder respond) {
            Response resp;
            resp.stream = watch_;
            respond(std::move(resp));
          });
        }) {}

  static ServerOptions Options(const testing::Cert& cert) {
    ServerOptions o;
    o.tls_cert_file = cert.pem_path;
    o.tls_key_file = cert.key_path;
    o.header_timeout = 500ms;
    o.shutdown_grace = 1000ms;
    return o;
  }

  ClientRequest Req(const std::string& path) {
    ClientRequest r;
    r.url = "https://127.0.0.1:" + std::to_string(server_.port()) + path;
    r.ca_file = cert_->pem_path;
    r.timeout = 5s;
    return r;
  }

  std::unique_ptr<testing::Cert> cert_;
  std::shared_ptr<TestStream> watch_ = std::make_shared<TestStream>();
  TestServer server_;
};

TEST_F(ServerTlsTest, ClientVerifiesAndFetches) {
  ASSERT_NE(server_.port(), 0);
  auto r = Fetch(Req("/healthz"));
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "ok");
}

TEST_F(ServerTlsTest, StreamOverTlsAndCancelOnDisconnect) {
  std::thread pusher([this] {
    testing::WaitUntil([&] { return watch_->waiting(); });
    watch_->Push("event-1\n");
  });
  std::string got;
  auto status = FetchStream(Req("/watch"), [&](std::string_view c) {
    got += c;
    return false;
  });
  pusher.join();
  ASSERT_TRUE(status) << status.error();
  EXPECT_EQ(got, "event-1\n");
  EXPECT_TRUE(testing::WaitUntil([&] { return watch_->cancels() >= 1; }));
}

TEST_F(ServerTlsTest, KeepAliveAndPipeliningOverTls) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(server_.port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  timeval tv{5, 0};  // bounded reads
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  ASSERT_EQ(SSL_connect(ssl), 1);
  const std::string two = testing::Get("/healthz") + testing::Get("/healthz");
  ASSERT_EQ(SSL_write(ssl, two.data(), static_cast<int>(two.size())), static_cast<int>(two.size()));
  std::string in;
  auto count = [&] {
    size_t n = 0;
    for (size_t p = in.find("HTTP/1.1 200"); p != std::string::npos;
         p = in.find("HTTP/1.1 200", p + 1)) {
      ++n;
    }
    return n;
  };
  char buf[4096];
  while (count() < 2 || in.size() < in.rfind("\r\n\r\n") + 4 + 2) {
    int n = SSL_read(ssl, buf, sizeof buf);
    if (n <= 0) break;
    in.append(buf, static_cast<size_t>(n));
  }
  EXPECT_EQ(count(), 2u) << in;
  EXPECT_EQ(server_.server().open_connections(), 1u);
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  ::close(fd);
}

TEST_F(ServerTlsTest, PlainHttpSharesThePort) {
  // Plain HTTP and TLS on one port: the first byte tells them apart, and the handler sees which.
  ClientRequest plain;
  plain.url = "http://127.0.0.1:" + std::to_string(server_.port()) + "/scheme";
  plain.timeout = 5s;
  auto p = Fetch(plain);
  ASSERT_TRUE(p) << p.error();
  EXPECT_EQ(p->status, 200);
  EXPECT_EQ(p->body, "plain");
  auto t = Fetch(Req("/scheme"));
  ASSERT_TRUE(t) << t.error();
  EXPECT_EQ(t->body, "tls");
}

TEST(ServerTlsOnlyTest, PlainHttpIsClosedWhenTlsIsRequired) {
  auto cert = MakeCert("localhost", "DNS:localhost,IP:127.0.0.1");
  ServerOptions o;
  o.tls_cert_file = cert->pem_path;
  o.tls_key_file = cert->key_path;
  o.tls_only = true;
  o.header_timeout = 500ms;
  o.shutdown_grace = 1000ms;
  TestServer server(o, [](Router& r, Server&) {
    r.Add(
        {"GET"}, "/healthz", [](Request&) { return Response::Text(200, "ok"); },
        Execution::kInline);
  });
  RawConn c(server.port());
  ASSERT_TRUE(c.Send(testing::Get("/healthz")));
  EXPECT_TRUE(c.WaitClosed(5s));
  EXPECT_EQ(c.buffered().find("HTTP/1.1 200"), std::string::npos);
}

TEST(ServerTlsConfigTest, MissingFilesFailStart) {
  ServerOptions o;
  o.port = 0;
  o.tls_cert_file = "/nonexistent/cert.pem";
  o.tls_key_file = "/nonexistent/key.pem";
  Server s(
      o, [](Request&, Responder r) { r(Response::Text(200, "")); }, nullptr);
  auto port = s.Start();
  ASSERT_FALSE(port);
  EXPECT_EQ(port.error().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace skiff::http
