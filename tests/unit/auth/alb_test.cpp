// AlbVerifier: tokens built the way the ALB builds x-amzn-oidc-data (base64url WITH padding,
// signer/client/iss/exp in the header, ES256 over the exact padded bytes), verified against a
// public key served by kid from skiff's own HTTPS server on 127.0.0.1 (standing in for
// https://public-keys.auth.elb.<region>.amazonaws.com/<kid>).

#include "auth/alb.hpp"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <map>
#include <mutex>

#include "core/crypto.hpp"
#include "core/json.hpp"
#include "http/server.hpp"
#include "unit/auth/auth_test_util.hpp"
#include "unit/http/test_certs.hpp"

namespace skiff::auth {
namespace {

using namespace std::chrono_literals;
using std::chrono::seconds;

constexpr std::string_view kArn =
    "arn:aws:elasticloadbalancing:eu-central-1:123456789012:loadbalancer/app/kubeflow/"
    "6284be65b827c598";
constexpr std::string_view kClient = "4fmvht22tjrgd7d3k3tghttct7";
constexpr std::string_view kIssuer =
    "https://cognito-idp.eu-central-1.amazonaws.com/eu-central-1_X";
constexpr std::string_view kKid = "c2f80c8b-c05c-4068-af14-17299f7896b1";

// base64url with '=' padding, as the ALB writes it.
std::string Padded(std::string_view bytes) {
  std::string s = Base64UrlEncode(bytes);
  while (s.size() % 4) s += '=';
  return s;
}

std::string Unpadded(std::string s) {
  s.erase(std::remove(s.begin(), s.end(), '='), s.end());
  return s;
}

// ES256 (raw R||S) over `input` with a private key.
std::string Es256(const jose::Key& key, std::string_view input) {
  return SignRaw(key, input, /*es256=*/true);
}

// Serves PEM public keys at /<kid>; counts requests.
class KeyServer {
 public:
  KeyServer() : cert_(http::testing::MakeCert("localhost", "DNS:localhost,IP:127.0.0.1")) {
    http::ServerOptions o = TlsTestServerOptions(*cert_);
    server_ = std::make_unique<http::Server>(
        o,
        [this](http::Request& req, http::Responder respond) {
          std::lock_guard lock(mu_);
          ++hits_;
          auto it = pems_.find(req.path.substr(1));
          respond(it == pems_.end() ? http::Response::Text(404, "no such key")
                                    : http::Response::Text(200, it->second));
        },
        nullptr);
    auto port = server_->Start();
    EXPECT_TRUE(port) << port.error();
    port_ = port ? *port : 0;
  }
  ~KeyServer() { Stop(); }
  void Stop() {
    if (server_) server_->Shutdown();
  }
  std::string base() const { return "https://127.0.0.1:" + std::to_string(port_); }
  const std::string& ca_file() const { return cert_->pem_path; }
  void Serve(std::string kid, std::string pem) {
    std::lock_guard lock(mu_);
    pems_[std::move(kid)] = std::move(pem);
  }
  int hits() const {
    std::lock_guard lock(mu_);
    return hits_;
  }

 private:
  std::unique_ptr<http::testing::Cert> cert_;
  std::unique_ptr<http::Server> server_;
  uint16_t port_ = 0;
  mutable std::mutex mu_;  // guards pems_, hits_
  std::map<std::string, std::string> pems_;
  int hits_ = 0;
};

class AlbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto k = jose::Key::Generate(jose::Alg::kES256);
    ASSERT_TRUE(k);
    key_ = *k;
    keys_.Serve(std::string(kKid), key_.PublicPem());
    verifier_ = Make(Options());
  }

  AlbOptions Options() const {
    AlbOptions o;
    o.region = "eu-central-1";
    o.signer_arns = {std::string(kArn)};
    o.client_id = kClient;
    o.issuer = kIssuer;
    o.key_base_url = keys_.base();
    o.ca_file = keys_.ca_file();
    o.timeout = 5s;
    return o;
  }
  std::unique_ptr<AlbVerifier> Make(AlbOptions o) {
    auto v = AlbVerifier::Create(std::move(o), clock_);
    EXPECT_TRUE(v) << v.error();
    return v ? std::move(*v) : nullptr;
  }

