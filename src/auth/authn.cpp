#include "auth/authn.hpp"

#include <algorithm>
#include <atomic>

#include "auth/csrf.hpp"
#include "auth/jwt.hpp"
#include "core/crypto.hpp"
#include "core/log.hpp"
#include "http/router.hpp"

namespace skiff::auth {

namespace {

using Kind = Decision::Kind;

constexpr size_t kMaxBearerBytes = 16 * 1024;

Decision Respond(http::Response r) {
  Decision d;
  d.kind = Kind::kRespond;
  d.response = std::move(r);
  return d;
}

// kContinue as `p`, built in the return slot: FromBearer returns these as prvalues, so the
// caller's Decision is this one (a named Decision per branch there was moved out instead).
Decision Continue(const Principal& p) {
  Decision d;
  d.principal = p;
  return d;
}
Decision Continue(Principal&& p) {
  Decision d;
  d.principal = std::move(p);
  return d;
}

Decision NeedsBlocking() {
  Decision d;
  d.kind = Kind::kNeedsBlocking;
  return d;
}

bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && http::EqualsIgnoreCase(s.substr(0, prefix.size()), prefix);
}

// The "iss" of a compact JWS payload, without verifying anything (it only selects the
// verifier). Empty when the token is not a JWT.
// Three dot-separated parts: the shape of a compact JWS.
bool LooksLikeJwt(std::string_view token) {
  size_t a = token.find('.');
  if (a == token.npos) return false;
  size_t b = token.find('.', a + 1);
  return b != token.npos && token.find('.', b + 1) == token.npos;
}

std::string UnverifiedIssuer(std::string_view token) {
  size_t a = token.find('.');
  if (a == token.npos) return {};
  size_t b = token.find('.', a + 1);
  if (b == token.npos || token.find('.', b + 1) != token.npos) return {};
  auto payload = Base64UrlDecode(token.substr(a + 1, b - a - 1));
  if (!payload) return {};
  auto obj = ParseJsonObject(*payload);
  if (!obj) return {};
  return GetString(*obj, "iss");
}

void LogRefusal(const http::Request& req, std::string_view what, const Status& why) {
  spdlog::warn("auth: {} refused for {} {} from {}: {}", what, req.method, req.path,
               req.remote_addr, why.message());
}

CookieAttributes ClearCookie(bool secure, bool http_only) {
  CookieAttributes a;
  a.secure = secure;
  a.http_only = http_only;
  a.max_age = std::chrono::seconds(0);
  return a;
}

}  // namespace

Gateway::Gateway(GatewayConfig config, GatewayDeps deps) : config_(std::move(config)), deps_(deps) {
  if (!config_.error_response) {
    config_.error_response = [](const http::Request&, const Status& s) {
      return http::ErrorResponse(s);
    };
  }
  static std::atomic<uint64_t> next_memo_owner{1};
  for (const auto& i : config_.jwt_issuers) {
    has_cached_issuers_ = has_cached_issuers_ || i.cached;
    memo_owners_.push_back(next_memo_owner.fetch_add(1, std::memory_order_relaxed));
  }
}

bool Gateway::IsPublic(std::string_view path) const {
  for (const auto& p : config_.public_paths) {
    if (path == p) return true;
  }
  for (const auto& p : config_.public_prefixes) {
    if (path == p ||
        (path.size() > p.size() && path.substr(0, p.size()) == p && path[p.size()] == '/')) {
      return true;
    }
  }
  return false;
}

