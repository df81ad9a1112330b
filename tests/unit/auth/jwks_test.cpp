// JwksSource against skiff's own HTTPS server on 127.0.0.1 with a self-signed certificate:
// CA-file trust, discovery, rate-limited refresh on unknown kids, rotation, TTL from
// Cache-Control, failed refreshes keeping the old set, size limits.

#include "auth/jwks.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "auth/jwt.hpp"
#include "core/json.hpp"
#include "http/server.hpp"
#include "unit/auth/auth_test_util.hpp"
#include "unit/http/test_certs.hpp"

namespace skiff::auth {
namespace {

using namespace std::chrono_literals;
using std::chrono::seconds;

// Serves a discovery document at /.well-known/openid-configuration and a JWKS at /keys, both
// changeable by the test, counting requests per path.
class IssuerServer {
 public:
  IssuerServer() : cert_(http::testing::MakeCert("localhost", "DNS:localhost,IP:127.0.0.1")) {
    http::ServerOptions o = TlsTestServerOptions(*cert_);
    server_ = std::make_unique<http::Server>(
        o, [this](http::Request& req, http::Responder respond) { respond(Handle(req)); }, nullptr);
    auto port = server_->Start();
    EXPECT_TRUE(port) << port.error();
    port_ = port ? *port : 0;
  }
  ~IssuerServer() { server_->Shutdown(); }

  std::string base() const { return "https://127.0.0.1:" + std::to_string(port_); }
  const std::string& ca_file() const { return cert_->pem_path; }

  void SetJwks(const jose::KeySet& set, std::string cache_control = "") {
    std::lock_guard lock(mu_);
    jwks_ = Serialize(set.ToJwks());
    cache_control_ = std::move(cache_control);
    status_ = 200;
  }
  void SetBody(std::string body) {
    std::lock_guard lock(mu_);
    jwks_ = std::move(body);
  }
  void SetStatus(int status) {
    std::lock_guard lock(mu_);
    status_ = status;
  }
  void SetIssuerClaim(std::string iss) {
    std::lock_guard lock(mu_);
    issuer_claim_ = std::move(iss);
  }
  int hits(const std::string& path) const {
    std::lock_guard lock(mu_);
    auto it = hits_.find(path);
    return it == hits_.end() ? 0 : it->second;
  }

 private:
  http::Response Handle(const http::Request& req) {
    std::lock_guard lock(mu_);
    ++hits_[req.path];
    if (req.path == "/.well-known/openid-configuration") {
      json::object d;
      d["issuer"] = issuer_claim_.empty() ? base() : issuer_claim_;
      d["jwks_uri"] = base() + "/keys";
      return http::Response::Json(200, Serialize(d));
    }
    if (req.path == "/keys") {
      if (status_ != 200) return http::Response::Text(status_, "down");
      http::Response r = http::Response::Json(200, jwks_);
      if (!cache_control_.empty()) r.headers.Set("Cache-Control", cache_control_);
      return r;
    }
    return http::Response::Text(404, "not found");
  }

  std::unique_ptr<http::testing::Cert> cert_;
  std::unique_ptr<http::Server> server_;
  uint16_t port_ = 0;
  mutable std::mutex mu_;  // guards the state below
  std::string jwks_ = R"({"keys":[]})";
  std::string cache_control_;
  std::string issuer_claim_;
  int status_ = 200;
  std::map<std::string, int> hits_;
};

jose::Key NewKey(jose::Alg alg, std::string kid) {
  auto k = jose::Key::Generate(alg);
  EXPECT_TRUE(k);
  k->set_kid(std::move(kid));
  return *k;
}

jose::KeySet SetOf(std::initializer_list<const jose::Key*> keys) {
  jose::KeySet s;
  for (const jose::Key* k : keys) s.Add(*k);
  return s;
}

class JwksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    k1_ = NewKey(jose::Alg::kES256, "k1");
    k2_ = NewKey(jose::Alg::kES256, "k2");
    server_.SetJwks(SetOf({&k1_}));
  }
  JwksOptions Options(bool discover = true) const {
    JwksOptions o;
    o.issuer = server_.base();
    if (!discover) o.jwks_uri = server_.base() + "/keys";
    o.ca_file = server_.ca_file();
    o.timeout = 5s;
    return o;
  }
  std::shared_ptr<JwksSource> Source(JwksOptions o) {
    auto s = JwksSource::Create(std::move(o), clock_);
    EXPECT_TRUE(s) << s.error();
    return *s;
  }
  std::string Token(const jose::Key& k) const {
    json::object c;
    c["iss"] = server_.base();
    c["sub"] = "alice";
    c["exp"] = std::chrono::duration_cast<seconds>(clock_.Now().time_since_epoch()).count() + 300;
    return *jose::Sign(k, c);
  }

