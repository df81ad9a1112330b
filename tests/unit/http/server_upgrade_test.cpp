// Upgraded connections (WebSocket pass-through on the server side): a 101 with
// Response::upgrade hands the client's connection to the handler as a ByteStream, over plain
// TCP and TLS, until the handler closes it, the client goes away, the idle time-out or shutdown.

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <atomic>
#include <mutex>

#include "http/server.hpp"
#include "unit/http/test_certs.hpp"
#include "unit/http/test_util.hpp"

namespace skiff::http {
namespace {

using namespace std::chrono_literals;
using testing::RawConn;
using testing::TestServer;

constexpr std::string_view kUpgrade =
    "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

// Echoes every piece back with a prefix; "quit" closes the tunnel.
void Echo(std::shared_ptr<ByteStream> s, std::shared_ptr<std::atomic<int>> ends) {
  s->Read([s, ends](Result<std::optional<std::string>> r) {
    if (!r || !*r) {
      ++*ends;
      s->Close();
      return;
    }
    std::string data = std::move(**r);
    if (data == "quit") {
      ++*ends;
      s->Close();
      return;
    }
    s->Write("echo:" + data, [s, ends](Status st) {
      if (!st.ok()) {
        ++*ends;
        s->Close();
        return;
      }
      Echo(s, ends);
    });
  });
}

class UpgradeTest : public ::testing::Test {
 protected:
  void StartServer(ServerOptions o) {
    o.shutdown_grace = 5000ms;
    o.access_log = [this](const AccessRecord& r) {
      std::lock_guard lock(mu_);
      records_.push_back(r);
    };
    server_ = std::make_unique<TestServer>(o, [this](Router& r, Server&) {
      r.Add({"GET"}, "/ws", [this](Request& req, Responder respond) {
        if (!EqualsIgnoreCase(req.headers.Get("Upgrade").value_or(""), "websocket") ||
            !req.body.empty()) {
          respond(Response::Text(400, "not an upgrade"));
          return;
        }
        Response resp;
        resp.status = 101;
        resp.headers.Set("Connection", "Upgrade");
        resp.headers.Set("Upgrade", "websocket");
        resp.headers.Set("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        resp.upgrade = [ends = ends_](std::shared_ptr<ByteStream> client) {
          Echo(std::move(client), ends);
        };
        respond(std::move(resp));
      });
      r.Add({"GET"}, "/bad101", [](Request&, Responder respond) {
        Response resp;
        resp.status = 101;
        respond(std::move(resp));
      });
    });
  }

  // Reads until `want` has arrived (the buffer keeps everything read so far).
  static bool WaitFor(RawConn& c, std::string_view want, std::chrono::milliseconds t = 5s) {
    auto deadline = testing::Clock::now() + t;
    while (c.buffered().find(want) == std::string::npos) {
      if (!c.Fill(deadline)) return false;
    }
    return true;
  }

  size_t records() {
    std::lock_guard lock(mu_);
    return records_.size();
  }

