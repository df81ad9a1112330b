// The gateway's authenticator chain with fakes: header stripping, precedence, trusted-header
// sources, CSRF, open redirects, cookie attributes, session expiry on a manual clock, and the
// relying party's state/nonce rules.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cctype>
#include <deque>

#include "auth/authn.hpp"
#include "auth/authn_util.hpp"
#include "auth/csrf.hpp"
#include "auth/oidc_rp.hpp"
#include "auth/session.hpp"
#include "core/crypto.hpp"
#include "store/store.hpp"

namespace skiff::auth {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Kind = Decision::Kind;

// Runs posted tasks when the test says so.
class QueueRunner : public http::TaskRunner {
 public:
  void Post(std::function<void()> task) override { tasks.push_back(std::move(task)); }
  void RunAll() {
    while (!tasks.empty()) {
      auto t = std::move(tasks.front());
      tasks.pop_front();
      t();
    }
  }
  std::deque<std::function<void()>> tasks;
};

http::Request MakeRequest(std::string method, std::string target,
                          std::string remote = "10.1.2.3:5555") {
  http::Request r;
  r.method = std::move(method);
  r.target = target;
  size_t q = target.find('?');
  r.path = target.substr(0, q);
  if (q != std::string::npos) r.raw_query = target.substr(q + 1);
  r.remote_addr = std::move(remote);
  r.headers.Set("Host", "skiff.example:8443");
  return r;
}

std::string CookieOf(const http::Response& r, std::string_view name) {
  for (auto v : r.headers.GetAll("Set-Cookie")) {
    if (v.substr(0, name.size() + 1) == std::string(name) + "=") return std::string(v);
  }
  return {};
}

std::string CookieValueOf(const std::string& set_cookie) {
  size_t eq = set_cookie.find('='), semi = set_cookie.find(';');
  return set_cookie.substr(eq + 1, semi - eq - 1);
}

struct FakeIdp {
  std::string nonce_override;  // when set, the ID token carries this nonce
  int posts = 0;
  std::string last_body;
  std::string last_auth;
};

class GatewayTest : public ::testing::Test {
 protected:
  void SetUp() override { Build(); }

  void Build(std::function<void(GatewayConfig&)> tweak = nullptr) {
    tokens_.AddToken("admin-token-0123456789",
                     Principal{"admin", {"system:masters"}, "token", true});
    sessions_ = std::make_unique<SessionStore>(clock_, SessionOptions{}, nullptr);
    OidcConfig oc;
    oc.issuer = "https://idp.example";
    oc.client_id = "skiff";
    oc.client_secret = "s3cret";
    auto discover = [] {
      ProviderMetadata m;
      m.issuer = "https://idp.example";
      m.authorization_endpoint = "https://idp.example/auth";
      m.token_endpoint = "https://idp.example/token";
      m.end_session_endpoint = "https://idp.example/logout";
      m.jwks_uri = "https://idp.example/keys";
      return Result<ProviderMetadata>(m);
    };
    // The fake provider's ID token is JSON claims; the fake verifier parses it.
    auto poster = [this](const std::string&, const http::HeaderMap& h,
                         const std::string& body) -> Result<std::pair<int, std::string>> {
      idp_.posts++;
      idp_.last_body = body;
      idp_.last_auth = std::string(h.Get("Authorization").value_or(""));
      if (body.find("code=good") == std::string::npos) {
        return std::make_pair(400, std::string(R"({"error":"invalid_grant"})"));
      }
      json::object claims{
          {"email", "alice@example.com"},
          {"groups", json::array{"ds"}},
          {"nonce", idp_.nonce_override.empty() ? last_nonce_ : idp_.nonce_override}};
      json::object resp{{"id_token", Serialize(claims)}, {"access_token", "x"}};
      return std::make_pair(200, Serialize(resp));
    };
    auto verifier = [](std::string_view t) -> Result<json::object> { return ParseJsonObject(t); };
    rp_ = std::make_unique<OidcRelyingParty>(oc, verifier, clock_, trusted_, discover, poster);
    GatewayConfig c;
    c.trusted_proxies = trusted_;
    c.admin_users = {"boss@example.com"};
    c.public_prefixes = {"/dex"};
    JwtIssuer slow;
    slow.issuer = "https://slow.example";
    slow.may_block = true;
    slow.verify = [](std::string_view) -> Result<json::object> {
      return json::object{{"email", "bob@example.com"}, {"groups", "a, b"}};
    };
    c.jwt_issuers.push_back(slow);
    TrustedHeaderConfig th;
    th.user_header = "x-auth-request-email";
    th.groups_header = "x-auth-request-groups";
    th.sources = *ParseCidrs({"127.0.0.1/32"});
    c.trusted_header = th;
    if (tweak) tweak(c);
    GatewayDeps d;
    d.tokens = &tokens_;
    d.sessions = sessions_.get();
    d.rp = rp_.get();
    d.blocking = &runner_;
    gw_ = std::make_unique<Gateway>(c, d);
  }

  // Runs the chain like the server does; returns the response (or the handler's 200).
  http::Response Run(http::Request req, http::Request* seen = nullptr) {
    std::optional<http::Response> out;
    gw_->Handle(
        req, [&](http::Response r) { out = std::move(r); },
        [&](http::Request& r, http::Responder respond) {
          if (seen) *seen = r;
          respond(http::Response::Text(200, "handled"));
        });
    runner_.RunAll();
    EXPECT_TRUE(out.has_value());
    return out ? *out : http::Response{};
  }

