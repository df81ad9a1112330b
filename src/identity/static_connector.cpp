// The staticPasswords connector and bcrypt over libxcrypt.

#include <crypt.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "core/crypto.hpp"
#include "identity/connector.hpp"

namespace skiff::identity {

json::object Identity::ToJson() const {
  json::object o;
  o["connectorID"] = connector_id;
  o["userID"] = user_id;
  o["username"] = username;
  o["preferredUsername"] = preferred_username;
  o["email"] = email;
  o["emailVerified"] = email_verified;
  o["login"] = login;
  json::array g;
  for (const auto& s : groups) g.emplace_back(s);
  o["groups"] = std::move(g);
  return o;
}

Identity Identity::FromJson(const json::object& o) {
  Identity id;
  id.connector_id = GetString(o, "connectorID");
  id.user_id = GetString(o, "userID");
  id.username = GetString(o, "username");
  id.preferred_username = GetString(o, "preferredUsername");
  id.email = GetString(o, "email");
  id.login = GetString(o, "login");
  if (auto* v = o.if_contains("emailVerified"); v && v->is_bool()) id.email_verified = v->as_bool();
  if (auto* v = o.if_contains("groups"); v && v->is_array()) {
    for (const auto& g : v->as_array()) {
      if (g.is_string()) id.groups.emplace_back(g.as_string());
    }
  }
  return id;
}

namespace {

bool IsBcryptBase64(char c) {
  return c == '.' || c == '/' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9');
}

}  // namespace

Status ValidateBcryptHash(std::string_view hash, int min_cost, int max_cost) {
  // "$2a$10$" + 53 characters = 60.
  if (hash.size() < 7 || hash[0] != '$' || hash[1] != '2' ||
      (hash[2] != 'a' && hash[2] != 'b' && hash[2] != 'y') || hash[3] != '$' || hash[6] != '$') {
    return InvalidArgument("not a bcrypt hash (expected $2a$, $2b$ or $2y$, e.g. \"$2a$10$...\")");
  }
  if (hash[4] < '0' || hash[4] > '9' || hash[5] < '0' || hash[5] > '9') {
    return InvalidArgument("bcrypt hash has a malformed cost");
  }
  int cost = (hash[4] - '0') * 10 + (hash[5] - '0');
  if (cost < min_cost || cost > max_cost) {
    return InvalidArgument("bcrypt cost " + std::to_string(cost) + " is outside " +
                           std::to_string(min_cost) + "-" + std::to_string(max_cost));
  }
  std::string_view rest = hash.substr(7);
  if (rest.size() != 53 || !std::all_of(rest.begin(), rest.end(), IsBcryptBase64)) {
    return InvalidArgument("bcrypt hash must have 60 characters of bcrypt's base64 (got " +
                           std::to_string(hash.size()) + ")");
  }
  return Status::Ok();
}

int BcryptCost(std::string_view hash) { return (hash[4] - '0') * 10 + (hash[5] - '0'); }

bool CheckBcrypt(std::string_view password, std::string_view hash) {
  if (password.find('\0') != password.npos) return false;
  std::string pw(password);
  std::string setting(hash);
  auto data = std::make_unique<crypt_data>();
  std::memset(data.get(), 0, sizeof(crypt_data));
  const char* out = crypt_rn(pw.c_str(), setting.c_str(), data.get(), sizeof(crypt_data));
  bool ok = out != nullptr && out[0] != '*' && ConstantTimeEquals(out, setting);
  std::memset(data.get(), 0, sizeof(crypt_data));  // intermediate state derived from the password
  std::fill(pw.begin(), pw.end(), '\0');
  return ok;
}

Result<std::string> HashBcrypt(std::string_view password, int cost) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  std::string rnd = RandomBytes(16);
  if (crypt_gensalt_rn("$2b$", cost, rnd.data(), static_cast<int>(rnd.size()), salt,
                       sizeof(salt)) == nullptr) {
    return Internal("crypt_gensalt_rn failed for bcrypt cost " + std::to_string(cost));
  }
  std::string pw(password);
  auto data = std::make_unique<crypt_data>();
  std::memset(data.get(), 0, sizeof(crypt_data));
  const char* out = crypt_rn(pw.c_str(), salt, data.get(), sizeof(crypt_data));
  if (out == nullptr || out[0] == '*') return Internal("bcrypt hashing failed");
  return std::string(out);
}