Captured Gateway::CaptureAndStrip(http::Request& req) const {
  Captured c;
  if (const auto& th = config_.trusted_header; th && AnyContains(th->sources, req.remote_addr)) {
    if (auto v = req.headers.Get(th->user_header); v && !v->empty()) {
      c.trusted_user = std::string(*v);
      if (!th->groups_header.empty()) {
        if (auto g = req.headers.Get(th->groups_header)) c.trusted_groups = std::string(*g);
      }
    }
  }
  if (config_.alb) {
    if (auto v = req.headers.Get("x-amzn-oidc-data")) c.alb_data = std::string(*v);
  }
  // One pass over the headers for everything that goes.
  const std::string* trusted_user = nullptr;
  const std::string* trusted_groups = nullptr;
  if (config_.trusted_header) {
    trusted_user = &config_.trusted_header->user_header;
    if (!config_.trusted_header->groups_header.empty()) {
      trusted_groups = &config_.trusted_header->groups_header;
    }
  }
  req.headers.RemoveIf([&](std::string_view name, std::string_view) {
    // Every x-amzn-oidc-* header: in ALB mode only the verified data header counts (captured
    // above); the identity/accesstoken headers are never identity.
    return IsIdentityHeader(name) || http::EqualsIgnoreCase(name, config_.user_id_header) ||
           http::EqualsIgnoreCase(name, config_.groups_header) ||
           (trusted_user != nullptr && http::EqualsIgnoreCase(name, *trusted_user)) ||
           (trusted_groups != nullptr && http::EqualsIgnoreCase(name, *trusted_groups)) ||
           StartsWithIgnoreCase(name, "x-amzn-oidc-");
  });
  return c;
}

Result<Principal> Gateway::PrincipalFromClaims(const json::object& claims,
                                               const ClaimMapping& mapping,
                                               std::string method) const {
  Principal p;
  p.method = std::move(method);
  p.name = GetString(claims, mapping.username_claim);
  if (p.name.empty()) {
    return Unauthenticated("claim \"" + mapping.username_claim + "\" missing or not a string");
  }
  if (const auto* g = claims.if_contains(mapping.groups_claim)) {
    if (g->is_array()) {
      for (const auto& v : g->get_array()) {
        if (v.is_string()) p.groups.emplace_back(v.get_string());
      }
    } else if (g->is_string()) {
      p.groups = SplitCommaList(g->get_string());
    }
  }
  for (const auto& u : config_.admin_users) {
    if (u == p.name) p.cluster_admin = true;
  }
  for (const auto& g : config_.admin_groups) {
    if (std::find(p.groups.begin(), p.groups.end(), g) != p.groups.end()) p.cluster_admin = true;
  }
  return p;
}

Decision Gateway::Refused(const http::Request& req, std::string_view what, const Status& why,
                          const Status& answer) const {
  LogRefusal(req, what, why);
  Decision d = Unauthorized(req, answer);
  d.detail = std::string(what) + ": " + why.message();
  return d;
}

Decision Gateway::Unauthorized(const http::Request& req, const Status& why) const {
  http::Response r = config_.error_response(req, why);
  r.headers.Set("WWW-Authenticate", "Bearer realm=\"skiff\"");
  r.headers.Set("Cache-Control", "no-store");
  return Respond(std::move(r));
}

Decision Gateway::FromBearer(const http::Request& req, std::string_view token,
                             bool may_block) const {
  if (deps_.tokens != nullptr) {
    if (auto p = deps_.tokens->AuthenticateBearer(req, token)) {
      return Continue(std::move(*p));
    }
  }
  if (token.size() > kMaxBearerBytes) {
    Status why = Unauthenticated("bearer token larger than 16 KiB");
    return Refused(req, "bearer token", why, Unauthenticated("invalid bearer token"));
  }
  // A token verified before is answered by the cache of the issuer that verified it, found by
  // the token's bytes (keyed hash, then a constant-time comparison): no decoding to pick the
  // issuer, no copy of the claims.
  if (has_cached_issuers_) {
    const VerifiedJwtCache::Key key = VerifiedJwtCache::KeyOf(token);
    for (size_t n = 0; n < config_.jwt_issuers.size(); ++n) {
      const JwtIssuer& i = config_.jwt_issuers[n];
      if (!i.cached) continue;
      auto hit = i.cached(key);
      if (!hit) continue;
      if (!*hit) {
        return Refused(req, "bearer JWT", hit->error(), Unauthenticated("invalid bearer token"));
      }
      // The Principal made for this token by an earlier request, kept with its verification.
      const VerifiedJwt& v = ***hit;
      if (const Principal* kept = v.principal.Find(memo_owners_[n])) {
        return Continue(*kept);
      }
      auto p = PrincipalFromClaims(v.claims, i.mapping, "jwt");
      if (!p) {
        return Refused(req, "bearer JWT", p.error(), Unauthenticated("invalid bearer token"));
      }
      if (const Principal* kept = v.principal.Keep(memo_owners_[n], *p)) {
        return Continue(*kept);
      }
      return Continue(std::move(*p));
    }
  }
  // With one issuer configured its verifier decides (it checks "iss" itself), which saves
  // decoding the payload twice per request; with several, the unverified "iss" picks one.
  std::string iss;
  const JwtIssuer* issuer = nullptr;
  if (config_.jwt_issuers.size() == 1 && LooksLikeJwt(token)) {
    issuer = &config_.jwt_issuers.front();
  } else {
    iss = UnverifiedIssuer(token);
    for (const auto& i : config_.jwt_issuers) {
      if (!iss.empty() && i.issuer == iss) issuer = &i;
    }
  }
  if (issuer == nullptr) {
    Status why = Unauthenticated(iss.empty() ? "not a known token and not a JWT with an issuer"
                                             : "JWT issuer is not accepted");
    return Refused(req, "bearer token", why, Unauthenticated("invalid bearer token"));
  }
  Result<json::object> claims = Unauthenticated("not verified");
  if (issuer->verify_inline) {
    claims = issuer->verify_inline(token);
    if (!claims && NeedsKeyRefresh(claims.error())) {
      if (!may_block) return NeedsBlocking();
      claims = issuer->verify(token);
    }
  } else {
    if (issuer->may_block && !may_block) return NeedsBlocking();
    claims = issuer->verify(token);
  }
  if (!claims) {
    return Refused(req, "bearer JWT", claims.error(), Unauthenticated("invalid bearer token"));
  }
  auto p = PrincipalFromClaims(*claims, issuer->mapping, "jwt");
  if (!p) {
    return Refused(req, "bearer JWT", p.error(), Unauthenticated("invalid bearer token"));
  }
  return Continue(std::move(*p));
}

