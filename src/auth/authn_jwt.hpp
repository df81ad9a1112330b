#pragma once
// Claims verifiers for the gateway chain built on the JOSE layer (jose.hpp): one for an issuer
// whose keys are fetched from its JWKS URL (external OIDC providers, Bearer JWTs), one for keys
// held in process (the built-in identity provider). Thread-safe.

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "auth/authn.hpp"
#include "auth/jose.hpp"
#include "core/clock.hpp"

namespace skiff::auth {

struct JwtPolicy {
  std::string issuer;                  // "iss" must equal it
  std::vector<std::string> audiences;  // "aud" must contain one; empty = not checked
  std::vector<jose::Alg> algorithms;   // empty = RS256 and ES256
  std::chrono::seconds skew{60};
};

struct RemoteJwksOptions {
  std::string jwks_uri;  // empty: found by discovery at <issuer>/.well-known/openid-configuration
  std::string ca_file;
  std::chrono::seconds min_refresh{30};  // unknown kids refetch at most this often
  std::chrono::seconds max_age{3600};    // keys are refetched after this long anyway
};

// Verifies against the issuer's JWKS, fetched on first use (blocking) and again when a token
// names a kid that is not in the cached set (at most once per min_refresh).
ClaimsVerifier MakeRemoteJwtVerifier(JwtPolicy policy, RemoteJwksOptions options, Clock& clock);

// Verifies against keys supplied in process (called per verification; never blocks).
ClaimsVerifier MakeKeySetJwtVerifier(JwtPolicy policy,
                                     std::function<std::shared_ptr<const jose::KeySet>()> keys,
                                     Clock& clock);

// Parses algorithm names ("RS256", ...); InvalidArgument naming the unknown one.
Result<std::vector<jose::Alg>> ParseAlgorithms(const std::vector<std::string>& names);

}  // namespace skiff::auth
