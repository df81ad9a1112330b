#include "identity/config.hpp"

#include <algorithm>

#include "core/clock.hpp"

namespace skiff::identity {

const Client* Config::FindClient(std::string_view id) const {
  for (const auto& c : clients) {
    if (c.id == id) return &c;
  }
  return nullptr;
}

const Connector* Config::FindConnector(std::string_view id) const {
  for (const auto& c : connectors) {
    if (c->id() == id) return c.get();
  }
  return nullptr;
}

namespace {

Result<std::chrono::seconds> Duration(const json::object& o, std::string_view key,
                                      std::string_view field, std::chrono::seconds fallback) {
  auto* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return fallback;
  if (!v->is_string()) {
    return InvalidArgument(std::string(field) + ": must be a duration such as \"24h\"");
  }
  auto d = ParseDuration(v->as_string());
  if (!d) return InvalidArgument(std::string(field) + ": " + d.error().message());
  auto s = std::chrono::duration_cast<std::chrono::seconds>(*d);
  if (s.count() < 1) return InvalidArgument(std::string(field) + ": must be at least 1s");
  return s;
}

bool ValidRedirectUri(std::string_view uri) {
  // Absolute http(s) URI without a fragment (RFC 6749 3.1.2); custom schemes of native apps
  // ("com.example.app:/cb") are allowed too, but never a fragment.
  if (uri.find('#') != uri.npos) return false;
  size_t colon = uri.find(':');
  if (colon == uri.npos || colon == 0) return false;
  for (size_t i = 0; i < colon; i++) {
    char c = uri[i];
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') {
      return false;
    }
  }
  return uri.size() > colon + 1;
}

}  // namespace

