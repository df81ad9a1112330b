#pragma once
// skiff_dashboard: serves the web dashboard (web/, built by Vite and embedded in the binary by
// cmake/web.cmake) and the JSON the dashboard needs that no other API gives (model_stats.hpp).
// Depends on skiff_core, skiff_http, skiff_authz and skiff_serving; nothing depends on it but
// skiff_cli, which mounts it as the LAST built-in route of the routing table ("dashboard",
// path prefix "/", GET/HEAD, predicate Dashboard::Wants), after model serving: API clients
// (Accept: application/json) that match no route still get the gateway's JSON 404 naming the
// candidate routes, and browsers navigating anywhere get the app.
//
// Authentication is the gateway's, as for every route: a browser without a session that
// navigates to "/" or "/models/team-a/iris" is redirected to the login provider (auth::Gateway,
// step 7) and comes back to the same path; asset requests without a session get 401. The CSRF
// double-submit cookie the web app reads (auth/csrf.hpp, XSRF-TOKEN, not HttpOnly) is set by the
// gateway on the login callback's redirect and on any session request that arrives without it
// (auth::Gateway::Decide, Decision::set_cookies), so it is present from the first dashboard page
// of every browser session; the web app echoes it in X-XSRF-TOKEN on state-changing calls.
//
// Threading: Dashboard is immutable after construction; Handle is sans-I/O, never blocks and may
// run inline on I/O threads from any number of threads at once.

#include <map>
#include <span>
#include <string>
#include <string_view>

#include "dashboard/assets.hpp"
#include "http/http.hpp"

namespace skiff::dashboard {

// The Content-Security-Policy of every dashboard response. Vite's output for this app loads
// scripts and styles from /assets only (no inline script); components set style attributes
// (hence 'unsafe-inline' for styles only) and small images may be data: URLs.
inline constexpr std::string_view kContentSecurityPolicy =
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'";
inline constexpr std::string_view kImmutableCaching = "public, max-age=31536000, immutable";

// Whether a client that sent this Accept-Encoding takes gzip (RFC 9110 section 12.5.3): "gzip"
// or "x-gzip" with q > 0, or else "*" with q > 0. "gzip;q=0" refuses it.
bool AcceptsGzip(std::string_view accept_encoding);
// Whether If-None-Match (a list of entity tags, or "*") matches any of `etags` (weak comparison,
// RFC 9110 section 13.1.2).
bool IfNoneMatchMatches(std::string_view if_none_match,
                        std::initializer_list<std::string_view> etags);
// Whether the request's Accept names text/html (a browser navigating).
bool AcceptsHtml(const http::HeaderMap& headers);

class Dashboard {
 public:
  // `assets` (EmbeddedAssets(), or a test's table) must outlive the Dashboard. `built` false
  // means the binary was built without the web app: HTML requests get a page saying how to
  // build it.
  explicit Dashboard(std::span<const Asset> assets, bool built = true);

  // The gateway route's predicate: `path` is an embedded file ("/" stands for /index.html), or
  // the request accepts text/html (the single-page app's own paths, like /models/team-a/iris).
  bool Wants(std::string_view path, const http::HeaderMap& headers) const;
  // The embedded file at `path` ("/" is /index.html), or null. Exact match only: a path that is
  // not literally in the table (however it is spelled: "/../x", "%2e%2e") finds nothing.
  const Asset* Find(std::string_view path) const;

  // Answers GET/HEAD (405 otherwise):
  //   - an embedded file: its Content-Type; the gzip copy with Content-Encoding: gzip when the
  //     client accepts it (Vary: Accept-Encoding whenever a gzip copy exists); a strong ETag
  //     (the gzip copy's is the identity's with "-gz" appended) and 304 when If-None-Match
  //     matches either; Cache-Control immutable for /assets/* (hashed names), no-cache for the
  //     others (index.html, favicon.svg);
  //   - any other path from a client that accepts text/html: index.html, 200, no-cache (the
  //     app's router shows the page), except under /assets/ (a missing hashed file is 404);
  //   - anything else: 404 JSON.
  // Every answer carries the security headers (CSP above, X-Content-Type-Options: nosniff,
  // Referrer-Policy: same-origin, X-Frame-Options: DENY).
  http::Response Handle(const http::Request& req) const;

 private:
  http::Response Serve(const http::Request& req, const Asset& asset, bool immutable) const;
  http::Response NotBuilt() const;

  std::map<std::string_view, const Asset*, std::less<>> by_path_;
  const Asset* index_ = nullptr;
  bool built_;
};

// Adds the security headers every dashboard response carries.
void AddSecurityHeaders(http::HeaderMap& headers);

}  // namespace skiff::dashboard
