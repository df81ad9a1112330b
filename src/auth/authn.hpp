#pragma once
// The gateway's authenticator chain (request-flow steps 2-3, DESIGN.md), configured once into
// an immutable Gateway and run per request:
//   1. strip identity headers sent by the client (kubeflow-userid/groups under their configured
//      names, the well-known proxy headers, every x-amzn-oidc-*), after capturing the trusted
//      header (only from allowed source addresses) and x-amzn-oidc-data (only in ALB mode);
//   2. the login callback and /logout; public routes (health, the identity provider);
//   3. Bearer: the bootstrap admin token, else a JWT from a configured issuer (built-in or
//      external); a Bearer that fails is 401, never a fall-through to cookies;
//   4. the session cookie (state-changing requests need the CSRF double-submit header);
//   5. the ALB header (x-amzn-oidc-data), when configured;
//   6. the trusted header, when configured and sent from an allowed address;
//   7. nothing: browser navigations go to the login provider (302), everything else gets 401
//      with WWW-Authenticate.
// On success the Principal is set on the request (req.principal) and propagated as the
// configured user-id header (with its prefix) and groups header.
//
// Threading: Gateway is immutable after construction and thread-safe. Handle never blocks the
// calling (I/O) thread: steps that need I/O (JWKS/ALB key fetches, a session not in memory, the
// token exchange, discovery) continue on the blocking pool and resume the chain there.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "auth/auth.hpp"
#include "auth/authn_util.hpp"
#include "auth/jwt.hpp"
#include "auth/jwt_cache.hpp"
#include "auth/oidc_rp.hpp"
#include "auth/session.hpp"
#include "core/clock.hpp"
#include "core/json.hpp"
#include "http/http.hpp"

namespace skiff::auth {

// Which claims name the user and the groups.
struct ClaimMapping {
  std::string username_claim = "email";
  std::string groups_claim = "groups";
};

// Verifies a token (or header) and returns its claims; Unauthenticated with a loggable reason
// (never the token). May block when `may_block` says so.
using ClaimsVerifier = std::function<Result<json::object>(std::string_view token)>;

// A Bearer JWT issuer.
struct JwtIssuer {
  std::string issuer;  // selects this verifier by the token's (unverified) "iss"
  ClaimMapping mapping;
  bool may_block = true;  // `verify` may fetch keys: run it on the blocking pool
  ClaimsVerifier verify;
  // Optional non-blocking first try (cached keys). An error with NeedsKeyRefresh (jwt.hpp)
  // sends the request to the blocking pool for `verify`; any other result is final.
  ClaimsVerifier verify_inline;
  // Optional, non-blocking: the verification of a token this issuer has verified before and
  // still holds in its verified-token cache, found by the token alone (`key`):
  // nullopt when it does not hold it; a final error when it does but the claims no longer pass
  // (or its key left the set and it failed again). Lets the gateway answer a known token
  // without decoding it to find its issuer, and keep the Principal it made with it.
  std::function<std::optional<Result<std::shared_ptr<const VerifiedJwt>>>(
      const VerifiedJwtCache::Key& key)>
      cached;
};

struct TrustedHeaderConfig {
  std::string user_header;    // e.g. "x-auth-request-email"
  std::string groups_header;  // optional, comma-separated groups
  std::vector<Cidr> sources;  // the header is believed only from these addresses
};

struct AlbMode {
  ClaimMapping mapping;
  ClaimsVerifier verify;         // of the x-amzn-oidc-data value; may block (key fetch)
  ClaimsVerifier verify_inline;  // optional, as JwtIssuer::verify_inline
};

struct GatewayConfig {
  std::string user_id_header = "kubeflow-userid";
  std::string groups_header = "kubeflow-groups";
  std::string user_id_prefix;  // e.g. "accounts.google.com:"
  std::vector<std::string> admin_users;
  std::vector<std::string> admin_groups;
  std::vector<Cidr> trusted_proxies;  // may set X-Forwarded-Proto
  std::vector<std::string> public_paths = {"/healthz", "/readyz"};
  std::vector<std::string> public_prefixes;  // "/dex": the path and everything below it
  std::string logout_path = "/logout";
  // Starts a browser login explicitly; ?rd= or ?next= names a same-origin return path.
  std::string login_path = "/login";
  std::string session_cookie = "skiff_session";
  ClaimMapping login_mapping;  // ID token claims of a browser login
  std::vector<JwtIssuer> jwt_issuers;
  std::optional<TrustedHeaderConfig> trusted_header;
  std::optional<AlbMode> alb;
  // The answer to a refused request, 401 or 403 (CSRF), whose shape depends on the path
  // (metav1.Status on /api). Default: JSON error. WWW-Authenticate is added by the gateway.
  std::function<http::Response(const http::Request&, const Status&)> error_response;
};

struct GatewayDeps {
  const Authenticator* tokens = nullptr;  // bootstrap/static tokens; may be null
  SessionStore* sessions = nullptr;       // null: no sessions (and no browser login)
  OidcRelyingParty* rp = nullptr;         // null: no browser login
  http::TaskRunner* blocking = nullptr;   // required
};

// What the chain decided for one request.
struct Decision {
  enum class Kind { kContinue, kRespond, kNeedsBlocking };
  Kind kind = Kind::kContinue;
  std::optional<Principal> principal;  // kContinue: empty for public routes
  http::Response response;             // kRespond
  // kContinue with a session: cookies to add to the response (the CSRF cookie when missing).
  std::vector<std::string> set_cookies;
  // kRespond for a refused credential: the precise reason ("bearer JWT: token expired"), for
  // `skiff routes explain` and logs; the response itself stays generic. Never a credential.
  std::string detail;
};

// Values taken from the request before identity headers are stripped.
struct Captured {
  std::optional<std::string> trusted_user;  // only when the source is allowed
  std::optional<std::string> trusted_groups;
  std::optional<std::string> alb_data;  // only in ALB mode
};

class Gateway {
 public:
  Gateway(GatewayConfig config, GatewayDeps deps);

