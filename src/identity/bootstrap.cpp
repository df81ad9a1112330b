// The first-start administrator (identity.hpp EnsureBootstrapUser).

#include "core/crypto.hpp"
#include "core/fs.hpp"
#include "identity/connector.hpp"
#include "identity/identity.hpp"

namespace skiff::identity {

Result<BootstrapUser> EnsureBootstrapUser(const std::string& data_dir, const std::string& email,
                                          const std::vector<std::string>& groups) {
  std::string dir = data_dir + "/identity";
  SKIFF_RETURN_IF_ERROR(EnsureDirectory(dir, 0700));
  BootstrapUser out;
  out.password_file = dir + "/admin.password";
  std::string state_path = dir + "/admin.json";
  json::object state;
  auto text = ReadFile(state_path, 64 << 10);
  if (text) {
    auto parsed = ParseJsonObject(*text);
    if (!parsed) return parsed.error().WithPrefix(state_path);
    state = std::move(*parsed);
    if (Status s = ValidateBcryptHash(GetString(state, "hash")); !s.ok()) {
      return s.WithPrefix(state_path);
    }
  } else if (text.error().code() != Code::kNotFound) {
    return text.error().WithPrefix(state_path);
  } else {
    out.password = RandomToken(18);  // 144 bits, 24 characters
    SKIFF_ASSIGN_OR_RETURN(std::string hash, HashBcrypt(out.password, 10));
    state["hash"] = hash;
    state["userID"] = NewUid();
    // The password file first: if the state write fails, the next start makes a new pair.
    SKIFF_RETURN_IF_ERROR(WriteFileAtomic(out.password_file, out.password + "\n", 0600));
    SKIFF_RETURN_IF_ERROR(WriteFileAtomic(state_path, Serialize(state), 0600));
    out.created = true;
  }
  out.entry["email"] = email;
  out.entry["hash"] = GetString(state, "hash");
  out.entry["username"] = email.substr(0, email.find('@'));
  out.entry["userID"] = GetString(state, "userID");
  json::array g;
  for (const auto& name : groups) g.emplace_back(name);
  out.entry["groups"] = std::move(g);
  return out;
}

}  // namespace skiff::identity
