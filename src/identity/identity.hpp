#pragma once
// skiff_identity: the built-in OpenID Connect provider (Dex's role in Kubeflow), mounted at
// /dex by default. Owns: its configuration (the Dex-shaped `identity:` section of skiff.yaml),
// connectors (staticPasswords with bcrypt hashes, LDAP), signing keys (generated into
// DATA_DIR/identity, rotated on a schedule), authorization codes, refresh tokens, the HTML
// login pages and the login back-off. Depends on skiff_core, skiff_http (sans-I/O types),
// skiff_store and skiff_auth (JOSE). Knows nothing of the gateway's sessions or RBAC.
//
// Threading: Handle() is called on an I/O thread and never blocks: password checks run on the
// CPU pool, LDAP and store calls on the blocking pool. Every public method is thread-safe.
//
// Endpoints, relative to the mount path (all public: the gateway must not authenticate them):
//   GET  /.well-known/openid-configuration   discovery
//   GET  /keys                               JWKS (current and not-yet-expired previous keys)
//   GET  /auth                               authorization request (code flow, PKCE) -> login
//   GET  /auth/<connector>                   the login form of one connector
//   POST /auth/<connector>                   form post (CSRF-protected) -> 303 to redirect_uri
//   POST /token                              authorization_code and refresh_token grants
//   GET|POST /userinfo                       Bearer access token -> claims
//
// Tokens (all JWTs signed with the current key, "kid" set, verifiable with /keys):
//   ID token:     iss, sub, aud = client id, exp, iat, auth_time, nonce (when sent), at_hash,
//                 email, email_verified, name, preferred_username, groups.
//   Access token: the same user claims, aud = client id, plus "scope" and "token_use":
//                 "access"; accepted by /userinfo. The gateway may accept both kinds as Bearer
//                 tokens (kubectl sends ID tokens): verify with PublicKeys(), iss == issuer(),
//                 aud among the configured client ids (ClientIds()).
//   Refresh token: opaque, stored hashed (SHA-256) in the store, rotated on every use.
//
// How the gateway wires it (src/cli/server_app.cpp):
//   1. Append identity::SettingSpecs() to the CLI's setting specs.
//   2. If settings.GetBool("identity.enabled"):
//        identity::ProviderOptions o;
//        o.issuer = settings.GetString("identity.issuer");      // may be empty, see 4.
//        o.mount_path = settings.GetString("identity.path");    // "/dex"
//        o.data_dir = data_dir;
//        o.config = identity::ConfigFromSettings(settings);     // Dex-shaped JSON object
//        o.store = store.get(); o.blocking = &server.blocking_pool(); o.cpu = &server.cpu_pool();
//        auto provider = identity::Provider::Create(std::move(o));  // start-up errors name the
//                                                                   // field: print and exit 2
//   3. Route every method of o.mount_path and o.mount_path + "/*" to provider->Handle (inline:
//      it does not block) and treat that prefix as public (no authentication).
//   4. After the listener is up, when identity.issuer was empty:
//        provider->SetIssuer("https://HOST:PORT" + mount_path)   (http:// when TLS is off).
//      Until an issuer is known, Handle answers 503.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "auth/jose.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/json.hpp"
#include "core/result.hpp"
#include "http/http.hpp"

namespace skiff::store {
class Store;
}

