#pragma once
// JwtVerifier: verifies a Bearer JWT (or an ID token) for one issuer: the JOSE checks of
// jose::Parse/Verify (algorithm allow-list, no "none", no HMAC, raw ECDSA signatures, no
// duplicate members, no padding, size limit), the key from a KeySource by kid, and the claims
// policy (iss, aud, exp/nbf/iat with skew). Immutable after construction; thread-safe.
//
// Threading: Verify never blocks (I/O threads). When it fails only because the key set must
// be refreshed first (unknown kid with a refresh allowed, or no set loaded yet), the error
// carries NeedsKeyRefresh(status): the caller runs keys().Refresh(kUnknownKid) on the blocking
// pool and calls Verify once more. VerifyOrRefresh does exactly that, blocking. Verify uses a
// set past its TTL as it is; a caller on an I/O thread posts keys().Refresh(kStale) to the
// blocking pool when keys().RefreshDue(kStale), without waiting for it.
// Errors are Unauthenticated with a reason fit for a log line; they never contain the token.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth/jose.hpp"
#include "auth/jwks.hpp"

namespace skiff::auth {

struct JwtVerifierOptions {
  std::vector<jose::Alg> algorithms;  // the allow-list; empty = RS256 and ES256
  jose::ClaimsPolicy claims;          // iss, aud, skew, require_exp
  size_t max_token_bytes = 16 * 1024;
};

struct VerifiedJwt {
  jose::Alg alg = jose::Alg::kRS256;
  std::string kid;  // of the key that verified (the header's kid, or the key's when absent)
  json::object header;
  json::object claims;
};

// Status::reason() of a Verify error that a key refresh may cure.
inline constexpr std::string_view kKeyRefreshReason = "KeyRefresh";
inline bool NeedsKeyRefresh(const Status& s) {
  return s.code() == Code::kUnauthenticated && s.reason() == kKeyRefreshReason;
}

class JwtVerifier {
 public:
  // REQUIRES: keys != null.
  JwtVerifier(JwtVerifierOptions options, std::shared_ptr<KeySource> keys);

  // Non-blocking. The header's kid selects the key (several keys with that kid: each allowed
  // one is tried); without a kid every key of the set allowed for the alg is tried. A kid
  // that is not in the set is "unknown kid" (with NeedsKeyRefresh when a refresh is due).
  Result<VerifiedJwt> Verify(std::string_view token,
                             std::chrono::system_clock::time_point now) const;
  // Blocking: refreshes a stale or missing set first, then Verify; on NeedsKeyRefresh,
  // refreshes (rate-limited by the KeySource) and verifies once more.
  Result<VerifiedJwt> VerifyOrRefresh(std::string_view token,
                                      std::chrono::system_clock::time_point now) const;

  KeySource& keys() const { return *keys_; }
  const JwtVerifierOptions& options() const { return options_; }

 private:
  JwtVerifierOptions options_;
  std::shared_ptr<KeySource> keys_;
};

}  // namespace skiff::auth