  // A complete browser login; returns the session cookie value and the CSRF cookie value.
  std::pair<std::string, std::string> LoginAs() {
    auto start = MakeRequest("GET", "/notebooks?x=1");
    start.headers.Set("Accept", "text/html");
    http::Response r = Run(start);
    EXPECT_EQ(r.status, 302);
    std::string loc(r.headers.Get("Location").value_or(""));
    std::string pre = CookieValueOf(CookieOf(r, OidcRelyingParty::kPreLoginCookie));
    std::string state = QueryParam(loc, "state");
    last_nonce_ = QueryParam(loc, "nonce");
    auto cb = MakeRequest("GET", "/authservice/oidc/callback?code=good&state=" + state);
    cb.headers.Set("Cookie", std::string(OidcRelyingParty::kPreLoginCookie) + "=" + pre);
    http::Response done = Run(cb);
    EXPECT_EQ(done.status, 302);
    EXPECT_EQ(done.headers.Get("Location").value_or(""), "/notebooks?x=1");
    return {CookieValueOf(CookieOf(done, "skiff_session")),
            CookieValueOf(CookieOf(done, kCsrfCookie))};
  }

  static std::string QueryParam(const std::string& url, std::string_view name) {
    http::Request r;
    r.raw_query = url.substr(url.find('?') + 1);
    return r.Query(name).value_or("");
  }

  FakeClock clock_;
  QueueRunner runner_;
  TokenAuthenticator tokens_;
  std::vector<Cidr> trusted_ = *ParseCidrs({"192.168.0.0/16"});
  std::unique_ptr<SessionStore> sessions_;
  std::unique_ptr<OidcRelyingParty> rp_;
  std::unique_ptr<Gateway> gw_;
  FakeIdp idp_;
  std::string last_nonce_;
};

TEST_F(GatewayTest, StripsIdentityHeadersBeforeAnything) {
  auto req = MakeRequest("GET", "/x");
  req.headers.Set("Authorization", "Bearer admin-token-0123456789");
  req.headers.Set("kubeflow-userid", "root");
  req.headers.Set("Kubeflow-Groups", "admins");
  req.headers.Set("x-amzn-oidc-identity", "root");
  req.headers.Set("x-amzn-oidc-data", "a.b.c");
  req.headers.Set("X-Amzn-Oidc-Accesstoken", "t");
  req.headers.Set("Impersonate-User", "root");
  http::Request seen;
  EXPECT_EQ(Run(req, &seen).status, 200);
  EXPECT_EQ(seen.headers.Get("kubeflow-userid").value_or(""), "admin");
  EXPECT_EQ(seen.headers.Get("kubeflow-groups").value_or(""), "system:masters");
  EXPECT_FALSE(seen.headers.Has("x-amzn-oidc-identity"));
  EXPECT_FALSE(seen.headers.Has("x-amzn-oidc-data"));
  EXPECT_FALSE(seen.headers.Has("x-amzn-oidc-accesstoken"));
  EXPECT_FALSE(seen.headers.Has("Impersonate-User"));
  ASSERT_TRUE(seen.principal);
  EXPECT_TRUE(seen.principal->cluster_admin);
}

TEST_F(GatewayTest, StripsEveryIdentityHeaderFormInOnePassKeepingTheRest) {
  Build([](GatewayConfig& c) {
    c.user_id_header = "x-user";
    c.groups_header = "x-groups";
    TrustedHeaderConfig th;
    th.user_header = "X-Auth-Request-Email";
    th.groups_header = "x-team";
    c.trusted_header = th;  // no sources: never believed, always stripped
  });
  auto req = MakeRequest("GET", "/x");
  req.headers.Add("Accept", "a");
  req.headers.Set("Authorization", "Bearer admin-token-0123456789");
  req.headers.Add("X-USER", "spoofed");
  req.headers.Add("x-groups", "spoofed");
  req.headers.Add("X-Team", "spoofed");
  req.headers.Add("x-auth-request-email", "spoofed");
  req.headers.Add("Impersonate-Extra-Scopes", "spoofed");
  req.headers.Add("X-Remote-Extra-Dept", "spoofed");
  req.headers.Add("X-REMOTE-USER", "spoofed");
  req.headers.Add("x-amzn-oidc-anything", "spoofed");
  req.headers.Add("X-Custom", "kept");
  req.headers.Add("Impersonate", "kept: not an identity header");
  http::Request seen;
  EXPECT_EQ(Run(req, &seen).status, 200);
  std::vector<std::string> names;
  for (const auto& [name, value] : seen.headers) {
    EXPECT_NE(value, "spoofed") << name;
    names.emplace_back(name);
  }
  // The client's other headers in their order, then the identity skiff set.
  EXPECT_EQ(names, (std::vector<std::string>{"Host", "Accept", "Authorization", "X-Custom",
                                             "Impersonate", "x-user", "x-groups"}))
      << ::testing::PrintToString(names);
  EXPECT_EQ(seen.headers.Get("x-user").value_or(""), "admin");
}

TEST(IdentityHeaderTest, NamesAndPrefixFormsCaseInsensitively) {
  for (const char* n : {"kubeflow-userid", "KUBEFLOW-GROUPS", "X-Forwarded-User", "impersonate-uid",
                        "Impersonate-Extra-X", "x-remote-extra-", "X-Skiff-Groups"}) {
    EXPECT_TRUE(IsIdentityHeader(n)) << n;
  }
  for (const char* n : {"kubeflow-userids", "impersonate-extr", "x-remote", "Authorization", ""}) {
    EXPECT_FALSE(IsIdentityHeader(n)) << n;
  }
  // Every listed header, in either case (the first-letter filter must let each through).
  for (std::string n : IdentityHeaders()) {
    EXPECT_TRUE(IsIdentityHeader(n)) << n;
    for (char& c : n) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_TRUE(IsIdentityHeader(n)) << n;
  }
}

TEST_F(GatewayTest, ConfiguredHeaderNamesAndPrefix) {
  Build([](GatewayConfig& c) {
    c.user_id_header = "x-user";
    c.groups_header = "x-groups";
    c.user_id_prefix = "accounts.google.com:";
  });
  auto req = MakeRequest("GET", "/x");
  req.headers.Set("Authorization", "Bearer admin-token-0123456789");
  req.headers.Set("x-user", "spoofed");
  http::Request seen;
  EXPECT_EQ(Run(req, &seen).status, 200);
  EXPECT_EQ(seen.headers.Get("x-user").value_or(""), "accounts.google.com:admin");
  EXPECT_EQ(seen.headers.Get("x-groups").value_or(""), "system:masters");
  EXPECT_FALSE(seen.headers.Has("kubeflow-userid"));
}

TEST_F(GatewayTest, SpoofedHeaderAloneIsNotIdentity) {
  auto req = MakeRequest("GET", "/api/v1/pods");
  req.headers.Set("kubeflow-userid", "admin");
  req.headers.Set("x-amzn-oidc-identity", "admin");
  http::Response r = Run(req);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.headers.Get("WWW-Authenticate").value_or(""), "Bearer realm=\"skiff\"");
}

