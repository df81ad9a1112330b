#pragma once
// Connectors: where the built-in provider checks a user name and password (Dex's "password
// connectors"). A connector is immutable after Create and thread-safe; Login blocks (bcrypt on
// the CPU pool, LDAP on the blocking pool: see pool()).

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.hpp"
#include "core/result.hpp"

namespace skiff::identity {

// The user a connector vouches for.
struct Identity {
  std::string connector_id;
  std::string user_id;             // stable id within the connector (Dex's userID / idAttr)
  std::string username;            // display name (Dex: "name" claim)
  std::string preferred_username;  // login name
  std::string email;
  bool email_verified = false;
  std::string login;  // what the user typed as their name (LDAP looks the user up by it again)
  std::vector<std::string> groups;

  json::object ToJson() const;
  static Identity FromJson(const json::object& o);
};

class Connector {
 public:
  enum class Pool { kCpu, kBlocking };
  virtual ~Connector() = default;
  const std::string& id() const { return id_; }
  const std::string& name() const { return name_; }  // shown on the chooser page
  const std::string& type() const { return type_; }
  // The label of the login field ("Email Address", "Username").
  const std::string& username_prompt() const { return prompt_; }
  virtual Pool pool() const = 0;
  // Checks the credentials. Unauthenticated for a wrong user or password (the same message
  // for both); Unavailable/DeadlineExceeded when the backend cannot be reached; InvalidArgument
  // for an empty password (checked before any backend traffic). Blocking.
  virtual Result<Identity> Login(std::string_view username, std::string_view password) const = 0;
  // Re-checks a user at a refresh-token grant, without a password: the user must still exist
  // (Unauthenticated otherwise) and gets current attributes and groups. Blocking.
  virtual Result<Identity> Refresh(const Identity& previous) const = 0;

 protected:
  std::string id_, name_, type_, prompt_;
};

// --- bcrypt (libxcrypt), as Dex stores hashes ---

// Accepts "$2a$", "$2b$" or "$2y$", a two-digit cost within [min_cost, max_cost] and 53
// characters of bcrypt's base64 (22 salt + 31 hash). InvalidArgument says what is wrong.
Status ValidateBcryptHash(std::string_view hash, int min_cost = 10, int max_cost = 16);
// The cost of a hash that passed ValidateBcryptHash.
int BcryptCost(std::string_view hash);
// True when `password` matches `hash` (constant-time comparison of the result). CPU-heavy.
bool CheckBcrypt(std::string_view password, std::string_view hash);
// A fresh bcrypt hash ("$2b$") of `password` with `cost`. CPU-heavy. For dummy hashes and tests.
Result<std::string> HashBcrypt(std::string_view password, int cost);

// staticPasswords: [{email, hash, username, userID, groups}] as Dex's "local" connector.
// `field` names the setting in errors ("identity.staticPasswords").
Result<std::unique_ptr<Connector>> CreateStaticPasswordConnector(const json::value& users,
                                                                 std::string_view field);

// Dex's LDAP connector config (see ldap_connector.cpp). `field` names it in errors.
Result<std::unique_ptr<Connector>> CreateLdapConnector(std::string id, std::string name,
                                                       const json::object& config,
                                                       std::string_view field);

// RFC 4515 escaping of a value placed inside an LDAP search filter.
std::string LdapEscapeFilterValue(std::string_view value);

}  // namespace skiff::identity
