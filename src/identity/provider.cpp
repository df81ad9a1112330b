// The built-in OIDC provider: routing, discovery, JWKS, /auth and the login form
// (identity.hpp lists the endpoints; provider_impl.hpp says where state lives).

#include <algorithm>

#include "core/crypto.hpp"
#include "core/log.hpp"
#include "identity/html.hpp"
#include "identity/provider_impl.hpp"

namespace skiff::identity {
namespace internal {

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
  // Exact string comparison (RFC 9700 2.1): never a prefix, never a redirect elsewhere; only a
  // native app's loopback redirect may vary its port (RFC 8252 7.3).
  if (!RedirectUriRegistered(client->redirect_uris, redirect_uri)) {
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

}  // namespace internal

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
  auto p = std::make_unique<internal::ProviderImpl>(std::move(options), std::move(config),
                                                    std::move(keys));
  if (Status s = p->SweepStore(); !s.ok()) {
    spdlog::warn("identity: cannot expire refresh tokens: {}", s.ToString());
  }
  return std::unique_ptr<Provider>(std::move(p));
}

}  // namespace skiff::identity