TEST_F(GatewayTest, PublicRoutesNeedNothing) {
  for (const char* p : {"/healthz", "/readyz", "/dex", "/dex/auth/local"}) {
    http::Request seen;
    EXPECT_EQ(Run(MakeRequest("GET", p), &seen).status, 200) << p;
    EXPECT_FALSE(seen.principal) << p;
  }
  EXPECT_EQ(Run(MakeRequest("GET", "/dexterity")).status, 401);
}

TEST_F(GatewayTest, WrongBearerIsDecisiveEvenWithAValidSession) {
  auto [session, csrf] = LoginAs();
  auto req = MakeRequest("GET", "/x");
  req.headers.Set("Cookie", "skiff_session=" + session);
  req.headers.Set("Authorization", "Bearer not-a-token");
  EXPECT_EQ(Run(req).status, 401);
  req.headers.Remove("Authorization");
  http::Request seen;
  EXPECT_EQ(Run(req, &seen).status, 200);
  ASSERT_TRUE(seen.principal);
  EXPECT_EQ(seen.principal->name, "alice@example.com");
  EXPECT_EQ(seen.principal->method, "session");
}

TEST_F(GatewayTest, JwtThatNeedsKeysContinuesOnTheBlockingPool) {
  std::string payload = Base64UrlEncode(R"({"iss":"https://slow.example"})");
  auto req = MakeRequest("GET", "/x");
  req.headers.Set("Authorization", "Bearer e30." + payload + ".c2ln");
  Captured c = gw_->CaptureAndStrip(req);
  EXPECT_EQ(gw_->Decide(req, c, false).kind, Kind::kNeedsBlocking);
  bool called = false;
  std::optional<http::Response> out;
  gw_->Handle(
      req, [&](http::Response r) { out = std::move(r); },
      [&](http::Request& r, http::Responder respond) {
        called = true;
        EXPECT_EQ(r.headers.Get("kubeflow-userid").value_or(""), "bob@example.com");
        EXPECT_EQ(r.headers.Get("kubeflow-groups").value_or(""), "a,b");
        respond(http::Response::Text(200, ""));
      });
  EXPECT_FALSE(called);          // nothing ran on the calling thread
  EXPECT_EQ(req.method, "GET");  // the server still reads it (HEAD has no body)
  EXPECT_EQ(req.route, "auth");
  EXPECT_EQ(runner_.tasks.size(), 1u);
  runner_.RunAll();
  EXPECT_TRUE(called);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->status, 200);
}

// A token some issuer's verified-token cache holds is answered from that cache, found by its
// bytes alone: no issuer is picked by decoding it, `verify` is not called, and a cached entry
// whose claims no longer pass is refused with its reason.
TEST_F(GatewayTest, CachedJwtIsAnsweredByTheIssuerThatHoldsIt) {
  const std::string held = "e30.eyJpc3MiOiJodHRwczovL3Nsb3cuZXhhbXBsZSJ9.c2ln";
  const std::string stale = "e30.eyJpc3MiOiJodHRwczovL290aGVyIn0.c2ln";
  int verify_calls = 0;
  Build([&](GatewayConfig& c) {
    c.jwt_issuers.front().verify = [&](std::string_view) -> Result<json::object> {
      ++verify_calls;
      return json::object{{"email", "bob@example.com"}};
    };
    JwtIssuer other;
    other.issuer = "https://other";
    other.may_block = false;
    other.verify = [&](std::string_view) -> Result<json::object> {
      ++verify_calls;
      return Unauthenticated("not cached, not valid");
    };
    other.mapping.username_claim = "sub";
    other.cached = [&](const VerifiedJwtCache::Key& d)
        -> std::optional<Result<std::shared_ptr<const VerifiedJwt>>> {
      if (d.token == held) {
        auto v = std::make_shared<VerifiedJwt>();
        v->claims = json::object{{"sub", "carol"}};
        return Result<std::shared_ptr<const VerifiedJwt>>(std::move(v));
      }
      if (d.token == stale) {
        return Result<std::shared_ptr<const VerifiedJwt>>(Unauthenticated("token expired at 1"));
      }
      return std::nullopt;
    };
    c.jwt_issuers.push_back(other);
  });
  auto req = MakeRequest("GET", "/x");
  // Its payload names the first issuer: the cache of the second decides, not the payload.
  req.headers.Set("Authorization", "Bearer " + held);
  http::Request seen;
  EXPECT_EQ(Run(req, &seen).status, 200);
  ASSERT_TRUE(seen.principal);
  EXPECT_EQ(seen.principal->name, "carol");
  EXPECT_EQ(seen.principal->method, "jwt");
  EXPECT_EQ(verify_calls, 0);
  req.headers.Set("Authorization", "Bearer " + stale);
  Captured cap = gw_->CaptureAndStrip(req);
  Decision d = gw_->Decide(req, cap, true);
  EXPECT_EQ(d.kind, Kind::kRespond);
  EXPECT_EQ(d.response.status, 401);
  EXPECT_NE(d.detail.find("token expired"), std::string::npos) << d.detail;
  EXPECT_EQ(verify_calls, 0);
  // Held by no cache: verified as before, by the issuer its payload names.
  req.headers.Set("Authorization", "Bearer e30.eyJpc3MiOiJodHRwczovL3Nsb3cuZXhhbXBsZSJ9.eHl6");
  EXPECT_EQ(Run(req, &seen).status, 200);
  EXPECT_EQ(seen.principal->name, "bob@example.com");
  EXPECT_EQ(verify_calls, 1);
}

