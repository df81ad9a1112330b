// The provider's handlers called directly (no sockets): requests built by hand, responses
// captured, a fake clock, an in-memory store and inline task runners.

#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "auth/jose.hpp"
#include "core/crypto.hpp"
#include "identity/connector.hpp"
#include "identity/identity.hpp"
#include "store/store.hpp"
#include "test_util.hpp"

namespace skiff::identity {
namespace {

using namespace skiff::identity::testing;
namespace jose = auth::jose;

constexpr char kDexHash[] = "$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W";
constexpr char kIssuer[] = "https://skiff.test:8443/dex";
constexpr char kPublicCb[] = "http://127.0.0.1:9999/callback";
constexpr char kAppCb[] = "https://app.example.com/oauth2/callback";
constexpr char kSecret[] = "app-secret-0123456789";

json::object BaseConfig() {
  json::object user;
  user["email"] = "admin@example.com";
  user["hash"] = kDexHash;
  user["username"] = "admin";
  user["userID"] = "08a8684b-db88-4b73-90a9-3cd1661f5466";
  user["groups"] = json::array{"admins"};
  json::object pub;
  pub["id"] = "cli";
  pub["public"] = true;
  pub["redirectURIs"] = json::array{kPublicCb};
  json::object app;
  app["id"] = "app";
  app["secret"] = kSecret;
  app["redirectURIs"] = json::array{kAppCb};
  json::object c;
  c["staticPasswords"] = json::array{user};
  c["staticClients"] = json::array{pub, app};
  json::object expiry;
  expiry["idTokens"] = "1h";
  expiry["signingKeys"] = "6h";
  c["expiry"] = expiry;
  return c;
}

std::string Challenge(const std::string& verifier) { return Base64UrlEncode(Sha256(verifier)); }

class ProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::SqliteOptions so;
    so.path = ":memory:";
    auto s = store::OpenSqliteStore(so);
    ASSERT_TRUE(s) << s.error();
    store_ = std::move(*s);
    Start(BaseConfig());
  }

  void Start(json::object config) {
    provider_.reset();
    ProviderOptions o;
    o.issuer = kIssuer;
    o.data_dir = dir_.path();
    o.config = std::move(config);
    o.store = store_.get();
    o.blocking = &blocking_;
    o.cpu = &cpu_;
    o.clock = &clock_;
    auto p = Provider::Create(std::move(o));
    ASSERT_TRUE(p) << p.error();
    provider_ = std::move(*p);
  }

  http::Response Call(http::Request req) {
    std::optional<http::Response> out;
    provider_->Handle(req, [&](http::Response r) { out = std::move(r); });
    EXPECT_TRUE(out.has_value()) << "handler did not answer synchronously";
    return out ? std::move(*out) : http::Response{};
  }

  std::string AuthUrl(const std::string& client, const std::string& cb,
                      std::vector<std::pair<std::string, std::string>> extra = {}) {
    std::vector<std::pair<std::string, std::string>> ps = {
        {"client_id", client},     {"redirect_uri", cb},
        {"response_type", "code"}, {"scope", "openid email profile groups offline_access"},
        {"state", "st-123"},       {"nonce", "n-456"}};
    for (auto& e : extra) ps.push_back(e);
    return "/dex/auth?" + Form(ps);
  }

  struct LoginPage {
    http::Response response;
    std::string req, csrf, cookie;
  };
  LoginPage OpenLogin(const std::string& url, const std::string& cookie = "") {
    std::map<std::string, std::string> h;
    if (!cookie.empty()) h["Cookie"] = cookie;
    LoginPage p{Call(MakeRequest("GET", url, "", h)), "", "", cookie};
    p.req = FormValue(p.response.body, "req");
    p.csrf = FormValue(p.response.body, "csrf");
    if (auto sc = p.response.headers.Get("Set-Cookie")) {
      p.cookie = std::string(sc->substr(0, sc->find(';')));
    }
    return p;
  }
  http::Response Submit(const LoginPage& p, const std::string& login, const std::string& pw,
                        const std::string& connector = "local") {
    return Call(
        MakeRequest("POST", "/dex/auth/" + connector,
                    Form({{"req", p.req}, {"csrf", p.csrf}, {"login", login}, {"password", pw}}),
                    {{"Cookie", p.cookie}}));
  }
  // Runs /auth and the login form; returns the redirect's Location.
  std::string LoginRedirect(const std::string& url) {
    auto page = OpenLogin(url);
    EXPECT_EQ(page.response.status, 200) << page.response.body;
    auto r = Submit(page, "admin@example.com", "password");
    EXPECT_EQ(r.status, 303) << r.body;
    return std::string(r.headers.Get("Location").value_or(""));
  }

  http::Response TokenCall(std::vector<std::pair<std::string, std::string>> form,
                           std::map<std::string, std::string> headers = {}) {
    return Call(MakeRequest("POST", "/dex/token", Form(form), headers));
  }
  json::object Json(const http::Response& r) {
    auto o = ParseJsonObject(r.body);
    EXPECT_TRUE(o) << r.body;
    return o ? *o : json::object();
  }
  std::string Basic(const std::string& id, const std::string& secret) {
    return "Basic " + Base64Encode(id + ":" + secret);
  }