  IssuerServer server_;
  FakeClock clock_;
  jose::Key k1_, k2_;
};

TEST_F(JwksTest, DiscoveryOverHttpsTrustedThroughTheCaFile) {
  auto src = Source(Options());
  EXPECT_EQ(src->Current(), nullptr);
  EXPECT_TRUE(src->RefreshDue(RefreshCause::kStale));
  Status s = src->Refresh(RefreshCause::kStale);
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_NE(src->Current(), nullptr);
  ASSERT_EQ(src->Current()->Find("k1").size(), 1u);
  EXPECT_EQ(src->jwks_uri(), server_.base() + "/keys");
  EXPECT_EQ(server_.hits("/.well-known/openid-configuration"), 1);
  EXPECT_EQ(server_.hits("/keys"), 1);
  // A verifier over it accepts a token signed by k1.
  JwtVerifierOptions vo;
  vo.algorithms = {jose::Alg::kES256};
  vo.claims.issuers = {server_.base()};
  JwtVerifier v(vo, src);
  auto r = v.Verify(Token(k1_), clock_.Now());
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(GetString(r->claims, "sub"), "alice");
}

TEST_F(JwksTest, UntrustedCertificateFails) {
  JwksOptions o = Options(false);
  o.ca_file.clear();  // the system store does not know the self-signed certificate
  auto src = Source(o);
  Status s = src->Refresh(RefreshCause::kStale);
  EXPECT_EQ(s.code(), Code::kUnavailable) << s;
  EXPECT_EQ(src->Current(), nullptr);
  EXPECT_EQ(server_.hits("/keys"), 0);  // the TLS handshake failed before any request
  // The next attempt waits for the minimum interval.
  EXPECT_FALSE(src->RefreshDue(RefreshCause::kUnknownKid));
  EXPECT_EQ(src->Refresh(RefreshCause::kUnknownKid), s);
  EXPECT_EQ(src->fetch_count(), 1);
}

TEST_F(JwksTest, UnknownKidRefreshIsRateLimited) {
  JwksOptions o = Options(false);
  o.min_refresh_interval = seconds(30);
  auto src = Source(o);
  ASSERT_TRUE(src->Refresh(RefreshCause::kStale).ok());
  EXPECT_EQ(server_.hits("/keys"), 1);
  JwtVerifierOptions vo;
  vo.algorithms = {jose::Alg::kES256};
  JwtVerifier v(vo, src);
  auto stranger = NewKey(jose::Alg::kES256, "random-kid");
  // Many tokens with unknown kids within the interval: no refetch, final rejections.
  for (int i = 0; i < 20; ++i) {
    auto r = v.VerifyOrRefresh(Token(stranger), clock_.Now());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message(), "unknown kid \"random-kid\"");
    EXPECT_FALSE(NeedsKeyRefresh(r.error()));
  }
  EXPECT_EQ(server_.hits("/keys"), 1);
  clock_.Advance(seconds(31));
  EXPECT_TRUE(src->RefreshDue(RefreshCause::kUnknownKid));
  EXPECT_FALSE(src->RefreshDue(RefreshCause::kStale));  // the TTL (1 h) has not passed
  auto r = v.Verify(Token(stranger), clock_.Now());
  ASSERT_FALSE(r);
  EXPECT_TRUE(NeedsKeyRefresh(r.error()));
  EXPECT_FALSE(v.VerifyOrRefresh(Token(stranger), clock_.Now()));
  EXPECT_EQ(server_.hits("/keys"), 2);
  EXPECT_FALSE(v.VerifyOrRefresh(Token(stranger), clock_.Now()));
  EXPECT_EQ(server_.hits("/keys"), 2);
}

TEST_F(JwksTest, ConcurrentRefreshesFetchOnce) {
  auto src = Source(Options(false));
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      if (src->Refresh(RefreshCause::kUnknownKid).ok()) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 8);
  EXPECT_EQ(server_.hits("/keys"), 1);
}