namespace {

struct StaticUser {
  std::string email_lower;
  std::string hash;
  Identity identity;
};

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

class StaticPasswordConnector final : public Connector {
 public:
  StaticPasswordConnector(std::vector<StaticUser> users, std::string dummy_hash)
      : users_(std::move(users)), dummy_hash_(std::move(dummy_hash)) {
    id_ = "local";
    name_ = "Email";
    type_ = "local";
    prompt_ = "Email Address";
  }
  Pool pool() const override { return Pool::kCpu; }

  Result<Identity> Login(std::string_view username, std::string_view password) const override {
    if (password.empty()) return InvalidArgument("empty password");
    std::string key = Lower(username);
    const StaticUser* found = nullptr;
    for (const auto& u : users_) {
      if (u.email_lower == key) found = &u;
    }
    // An unknown user costs one bcrypt of the same cost as a wrong password.
    bool ok = CheckBcrypt(password, found ? found->hash : dummy_hash_);
    if (!ok || found == nullptr) return Unauthenticated("invalid username or password");
    Identity id = found->identity;
    id.login = std::string(username);
    return id;
  }

  Result<Identity> Refresh(const Identity& previous) const override {
    for (const auto& u : users_) {
      if (u.identity.user_id == previous.user_id) {
        Identity id = u.identity;
        id.login = previous.login;
        return id;
      }
    }
    return Unauthenticated("the user no longer exists");
  }

 private:
  std::vector<StaticUser> users_;
  std::string dummy_hash_;
};

}  // namespace

Result<std::unique_ptr<Connector>> CreateStaticPasswordConnector(const json::value& users,
                                                                 std::string_view field) {
  if (!users.is_array()) return InvalidArgument(std::string(field) + ": must be a list");
  std::vector<StaticUser> out;
  std::map<int, int> costs;
  size_t i = 0;
  for (const auto& u : users.as_array()) {
    std::string f = std::string(field) + "[" + std::to_string(i++) + "]";
    if (!u.is_object()) return InvalidArgument(f + ": must be an object");
    const auto& o = u.as_object();
    for (const auto& [k, v] : o) {
      static const char* kKnown[] = {"email",    "hash",   "hashFromEnv",
                                     "username", "userID", "groups"};
      if (std::none_of(std::begin(kKnown), std::end(kKnown), [&](const char* n) { return k == n; }))
        return InvalidArgument(f + "." + std::string(k) + ": unknown field");
      (void)v;
    }
    StaticUser su;
    su.identity.connector_id = "local";
    su.identity.email = GetString(o, "email");
    if (su.identity.email.empty()) return InvalidArgument(f + ".email: required");
    su.email_lower = Lower(su.identity.email);
    for (const auto& other : out) {
      if (other.email_lower == su.email_lower) {
        return InvalidArgument(f + ".email: duplicate user \"" + su.identity.email + "\"");
      }
    }
    su.hash = GetString(o, "hash");
    if (su.hash.empty()) {
      std::string env = GetString(o, "hashFromEnv");
      if (!env.empty()) {
        const char* v = std::getenv(env.c_str());
        if (v == nullptr || *v == '\0') {
          return InvalidArgument(f + ".hashFromEnv: environment variable " + env + " is not set");
        }
        su.hash = v;
      }
    }
    if (su.hash.empty()) return InvalidArgument(f + ".hash: required (a bcrypt hash)");
    if (Status s = ValidateBcryptHash(su.hash); !s.ok()) {
      return InvalidArgument(f + ".hash: " + s.message());
    }
    costs[BcryptCost(su.hash)]++;
    su.identity.username = GetString(o, "username");
    su.identity.preferred_username = su.identity.username;
    su.identity.user_id = GetString(o, "userID");
    if (su.identity.user_id.empty()) return InvalidArgument(f + ".userID: required");
    su.identity.email_verified = true;
    if (auto* g = o.if_contains("groups")) {
      if (!g->is_array()) return InvalidArgument(f + ".groups: must be a list of strings");
      for (const auto& name : g->as_array()) {
        if (!name.is_string()) return InvalidArgument(f + ".groups: must be a list of strings");
        su.identity.groups.emplace_back(name.as_string());
      }
    }
    out.push_back(std::move(su));
  }
  // The dummy hash has the most common cost among the users, so that an unknown user takes
  // as long as a typical wrong password.
  int cost = 10;
  int best = 0;
  for (auto [c, n] : costs) {
    if (n > best) cost = c, best = n;
  }
  SKIFF_ASSIGN_OR_RETURN(std::string dummy, HashBcrypt(RandomToken(16), cost));
  return std::unique_ptr<Connector>(
      std::make_unique<StaticPasswordConnector>(std::move(out), std::move(dummy)));
}

}  // namespace skiff::identity