Decision Gateway::Login(const http::Request& req, bool may_block, std::string_view target) const {
  if (!deps_.rp->CachedMetadata()) {
    if (!may_block) return NeedsBlocking();
    if (auto m = deps_.rp->Metadata(); !m) {
      spdlog::error("auth: login provider unavailable: {}", m.error().message());
      return Respond(http::Response::Text(503, "the login provider is unavailable\n"));
    }
  }
  return Respond(deps_.rp->StartLogin(req, target));
}

Decision Gateway::Callback(const http::Request& req, bool may_block) const {
  if (!may_block) return NeedsBlocking();
  auto login = deps_.rp->FinishLogin(req);
  if (!login) {
    LogRefusal(req, "login callback", login.error());
    return Respond(http::Response::Text(login.error().code() == Code::kUnavailable ? 503 : 401,
                                        "login failed; start again from the page you wanted\n"));
  }
  auto p = PrincipalFromClaims(login->claims, config_.login_mapping, "session");
  if (!p) {
    LogRefusal(req, "login callback", p.error());
    return Respond(http::Response::Text(401, "login failed: the identity has no user name\n"));
  }
  Session s;
  s.user = p->name;
  s.groups = p->groups;
  s.id_token = login->id_token;
  auto id = deps_.sessions->Create(std::move(s));
  if (!id) {
    spdlog::error("auth: cannot store a session: {}", id.error().message());
    return Respond(http::ErrorResponse(Internal("session store")));
  }
  bool secure = deps_.rp->Secure(req);
  http::Response r = http::Response::Text(302, "");
  r.headers.Set("Location", login->return_to);
  r.headers.Set("Cache-Control", "no-store");
  CookieAttributes session_cookie;
  session_cookie.secure = secure;
  session_cookie.max_age = deps_.sessions->options().max_age;
  r.headers.Add("Set-Cookie", SetCookie(config_.session_cookie, *id, session_cookie));
  CookieAttributes csrf = session_cookie;
  csrf.http_only = false;  // the web app reads it and echoes it in X-XSRF-TOKEN
  r.headers.Add("Set-Cookie", SetCookie(kCsrfCookie, RandomToken(32), csrf));
  r.headers.Add("Set-Cookie",
                SetCookie(OidcRelyingParty::kPreLoginCookie, "", ClearCookie(secure, true)));
  spdlog::info("auth: {} logged in from {}", p->name, req.remote_addr);
  return Respond(std::move(r));
}