TEST_F(JwksTest, RotationAppearsAfterRefresh) {
  auto src = Source(Options());
  JwtVerifierOptions vo;
  vo.algorithms = {jose::Alg::kES256};
  JwtVerifier v(vo, src);
  ASSERT_TRUE(v.VerifyOrRefresh(Token(k1_), clock_.Now()));
  // The issuer rotates to k2 (k1 kept for its tokens), then drops k1.
  server_.SetJwks(SetOf({&k1_, &k2_}));
  clock_.Advance(seconds(31));
  auto r = v.VerifyOrRefresh(Token(k2_), clock_.Now());
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->kid, "k2");
  EXPECT_TRUE(v.Verify(Token(k1_), clock_.Now()));
  server_.SetJwks(SetOf({&k2_}));
  clock_.Advance(seconds(3601));  // the TTL passes: the next verification refetches first
  EXPECT_TRUE(src->RefreshDue(RefreshCause::kStale));
  auto gone = v.VerifyOrRefresh(Token(k1_), clock_.Now());
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().message(), "unknown kid \"k1\"");
  EXPECT_EQ(server_.hits("/keys"), 3);
  EXPECT_EQ(server_.hits("/.well-known/openid-configuration"), 1);  // discovered once
}

TEST_F(JwksTest, FailedRefreshKeepsTheOldSet) {
  auto src = Source(Options(false));
  ASSERT_TRUE(src->Refresh(RefreshCause::kStale).ok());
  auto before = src->Current();
  server_.SetStatus(500);
  clock_.Advance(seconds(31));
  Status s = src->Refresh(RefreshCause::kUnknownKid);
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_NE(s.message().find("answered HTTP 500"), std::string::npos) << s;
  EXPECT_EQ(src->Current(), before);
  // Garbage and empty sets are failures too.
  server_.SetStatus(200);
  server_.SetBody("<html>");
  clock_.Advance(seconds(31));
  EXPECT_NE(src->Refresh(RefreshCause::kUnknownKid).message().find("not a JSON object"),
            std::string::npos);
  server_.SetBody(R"({"keys":[{"kty":"oct","k":"AAAA"}]})");
  clock_.Advance(seconds(31));
  EXPECT_NE(src->Refresh(RefreshCause::kUnknownKid).message().find("has no usable keys"),
            std::string::npos);
  EXPECT_EQ(src->Current(), before);
  JwtVerifierOptions vo;
  vo.algorithms = {jose::Alg::kES256};
  EXPECT_TRUE(JwtVerifier(vo, src).Verify(Token(k1_), clock_.Now()));
}

// RefreshDue(kStale) (read without a lock on every request) follows the refresh policy: due
// before the first fetch, after a failed fetch only once the minimum interval has passed, and
// after a good fetch at its TTL; CurrentIdentity follows Current.
TEST_F(JwksTest, StaleRefreshIsDueAsThePolicySays) {
  JwksOptions o = Options(false);
  o.min_refresh_interval = seconds(30);
  auto src = Source(o);
  EXPECT_TRUE(src->RefreshDue(RefreshCause::kStale));
  EXPECT_EQ(src->CurrentIdentity(), nullptr);
  server_.SetStatus(500);
  EXPECT_FALSE(src->Refresh(RefreshCause::kStale).ok());
  EXPECT_EQ(src->CurrentIdentity(), nullptr);
  clock_.Advance(seconds(29));
  EXPECT_FALSE(src->RefreshDue(RefreshCause::kStale));
  clock_.Advance(seconds(1));
  EXPECT_TRUE(src->RefreshDue(RefreshCause::kStale));
  server_.SetStatus(200);
  ASSERT_TRUE(src->Refresh(RefreshCause::kStale).ok());
  EXPECT_EQ(src->CurrentIdentity(), src->Current().get());
  EXPECT_NE(src->CurrentIdentity(), nullptr);
  EXPECT_FALSE(src->RefreshDue(RefreshCause::kStale));
  clock_.Advance(seconds(3599));
  EXPECT_FALSE(src->RefreshDue(RefreshCause::kStale));
  clock_.Advance(seconds(1));
  EXPECT_TRUE(src->RefreshDue(RefreshCause::kStale));
  const jose::KeySet* before = src->CurrentIdentity();
  auto held = src->Current();  // keeps the old set alive: its address cannot be reused
  server_.SetJwks(SetOf({&k2_}));
  ASSERT_TRUE(src->Refresh(RefreshCause::kStale).ok());
  EXPECT_NE(src->CurrentIdentity(), before);
  EXPECT_EQ(src->CurrentIdentity(), src->Current().get());
}

TEST_F(JwksTest, OversizedJwksIsRefused) {
  std::vector<jose::Key> many;
  jose::KeySet big;
  for (int i = 0; i < 20; ++i) big.Add(NewKey(jose::Alg::kES256, "k" + std::to_string(i)));
  server_.SetJwks(big);
  JwksOptions o = Options(false);
  o.max_bytes = 1024;
  auto src = Source(o);
  Status s = src->Refresh(RefreshCause::kStale);
  EXPECT_EQ(s.code(), Code::kResourceExhausted) << s;
  EXPECT_EQ(src->Current(), nullptr);
}