  std::shared_ptr<std::atomic<int>> ends_ = std::make_shared<std::atomic<int>>(0);
  std::mutex mu_;  // guards records_
  std::vector<AccessRecord> records_;
  std::unique_ptr<TestServer> server_;
};

TEST_F(UpgradeTest, EchoThroughTheTunnel) {
  StartServer({});
  RawConn c(server_->port());
  ASSERT_TRUE(c.Send(std::string(kUpgrade) + "early"));
  auto head = c.ReadHead();
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 101);
  EXPECT_EQ(head->Header("connection"), "Upgrade");
  EXPECT_EQ(head->Header("upgrade"), "websocket");
  EXPECT_EQ(head->Header("sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  EXPECT_EQ(head->Header("content-length"), "");
  EXPECT_EQ(head->Header("transfer-encoding"), "");
  ASSERT_TRUE(WaitFor(c, "echo:early"));  // bytes sent with the upgrade request are kept
  ASSERT_TRUE(c.Send("hello"));
  ASSERT_TRUE(WaitFor(c, "echo:hello"));
  // HTTP is over on this connection: a request is just bytes.
  ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\n\r\n"));
  ASSERT_TRUE(WaitFor(c, "echo:GET / HTTP/1.1"));
  EXPECT_EQ(records(), 0u);
  ASSERT_TRUE(c.Send("quit"));
  EXPECT_TRUE(c.WaitClosed());
  ASSERT_TRUE(testing::WaitUntil([&] { return records() == 1; }));
  std::lock_guard lock(mu_);
  EXPECT_EQ(records_[0].status, 101);
  EXPECT_EQ(records_[0].bytes_received, std::string("earlyhelloGET / HTTP/1.1\r\n\r\nquit").size());
  EXPECT_EQ(records_[0].bytes_sent,
            std::string("echo:earlyecho:helloecho:GET / HTTP/1.1\r\n\r\n").size());
  EXPECT_EQ(records_[0].flags, "");
}

TEST_F(UpgradeTest, ClientGoingAwayEndsTheTunnel) {
  StartServer({});
  {
    RawConn c(server_->port());
    ASSERT_TRUE(c.Send(kUpgrade));
    auto head = c.ReadHead();
    ASSERT_TRUE(head);
    ASSERT_EQ(head->status, 101);
  }
  ASSERT_TRUE(testing::WaitUntil([&] { return ends_->load() == 1; }));
  ASSERT_TRUE(testing::WaitUntil([&] { return records() == 1; }));
  EXPECT_TRUE(testing::WaitUntil([&] { return server_->server().open_connections() == 0; }));
}

TEST_F(UpgradeTest, IdleTunnelIsClosed) {
  ServerOptions o;
  o.tunnel_idle_timeout = 500ms;
  StartServer(o);
  RawConn c(server_->port());
  ASSERT_TRUE(c.Send(kUpgrade));
  auto head = c.ReadHead();
  ASSERT_TRUE(head);
  ASSERT_EQ(head->status, 101);
  // Activity keeps it open past the time-out...
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(c.Send("x" + std::to_string(i)));
    ASSERT_TRUE(WaitFor(c, "echo:x" + std::to_string(i)));
    std::this_thread::sleep_for(150ms);  // idle gaps shorter than the time-out
  }
  // ...silence closes it.
  EXPECT_TRUE(c.WaitClosed(5s));
  ASSERT_TRUE(testing::WaitUntil([&] { return records() == 1; }));
  std::lock_guard lock(mu_);
  EXPECT_EQ(records_[0].flags, "SI");
}

TEST_F(UpgradeTest, ShutdownClosesTunnels) {
  StartServer({});
  RawConn c(server_->port());
  ASSERT_TRUE(c.Send(kUpgrade));
  auto head = c.ReadHead();
  ASSERT_TRUE(head);
  ASSERT_EQ(head->status, 101);
  auto started = std::chrono::steady_clock::now();
  server_->server().Shutdown();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);  // not the 5 s grace
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(UpgradeTest, SwitchWithoutACalleeIs500) {
  StartServer({});
  RawConn c(server_->port());
  ASSERT_TRUE(c.Send(testing::Get("/bad101")));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
}

TEST_F(UpgradeTest, EchoOverTls) {
  auto cert = testing::MakeCert("localhost", "DNS:localhost,IP:127.0.0.1");
  ServerOptions o;
  o.tls_cert_file = cert->pem_path;
  o.tls_key_file = cert->key_path;
  StartServer(o);
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(server_->port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  timeval tv{5, 0};  // bounded reads
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  ASSERT_EQ(SSL_connect(ssl), 1);
  std::string in;
  auto read_until = [&](std::string_view want) {
    char buf[4096];
    while (in.find(want) == std::string::npos) {
      int n = SSL_read(ssl, buf, sizeof buf);
      if (n <= 0) return false;
      in.append(buf, static_cast<size_t>(n));
    }
    return true;
  };
  auto send = [&](std::string_view s) {
    return SSL_write(ssl, s.data(), static_cast<int>(s.size())) == static_cast<int>(s.size());
  };
  ASSERT_TRUE(send(kUpgrade));
  ASSERT_TRUE(read_until("\r\n\r\n"));
  EXPECT_EQ(in.rfind("HTTP/1.1 101", 0), 0u) << in;
  ASSERT_TRUE(send("over-tls"));
  EXPECT_TRUE(read_until("echo:over-tls"));
  ASSERT_TRUE(send("quit"));
  char buf[64];
  EXPECT_LE(SSL_read(ssl, buf, sizeof buf), 0);  // closed by the server
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  ::close(fd);
  ASSERT_TRUE(testing::WaitUntil([&] { return records() == 1; }));
}

}  // namespace
}  // namespace skiff::http
