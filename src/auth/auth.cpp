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

void StripIdentityHeaders(http::HeaderMap& headers) {
  for (const auto& h : IdentityHeaders()) headers.Remove(h);
  // Prefix forms (Impersonate-Extra-*, X-Remote-Extra-*).
  std::vector<std::string> extra;
  for (const auto& [name, _] : headers) {
    std::string lower = name;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower.rfind("impersonate-extra-", 0) == 0 || lower.rfind("x-remote-extra-", 0) == 0) {
      extra.push_back(name);
    }
  }
  for (const auto& name : extra) headers.Remove(name);
}

std::optional<std::string> BearerToken(const http::Request& req) {
  auto h = req.headers.Get("Authorization");
  if (!h) return std::nullopt;
  std::string_view v = *h;
  if (v.size() < 7 || !http::EqualsIgnoreCase(v.substr(0, 7), "Bearer ")) return std::nullopt;
  v.remove_prefix(7);
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  if (v.empty()) return std::nullopt;
  return std::string(v);
}

void TokenAuthenticator::AddToken(std::string_view token, Principal principal) {
  tokens_.emplace_back(Sha256(token), std::move(principal));
  any_dotted_ = any_dotted_ || token.find('.') != std::string_view::npos;
}

Result<Principal> TokenAuthenticator::Authenticate(const http::Request& req) const {
  auto token = BearerToken(req);
  if (!token) {
    return Unauthenticated("authentication required: send \"Authorization: Bearer <token>\"");
  }
  if (!any_dotted_ && token->find('.') != std::string::npos) {
    return Unauthenticated("invalid bearer token");
  }
  std::string digest = Sha256(*token);
  const Principal* found = nullptr;
  // Compare against every token so the time taken does not depend on which one matched.
  for (const auto& [d, p] : tokens_) {
    if (ConstantTimeEquals(d, digest)) found = &p;
  }
  if (found == nullptr) return Unauthenticated("invalid bearer token");
  return *found;
}

}  // namespace skiff::auth
