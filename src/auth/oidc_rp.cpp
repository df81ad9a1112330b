#include "auth/oidc_rp.hpp"

#include "core/crypto.hpp"
#include "core/log.hpp"
#include "http/client.hpp"

namespace skiff::auth {

namespace {

std::string WithQuery(const std::string& url, const std::string& query) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + query;
}

std::string TrimSlash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

}  // namespace

Result<ProviderMetadata> DiscoverProvider(const std::string& issuer, const std::string& ca_file) {
  http::ClientRequest req;
  req.url = TrimSlash(issuer) + "/.well-known/openid-configuration";
  req.ca_file = ca_file;
  req.timeout = std::chrono::seconds(10);
  req.max_response_bytes = 1 << 20;
  req.headers.Set("Accept", "application/json");
  auto resp = http::Fetch(req);
  if (!resp) return Unavailable("OIDC discovery at " + req.url + ": " + resp.error().message());
  if (resp->status != 200) {
    return Unavailable("OIDC discovery at " + req.url + " answered " +
                       std::to_string(resp->status));
  }
  auto doc = ParseJsonObject(resp->body);
  if (!doc) return Unavailable("OIDC discovery at " + req.url + ": " + doc.error().message());
  ProviderMetadata m;
  m.issuer = GetString(*doc, "issuer");
  m.authorization_endpoint = GetString(*doc, "authorization_endpoint");
  m.token_endpoint = GetString(*doc, "token_endpoint");
  m.end_session_endpoint = GetString(*doc, "end_session_endpoint");
  m.jwks_uri = GetString(*doc, "jwks_uri");
  if (m.issuer != issuer) {
    return Unavailable("OIDC discovery at " + req.url + ": issuer \"" + m.issuer +
                       "\" differs from the configured \"" + issuer + "\"");
  }
  if (m.authorization_endpoint.empty() || m.token_endpoint.empty() || m.jwks_uri.empty()) {
    return Unavailable("OIDC discovery at " + req.url +
                       ": authorization_endpoint, token_endpoint or jwks_uri missing");
  }
  return m;
}

OidcRelyingParty::OidcRelyingParty(OidcConfig config, IdTokenVerifier verifier, Clock& clock,
                                   std::vector<Cidr> trusted_proxies, Discoverer discoverer,
                                   TokenPoster poster)
    : config_(std::move(config)),
      verifier_(std::move(verifier)),
      clock_(clock),
      trusted_proxies_(std::move(trusted_proxies)),
      discoverer_(std::move(discoverer)),
      poster_(std::move(poster)) {
  if (!discoverer_) {
    discoverer_ = [issuer = config_.issuer, ca = config_.ca_file] {
      return DiscoverProvider(issuer, ca);
    };
  }
  if (!poster_) {
    poster_ = [ca = config_.ca_file](
                  const std::string& url, const http::HeaderMap& headers,
                  const std::string& body) -> Result<std::pair<int, std::string>> {
      http::ClientRequest req;
      req.method = "POST";
      req.url = url;
      req.headers = headers;
      req.body = body;
      req.ca_file = ca;
      req.timeout = std::chrono::seconds(15);
      req.max_response_bytes = 1 << 20;
      SKIFF_ASSIGN_OR_RETURN(http::ClientResponse resp, http::Fetch(req));
      return std::make_pair(resp.status, std::move(resp.body));
    };
  }
}

std::optional<ProviderMetadata> OidcRelyingParty::CachedMetadata() const {
  std::lock_guard lock(meta_mu_);
  return metadata_;
}

Result<ProviderMetadata> OidcRelyingParty::Metadata() {
  if (auto m = CachedMetadata()) return *m;
  SKIFF_ASSIGN_OR_RETURN(ProviderMetadata m, discoverer_());
  std::lock_guard lock(meta_mu_);
  metadata_ = m;
  return m;
}

bool OidcRelyingParty::Secure(const http::Request& req) const {
  return IsSecureRequest(req, trusted_proxies_);
}

std::string OidcRelyingParty::RedirectUri(const http::Request& req) const {
  if (!config_.redirect_url.empty()) return config_.redirect_url;
  return RequestOrigin(req, trusted_proxies_) + config_.callback_path;
}

void OidcRelyingParty::SweepLocked() {
  auto now = clock_.Steady();
  for (auto it = pending_.begin(); it != pending_.end();) {
    it = it->second.expires <= now ? pending_.erase(it) : std::next(it);
  }
  for (auto it = used_nonces_.begin(); it != used_nonces_.end();) {
    it = it->second <= now ? used_nonces_.erase(it) : std::next(it);
  }
}