Result<Config> ParseConfig(const json::object& o) {
  Config c;
  if (const json::object* e = GetObject(o, "expiry")) {
    SKIFF_ASSIGN_OR_RETURN(c.id_token_ttl,
                           Duration(*e, "idTokens", "identity.idTokenTTL", c.id_token_ttl));
    SKIFF_ASSIGN_OR_RETURN(
        c.refresh_token_ttl,
        Duration(*e, "refreshTokens", "identity.refreshTokenTTL", c.refresh_token_ttl));
    SKIFF_ASSIGN_OR_RETURN(c.auth_code_ttl,
                           Duration(*e, "authCodes", "identity.authCodeTTL", c.auth_code_ttl));
    SKIFF_ASSIGN_OR_RETURN(c.key_rotation,
                           Duration(*e, "signingKeys", "identity.keyRotation", c.key_rotation));
    SKIFF_ASSIGN_OR_RETURN(c.login_ttl,
                           Duration(*e, "authRequests", "identity.authRequestTTL", c.login_ttl));
  }
  std::string alg = GetString(o, "signingAlg", "RS256");
  if (alg == "RS256") {
    c.signing_alg = auth::jose::Alg::kRS256;
  } else if (alg == "ES256") {
    c.signing_alg = auth::jose::Alg::kES256;
  } else {
    return InvalidArgument("identity.signingAlg: must be RS256 or ES256, not \"" + alg + "\"");
  }
  if (const json::object* b = GetObject(o, "loginBackoff")) {
    if (auto* a = b->if_contains("after")) {
      if (!a->is_int64() || a->as_int64() < 1 || a->as_int64() > 1000) {
        return InvalidArgument("identity.loginBackoffAfter: must be an integer from 1 to 1000");
      }
      c.backoff_after = static_cast<int>(a->as_int64());
    }
    SKIFF_ASSIGN_OR_RETURN(c.backoff_max,
                           Duration(*b, "max", "identity.loginBackoffMax", c.backoff_max));
  }

  // Connectors: staticPasswords is Dex's "local" password database.
  if (auto* sp = o.if_contains("staticPasswords"); sp && !sp->is_null()) {
    if (!sp->is_array() || !sp->as_array().empty()) {
      SKIFF_ASSIGN_OR_RETURN(auto conn,
                             CreateStaticPasswordConnector(*sp, "identity.staticPasswords"));
      c.connectors.push_back(std::move(conn));
    }
  }
  if (auto* cs = o.if_contains("connectors"); cs && !cs->is_null()) {
    if (!cs->is_array()) return InvalidArgument("identity.connectors: must be a list");
    size_t i = 0;
    for (const auto& v : cs->as_array()) {
      std::string f = "identity.connectors[" + std::to_string(i++) + "]";
      if (!v.is_object()) return InvalidArgument(f + ": must be an object");
      const auto& co = v.as_object();
      std::string type = GetString(co, "type");
      std::string id = GetString(co, "id");
      std::string name = GetString(co, "name", id);
      if (id.empty()) return InvalidArgument(f + ".id: required");
      if (id == "local" || c.FindConnector(id) != nullptr) {
        return InvalidArgument(f + ".id: duplicate connector id \"" + id + "\"");
      }
      for (char ch : id) {
        if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_') {
          return InvalidArgument(f + ".id: use letters, digits, '-' and '_' only");
        }
      }
      const json::object* cfg = GetObject(co, "config");
      if (cfg == nullptr) return InvalidArgument(f + ".config: required");
      if (type == "ldap") {
        SKIFF_ASSIGN_OR_RETURN(auto conn, CreateLdapConnector(id, name, *cfg, f + ".config"));
        c.connectors.push_back(std::move(conn));
      } else {
        return InvalidArgument(f + ".type: unknown connector type \"" + type +
                               "\" (supported: ldap; static users go in "
                               "identity.staticPasswords)");
      }
    }
  }

  if (auto* cl = o.if_contains("staticClients"); cl && !cl->is_null()) {
    if (!cl->is_array()) return InvalidArgument("identity.staticClients: must be a list");
    size_t i = 0;
    for (const auto& v : cl->as_array()) {
      std::string f = "identity.staticClients[" + std::to_string(i++) + "]";
      if (!v.is_object()) return InvalidArgument(f + ": must be an object");
      const auto& co = v.as_object();
      Client client;
      client.id = GetString(co, "id");
      if (client.id.empty()) return InvalidArgument(f + ".id: required");
      if (c.FindClient(client.id) != nullptr) {
        return InvalidArgument(f + ".id: duplicate client id \"" + client.id + "\"");
      }
      client.secret = GetString(co, "secret");
      if (client.secret.empty()) {
        std::string env = GetString(co, "secretEnv");
        if (!env.empty()) {
          const char* s = std::getenv(env.c_str());
          if (s == nullptr || *s == '\0') {
            return InvalidArgument(f + ".secretEnv: environment variable " + env + " is not set");
          }
          client.secret = s;
        }
      }
      client.name = GetString(co, "name", client.id);
      if (auto* p = co.if_contains("public")) {
        if (!p->is_bool()) return InvalidArgument(f + ".public: must be a boolean");
        client.is_public = p->as_bool();
      }
      if (!client.is_public && client.secret.empty()) {
        return InvalidArgument(f +
                               ".secret: required for a confidential client (or set "
                               "public: true)");
      }
      if (client.is_public && !client.secret.empty()) {
        return InvalidArgument(f + ".secret: a public client has no secret");
      }
      if (!client.secret.empty() && client.secret.size() < 16) {
        return InvalidArgument(f + ".secret: use at least 16 characters");
      }
      auto* ru = co.if_contains("redirectURIs");
      if (ru == nullptr || !ru->is_array() || ru->as_array().empty()) {
        return InvalidArgument(f + ".redirectURIs: required (a non-empty list)");
      }
      for (const auto& u : ru->as_array()) {
        if (!u.is_string() || !ValidRedirectUri(u.as_string())) {
          return InvalidArgument(f +
                                 ".redirectURIs: each must be an absolute URI without a "
                                 "fragment");
        }
        client.redirect_uris.emplace_back(u.as_string());
      }
      c.clients.push_back(std::move(client));
    }
  }
  return c;
}

}  // namespace skiff::identity
