// The server's HTTPS listener, checked with the Client (verifying against a CA file) and with a
// raw OpenSSL client for keep-alive.

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <filesystem>

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

// A raw TLS client on one keep-alive connection, for checking which certificate a connection got.
class TlsConn {
 public:
  explicit TlsConn(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return;
    timeval tv{5, 0};  // bounded reads
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ctx_ = SSL_CTX_new(TLS_client_method());
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    ok_ = SSL_connect(ssl_) == 1;
  }
  ~TlsConn() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (ctx_ != nullptr) SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return ok_; }
  // True when the server presented exactly `cert`.
  bool PeerIs(X509* cert) const {
    X509* peer = SSL_get1_peer_certificate(ssl_);
    bool same = peer != nullptr && X509_cmp(peer, cert) == 0;
    X509_free(peer);
    return same;
  }
  // Sends one GET and reads its response head and "ok" body; true on a 200.
  bool GetOk(const std::string& path) {
    const std::string req = testing::Get(path);
    if (SSL_write(ssl_, req.data(), static_cast<int>(req.size())) != static_cast<int>(req.size())) {
      return false;
    }
    std::string in;
    char buf[4096];
    while (in.find("\r\n\r\nok") == std::string::npos) {
      int n = SSL_read(ssl_, buf, sizeof buf);
      if (n <= 0) return false;
      in.append(buf, static_cast<size_t>(n));
    }
    return in.rfind("HTTP/1.1 200", 0) == 0;
  }

 private:
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  bool ok_ = false;
};

TEST(ServerTlsReloadTest, NewConnectionsGetTheNewCertificateOldOnesKeepWorking) {
  auto first = MakeCert("localhost", "DNS:localhost,IP:127.0.0.1");
  auto second = MakeCert("localhost", "DNS:localhost,IP:127.0.0.1");
  const auto dir =
      std::filesystem::temp_directory_path() / ("skiff-tls-reload-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string live_cert = (dir / "tls.crt").string();
  const std::string live_key = (dir / "tls.key").string();
  auto install = [&](const testing::Cert& cert_from, const testing::Cert& key_from) {
    const auto over = std::filesystem::copy_options::overwrite_existing;
    std::filesystem::copy_file(cert_from.pem_path, live_cert, over);
    std::filesystem::copy_file(key_from.key_path, live_key, over);
  };
  install(*first, *first);
  ServerOptions o;
  o.tls_cert_file = live_cert;
  o.tls_key_file = live_key;
  o.header_timeout = 2000ms;
  o.shutdown_grace = 1000ms;
  {
    TestServer server(o, [](Router& r, Server&) {
      r.Add(
          {"GET"}, "/healthz", [](Request&) { return Response::Text(200, "ok"); },
          Execution::kInline);
    });
    ASSERT_NE(server.port(), 0);
    TlsConn old_conn(server.port());
    ASSERT_TRUE(old_conn.ok());
    EXPECT_TRUE(old_conn.PeerIs(first->x509));
    ASSERT_TRUE(old_conn.GetOk("/healthz"));

    install(*second, *second);
    Status reloaded = server.server().ReloadTls();
    ASSERT_TRUE(reloaded.ok()) << reloaded.message();

    EXPECT_TRUE(old_conn.GetOk("/healthz"));  // not dropped
    TlsConn new_conn(server.port());
    ASSERT_TRUE(new_conn.ok());
    EXPECT_TRUE(new_conn.PeerIs(second->x509));
    EXPECT_TRUE(new_conn.GetOk("/healthz"));
    ClientRequest req;
    req.url = "https://127.0.0.1:" + std::to_string(server.port()) + "/healthz";
    req.ca_file = second->pem_path;
    req.timeout = 5s;
    auto fetched = Fetch(req);
    ASSERT_TRUE(fetched) << fetched.error();
    EXPECT_EQ(fetched->status, 200);

    // A certificate with somebody else's key is refused and the current pair stays.
    install(*first, *second);
    Status bad = server.server().ReloadTls();
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.code(), Code::kInvalidArgument);
    TlsConn after_bad(server.port());
    ASSERT_TRUE(after_bad.ok());
    EXPECT_TRUE(after_bad.PeerIs(second->x509));
    EXPECT_TRUE(old_conn.GetOk("/healthz"));
  }
  std::filesystem::remove_all(dir);
}

TEST(ServerTlsReloadTest, PlainServerRefusesReload) {
  ServerOptions o;
  o.port = 0;
  Server s(
      o, [](Request&, Responder r) { r(Response::Text(200, "")); }, nullptr);
  ASSERT_TRUE(s.Start());
  Status st = s.ReloadTls();
  EXPECT_EQ(st.code(), Code::kFailedPrecondition);
  s.Shutdown();
}

}  // namespace
}  // namespace skiff::http