  json::object Header() const {
    json::object h;
    h["typ"] = "JWT";
    h["kid"] = kKid;
    h["alg"] = "ES256";
    h["iss"] = kIssuer;
    h["client"] = kClient;
    h["signer"] = kArn;
    h["exp"] = Now() + 120;
    return h;
  }
  json::object Payload() const {
    json::object p;
    p["sub"] = "23d498b2-3031-70d2-8a15-49dd886a087b";
    p["email_verified"] = "true";
    p["email"] = "alice@example.com";
    p["name"] = "Alice";
    p["groups"] = json::array{"datascience", "validator"};
    p["exp"] = Now() + 120;
    p["iss"] = kIssuer;
    return p;
  }
  int64_t Now() const {
    return std::chrono::duration_cast<seconds>(clock_.Now().time_since_epoch()).count();
  }
  // As the ALB does: padded segments, signature over the padded bytes, padded signature.
  std::string Token(const json::object& header, const json::object& payload,
                    const jose::Key* key = nullptr) const {
    const std::string input = Padded(Serialize(header)) + "." + Padded(Serialize(payload));
    return input + "." + Padded(Es256(key ? *key : key_, input));
  }
  std::string Reject(const std::string& token) {
    auto r = verifier_->VerifyOrFetch(token, clock_.Now());
    if (r) return "accepted";
    EXPECT_EQ(r.error().code(), Code::kUnauthenticated) << r.error();
    EXPECT_EQ(r.error().message().find(token), std::string::npos);
    return r.error().message();
  }

  FakeClock clock_;
  KeyServer keys_;
  jose::Key key_;
  std::unique_ptr<AlbVerifier> verifier_;
};

// Makes the serialized object's length not a multiple of 3, so that its base64 needs padding.
void ForcePadding(json::object& o) {
  std::string filler;
  while (Serialize(o).size() % 3 == 0) {
    filler += 'x';
    o["pad"] = filler;
  }
}

TEST_F(AlbTest, VerifiesATokenBuiltLikeAwsDoes) {
  json::object header = Header();
  json::object payload = Payload();
  ForcePadding(header);
  ForcePadding(payload);
  const std::string token = Token(header, payload);
  const size_t d1 = token.find('.');
  const size_t d2 = token.find('.', d1 + 1);
  ASSERT_EQ(token[d1 - 1], '=');  // every segment padded, as the ALB sends it
  ASSERT_EQ(token[d2 - 1], '=');
  ASSERT_EQ(token.back(), '=');
  // Non-blocking first: the key is not cached yet.
  auto first = verifier_->Verify(token, clock_.Now());
  ASSERT_FALSE(first);
  EXPECT_TRUE(NeedsKeyRefresh(first.error())) << first.error();
  EXPECT_EQ(keys_.hits(), 0);
  // Blocking: fetched by kid, then verified.
  auto id = verifier_->VerifyOrFetch(token, clock_.Now());
  ASSERT_TRUE(id) << id.error();
  EXPECT_EQ(id->kid, kKid);
  EXPECT_EQ(id->sub, "23d498b2-3031-70d2-8a15-49dd886a087b");
  EXPECT_EQ(id->email, "alice@example.com");
  EXPECT_EQ(id->name, "Alice");
  EXPECT_EQ(id->groups, (std::vector<std::string>{"datascience", "validator"}));
  EXPECT_EQ(GetString(id->claims, "email_verified"), "true");
  EXPECT_EQ(GetString(id->header, "signer"), kArn);
  EXPECT_EQ(keys_.hits(), 1);
  // Cached: the non-blocking path now succeeds without another fetch.
  EXPECT_TRUE(verifier_->Verify(token, clock_.Now()));
  EXPECT_TRUE(verifier_->VerifyOrFetch(token, clock_.Now()));
  EXPECT_EQ(keys_.hits(), 1);
  EXPECT_EQ(verifier_->cached_keys(), 1u);
}

TEST_F(AlbTest, WrongSignerClientIssuerAreRefusedBeforeAnyFetch) {
  json::object h = Header();
  h["signer"] = "arn:aws:elasticloadbalancing:eu-central-1:999999999999:loadbalancer/app/evil/1";
  EXPECT_EQ(Reject(Token(h, Payload())),
            "ALB token signer \"arn:aws:elasticloadbalancing:eu-central-1:999999999999:"
            "loadbalancer/app/evil/1\" is not the configured ALB");
  h = Header();
  h.erase("signer");
  EXPECT_EQ(Reject(Token(h, Payload())), "ALB token header has no \"signer\"");
  h = Header();
  h["client"] = "other-client";
  EXPECT_EQ(Reject(Token(h, Payload())),
            "ALB token client \"other-client\" is not the configured client id");
  h = Header();
  h["iss"] = "https://evil.test";
  EXPECT_EQ(Reject(Token(h, Payload())),
            "ALB token iss \"https://evil.test\" is not the configured issuer");
  EXPECT_EQ(keys_.hits(), 0);
}