namespace skiff::identity {

// The settings this module declares, all under "identity.":
//   identity.enabled (bool, true), identity.issuer (string, "" = derived from the listener),
//   identity.path (string, "/dex"), identity.staticPasswords, identity.connectors,
//   identity.staticClients (kSection, Dex's shapes), identity.idTokenTTL (24h),
//   identity.refreshTokenTTL (720h), identity.authCodeTTL (5m), identity.keyRotation (24h),
//   identity.signingAlg ("RS256" or "ES256"), identity.loginBackoffAfter (int, 5),
//   identity.loginBackoffMax (duration, 5m).
std::vector<SettingSpec> SettingSpecs();

// The Dex-shaped configuration object Provider::Create reads, assembled from the settings
// above: {"staticPasswords": [...], "connectors": [...], "staticClients": [...],
// "expiry": {"idTokens": "24h", "refreshTokens": "720h", "authCodes": "5m",
// "signingKeys": "24h"}, "signingAlg": "RS256", "loginBackoff": {"after": 5, "max": "5m"}}.
json::object ConfigFromSettings(const Settings& settings);

// A first-start administrator for the built-in provider, so that `skiff up` has a user who can
// log in before anyone edits skiff.yaml. The first call makes a random password, writes it to
// DATA_DIR/identity/admin.password (0600, for the operator) and its bcrypt hash (cost 10) to
// DATA_DIR/identity/admin.json (0600); later calls read the hash back (the password file may
// have been deleted). Blocking (files, one bcrypt on first start): call at start-up.
// Wiring: append `entry` to config["staticPasswords"] before Provider::Create, and print the
// password once when `created`.
struct BootstrapUser {
  json::object entry;         // {email, hash, username, userID, groups} as Dex's staticPasswords
  std::string password_file;  // DATA_DIR/identity/admin.password
  bool created = false;       // true on the call that made the password
  std::string password;       // only when created
};
Result<BootstrapUser> EnsureBootstrapUser(const std::string& data_dir,
                                          const std::string& email = "admin@skiff.local",
                                          const std::vector<std::string>& groups = {"admins"});

struct ProviderOptions {
  // Full URL, e.g. "https://127.0.0.1:8443/dex". Empty: set later with SetIssuer.
  std::string issuer;
  std::string mount_path = "/dex";  // where Handle is routed; no trailing slash
  // Keys live in DATA_DIR/identity (created 0700, files 0600). Required.
  std::string data_dir;
  // Dex-shaped configuration (see ConfigFromSettings). Copied.
  json::object config;
  // Not owned; must outlive the provider. Holds refresh tokens (they survive restarts).
  store::Store* store = nullptr;
  http::TaskRunner* blocking = nullptr;  // store, LDAP, key files. Not owned. Required.
  http::TaskRunner* cpu = nullptr;       // bcrypt. Not owned. Required.
  Clock* clock = nullptr;                // null = SystemClock()
};

class Provider {
 public:
  virtual ~Provider() = default;

  // Validates the configuration (malformed or out-of-range bcrypt hashes, unknown connector
  // types, duplicate ids, missing fields: InvalidArgument naming the field, e.g.
  // "identity.staticPasswords[1].hash: bcrypt cost 4 is outside 10-16"), loads or generates
  // the signing keys (blocking: call at start-up) and returns a ready provider.
  static Result<std::unique_ptr<Provider>> Create(ProviderOptions options);

  // Serves every request under mount_path. Never blocks; answers exactly once.
  virtual void Handle(http::Request& req, http::Responder respond) = 0;

  // Sets the issuer URL when it was not configured (once the listener's port is known).
  virtual void SetIssuer(std::string issuer) = 0;
  virtual std::string issuer() const = 0;
  const std::string& mount_path() const { return mount_path_; }

  // The public keys tokens may be signed with (current + previous until their tokens expire).
  // A snapshot: call again per verification (cheap), keys change on rotation.
  virtual std::shared_ptr<const auth::jose::KeySet> PublicKeys() const = 0;
  // The configured client ids (valid "aud" values of the provider's tokens).
  virtual std::vector<std::string> ClientIds() const = 0;

  // Convenience for in-process Bearer checks: verifies signature (RS256/ES256 with
  // PublicKeys()), iss == issuer(), exp/iat, and aud among ClientIds(); returns the claims.
  // Unauthenticated with a reason (never the token) otherwise. Cheap; safe on an I/O thread.
  virtual Result<json::object> VerifyToken(std::string_view token) const = 0;

  // Rotates keys if due (also done lazily by Handle). Exposed for tests and a periodic tick.
  // Blocking (writes key files).
  virtual Status RotateKeysIfDue() = 0;

 protected:
  std::string mount_path_;
};

}  // namespace skiff::identity
