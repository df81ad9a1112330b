// The client's TLS: a throwaway HTTPS server on 127.0.0.1 (plain OpenSSL, blocking) with
// self-signed certificates generated at test time.

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "http/client.hpp"
#include "unit/http/test_certs.hpp"
#include "unit/http/test_util.hpp"

namespace skiff::http {
namespace {

using namespace std::chrono_literals;
using testing::Cert;
using testing::MakeCert;

// Answers every TLS connection with "secure" and closes. Runs until destroyed.
class TlsServer {
 public:
  explicit TlsServer(const Cert& cert) {
    ctx_ = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate(ctx_, cert.x509);
    SSL_CTX_use_PrivateKey(ctx_, cert.key);
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 16);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~TlsServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
    SSL_CTX_free(ctx_);
  }
  uint16_t port() const { return port_; }
  std::string last_sni() {
    std::lock_guard lock(mu_);
    return sni_;
  }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      timeval tv{2, 0};  // a client that stalls must not wedge the test
      ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      SSL* ssl = SSL_new(ctx_);
      SSL_set_fd(ssl, c);
      if (SSL_accept(ssl) == 1) {
        if (const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) {
          std::lock_guard lock(mu_);
          sni_ = sni;
        }
        std::string req;
        char buf[4096];
        while (req.find("\r\n\r\n") == std::string::npos) {
          int n = SSL_read(ssl, buf, sizeof buf);
          if (n <= 0) break;
          req.append(buf, static_cast<size_t>(n));
        }
        static constexpr char kResp[] =
            "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecure";
        SSL_write(ssl, kResp, sizeof kResp - 1);
        SSL_shutdown(ssl);
      }
      SSL_free(ssl);
      ::close(c);
    }
  }

  SSL_CTX* ctx_;
  int fd_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;  // guards sni_
  std::string sni_;
  std::thread thread_;
};

ClientRequest Req(const std::string& url, const std::string& ca_file) {
  ClientRequest r;
  r.url = url;
  r.ca_file = ca_file;
  r.timeout = 5s;
  return r;
}

TEST(TlsClientTest, VerifiesAgainstCaFileByIpAndName) {
  auto cert = MakeCert("localhost", "DNS:localhost,IP:127.0.0.1");
  TlsServer server(*cert);
  const std::string port = std::to_string(server.port());

  auto by_ip = Fetch(Req("https://127.0.0.1:" + port + "/x", cert->pem_path));
  ASSERT_TRUE(by_ip) << by_ip.error();
  EXPECT_EQ(by_ip->status, 200);
  EXPECT_EQ(by_ip->body, "secure");

  auto by_name = Fetch(Req("https://localhost:" + port + "/x", cert->pem_path));
  ASSERT_TRUE(by_name) << by_name.error();
  EXPECT_EQ(by_name->body, "secure");
  EXPECT_EQ(server.last_sni(), "localhost");
}

TEST(TlsClientTest, RejectsUntrustedAndMismatchedCertificates) {
  auto cert = MakeCert("other.example", "DNS:other.example");
  TlsServer server(*cert);
  const std::string url = "https://127.0.0.1:" + std::to_string(server.port()) + "/";

  auto untrusted = Fetch(Req(url, ""));  // system store only
  ASSERT_FALSE(untrusted);
  EXPECT_EQ(untrusted.error().code(), Code::kUnavailable);

  auto mismatch = Fetch(Req(url, cert->pem_path));  // trusted, but not for 127.0.0.1
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().code(), Code::kUnavailable);

  ClientRequest insecure = Req(url, "");
  insecure.insecure_skip_verify = true;
  auto ok = Fetch(insecure);
  ASSERT_TRUE(ok) << ok.error();
  EXPECT_EQ(ok->body, "secure");
}

}  // namespace
}  // namespace skiff::http
