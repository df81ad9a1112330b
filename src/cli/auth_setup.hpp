#pragma once
// Builds the gateway's authentication (auth::Gateway and what it uses) from the auth.*
// settings, and the identity provider's client for browser login. Start-up code: blocking.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "auth/authn.hpp"
#include "core/config.hpp"

namespace skiff::store {
class Store;
}
namespace skiff::identity {
class Provider;
}

namespace skiff::cli {

// The auth.* settings (see deploy/README for one example per mode).
std::vector<SettingSpec> AuthSettingSpecs();

struct AuthWiring {
  std::string admin_token;                 // the bootstrap admin token
  store::Store* store = nullptr;           // sessions; not owned
  http::TaskRunner* blocking = nullptr;    // not owned
  identity::Provider* provider = nullptr;  // the built-in provider, or null
  // Where browsers reach the gateway, "https://127.0.0.1:8080": the built-in login's callback
  // is registered there (the origin of the built-in provider's issuer).
  std::string self_url;
  std::string self_ca_file;  // CA that signs our own certificate ("" = none)
  // The gateway's own client at the built-in provider (see BuiltinClient).
  std::string builtin_client_id = "skiff-gateway";
  std::string builtin_client_secret;
  std::vector<std::string> public_prefixes;  // e.g. the provider's mount path
  std::vector<std::string> extra_admins;     // e.g. the built-in provider's first-start admin
  std::function<http::Response(const http::Request&, const Status&)> error_response;
};

struct AuthStack {
  std::unique_ptr<auth::TokenAuthenticator> tokens;
  std::unique_ptr<auth::SessionStore> sessions;
  std::unique_ptr<auth::OidcRelyingParty> rp;
  std::unique_ptr<auth::Gateway> gateway;
  std::string login_mode;  // "oidc", "builtin" or "off"
};

// Validates the auth.* settings (errors name the key: "auth.jwt[0].issuer: required") and
// builds the stack.
Result<std::unique_ptr<AuthStack>> MakeAuth(const Settings& settings, const AuthWiring& wiring);

// "https://host:8443/dex" -> "https://host:8443".
std::string IssuerOrigin(std::string_view issuer);

// The staticClients entry that lets the gateway log users in at the built-in provider.
json::object BuiltinClient(const AuthWiring& wiring, const Settings& settings);

}  // namespace skiff::cli