TEST_F(AlbTest, ExpiryComesFromTheHeader) {
  json::object h = Header();
  h["exp"] = Now() - 61;  // skew is 60 s
  EXPECT_EQ(Reject(Token(h, Payload())), "ALB token expired 61 s ago");
  h.erase("exp");
  EXPECT_EQ(Reject(Token(h, Payload())), "ALB token header has no \"exp\"");
  h["exp"] = "soon";
  EXPECT_EQ(Reject(Token(h, Payload())), "ALB token header \"exp\" is not a number");
  // Accepted while the header's exp holds, refused once it passes.
  const std::string token = Token(Header(), Payload());
  EXPECT_EQ(Reject(token), "accepted");
  clock_.Advance(seconds(181));
  EXPECT_EQ(Reject(token), "ALB token expired 61 s ago");
}

TEST_F(AlbTest, KidMustBeAUuid) {
  for (std::string_view kid :
       {"../../x", "/etc/passwd", "not-a-uuid", "c2f80c8b-c05c-4068-af14-17299f7896b",
        "c2f80c8b/c05c/4068/af14/1"}) {
    json::object h = Header();
    h["kid"] = kid;
    EXPECT_EQ(Reject(Token(h, Payload())),
              "ALB token kid \"" + std::string(kid) + "\" is not a UUID");
  }
  json::object h = Header();
  h.erase("kid");
  EXPECT_EQ(Reject(Token(h, Payload())), "ALB token kid \"\" is not a UUID");
  EXPECT_EQ(keys_.hits(), 0);  // nothing was fetched for any of them
  EXPECT_TRUE(IsUuid("C2F80C8B-C05C-4068-AF14-17299F7896B1"));
}

TEST_F(AlbTest, TamperedTokensFail) {
  const std::string good = Token(Header(), Payload());
  ASSERT_EQ(Reject(good), "accepted");
  json::object p = Payload();
  p["email"] = "admin@example.com";
  const size_t d1 = good.find('.');
  const size_t d2 = good.find('.', d1 + 1);
  EXPECT_EQ(Reject(good.substr(0, d1 + 1) + Padded(Serialize(p)) + good.substr(d2)),
            "ALB token: signature does not verify");
  // Signed by another key under the real kid.
  auto other = jose::Key::Generate(jose::Alg::kES256);
  EXPECT_EQ(Reject(Token(Header(), Payload(), &*other)), "ALB token: signature does not verify");
  // Another algorithm in the header.
  json::object h = Header();
  h["alg"] = "RS256";
  EXPECT_EQ(Reject(Token(h, Payload())), "alg \"RS256\" is not in the allowed list");
  h["alg"] = "none";
  EXPECT_EQ(Reject(Token(h, Payload())), "alg \"none\" is not allowed (unsigned token)");
}

TEST_F(AlbTest, SignatureCoversTheExactPaddedBytes) {
  json::object header = Header();
  json::object payload = Payload();
  ForcePadding(header);
  ForcePadding(payload);
  const std::string good = Token(header, payload);
  ASSERT_EQ(good.substr(0, good.find('.')).back(), '=');
  ASSERT_EQ(Reject(good), "accepted");
  // Stripping the padding (what a "fixing" proxy or library would do) breaks the signature.
  EXPECT_EQ(Reject(Unpadded(good)), "ALB token: signature does not verify");
  // A token signed over unpadded segments but sent padded fails too: the bytes differ.
  const std::string h = Serialize(header);
  const std::string p = Serialize(payload);
  const std::string unpadded_input = Base64UrlEncode(h) + "." + Base64UrlEncode(p);
  const std::string sig = Padded(Es256(key_, unpadded_input));
  EXPECT_EQ(Reject(Padded(h) + "." + Padded(p) + "." + sig),
            "ALB token: signature does not verify");
  // ...and verifies when sent exactly as signed.
  EXPECT_EQ(Reject(unpadded_input + "." + sig), "accepted");
}

