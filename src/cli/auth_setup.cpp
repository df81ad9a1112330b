#include "cli/auth_setup.hpp"

#include "auth/authn_jwt.hpp"
#include "auth/authn_util.hpp"
#include "core/log.hpp"
#include "identity/identity.hpp"

namespace skiff::cli {

namespace {

using Type = SettingSpec::Type;

// Reads a string member; InvalidArgument naming `where.key` when it has another type.
Result<std::string> Str(const json::object& o, std::string_view key, const std::string& where,
                        std::string_view fallback = {}) {
  const auto* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return std::string(fallback);
  if (!v->is_string())
    return InvalidArgument(where + "." + std::string(key) + ": expected a string");
  return std::string(v->get_string());
}

// A list of strings, also accepted as one comma-separated string.
Result<std::vector<std::string>> List(const json::value* v, const std::string& where) {
  std::vector<std::string> out;
  if (v == nullptr || v->is_null()) return out;
  if (v->is_string()) return auth::SplitCommaList(v->get_string());
  if (!v->is_array()) return InvalidArgument(where + ": expected a list of strings");
  for (const auto& item : v->get_array()) {
    if (!item.is_string()) return InvalidArgument(where + ": expected a list of strings");
    out.emplace_back(item.get_string());
  }
  return out;
}

Result<const json::object*> Section(const Settings& settings, std::string_view key) {
  if (!settings.Has(key)) return nullptr;
  const json::value& v = settings.GetSection(key);
  if (v.is_null()) return nullptr;
  if (!v.is_object()) return InvalidArgument(std::string(key) + ": expected a mapping");
  return &v.get_object();
}

Result<auth::ClaimMapping> Mapping(const json::object& o, const std::string& where) {
  auth::ClaimMapping m;
  SKIFF_ASSIGN_OR_RETURN(m.username_claim, Str(o, "usernameClaim", where, "email"));
  SKIFF_ASSIGN_OR_RETURN(m.groups_claim, Str(o, "groupsClaim", where, "groups"));
  return m;
}

std::string TrimSlash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

}  // namespace

std::vector<SettingSpec> AuthSettingSpecs() {
  return {
      {"auth.login", Type::kString, "auto",
       "browser login: auto (auth.oidc when set, else the built-in provider), oidc, builtin or "
       "off",
       ""},
      {"auth.userIdHeader", Type::kString, "kubeflow-userid",
       "header carrying the user to services and upstreams", ""},
      {"auth.groupsHeader", Type::kString, "kubeflow-groups",
       "header carrying the user's groups (comma-separated)", ""},
      {"auth.userIdPrefix", Type::kString, "",
       "prefix of the user-id header's value (e.g. accounts.google.com:)", ""},
      {"auth.admins", Type::kSection, "", "users who are cluster admins (list)", ""},
      {"auth.adminGroups", Type::kSection, "", "groups whose members are cluster admins (list)",
       ""},
      {"auth.trustedProxies", Type::kSection, "",
       "addresses (CIDRs) whose X-Forwarded-Proto is believed (list)", ""},
      {"auth.sessionCookie", Type::kString, "skiff_session", "name of the session cookie", ""},
      {"auth.sessionIdleTimeout", Type::kDuration, "8h", "a session ends after this idle time", ""},
      {"auth.sessionMaxAge", Type::kDuration, "24h", "a session ends this long after login", ""},
      {"auth.callbackPath", Type::kString, "/authservice/oidc/callback",
       "path of the login callback (the redirect URI registered at the provider)", ""},
      {"auth.logoutPath", Type::kString, "/logout", "path that ends the session", ""},
      {"auth.oidc", Type::kSection, "",
       "external OIDC provider for browser login: {issuer, clientID, clientSecret, scopes, "
       "caFile, authMethod, redirectURL, postLogoutRedirectURL, usernameClaim, groupsClaim}",
       ""},
      {"auth.jwt", Type::kSection, "",
       "Bearer JWT issuers: [{issuer, audiences, jwksURI, caFile, algorithms, usernameClaim, "
       "groupsClaim}]",
       ""},
      {"auth.jwtSkew", Type::kDuration, "60s", "clock skew allowed for exp/nbf/iat", ""},
      {"auth.alb", Type::kSection, "",
       "AWS ALB mode: {region, signer (ALB ARN), clientID, issuer, keyURL, usernameClaim, "
       "groupsClaim}",
       ""},
      {"auth.trustedHeader", Type::kSection, "",
       "behind an existing proxy: {header, groupsHeader, sources (CIDRs)}", ""},
  };
}

std::string IssuerOrigin(std::string_view issuer) {
  size_t scheme = issuer.find("://");
  if (scheme == std::string_view::npos) return std::string(issuer);
  size_t path = issuer.find('/', scheme + 3);
  return std::string(issuer.substr(0, path));
}

json::object BuiltinClient(const AuthWiring& wiring, const Settings& settings) {
  return json::object{{"id", wiring.builtin_client_id},
                      {"secret", wiring.builtin_client_secret},
                      {"name", "Skiff"},
                      {"redirectURIs", json::array{TrimSlash(wiring.self_url) +
                                                   settings.GetString("auth.callbackPath")}}};
}

Result<std::unique_ptr<AuthStack>> MakeAuth(const Settings& settings, const AuthWiring& wiring) {
  auto stack = std::make_unique<AuthStack>();
  Clock& clock = SystemClock();
  auth::GatewayConfig config;
  config.user_id_header = settings.GetString("auth.userIdHeader");
  config.groups_header = settings.GetString("auth.groupsHeader");
  config.user_id_prefix = settings.GetString("auth.userIdPrefix");
  if (config.user_id_header.empty() || config.groups_header.empty()) {
    return InvalidArgument("auth.userIdHeader/auth.groupsHeader: must not be empty");
  }
  SKIFF_ASSIGN_OR_RETURN(config.admin_users,
                         List(&settings.GetSection("auth.admins"), "auth.admins"));
  config.admin_users.insert(config.admin_users.end(), wiring.extra_admins.begin(),
                            wiring.extra_admins.end());
  SKIFF_ASSIGN_OR_RETURN(config.admin_groups,
                         List(&settings.GetSection("auth.adminGroups"), "auth.adminGroups"));
  SKIFF_ASSIGN_OR_RETURN(auto proxies,
                         List(&settings.GetSection("auth.trustedProxies"), "auth.trustedProxies"));
  auto proxy_cidrs = auth::ParseCidrs(proxies);
  if (!proxy_cidrs) return InvalidArgument("auth.trustedProxies: " + proxy_cidrs.error().message());
  config.trusted_proxies = *proxy_cidrs;
  config.session_cookie = settings.GetString("auth.sessionCookie");
  config.logout_path = settings.GetString("auth.logoutPath");
  config.public_prefixes = wiring.public_prefixes;
  config.error_response = wiring.error_response;
  std::string callback = settings.GetString("auth.callbackPath");
  if (callback.empty() || callback.front() != '/') {
    return InvalidArgument("auth.callbackPath: must be a path starting with '/'");
  }
  auto skew =
      std::chrono::duration_cast<std::chrono::seconds>(settings.GetDuration("auth.jwtSkew"));

  stack->tokens = std::make_unique<auth::TokenAuthenticator>();
  stack->tokens->AddToken(wiring.admin_token,
                          Principal{"admin", {"system:masters"}, "token", true});

  // Bearer JWTs of the built-in provider: in-process keys, audience = its clients.
  if (wiring.provider != nullptr) {
    auth::JwtIssuer builtin;
    builtin.issuer = wiring.provider->issuer();
    builtin.may_block = false;
    const identity::Provider* provider = wiring.provider;
    builtin.verify = [provider](std::string_view token) { return provider->VerifyToken(token); };
    config.jwt_issuers.push_back(std::move(builtin));
  }
  // External Bearer issuers.
  if (settings.Has("auth.jwt") && !settings.GetSection("auth.jwt").is_null()) {
    const json::value& list = settings.GetSection("auth.jwt");
    if (!list.is_array()) return InvalidArgument("auth.jwt: expected a list of issuers");
    size_t i = 0;
    for (const auto& item : list.get_array()) {
      std::string where = "auth.jwt[" + std::to_string(i++) + "]";
      if (!item.is_object()) return InvalidArgument(where + ": expected a mapping");
      const auto& o = item.get_object();
      auth::JwtPolicy policy;
      SKIFF_ASSIGN_OR_RETURN(policy.issuer, Str(o, "issuer", where));
      if (policy.issuer.empty()) return InvalidArgument(where + ".issuer: required");
      SKIFF_ASSIGN_OR_RETURN(policy.audiences,
                             List(o.if_contains("audiences"), where + ".audiences"));
      if (policy.audiences.empty()) {
        return InvalidArgument(where + ".audiences: required (the client ids tokens are for)");
      }
      SKIFF_ASSIGN_OR_RETURN(auto algs, List(o.if_contains("algorithms"), where + ".algorithms"));
      auto parsed = auth::ParseAlgorithms(algs);
      if (!parsed) return InvalidArgument(where + ".algorithms: " + parsed.error().message());
      policy.algorithms = *parsed;
      policy.skew = skew;
      auth::RemoteJwksOptions remote;
      SKIFF_ASSIGN_OR_RETURN(remote.jwks_uri, Str(o, "jwksURI", where));
      SKIFF_ASSIGN_OR_RETURN(remote.ca_file, Str(o, "caFile", where));
      // Key sets past their TTL are refetched in the background, so a key the issuer removed
      // stops verifying within the TTL.
      remote.refresher = wiring.blocking;
      SKIFF_ASSIGN_OR_RETURN(auto mapping, Mapping(o, where));
      auto issuer = auth::MakeRemoteJwtIssuer(std::move(policy), std::move(remote),
                                              std::move(mapping), clock);
      if (!issuer) return InvalidArgument(where + ": " + issuer.error().message());
      config.jwt_issuers.push_back(std::move(*issuer));
    }
  }

  SKIFF_ASSIGN_OR_RETURN(const json::object* th, Section(settings, "auth.trustedHeader"));
  if (th != nullptr) {
    auth::TrustedHeaderConfig t;
    SKIFF_ASSIGN_OR_RETURN(t.user_header, Str(*th, "header", "auth.trustedHeader"));
    if (t.user_header.empty()) return InvalidArgument("auth.trustedHeader.header: required");
    SKIFF_ASSIGN_OR_RETURN(t.groups_header, Str(*th, "groupsHeader", "auth.trustedHeader"));
    SKIFF_ASSIGN_OR_RETURN(auto sources,
                           List(th->if_contains("sources"), "auth.trustedHeader.sources"));
    if (sources.empty()) {
      return InvalidArgument(
          "auth.trustedHeader.sources: required (the proxy addresses allowed to set the header)");
    }
    auto cidrs = auth::ParseCidrs(sources);
    if (!cidrs) return InvalidArgument("auth.trustedHeader.sources: " + cidrs.error().message());
    t.sources = *cidrs;
    config.trusted_header = std::move(t);
  }

  SKIFF_ASSIGN_OR_RETURN(const json::object* alb, Section(settings, "auth.alb"));
  if (alb != nullptr) {
    const std::string w = "auth.alb";
    auth::AlbOptions ao;
    SKIFF_ASSIGN_OR_RETURN(ao.region, Str(*alb, "region", w));
    SKIFF_ASSIGN_OR_RETURN(ao.signer_arns, List(alb->if_contains("signer"), w + ".signer"));
    SKIFF_ASSIGN_OR_RETURN(ao.client_id, Str(*alb, "clientID", w));
    SKIFF_ASSIGN_OR_RETURN(ao.issuer, Str(*alb, "issuer", w));
    SKIFF_ASSIGN_OR_RETURN(ao.key_base_url, Str(*alb, "keyURL", w));
    SKIFF_ASSIGN_OR_RETURN(ao.ca_file, Str(*alb, "caFile", w));
    ao.skew = skew;
    if (ao.region.empty()) return InvalidArgument("auth.alb.region: required");
    if (ao.signer_arns.empty()) {
      return InvalidArgument("auth.alb.signer: required (the ALB's ARN, as in the header)");
    }
    SKIFF_ASSIGN_OR_RETURN(auto mapping, Mapping(*alb, w));
    auto mode = auth::MakeAlbMode(std::move(ao), std::move(mapping), clock);
    if (!mode) return InvalidArgument("auth.alb: " + mode.error().message());
    config.alb = std::move(*mode);
  }

  // Browser login.
  std::string login = settings.GetString("auth.login");
  SKIFF_ASSIGN_OR_RETURN(const json::object* oidc, Section(settings, "auth.oidc"));
  if (login == "auto") login = oidc != nullptr ? "oidc" : (wiring.provider ? "builtin" : "off");
  if (login != "oidc" && login != "builtin" && login != "off") {
    return InvalidArgument("auth.login: must be auto, oidc, builtin or off");
  }
  auth::OidcConfig rp;
  rp.callback_path = callback;
  if (login == "oidc") {
    if (oidc == nullptr) return InvalidArgument("auth.oidc: required when auth.login is oidc");
    const std::string w = "auth.oidc";
    SKIFF_ASSIGN_OR_RETURN(rp.issuer, Str(*oidc, "issuer", w));
    SKIFF_ASSIGN_OR_RETURN(rp.client_id, Str(*oidc, "clientID", w));
    SKIFF_ASSIGN_OR_RETURN(rp.client_secret, Str(*oidc, "clientSecret", w));
    SKIFF_ASSIGN_OR_RETURN(auto scopes, List(oidc->if_contains("scopes"), w + ".scopes"));
    if (!scopes.empty()) {
      rp.scopes.clear();
      for (const auto& s : scopes) rp.scopes += (rp.scopes.empty() ? "" : " ") + s;
    }
    SKIFF_ASSIGN_OR_RETURN(rp.ca_file, Str(*oidc, "caFile", w));
    SKIFF_ASSIGN_OR_RETURN(rp.auth_method, Str(*oidc, "authMethod", w, "client_secret_basic"));
    SKIFF_ASSIGN_OR_RETURN(rp.redirect_url, Str(*oidc, "redirectURL", w));
    SKIFF_ASSIGN_OR_RETURN(rp.post_logout_redirect_url, Str(*oidc, "postLogoutRedirectURL", w));
    SKIFF_ASSIGN_OR_RETURN(config.login_mapping, Mapping(*oidc, w));
    if (rp.issuer.empty()) return InvalidArgument("auth.oidc.issuer: required");
    if (rp.issuer.rfind("https://", 0) != 0 && rp.issuer.rfind("http://127.", 0) != 0 &&
        rp.issuer.rfind("http://localhost", 0) != 0) {
      return InvalidArgument("auth.oidc.issuer: must be an https:// URL");
    }
    if (rp.client_id.empty()) return InvalidArgument("auth.oidc.clientID: required");
    if (rp.auth_method != "client_secret_basic" && rp.auth_method != "client_secret_post") {
      return InvalidArgument("auth.oidc.authMethod: client_secret_basic or client_secret_post");
    }
  } else if (login == "builtin") {
    if (wiring.provider == nullptr) {
      return InvalidArgument("auth.login: builtin needs the built-in provider (identity.enabled)");
    }
    rp.issuer = wiring.provider->issuer();
    rp.client_id = wiring.builtin_client_id;
    rp.client_secret = wiring.builtin_client_secret;
    rp.ca_file = wiring.self_ca_file;
    rp.redirect_url = TrimSlash(wiring.self_url) + callback;
  }
  if (login != "off") {
    auth::JwtPolicy policy;
    policy.issuer = rp.issuer;
    policy.audiences = {rp.client_id};
    policy.skew = skew;
    auth::OidcRelyingParty::IdTokenVerifier verify;
    if (login == "builtin") {
      const identity::Provider* provider = wiring.provider;
      verify = [provider](std::string_view t) { return provider->VerifyToken(t); };
    } else {
      auth::RemoteJwksOptions remote;
      remote.ca_file = rp.ca_file;
      remote.refresher = wiring.blocking;
      auto issuer = auth::MakeRemoteJwtIssuer(policy, remote, config.login_mapping, clock);
      if (!issuer) return InvalidArgument("auth.oidc: " + issuer.error().message());
      verify = issuer->verify;
      // The same issuer's tokens are accepted as Bearer credentials unless configured apart.
      bool listed = false;
      for (const auto& i : config.jwt_issuers) listed = listed || i.issuer == rp.issuer;
      if (!listed) config.jwt_issuers.push_back(std::move(*issuer));
    }
    auth::SessionOptions so;
    so.idle_timeout = std::chrono::duration_cast<std::chrono::seconds>(
        settings.GetDuration("auth.sessionIdleTimeout"));
    so.max_age = std::chrono::duration_cast<std::chrono::seconds>(
        settings.GetDuration("auth.sessionMaxAge"));
    stack->sessions =
        std::make_unique<auth::SessionStore>(clock, so, wiring.store, wiring.blocking);
    stack->rp = std::make_unique<auth::OidcRelyingParty>(std::move(rp), std::move(verify), clock,
                                                         config.trusted_proxies);
  }
  stack->login_mode = login;

  auth::GatewayDeps deps;
  deps.tokens = stack->tokens.get();
  deps.sessions = stack->sessions.get();
  deps.rp = stack->rp.get();
  deps.blocking = wiring.blocking;
  stack->gateway = std::make_unique<auth::Gateway>(std::move(config), deps);
  return stack;
}

}  // namespace skiff::cli
