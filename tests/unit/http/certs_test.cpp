// The private CA and server certificate `skiff up` creates for its TLS listener: created once,
// reused, re-issued when names change or expiry nears, keys private, and usable by a real TLS
// client that trusts only the CA.

#include "http/certs.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "core/fs.hpp"
#include "http/client.hpp"
#include "http/server.hpp"
#include "unit/http/test_util.hpp"

namespace skiff::http {
namespace {

using namespace std::chrono_literals;

class CertsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("skiff-certs-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  SelfSignedOptions Options() {
    SelfSignedOptions o;
    o.dir = (dir_ / "tls").string();
    o.dns_names = {"localhost"};
    o.ip_addresses = {"127.0.0.1", "::1"};
    return o;
  }

  static unsigned Mode(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 0777;
  }

  std::filesystem::path dir_;
  FakeClock clock_;
};

TEST_F(CertsTest, CreatesPrivateKeysAndAMatchingPair) {
  auto files = EnsureSelfSignedTls(Options(), clock_);
  ASSERT_TRUE(files) << files.error();
  EXPECT_EQ(Mode(Options().dir), 0700u);
  EXPECT_EQ(Mode(files->key), 0600u);
  EXPECT_EQ(Mode(Options().dir + "/ca.key"), 0600u);
  EXPECT_TRUE(CheckCertificatePair(files->cert, files->key).ok());
  EXPECT_FALSE(CheckCertificatePair(files->ca_cert, files->key).ok());
}

TEST_F(CertsTest, ReusesWhatIsStillGood) {
  auto first = EnsureSelfSignedTls(Options(), clock_);
  ASSERT_TRUE(first) << first.error();
  auto ca = ReadFile(first->ca_cert);
  auto cert = ReadFile(first->cert);
  auto again = EnsureSelfSignedTls(Options(), clock_);
  ASSERT_TRUE(again) << again.error();
  EXPECT_EQ(*ReadFile(again->ca_cert), *ca);
  EXPECT_EQ(*ReadFile(again->cert), *cert);
}

TEST_F(CertsTest, ReissuesForNewNamesButKeepsTheCa) {
  auto first = EnsureSelfSignedTls(Options(), clock_);
  ASSERT_TRUE(first) << first.error();
  auto ca = *ReadFile(first->ca_cert);
  auto cert = *ReadFile(first->cert);
  SelfSignedOptions more = Options();
  more.dns_names.push_back("skiff.example.internal");
  auto second = EnsureSelfSignedTls(more, clock_);
  ASSERT_TRUE(second) << second.error();
  EXPECT_EQ(*ReadFile(second->ca_cert), ca) << "clients trust the CA: it never changes";
  EXPECT_NE(*ReadFile(second->cert), cert);
}

TEST_F(CertsTest, ReissuesBeforeExpiry) {
  auto first = EnsureSelfSignedTls(Options(), clock_);
  ASSERT_TRUE(first) << first.error();
  auto cert = *ReadFile(first->cert);
  clock_.Advance(std::chrono::hours(24 * 340));  // within 30 days of the one-year validity
  auto second = EnsureSelfSignedTls(Options(), clock_);
  ASSERT_TRUE(second) << second.error();
  EXPECT_NE(*ReadFile(second->cert), cert);
}

TEST_F(CertsTest, MismatchedCaFilesAreRefused) {
  auto first = EnsureSelfSignedTls(Options(), clock_);
  ASSERT_TRUE(first) << first.error();
  // Replace the CA key with the server key: the pair no longer belongs together.
  std::filesystem::copy_file(first->key, Options().dir + "/ca.key",
                             std::filesystem::copy_options::overwrite_existing);
  auto second = EnsureSelfSignedTls(Options(), clock_);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code(), Code::kFailedPrecondition);
}

TEST_F(CertsTest, AClientTrustingOnlyTheCaConnectsByIpAndName) {
  auto files = EnsureSelfSignedTls(Options(), SystemClock());
  ASSERT_TRUE(files) << files.error();
  ServerOptions o;
  o.tls_cert_file = files->cert;
  o.tls_key_file = files->key;
  o.shutdown_grace = 1000ms;
  testing::TestServer server(o, [](Router& r, Server&) {
    r.Add(
        {"GET"}, "/healthz", [](Request&) { return Response::Text(200, "ok"); },
        Execution::kInline);
  });
  for (std::string host : {"127.0.0.1", "localhost"}) {
    ClientRequest req;
    req.url = "https://" + host + ":" + std::to_string(server.port()) + "/healthz";
    req.ca_file = files->ca_cert;
    req.timeout = 5s;
    auto r = Fetch(req);
    ASSERT_TRUE(r) << host << ": " << r.error();
    EXPECT_EQ(r->status, 200);
  }
  // Without the CA the certificate is not trusted.
  ClientRequest untrusted;
  untrusted.url = "https://127.0.0.1:" + std::to_string(server.port()) + "/healthz";
  untrusted.timeout = 5s;
  EXPECT_FALSE(Fetch(untrusted));
}

}  // namespace
}  // namespace skiff::http
