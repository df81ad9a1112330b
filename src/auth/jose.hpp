#pragma once
// JOSE for skiff: JSON Web Keys, compact JWS (sign and verify) and JWT claim checks, over
// OpenSSL 3 EVP. Shared by the built-in identity provider (signs), the gateway's Bearer and
// session verification and the AWS ALB header check (verify). Sans-I/O: fetching a JWKS is
// jwks.hpp's job. Depends on skiff_core only. Keys and key sets are immutable once built and
// safe to share between threads.
//
// Hardening, by design (RFC 8725, "JWT Best Current Practices"):
//   - the algorithm comes from an allow-list given by the caller; "none" and every HMAC
//     algorithm are never accepted (a public key is never used as an HMAC secret);
//   - the key's type must match the algorithm's family (RSA for RS*/PS*, EC with the right curve
//     for ES*), and a JWK's own "alg"/"use" must not contradict it;
//   - ECDSA signatures are the raw R||S form of RFC 7518 3.4; DER is refused;
//   - header and payload must be JSON objects without duplicate member names;
//   - tokens longer than a limit are refused before any decoding.

#include <chrono>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.hpp"
#include "core/result.hpp"

namespace skiff::auth::jose {

enum class Alg { kRS256, kRS384, kRS512, kPS256, kPS384, kPS512, kES256, kES384, kES512 };

// "RS256" -> kRS256. nullopt for anything else ("none", "HS256", "rs256", ...).
std::optional<Alg> AlgFromName(std::string_view name);
std::string_view AlgName(Alg alg);

// A public key, or a private key (which can also verify), with its JWK metadata.
class Key {
 public:
  // From a JWK object: kty RSA (n, e) or EC (crv P-256/P-384/P-521, x, y); "kid", "alg", "use"
  // are kept. Private members ("d", ...) are ignored: the result is public. Refuses "oct"
  // (symmetric) keys, RSA moduli under 2048 bits, points not on the curve.
  static Result<Key> FromJwk(const json::object& jwk);
  // From PEM: "PUBLIC KEY" (SPKI), "PRIVATE KEY" (PKCS#8), "RSA PRIVATE KEY", "EC PRIVATE KEY".
  static Result<Key> FromPem(std::string_view pem);
  // A new private key for `alg`: RSA 2048 for RS*/PS*, the algorithm's curve for ES*. Its alg is
  // set, and its kid is its RFC 7638 thumbprint (set_kid may replace it).
  static Result<Key> Generate(Alg alg);

  bool is_private() const;
  // The algorithm this key is meant for (from the JWK "alg", or set by Generate/set_alg).
  std::optional<Alg> alg() const { return alg_; }
  void set_alg(Alg alg) { alg_ = alg; }
  const std::string& kid() const { return kid_; }
  void set_kid(std::string kid) { kid_ = std::move(kid); }
  // True when this key may verify (or sign) `alg`: the family and curve match and a JWK "alg"
  // (if any) equals it and a JWK "use" (if any) is "sig".
  bool Allows(Alg alg) const;

  // The public JWK: kty, kid, use "sig", alg (when known), n/e or crv/x/y (base64url, no
  // leading zero bytes for RSA, fixed-width coordinates for EC).
  json::object PublicJwk() const;
  // PKCS#8 PEM of the private key. FailedPrecondition for a public key.
  Result<std::string> PrivatePem() const;
  std::string PublicPem() const;
  // RFC 7638 JWK thumbprint (SHA-256, base64url): a stable kid for generated keys.
  std::string Thumbprint() const;

  struct Impl;  // OpenSSL EVP_PKEY, shared (immutable)
  // For jose.cpp's Sign/Verify; null for a default-constructed Key.
  const Impl* impl() const { return impl_.get(); }