  TmpDir dir_;
  FakeClock clock_;
  InlineRunner blocking_, cpu_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<Provider> provider_;
};

TEST_F(ProviderTest, DiscoveryAndJwks) {
  auto r = Call(MakeRequest("GET", "/dex/.well-known/openid-configuration"));
  ASSERT_EQ(r.status, 200);
  auto d = Json(r);
  EXPECT_EQ(GetString(d, "issuer"), kIssuer);
  EXPECT_EQ(GetString(d, "authorization_endpoint"), std::string(kIssuer) + "/auth");
  EXPECT_EQ(GetString(d, "token_endpoint"), std::string(kIssuer) + "/token");
  EXPECT_EQ(GetString(d, "jwks_uri"), std::string(kIssuer) + "/keys");
  EXPECT_EQ(GetString(d, "userinfo_endpoint"), std::string(kIssuer) + "/userinfo");
  EXPECT_EQ(Serialize(d["code_challenge_methods_supported"]), "[\"S256\"]");
  EXPECT_EQ(Serialize(d["response_types_supported"]), "[\"code\"]");

  auto k = Call(MakeRequest("GET", "/dex/keys"));
  ASSERT_EQ(k.status, 200);
  auto set = jose::KeySet::FromJwks(k.body);
  ASSERT_TRUE(set) << set.error();
  ASSERT_EQ(set->keys().size(), 1u);
  EXPECT_EQ(GetString(set->keys()[0].PublicJwk(), "kty"), "RSA");
  EXPECT_EQ(k.body.find("\"d\""), std::string::npos) << "private key material in the JWKS";

  // Key files: 0700 directory, 0600 file.
  namespace fs = std::filesystem;
  auto dperm = fs::status(dir_.path() + "/identity").permissions();
  auto fperm = fs::status(dir_.path() + "/identity/keys.json").permissions();
  EXPECT_EQ(dperm & fs::perms::all, fs::perms::owner_all);
  EXPECT_EQ(fperm & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
}

TEST_F(ProviderTest, PublicClientFullFlowWithPkce) {
  std::string verifier = RandomToken(32);
  std::string loc = LoginRedirect(
      AuthUrl("cli", kPublicCb,
              {{"code_challenge", Challenge(verifier)}, {"code_challenge_method", "S256"}}));
  ASSERT_TRUE(loc.starts_with(std::string(kPublicCb) + "?")) << loc;
  EXPECT_EQ(QueryValue(loc, "state"), "st-123");
  std::string code = QueryValue(loc, "code");
  ASSERT_FALSE(code.empty());

  auto r = TokenCall({{"grant_type", "authorization_code"},
                      {"code", code},
                      {"redirect_uri", kPublicCb},
                      {"client_id", "cli"},
                      {"code_verifier", verifier}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers.Get("Cache-Control").value_or(""), "no-store");
  auto t = Json(r);
  EXPECT_EQ(GetString(t, "token_type"), "Bearer");
  std::string id_token = GetString(t, "id_token");
  std::string access = GetString(t, "access_token");
  std::string refresh = GetString(t, "refresh_token");
  ASSERT_FALSE(id_token.empty());
  ASSERT_FALSE(refresh.empty());

  // The ID token verifies against the published JWKS with the standard checks.
  auto jwks = jose::KeySet::FromJwks(Call(MakeRequest("GET", "/dex/keys")).body);
  ASSERT_TRUE(jwks);
  auto jws = jose::Parse(id_token);
  ASSERT_TRUE(jws) << jws.error();
  auto keys = jwks->Find(jws->kid);
  ASSERT_EQ(keys.size(), 1u);
  ASSERT_TRUE(jose::Verify(*jws, *keys[0]).ok());
  jose::ClaimsPolicy policy;
  policy.issuers = {kIssuer};
  policy.audiences = {"cli"};
  ASSERT_TRUE(jose::ValidateClaims(jws->payload, policy, clock_.Now()).ok());
  auto& c = jws->payload;
  EXPECT_EQ(GetString(c, "nonce"), "n-456");
  EXPECT_EQ(GetString(c, "email"), "admin@example.com");
  EXPECT_EQ(GetString(c, "name"), "admin");
  EXPECT_TRUE(c["email_verified"].as_bool());
  EXPECT_EQ(Serialize(c["groups"]), "[\"admins\"]");
  EXPECT_FALSE(GetString(c, "sub").empty());
  EXPECT_EQ(c["exp"].as_int64() - c["iat"].as_int64(), 3600);
  std::string digest = Sha256(access);
  EXPECT_EQ(GetString(c, "at_hash"), Base64UrlEncode(digest.substr(0, 16)));
  // Dex's subject encoding for (userID, "local").
  auto sub = Base64UrlDecode(GetString(c, "sub"));
  ASSERT_TRUE(sub);
  EXPECT_NE(sub->find("08a8684b-db88-4b73-90a9-3cd1661f5466"), std::string::npos);
  EXPECT_NE(sub->find("local"), std::string::npos);

  // VerifyToken (for the gateway) accepts both tokens.
  EXPECT_TRUE(provider_->VerifyToken(id_token));
  EXPECT_TRUE(provider_->VerifyToken(access));

  // userinfo with the access token; not with the ID token.
  auto ui = Call(MakeRequest("GET", "/dex/userinfo", "", {{"Authorization", "Bearer " + access}}));
  ASSERT_EQ(ui.status, 200) << ui.body;
  EXPECT_EQ(GetString(Json(ui), "email"), "admin@example.com");
  auto ui2 =
      Call(MakeRequest("GET", "/dex/userinfo", "", {{"Authorization", "Bearer " + id_token}}));
  EXPECT_EQ(ui2.status, 401);
  auto ui3 = Call(MakeRequest("GET", "/dex/userinfo"));
  EXPECT_EQ(ui3.status, 401);
  EXPECT_TRUE(ui3.headers.Has("WWW-Authenticate"));

  // Refresh rotates: the new token works, the old one is refused afterwards.
  clock_.Advance(std::chrono::minutes(10));
  auto r2 = TokenCall(
      {{"grant_type", "refresh_token"}, {"refresh_token", refresh}, {"client_id", "cli"}});
  ASSERT_EQ(r2.status, 200) << r2.body;
  auto t2 = Json(r2);
  std::string refresh2 = GetString(t2, "refresh_token");
  ASSERT_FALSE(refresh2.empty());
  EXPECT_NE(refresh2, refresh);
  auto id2 = jose::Parse(GetString(t2, "id_token"));
  ASSERT_TRUE(id2);
  EXPECT_EQ(GetString(id2->payload, "email"), "admin@example.com");
  EXPECT_EQ(GetString(id2->payload, "sub"), GetString(c, "sub"));
  auto reuse = TokenCall(
      {{"grant_type", "refresh_token"}, {"refresh_token", refresh}, {"client_id", "cli"}});
  EXPECT_EQ(reuse.status, 400);
  EXPECT_EQ(GetString(Json(reuse), "error"), "invalid_grant");
  // Another client cannot use it.
  auto other = TokenCall({{"grant_type", "refresh_token"}, {"refresh_token", refresh2}},
                         {{"Authorization", Basic("app", kSecret)}});
  EXPECT_EQ(GetString(Json(other), "error"), "invalid_grant");

  // The refresh token is stored hashed, never in the clear.
  auto list = store_->List("refreshtokens.identity.skiff.dev", {});
  ASSERT_TRUE(list);
  ASSERT_EQ(list->items.size(), 1u);
  EXPECT_EQ(list->items[0].key.name, HexEncode(Sha256(refresh2)));
  EXPECT_EQ(Serialize(list->items[0].object).find(refresh2), std::string::npos);

  // Refresh tokens survive a restart (new provider over the same store and data dir).
  Start(BaseConfig());
  auto r3 = TokenCall(
      {{"grant_type", "refresh_token"}, {"refresh_token", refresh2}, {"client_id", "cli"}});
  ASSERT_EQ(r3.status, 200) << r3.body;
  // ...and expire.
  std::string refresh3 = GetString(Json(r3), "refresh_token");
  clock_.Advance(std::chrono::hours(721));
  auto r4 = TokenCall(
      {{"grant_type", "refresh_token"}, {"refresh_token", refresh3}, {"client_id", "cli"}});
  EXPECT_EQ(GetString(Json(r4), "error"), "invalid_grant");
}

TEST_F(ProviderTest, ConfidentialClientSecretBasicAndPost) {
  for (bool basic : {true, false}) {
    std::string loc = LoginRedirect(AuthUrl("app", kAppCb));
    std::string code = QueryValue(loc, "code");
    ASSERT_FALSE(code.empty()) << loc;
    std::vector<std::pair<std::string, std::string>> form = {
        {"grant_type", "authorization_code"}, {"code", code}, {"redirect_uri", kAppCb}};
    std::map<std::string, std::string> headers;
    if (basic) {
      // A wrong secret first: 401 invalid_client with a Basic challenge, and the code is
      // not consumed by a failed client authentication.
      auto bad = TokenCall(form, {{"Authorization", Basic("app", "wrong-secret-123456")}});
      EXPECT_EQ(bad.status, 401);
      EXPECT_EQ(GetString(Json(bad), "error"), "invalid_client");
      EXPECT_TRUE(bad.headers.Has("WWW-Authenticate"));
      headers["Authorization"] = Basic("app", kSecret);
    } else {
      auto missing = TokenCall(form);
      EXPECT_EQ(missing.status, 401);
      form.push_back({"client_id", "app"});
      form.push_back({"client_secret", kSecret});
    }
    auto r = TokenCall(form, headers);
    ASSERT_EQ(r.status, 200) << r.body;
    auto jws = jose::Parse(GetString(Json(r), "id_token"));
    ASSERT_TRUE(jws);
    EXPECT_EQ(GetString(jws->payload, "aud"), "app");
  }
}

TEST_F(ProviderTest, RedirectUriMustMatchExactly) {
  for (std::string cb : {std::string(kAppCb) + "/evil", std::string(kAppCb) + "?x=1",
                         std::string("https://evil.example.com/cb"), std::string(""),
                         std::string("https://app.example.com/oauth2/Callback")}) {
    auto r = Call(MakeRequest("GET", AuthUrl("app", cb)));
    EXPECT_EQ(r.status, 400) << cb;
    EXPECT_FALSE(r.headers.Has("Location")) << "redirected to an unregistered URI: " << cb;
  }
  auto unknown = Call(MakeRequest("GET", AuthUrl("nope", kAppCb)));
  EXPECT_EQ(unknown.status, 400);
  EXPECT_FALSE(unknown.headers.Has("Location"));
}

TEST_F(ProviderTest, AuthorizationErrorsGoToTheRegisteredRedirect) {
  auto check = [&](std::string url, std::string error) {
    auto r = Call(MakeRequest("GET", url));
    ASSERT_EQ(r.status, 302) << url << "\n" << r.body;
    std::string loc(r.headers.Get("Location").value_or(""));
    EXPECT_TRUE(loc.starts_with(kPublicCb)) << loc;
    EXPECT_EQ(QueryValue(loc, "error"), error) << loc;
    EXPECT_EQ(QueryValue(loc, "state"), "st-123");
  };
  // Public client without PKCE.
  check(AuthUrl("cli", kPublicCb), "invalid_request");
  // PKCE plain is refused.
  check(AuthUrl("cli", kPublicCb,
                {{"code_challenge", RandomToken(32)}, {"code_challenge_method", "plain"}}),
        "invalid_request");
  // Missing method means plain (RFC 7636 4.3): refused too.
  check(AuthUrl("cli", kPublicCb, {{"code_challenge", RandomToken(32)}}), "invalid_request");
  auto pkce = std::vector<std::pair<std::string, std::string>>{
      {"code_challenge", Challenge(RandomToken(32))}, {"code_challenge_method", "S256"}};
  std::string implicit = AuthUrl("cli", kPublicCb, pkce);
  implicit.replace(implicit.find("response_type=code"), 18, "response_type=token");
  check(implicit, "unsupported_response_type");
  std::string noopenid = AuthUrl("cli", kPublicCb, pkce);
  noopenid.replace(noopenid.find("scope=openid"), 12, "scope=email");
  check(noopenid, "invalid_scope");
  check(AuthUrl("cli", kPublicCb, {{"prompt", "none"}}), "login_required");
  std::string custom = AuthUrl("cli", kPublicCb, pkce);
  custom.replace(custom.find("scope=openid"), 12, "scope=openid+admin");
  check(custom, "invalid_scope");
  // A parameter given twice.
  auto dup = Call(MakeRequest("GET", AuthUrl("cli", kPublicCb, pkce) + "&client_id=app"));
  EXPECT_EQ(dup.status, 400);
}

TEST_F(ProviderTest, PkceVerifierChecked) {
  std::string verifier = RandomToken(32);
  std::string loc = LoginRedirect(
      AuthUrl("cli", kPublicCb,
              {{"code_challenge", Challenge(verifier)}, {"code_challenge_method", "S256"}}));
  std::string code = QueryValue(loc, "code");
  std::vector<std::pair<std::string, std::string>> form = {{"grant_type", "authorization_code"},
                                                           {"code", code},
                                                           {"redirect_uri", kPublicCb},
                                                           {"client_id", "cli"},
                                                           {"code_verifier", RandomToken(32)}};
  auto bad = TokenCall(form);
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(GetString(Json(bad), "error"), "invalid_grant");
  // The code is spent by the failed attempt: the right verifier no longer helps.
  form.back().second = verifier;
  auto again = TokenCall(form);
  EXPECT_EQ(GetString(Json(again), "error"), "invalid_grant");

  // Confidential client that sent a challenge: a missing verifier is refused.
  std::string v2 = RandomToken(32);
  std::string loc2 = LoginRedirect(AuthUrl(
      "app", kAppCb, {{"code_challenge", Challenge(v2)}, {"code_challenge_method", "S256"}}));
  auto missing = TokenCall({{"grant_type", "authorization_code"},
                            {"code", QueryValue(loc2, "code")},
                            {"redirect_uri", kAppCb}},
                           {{"Authorization", Basic("app", kSecret)}});
  EXPECT_EQ(GetString(Json(missing), "error"), "invalid_grant");
  // A verifier without a challenge (downgrade) is refused too.
  std::string loc3 = LoginRedirect(AuthUrl("app", kAppCb));
  auto extra = TokenCall({{"grant_type", "authorization_code"},
                          {"code", QueryValue(loc3, "code")},
                          {"redirect_uri", kAppCb},
                          {"code_verifier", RandomToken(32)}},
                         {{"Authorization", Basic("app", kSecret)}});
  EXPECT_EQ(GetString(Json(extra), "error"), "invalid_grant");
}

TEST_F(ProviderTest, ReplayedCodeIsRefusedAndRevokesItsTokens) {
  std::string loc = LoginRedirect(AuthUrl("app", kAppCb));
  std::vector<std::pair<std::string, std::string>> form = {{"grant_type", "authorization_code"},
                                                           {"code", QueryValue(loc, "code")},
                                                           {"redirect_uri", kAppCb}};
  std::map<std::string, std::string> auth = {{"Authorization", Basic("app", kSecret)}};
  auto first = TokenCall(form, auth);
  ASSERT_EQ(first.status, 200) << first.body;
  std::string refresh = GetString(Json(first), "refresh_token");
  // Rotate once: revocation follows the grant, not just the first token.
  auto rotated = TokenCall({{"grant_type", "refresh_token"}, {"refresh_token", refresh}}, auth);
  ASSERT_EQ(rotated.status, 200);
  std::string refresh2 = GetString(Json(rotated), "refresh_token");

  auto replay = TokenCall(form, auth);
  EXPECT_EQ(replay.status, 400);
  EXPECT_EQ(GetString(Json(replay), "error"), "invalid_grant");
  auto after = TokenCall({{"grant_type", "refresh_token"}, {"refresh_token", refresh2}}, auth);
  EXPECT_EQ(GetString(Json(after), "error"), "invalid_grant");
}

TEST_F(ProviderTest, CodesExpireAndRedirectUriMustMatchAtTheTokenEndpoint) {
  std::map<std::string, std::string> auth = {{"Authorization", Basic("app", kSecret)}};
  std::string loc = LoginRedirect(AuthUrl("app", kAppCb));
  clock_.Advance(std::chrono::minutes(6));
  auto late = TokenCall({{"grant_type", "authorization_code"},
                         {"code", QueryValue(loc, "code")},
                         {"redirect_uri", kAppCb}},
                        auth);
  EXPECT_EQ(GetString(Json(late), "error"), "invalid_grant");
  std::string loc2 = LoginRedirect(AuthUrl("app", kAppCb));
  auto wrong = TokenCall({{"grant_type", "authorization_code"},
                          {"code", QueryValue(loc2, "code")},
                          {"redirect_uri", "https://app.example.com/other"}},
                         auth);
  EXPECT_EQ(GetString(Json(wrong), "error"), "invalid_grant");
  auto grant = TokenCall({{"grant_type", "password"}}, auth);
  EXPECT_EQ(GetString(Json(grant), "error"), "unsupported_grant_type");
  auto not_form = Call(MakeRequest(
      "POST", "/dex/token", "{}",
      {{"Content-Type", "application/json"}, {"Authorization", Basic("app", kSecret)}}));
  EXPECT_EQ(GetString(Json(not_form), "error"), "invalid_request");
  auto get = Call(MakeRequest("GET", "/dex/token"));
  EXPECT_EQ(get.status, 405);
}

TEST_F(ProviderTest, LoginFormIsCsrfProtected) {
  auto page = OpenLogin(AuthUrl("app", kAppCb));
  ASSERT_EQ(page.response.status, 200);
  ASSERT_FALSE(page.req.empty());
  ASSERT_FALSE(page.csrf.empty());
  std::string sc(page.response.headers.Get("Set-Cookie").value_or(""));
  EXPECT_NE(sc.find("HttpOnly"), std::string::npos);
  EXPECT_NE(sc.find("SameSite=Lax"), std::string::npos);
  EXPECT_NE(sc.find("Secure"), std::string::npos);  // https issuer
  // Accessible form: labels bound to inputs, no script.
  EXPECT_NE(page.response.body.find("<label for=\"login\">"), std::string::npos);
  EXPECT_NE(page.response.body.find("<label for=\"password\">"), std::string::npos);
  EXPECT_EQ(page.response.body.find("<script"), std::string::npos);

  auto no_cookie = page;
  no_cookie.cookie = "";
  EXPECT_EQ(Submit(no_cookie, "admin@example.com", "password").status, 403);
  auto other_browser = page;
  other_browser.cookie = "skiff_idp_browser=" + RandomToken(32);
  EXPECT_EQ(Submit(other_browser, "admin@example.com", "password").status, 403);
  auto bad_csrf = page;
  bad_csrf.csrf = RandomToken(24);
  EXPECT_EQ(Submit(bad_csrf, "admin@example.com", "password").status, 403);
  // The genuine form still works, exactly once.
  auto ok = Submit(page, "admin@example.com", "password");
  EXPECT_EQ(ok.status, 303);
  EXPECT_EQ(Submit(page, "admin@example.com", "password").status, 403);
}

TEST_F(ProviderTest, OutputIsEscaped) {
  auto page = OpenLogin(AuthUrl("app", kAppCb));
  auto r = Submit(page, "<script>alert(1)</script>\"", "wrong");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.body.find("<script>"), std::string::npos);
  EXPECT_NE(r.body.find("&lt;script&gt;alert(1)&lt;/script&gt;&quot;"), std::string::npos);
  EXPECT_NE(r.body.find("Invalid username or password"), std::string::npos);
}

TEST_F(ProviderTest, EmptyPasswordNeverReachesTheConnector) {
  auto page = OpenLogin(AuthUrl("app", kAppCb));
  int before = cpu_.posted;
  auto r = Submit(page, "admin@example.com", "");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(cpu_.posted, before);
}

TEST_F(ProviderTest, FailedLoginsBackOffPerUserAndPerAddress) {
  auto page = OpenLogin(AuthUrl("app", kAppCb));
  for (int i = 0; i < 5; i++) {
    EXPECT_EQ(Submit(page, "admin@example.com", "wrong" + std::to_string(i)).status, 401);
  }
  int before = cpu_.posted;
  auto blocked = Submit(page, "admin@example.com", "password");
  EXPECT_EQ(blocked.status, 429);
  EXPECT_EQ(blocked.headers.Get("Retry-After").value_or(""), "1");
  EXPECT_EQ(cpu_.posted, before) << "a blocked attempt must not cost a bcrypt";
  clock_.Advance(std::chrono::seconds(1));
  EXPECT_EQ(Submit(page, "admin@example.com", "wrong").status, 401);
  // The delay doubles: 2 s now.
  auto again = Submit(page, "admin@example.com", "password");
  EXPECT_EQ(again.status, 429);
  EXPECT_EQ(again.headers.Get("Retry-After").value_or(""), "2");
  // Another user from the same address is not blocked by admin's failures...
  EXPECT_EQ(Submit(page, "someone@example.com", "x").status, 401);
  clock_.Advance(std::chrono::seconds(2));
  EXPECT_EQ(Submit(page, "admin@example.com", "password").status, 303);

  // ...but the address backs off too, after 4x as many failures (users behind one NAT share
  // it): 7 so far; spread over many user names, as a password-spraying client would.
  auto page2 = OpenLogin(AuthUrl("app", kAppCb));
  for (int i = 7; i < 20; i++) {
    EXPECT_EQ(Submit(page2, "user" + std::to_string(i) + "@example.com", "x").status, 401) << i;
  }
  auto sprayed = Submit(page2, "fresh@example.com", "x");
  EXPECT_EQ(sprayed.status, 429);
  EXPECT_EQ(sprayed.headers.Get("Retry-After").value_or(""), "1");
  // The same user from another address is unaffected.
  auto elsewhere = MakeRequest("POST", "/dex/auth/local",
                               Form({{"req", page2.req},
                                     {"csrf", page2.csrf},
                                     {"login", "fresh@example.com"},
                                     {"password", "x"}}),
                               {{"Cookie", page2.cookie}});
  elsewhere.remote_addr = "192.0.2.7:5555";
  EXPECT_EQ(Call(std::move(elsewhere)).status, 401);
}

TEST_F(ProviderTest, KeysRotateAndOldKeysStayUntilTheirTokensExpire) {
  std::string loc = LoginRedirect(AuthUrl("app", kAppCb));
  auto t = TokenCall({{"grant_type", "authorization_code"},
                      {"code", QueryValue(loc, "code")},
                      {"redirect_uri", kAppCb}},
                     {{"Authorization", Basic("app", kSecret)}});
  std::string old_token = GetString(Json(t), "id_token");
  std::string old_kid = jose::Parse(old_token)->kid;

  clock_.Advance(std::chrono::hours(6));
  // Any request notices that rotation is due (the inline runner rotates at once).
  auto keys = jose::KeySet::FromJwks(Call(MakeRequest("GET", "/dex/keys")).body);
  keys = jose::KeySet::FromJwks(Call(MakeRequest("GET", "/dex/keys")).body);
  ASSERT_TRUE(keys);
  ASSERT_EQ(keys->keys().size(), 2u);
  EXPECT_EQ(keys->Find(old_kid).size(), 1u);
  std::string current_kid = provider_->PublicKeys()->keys()[0].kid();
  EXPECT_NE(current_kid, old_kid);

  // A restart keeps both keys (state on disk).
  Start(BaseConfig());
  EXPECT_EQ(provider_->PublicKeys()->keys().size(), 2u);
  EXPECT_EQ(provider_->PublicKeys()->keys()[0].kid(), current_kid);
  // New tokens are signed with the new key.
  std::string loc2 = LoginRedirect(AuthUrl("app", kAppCb));
  auto t2 = TokenCall({{"grant_type", "authorization_code"},
                       {"code", QueryValue(loc2, "code")},
                       {"redirect_uri", kAppCb}},
                      {{"Authorization", Basic("app", kSecret)}});
  EXPECT_EQ(jose::Parse(GetString(Json(t2), "id_token"))->kid, current_kid);

  // Once every token of the old key has expired (idTokens: 1h), it leaves the JWKS.
  clock_.Advance(std::chrono::minutes(61));
  ASSERT_TRUE(provider_->RotateKeysIfDue().ok());
  auto after = provider_->PublicKeys();
  ASSERT_EQ(after->keys().size(), 1u);
  EXPECT_EQ(after->keys()[0].kid(), current_kid);
}

TEST_F(ProviderTest, Es256Selectable) {
  TmpDir other;
  json::object c = BaseConfig();
  c["signingAlg"] = "ES256";
  ProviderOptions o;
  o.issuer = kIssuer;
  o.data_dir = other.path();
  o.config = c;
  o.store = store_.get();
  o.blocking = &blocking_;
  o.cpu = &cpu_;
  o.clock = &clock_;
  auto p = Provider::Create(std::move(o));
  ASSERT_TRUE(p) << p.error();
  provider_ = std::move(*p);
  auto keys = provider_->PublicKeys();
  ASSERT_EQ(keys->keys().size(), 1u);
  EXPECT_EQ(GetString(keys->keys()[0].PublicJwk(), "kty"), "EC");
  std::string loc = LoginRedirect(AuthUrl("app", kAppCb));
  auto t = TokenCall({{"grant_type", "authorization_code"},
                      {"code", QueryValue(loc, "code")},
                      {"redirect_uri", kAppCb}},
                     {{"Authorization", Basic("app", kSecret)}});
  auto jws = jose::Parse(GetString(Json(t), "id_token"));
  ASSERT_TRUE(jws);
  EXPECT_EQ(jws->alg, jose::Alg::kES256);
  EXPECT_TRUE(provider_->VerifyToken(GetString(Json(t), "id_token")));
}

TEST_F(ProviderTest, UnknownIssuerAnswers503UntilSet) {
  TmpDir other;
  ProviderOptions o;
  o.data_dir = other.path();
  o.config = BaseConfig();
  o.store = store_.get();
  o.blocking = &blocking_;
  o.cpu = &cpu_;
  o.clock = &clock_;
  auto p = Provider::Create(std::move(o));
  ASSERT_TRUE(p);
  provider_ = std::move(*p);
  EXPECT_EQ(Call(MakeRequest("GET", "/dex/.well-known/openid-configuration")).status, 503);
  provider_->SetIssuer("http://127.0.0.1:1234/dex/");
  auto d = Json(Call(MakeRequest("GET", "/dex/.well-known/openid-configuration")));
  EXPECT_EQ(GetString(d, "issuer"), "http://127.0.0.1:1234/dex");
}

TEST_F(ProviderTest, TamperedAndForeignTokensAreRejected) {
  std::string loc = LoginRedirect(AuthUrl("app", kAppCb));
  auto t = TokenCall({{"grant_type", "authorization_code"},
                      {"code", QueryValue(loc, "code")},
                      {"redirect_uri", kAppCb}},
                     {{"Authorization", Basic("app", kSecret)}});
  std::string token = GetString(Json(t), "access_token");
  std::string tampered = token;
  tampered[tampered.find('.') + 5] ^= 1;
  EXPECT_FALSE(provider_->VerifyToken(tampered));
  clock_.Advance(std::chrono::hours(2));
  EXPECT_FALSE(provider_->VerifyToken(token));  // expired (1h)
  EXPECT_FALSE(provider_->VerifyToken("not.a.token"));
}

TEST_F(ProviderTest, SeveralConnectorsShowAChooserAndBackendErrorsAre503) {
  json::object c = BaseConfig();
  json::object us;
  us["baseDN"] = "dc=example,dc=org";
  us["username"] = "uid";
  json::object lc;
  lc["host"] = "127.0.0.1:1";  // nothing listens: the backend is down
  lc["insecureNoSSL"] = true;
  lc["usernamePrompt"] = "Corporate user name";
  lc["userSearch"] = us;
  json::object ldap;
  ldap["type"] = "ldap";
  ldap["id"] = "corp";
  ldap["name"] = "Corporate <LDAP>";
  ldap["config"] = lc;
  c["connectors"] = json::array{ldap};
  Start(c);

  auto page = OpenLogin(AuthUrl("app", kAppCb));
  ASSERT_EQ(page.response.status, 200);
  const std::string& html = page.response.body;
  EXPECT_NE(html.find("Log in with Email"), std::string::npos) << html;
  EXPECT_NE(html.find("Log in with Corporate &lt;LDAP&gt;"), std::string::npos) << html;
  // Follow the LDAP link like a browser.
  size_t at = html.find("/dex/auth/corp?");
  ASSERT_NE(at, std::string::npos);
  std::string href = html.substr(at, html.find('"', at) - at);
  size_t amp;
  while ((amp = href.find("&amp;")) != std::string::npos) href.replace(amp, 5, "&");
  auto form = Call(MakeRequest("GET", href, "", {{"Cookie", page.cookie}}));
  ASSERT_EQ(form.status, 200) << form.body;
  EXPECT_NE(form.body.find("<label for=\"login\">Corporate user name</label>"), std::string::npos);
  EXPECT_NE(form.body.find("action=\"/dex/auth/corp\""), std::string::npos);
  LoginPage ldap_page{form, FormValue(form.body, "req"), FormValue(form.body, "csrf"), page.cookie};
  int blocking_before = blocking_.posted;
  auto r = Submit(ldap_page, "alice", "alice-pw", "corp");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_GT(blocking_.posted, blocking_before) << "LDAP runs on the blocking pool";
  EXPECT_NE(r.body.find("unavailable"), std::string::npos);
  // The static users still work from the same chooser.
  auto local = Submit(LoginPage{form, ldap_page.req, ldap_page.csrf, page.cookie},
                      "admin@example.com", "password", "local");
  EXPECT_EQ(local.status, 303) << local.body;
}

TEST_F(ProviderTest, RefreshChecksTheUserAgainAndUpdatesGroups) {
  std::map<std::string, std::string> auth = {{"Authorization", Basic("app", kSecret)}};
  std::string loc = LoginRedirect(AuthUrl("app", kAppCb));
  auto t = TokenCall({{"grant_type", "authorization_code"},
                      {"code", QueryValue(loc, "code")},
                      {"redirect_uri", kAppCb}},
                     auth);
  std::string refresh = GetString(Json(t), "refresh_token");
  ASSERT_FALSE(refresh.empty());

  // The administrator changes the user's groups: the next refresh carries them.
  json::object c = BaseConfig();
  c["staticPasswords"].as_array()[0].as_object()["groups"] = json::array{"validators"};
  Start(c);
  auto r = TokenCall({{"grant_type", "refresh_token"}, {"refresh_token", refresh}}, auth);
  ASSERT_EQ(r.status, 200) << r.body;
  refresh = GetString(Json(r), "refresh_token");
  auto id = jose::Parse(GetString(Json(r), "id_token"));
  ASSERT_TRUE(id);
  EXPECT_EQ(Serialize(id->payload["groups"]), "[\"validators\"]");

  // The user is removed: the refresh token stops working (and is deleted).
  json::object other = c;
  auto& user = other["staticPasswords"].as_array()[0].as_object();
  user["email"] = "someone-else@example.com";
  user["userID"] = "another-id";
  Start(other);
  auto gone = TokenCall({{"grant_type", "refresh_token"}, {"refresh_token", refresh}}, auth);
  EXPECT_EQ(gone.status, 400);
  EXPECT_EQ(GetString(Json(gone), "error"), "invalid_grant");
  auto list = store_->List("refreshtokens.identity.skiff.dev", {});
  ASSERT_TRUE(list);
  EXPECT_TRUE(list->items.empty());
}

// Arbitrary queries, forms and headers always get one well-formed answer, never a crash or a
// redirect to an unregistered place.
TEST_F(ProviderTest, RandomInputsAlwaysGetAnAnswer) {
  std::mt19937 rng(42);
  const std::string alphabet = "abc=&%+;:/?#[]@!$'()*,.-_~0123456789AF\\\"<> \x01\xc3\xa9\xff";
  auto junk = [&](size_t max) {
    std::string out;
    size_t n = rng() % max;
    for (size_t i = 0; i < n; i++) out += alphabet[rng() % alphabet.size()];
    return out;
  };
  const std::vector<std::string> params = {"client_id=app",
                                           "client_id=cli",
                                           "redirect_uri=" + http::PercentEncode(kAppCb),
                                           "response_type=code",
                                           "scope=openid",
                                           "code_challenge_method=S256",
                                           "grant_type=refresh_token",
                                           "grant_type=authorization_code",
                                           "code=x",
                                           "req=y"};
  const std::vector<std::string> paths = {
      "/dex/auth",      "/dex/auth/local",
      "/dex/auth/nope", "/dex/token",
      "/dex/userinfo",  "/dex/keys",
      "/dex/x",         "/dex/.well-known/openid-configuration"};
  for (int i = 0; i < 3000; i++) {
    std::string query;
    for (int k = rng() % 5; k > 0; k--) {
      query += (query.empty() ? "" : "&") + (rng() % 2 ? params[rng() % params.size()] : junk(20));
    }
    std::string body;
    for (int k = rng() % 5; k > 0; k--) {
      body += (body.empty() ? "" : "&") + (rng() % 2 ? params[rng() % params.size()] : junk(20));
    }
    std::string method = rng() % 2 ? "GET" : "POST";
    std::string target = paths[rng() % paths.size()] + (query.empty() ? "" : "?" + query);
    std::map<std::string, std::string> headers;
    if (rng() % 3 == 0) headers["Authorization"] = (rng() % 2 ? "Basic " : "Bearer ") + junk(40);
    if (rng() % 3 == 0) headers["Cookie"] = "skiff_idp_browser=" + junk(50);
    auto r = Call(MakeRequest(method, target, body, headers));
    EXPECT_GE(r.status, 200) << target;
    EXPECT_LT(r.status, 600) << target;
    if (auto loc = r.headers.Get("Location")) {
      EXPECT_TRUE(loc->starts_with(kAppCb) || loc->starts_with(kPublicCb)) << *loc;
    }
  }
}

}  // namespace
}  // namespace skiff::identity
