#include "auth/jwks.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "core/json.hpp"

namespace skiff::auth {

namespace {

bool IsHttpUrl(std::string_view url) {
  return url.rfind("https://", 0) == 0 || url.rfind("http://", 0) == 0;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

void StaticKeySource::Set(std::shared_ptr<const jose::KeySet> keys) {
  std::lock_guard lock(mu_);
  keys_ = std::move(keys);
  identity_.store(keys_.get(), std::memory_order_release);
}

std::shared_ptr<const jose::KeySet> StaticKeySource::Current() const {
  std::lock_guard lock(mu_);
  return keys_;
}

Status StaticKeySource::Refresh(RefreshCause) {
  return Current() ? Status::Ok() : Unavailable("no keys have been provided");
}

std::optional<std::chrono::seconds> CacheControlMaxAge(std::string_view value) {
  std::optional<std::chrono::seconds> out;
  while (!value.empty()) {
    const size_t comma = value.find(',');
    const std::string directive = Lower(http::TrimOws(value.substr(0, comma)));
    value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
    if (directive == "no-store" || directive == "no-cache") return std::chrono::seconds(0);
    if (directive.rfind("max-age=", 0) == 0) {
      std::string_view num(directive);
      num.remove_prefix(8);
      if (num.size() >= 2 && num.front() == '"' && num.back() == '"') {
        num = num.substr(1, num.size() - 2);
      }
      int64_t n = 0;
      auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), n);
      if (ec != std::errc() || p != num.data() + num.size() || n < 0) continue;
      out = std::chrono::seconds(n);
    }
  }
  return out;
}

JwksSource::JwksSource(JwksOptions options, Clock& clock, FetchFn fetch)
    : options_(std::move(options)),
      clock_(clock),
      fetch_(fetch ? std::move(fetch) : FetchFn(http::Fetch)),
      jwks_uri_(options_.jwks_uri) {}

Result<std::shared_ptr<JwksSource>> JwksSource::Create(JwksOptions options, Clock& clock,
                                                       FetchFn fetch) {
  if (options.issuer.empty() && options.jwks_uri.empty()) {
    return InvalidArgument("a JWKS source needs an issuer (for discovery) or a jwks_uri");
  }
  if (!options.jwks_uri.empty() && !IsHttpUrl(options.jwks_uri)) {
    return InvalidArgument("jwks_uri must be an http(s) URL: " + options.jwks_uri);
  }
  if (options.jwks_uri.empty() && !IsHttpUrl(options.issuer)) {
    return InvalidArgument("issuer must be an http(s) URL for discovery: " + options.issuer);
  }
  if (options.min_ttl > options.max_ttl) {
    return InvalidArgument("JWKS min_ttl is larger than max_ttl");
  }
  return std::make_shared<JwksSource>(std::move(options), clock, std::move(fetch));
}

std::shared_ptr<const jose::KeySet> JwksSource::Current() const {
  std::lock_guard lock(mu_);
  return keys_;
}

bool JwksSource::DueLocked(RefreshCause cause, std::chrono::steady_clock::time_point now) const {
  if (!last_attempt_) return true;
  // Never more often than the minimum interval, whatever the cause or the last outcome.
  if (now - *last_attempt_ < options_.min_refresh_interval) return false;
  if (!keys_) return true;  // still nothing loaded: keep trying, at the minimum interval
  if (cause == RefreshCause::kUnknownKid) return true;
  return now >= expires_;
}

void JwksSource::PublishLocked() {
  identity_.store(keys_.get(), std::memory_order_release);
  std::chrono::steady_clock::rep due = std::numeric_limits<std::chrono::steady_clock::rep>::min();
  if (last_attempt_) {
    auto at = *last_attempt_ + options_.min_refresh_interval;
    if (keys_) at = std::max(at, expires_);
    due = at.time_since_epoch().count();
  }
  stale_due_.store(due, std::memory_order_release);
}

bool JwksSource::RefreshDue(RefreshCause cause) const {
  const auto now = clock_.Steady();
  if (cause == RefreshCause::kStale) {
    return now.time_since_epoch().count() >= stale_due_.load(std::memory_order_acquire);
  }
  std::lock_guard lock(mu_);
  return DueLocked(cause, now);
}

std::string JwksSource::jwks_uri() const {
  std::lock_guard lock(mu_);
  return jwks_uri_;
}

int JwksSource::fetch_count() const {
  std::lock_guard lock(mu_);
  return fetches_;
}

Result<http::ClientResponse> JwksSource::Get(const std::string& url) const {
  http::ClientRequest req;
  req.url = url;
  req.timeout = options_.timeout;
  req.max_response_bytes = options_.max_bytes;
  req.ca_file = options_.ca_file;
  req.headers.Set("Accept", "application/json");
  auto resp = fetch_(req);
  if (!resp) return resp.error().WithPrefix("GET " + url);
  if (resp->status != 200) {
    return Unavailable("GET " + url + " answered HTTP " + std::to_string(resp->status));
  }
  return resp;
}

Result<std::string> JwksSource::DiscoverLocked() {
  std::string issuer = options_.issuer;
  while (!issuer.empty() && issuer.back() == '/') issuer.pop_back();
  const std::string url = issuer + "/.well-known/openid-configuration";
  SKIFF_ASSIGN_OR_RETURN(http::ClientResponse resp, Get(url));
  auto doc = ParseJsonObject(resp.body);
  if (!doc) return Unavailable("discovery document at " + url + " is not a JSON object");
  // OpenID Connect Discovery 1.0, 4.3: the document must name exactly the issuer asked for.
  if (GetString(*doc, "issuer") != options_.issuer) {
    return Unavailable("discovery document at " + url + " names issuer \"" +
                       GetString(*doc, "issuer") + "\", not \"" + options_.issuer + "\"");
  }
  std::string uri = GetString(*doc, "jwks_uri");
  if (!IsHttpUrl(uri)) return Unavailable("discovery document at " + url + " has no jwks_uri");
  return uri;
}

Status JwksSource::Refresh(RefreshCause cause) {
  std::lock_guard refresh(refresh_mu_);
  std::string uri;
  {
    std::lock_guard lock(mu_);
    if (!DueLocked(cause, clock_.Steady())) {
      if (keys_) return Status::Ok();
      return last_error_.ok() ? Unavailable("JWKS not loaded yet") : last_error_;
    }
    last_attempt_ = clock_.Steady();
    ++fetches_;
    uri = jwks_uri_;
    PublishLocked();
  }
  // Only this thread fetches (refresh_mu_); readers keep using the old snapshot meanwhile.
  auto fail = [&](Status s) {
    std::lock_guard lock(mu_);
    last_error_ = s;
    return s;
  };
  if (uri.empty()) {
    auto discovered = DiscoverLocked();
    if (!discovered) return fail(discovered.error());
    uri = *discovered;
  }
  auto resp = Get(uri);
  if (!resp) return fail(resp.error());
  auto set = jose::KeySet::FromJwks(resp->body);
  if (!set) return fail(Unavailable("JWKS at " + uri + ": " + set.error().message()));
  if (set->keys().empty()) return fail(Unavailable("JWKS at " + uri + " has no usable keys"));
  std::chrono::seconds ttl = options_.ttl;
  if (auto cc = resp->headers.Get("Cache-Control")) {
    if (auto max_age = CacheControlMaxAge(*cc)) ttl = *max_age;
  }
  ttl = std::clamp(ttl, options_.min_ttl, options_.max_ttl);
  auto snapshot = std::make_shared<const jose::KeySet>(std::move(*set));
  std::lock_guard lock(mu_);
  keys_ = std::move(snapshot);
  jwks_uri_ = uri;
  expires_ = clock_.Steady() + ttl;
  last_error_ = Status::Ok();
  PublishLocked();
  return Status::Ok();
}

}  // namespace skiff::auth
