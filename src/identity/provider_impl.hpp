#pragma once
// Internal to skiff_identity (not for other modules): the provider's implementation class and
// the OAuth helpers its translation units share. provider.cpp: routing, discovery, /auth and
// the login form; token_endpoint.cpp: /token, /userinfo and token signing; oauth_util.cpp:
// form parsing, responses, cookies, PKCE and Dex's subject encoding.
//
// State: in-progress authorization requests and authorization codes live in memory (losing
// them on restart only means logging in again); refresh tokens live in the store under
// "refreshtokens.identity.skiff.dev", named by the hex SHA-256 of the token (never the token),
// labelled with the grant they descend from so that a replayed code revokes them (RFC 6749
// 4.1.2, RFC 9700 4.5).

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "identity/config.hpp"
#include "identity/identity.hpp"
#include "identity/keys.hpp"
#include "identity/throttle.hpp"
#include "store/store.hpp"

namespace skiff::identity::internal {

namespace jose = auth::jose;
using std::chrono::system_clock;

inline constexpr std::string_view kRefreshResource = "refreshtokens.identity.skiff.dev";
inline constexpr std::string_view kGrantLabel = "identity.skiff.dev/grant";
inline constexpr std::string_view kBrowserCookie = "skiff_idp_browser";
inline constexpr size_t kMaxPendingRequests = 10'000;
inline constexpr size_t kMaxCodes = 10'000;

using Form = std::map<std::string, std::string, std::less<>>;

int64_t Unix(system_clock::time_point t);
std::string HashHex(std::string_view secret);
// application/x-www-form-urlencoded (also query strings). A repeated parameter is an error
// (RFC 6749 3.1: "parameters MUST NOT be included more than once").
Result<Form> ParseForm(std::string_view text);
std::string Param(const Form& form, std::string_view name);  // "" when absent
std::vector<std::string> SplitSpaces(std::string_view s);    // deduplicated
std::string JoinSpaces(const std::vector<std::string>& v);
bool Contains(const std::vector<std::string>& v, std::string_view s);
// Whether `uri` may be used as the redirect_uri of a client with these registered URIs: an
// exact match, or a loopback redirect of a native app on any port (RFC 8252 7.3).
bool RedirectUriRegistered(const std::vector<std::string>& registered, std::string_view uri);
// RFC 6749 5.2 JSON error, not cacheable.
http::Response OAuthError(int status, std::string_view error, std::string_view description);
// An HTML page with no-store, framing and content-security headers.
http::Response Html(int status, std::string body);
http::Response Redirect(int status, const std::string& location);
std::string AddParams(std::string uri, const std::vector<std::pair<std::string, std::string>>& ps);
std::optional<std::string> Cookie(const http::Request& req, std::string_view name);
std::string AddressOf(const std::string& remote);  // "1.2.3.4:5" -> "1.2.3.4"
std::string Lower(std::string_view s);
// Dex's subject: base64url (no padding) of the protobuf IDTokenSubject{user_id = 1,
// conn_id = 2}, so that `sub` equals what Dex would issue for the same user.
std::string Subject(const Identity& id);
bool ValidPkceValue(std::string_view v);  // RFC 7636 4.1: 43-128 unreserved characters

struct AuthRequest {
  std::string client_id;
  std::string redirect_uri;
  std::string state;
  std::string nonce;
  std::vector<std::string> scopes;
  std::string code_challenge;  // S256 only
  std::string connector_id;    // pinned by connector_id=, else any
  std::string csrf_hash;       // of the form's csrf field
  std::string browser_hash;    // of the browser cookie
  system_clock::time_point expires;
};

struct CodeGrant {
  std::string client_id;
  std::string redirect_uri;
  std::string nonce;
  std::vector<std::string> scopes;
  std::string code_challenge;
  Identity identity;
  system_clock::time_point auth_time;
  system_clock::time_point expires;
  bool used = false;
  std::string grant_id;  // label value on refresh tokens issued from this code
};

class ProviderImpl final : public Provider {
 public:
  ProviderImpl(ProviderOptions o, Config c, std::unique_ptr<KeyManager> keys)
      : opts_(std::move(o)),
        config_(std::move(c)),
        clock_(*opts_.clock),
        keys_(std::move(keys)),
        throttle_(clock_, config_.backoff_after, config_.backoff_max),
        issuer_(opts_.issuer) {
    mount_path_ = opts_.mount_path;
  }

  void Handle(http::Request& req, http::Responder respond) override;
  void SetIssuer(std::string issuer) override {
    while (!issuer.empty() && issuer.back() == '/') issuer.pop_back();
    std::lock_guard lock(mu_);
    issuer_ = std::move(issuer);
  }
  std::string issuer() const override {
    std::lock_guard lock(mu_);
    return issuer_;
  }
  std::shared_ptr<const jose::KeySet> PublicKeys() const override {
    return keys_->Current()->public_keys;
  }
  std::vector<std::string> ClientIds() const override {
    std::vector<std::string> ids;
    for (const auto& c : config_.clients) ids.push_back(c.id);
    return ids;
  }
  Result<json::object> VerifyToken(std::string_view token) const override;
  Status RotateKeysIfDue() override { return keys_->RotateIfDue(); }

  Status SweepStore();

 private:
  void Discovery(const std::string& issuer, http::Responder respond) const;
  void Keys(http::Responder respond) const;
  void Authorize(http::Request& req, http::Responder respond);
  void LoginForm(http::Request& req, const std::string& connector_id, http::Responder respond);
  void LoginPost(http::Request& req, const std::string& connector_id, http::Responder respond);
  void FinishLogin(std::string request_id, Result<Identity> result, std::string throttle_user,
                   std::string address, std::string login, std::string csrf,
                   http::Responder respond);
  http::Response Token(const http::Request& req);
  http::Response TokenFromCode(const Client& client, const Form& form);
  http::Response TokenFromRefresh(const Client& client, const Form& form);
  Result<http::Response> Mint(const Client& client, const Identity& identity,
                              const std::vector<std::string>& scopes, const std::string& nonce,
                              system_clock::time_point auth_time, const std::string& grant_id,
                              std::optional<store::Mutation> retire);
  void UserInfo(const http::Request& req, http::Responder respond) const;
  http::Response LoginPage(const AuthRequest& ar, const std::string& request_id,
                           const Connector& conn, std::string csrf, int status, std::string error,
                           std::string username) const;
  void Maintain();
  void RevokeGrant(const std::string& grant_id);

  ProviderOptions opts_;
  const Config config_;
  const Clock& clock_;
  std::unique_ptr<KeyManager> keys_;
  LoginThrottle throttle_;
  std::atomic<bool> rotating_{false};
  std::atomic<bool> sweeping_{false};

  mutable std::mutex mu_;  // guards issuer_, requests_, codes_, next_sweep_, next_cleanup_
  std::string issuer_;
  std::map<std::string, AuthRequest> requests_;  // by request id (not secret: in the page)
  std::map<std::string, CodeGrant> codes_;       // by hex SHA-256 of the code
  system_clock::time_point next_sweep_{};
  system_clock::time_point next_cleanup_{};
};

}  // namespace skiff::identity::internal
