#include "auth/authn_jwt.hpp"

#include "auth/oidc_rp.hpp"
#include "core/log.hpp"
#include "http/client.hpp"

namespace skiff::auth {

namespace {

Result<json::object> VerifyWith(const JwtPolicy& policy, const jose::KeySet& keys,
                                std::string_view token, Clock& clock, bool* unknown_kid) {
  *unknown_kid = false;
  jose::ParseOptions po;
  po.algorithms = policy.algorithms;
  SKIFF_ASSIGN_OR_RETURN(jose::Jws jws, jose::Parse(token, po));
  std::vector<const jose::Key*> candidates;
  if (!jws.kid.empty()) {
    candidates = keys.Find(jws.kid);
    if (candidates.empty()) {
      *unknown_kid = true;
      return Unauthenticated("unknown kid");
    }
  } else {
    for (const auto& k : keys.keys()) candidates.push_back(&k);
  }
  Status last = Unauthenticated("no key can verify this token's algorithm");
  bool verified = false;
  for (const jose::Key* k : candidates) {
    if (!k->Allows(jws.alg)) continue;
    last = jose::Verify(jws, *k);
    if (last.ok()) {
      verified = true;
      break;
    }
  }
  if (!verified) return last;
  jose::ClaimsPolicy cp;
  cp.issuers = {policy.issuer};
  cp.audiences = policy.audiences;
  cp.skew = policy.skew;
  SKIFF_RETURN_IF_ERROR(jose::ValidateClaims(jws.payload, cp, clock.Now()));
  return std::move(jws.payload);
}

class RemoteKeys {
 public:
  RemoteKeys(std::string issuer, RemoteJwksOptions options, Clock& clock)
      : issuer_(std::move(issuer)), options_(std::move(options)), clock_(clock) {}

  // The cached set; fetches when empty, stale, or (rate-limited) when `refresh` is asked.
  std::shared_ptr<const jose::KeySet> Get(bool refresh) {
    std::lock_guard lock(mu_);  // one fetch at a time; others wait for its result
    auto now = clock_.Steady();
    bool stale = keys_ == nullptr || now - fetched_ >= options_.max_age;
    bool may_refresh = keys_ == nullptr || now - last_attempt_ >= options_.min_refresh;
    if ((stale || refresh) && may_refresh) {
      last_attempt_ = now;
      auto fetched = Fetch();
      if (fetched) {
        keys_ = std::make_shared<const jose::KeySet>(std::move(*fetched));
        fetched_ = now;
      } else {
        spdlog::warn("auth: cannot fetch the JWKS of {}: {}", issuer_, fetched.error().message());
      }
    }
    return keys_;
  }

 private:
  Result<jose::KeySet> Fetch() {
    std::string uri = options_.jwks_uri;
    if (uri.empty()) {
      SKIFF_ASSIGN_OR_RETURN(ProviderMetadata m, DiscoverProvider(issuer_, options_.ca_file));
      uri = m.jwks_uri;
      options_.jwks_uri = uri;
    }
    http::ClientRequest req;
    req.url = uri;
    req.ca_file = options_.ca_file;
    req.timeout = std::chrono::seconds(10);
    req.max_response_bytes = 1 << 20;
    SKIFF_ASSIGN_OR_RETURN(http::ClientResponse resp, http::Fetch(req));
    if (resp.status != 200) return Unavailable(uri + " answered " + std::to_string(resp.status));
    return jose::KeySet::FromJwks(resp.body);
  }

  std::string issuer_;
  RemoteJwksOptions options_;  // mu_ (jwks_uri is filled in by discovery)
  Clock& clock_;
  std::mutex mu_;
  std::shared_ptr<const jose::KeySet> keys_;            // mu_
  std::chrono::steady_clock::time_point fetched_;       // mu_
  std::chrono::steady_clock::time_point last_attempt_;  // mu_
};

}  // namespace

ClaimsVerifier MakeRemoteJwtVerifier(JwtPolicy policy, RemoteJwksOptions options, Clock& clock) {
  auto keys = std::make_shared<RemoteKeys>(policy.issuer, std::move(options), clock);
  return
      [policy = std::move(policy), keys, &clock](std::string_view token) -> Result<json::object> {
        auto set = keys->Get(false);
        if (set == nullptr) return Unavailable("the issuer's keys are not available");
        bool unknown_kid = false;
        auto claims = VerifyWith(policy, *set, token, clock, &unknown_kid);
        if (claims || !unknown_kid) return claims;
        // A kid we have not seen: the issuer may have rotated its keys. Refetch (rate-limited).
        auto fresh = keys->Get(true);
        if (fresh == nullptr || fresh == set) return claims;
        return VerifyWith(policy, *fresh, token, clock, &unknown_kid);
      };
}

ClaimsVerifier MakeKeySetJwtVerifier(JwtPolicy policy,
                                     std::function<std::shared_ptr<const jose::KeySet>()> keys,
                                     Clock& clock) {
  return [policy = std::move(policy), keys = std::move(keys),
          &clock](std::string_view token) -> Result<json::object> {
    auto set = keys();
    if (set == nullptr) return Unavailable("no keys");
    bool unknown_kid = false;
    return VerifyWith(policy, *set, token, clock, &unknown_kid);
  };
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