// Static tokens are matched by their exact bytes: a token of the same length differing in one
// byte (first, middle, last), a prefix, an extension or a different case is refused, and with
// several tokens each one gets its own Principal.
TEST(TokenAuthenticatorTest, OnlyTheExactTokenMatches) {
  TokenAuthenticator tokens;
  const std::string admin = "Zk3q9PaXv2LmN8rT0yWcB4dHs6JuE1oQ5iGfK7nVx_A";
  tokens.AddToken(admin, Principal{"admin", {}, "token", true});
  tokens.AddToken("second-token-0123456789", Principal{"second", {}, "token", false});
  // Both ways in (the request, or the token read from it) give the same answer.
  auto as = [&](const std::string& token) {
    http::Request req;
    req.headers.Set("Authorization", "Bearer " + token);
    auto by_request = tokens.Authenticate(req);
    auto by_token = tokens.AuthenticateBearer(req, token);
    EXPECT_EQ(static_cast<bool>(by_request), static_cast<bool>(by_token)) << token;
    if (by_request && by_token) {
      EXPECT_EQ(by_request->name, by_token->name) << token;
    }
    return by_request;
  };
  auto p = as(admin);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->name, "admin");
  p = as("second-token-0123456789");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->name, "second");
  for (size_t i : {size_t{0}, admin.size() / 2, admin.size() - 1}) {
    std::string wrong = admin;
    wrong[i] = wrong[i] == 'A' ? 'B' : 'A';
    ASSERT_EQ(wrong.size(), admin.size());
    auto r = as(wrong);
    ASSERT_FALSE(r) << i;
    EXPECT_EQ(r.error().code(), Code::kUnauthenticated);
  }
  EXPECT_FALSE(as(admin.substr(0, admin.size() - 1)));
  EXPECT_FALSE(as(admin + "x"));
  std::string upper = admin;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_FALSE(as(upper));
  EXPECT_FALSE(as("second-token-0123456780"));
}

// Static tokens: a JWT-shaped token is not compared when no static token has a dot, and a static
// token that has one still matches.
TEST(TokenAuthenticatorTest, DottedTokensMatchOnlyWhenSomeStaticTokenIsDotted) {
  TokenAuthenticator plain;
  plain.AddToken("abc", Principal{"a", {}, "token", false});
  http::Request req;
  req.headers.Set("Authorization", "Bearer x.y.z");
  EXPECT_FALSE(plain.Authenticate(req));
  req.headers.Set("Authorization", "Bearer abc");
  ASSERT_TRUE(plain.Authenticate(req));
  TokenAuthenticator dotted;
  dotted.AddToken("x.y.z", Principal{"d", {}, "token", false});
  req.headers.Set("Authorization", "Bearer x.y.z");
  auto p = dotted.Authenticate(req);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->name, "d");
  req.headers.Set("Authorization", "Bearer x.y.q");
  EXPECT_FALSE(dotted.Authenticate(req));
}

// The Principal made from a cached token's claims is kept with its verification: later requests
// with that token get it without mapping the claims again, and another gateway sharing the
// issuer (other admins) makes and keeps its own instead of taking the first one's.
TEST_F(GatewayTest, CachedJwtKeepsThePrincipalOfEachGateway) {
  const std::string token = "e30.eyJzdWIiOiJkYXZlIn0.c2ln";
  auto held = std::make_shared<VerifiedJwt>();
  held->claims = json::object{{"email", "boss@example.com"}, {"groups", json::array{"g1"}}};
  JwtIssuer issuer;
  issuer.issuer = "https://cached.example";
  issuer.may_block = false;
  issuer.verify = [](std::string_view) -> Result<json::object> {
    return Unauthenticated("not cached");
  };
  issuer.cached = [&](const VerifiedJwtCache::Key& d)
      -> std::optional<Result<std::shared_ptr<const VerifiedJwt>>> {
    if (d.token != token) return std::nullopt;
    return Result<std::shared_ptr<const VerifiedJwt>>(held);
  };
  Build([&](GatewayConfig& c) { c.jwt_issuers = {issuer}; });
  auto req = MakeRequest("GET", "/x");
  req.headers.Set("Authorization", "Bearer " + token);
  http::Request seen;
  ASSERT_EQ(Run(req, &seen).status, 200);
  ASSERT_TRUE(seen.principal);
  EXPECT_EQ(seen.principal->name, "boss@example.com");
  EXPECT_EQ(seen.principal->groups, std::vector<std::string>{"g1"});
  EXPECT_TRUE(seen.principal->cluster_admin);
  // Kept: changing the claims the entry holds no longer changes who the token is.
  held->claims["email"] = "changed@example.com";
  ASSERT_EQ(Run(req, &seen).status, 200);
  EXPECT_EQ(seen.principal->name, "boss@example.com");
  EXPECT_TRUE(seen.principal->cluster_admin);
  // Another gateway (no admins) over the same cached verification maps the claims itself.
  // (The first gateway's relying party and sessions stay alive: it is used again below.)
  std::unique_ptr<Gateway> first = std::move(gw_);
  std::unique_ptr<OidcRelyingParty> first_rp = std::move(rp_);
  std::unique_ptr<SessionStore> first_sessions = std::move(sessions_);
  Build([&](GatewayConfig& c) {
    c.jwt_issuers = {issuer};
    c.admin_users.clear();
  });
  ASSERT_EQ(Run(req, &seen).status, 200);
  EXPECT_EQ(seen.principal->name, "changed@example.com");
  EXPECT_FALSE(seen.principal->cluster_admin);
  // The first gateway still answers with the one it kept.
  gw_ = std::move(first);
  ASSERT_EQ(Run(req, &seen).status, 200);
  EXPECT_EQ(seen.principal->name, "boss@example.com");
  gw_.reset();  // before the relying party and sessions it uses
}

