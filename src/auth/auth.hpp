#pragma once
// skiff_auth: authentication, steps 2-3 of the request flow (DESIGN.md). Strips identity
// headers that clients must not set, and turns credentials into a Principal. Files:
//   auth.hpp        static bearer tokens (the bootstrap admin token), header stripping
//   jose/jwks/jwt   JOSE, key sources and the JWT verifier; alb.hpp the AWS ALB header
//   authn.hpp       the gateway's authenticator chain (Gateway), configured once, immutable
//   oidc_rp.hpp     browser login (OIDC relying party); session.hpp server-side sessions
//   csrf.hpp        double-submit CSRF for cookie requests; authn_util.hpp cookies, CIDRs,
//                   same-origin redirect targets; authn_jwt.hpp verifiers for the chain
// Depends on skiff_core, skiff_store (sessions) and the sans-I/O types of skiff_http (plus its
// blocking client for JWKS, discovery and token exchange, used on the blocking pool only).
// Authenticators are immutable after construction; thread-safe.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/principal.hpp"
#include "core/result.hpp"
#include "http/http.hpp"

namespace skiff::auth {

// Headers that carry identity between trusted components. A client that sends them is
// ignored, never believed: they are removed before authentication.
const std::vector<std::string>& IdentityHeaders();
void StripIdentityHeaders(http::HeaderMap& headers);

// Whether `name` is one of IdentityHeaders() or of their prefix forms (Impersonate-Extra-*,
// X-Remote-Extra-*), compared case-insensitively.
bool IsIdentityHeader(std::string_view name);

// Extracts the token of "Authorization: Bearer <token>" (scheme case-insensitive).
std::optional<std::string> BearerToken(const http::Request& req);
// The same, as a view of the request's header (valid while the request's headers are unchanged).
std::optional<std::string_view> BearerTokenView(const http::Request& req);

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // A Principal, or Unauthenticated: missing credentials say what to send, wrong ones say
  // only that they are wrong (never which part).
  virtual Result<Principal> Authenticate(const http::Request& req) const = 0;
  // The same, given the request's bearer token the caller has already read from it (so that it
  // is not looked up again). The default ignores `token` and calls Authenticate.
  virtual Result<Principal> AuthenticateBearer(const http::Request& req,
                                               std::string_view /*token*/) const {
    return Authenticate(req);
  }
};

// Static bearer tokens. A presented token is compared with every stored one in time that
// depends only on the lengths (ConstantTimeEquals, every token compared whichever matched): no
// hashing per request. The lengths are not secret (generated tokens have a fixed length).
class TokenAuthenticator final : public Authenticator {
 public:
  void AddToken(std::string_view token, Principal principal);
  Result<Principal> Authenticate(const http::Request& req) const override;
  Result<Principal> AuthenticateBearer(const http::Request& req,
                                       std::string_view token) const override;

 private:
  std::vector<std::pair<std::string, Principal>> tokens_;  // (token, who)
  // Some token contains a '.'. When none does, a dotted token (a JWT) cannot match and is
  // refused without comparing: the JWT path pays nothing here. Says nothing about any secret.
  bool any_dotted_ = false;
};

}  // namespace skiff::auth