  // Runs the chain; on success calls next(req, respond) (possibly later, on the blocking pool,
  // with a copy of the request that lives until `next` returns), else answers itself.
  void Handle(http::Request& req, http::Responder respond, const http::Handler& next) const;

  // The sans-I/O core, exposed for tests. Capture + strip first (once per request), then
  // Decide; with may_block false, steps that need I/O answer kNeedsBlocking.
  Captured CaptureAndStrip(http::Request& req) const;
  Decision Decide(const http::Request& req, const Captured& captured, bool may_block) const;

  // Claims -> Principal (name from mapping.username_claim with the admins applied).
  Result<Principal> PrincipalFromClaims(const json::object& claims, const ClaimMapping& mapping,
                                        std::string method) const;
  const GatewayConfig& config() const { return config_; }

 private:
  Decision Unauthorized(const http::Request& req, const Status& why) const;
  // Logs `why` and answers `answer` (generic), keeping `why` in Decision::detail.
  Decision Refused(const http::Request& req, std::string_view what, const Status& why,
                   const Status& answer) const;
  Decision Login(const http::Request& req, bool may_block, std::string_view target) const;
  Decision Callback(const http::Request& req, bool may_block) const;
  Decision Logout(const http::Request& req, bool may_block) const;
  Decision FromBearer(const http::Request& req, std::string_view token, bool may_block) const;
  bool IsPublic(std::string_view path) const;
  void Apply(http::Request& req, Decision&& d, http::Responder respond,
             const http::Handler& next) const;

  GatewayConfig config_;
  GatewayDeps deps_;
  bool has_cached_issuers_ = false;  // some JwtIssuer::cached is set
  // A process-unique id per configured JWT issuer (same order as config_.jwt_issuers): the
  // owner of the Principals this gateway keeps with that issuer's cached tokens.
  std::vector<uint64_t> memo_owners_;
};

}  // namespace skiff::auth