 private:
  std::shared_ptr<const Impl> impl_;
  std::optional<Alg> alg_;
  std::string kid_;
  std::string use_;
};

// A set of public keys, as served at a JWKS endpoint.
class KeySet {
 public:
  KeySet() = default;
  // Parses {"keys": [...]}. Keys that cannot be used for signatures (kty oct, use "enc",
  // unknown kty or curve) are skipped, not errors; a document that is not a JWKS is.
  static Result<KeySet> FromJwks(std::string_view json_text);
  void Add(Key key);
  // Keys with this kid (normally one).
  std::vector<const Key*> Find(std::string_view kid) const;
  const std::vector<Key>& keys() const { return keys_; }
  // {"keys": [public JWKs]}.
  json::object ToJwks() const;

 private:
  std::vector<Key> keys_;
};

// A compact JWS, decoded but not yet verified.
struct Jws {
  json::object header;
  json::object payload;
  Alg alg = Alg::kRS256;
  std::string kid;            // header "kid", empty when absent
  std::string signing_input;  // the exact bytes signed: "<header>.<payload>" as received
  std::string signature;      // decoded signature bytes
};

struct ParseOptions {
  size_t max_bytes = 16 * 1024;  // longer tokens are refused unread
  std::vector<Alg> algorithms;   // the allow-list; empty = RS256 and ES256
  // AWS ALB's x-amzn-oidc-data carries base64url *with* '=' padding; ordinary JWTs never do.
  bool allow_padding = false;
};

// Splits and decodes a compact JWS: three base64url segments, header and payload JSON objects
// without duplicate names, header "alg" in the allow-list, "crit" refused, "kid" (when present)
// a string of at most 256 printable characters. Errors are Unauthenticated with a reason fit
// for a log line ("alg \"none\" is not allowed") that never contains the token.
Result<Jws> Parse(std::string_view token, const ParseOptions& options = {});

// Checks `jws.signature` over `jws.signing_input` with `key`. Unauthenticated on mismatch or
// when !key.Allows(jws.alg).
Status Verify(const Jws& jws, const Key& key);

// Signs `payload` with a private key as a compact JWS. The header gets "alg" (key.alg()), "typ":
// "JWT" and "kid" (key.kid(), when set). REQUIRES: key.is_private() and key.alg() set.
Result<std::string> Sign(const Key& key, const json::object& payload);

// A value taken from a token, key or header, made safe and short for a log line or an error
// message: in double quotes, printable ASCII kept, '"', '\\' and everything else as \xNN, at
// most `max` input bytes ("..." after a cut).
std::string PrintableForLog(std::string_view s, size_t max = 64);

// JWT claim checks (RFC 7519 4.1).
struct ClaimsPolicy {
  std::vector<std::string> issuers;    // "iss" must equal one; empty = not checked
  std::vector<std::string> audiences;  // "aud" (string or array) must contain one; empty = not
                                       // checked
  std::chrono::seconds skew{60};       // allowed clock difference for exp/nbf/iat
  bool require_exp = true;
};

// Validates iss, aud, exp (required unless told otherwise), nbf and iat (not in the future
// beyond skew). Numeric dates must be numbers. Unauthenticated with the reason.
Status ValidateClaims(const json::object& claims, const ClaimsPolicy& policy,
                      std::chrono::system_clock::time_point now);

// The time claims as ValidateClaims reads them, to check claims that passed it once again at a
// later `now` without looking anything up (iss, aud and the dates' types do not change).
struct ClaimTimes {
  double exp = std::numeric_limits<double>::infinity();          // absent: no limit
  double not_before = -std::numeric_limits<double>::infinity();  // max(nbf, iat); absent: none
  bool known = false;  // set by TimesOf; default-made times never pass WithinTimes
};
// Of claims that passed ValidateClaims (members that are not numeric dates are ignored).
ClaimTimes TimesOf(const json::object& claims);
// True only when ValidateClaims(claims, policy, now) passes for the claims `times` came from
// (the same comparisons); false: run ValidateClaims for the verdict and its reason.
bool WithinTimes(const ClaimTimes& times, const ClaimsPolicy& policy,
                 std::chrono::system_clock::time_point now);

}  // namespace skiff::auth::jose
