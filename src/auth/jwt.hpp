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
//
// Cache (jwt_cache.hpp): a token that verified is remembered by its SHA-256 for at most
// options.cache.max_age. A later Verify of the same bytes skips parsing and the signature but
// still re-validates the claims against `now` (exp, nbf, iat from the times kept with the entry;
// iss and aud passed at insertion and the policy is immutable; outside those times the full
// ValidateClaims gives the verdict and its reason) and checks that the key which verified it is
// still in keys().Current() (the very set, compared without a lock; else the same public key
// under the same kid in the new set); when the key is gone the entry is dropped and the token
// verified afresh. So a key removed from the JWKS stops being honoured as soon as the set is
// refreshed, and at the latest after max_age.
// Failures are never cached. options.cache.max_entries = 0 turns it off.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/jose.hpp"
#include "auth/jwks.hpp"
#include "auth/jwt_cache.hpp"
#include "core/principal.hpp"

namespace skiff::auth {

struct JwtVerifierOptions {
  std::vector<jose::Alg> algorithms;  // the allow-list; empty = RS256 and ES256
  jose::ClaimsPolicy claims;          // iss, aud, skew, require_exp
  size_t max_token_bytes = 16 * 1024;
  JwtCacheOptions cache;  // on by default (10k tokens, 5 minutes)
};

// Counters for tests and metrics. Monotonic; read without a lock.
struct JwtVerifierStats {
  uint64_t signature_checks = 0;  // jose::Verify calls (one per candidate key tried)
  uint64_t cache_hits = 0;        // tokens accepted from the cache
  uint64_t cache_misses = 0;      // tokens verified in full (cache on)
};

// The Principal a user of a verified token (the gateway, for one issuer's claim mapping) made
// from its claims, kept with the token's cached verification so that later requests with the
// same token copy it instead of mapping the claims again. Tagged with who made it (`owner`, a
// process-unique id): a different owner makes its own and does not replace it. Kept once,
// never changed; lock-free; thread-safe. A copy starts empty.
class PrincipalMemo {
 public:
  PrincipalMemo() = default;
  PrincipalMemo(const PrincipalMemo&) {}
  PrincipalMemo& operator=(const PrincipalMemo&) { return *this; }
  ~PrincipalMemo() { delete kept_.load(std::memory_order_acquire); }

  // The Principal kept by `owner`, or null.
  const Principal* Find(uint64_t owner) const {
    const Kept* k = kept_.load(std::memory_order_acquire);
    return k != nullptr && k->owner == owner ? &k->principal : nullptr;
  }
  // Keeps `p` for `owner` unless some Principal is kept already. Returns the one kept for
  // `owner` (this one, or another thread's made at the same time), or null when another
  // owner's is kept.
  const Principal* Keep(uint64_t owner, Principal p) const;

 private:
  struct Kept {
    uint64_t owner;
    Principal principal;
  };
  mutable std::atomic<Kept*> kept_{nullptr};
};

struct VerifiedJwt {
  jose::Alg alg = jose::Alg::kRS256;
  std::string kid;  // of the key that verified (the header's kid, or the key's when absent)
  json::object header;
  json::object claims;
  jose::ClaimTimes times;  // of `claims`: a cache hit checks exp/nbf/iat with these
  PrincipalMemo principal;
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
  // As Verify, sharing the (immutable) result with the cache instead of copying it.
  Result<std::shared_ptr<const VerifiedJwt>> VerifyShared(
      std::string_view token, std::chrono::system_clock::time_point now) const;
  // Blocking: refreshes a stale or missing set first, then Verify; on NeedsKeyRefresh,
  // refreshes (rate-limited by the KeySource) and verifies once more.
  Result<VerifiedJwt> VerifyOrRefresh(std::string_view token,
                                      std::chrono::system_clock::time_point now) const;
  Result<std::shared_ptr<const VerifiedJwt>> VerifyOrRefreshShared(
      std::string_view token, std::chrono::system_clock::time_point now) const;
  // The cached result for the token `key` (VerifiedJwtCache::KeyOf):
  // nullopt when the cache does not hold it (or its key left the set: verify in full);
  // Unauthenticated when it is held but its claims no longer pass (expired). No decoding, no
  // signature: what VerifyShared does first.
  std::optional<Result<std::shared_ptr<const VerifiedJwt>>> FindCached(
      const VerifiedJwtCache::Key& key, std::chrono::system_clock::time_point now) const;

  KeySource& keys() const { return *keys_; }
  const JwtVerifierOptions& options() const { return options_; }
  JwtVerifierStats stats() const;
  // The cache itself (tests: size, Clear). Thread-safe.
  VerifiedJwtCache& cache() const { return *cache_; }

 private:
  struct Counters {
    std::atomic<uint64_t> signature_checks{0};
    std::atomic<uint64_t> cache_hits{0};
    std::atomic<uint64_t> cache_misses{0};
  };
  // Ok: the entry may be served. Unauthenticated (final): its claims no longer pass.
  // nullopt: its key is gone from the current set (the entry was dropped): verify in full.
  std::optional<Status> CheckCached(const VerifiedJwtCache::Key& key,
                                    const VerifiedJwtCache::Entry& entry,
                                    std::chrono::system_clock::time_point now) const;
  Result<std::shared_ptr<const VerifiedJwt>> VerifyFull(std::string_view token,
                                                        std::chrono::system_clock::time_point now,
                                                        VerifiedJwtCache::Entry* verified) const;

  JwtVerifierOptions options_;
  std::shared_ptr<KeySource> keys_;
  // Shared, not owned by value, so a const verifier can fill it; both are thread-safe.
  std::shared_ptr<VerifiedJwtCache> cache_;
  std::shared_ptr<Counters> counters_;
};

}  // namespace skiff::auth