TEST_F(AlbTest, KeyServerDownGivesAClearErrorAndBacksOff) {
  json::object h = Header();
  const std::string missing_kid = "0f0e0d0c-0b0a-4908-8706-050403020100";
  h["kid"] = missing_kid;
  EXPECT_EQ(Reject(Token(h, Payload())),
            "fetching ALB key from " + keys_.base() + "/" + missing_kid + ": HTTP 404");
  EXPECT_EQ(keys_.hits(), 1);
  // Not asked again within the back-off.
  EXPECT_EQ(Reject(Token(h, Payload())),
            "ALB key \"" + missing_kid + "\" could not be fetched recently; not retried yet");
  EXPECT_EQ(keys_.hits(), 1);
  // The server goes away entirely.
  keys_.Stop();
  clock_.Advance(seconds(31));
  const std::string reason = Reject(Token(Header(), Payload()));
  EXPECT_EQ(
      reason.rfind("fetching ALB key from " + keys_.base() + "/" + std::string(kKid) + ": ", 0), 0u)
      << reason;
}

TEST_F(AlbTest, KeyCacheIsBounded) {
  AlbOptions o = Options();
  o.max_cached_keys = 2;
  verifier_ = Make(o);
  std::vector<std::string> kids = {"00000000-0000-4000-8000-000000000001",
                                   "00000000-0000-4000-8000-000000000002",
                                   "00000000-0000-4000-8000-000000000003"};
  for (const std::string& kid : kids) {
    keys_.Serve(kid, key_.PublicPem());
    json::object h = Header();
    h["kid"] = kid;
    EXPECT_EQ(Reject(Token(h, Payload())), "accepted");
  }
  EXPECT_EQ(verifier_->cached_keys(), 2u);
  // The oldest was evicted: using it again fetches again.
  const int before = keys_.hits();
  json::object h = Header();
  h["kid"] = kids[0];
  EXPECT_EQ(Reject(Token(h, Payload())), "accepted");
  EXPECT_EQ(keys_.hits(), before + 1);
}

TEST_F(AlbTest, RsaKeysAndGarbageAreNotAlbKeys) {
  const std::string rsa_kid = "00000000-0000-4000-8000-0000000000aa";
  keys_.Serve(rsa_kid, jose::Key::Generate(jose::Alg::kRS256)->PublicPem());
  json::object h = Header();
  h["kid"] = rsa_kid;
  EXPECT_EQ(Reject(Token(h, Payload())),
            "ALB key from " + keys_.base() + "/" + rsa_kid + " is not an EC P-256 key");
  const std::string junk_kid = "00000000-0000-4000-8000-0000000000bb";
  keys_.Serve(junk_kid, "<html>hello</html>");
  h["kid"] = junk_kid;
  EXPECT_NE(Reject(Token(h, Payload())).find("PEM holds no PUBLIC KEY"), std::string::npos);
}

TEST_F(AlbTest, UntrustedKeyEndpointFails) {
  AlbOptions o = Options();
  o.ca_file.clear();
  verifier_ = Make(o);
  const std::string reason = Reject(Token(Header(), Payload()));
  EXPECT_EQ(reason.rfind("fetching ALB key from ", 0), 0u) << reason;
  EXPECT_EQ(keys_.hits(), 0);
}

TEST(AlbOptionsTest, CreateAndKeyUrl) {
  FakeClock clock;
  AlbOptions o;
  o.region = "us-east-1";
  EXPECT_FALSE(AlbVerifier::Create(o, clock));  // no signer
  o.signer_arns = {std::string(kArn)};
  auto v = AlbVerifier::Create(o, clock);
  ASSERT_TRUE(v) << v.error();
  EXPECT_EQ((*v)->KeyUrl(kKid),
            "https://public-keys.auth.elb.us-east-1.amazonaws.com/" + std::string(kKid));
  o.region = "us-east-1.evil.test/x";
  EXPECT_FALSE(AlbVerifier::Create(o, clock));
  o.region.clear();
  EXPECT_FALSE(AlbVerifier::Create(o, clock));
  o.key_base_url = "ftp://keys";
  EXPECT_FALSE(AlbVerifier::Create(o, clock));
}

}  // namespace
}  // namespace skiff::auth
