#pragma once
// Glue between the JOSE verifiers (jwt.hpp, jwks.hpp, alb.hpp) and the gateway chain
// (authn.hpp): each configured issuer becomes a JwtIssuer with a non-blocking first try on
// cached keys and a blocking fallback that refreshes them; ALB mode likewise. Thread-safe.

#include <chrono>
#include <string>
#include <vector>

#include "auth/alb.hpp"
#include "auth/authn.hpp"
#include "auth/jose.hpp"
#include "auth/jwt_cache.hpp"
#include "core/clock.hpp"
#include "http/http.hpp"

namespace skiff::auth {

struct JwtPolicy {
  std::string issuer;                  // "iss" must equal it
  std::vector<std::string> audiences;  // "aud" must contain one; empty = not checked
  std::vector<jose::Alg> algorithms;   // empty = RS256 and ES256
  std::chrono::seconds skew{60};
  // Verified tokens are remembered until exp, at most cache.max_age (jwt.hpp, jwt_cache.hpp).
  JwtCacheOptions cache;
};

struct RemoteJwksOptions {
  std::string jwks_uri;  // empty: found by discovery at <issuer>/.well-known/openid-configuration
  std::string ca_file;
  std::chrono::seconds min_refresh{30};  // unknown kids refetch at most this often
  // Where a key set past its TTL is refetched in the background (the blocking pool). Without
  // it the set is refetched only for an unknown kid, so a key removed from the JWKS would be
  // honoured (and its tokens served from the verified-token cache) until then. With it, the
  // request that notices the stale set is verified with the current set and does not wait; the
  // new set applies from the next request: a removed key stops working within the JWKS TTL
  // (Cache-Control max-age, clamped to [1 min, 24 h]; 1 h without one).
  http::TaskRunner* refresher = nullptr;
};

// An issuer whose keys come from its JWKS over HTTP(S). InvalidArgument for a bad URL.
Result<JwtIssuer> MakeRemoteJwtIssuer(JwtPolicy policy, RemoteJwksOptions options,
                                      ClaimMapping mapping, Clock& clock);

// ALB mode from AlbOptions. The identity's claims are the payload, with "groups" filled from
// "cognito:groups" when only that is present.
Result<AlbMode> MakeAlbMode(AlbOptions options, ClaimMapping mapping, Clock& clock);

// Parses algorithm names ("RS256", ...); InvalidArgument naming the unknown one.
Result<std::vector<jose::Alg>> ParseAlgorithms(const std::vector<std::string>& names);

}  // namespace skiff::auth
