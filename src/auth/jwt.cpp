#include "auth/jwt.hpp"

#include "core/result.hpp"

namespace skiff::auth {

namespace {

Status RefreshableError(std::string message) {
  return Status(Code::kUnauthenticated, std::move(message), std::string(kKeyRefreshReason));
}

}  // namespace

JwtVerifier::JwtVerifier(JwtVerifierOptions options, std::shared_ptr<KeySource> keys)
    : options_(std::move(options)), keys_(std::move(keys)) {
  SKIFF_CHECK(keys_ != nullptr);
}

Result<VerifiedJwt> JwtVerifier::Verify(std::string_view token,
                                        std::chrono::system_clock::time_point now) const {
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
    last = jose::Verify(jws, *k);
    if (last.ok()) {
      verified_by = k;
      break;
    }
  }
  if (!verified_by) return last;
  SKIFF_RETURN_IF_ERROR(jose::ValidateClaims(jws.payload, options_.claims, now));
  VerifiedJwt out;
  out.alg = jws.alg;
  out.kid = jws.kid.empty() ? verified_by->kid() : jws.kid;
  out.header = std::move(jws.header);
  out.claims = std::move(jws.payload);
  return out;
}

Result<VerifiedJwt> JwtVerifier::VerifyOrRefresh(std::string_view token,
                                                 std::chrono::system_clock::time_point now) const {
  if (keys_->RefreshDue(RefreshCause::kStale)) {
    // A failure keeps the old set (if any): verification below decides.
    (void)keys_->Refresh(RefreshCause::kStale);
  }
  auto r = Verify(token, now);
  if (r || !NeedsKeyRefresh(r.error())) return r;
  Status refreshed = keys_->Refresh(RefreshCause::kUnknownKid);
  auto again = Verify(token, now);
  if (again) return again;
  if (!refreshed.ok() && !keys_->Current()) {
    return Unauthenticated(again.error().message() + " (key fetch failed: " + refreshed.message() +
                           ")");
  }
  // Still unknown after the refresh: a plain rejection, not another refresh.
  return Unauthenticated(again.error().message());
}

}  // namespace skiff::auth