TEST_F(GatewayTest, TrustedHeaderOnlyFromAllowedSources) {
  auto req = MakeRequest("GET", "/x", "127.0.0.1:4000");
  req.headers.Set("x-auth-request-email", "dave@example.com");
  req.headers.Set("x-auth-request-groups", "g1,g2");
  http::Request seen;
  EXPECT_EQ(Run(req, &seen).status, 200);
  ASSERT_TRUE(seen.principal);
  EXPECT_EQ(seen.principal->name, "dave@example.com");
  EXPECT_EQ(seen.principal->method, "header");
  EXPECT_EQ(seen.headers.Get("kubeflow-groups").value_or(""), "g1,g2");
  EXPECT_FALSE(seen.headers.Has("x-auth-request-email"));  // stripped after capture

  auto other = MakeRequest("GET", "/x", "10.9.9.9:4000");
  other.headers.Set("x-auth-request-email", "dave@example.com");
  EXPECT_EQ(Run(other).status, 401);
}

TEST_F(GatewayTest, BrowserGetsLoginRedirectApiGets401) {
  auto html = MakeRequest("GET", "/pipelines");
  html.headers.Set("Accept", "text/html,application/xhtml+xml");
  http::Response r = Run(html);
  EXPECT_EQ(r.status, 302);
  std::string loc(r.headers.Get("Location").value_or(""));
  EXPECT_THAT(loc, HasSubstr("https://idp.example/auth?response_type=code&client_id=skiff"));
  EXPECT_THAT(loc, HasSubstr("code_challenge_method=S256"));
  EXPECT_THAT(loc, HasSubstr("redirect_uri=http%3A%2F%2Fskiff.example%3A8443%2Fauthservice"));

  auto xhr = html;
  xhr.headers.Set("X-Requested-With", "XMLHttpRequest");
  EXPECT_EQ(Run(xhr).status, 401);
  auto api = MakeRequest("GET", "/pipelines");
  api.headers.Set("Accept", "application/json");
  EXPECT_EQ(Run(api).status, 401);
  auto post = MakeRequest("POST", "/pipelines");
  post.headers.Set("Accept", "text/html");
  EXPECT_EQ(Run(post).status, 401);
}

TEST_F(GatewayTest, CsrfForCookieRequestsOnly) {
  auto [session, csrf] = LoginAs();
  ASSERT_FALSE(csrf.empty());
  auto post = MakeRequest("POST", "/apis/x");
  post.headers.Set("Cookie", "skiff_session=" + session + "; XSRF-TOKEN=" + csrf);
  EXPECT_EQ(Run(post).status, 403);
  post.headers.Set("X-XSRF-TOKEN", "other");
  EXPECT_EQ(Run(post).status, 403);
  post.headers.Set("X-XSRF-TOKEN", csrf);
  EXPECT_EQ(Run(post).status, 200);
  post.headers.Set("Origin", "https://evil.example");
  EXPECT_EQ(Run(post).status, 403);
  post.headers.Set("Origin", "http://skiff.example:8443");
  EXPECT_EQ(Run(post).status, 200);
  for (const char* m : {"PUT", "PATCH", "DELETE"}) {
    auto r = MakeRequest(m, "/apis/x");
    r.headers.Set("Cookie", "skiff_session=" + session);
    EXPECT_EQ(Run(r).status, 403) << m;
  }
  // A GET needs no token, and gets the CSRF cookie when it lacks one.
  auto get = MakeRequest("GET", "/apis/x");
  get.headers.Set("Cookie", "skiff_session=" + session);
  http::Response r = Run(get);
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(CookieOf(r, kCsrfCookie), Not(HasSubstr("HttpOnly")));
  // Bearer requests are exempt.
  auto bearer = MakeRequest("POST", "/apis/x");
  bearer.headers.Set("Authorization", "Bearer admin-token-0123456789");
  bearer.headers.Set("Origin", "https://evil.example");
  EXPECT_EQ(Run(bearer).status, 200);
}

TEST_F(GatewayTest, CookieAttributesFollowTlsAndTrustedProxies) {
  auto start = MakeRequest("GET", "/a", "192.168.1.1:1");
  start.headers.Set("Accept", "text/html");
  start.headers.Set("X-Forwarded-Proto", "https");
  http::Response r = Run(start);
  std::string pre = CookieOf(r, OidcRelyingParty::kPreLoginCookie);
  EXPECT_THAT(pre, HasSubstr("; Secure"));
  EXPECT_THAT(pre, HasSubstr("; HttpOnly"));
  EXPECT_THAT(pre, HasSubstr("; SameSite=Lax"));
  std::string state = QueryParam(std::string(r.headers.Get("Location").value_or("")), "state");
  last_nonce_ = QueryParam(std::string(r.headers.Get("Location").value_or("")), "nonce");
  // X-Forwarded-Proto from an untrusted peer does not make the request HTTPS.
  auto untrusted = start;
  untrusted.remote_addr = "10.0.0.1:1";
  EXPECT_THAT(CookieOf(Run(untrusted), OidcRelyingParty::kPreLoginCookie),
              Not(HasSubstr("Secure")));

  auto cb =
      MakeRequest("GET", "/authservice/oidc/callback?code=good&state=" + state, "192.168.1.1:1");
  cb.headers.Set("X-Forwarded-Proto", "https");
  cb.headers.Set("Cookie",
                 std::string(OidcRelyingParty::kPreLoginCookie) + "=" + CookieValueOf(pre));
  http::Response done = Run(cb);
  ASSERT_EQ(done.status, 302);
  std::string session = CookieOf(done, "skiff_session");
  EXPECT_THAT(session, HasSubstr("; Path=/"));
  EXPECT_THAT(session, HasSubstr("; HttpOnly"));
  EXPECT_THAT(session, HasSubstr("; Secure"));
  EXPECT_THAT(session, HasSubstr("; SameSite=Lax"));
  EXPECT_EQ(CookieValueOf(session).size(), 43u);  // 256 bits, base64url
  EXPECT_THAT(CookieOf(done, kCsrfCookie), Not(HasSubstr("HttpOnly")));
  // The client secret went in the Authorization header (client_secret_basic), with PKCE.
  EXPECT_EQ(idp_.last_auth, "Basic " + Base64Encode("skiff:s3cret"));
  EXPECT_THAT(idp_.last_body, HasSubstr("code_verifier="));
}

