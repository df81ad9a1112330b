#include "auth/csrf.hpp"

#include "auth/authn_util.hpp"
#include "core/crypto.hpp"

namespace skiff::auth {

bool IsStateChanging(std::string_view method) {
  return !(method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE");
}

namespace {

Status CheckOrigin(const http::Request& req, std::string_view own_origin) {
  if (auto origin = req.headers.Get("Origin")) {
    if (own_origin.empty() || !http::EqualsIgnoreCase(*origin, own_origin)) {
      return PermissionDenied("CSRF check failed: Origin is not this site");
    }
  }
  return Status::Ok();
}

}  // namespace

Status CheckSameSite(const http::Request& req, std::string_view own_origin) {
  if (auto site = req.headers.Get("Sec-Fetch-Site");
      site && http::EqualsIgnoreCase(*site, "cross-site")) {
    return PermissionDenied("CSRF check failed: the request comes from another site");
  }
  return CheckOrigin(req, own_origin);
}

Status CheckCsrf(const http::Request& req, std::string_view own_origin) {
  if (!IsStateChanging(req.method)) return Status::Ok();
  SKIFF_RETURN_IF_ERROR(CheckOrigin(req, own_origin));
  auto header = req.headers.Get(kCsrfHeader);
  auto cookie = CookieValue(req.headers, kCsrfCookie);
  if (!header || header->empty() || !cookie || cookie->empty()) {
    return PermissionDenied(
        "CSRF check failed: send the XSRF-TOKEN cookie's value in X-XSRF-TOKEN");
  }
  if (!ConstantTimeEquals(*header, *cookie)) {
    return PermissionDenied("CSRF check failed: X-XSRF-TOKEN does not match the XSRF-TOKEN cookie");
  }
  return Status::Ok();
}

}  // namespace skiff::auth
