#include "auth/csrf.hpp"

#include "auth/authn_util.hpp"
#include "core/crypto.hpp"

namespace skiff::auth {

bool IsStateChanging(std::string_view method) {
  return !(method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE");
}

Status CheckCsrf(const http::Request& req, std::string_view own_origin) {
  if (!IsStateChanging(req.method)) return Status::Ok();
  if (auto origin = req.headers.Get("Origin")) {
    if (own_origin.empty() || !http::EqualsIgnoreCase(*origin, own_origin)) {
      return PermissionDenied("CSRF check failed: Origin is not this site");
    }
  }
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