TEST_F(GatewayTest, ClientSecretPost) {
  OidcConfig oc = rp_->config();
  oc.auth_method = "client_secret_post";
  std::string body, auth;
  auto poster = [&](const std::string&, const http::HeaderMap& h,
                    const std::string& b) -> Result<std::pair<int, std::string>> {
    body = b;
    auth = std::string(h.Get("Authorization").value_or(""));
    return std::make_pair(400, std::string("{}"));
  };
  auto discover = [] {
    ProviderMetadata m;
    m.issuer = "https://idp.example";
    m.authorization_endpoint = "https://idp.example/auth";
    m.token_endpoint = "https://idp.example/token";
    m.jwks_uri = "https://idp.example/keys";
    return Result<ProviderMetadata>(m);
  };
  OidcRelyingParty rp(
      oc, [](std::string_view) { return Result<json::object>(json::object{}); }, clock_, {},
      discover, poster);
  ASSERT_TRUE(rp.Metadata());
  auto start = MakeRequest("GET", "/a");
  http::Response r = rp.StartLogin(start, "/a");
  std::string state = QueryParam(std::string(r.headers.Get("Location").value_or("")), "state");
  auto cb = MakeRequest("GET", "/authservice/oidc/callback?code=c&state=" + state);
  cb.headers.Set("Cookie", std::string(OidcRelyingParty::kPreLoginCookie) + "=" +
                               CookieValueOf(CookieOf(r, OidcRelyingParty::kPreLoginCookie)));
  auto done = rp.FinishLogin(cb);
  EXPECT_FALSE(done);
  EXPECT_THAT(body, HasSubstr("client_id=skiff&client_secret=s3cret"));
  EXPECT_THAT(body, HasSubstr("grant_type=authorization_code&code=c&redirect_uri="));
  EXPECT_TRUE(auth.empty());
  // The remembered target of a started login is a same-origin path or "/".
  http::Response evil = rp.StartLogin(start, "https://evil.example/");
  EXPECT_EQ(evil.status, 302);
}

TEST_F(GatewayTest, AFloodOfStartedLoginsDropsTheOldest) {
  OidcConfig oc = rp_->config();
  oc.max_pending = 3;
  auto discover = [] {
    ProviderMetadata m;
    m.issuer = "https://idp.example";
    m.authorization_endpoint = "https://idp.example/auth";
    m.token_endpoint = "https://idp.example/token";
    m.jwks_uri = "https://idp.example/keys";
    return Result<ProviderMetadata>(m);
  };
  std::string posted;
  auto poster = [&](const std::string&, const http::HeaderMap&,
                    const std::string& b) -> Result<std::pair<int, std::string>> {
    posted = b;
    return std::make_pair(400, std::string("{}"));
  };
  OidcRelyingParty rp(
      oc, [](std::string_view) { return Result<json::object>(json::object{}); }, clock_, {},
      discover, poster);
  ASSERT_TRUE(rp.Metadata());
  auto req = MakeRequest("GET", "/a");
  std::vector<std::pair<std::string, std::string>> started;  // (state, pre-login cookie)
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(std::chrono::seconds(1));
    http::Response r = rp.StartLogin(req, "/a");
    ASSERT_EQ(r.status, 302);
    started.emplace_back(QueryParam(std::string(r.headers.Get("Location").value_or("")), "state"),
                         CookieValueOf(CookieOf(r, OidcRelyingParty::kPreLoginCookie)));
  }
  auto finish = [&](int i) {
    posted.clear();
    auto cb = MakeRequest("GET", "/cb?code=c&state=" + started[i].first);
    cb.headers.Set("Cookie",
                   std::string(OidcRelyingParty::kPreLoginCookie) + "=" + started[i].second);
    auto r = rp.FinishLogin(cb);
    return !posted.empty();  // reached the token endpoint: the state was still known
  };
  EXPECT_FALSE(finish(0));
  EXPECT_FALSE(finish(1));
  EXPECT_TRUE(finish(4));
}

TEST_F(GatewayTest, StateIsSingleUseAndBoundToThePreLoginCookie) {
  auto start = MakeRequest("GET", "/a");
  start.headers.Set("Accept", "text/html");
  http::Response r = Run(start);
  std::string loc(r.headers.Get("Location").value_or(""));
  std::string state = QueryParam(loc, "state");
  last_nonce_ = QueryParam(loc, "nonce");
  std::string pre = CookieValueOf(CookieOf(r, OidcRelyingParty::kPreLoginCookie));
  auto cb = MakeRequest("GET", "/authservice/oidc/callback?code=good&state=" + state);
  // Without the pre-login cookie (another browser): refused, and the state is spent.
  EXPECT_EQ(Run(cb).status, 401);
  cb.headers.Set("Cookie", std::string(OidcRelyingParty::kPreLoginCookie) + "=" + pre);
  EXPECT_EQ(Run(cb).status, 401);
  EXPECT_EQ(idp_.posts, 0);  // never reached the token endpoint
  auto bogus = MakeRequest("GET", "/authservice/oidc/callback?code=good&state=made-up");
  bogus.headers.Set("Cookie", std::string(OidcRelyingParty::kPreLoginCookie) + "=" + pre);
  EXPECT_EQ(Run(bogus).status, 401);
}