http::Response OidcRelyingParty::StartLogin(const http::Request& req, std::string_view return_to) {
  auto meta = CachedMetadata();
  if (!meta) return http::Response::Text(503, "login provider not reachable yet\n");
  std::string target = SafeLocalTarget(return_to).value_or("/");
  // One pre-login cookie per browser, reused so that logins started in two tabs both work.
  std::string cookie = CookieValue(req.headers, kPreLoginCookie).value_or("");
  bool new_cookie = cookie.size() != 43;  // RandomToken(32) length
  if (new_cookie) cookie = RandomToken(32);
  Pending p;
  p.binding = Sha256(cookie);
  p.nonce = RandomToken(32);
  p.verifier = RandomToken(32);
  p.return_to = target;
  p.redirect_uri = RedirectUri(req);
  p.expires = clock_.Steady() + config_.login_ttl;
  std::string state = RandomToken(32);
  std::string challenge = Base64UrlEncode(Sha256(p.verifier));
  std::string query = "response_type=code&client_id=" + UrlEncode(config_.client_id) +
                      "&redirect_uri=" + UrlEncode(p.redirect_uri) +
                      "&scope=" + UrlEncode(config_.scopes) + "&state=" + UrlEncode(state) +
                      "&nonce=" + UrlEncode(p.nonce) + "&code_challenge=" + challenge +
                      "&code_challenge_method=S256";
  {
    std::lock_guard lock(mu_);
    SweepLocked();
    if (pending_.size() >= config_.max_pending) {
      // Full (a flood of unauthenticated page loads): drop the oldest started login rather
      // than refuse new ones, so real users can always start one.
      auto oldest = pending_.begin();
      for (auto it = pending_.begin(); it != pending_.end(); ++it) {
        if (it->second.expires < oldest->second.expires) oldest = it;
      }
      pending_.erase(oldest);
    }
    pending_.emplace(state, std::move(p));
  }
  http::Response r = http::Response::Text(302, "");
  r.headers.Set("Location", WithQuery(meta->authorization_endpoint, query));
  r.headers.Set("Cache-Control", "no-store");
  if (new_cookie) {
    CookieAttributes a;
    a.secure = Secure(req);
    a.max_age = config_.login_ttl;
    r.headers.Add("Set-Cookie", SetCookie(kPreLoginCookie, cookie, a));
  }
  return r;
}

Result<LoginResult> OidcRelyingParty::FinishLogin(const http::Request& req) {
  if (auto err = req.Query("error")) {
    return Unauthenticated("the provider refused the login: " + err->substr(0, 100));
  }
  auto state = req.Query("state");
  auto code = req.Query("code");
  if (!state || state->empty() || !code || code->empty()) {
    return InvalidArgument("callback without state or code");
  }
  auto cookie = CookieValue(req.headers, kPreLoginCookie);
  Pending p;
  {
    std::lock_guard lock(mu_);
    SweepLocked();
    auto it = pending_.find(*state);
    if (it == pending_.end()) return Unauthenticated("unknown, expired or already used state");
    // Single use: whatever happens next, this state is spent.
    p = std::move(it->second);
    pending_.erase(it);
  }
  if (!cookie || !ConstantTimeEquals(Sha256(*cookie), p.binding)) {
    return Unauthenticated(
        "state is not bound to this browser (pre-login cookie missing or "
        "different)");
  }
  SKIFF_ASSIGN_OR_RETURN(ProviderMetadata meta, Metadata());
  http::HeaderMap headers;
  headers.Set("Content-Type", "application/x-www-form-urlencoded");
  headers.Set("Accept", "application/json");
  std::string body = "grant_type=authorization_code&code=" + UrlEncode(*code) +
                     "&redirect_uri=" + UrlEncode(p.redirect_uri) +
                     "&code_verifier=" + UrlEncode(p.verifier);
  if (config_.auth_method == "client_secret_post" || config_.client_secret.empty()) {
    body += "&client_id=" + UrlEncode(config_.client_id);
    if (!config_.client_secret.empty())
      body += "&client_secret=" + UrlEncode(config_.client_secret);
  } else {
    // RFC 6749 2.3.1: form-encode the id and secret before base64.
    headers.Set("Authorization", "Basic " + Base64Encode(UrlEncode(config_.client_id) + ":" +
                                                         UrlEncode(config_.client_secret)));
  }
  auto posted = poster_(meta.token_endpoint, headers, body);
  if (!posted) return Unavailable("token endpoint: " + posted.error().message());
  auto doc = ParseJsonObject(posted->second);
  if (posted->first != 200 || !doc) {
    std::string error = doc ? GetString(*doc, "error") : std::string("not JSON");
    return Unauthenticated("token endpoint answered " + std::to_string(posted->first) + " (" +
                           error.substr(0, 100) + ")");
  }
  std::string id_token = GetString(*doc, "id_token");
  if (id_token.empty()) return Unauthenticated("token response without id_token");
  SKIFF_ASSIGN_OR_RETURN(json::object claims, verifier_(id_token));
  std::string nonce = GetString(claims, "nonce");
  if (nonce.empty() || !ConstantTimeEquals(nonce, p.nonce)) {
    return Unauthenticated("ID token nonce does not match the login");
  }
  {
    std::lock_guard lock(mu_);
    if (!used_nonces_.emplace(nonce, clock_.Steady() + config_.login_ttl * 2).second) {
      return Unauthenticated("ID token nonce already used");
    }
  }
  LoginResult result;
  result.claims = std::move(claims);
  result.id_token = std::move(id_token);
  result.return_to = p.return_to;
  return result;
}

std::string OidcRelyingParty::EndSessionUrl(const http::Request& req,
                                            std::string_view id_token_hint) const {
  auto meta = CachedMetadata();
  if (!meta || meta->end_session_endpoint.empty()) return {};
  std::string back = config_.post_logout_redirect_url.empty()
                         ? RequestOrigin(req, trusted_proxies_) + "/"
                         : config_.post_logout_redirect_url;
  std::string query =
      "client_id=" + UrlEncode(config_.client_id) + "&post_logout_redirect_uri=" + UrlEncode(back);
  if (!id_token_hint.empty()) query += "&id_token_hint=" + UrlEncode(id_token_hint);
  return WithQuery(meta->end_session_endpoint, query);
}

}  // namespace skiff::auth