Decision Gateway::Logout(const http::Request& req, bool may_block) const {
  // Logout changes state even as a GET (links and Kubeflow's menu use GET): another site must
  // not be able to end a user's session (logout CSRF).
  if (Status site = CheckSameSite(req, RequestOrigin(req, config_.trusted_proxies)); !site.ok()) {
    LogRefusal(req, "logout", site);
    return Respond(http::ErrorResponse(site));
  }
  if (!may_block) return NeedsBlocking();
  std::string id_token;
  if (auto cookie = CookieValue(req.headers, config_.session_cookie);
      cookie && deps_.sessions != nullptr) {
    if (auto s = deps_.sessions->Load(*cookie)) {
      id_token = s->id_token;
      spdlog::info("auth: {} logged out", s->user);
    }
    deps_.sessions->Delete(*cookie);
  }
  std::string location = "/";
  bool secure = IsSecureRequest(req, config_.trusted_proxies);
  if (deps_.rp != nullptr) {
    (void)deps_.rp->Metadata();  // end_session_endpoint, when discovery works
    if (std::string end = deps_.rp->EndSessionUrl(req, id_token); !end.empty()) location = end;
  }
  http::Response r = http::Response::Text(302, "");
  r.headers.Set("Location", location);
  r.headers.Set("Cache-Control", "no-store");
  r.headers.Add("Set-Cookie", SetCookie(config_.session_cookie, "", ClearCookie(secure, true)));
  r.headers.Add("Set-Cookie", SetCookie(kCsrfCookie, "", ClearCookie(secure, false)));
  return Respond(std::move(r));
}

Decision Gateway::Decide(const http::Request& req, const Captured& captured, bool may_block) const {
  if (deps_.rp != nullptr && deps_.sessions != nullptr &&
      req.path == deps_.rp->config().callback_path) {
    return Callback(req, may_block);
  }
  if (req.path == config_.logout_path) return Logout(req, may_block);
  if (deps_.rp != nullptr && deps_.sessions != nullptr && req.path == config_.login_path &&
      (req.method == "GET" || req.method == "HEAD")) {
    std::string target = req.Query("rd").value_or(req.Query("next").value_or("/"));
    if (!SafeLocalTarget(target)) {
      LogRefusal(req, "login", InvalidArgument("return target is not a same-origin path"));
      return Respond(http::ErrorResponse(
          InvalidArgument("rd/next must be a path on this site (open redirects are refused)")));
    }
    return Login(req, may_block, target);
  }
  if (IsPublic(req.path)) return Decision{};

  // Bearer credentials are decisive: a wrong token is 401 even with a valid cookie.
  if (auto token = BearerTokenView(req)) return FromBearer(req, *token, may_block);

  if (deps_.sessions != nullptr) {
    if (auto cookie = CookieValue(req.headers, config_.session_cookie);
        cookie && !cookie->empty()) {
      Session s;
      auto found = deps_.sessions->Find(*cookie, &s);
      if (found == SessionStore::FindResult::kUnknownHere) {
        if (!may_block) return NeedsBlocking();
        auto loaded = deps_.sessions->Load(*cookie);
        found = loaded ? SessionStore::FindResult::kFound : SessionStore::FindResult::kMissing;
        if (loaded) s = std::move(*loaded);
      }
      if (found == SessionStore::FindResult::kFound) {
        Status csrf = CheckCsrf(req, RequestOrigin(req, config_.trusted_proxies));
        if (!csrf.ok()) {
          LogRefusal(req, "cookie request", csrf);
          return Respond(config_.error_response(req, csrf));
        }
        json::array groups;
        for (const auto& g : s.groups) groups.emplace_back(g);
        json::object claims{{"u", s.user}, {"g", std::move(groups)}};
        auto p = PrincipalFromClaims(claims, ClaimMapping{"u", "g"}, "session");
        Decision d;
        if (p) d.principal = std::move(*p);
        if (!CookieValue(req.headers, kCsrfCookie)) {
          CookieAttributes csrf_cookie;
          csrf_cookie.http_only = false;
          csrf_cookie.secure = IsSecureRequest(req, config_.trusted_proxies);
          d.set_cookies.push_back(SetCookie(kCsrfCookie, RandomToken(32), csrf_cookie));
        }
        return d;
      }
      // An unknown or expired session is no credential: fall through to the other methods.
    }
  }

  if (config_.alb && captured.alb_data) {
    Result<json::object> claims = Unauthenticated("not verified");
    if (config_.alb->verify_inline) {
      claims = config_.alb->verify_inline(*captured.alb_data);
      if (!claims && NeedsKeyRefresh(claims.error())) {
        if (!may_block) return NeedsBlocking();
        claims = config_.alb->verify(*captured.alb_data);
      }
    } else {
      if (!may_block) return NeedsBlocking();
      claims = config_.alb->verify(*captured.alb_data);
    }
    if (!claims) {
      return Refused(req, "x-amzn-oidc-data", claims.error(),
                     Unauthenticated("invalid x-amzn-oidc-data"));
    }
    auto p = PrincipalFromClaims(*claims, config_.alb->mapping, "alb");
    if (!p) {
      return Refused(req, "x-amzn-oidc-data", p.error(),
                     Unauthenticated("invalid x-amzn-oidc-data"));
    }
    Decision d;
    d.principal = std::move(*p);
    return d;
  }

  if (captured.trusted_user) {
    json::object claims{{"u", *captured.trusted_user}, {"g", captured.trusted_groups.value_or("")}};
    auto p = PrincipalFromClaims(claims, ClaimMapping{"u", "g"}, "header");
    if (p) {
      Decision d;
      d.principal = std::move(*p);
      return d;
    }
  }

  if (deps_.rp != nullptr && deps_.sessions != nullptr && IsBrowserNavigation(req)) {
    // Remember where the user was going: the request's own target (a same-origin path; anything
    // else is replaced by "/").
    return Login(req, may_block, req.target);
  }
  return Unauthorized(req, Unauthenticated("authentication required: send \"Authorization: "
                                           "Bearer <token>\" or log in"));
}

