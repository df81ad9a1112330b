#pragma once
// CSRF protection for cookie-authenticated requests (Bearer requests are exempt: browsers never
// attach them by themselves). Double-submit: the gateway sets a readable (non-HttpOnly)
// XSRF-TOKEN cookie and state-changing requests must echo it in X-XSRF-TOKEN, which is what
// Kubeflow's web apps (Angular's HttpClient) send; and an Origin header, when present, must be
// this site's origin. Sans-I/O; thread-safe.

#include <string>
#include <string_view>

#include "core/result.hpp"
#include "http/http.hpp"

namespace skiff::auth {

inline constexpr std::string_view kCsrfCookie = "XSRF-TOKEN";
inline constexpr std::string_view kCsrfHeader = "X-XSRF-TOKEN";

// POST, PUT, PATCH, DELETE (and any method other than GET, HEAD, OPTIONS, TRACE).
bool IsStateChanging(std::string_view method);

// OK for safe methods; otherwise PermissionDenied with the reason unless the X-XSRF-TOKEN
// header equals the XSRF-TOKEN cookie (both non-empty) and Origin (when sent) equals
// `own_origin` ("https://host:port", case-insensitive).
Status CheckCsrf(const http::Request& req, std::string_view own_origin);

// For requests that change state whatever their method, such as GET /logout: PermissionDenied
// when the browser says the request comes from another site (Sec-Fetch-Site: cross-site, or an
// Origin other than `own_origin`). Requests without those headers (curl, older browsers) pass.
Status CheckSameSite(const http::Request& req, std::string_view own_origin);

}  // namespace skiff::auth
