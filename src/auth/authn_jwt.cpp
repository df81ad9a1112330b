#include "auth/authn_jwt.hpp"

#include <atomic>
#include <memory>

#include "auth/jwks.hpp"
#include "auth/jwt.hpp"

namespace skiff::auth {

Result<JwtIssuer> MakeRemoteJwtIssuer(JwtPolicy policy, RemoteJwksOptions options,
                                      ClaimMapping mapping, Clock& clock) {
  JwksOptions jo;
  jo.issuer = policy.issuer;
  jo.jwks_uri = options.jwks_uri;
  jo.ca_file = options.ca_file;
  jo.min_refresh_interval = options.min_refresh;
  SKIFF_ASSIGN_OR_RETURN(std::shared_ptr<JwksSource> source, JwksSource::Create(jo, clock));
  JwtVerifierOptions vo;
  vo.algorithms = policy.algorithms;
  vo.claims.issuers = {policy.issuer};
  vo.claims.audiences = policy.audiences;
  vo.claims.skew = policy.skew;
  vo.cache = policy.cache;
  auto verifier = std::make_shared<const JwtVerifier>(vo, source);
  JwtIssuer issuer;
  issuer.issuer = policy.issuer;
  issuer.mapping = std::move(mapping);
  issuer.may_block = true;
  http::TaskRunner* refresher = options.refresher;
  auto refreshing = std::make_shared<std::atomic<bool>>(false);  // one background fetch at a time
  // Every non-blocking use notices a stale set: only a loaded set goes stale in the background
  // (the first fetch happens on the request path, NeedsKeyRefresh: a background fetch racing it
  // would use up the source's minimum refresh interval and leave that request without keys).
  auto refresh_if_stale = [verifier, refresher, refreshing] {
    if (refresher != nullptr && verifier->keys().CurrentIdentity() != nullptr &&
        verifier->keys().RefreshDue(RefreshCause::kStale) && !refreshing->exchange(true)) {
      refresher->Post([verifier, refreshing] {
        // A failure keeps the last good set; the source retries after its minimum interval.
        (void)verifier->keys().Refresh(RefreshCause::kStale);
        refreshing->store(false);
      });
    }
  };
  issuer.verify_inline = [verifier, &clock,
                          refresh_if_stale](std::string_view token) -> Result<json::object> {
    refresh_if_stale();
    SKIFF_ASSIGN_OR_RETURN(auto v, verifier->VerifyShared(token, clock.Now()));
    return v->claims;
  };
  // Shares the cached result: no copy of the claims.
  issuer.cached = [verifier, &clock, refresh_if_stale](const VerifiedJwtCache::Key& key) {
    refresh_if_stale();
    return verifier->FindCached(key, clock.Now());
  };
  issuer.verify = [verifier, &clock](std::string_view token) -> Result<json::object> {
    SKIFF_ASSIGN_OR_RETURN(auto v, verifier->VerifyOrRefreshShared(token, clock.Now()));
    return v->claims;
  };
  return issuer;
}

namespace {

json::object AlbClaims(AlbIdentity id) {
  json::object claims = std::move(id.claims);
  if (!claims.contains("groups") && !id.groups.empty()) {
    json::array groups;
    for (auto& g : id.groups) groups.emplace_back(g);
    claims["groups"] = std::move(groups);
  }
  return claims;
}

}  // namespace

Result<AlbMode> MakeAlbMode(AlbOptions options, ClaimMapping mapping, Clock& clock) {
  SKIFF_ASSIGN_OR_RETURN(std::unique_ptr<AlbVerifier> created,
                         AlbVerifier::Create(std::move(options), clock));
  std::shared_ptr<AlbVerifier> verifier = std::move(created);
  AlbMode mode;
  mode.mapping = std::move(mapping);
  mode.verify_inline = [verifier, &clock](std::string_view data) -> Result<json::object> {
    SKIFF_ASSIGN_OR_RETURN(AlbIdentity id, verifier->Verify(data, clock.Now()));
    return AlbClaims(std::move(id));
  };
  mode.verify = [verifier, &clock](std::string_view data) -> Result<json::object> {
    SKIFF_ASSIGN_OR_RETURN(AlbIdentity id, verifier->VerifyOrFetch(data, clock.Now()));
    return AlbClaims(std::move(id));
  };
  return mode;
}

Result<std::vector<jose::Alg>> ParseAlgorithms(const std::vector<std::string>& names) {
  std::vector<jose::Alg> out;
  for (const auto& n : names) {
    auto a = jose::AlgFromName(n);
    if (!a) return InvalidArgument("unsupported algorithm \"" + n + "\"");
    out.push_back(*a);
  }
  return out;
}

}  // namespace skiff::auth
