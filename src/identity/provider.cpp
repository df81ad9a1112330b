// The built-in OIDC provider: request handling (identity.hpp lists the endpoints).
//
// State: in-progress authorization requests and authorization codes live in memory (losing
// them on restart only means logging in again); refresh tokens live in the store under
// "refreshtokens.identity.skiff.dev", named by the hex SHA-256 of the token (never the token),
// labelled with the grant they descend from so that a replayed code revokes them (RFC 6749
// 4.1.2, RFC 9700 4.5).

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>

#include "core/crypto.hpp"
#include "core/log.hpp"
#include "identity/config.hpp"
#include "identity/html.hpp"
#include "identity/identity.hpp"
#include "identity/keys.hpp"
#include "identity/throttle.hpp"
#include "store/store.hpp"

namespace skiff::identity {

namespace jose = auth::jose;
using std::chrono::system_clock;

namespace {

constexpr std::string_view kRefreshResource = "refreshtokens.identity.skiff.dev";
constexpr std::string_view kGrantLabel = "identity.skiff.dev/grant";
constexpr std::string_view kBrowserCookie = "skiff_idp_browser";
constexpr size_t kMaxPendingRequests = 10'000;
constexpr size_t kMaxCodes = 10'000;

int64_t Unix(system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

std::string HashHex(std::string_view secret) { return HexEncode(Sha256(secret)); }

// application/x-www-form-urlencoded (also query strings). A repeated parameter is an error
// (RFC 6749 3.1: "parameters MUST NOT be included more than once").
Result<std::map<std::string, std::string, std::less<>>> ParseForm(std::string_view text) {
  std::map<std::string, std::string, std::less<>> out;
  while (!text.empty()) {
    size_t amp = text.find('&');
    std::string_view pair = text.substr(0, amp);
    text = amp == text.npos ? std::string_view() : text.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    auto name = http::PercentDecode(pair.substr(0, eq), true);
    auto value = http::PercentDecode(eq == pair.npos ? "" : pair.substr(eq + 1), true);
    if (!name || !value) return InvalidArgument("malformed percent-encoding");
    if (out.contains(*name)) return InvalidArgument("parameter " + *name + " given more than once");
    out.emplace(std::move(*name), std::move(*value));
  }
  return out;
}

std::string Param(const std::map<std::string, std::string, std::less<>>& form,
                  std::string_view name) {
  auto it = form.find(name);
  return it == form.end() ? std::string() : it->second;
}

std::vector<std::string> SplitSpaces(std::string_view s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find(' ', i);
    if (j == s.npos) j = s.size();
    if (j > i) {
      std::string w(s.substr(i, j - i));
      if (std::find(out.begin(), out.end(), w) == out.end()) out.push_back(std::move(w));
    }
    i = j + 1;
  }
  return out;
}

std::string JoinSpaces(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out;
}

bool Contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

http::Response OAuthError(int status, std::string_view error, std::string_view description) {
  json::object o;
  o["error"] = error;
  if (!description.empty()) o["error_description"] = description;
  auto r = http::Response::Json(status, Serialize(o));
  r.headers.Set("Cache-Control", "no-store");
  r.headers.Set("Pragma", "no-cache");
  return r;
}

http::Response Html(int status, std::string body) {
  http::Response r;
  r.status = status;
  r.headers.Set("Content-Type", "text/html; charset=utf-8");
  r.headers.Set("Cache-Control", "no-store");
  r.headers.Set("X-Frame-Options", "DENY");
  // No form-action: browsers apply it to the redirect that follows the login post, which goes
  // to the application's (other) origin.
  r.headers.Set("Content-Security-Policy",
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'");
  r.headers.Set("Referrer-Policy", "no-referrer");
  r.body = std::move(body);
  return r;
}

http::Response Redirect(int status, const std::string& location) {
  http::Response r;
  r.status = status;
  r.headers.Set("Location", location);
  r.headers.Set("Cache-Control", "no-store");
  return r;
}

std::string AddParams(std::string uri, const std::vector<std::pair<std::string, std::string>>& ps) {
  char sep = uri.find('?') == std::string::npos ? '?' : '&';
  for (const auto& [k, v] : ps) {
    uri += sep;
    uri += http::PercentEncode(k) + "=" + http::PercentEncode(v);
    sep = '&';
  }
  return uri;
}

std::optional<std::string> Cookie(const http::Request& req, std::string_view name) {
  for (auto header : req.headers.GetAll("Cookie")) {
    while (!header.empty()) {
      size_t semi = header.find(';');
      std::string_view part = header.substr(0, semi);
      header = semi == header.npos ? std::string_view() : header.substr(semi + 1);
      while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
      size_t eq = part.find('=');
      if (eq != part.npos && part.substr(0, eq) == name) return std::string(part.substr(eq + 1));
    }
  }
  return std::nullopt;
}

std::string AddressOf(const std::string& remote) {
  if (!remote.empty() && remote.front() == '[') return remote.substr(0, remote.find(']') + 1);
  size_t colon = remote.rfind(':');
  return colon == remote.npos ? remote : remote.substr(0, colon);
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

void AppendVarint(std::string& out, size_t n) {
  while (n >= 0x80) {
    out += static_cast<char>((n & 0x7f) | 0x80);
    n >>= 7;
  }
  out += static_cast<char>(n);
}

// Dex's subject: base64url (no padding) of the protobuf IDTokenSubject{user_id = 1,
// conn_id = 2}, so that `sub` equals what Dex would issue for the same user.
std::string Subject(const Identity& id) {
  std::string pb;
  pb += '\x0a';
  AppendVarint(pb, id.user_id.size());
  pb += id.user_id;
  pb += '\x12';
  AppendVarint(pb, id.connector_id.size());
  pb += id.connector_id;
  return Base64UrlEncode(pb);
}

bool ValidPkceValue(std::string_view v) {
  if (v.size() < 43 || v.size() > 128) return false;
  return std::all_of(v.begin(), v.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' ||
           c == '~';
  });
}

struct AuthRequest {
  std::string client_id;
  std::string redirect_uri;
  std::string state;
  std::string nonce;
  std::vector<std::string> scopes;
  std::string code_challenge;  // S256 only
  std::string connector_id;    // pinned by connector_id=, else any
  std::string csrf_hash;       // of the form's csrf field
  std::string browser_hash;    // of the browser cookie
  system_clock::time_point expires;
};

struct CodeGrant {
  std::string client_id;
  std::string redirect_uri;
  std::string nonce;
  std::vector<std::string> scopes;
  std::string code_challenge;
  Identity identity;
  system_clock::time_point auth_time;
  system_clock::time_point expires;
  bool used = false;
  std::string grant_id;  // label value on refresh tokens issued from this code
};

class ProviderImpl final : public Provider {
 public:
  ProviderImpl(ProviderOptions o, Config c, std::unique_ptr<KeyManager> keys)
      : opts_(std::move(o)),
        config_(std::move(c)),
        clock_(*opts_.clock),
        keys_(std::move(keys)),
        throttle_(clock_, config_.backoff_after, config_.backoff_max),
        issuer_(opts_.issuer) {
    mount_path_ = opts_.mount_path;
  }

  void Handle(http::Request& req, http::Responder respond) override;
  void SetIssuer(std::string issuer) override {
    while (!issuer.empty() && issuer.back() == '/') issuer.pop_back();
    std::lock_guard lock(mu_);
    issuer_ = std::move(issuer);
  }
  std::string issuer() const override {
    std::lock_guard lock(mu_);
    return issuer_;
  }
  std::shared_ptr<const jose::KeySet> PublicKeys() const override {
    return keys_->Current()->public_keys;
  }
  std::vector<std::string> ClientIds() const override {
    std::vector<std::string> ids;
    for (const auto& c : config_.clients) ids.push_back(c.id);
    return ids;
  }
  Result<json::object> VerifyToken(std::string_view token) const override;
  Status RotateKeysIfDue() override { return keys_->RotateIfDue(); }

  Status SweepStore();

 private:
  void Discovery(const std::string& issuer, http::Responder respond) const;
  void Keys(http::Responder respond) const;
  void Authorize(http::Request& req, http::Responder respond);
  void LoginForm(http::Request& req, const std::string& connector_id, http::Responder respond);
  void LoginPost(http::Request& req, const std::string& connector_id, http::Responder respond);
  void FinishLogin(std::string request_id, Result<Identity> result, std::string throttle_user,
                   std::string address, std::string login, std::string csrf,
                   http::Responder respond);
  http::Response Token(const http::Request& req);
  http::Response TokenFromCode(const Client& client,
                               const std::map<std::string, std::string, std::less<>>& form);
  http::Response TokenFromRefresh(const Client& client,
                                  const std::map<std::string, std::string, std::less<>>& form);
  Result<http::Response> Mint(const Client& client, const Identity& identity,
                              const std::vector<std::string>& scopes, const std::string& nonce,
                              system_clock::time_point auth_time, const std::string& grant_id,
                              std::optional<store::Mutation> retire);
  void UserInfo(const http::Request& req, http::Responder respond) const;
  http::Response LoginPage(const AuthRequest& ar, const std::string& request_id,
                           const Connector& conn, std::string csrf, int status, std::string error,
                           std::string username) const;
  void Maintain();
  void RevokeGrant(const std::string& grant_id);

  ProviderOptions opts_;
  const Config config_;
  const Clock& clock_;
  std::unique_ptr<KeyManager> keys_;
  LoginThrottle throttle_;
  std::atomic<bool> rotating_{false};
  std::atomic<bool> sweeping_{false};

  mutable std::mutex mu_;  // guards issuer_, requests_, codes_, next_sweep_, next_cleanup_
  std::string issuer_;
  std::map<std::string, AuthRequest> requests_;  // by request id (not secret: in the page)
  std::map<std::string, CodeGrant> codes_;       // by hex SHA-256 of the code
  system_clock::time_point next_sweep_{};
  system_clock::time_point next_cleanup_{};
};

void ProviderImpl::Maintain() {
  auto now = clock_.Now();
  bool sweep = false;
  {
    std::lock_guard lock(mu_);
    // Expired requests and codes are also refused on use; this only bounds memory, so once
    // a second is enough.
    if (now >= next_cleanup_) {
      std::erase_if(requests_, [&](const auto& kv) { return kv.second.expires <= now; });
      std::erase_if(codes_, [&](const auto& kv) { return kv.second.expires <= now; });
      next_cleanup_ = now + std::chrono::seconds(1);
    }
    if (now >= next_sweep_) {
      next_sweep_ = now + std::chrono::minutes(10);
      sweep = true;
    }
  }
  if (keys_->RotationDue() && !rotating_.exchange(true)) {
    opts_.blocking->Post([this] {
      if (Status s = keys_->RotateIfDue(); !s.ok()) {
        spdlog::error("identity: key rotation failed: {}", s.ToString());
      }
      rotating_ = false;
    });
  }
  if (sweep && !sweeping_.exchange(true)) {
    opts_.blocking->Post([this] {
      if (Status s = SweepStore(); !s.ok()) {
        spdlog::warn("identity: cannot expire refresh tokens: {}", s.ToString());
      }
      sweeping_ = false;
    });
  }
}

Status ProviderImpl::SweepStore() {
  store::ListOptions lo;
  SKIFF_ASSIGN_OR_RETURN(auto list, opts_.store->List(std::string(kRefreshResource), lo));
  int64_t now = Unix(clock_.Now());
  for (const auto& obj : list.items) {
    const json::value* exp = Find(obj.object, "spec.expiresAt");
    if (exp && exp->is_int64() && exp->as_int64() <= now) {
      auto r = opts_.store->Delete(obj.key, obj.resource_version);
      (void)r;  // a concurrent refresh may have replaced it
    }
  }
  return Status::Ok();
}

void ProviderImpl::Handle(http::Request& req, http::Responder respond) {
  std::string issuer = this->issuer();
  if (issuer.empty()) {
    respond(OAuthError(503, "temporarily_unavailable", "the issuer URL is not known yet"));
    return;
  }
  Maintain();
  std::string_view sub = req.path;
  if (sub.substr(0, mount_path_.size()) != mount_path_) {
    respond(OAuthError(404, "not_found", ""));
    return;
  }
  sub.remove_prefix(mount_path_.size());
  const std::string& m = req.method;
  bool get = m == "GET" || m == "HEAD";
  auto method_not_allowed = [&](std::string_view allow) {
    auto r = OAuthError(405, "invalid_request", "method not allowed");
    r.headers.Set("Allow", allow);
    respond(std::move(r));
  };
  if (sub == "/.well-known/openid-configuration") {
    if (!get) return method_not_allowed("GET, HEAD");
    return Discovery(issuer, std::move(respond));
  }
  if (sub == "/keys") {
    if (!get) return method_not_allowed("GET, HEAD");
    return Keys(std::move(respond));
  }
  if (sub == "/auth" || sub == "/auth/") {
    if (!get) return method_not_allowed("GET, HEAD");
    return Authorize(req, std::move(respond));
  }
  if (sub.starts_with("/auth/")) {
    std::string conn(sub.substr(6));
    if (get) return LoginForm(req, conn, std::move(respond));
    if (m == "POST") return LoginPost(req, conn, std::move(respond));
    return method_not_allowed("GET, HEAD, POST");
  }
  if (sub == "/token") {
    if (m != "POST") return method_not_allowed("POST");
    // Client secrets are compared, tokens signed and refresh tokens stored: off the I/O thread.
    auto shared = std::make_shared<http::Request>(std::move(req));
    req.route = shared->route;
    opts_.blocking->Post([this, shared, respond = std::move(respond)] { respond(Token(*shared)); });
    return;
  }
  if (sub == "/userinfo") {
    if (!get && m != "POST") return method_not_allowed("GET, HEAD, POST");
    return UserInfo(req, std::move(respond));
  }
  respond(OAuthError(404, "not_found", "no such endpoint"));
}

void ProviderImpl::Discovery(const std::string& issuer, http::Responder respond) const {
  json::object d;
  d["issuer"] = issuer;
  d["authorization_endpoint"] = issuer + "/auth";
  d["token_endpoint"] = issuer + "/token";
  d["jwks_uri"] = issuer + "/keys";
  d["userinfo_endpoint"] = issuer + "/userinfo";
  d["response_types_supported"] = json::array{"code"};
  d["response_modes_supported"] = json::array{"query"};
  d["grant_types_supported"] = json::array{"authorization_code", "refresh_token"};
  d["subject_types_supported"] = json::array{"public"};
  d["id_token_signing_alg_values_supported"] =
      json::array{std::string(jose::AlgName(config_.signing_alg))};
  d["code_challenge_methods_supported"] = json::array{"S256"};
  d["scopes_supported"] = json::array{"openid", "email", "profile", "groups", "offline_access"};
  d["token_endpoint_auth_methods_supported"] =
      json::array{"client_secret_basic", "client_secret_post", "none"};
  d["claims_supported"] = json::array{"iss",   "sub",
                                      "aud",   "exp",
                                      "iat",   "auth_time",
                                      "nonce", "at_hash",
                                      "email", "email_verified",
                                      "name",  "preferred_username",
                                      "groups"};
  auto r = http::Response::Json(200, Serialize(d));
  r.headers.Set("Cache-Control", "public, max-age=300");
  respond(std::move(r));
}

void ProviderImpl::Keys(http::Responder respond) const {
  auto r = http::Response::Json(200, Serialize(PublicKeys()->ToJwks()));
  // Short: after a rotation new tokens carry a new kid at once; verifiers refetch on an
  // unknown kid, and others within a minute.
  r.headers.Set("Cache-Control", "public, max-age=60");
  respond(std::move(r));
}

void ProviderImpl::Authorize(http::Request& req, http::Responder respond) {
  auto q = ParseForm(req.raw_query);
  if (!q) {
    return respond(Html(400, RenderError("Invalid login request", q.error().message())));
  }
  std::string client_id = Param(*q, "client_id");
  const Client* client = config_.FindClient(client_id);
  if (client == nullptr) {
    return respond(Html(400, RenderError("Invalid login request",
                                         "The application (client_id) is not registered.")));
  }
  std::string redirect_uri = Param(*q, "redirect_uri");
  // Exact string comparison (RFC 9700 2.1): never a prefix, never a redirect elsewhere.
  if (!Contains(client->redirect_uris, redirect_uri)) {
    return respond(Html(400, RenderError("Invalid login request",
                                         "The redirect_uri is not registered for this "
                                         "application.")));
  }
  std::string state = Param(*q, "state");
  auto fail = [&](std::string_view error, std::string_view description) {
    std::vector<std::pair<std::string, std::string>> ps = {
        {"error", std::string(error)}, {"error_description", std::string(description)}};
    if (!state.empty()) ps.emplace_back("state", state);
    respond(Redirect(302, AddParams(redirect_uri, ps)));
  };
  if (Param(*q, "response_type") != "code") {
    return fail("unsupported_response_type", "only response_type=code is supported");
  }
  auto scopes = SplitSpaces(Param(*q, "scope"));
  if (!Contains(scopes, "openid")) return fail("invalid_scope", "the openid scope is required");
  for (const auto& s : scopes) {
    static const char* kKnown[] = {"openid", "email", "profile", "groups", "offline_access"};
    if (std::none_of(std::begin(kKnown), std::end(kKnown), [&](const char* k) { return s == k; })) {
      return fail("invalid_scope", "unknown scope \"" + s + "\"");
    }
  }
  // There is no single sign-on session to reuse: every authorization shows the login form, so
  // prompt=none can only fail (OIDC Core 3.1.2.6).
  if (Contains(SplitSpaces(Param(*q, "prompt")), "none")) {
    return fail("login_required", "the user must log in");
  }
  std::string challenge = Param(*q, "code_challenge");
  std::string method = Param(*q, "code_challenge_method");
  if (!challenge.empty()) {
    if (method != "S256") {
      return fail("invalid_request", "code_challenge_method must be S256 (plain is refused)");
    }
    if (!ValidPkceValue(challenge)) return fail("invalid_request", "malformed code_challenge");
  } else if (!method.empty()) {
    return fail("invalid_request", "code_challenge_method without code_challenge");
  } else if (client->is_public) {
    return fail("invalid_request", "PKCE (code_challenge with S256) is required for this client");
  }
  std::string connector_id = Param(*q, "connector_id");
  if (!connector_id.empty() && config_.FindConnector(connector_id) == nullptr) {
    return fail("invalid_request", "unknown connector_id");
  }
  if (config_.connectors.empty()) {
    return respond(Html(503, RenderError("Login unavailable",
                                         "No login method is configured (identity."
                                         "staticPasswords or identity.connectors).")));
  }
  std::string nonce = Param(*q, "nonce");
  if (nonce.size() > 512 || state.size() > 2048) {
    return fail("invalid_request", "state or nonce too long");
  }

  AuthRequest ar;
  ar.client_id = client->id;
  ar.redirect_uri = redirect_uri;
  ar.state = state;
  ar.nonce = nonce;
  ar.scopes = scopes;
  ar.code_challenge = challenge;
  ar.connector_id = connector_id;
  ar.expires = clock_.Now() + config_.login_ttl;
  std::string csrf = RandomToken(24);
  ar.csrf_hash = Sha256(csrf);
  std::optional<std::string> browser = Cookie(req, kBrowserCookie);
  bool new_browser = !browser || browser->size() != 43;
  if (new_browser) browser = RandomToken(32);
  ar.browser_hash = Sha256(*browser);
  std::string request_id = RandomToken(16);
  {
    std::lock_guard lock(mu_);
    if (requests_.size() >= kMaxPendingRequests) {
      return respond(Html(
          503, RenderError("Login unavailable", "Too many logins in progress; try again soon.")));
    }
    requests_[request_id] = ar;
  }
  http::Response r;
  const Connector* only = nullptr;
  if (!connector_id.empty()) {
    only = config_.FindConnector(connector_id);
  } else if (config_.connectors.size() == 1) {
    only = config_.connectors.front().get();
  }
  if (only != nullptr) {
    r = LoginPage(ar, request_id, *only, csrf, 200, "", "");
  } else {
    std::vector<ChooserEntry> entries;
    for (const auto& c : config_.connectors) {
      entries.push_back(
          {c->name(), mount_path_ + "/auth/" + c->id() + "?req=" + request_id + "&csrf=" + csrf});
    }
    r = Html(200, RenderChooser(entries));
  }
  bool secure = req.tls || this->issuer().starts_with("https://");
  if (new_browser) {
    r.headers.Add("Set-Cookie", std::string(kBrowserCookie) + "=" + *browser +
                                    "; Path=" + mount_path_ + "; HttpOnly; SameSite=Lax" +
                                    (secure ? "; Secure" : ""));
  }
  respond(std::move(r));
}

http::Response ProviderImpl::LoginPage(const AuthRequest& /*request*/,
                                       const std::string& request_id, const Connector& conn,
                                       std::string csrf, int status, std::string error,
                                       std::string username) const {
  identity::LoginPage p;
  p.action = mount_path_ + "/auth/" + conn.id();
  p.request_id = request_id;
  p.csrf = std::move(csrf);
  p.username_prompt = conn.username_prompt();
  p.username = std::move(username);
  p.error = std::move(error);
  return Html(status, RenderLogin(p));
}

void ProviderImpl::LoginForm(http::Request& req, const std::string& connector_id,
                             http::Responder respond) {
  const Connector* conn = config_.FindConnector(connector_id);
  auto req_id = req.Query("req");
  auto csrf = req.Query("csrf");
  if (conn == nullptr || !req_id || !csrf) {
    return respond(Html(404, RenderError("Not found", "No such login page.")));
  }
  AuthRequest ar;
  {
    std::lock_guard lock(mu_);
    auto it = requests_.find(*req_id);
    if (it == requests_.end() || !ConstantTimeEquals(Sha256(*csrf), it->second.csrf_hash)) {
      return respond(Html(400, RenderError("Login expired",
                                           "This login has expired. Start again from the "
                                           "application.")));
    }
    ar = it->second;
  }
  if (!ar.connector_id.empty() && ar.connector_id != conn->id()) {
    return respond(Html(400, RenderError("Invalid login request", "Wrong login method.")));
  }
  respond(LoginPage(ar, *req_id, *conn, *csrf, 200, "", ""));
}

void ProviderImpl::LoginPost(http::Request& req, const std::string& connector_id,
                             http::Responder respond) {
  const Connector* conn = config_.FindConnector(connector_id);
  if (conn == nullptr) return respond(Html(404, RenderError("Not found", "No such login page.")));
  auto form = ParseForm(req.body);
  if (!form) return respond(Html(400, RenderError("Invalid login request", "Malformed form.")));
  std::string request_id = Param(*form, "req");
  std::string csrf = Param(*form, "csrf");
  std::string login = Param(*form, "login");
  std::string password = Param(*form, "password");
  auto browser = Cookie(req, kBrowserCookie);
  AuthRequest ar;
  {
    std::lock_guard lock(mu_);
    auto it = requests_.find(request_id);
    bool ok = it != requests_.end() && ConstantTimeEquals(Sha256(csrf), it->second.csrf_hash) &&
              browser && ConstantTimeEquals(Sha256(*browser), it->second.browser_hash);
    if (!ok) {
      // Missing/expired request, forged form or another browser's form (login CSRF).
      return respond(Html(403, RenderError("Login expired",
                                           "This login form has expired or was not opened in "
                                           "this browser. Start again from the application.")));
    }
    ar = it->second;
  }
  if (!ar.connector_id.empty() && ar.connector_id != conn->id()) {
    return respond(Html(400, RenderError("Invalid login request", "Wrong login method.")));
  }
  if (login.empty() || login.size() > 256 || password.size() > 1024) {
    return respond(LoginPage(ar, request_id, *conn, csrf, 400,
                             "Enter your " + Lower(conn->username_prompt()) + ".",
                             login.substr(0, 256)));
  }
  if (password.empty()) {
    // Refused before any connector work: an empty LDAP password would be an anonymous bind.
    return respond(LoginPage(ar, request_id, *conn, csrf, 400, "Enter your password.", login));
  }
  std::string throttle_user = conn->id() + "\n" + Lower(login);
  std::string address = AddressOf(req.remote_addr);
  auto wait = throttle_.RetryAfter(throttle_user, address);
  if (wait.count() > 0) {
    auto r = LoginPage(
        ar, request_id, *conn, csrf, 429,
        "Too many failed attempts. Try again in " + std::to_string(wait.count()) + " seconds.",
        login);
    r.headers.Set("Retry-After", std::to_string(wait.count()));
    return respond(std::move(r));
  }
  auto task = [this, conn, request_id, login, password = std::move(password), throttle_user,
               address, csrf, respond = std::move(respond)]() mutable {
    Result<Identity> result = conn->Login(login, password);
    std::fill(password.begin(), password.end(), '\0');
    FinishLogin(std::move(request_id), std::move(result), std::move(throttle_user),
                std::move(address), std::move(login), std::move(csrf), std::move(respond));
  };
  if (conn->pool() == Connector::Pool::kCpu) {
    opts_.cpu->Post(std::move(task));
  } else {
    opts_.blocking->Post(std::move(task));
  }
}

void ProviderImpl::FinishLogin(std::string request_id, Result<Identity> result,
                               std::string throttle_user, std::string address, std::string login,
                               std::string csrf, http::Responder respond) {
  AuthRequest ar;
  {
    std::lock_guard lock(mu_);
    auto it = requests_.find(request_id);
    if (it == requests_.end()) {
      return respond(Html(400, RenderError("Login expired",
                                           "This login has expired. Start again from the "
                                           "application.")));
    }
    ar = it->second;
    if (result) requests_.erase(it);  // one code per authorization request
  }
  const Connector* conn = nullptr;
  if (!result) {
    conn = config_.FindConnector(throttle_user.substr(0, throttle_user.find('\n')));
  }
  if (!result) {
    const Status& s = result.error();
    if (s.code() == Code::kUnauthenticated) {
      throttle_.RecordFailure(throttle_user, address);
      spdlog::info("identity: failed login for connector {} from {}", conn->id(), address);
      return respond(
          LoginPage(ar, request_id, *conn, csrf, 401, "Invalid username or password.", login));
    }
    if (s.code() == Code::kInvalidArgument) {
      return respond(LoginPage(ar, request_id, *conn, csrf, 400, "Enter your password.", login));
    }
    spdlog::warn("identity: login backend error for connector {}: {}", conn->id(), s.ToString());
    return respond(LoginPage(ar, request_id, *conn, csrf, 503,
                             "The login service is unavailable. Try again later.", login));
  }
  throttle_.RecordSuccess(throttle_user);
  std::string code = RandomToken(32);
  CodeGrant g;
  g.client_id = ar.client_id;
  g.redirect_uri = ar.redirect_uri;
  g.nonce = ar.nonce;
  g.scopes = ar.scopes;
  g.code_challenge = ar.code_challenge;
  g.identity = std::move(*result);
  g.auth_time = clock_.Now();
  g.expires = g.auth_time + config_.auth_code_ttl;
  std::string hash = HashHex(code);
  g.grant_id = hash.substr(0, 32);
  {
    std::lock_guard lock(mu_);
    if (codes_.size() >= kMaxCodes) {
      return respond(Html(503, RenderError("Login unavailable", "Try again soon.")));
    }
    codes_[hash] = std::move(g);
  }
  std::vector<std::pair<std::string, std::string>> ps = {{"code", code}};
  if (!ar.state.empty()) ps.emplace_back("state", ar.state);
  respond(Redirect(303, AddParams(ar.redirect_uri, ps)));
}

http::Response ProviderImpl::Token(const http::Request& req) {
  auto ct = req.headers.Get("Content-Type");
  if (!ct || !Lower(*ct).starts_with("application/x-www-form-urlencoded")) {
    return OAuthError(400, "invalid_request", "use Content-Type application/x-www-form-urlencoded");
  }
  auto form = ParseForm(req.body);
  if (!form) return OAuthError(400, "invalid_request", form.error().message());

  // Client authentication (RFC 6749 2.3.1): Basic with form-encoded id and secret, or both in
  // the body; never both methods.
  std::string client_id = Param(*form, "client_id");
  std::string secret;
  bool basic = false;
  if (auto authz = req.headers.Get("Authorization")) {
    if (authz->size() > 6 && http::EqualsIgnoreCase(authz->substr(0, 6), "basic ")) {
      auto decoded = Base64Decode(authz->substr(6));
      size_t colon = decoded ? decoded->find(':') : std::string::npos;
      if (!decoded || colon == std::string::npos) {
        return OAuthError(401, "invalid_client", "malformed Basic credentials");
      }
      auto id = http::PercentDecode(decoded->substr(0, colon), true);
      auto sec = http::PercentDecode(decoded->substr(colon + 1), true);
      if (!id || !sec) return OAuthError(401, "invalid_client", "malformed Basic credentials");
      if (!client_id.empty() && client_id != *id) {
        return OAuthError(400, "invalid_request", "client_id differs from the Basic credentials");
      }
      if (form->contains("client_secret")) {
        return OAuthError(400, "invalid_request", "use one client authentication method");
      }
      client_id = *id;
      secret = *sec;
      basic = true;
    }
  }
  if (!basic) secret = Param(*form, "client_secret");
  const Client* client = config_.FindClient(client_id);
  auto invalid_client = [&] {
    auto r = OAuthError(401, "invalid_client", "client authentication failed");
    if (basic) r.headers.Set("WWW-Authenticate", "Basic realm=\"skiff identity\"");
    return r;
  };
  if (client == nullptr) return invalid_client();
  if (client->is_public) {
    if (!secret.empty()) return invalid_client();
  } else if (secret.empty() || !ConstantTimeEquals(Sha256(secret), Sha256(client->secret))) {
    return invalid_client();
  }

  std::string grant_type = Param(*form, "grant_type");
  if (grant_type == "authorization_code") return TokenFromCode(*client, *form);
  if (grant_type == "refresh_token") return TokenFromRefresh(*client, *form);
  if (grant_type.empty()) return OAuthError(400, "invalid_request", "grant_type is required");
  return OAuthError(400, "unsupported_grant_type", "supported: authorization_code, refresh_token");
}

void ProviderImpl::RevokeGrant(const std::string& grant_id) {
  store::ListOptions lo;
  auto sel = store::Selector::Parse(std::string(kGrantLabel) + "=" + grant_id);
  if (!sel) return;
  lo.label_selector = std::move(*sel);
  auto list = opts_.store->List(std::string(kRefreshResource), lo);
  if (!list) {
    spdlog::error("identity: cannot revoke refresh tokens of a replayed code: {}",
                  list.error().ToString());
    return;
  }
  for (const auto& obj : list->items) (void)opts_.store->Delete(obj.key, 0);
}

http::Response ProviderImpl::TokenFromCode(
    const Client& client, const std::map<std::string, std::string, std::less<>>& form) {
  std::string code = Param(form, "code");
  if (code.empty()) return OAuthError(400, "invalid_request", "code is required");
  std::string hash = HashHex(code);
  CodeGrant g;
  std::string replayed_grant;
  {
    std::lock_guard lock(mu_);
    auto it = codes_.find(hash);
    if (it == codes_.end() || it->second.expires <= clock_.Now()) {
      return OAuthError(400, "invalid_grant", "the code is invalid or expired");
    }
    if (it->second.client_id != client.id) {
      return OAuthError(400, "invalid_grant", "the code was issued to another client");
    }
    if (it->second.used) {
      replayed_grant = it->second.grant_id;
    } else {
      // Single use: marked before any other check can fail, so a guessed verifier cannot be
      // retried against the same code.
      it->second.used = true;
      g = it->second;
    }
  }
  if (!replayed_grant.empty()) {
    spdlog::warn(
        "identity: authorization code replayed by client {}; revoking the tokens "
        "issued from it",
        client.id);
    RevokeGrant(replayed_grant);
    return OAuthError(400, "invalid_grant", "the code has already been used");
  }
  if (Param(form, "redirect_uri") != g.redirect_uri) {
    return OAuthError(400, "invalid_grant", "redirect_uri differs from the authorization request");
  }
  std::string verifier = Param(form, "code_verifier");
  if (!g.code_challenge.empty()) {
    if (verifier.empty()) return OAuthError(400, "invalid_grant", "code_verifier is required");
    if (!ValidPkceValue(verifier) ||
        !ConstantTimeEquals(Base64UrlEncode(Sha256(verifier)), g.code_challenge)) {
      return OAuthError(400, "invalid_grant", "code_verifier does not match the code_challenge");
    }
  } else if (!verifier.empty()) {
    return OAuthError(400, "invalid_grant", "code_verifier sent but no code_challenge was");
  }
  auto r = Mint(client, g.identity, g.scopes, g.nonce, g.auth_time, g.grant_id, std::nullopt);
  if (!r) {
    spdlog::error("identity: cannot issue tokens: {}", r.error().ToString());
    return OAuthError(500, "server_error", "");
  }
  return std::move(*r);
}

http::Response ProviderImpl::TokenFromRefresh(
    const Client& client, const std::map<std::string, std::string, std::less<>>& form) {
  std::string token = Param(form, "refresh_token");
  if (token.empty()) return OAuthError(400, "invalid_request", "refresh_token is required");
  store::Key key{std::string(kRefreshResource), "", HashHex(token)};
  auto obj = opts_.store->Get(key);
  if (!obj) {
    if (obj.error().code() == Code::kNotFound) {
      return OAuthError(400, "invalid_grant", "the refresh token is invalid or was used");
    }
    spdlog::error("identity: refresh token lookup failed: {}", obj.error().ToString());
    return OAuthError(500, "server_error", "");
  }
  const json::object* spec = GetObject(obj->object, "spec");
  if (spec == nullptr) return OAuthError(400, "invalid_grant", "the refresh token is invalid");
  if (GetString(*spec, "clientID") != client.id) {
    return OAuthError(400, "invalid_grant", "the refresh token was issued to another client");
  }
  const json::value* exp = spec->if_contains("expiresAt");
  if (!exp || !exp->is_int64() || exp->as_int64() <= Unix(clock_.Now())) {
    (void)opts_.store->Delete(key, obj->resource_version);
    return OAuthError(400, "invalid_grant", "the refresh token has expired");
  }
  auto granted = SplitSpaces(GetString(*spec, "scope"));
  auto scopes = granted;
  if (auto requested = Param(form, "scope"); !requested.empty()) {
    scopes = SplitSpaces(requested);
    for (const auto& s : scopes) {
      if (!Contains(granted, s)) {
        return OAuthError(400, "invalid_scope", "scope \"" + s + "\" was not granted");
      }
    }
  }
  Identity identity;
  if (const json::object* id = GetObject(*spec, "identity")) identity = Identity::FromJson(*id);
  // The user is checked again at the connector (a user removed from the directory or the
  // configuration loses access at the next refresh) and gets current groups. This runs on the
  // blocking pool (Handle posted /token there).
  const Connector* conn = config_.FindConnector(identity.connector_id);
  if (conn == nullptr) {
    (void)opts_.store->Delete(key, obj->resource_version);
    return OAuthError(400, "invalid_grant", "the login method of this token is gone");
  }
  auto fresh = conn->Refresh(identity);
  if (!fresh) {
    if (fresh.error().code() == Code::kUnauthenticated) {
      (void)opts_.store->Delete(key, obj->resource_version);
      return OAuthError(400, "invalid_grant", "the user must log in again");
    }
    spdlog::warn("identity: refresh check at connector {} failed: {}", conn->id(),
                 fresh.error().ToString());
    return OAuthError(503, "temporarily_unavailable", "the login service is unavailable");
  }
  identity = std::move(*fresh);
  auto auth_time = system_clock::time_point(
      std::chrono::seconds(Find(*spec, "authTime") && Find(*spec, "authTime")->is_int64()
                               ? Find(*spec, "authTime")->as_int64()
                               : 0));
  store::Mutation retire{store::Mutation::Op::kDelete, key, {}, obj->resource_version};
  // Scopes of the new refresh token stay those originally granted.
  auto r =
      Mint(client, identity, scopes, "", auth_time, GetString(*spec, "grant"), std::move(retire));
  if (!r) {
    if (r.error().code() == Code::kAborted || r.error().code() == Code::kNotFound) {
      return OAuthError(400, "invalid_grant", "the refresh token was used concurrently");
    }
    spdlog::error("identity: cannot issue tokens: {}", r.error().ToString());
    return OAuthError(500, "server_error", "");
  }
  return std::move(*r);
}

Result<http::Response> ProviderImpl::Mint(const Client& client, const Identity& identity,
                                          const std::vector<std::string>& scopes,
                                          const std::string& nonce,
                                          system_clock::time_point auth_time,
                                          const std::string& grant_id,
                                          std::optional<store::Mutation> retire) {
  auto keys = keys_->Current();
  auto now = clock_.Now();
  int64_t iat = Unix(now);
  int64_t exp = Unix(now + config_.id_token_ttl);
  std::string iss = issuer();
  json::object user;
  user["email"] = identity.email;
  user["email_verified"] = identity.email_verified;
  user["name"] = identity.username;
  if (!identity.preferred_username.empty()) {
    user["preferred_username"] = identity.preferred_username;
  }
  json::array groups;
  for (const auto& g : identity.groups) groups.emplace_back(g);
  user["groups"] = std::move(groups);

  json::object at = user;
  at["iss"] = iss;
  at["sub"] = Subject(identity);
  at["aud"] = client.id;
  at["exp"] = exp;
  at["iat"] = iat;
  at["jti"] = RandomToken(16);
  at["scope"] = JoinSpaces(scopes);
  at["token_use"] = "access";
  at["client_id"] = client.id;
  SKIFF_ASSIGN_OR_RETURN(std::string access_token, jose::Sign(keys->signing, at));

  json::object id = user;
  id["iss"] = iss;
  id["sub"] = Subject(identity);
  id["aud"] = client.id;
  id["exp"] = exp;
  id["iat"] = iat;
  if (Unix(auth_time) > 0) id["auth_time"] = Unix(auth_time);
  if (!nonce.empty()) id["nonce"] = nonce;
  std::string digest = Sha256(access_token);  // SHA-256 for RS256 and ES256
  id["at_hash"] = Base64UrlEncode(digest.substr(0, digest.size() / 2));
  SKIFF_ASSIGN_OR_RETURN(std::string id_token, jose::Sign(keys->signing, id));

  json::object body;
  body["access_token"] = access_token;
  body["token_type"] = "Bearer";
  body["expires_in"] = exp - iat;
  body["id_token"] = id_token;
  body["scope"] = JoinSpaces(scopes);

  std::vector<store::Mutation> mutations;
  if (retire) mutations.push_back(std::move(*retire));
  if (Contains(scopes, "offline_access") || retire) {
    std::string refresh = RandomToken(32);
    std::string name = HashHex(refresh);
    json::object obj;
    obj["apiVersion"] = "identity.skiff.dev/v1";
    obj["kind"] = "RefreshToken";
    json::object meta;
    meta["name"] = name;
    json::object labels;
    if (!grant_id.empty()) labels[kGrantLabel] = grant_id;
    meta["labels"] = std::move(labels);
    obj["metadata"] = std::move(meta);
    json::object spec;
    spec["clientID"] = client.id;
    spec["scope"] = JoinSpaces(scopes);
    spec["identity"] = identity.ToJson();
    spec["grant"] = grant_id;
    spec["authTime"] = Unix(auth_time);
    spec["createdAt"] = iat;
    spec["expiresAt"] = Unix(now + config_.refresh_token_ttl);
    obj["spec"] = std::move(spec);
    mutations.push_back({store::Mutation::Op::kCreate,
                         {std::string(kRefreshResource), "", name},
                         std::move(obj),
                         0});
    body["refresh_token"] = refresh;
  }
  if (!mutations.empty()) {
    auto committed = opts_.store->Commit(std::move(mutations));
    if (!committed) return committed.error();
  }
  auto r = http::Response::Json(200, Serialize(body));
  r.headers.Set("Cache-Control", "no-store");
  r.headers.Set("Pragma", "no-cache");
  return r;
}

Result<json::object> ProviderImpl::VerifyToken(std::string_view token) const {
  jose::ParseOptions po;
  po.algorithms = {jose::Alg::kRS256, jose::Alg::kES256};
  SKIFF_ASSIGN_OR_RETURN(jose::Jws jws, jose::Parse(token, po));
  auto keys = PublicKeys();
  auto found = keys->Find(jws.kid);
  if (found.empty()) return Unauthenticated("unknown signing key");
  Status verified = Unauthenticated("signature does not verify");
  for (const jose::Key* k : found) {
    verified = jose::Verify(jws, *k);
    if (verified.ok()) break;
  }
  SKIFF_RETURN_IF_ERROR(verified);
  jose::ClaimsPolicy policy;
  policy.issuers = {issuer()};
  policy.audiences = ClientIds();
  SKIFF_RETURN_IF_ERROR(jose::ValidateClaims(jws.payload, policy, clock_.Now()));
  return std::move(jws.payload);
}

void ProviderImpl::UserInfo(const http::Request& req, http::Responder respond) const {
  auto fail = [&](std::string_view error, std::string_view description) {
    auto r = OAuthError(401, error, description);
    r.headers.Set("WWW-Authenticate", "Bearer error=\"" + std::string(error) + "\"");
    respond(std::move(r));
  };
  auto authz = req.headers.Get("Authorization");
  if (!authz || authz->size() < 8 || !http::EqualsIgnoreCase(authz->substr(0, 7), "bearer ")) {
    auto r = OAuthError(401, "invalid_request", "send the access token as a Bearer token");
    r.headers.Set("WWW-Authenticate", "Bearer");
    return respond(std::move(r));
  }
  auto claims = VerifyToken(authz->substr(7));
  if (!claims) return fail("invalid_token", claims.error().message());
  if (GetString(*claims, "token_use") != "access") {
    return fail("invalid_token", "not an access token");
  }
  json::object out;
  for (const char* k : {"sub", "email", "email_verified", "name", "preferred_username", "groups"}) {
    if (auto* v = claims->if_contains(k)) out[k] = *v;
  }
  auto r = http::Response::Json(200, Serialize(out));
  r.headers.Set("Cache-Control", "no-store");
  respond(std::move(r));
}

}  // namespace

Result<std::unique_ptr<Provider>> Provider::Create(ProviderOptions options) {
  if (options.data_dir.empty()) return InvalidArgument("identity: data_dir is required");
  if (options.store == nullptr || options.blocking == nullptr || options.cpu == nullptr) {
    return InvalidArgument("identity: store, blocking and cpu are required");
  }
  if (options.clock == nullptr) options.clock = &SystemClock();
  while (!options.mount_path.empty() && options.mount_path.back() == '/') {
    options.mount_path.pop_back();
  }
  if (options.mount_path.empty() || options.mount_path.front() != '/') {
    return InvalidArgument("identity.path: must start with '/' and not be the root");
  }
  while (!options.issuer.empty() && options.issuer.back() == '/') options.issuer.pop_back();
  if (!options.issuer.empty() && !options.issuer.starts_with("https://") &&
      !options.issuer.starts_with("http://")) {
    return InvalidArgument("identity.issuer: must be an http(s) URL");
  }
  SKIFF_ASSIGN_OR_RETURN(Config config, ParseConfig(options.config));
  SKIFF_ASSIGN_OR_RETURN(
      auto keys, KeyManager::Open(options.data_dir + "/identity", config.signing_alg,
                                  config.key_rotation, config.id_token_ttl, *options.clock));
  auto p = std::make_unique<ProviderImpl>(std::move(options), std::move(config), std::move(keys));
  if (Status s = p->SweepStore(); !s.ok()) {
    spdlog::warn("identity: cannot expire refresh tokens: {}", s.ToString());
  }
  return std::unique_ptr<Provider>(std::move(p));
}

}  // namespace skiff::identity
