#pragma once
// Small sans-I/O helpers of the gateway's authentication: cookies, source-address ranges,
// "is this request HTTPS", the request's own origin and same-origin redirect targets.
// Pure functions and immutable values; thread-safe.

#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "http/http.hpp"

namespace skiff::auth {

// The value of cookie `name` in the request's Cookie headers (first match), or nullopt.
std::optional<std::string> CookieValue(const http::HeaderMap& headers, std::string_view name);

struct CookieAttributes {
  bool http_only = true;
  bool secure = false;
  std::string same_site = "Lax";
  std::string path = "/";
  // Unset: a browser-session cookie. Zero: delete the cookie (Max-Age=0).
  std::optional<std::chrono::seconds> max_age;
};
// A Set-Cookie header value. REQUIRES: name and value are cookie-safe tokens.
std::string SetCookie(std::string_view name, std::string_view value, const CookieAttributes& a);

// An IPv4 or IPv6 address range ("10.0.0.0/8", "127.0.0.1", "::1/128").
class Cidr {
 public:
  static Result<Cidr> Parse(std::string_view text);
  // `addr` as in Request::remote_addr ("127.0.0.1:5432", "[::1]:5432") or a bare address.
  bool Contains(std::string_view addr) const;

 private:
  bool v6_ = false;
  std::array<unsigned char, 16> bytes_{};
  int bits_ = 0;
};
// Parses a comma-separated or list form; errors name the bad entry.
Result<std::vector<Cidr>> ParseCidrs(const std::vector<std::string>& entries);
bool AnyContains(const std::vector<Cidr>& cidrs, std::string_view addr);

// The request came over HTTPS: TLS on the connection, or "X-Forwarded-Proto: https" sent by a
// peer inside `trusted_proxies`.
bool IsSecureRequest(const http::Request& req, const std::vector<Cidr>& trusted_proxies);
// "https://host:port" as the client addressed us (scheme from IsSecureRequest, Host header).
// Empty when there is no Host header.
std::string RequestOrigin(const http::Request& req, const std::vector<Cidr>& trusted_proxies);

// A redirect target that stays on this site: a path starting with a single '/', no backslash,
// no scheme, no control characters. Anything else (absolute URLs, "//host", "/\\host") is
// refused with nullopt: this is the open-redirect guard for next/rd/remembered targets.
std::optional<std::string> SafeLocalTarget(std::string_view target);

// The request accepts HTML and is a top-level navigation: GET/HEAD, Accept contains text/html,
// not an XMLHttpRequest.
bool IsBrowserNavigation(const http::Request& req);

// Form/query encoding of one component (RFC 3986 unreserved kept).
std::string UrlEncode(std::string_view s);

// "a, b,,c " -> {"a", "b", "c"}: comma-separated items, trimmed of spaces, empty ones dropped
// (group lists in headers and claims, lists given as one string in settings).
std::vector<std::string> SplitCommaList(std::string_view s);

}  // namespace skiff::auth
