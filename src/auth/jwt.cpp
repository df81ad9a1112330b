#include "auth/jwt.hpp"

#include "core/result.hpp"

namespace skiff::auth {

namespace {

Status RefreshableError(std::string message) {
  return Status(Code::kUnauthenticated, std::move(message), std::string(kKeyRefreshReason));
}

}  // namespace

JwtVerifier::JwtVerifier(JwtVerifierOptions options, std::shared_ptr<KeySource> keys)
    : options_(std::move(options)),
      keys_(std::move(keys)),
      cache_(std::make_shared<VerifiedJwtCache>(options_.cache)),
      counters_(std::make_shared<Counters>()) {
  SKIFF_CHECK(keys_ != nullptr);
}

JwtVerifierStats JwtVerifier::stats() const {
  JwtVerifierStats s;
  s.signature_checks = counters_->signature_checks.load(std::memory_order_relaxed);
  s.cache_hits = counters_->cache_hits.load(std::memory_order_relaxed);
  s.cache_misses = counters_->cache_misses.load(std::memory_order_relaxed);
  return s;
}

const Principal* PrincipalMemo::Keep(uint64_t owner, Principal p) const {
  auto* made = new Kept{owner, std::move(p)};
  Kept* expected = nullptr;
  if (kept_.compare_exchange_strong(expected, made, std::memory_order_acq_rel,
                                    std::memory_order_acquire)) {
    return &made->principal;
  }
  delete made;
  return expected->owner == owner ? &expected->principal : nullptr;
}

Result<VerifiedJwt> JwtVerifier::Verify(std::string_view token,
                                        std::chrono::system_clock::time_point now) const {
  SKIFF_ASSIGN_OR_RETURN(std::shared_ptr<const VerifiedJwt> v, VerifyShared(token, now));
  return VerifiedJwt(*v);
}

Result<std::shared_ptr<const VerifiedJwt>> JwtVerifier::VerifyShared(
    std::string_view token, std::chrono::system_clock::time_point now) const {
  // Oversized tokens are refused by VerifyFull before any hashing.
  if (!cache_->enabled() || token.size() > options_.max_token_bytes) {
    return VerifyFull(token, now, nullptr);
  }
  const VerifiedJwtCache::Key key = VerifiedJwtCache::KeyOf(token);
  if (auto hit = FindCached(key, now)) return std::move(*hit);
  counters_->cache_misses.fetch_add(1, std::memory_order_relaxed);
  VerifiedJwtCache::Entry entry;
  auto r = VerifyFull(token, now, &entry);
  if (r) {
    entry.jwt = *r;
    entry.cached_at = now;
    cache_->Insert(key, std::move(entry));
  }
  return r;
}

std::optional<Result<std::shared_ptr<const VerifiedJwt>>> JwtVerifier::FindCached(
    const VerifiedJwtCache::Key& key, std::chrono::system_clock::time_point now) const {
  if (!cache_->enabled()) return std::nullopt;
  std::optional<VerifiedJwtCache::Entry> hit = cache_->Find(key, now);
  if (!hit) return std::nullopt;
  std::optional<Status> checked = CheckCached(key, *hit, now);
  if (!checked) return std::nullopt;
  if (!checked->ok()) return Result<std::shared_ptr<const VerifiedJwt>>(*checked);
  counters_->cache_hits.fetch_add(1, std::memory_order_relaxed);
  return Result<std::shared_ptr<const VerifiedJwt>>(std::move(hit->jwt));
}

std::optional<Status> JwtVerifier::CheckCached(const VerifiedJwtCache::Key& key,
                                               const VerifiedJwtCache::Entry& entry,
                                               std::chrono::system_clock::time_point now) const {
  if (!jose::WithinTimes(entry.jwt->times, options_.claims, now)) {
    if (Status claims = jose::ValidateClaims(entry.jwt->claims, options_.claims, now);
        !claims.ok()) {
      cache_->Erase(key);
      return claims;
    }
  }
  // The set that verified it is still the current one (it is alive: the entry holds it).
  if (entry.set != nullptr && keys_->CurrentIdentity() == entry.set.get()) return Status::Ok();
  const std::shared_ptr<const jose::KeySet> set = keys_->Current();
  if (set && set == entry.set) return Status::Ok();
  // The set was replaced (refresh, rotation): honour the entry only if the same public key is
  // still there under the same kid and still allowed for the algorithm.
  if (set) {
    const bool had_kid = entry.jwt->header.contains("kid");
    std::string thumbprint;
    for (const jose::Key& k : set->keys()) {
      if (had_kid && k.kid() != entry.jwt->kid) continue;
      if (!k.Allows(entry.jwt->alg)) continue;
      bool same = k.impl() == entry.key->impl();
      if (!same) {
        if (thumbprint.empty()) thumbprint = entry.key->Thumbprint();
        same = k.Thumbprint() == thumbprint;
      }
      if (same) {
        cache_->Rebind(key, set, &k);
        return Status::Ok();
      }
    }
  }
  cache_->Erase(key);
  return std::nullopt;
}

Result<std::shared_ptr<const VerifiedJwt>> JwtVerifier::VerifyFull(
    std::string_view token, std::chrono::system_clock::time_point now,
    VerifiedJwtCache::Entry* verified) const {
  jose::ParseOptions parse;
  parse.max_bytes = options_.max_token_bytes;
  parse.algorithms = options_.algorithms;
  SKIFF_ASSIGN_OR_RETURN(jose::Jws jws, jose::Parse(token, parse));

  const std::shared_ptr<const jose::KeySet> set = keys_->Current();
  if (!set) {
    if (keys_->RefreshDue(RefreshCause::kUnknownKid)) {
      return RefreshableError("no verification keys loaded yet");
    }
    return Unauthenticated("no verification keys available");
  }
  std::vector<const jose::Key*> candidates;
  if (!jws.kid.empty()) {
    std::vector<const jose::Key*> found = set->Find(jws.kid);
    if (found.empty()) {
      std::string msg = "unknown kid " + jose::PrintableForLog(jws.kid);
      if (keys_->RefreshDue(RefreshCause::kUnknownKid)) return RefreshableError(std::move(msg));
      return Unauthenticated(std::move(msg));
    }
    for (const jose::Key* k : found) {
      if (k->Allows(jws.alg)) candidates.push_back(k);
    }
    if (candidates.empty()) {
      return Unauthenticated("key " + jose::PrintableForLog(jws.kid) + " may not verify " +
                             std::string(jose::AlgName(jws.alg)));
    }
  } else {
    for (const jose::Key& k : set->keys()) {
      if (k.Allows(jws.alg)) candidates.push_back(&k);
    }
    if (candidates.empty()) {
      return Unauthenticated("token has no kid and no key may verify " +
                             std::string(jose::AlgName(jws.alg)));
    }
  }
  const jose::Key* verified_by = nullptr;
  Status last;
  for (const jose::Key* k : candidates) {
    counters_->signature_checks.fetch_add(1, std::memory_order_relaxed);
    last = jose::Verify(jws, *k);
    if (last.ok()) {
      verified_by = k;
      break;
    }
  }
  if (!verified_by) return last;
  SKIFF_RETURN_IF_ERROR(jose::ValidateClaims(jws.payload, options_.claims, now));
  auto out = std::make_shared<VerifiedJwt>();
  out->alg = jws.alg;
  out->kid = jws.kid.empty() ? verified_by->kid() : jws.kid;
  out->header = std::move(jws.header);
  out->claims = std::move(jws.payload);
  out->times = jose::TimesOf(out->claims);
  if (verified != nullptr) {
    verified->set = set;
    verified->key = verified_by;
  }
  return std::shared_ptr<const VerifiedJwt>(std::move(out));
}

Result<VerifiedJwt> JwtVerifier::VerifyOrRefresh(std::string_view token,
                                                 std::chrono::system_clock::time_point now) const {
  SKIFF_ASSIGN_OR_RETURN(std::shared_ptr<const VerifiedJwt> v, VerifyOrRefreshShared(token, now));
  return VerifiedJwt(*v);
}

Result<std::shared_ptr<const VerifiedJwt>> JwtVerifier::VerifyOrRefreshShared(
    std::string_view token, std::chrono::system_clock::time_point now) const {
  if (keys_->RefreshDue(RefreshCause::kStale)) {
    // A failure keeps the old set (if any): verification below decides.
    (void)keys_->Refresh(RefreshCause::kStale);
  }
  auto r = VerifyShared(token, now);
  if (r || !NeedsKeyRefresh(r.error())) return r;
  Status refreshed = keys_->Refresh(RefreshCause::kUnknownKid);
  auto again = VerifyShared(token, now);
  if (again) return again;
  if (!refreshed.ok() && !keys_->Current()) {
    return Unauthenticated(again.error().message() + " (key fetch failed: " + refreshed.message() +
                           ")");
  }
  // Still unknown after the refresh: a plain rejection, not another refresh.
  return Unauthenticated(again.error().message());
}

}  // namespace skiff::auth
