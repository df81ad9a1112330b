#pragma once
// AlbVerifier: the AWS Application Load Balancer's `x-amzn-oidc-data` header, verified as AWS
// documents it ("Authenticate users using an Application Load Balancer", user claims
// encoding):
//   - a JWT whose segments are base64url WITH '=' padding; the ES256 signature is checked over
//     the exact bytes received ("<header>.<payload>" with their padding), which is why ordinary
//     JWT libraries fail on it;
//   - header "signer" equals the configured ALB ARN, "client" the configured client id, "iss"
//     the configured issuer, "exp" (in the header) in the future, "alg" ES256;
//   - "kid" is a UUID naming the public key (PEM) served at
//     https://public-keys.auth.elb.<region>.amazonaws.com/<kid>; keys are cached per kid in a
//     bounded cache.
// The payload's claims (sub, email, name, groups, ...) become the identity. The plain
// x-amzn-oidc-identity / x-amzn-oidc-accesstoken headers are never trusted: only this one.
//
// Threading: Verify never blocks (I/O threads); when the key for the kid is not cached it
// fails with NeedsKeyRefresh(status) (jwt.hpp) and the caller runs FetchKey on the blocking
// pool, then Verify again; VerifyOrFetch does both, blocking. Thread-safe.

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "auth/jose.hpp"
#include "auth/jwks.hpp"
#include "auth/jwt.hpp"

namespace skiff::auth {

struct AlbOptions {
  std::string region;                    // e.g. "eu-central-1"; required
  std::vector<std::string> signer_arns;  // header "signer" must equal one; required
  std::string client_id;                 // header "client"; empty = not checked
  std::string issuer;                    // header "iss"; empty = not checked
  // Where keys are fetched: <key_base_url>/<kid>. Empty = the region's AWS endpoint. Tests
  // point it at a local server.
  std::string key_base_url;
  std::string ca_file;  // extra trust anchor for the key endpoint; empty = system store
  std::chrono::milliseconds timeout{5'000};
  std::chrono::seconds skew{60};  // for the header's exp
  size_t max_token_bytes = 16 * 1024;
  size_t max_key_bytes = 16 * 1024;
  size_t max_cached_keys = 64;  // oldest cached kid is dropped beyond this
  // A kid whose key could not be fetched is not asked for again within this time.
  std::chrono::seconds failed_fetch_backoff{30};
};

struct AlbIdentity {
  std::string kid;
  std::string sub;                  // payload "sub" (required)
  std::string email;                // payload "email", when present
  std::string name;                 // payload "name", when present
  std::vector<std::string> groups;  // payload "groups" or "cognito:groups", when present
  json::object header;
  json::object claims;  // the whole payload
};

class AlbVerifier {
 public:
  // InvalidArgument for a missing region or signer, a malformed base URL. `clock` must outlive
  // the verifier (it times the failed-fetch back-off); `fetch` null means http::Fetch.
  static Result<std::unique_ptr<AlbVerifier>> Create(AlbOptions options, Clock& clock,
                                                     FetchFn fetch = nullptr);

  // Non-blocking. Unauthenticated with a reason; NeedsKeyRefresh(status) when the kid's key
  // is not cached yet and may be fetched.
  Result<AlbIdentity> Verify(std::string_view data,
                             std::chrono::system_clock::time_point now) const;
  // Blocking: fetches and caches the key for `kid` (a UUID) unless cached or recently failed.
  Status FetchKey(std::string_view kid);
  // Blocking: Verify, fetching the key when needed, then Verify again.
  Result<AlbIdentity> VerifyOrFetch(std::string_view data,
                                    std::chrono::system_clock::time_point now);

  // The URL a kid's key is fetched from.
  std::string KeyUrl(std::string_view kid) const;
  size_t cached_keys() const;
  int fetch_count() const;

  AlbVerifier(AlbOptions options, Clock& clock, FetchFn fetch);  // use Create

 private:
  Result<jose::Jws> ParseAndCheckHeader(std::string_view data,
                                        std::chrono::system_clock::time_point now) const;

  const AlbOptions options_;
  Clock& clock_;
  const FetchFn fetch_;
  mutable std::mutex mu_;  // guards keys_, order_, failed_, fetches_
  std::map<std::string, std::shared_ptr<const jose::Key>, std::less<>> keys_;
  std::deque<std::string> order_;  // insertion order of keys_, for eviction
  std::map<std::string, std::chrono::steady_clock::time_point, std::less<>> failed_;
  int fetches_ = 0;
};

// "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" with hex digits (either case).
bool IsUuid(std::string_view s);

}  // namespace skiff::auth