TEST_F(GatewayTest, NonceMustMatchAndIsSingleUse) {
  // Two logins in one browser; the provider answers the second with the first one's nonce.
  auto start = MakeRequest("GET", "/a");
  start.headers.Set("Accept", "text/html");
  http::Response r1 = Run(start);
  std::string pre = CookieValueOf(CookieOf(r1, OidcRelyingParty::kPreLoginCookie));
  start.headers.Set("Cookie", std::string(OidcRelyingParty::kPreLoginCookie) + "=" + pre);
  http::Response r2 = Run(start);
  std::string loc1(r1.headers.Get("Location").value_or(""));
  std::string loc2(r2.headers.Get("Location").value_or(""));
  EXPECT_TRUE(CookieOf(r2, OidcRelyingParty::kPreLoginCookie).empty());  // reused
  auto cb = [&](const std::string& loc) {
    auto req = MakeRequest(
        "GET", "/authservice/oidc/callback?code=good&state=" + QueryParam(loc, "state"));
    req.headers.Set("Cookie", std::string(OidcRelyingParty::kPreLoginCookie) + "=" + pre);
    return Run(req);
  };
  last_nonce_ = QueryParam(loc1, "nonce");
  EXPECT_EQ(cb(loc1).status, 302);
  // Login 2 receives an ID token with login 1's nonce (replayed token): mismatch, refused.
  idp_.nonce_override = QueryParam(loc1, "nonce");
  EXPECT_EQ(cb(loc2).status, 401);

  // A provider that repeats a nonce that was already accepted is refused as reuse too.
  http::Response r3 = Run(start);
  std::string loc3(r3.headers.Get("Location").value_or(""));
  idp_.nonce_override.clear();
  last_nonce_ = QueryParam(loc3, "nonce");
  EXPECT_EQ(cb(loc3).status, 302);
  EXPECT_EQ(sessions_->size(), 2u);
}

TEST_F(GatewayTest, OpenRedirectsAreRefused) {
  for (const char* bad : {"https://evil.example/", "//evil.example", "/\\evil.example",
                          "evil.example", "/\r\nSet-Cookie:x"}) {
    auto req = MakeRequest("GET", std::string("/login?rd=") + UrlEncode(bad));
    EXPECT_EQ(Run(req).status, 400) << bad;
    auto next = MakeRequest("GET", std::string("/login?next=") + UrlEncode(bad));
    EXPECT_EQ(Run(next).status, 400) << bad;
  }
  auto good = MakeRequest("GET", "/login?rd=%2Fpipelines%3Fa%3D1");
  EXPECT_EQ(Run(good).status, 302);
  EXPECT_EQ(SafeLocalTarget("/a/b?c=d#e").value_or(""), "/a/b?c=d#e");
  EXPECT_FALSE(SafeLocalTarget("//evil"));
  EXPECT_FALSE(SafeLocalTarget("/\\evil"));
  EXPECT_FALSE(SafeLocalTarget("https://evil/"));
  EXPECT_FALSE(SafeLocalTarget("/a\r\nb"));
  EXPECT_FALSE(SafeLocalTarget(""));
}

TEST_F(GatewayTest, LogoutEndsTheSessionAndGoesToEndSession) {
  auto [session, csrf] = LoginAs();
  auto out = MakeRequest("GET", "/logout");
  out.headers.Set("Cookie", "skiff_session=" + session);
  http::Response r = Run(out);
  EXPECT_EQ(r.status, 302);
  std::string loc(r.headers.Get("Location").value_or(""));
  EXPECT_THAT(loc, HasSubstr("https://idp.example/logout?client_id=skiff"));
  EXPECT_THAT(loc, HasSubstr("id_token_hint="));
  EXPECT_THAT(loc, HasSubstr("post_logout_redirect_uri=http%3A%2F%2Fskiff.example%3A8443%2F"));
  EXPECT_THAT(CookieOf(r, "skiff_session"), HasSubstr("Max-Age=0"));
  EXPECT_EQ(sessions_->size(), 0u);
  auto again = MakeRequest("GET", "/x");
  again.headers.Set("Cookie", "skiff_session=" + session);
  EXPECT_EQ(Run(again).status, 401);
}

TEST_F(GatewayTest, LogoutFromAnotherSiteIsRefused) {
  auto [session, csrf] = LoginAs();
  auto cross = MakeRequest("GET", "/logout");
  cross.headers.Set("Cookie", "skiff_session=" + session);
  cross.headers.Set("Sec-Fetch-Site", "cross-site");
  EXPECT_EQ(Run(cross).status, 403);
  auto foreign = MakeRequest("POST", "/logout");
  foreign.headers.Set("Cookie", "skiff_session=" + session);
  foreign.headers.Set("Origin", "https://evil.example");
  EXPECT_EQ(Run(foreign).status, 403);
  EXPECT_EQ(sessions_->size(), 1u);  // still logged in
  auto own = MakeRequest("GET", "/logout");
  own.headers.Set("Cookie", "skiff_session=" + session);
  own.headers.Set("Sec-Fetch-Site", "same-origin");
  EXPECT_EQ(Run(own).status, 302);
  EXPECT_EQ(sessions_->size(), 0u);
}

