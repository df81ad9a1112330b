#pragma once
// Where verification keys come from: a KeySource hands out the current jose::KeySet as an
// immutable snapshot without blocking, and refreshes it (blocking) when asked. Two kinds:
//   - StaticKeySource: keys held in process (the built-in identity provider hands over its
//     public keys directly; rotation is a Set() of a new snapshot); CallbackKeySource asks a
//     callback instead (the provider's own snapshot getter);
//   - JwksSource: a remote issuer's JWKS, from its jwks_uri or found by OIDC discovery at
//     <issuer>/.well-known/openid-configuration, fetched over HTTPS with an optional CA file
//     (so a self-signed issuer works), a size limit and a time-out.
//
// The gateway runs on I/O threads, so the split is explicit:
//   Current() and RefreshDue() never block: any thread;
//   Refresh() fetches: blocking pool only. Concurrent Refresh calls are serialized, and one
//   that finds the set was just refreshed returns without fetching again.
// Refresh policy of JwksSource: a set is refetched after its TTL (Cache-Control max-age within
// [min_ttl, max_ttl], else `ttl`); a token with an unknown kid may trigger a refetch at most
// once per `min_refresh_interval` (so random kids cannot turn the gateway into a load
// generator against the issuer); a failed fetch keeps the last good set and is not retried
// before `min_refresh_interval` either.

#include <atomic>
#include <chrono>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "auth/jose.hpp"
#include "core/clock.hpp"
#include "core/result.hpp"
#include "http/client.hpp"

namespace skiff::auth {

// Why a refresh is wanted: the set is older than its TTL (or was never loaded), or a token
// names a kid that the set does not have.
enum class RefreshCause { kStale, kUnknownKid };

class KeySource {
 public:
  virtual ~KeySource() = default;
  // The current set; null when none has been loaded yet. Never blocks; thread-safe.
  virtual std::shared_ptr<const jose::KeySet> Current() const = 0;
  // Whether Refresh(cause) would fetch now. Never blocks; thread-safe.
  virtual bool RefreshDue(RefreshCause cause) const = 0;
  // Blocking. Fetches when still due; otherwise returns at once. Ok when the fetch succeeded
  // or was not due and a set is loaded; the fetch error otherwise (Current() still holds the
  // last good set).
  virtual Status Refresh(RefreshCause cause) = 0;
  // The address of Current()'s set (null when none): tells whether a set held elsewhere (a
  // cached verification's, kept alive there) is still the current one without taking a
  // reference. Never blocks; thread-safe; lock-free in the sources below.
  virtual const jose::KeySet* CurrentIdentity() const { return Current().get(); }
};

// Keys held in process. Thread-safe; never blocks.
class StaticKeySource final : public KeySource {
 public:
  explicit StaticKeySource(std::shared_ptr<const jose::KeySet> keys = nullptr)
      : keys_(std::move(keys)) {}
  // Replaces the set (key rotation). Readers that took the old snapshot keep it.
  void Set(std::shared_ptr<const jose::KeySet> keys);
  std::shared_ptr<const jose::KeySet> Current() const override;
  bool RefreshDue(RefreshCause) const override { return false; }
  Status Refresh(RefreshCause) override;
  const jose::KeySet* CurrentIdentity() const override {
    return identity_.load(std::memory_order_acquire);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const jose::KeySet> keys_;                // guarded by mu_
  std::atomic<const jose::KeySet*> identity_{keys_.get()};  // keys_.get(), written under mu_
};

// Keys read from a callback on every Current() (the built-in identity provider's
// PublicKeys(), which rotates on its own). The callback must be thread-safe and must not block.
class CallbackKeySource final : public KeySource {
 public:
  explicit CallbackKeySource(std::function<std::shared_ptr<const jose::KeySet>()> keys)
      : keys_(std::move(keys)) {}
  std::shared_ptr<const jose::KeySet> Current() const override { return keys_(); }
  bool RefreshDue(RefreshCause) const override { return false; }
  Status Refresh(RefreshCause) override {
    return keys_() ? Status::Ok() : Unavailable("no keys have been provided");
  }

 private:
  const std::function<std::shared_ptr<const jose::KeySet>()> keys_;
};

// The HTTP exchange, injectable for tests (default: http::Fetch). Blocking.
using FetchFn = std::function<Result<http::ClientResponse>(const http::ClientRequest&)>;

struct JwksOptions {
  std::string issuer;    // for discovery (and its "issuer" check); may be empty with jwks_uri
  std::string jwks_uri;  // empty: discovered from <issuer>/.well-known/openid-configuration
  std::string ca_file;   // extra trust anchor (PEM) for https; empty = system store
  std::chrono::milliseconds timeout{10'000};  // per HTTP exchange
  size_t max_bytes = 256 * 1024;              // larger JWKS or discovery documents are refused
  std::chrono::seconds min_refresh_interval{30};
  std::chrono::seconds ttl{3600};  // when the response has no usable Cache-Control max-age
  std::chrono::seconds min_ttl{60};
  std::chrono::seconds max_ttl{24 * 3600};
};

class JwksSource final : public KeySource {
 public:
  // InvalidArgument when neither issuer nor jwks_uri is set or a URL is not http(s). `clock`
  // must outlive the source; `fetch` null means http::Fetch.
  static Result<std::shared_ptr<JwksSource>> Create(JwksOptions options, Clock& clock,
                                                    FetchFn fetch = nullptr);

  std::shared_ptr<const jose::KeySet> Current() const override;
  // RefreshDue(kStale) reads one atomic (every request asks it); kUnknownKid takes the lock.
  bool RefreshDue(RefreshCause cause) const override;
  Status Refresh(RefreshCause cause) override;
  const jose::KeySet* CurrentIdentity() const override {
    return identity_.load(std::memory_order_acquire);
  }

  // The JWKS URL in use (after discovery); empty before the first successful discovery.
  std::string jwks_uri() const;
  // Number of HTTP fetches of the JWKS attempted so far (tests, metrics).
  int fetch_count() const;

  JwksSource(JwksOptions options, Clock& clock, FetchFn fetch);  // use Create

 private:
  bool DueLocked(RefreshCause cause, std::chrono::steady_clock::time_point now) const;
  // Publishes keys_ and when DueLocked(kStale, now) turns true to the lock-free readers.
  void PublishLocked();
  Result<std::string> DiscoverLocked();
  Result<http::ClientResponse> Get(const std::string& url) const;

  const JwksOptions options_;
  Clock& clock_;
  const FetchFn fetch_;
  std::mutex refresh_mu_;  // serializes Refresh (held across the fetch; mu_ is not)
  mutable std::mutex mu_;  // guards everything below
  std::shared_ptr<const jose::KeySet> keys_;
  std::string jwks_uri_;
  std::optional<std::chrono::steady_clock::time_point> last_attempt_;
  std::chrono::steady_clock::time_point expires_{};
  Status last_error_;
  int fetches_ = 0;
  std::atomic<const jose::KeySet*> identity_{nullptr};  // keys_.get()
  // DueLocked(kStale, now) == (now.time_since_epoch().count() >= stale_due_); min: due now.
  std::atomic<std::chrono::steady_clock::rep> stale_due_{
      std::numeric_limits<std::chrono::steady_clock::rep>::min()};
};

// The max-age of a Cache-Control value: N for "max-age=N", 0 for no-store/no-cache (the caller
// clamps to its minimum TTL), nullopt when neither is present or the value is malformed.
std::optional<std::chrono::seconds> CacheControlMaxAge(std::string_view value);

}  // namespace skiff::auth