void Gateway::Apply(http::Request& req, Decision&& d, http::Responder respond,
                    const http::Handler& next) const {
  if (d.kind == Kind::kRespond) {
    respond(std::move(d.response));
    return;
  }
  if (d.principal) {
    // Built in a per-thread buffer: the header map copies the value. Added, not set: the
    // client's headers of these names went in CaptureAndStrip (no search for them here).
    thread_local std::string value;
    value.assign(config_.user_id_prefix).append(d.principal->name);
    req.headers.Add(config_.user_id_header, value);
    value.clear();
    for (const auto& g : d.principal->groups) {
      if (!value.empty()) value += ',';
      value += g;
    }
    if (!value.empty()) {
      // (One header for both, if so configured: the groups replace the user, as they did.)
      if (http::EqualsIgnoreCase(config_.groups_header, config_.user_id_header)) {
        req.headers.Set(config_.groups_header, value);
      } else {
        req.headers.Add(config_.groups_header, value);
      }
    }
    req.principal = std::move(d.principal);
  }
  if (!d.set_cookies.empty()) {
    respond = [respond = std::move(respond),
               cookies = std::move(d.set_cookies)](http::Response r) mutable {
      for (const auto& c : cookies) r.headers.Add("Set-Cookie", c);
      respond(std::move(r));
    };
  }
  next(req, std::move(respond));
}

void Gateway::Handle(http::Request& req, http::Responder respond, const http::Handler& next) const {
  Captured captured = CaptureAndStrip(req);
  Decision d = Decide(req, captured, /*may_block=*/false);
  if (d.kind != Kind::kNeedsBlocking) {
    Apply(req, std::move(d), std::move(respond), next);
    return;
  }
  // Continue on the blocking pool with our own copy of the request: the caller's reference is
  // valid only until we return.
  auto owned = std::make_shared<http::Request>(std::move(req));
  // The server still reads these after we return (metrics; HEAD responses have no body).
  req.route = "auth";
  req.method = owned->method;
  deps_.blocking->Post(
      [this, owned, captured = std::move(captured), respond = std::move(respond), next]() mutable {
        Decision d = Decide(*owned, captured, /*may_block=*/true);
        if (d.kind == Kind::kNeedsBlocking) {  // cannot happen with may_block; be safe
          respond(http::ErrorResponse(Internal("authentication")));
          return;
        }
        Apply(*owned, std::move(d), std::move(respond), next);
      });
}

}  // namespace skiff::auth
