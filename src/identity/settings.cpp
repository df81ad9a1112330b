// The identity.* settings and their Dex-shaped configuration object.

#include "identity/identity.hpp"

namespace skiff::identity {

using Type = SettingSpec::Type;

std::vector<SettingSpec> SettingSpecs() {
  return {
      {"identity.enabled", Type::kBool, "true", "serve the built-in OIDC identity provider", ""},
      {"identity.issuer", Type::kString, "",
       "issuer URL of the built-in provider (default: the server's URL + identity.path)", ""},
      {"identity.path", Type::kString, "/dex", "where the built-in provider is mounted", ""},
      {"identity.staticPasswords", Type::kSection, "",
       "static users as in Dex: [{email, hash (bcrypt), username, userID, groups}]", ""},
      {"identity.connectors", Type::kSection, "",
       "connectors as in Dex: [{type: ldap, id, name, config: {...}}]", ""},
      {"identity.staticClients", Type::kSection, "",
       "OAuth clients as in Dex: [{id, secret, redirectURIs, public, name}]", ""},
      {"identity.idTokenTTL", Type::kDuration, "24h", "lifetime of ID and access tokens", ""},
      {"identity.refreshTokenTTL", Type::kDuration, "720h", "lifetime of a refresh token", ""},
      {"identity.authCodeTTL", Type::kDuration, "5m", "lifetime of an authorization code", ""},
      {"identity.keyRotation", Type::kDuration, "24h", "signing key rotation period", ""},
      {"identity.signingAlg", Type::kString, "RS256", "RS256 or ES256", ""},
      {"identity.loginBackoffAfter", Type::kInt, "5",
       "failed logins per user or address before back-off starts", ""},
      {"identity.loginBackoffMax", Type::kDuration, "5m", "longest login back-off", ""},
  };
}

json::object ConfigFromSettings(const Settings& settings) {
  json::object config;
  for (const char* key : {"staticPasswords", "connectors", "staticClients"}) {
    std::string full = std::string("identity.") + key;
    if (settings.Has(full)) {
      const json::value& v = settings.GetSection(full);
      if (!v.is_null()) config[key] = v;
    }
  }
  json::object expiry;
  expiry["idTokens"] = FormatDuration(settings.GetDuration("identity.idTokenTTL"));
  expiry["refreshTokens"] = FormatDuration(settings.GetDuration("identity.refreshTokenTTL"));
  expiry["authCodes"] = FormatDuration(settings.GetDuration("identity.authCodeTTL"));
  expiry["signingKeys"] = FormatDuration(settings.GetDuration("identity.keyRotation"));
  config["expiry"] = std::move(expiry);
  config["signingAlg"] = settings.GetString("identity.signingAlg");
  json::object backoff;
  backoff["after"] = settings.GetInt("identity.loginBackoffAfter");
  backoff["max"] = FormatDuration(settings.GetDuration("identity.loginBackoffMax"));
  config["loginBackoff"] = std::move(backoff);
  return config;
}

}  // namespace skiff::identity