TEST_F(JwksTest, TtlFollowsCacheControlWithinBounds) {
  server_.SetJwks(SetOf({&k1_}), "public, max-age=120");
  JwksOptions o = Options(false);
  o.min_ttl = seconds(60);
  o.max_ttl = seconds(600);
  auto src = Source(o);
  ASSERT_TRUE(src->Refresh(RefreshCause::kStale).ok());
  clock_.Advance(seconds(119));
  EXPECT_FALSE(src->RefreshDue(RefreshCause::kStale));
  clock_.Advance(seconds(2));
  EXPECT_TRUE(src->RefreshDue(RefreshCause::kStale));
  // max-age below the minimum is raised to it; above the maximum lowered to it.
  server_.SetJwks(SetOf({&k1_}), "max-age=1");
  ASSERT_TRUE(src->Refresh(RefreshCause::kStale).ok());
  clock_.Advance(seconds(59));
  EXPECT_FALSE(src->RefreshDue(RefreshCause::kStale));
  clock_.Advance(seconds(2));
  EXPECT_TRUE(src->RefreshDue(RefreshCause::kStale));
  server_.SetJwks(SetOf({&k1_}), "max-age=999999");
  ASSERT_TRUE(src->Refresh(RefreshCause::kStale).ok());
  clock_.Advance(seconds(601));
  EXPECT_TRUE(src->RefreshDue(RefreshCause::kStale));
}

TEST_F(JwksTest, DiscoveryMustNameTheSameIssuer) {
  server_.SetIssuerClaim("https://evil.test");
  auto src = Source(Options());
  Status s = src->Refresh(RefreshCause::kStale);
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_NE(s.message().find("names issuer \"https://evil.test\""), std::string::npos) << s;
  EXPECT_EQ(server_.hits("/keys"), 0);
}

TEST(JwksOptionsTest, CreateValidates) {
  FakeClock clock;
  EXPECT_FALSE(JwksSource::Create({}, clock));
  JwksOptions o;
  o.jwks_uri = "file:///etc/passwd";
  EXPECT_FALSE(JwksSource::Create(o, clock));
  o.jwks_uri.clear();
  o.issuer = "issuer.test";
  EXPECT_FALSE(JwksSource::Create(o, clock));
}

TEST(JwksCacheControl, Parses) {
  EXPECT_EQ(CacheControlMaxAge("max-age=300"), seconds(300));
  EXPECT_EQ(CacheControlMaxAge("public, Max-Age=60, must-revalidate"), seconds(60));
  EXPECT_EQ(CacheControlMaxAge("max-age=\"45\""), seconds(45));
  EXPECT_EQ(CacheControlMaxAge("no-store"), seconds(0));
  EXPECT_EQ(CacheControlMaxAge("private, no-cache"), seconds(0));
  EXPECT_EQ(CacheControlMaxAge("public"), std::nullopt);
  EXPECT_EQ(CacheControlMaxAge("max-age=-1"), std::nullopt);
  EXPECT_EQ(CacheControlMaxAge("max-age=abc"), std::nullopt);
  EXPECT_EQ(CacheControlMaxAge(""), std::nullopt);
}

TEST(StaticKeySourceTest, SwapsSnapshots) {
  StaticKeySource src;
  EXPECT_EQ(src.Current(), nullptr);
  EXPECT_FALSE(src.Refresh(RefreshCause::kUnknownKid).ok());
  auto a = std::make_shared<jose::KeySet>();
  src.Set(a);
  auto held = src.Current();
  src.Set(std::make_shared<jose::KeySet>());
  EXPECT_EQ(held, a);  // an old snapshot stays valid
  EXPECT_NE(src.Current(), a);
  EXPECT_FALSE(src.RefreshDue(RefreshCause::kUnknownKid));
  EXPECT_TRUE(src.Refresh(RefreshCause::kStale).ok());
}

TEST(CallbackKeySourceTest, AsksTheCallbackEachTime) {
  std::shared_ptr<const jose::KeySet> current;
  int calls = 0;
  CallbackKeySource src([&] {
    ++calls;
    return current;
  });
  EXPECT_EQ(src.Current(), nullptr);
  EXPECT_FALSE(src.Refresh(RefreshCause::kUnknownKid).ok());
  current = std::make_shared<jose::KeySet>();
  EXPECT_EQ(src.Current(), current);
  EXPECT_TRUE(src.Refresh(RefreshCause::kUnknownKid).ok());
  EXPECT_FALSE(src.RefreshDue(RefreshCause::kStale));
  EXPECT_EQ(calls, 4);
}

}  // namespace
}  // namespace skiff::auth
