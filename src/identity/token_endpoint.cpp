// The provider's token endpoint (code and refresh grants, client authentication), token
// signing, verification and /userinfo.

#include <algorithm>

#include "core/crypto.hpp"
#include "core/log.hpp"
#include "identity/provider_impl.hpp"

namespace skiff::identity::internal {

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

http::Response ProviderImpl::TokenFromCode(const Client& client, const Form& form) {
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

http::Response ProviderImpl::TokenFromRefresh(const Client& client, const Form& form) {
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

}  // namespace skiff::identity::internal
