#include "auth/auth.hpp"

#include "core/crypto.hpp"

namespace skiff::auth {

const std::vector<std::string>& IdentityHeaders() {
  static const std::vector<std::string> kHeaders = {
      "kubeflow-userid",      "kubeflow-groups",       "x-forwarded-user", "x-forwarded-email",
      "x-forwarded-groups",   "x-remote-user",         "x-remote-group",   "x-auth-request-user",
      "x-auth-request-email", "x-auth-request-groups", "x-skiff-user",     "x-skiff-groups",
      "impersonate-user",     "impersonate-group",     "impersonate-uid"};
  return kHeaders;
}

bool IsIdentityHeader(std::string_view name) {
  // Every identity header starts with 'i', 'k' or 'x' (in any case): the usual headers of a
  // request are ruled out by their first letter.
  if (name.empty()) return false;
  const char first = static_cast<char>(name.front() | 0x20);
  if (first != 'i' && first != 'k' && first != 'x') return false;
  auto starts_with = [&](std::string_view prefix) {
    return name.size() >= prefix.size() &&
           http::EqualsIgnoreCaseSameSize(name.substr(0, prefix.size()), prefix);
  };
  if (starts_with("impersonate-extra-") || starts_with("x-remote-extra-")) return true;
  for (const auto& h : IdentityHeaders()) {
    if (http::EqualsIgnoreCase(name, h)) return true;
  }
  return false;
}

void StripIdentityHeaders(http::HeaderMap& headers) {
  // One pass over the headers (not one per identity header), and no lower-cased copies.
  headers.RemoveIf([](std::string_view name, std::string_view) { return IsIdentityHeader(name); });
}

std::optional<std::string_view> BearerTokenView(const http::Request& req) {
  auto h = req.headers.Get("Authorization");
  if (!h) return std::nullopt;
  std::string_view v = *h;
  if (v.size() < 7 || !http::EqualsIgnoreCase(v.substr(0, 7), "Bearer ")) return std::nullopt;
  v.remove_prefix(7);
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  if (v.empty()) return std::nullopt;
  return v;
}

std::optional<std::string> BearerToken(const http::Request& req) {
  auto v = BearerTokenView(req);
  if (!v) return std::nullopt;
  return std::string(*v);
}

void TokenAuthenticator::AddToken(std::string_view token, Principal principal) {
  tokens_.emplace_back(std::string(token), std::move(principal));
  any_dotted_ = any_dotted_ || token.find('.') != std::string_view::npos;
}

Result<Principal> TokenAuthenticator::Authenticate(const http::Request& req) const {
  auto token = BearerTokenView(req);
  if (!token) {
    return Unauthenticated("authentication required: send \"Authorization: Bearer <token>\"");
  }
  return AuthenticateBearer(req, *token);
}

Result<Principal> TokenAuthenticator::AuthenticateBearer(const http::Request&,
                                                         std::string_view token) const {
  if (!any_dotted_ && token.find('.') != std::string_view::npos) {
    return Unauthenticated("invalid bearer token");
  }
  const Principal* found = nullptr;
  // Compare against every token so the time taken does not depend on which one matched.
  for (const auto& [stored, p] : tokens_) {
    if (ConstantTimeEquals(stored, token)) found = &p;
  }
  if (found == nullptr) return Unauthenticated("invalid bearer token");
  return *found;
}

}  // namespace skiff::auth