TEST(SessionStoreTest, IdleAndAbsoluteExpiry) {
  FakeClock clock;
  SessionOptions o;
  o.idle_timeout = std::chrono::minutes(10);
  o.max_age = std::chrono::minutes(30);
  SessionStore store(clock, o, nullptr);
  auto id = store.Create(Session{"u", {}, "", {}, {}});
  ASSERT_TRUE(id);
  EXPECT_EQ(id->size(), 43u);
  Session s;
  // Activity every 9 minutes keeps it alive...
  for (int i = 0; i < 3; ++i) {
    clock.Advance(std::chrono::minutes(9));
    EXPECT_EQ(store.Find(*id, &s), SessionStore::FindResult::kFound) << i;
  }
  // ...but not past the absolute limit.
  clock.Advance(std::chrono::minutes(4));
  EXPECT_EQ(store.Find(*id, &s), SessionStore::FindResult::kExpired);
  EXPECT_EQ(store.Find(*id, &s), SessionStore::FindResult::kMissing);

  auto idle = store.Create(Session{"u", {}, "", {}, {}});
  clock.Advance(std::chrono::minutes(10));
  EXPECT_EQ(store.Find(*idle, &s), SessionStore::FindResult::kExpired);
  EXPECT_EQ(store.Find("unknown", &s), SessionStore::FindResult::kMissing);
}

TEST(SessionStoreTest, BackingStoreKeepsOnlyDigestsAndSurvivesRestart) {
  FakeClock clock;
  store::SqliteOptions so;
  so.path = ":memory:";
  auto db = store::OpenSqliteStore(so);
  ASSERT_TRUE(db);
  SessionOptions o;
  o.idle_timeout = std::chrono::minutes(10);
  std::string id;
  {
    SessionStore first(clock, o, db->get());
    auto created = first.Create(Session{"u@example.com", {"g"}, "id.token.value", {}, {}});
    ASSERT_TRUE(created);
    id = *created;
  }
  auto listed = (*db)->List("sessions.auth.skiff.internal", {});
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->items.size(), 1u);
  std::string stored = Serialize(listed->items[0].object);
  EXPECT_EQ(stored.find(id), std::string::npos);  // only the digest is stored
  EXPECT_EQ(stored.find("id.token.value"), std::string::npos);
  EXPECT_NE(stored.find(HexEncode(Sha256(id))), std::string::npos);

  SessionStore second(clock, o, db->get());  // a restarted server
  Session s;
  EXPECT_EQ(second.Find(id, &s), SessionStore::FindResult::kUnknownHere);
  auto loaded = second.Load(id);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->user, "u@example.com");
  EXPECT_EQ(second.Find(id, &s), SessionStore::FindResult::kFound);
  second.Delete(id);
  EXPECT_FALSE(second.Load(id));
  EXPECT_EQ((*db)->List("sessions.auth.skiff.internal", {})->items.size(), 0u);

  // Bogus ids cost one lookup, then none for a while.
  EXPECT_EQ(second.Find("bogus", &s), SessionStore::FindResult::kUnknownHere);
  EXPECT_FALSE(second.Load("bogus"));
  EXPECT_EQ(second.Find("bogus", &s), SessionStore::FindResult::kMissing);

  // Activity is written back (off the caller's thread), so idle expiry survives a restart.
  QueueRunner writer;
  std::string active;
  {
    SessionStore live(clock, o, db->get(), &writer);
    active = *live.Create(Session{"w", {}, "", {}, {}});
    clock.Advance(std::chrono::minutes(8));
    EXPECT_EQ(live.Find(active, &s), SessionStore::FindResult::kFound);
    EXPECT_EQ(writer.tasks.size(), 1u);
    EXPECT_EQ(live.Find(active, &s), SessionStore::FindResult::kFound);
    EXPECT_EQ(writer.tasks.size(), 1u);  // not again until the next tenth of the idle time
    writer.RunAll();
  }
  clock.Advance(std::chrono::minutes(8));  // 16 min after login, 8 after the last activity
  SessionStore restarted(clock, o, db->get());
  EXPECT_TRUE(restarted.Load(active));

  SessionStore third(clock, o, db->get());
  auto old = third.Create(Session{"v", {}, "", {}, {}});
  SessionStore fourth(clock, o, db->get());
  clock.Advance(std::chrono::minutes(11));
  auto expired = fourth.Load(*old);
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error().code(), Code::kUnauthenticated);
}

TEST(AuthnUtilTest, CidrsAndCookies) {
  auto v4 = *Cidr::Parse("10.0.0.0/8");
  EXPECT_TRUE(v4.Contains("10.2.3.4:80"));
  EXPECT_FALSE(v4.Contains("11.2.3.4:80"));
  EXPECT_TRUE(v4.Contains("[::ffff:10.1.1.1]:80"));
  auto v6 = *Cidr::Parse("::1");
  EXPECT_TRUE(v6.Contains("[::1]:443"));
  EXPECT_FALSE(v6.Contains("127.0.0.1:443"));
  auto odd = *Cidr::Parse("192.168.128.0/17");
  EXPECT_TRUE(odd.Contains("192.168.200.1"));
  EXPECT_FALSE(odd.Contains("192.168.1.1"));
  EXPECT_FALSE(Cidr::Parse("10.0.0.0/33"));
  EXPECT_FALSE(Cidr::Parse("example.com"));

  http::HeaderMap h;
  h.Add("Cookie", "a=1; skiff_session=abc ; b=\"q\"");
  EXPECT_EQ(CookieValue(h, "skiff_session").value_or(""), "abc");
  EXPECT_EQ(CookieValue(h, "b").value_or(""), "q");
  EXPECT_FALSE(CookieValue(h, "session"));
  CookieAttributes a;
  a.secure = true;
  a.max_age = std::chrono::seconds(0);
  EXPECT_EQ(SetCookie("n", "", a),
            "n=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; "
            "SameSite=Lax");
}

}  // namespace
}  // namespace skiff::auth
