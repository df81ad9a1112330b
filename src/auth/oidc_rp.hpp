#pragma once
// The gateway's OpenID Connect relying party: browser login against the built-in provider or
// any external issuer (Cognito, Keycloak, Dex, Okta). Authorization code flow with state, nonce
// and PKCE S256; the state is single use and bound to a short-lived pre-login cookie; the
// remembered return URL is a same-origin path only (open-redirect guard); the ID token's nonce
// must match and is single use. Discovery is fetched lazily and cached.
//
// Threading: every method is thread-safe (one mutex guards pending logins and used nonces;
// the discovery cache has its own). Methods marked "blocking" do HTTP (discovery, token
// exchange) and must run on the blocking pool; the others never block.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "auth/authn_util.hpp"
#include "core/clock.hpp"
#include "core/json.hpp"
#include "core/result.hpp"
#include "http/http.hpp"

namespace skiff::auth {

struct OidcConfig {
  std::string issuer;  // e.g. https://cognito-idp.REGION.amazonaws.com/POOL, https://host/dex
  std::string client_id;
  std::string client_secret;  // empty: a public client (PKCE only)
  std::string scopes = "openid email profile groups";
  std::string ca_file;  // extra trust anchor for discovery, token and JWKS fetches
  // "client_secret_basic" (default) or "client_secret_post".
  std::string auth_method = "client_secret_basic";
  std::string callback_path = "/authservice/oidc/callback";
  // Absolute callback URL registered at the provider. Empty: this request's origin +
  // callback_path.
  std::string redirect_url;
  // Where the provider sends the browser after end_session. Empty: this request's origin + "/".
  std::string post_logout_redirect_url;
  std::chrono::seconds login_ttl{600};  // how long a started login may take
  size_t max_pending = 10'000;          // started logins kept at once (oldest dropped)
};

struct ProviderMetadata {
  std::string issuer;
  std::string authorization_endpoint;
  std::string token_endpoint;
  std::string end_session_endpoint;  // empty when the provider has none
  std::string jwks_uri;
};

// Fetches "<issuer>/.well-known/openid-configuration" (blocking) and checks that its issuer
// equals `issuer` and that the endpoints are present.
Result<ProviderMetadata> DiscoverProvider(const std::string& issuer, const std::string& ca_file);

// What a successful login established.
struct LoginResult {
  json::object claims;  // verified ID token claims
  std::string id_token;
  std::string return_to;  // same-origin path
};

class OidcRelyingParty {
 public:
  // Verifies an ID token's signature, iss, aud (= client id) and times, returning its claims.
  // May block (JWKS fetch). The RP checks the nonce itself.
  using IdTokenVerifier = std::function<Result<json::object>(std::string_view id_token)>;
  // Discovery source; default DiscoverProvider(config.issuer, config.ca_file). Blocking.
  using Discoverer = std::function<Result<ProviderMetadata>()>;
  // The token exchange POST; default http::Fetch. Blocking.
  using TokenPoster = std::function<Result<std::pair<int, std::string>>(
      const std::string& url, const http::HeaderMap& headers, const std::string& body)>;

  OidcRelyingParty(OidcConfig config, IdTokenVerifier verifier, Clock& clock,
                   std::vector<Cidr> trusted_proxies, Discoverer discoverer = nullptr,
                   TokenPoster poster = nullptr);

  const OidcConfig& config() const { return config_; }
  // The cached provider metadata, or nullopt when discovery has not succeeded yet.
  std::optional<ProviderMetadata> CachedMetadata() const;
  // Runs discovery when nothing is cached (blocking).
  Result<ProviderMetadata> Metadata();

  // Answers a browser request that needs a login: 302 to the provider's authorization
  // endpoint with state, nonce and PKCE S256, setting the pre-login cookie. `return_to` is
  // checked with SafeLocalTarget ("/" when refused). REQUIRES: CachedMetadata() has a value,
  // else the answer is 503.
  http::Response StartLogin(const http::Request& req, std::string_view return_to);

  // The callback (blocking: token exchange, JWKS). Checks state (single use, bound to the
  // pre-login cookie), exchanges the code with the PKCE verifier, verifies the ID token and its
  // nonce (single use). Errors are Unauthenticated/InvalidArgument with a loggable reason.
  Result<LoginResult> FinishLogin(const http::Request& req);

  // The provider's end_session URL for a logout, or empty when it has none.
  std::string EndSessionUrl(const http::Request& req, std::string_view id_token_hint) const;

  // Cookie attributes for this request (Secure when HTTPS).
  bool Secure(const http::Request& req) const;
  static constexpr std::string_view kPreLoginCookie = "skiff_login";

 private:
  struct Pending {
    std::string binding;  // sha256(pre-login cookie)
    std::string nonce;
    std::string verifier;
    std::string return_to;
    std::string redirect_uri;
    std::chrono::steady_clock::time_point expires;
  };
  std::string RedirectUri(const http::Request& req) const;
  void SweepLocked();  // REQUIRES: mu_ held

  OidcConfig config_;
  IdTokenVerifier verifier_;
  Clock& clock_;
  std::vector<Cidr> trusted_proxies_;
  Discoverer discoverer_;
  TokenPoster poster_;

  mutable std::mutex meta_mu_;
  std::optional<ProviderMetadata> metadata_;  // meta_mu_

  std::mutex mu_;
  std::map<std::string, Pending> pending_;  // state -> pending login; mu_
  // Nonces already accepted, until their login window has passed; mu_.
  std::map<std::string, std::chrono::steady_clock::time_point> used_nonces_;
};

}  // namespace skiff::auth
