#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>

#include "core/fs.hpp"
#include "identity/config.hpp"
#include "identity/connector.hpp"
#include "identity/identity.hpp"
#include "test_util.hpp"

namespace skiff::identity {
namespace {

// Dex's documented example user ("admin@example.com" / "password").
constexpr char kDexHash[] = "$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W";

TEST(Bcrypt, DexExampleHashVerifies) {
  ASSERT_TRUE(ValidateBcryptHash(kDexHash).ok());
  EXPECT_TRUE(CheckBcrypt("password", kDexHash));
  EXPECT_FALSE(CheckBcrypt("Password", kDexHash));
  EXPECT_FALSE(CheckBcrypt("", kDexHash));
  EXPECT_FALSE(CheckBcrypt(std::string("password\0x", 10), kDexHash));
}

TEST(Bcrypt, AllThreePrefixesVerify) {
  std::string h = kDexHash;
  for (char variant : {'a', 'b', 'y'}) {
    h[2] = variant;
    ASSERT_TRUE(ValidateBcryptHash(h).ok()) << h;
    EXPECT_TRUE(CheckBcrypt("password", h)) << h;
  }
}

TEST(Bcrypt, GeneratedHashRoundTrips) {
  auto h = HashBcrypt("s3cret pass", 10);
  ASSERT_TRUE(h) << h.error();
  EXPECT_TRUE(h->starts_with("$2b$10$"));
  EXPECT_TRUE(ValidateBcryptHash(*h).ok());
  EXPECT_TRUE(CheckBcrypt("s3cret pass", *h));
  EXPECT_FALSE(CheckBcrypt("s3cret pasS", *h));
}

TEST(Bcrypt, MalformedAndOutOfRangeHashesAreRefused) {
  std::string good = kDexHash;
  EXPECT_FALSE(ValidateBcryptHash("").ok());
  EXPECT_FALSE(ValidateBcryptHash("password").ok());
  EXPECT_FALSE(ValidateBcryptHash("$1$abc$def").ok());                // md5-crypt
  EXPECT_FALSE(ValidateBcryptHash("$2x$10$" + good.substr(7)).ok());  // unknown variant
  EXPECT_FALSE(ValidateBcryptHash(good.substr(0, 59)).ok());          // truncated
  EXPECT_FALSE(ValidateBcryptHash(good + "A").ok());                  // too long
  std::string bad_char = good;
  bad_char[20] = '!';
  EXPECT_FALSE(ValidateBcryptHash(bad_char).ok());
  std::string cost4 = good;
  cost4[4] = '0';
  cost4[5] = '4';
  auto s = ValidateBcryptHash(cost4);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cost 4 is outside 10-16"), std::string::npos) << s.message();
  std::string cost17 = good;
  cost17[4] = '1';
  cost17[5] = '7';
  EXPECT_FALSE(ValidateBcryptHash(cost17).ok());
  std::string cost16 = good;
  cost16[4] = '1';
  cost16[5] = '6';
  EXPECT_TRUE(ValidateBcryptHash(cost16).ok());
}

json::object StaticConfig(std::string hash) {
  json::object user;
  user["email"] = "admin@example.com";
  user["hash"] = hash;
  user["username"] = "admin";
  user["userID"] = "08a8684b-db88-4b73-90a9-3cd1661f5466";
  user["groups"] = json::array{"admins", "datascience"};
  json::object c;
  c["staticPasswords"] = json::array{user};
  return c;
}

TEST(StaticPasswords, LoginByEmailCaseInsensitive) {
  auto config = ParseConfig(StaticConfig(kDexHash));
  ASSERT_TRUE(config) << config.error();
  ASSERT_EQ(config->connectors.size(), 1u);
  const Connector& c = *config->connectors[0];
  EXPECT_EQ(c.id(), "local");
  auto id = c.Login("Admin@Example.com", "password");
  ASSERT_TRUE(id) << id.error();
  EXPECT_EQ(id->email, "admin@example.com");
  EXPECT_EQ(id->username, "admin");
  EXPECT_EQ(id->user_id, "08a8684b-db88-4b73-90a9-3cd1661f5466");
  EXPECT_TRUE(id->email_verified);
  EXPECT_EQ(id->groups, (std::vector<std::string>{"admins", "datascience"}));
  auto wrong = c.Login("admin@example.com", "wrong");
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code(), Code::kUnauthenticated);
  auto unknown = c.Login("nobody@example.com", "password");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code(), Code::kUnauthenticated);
  // The same answer for both: nothing tells an unknown user from a wrong password.
  EXPECT_EQ(wrong.error().message(), unknown.error().message());
  auto empty = c.Login("admin@example.com", "");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code(), Code::kInvalidArgument);
}

// The unknown-user path runs a bcrypt of the same cost: its time is of the same order as a
// wrong password's (a fast path would take microseconds against ~50 ms).
TEST(StaticPasswords, UnknownUserCostsAsMuchAsWrongPassword) {
  auto config = ParseConfig(StaticConfig(kDexHash));
  ASSERT_TRUE(config);
  const Connector& c = *config->connectors[0];
  auto time = [&](const char* user) {
    auto best = std::chrono::nanoseconds::max();
    for (int i = 0; i < 3; i++) {
      auto t0 = std::chrono::steady_clock::now();
      (void)c.Login(user, "wrong-password");
      best = std::min(best, std::chrono::steady_clock::now() - t0);
    }
    return best;
  };
  auto wrong = time("admin@example.com");
  auto unknown = time("nobody@example.com");
  EXPECT_GT(wrong, std::chrono::milliseconds(5));
  // Generous bounds (the machine is shared): a shortcut for unknown users would be ~10^4 times
  // faster, not 5.
  EXPECT_GT(unknown * 5, wrong) << "unknown user answered much faster than a wrong password";
  EXPECT_GT(wrong * 5, unknown);
}

TEST(Config, StartupErrorsNameTheField) {
  auto err = [](json::object c) {
    auto r = ParseConfig(c);
    return r ? std::string("ok") : r.error().message();
  };
  std::string h = kDexHash;
  h[5] = '9';  // cost 19
  EXPECT_NE(err(StaticConfig(h)).find("identity.staticPasswords[0].hash: bcrypt cost 19"),
            std::string::npos)
      << err(StaticConfig(h));
  EXPECT_NE(err(StaticConfig("plaintext")).find("identity.staticPasswords[0].hash"),
            std::string::npos);

  json::object c = StaticConfig(kDexHash);
  auto& users = c["staticPasswords"].as_array();
  users.push_back(users[0]);
  EXPECT_NE(err(c).find("identity.staticPasswords[1].email: duplicate"), std::string::npos)
      << err(c);

  json::object conn;
  conn["type"] = "github";
  conn["id"] = "gh";
  conn["config"] = json::object();
  json::object c2;
  c2["connectors"] = json::array{conn};
  EXPECT_NE(err(c2).find("identity.connectors[0].type: unknown connector type \"github\""),
            std::string::npos)
      << err(c2);

  json::object client;
  client["id"] = "app";
  client["secret"] = "0123456789abcdef";
  client["redirectURIs"] = json::array{"https://app/cb"};
  json::object c3;
  c3["staticClients"] = json::array{client, client};
  EXPECT_NE(err(c3).find("identity.staticClients[1].id: duplicate client id \"app\""),
            std::string::npos)
      << err(c3);

  json::object nosecret = client;
  nosecret.erase("secret");
  json::object c4;
  c4["staticClients"] = json::array{nosecret};
  EXPECT_NE(err(c4).find("identity.staticClients[0].secret: required"), std::string::npos);

  json::object fragment = client;
  fragment["redirectURIs"] = json::array{"https://app/cb#x"};
  json::object c5;
  c5["staticClients"] = json::array{fragment};
  EXPECT_NE(err(c5).find("identity.staticClients[0].redirectURIs"), std::string::npos);

  json::object c6;
  c6["signingAlg"] = "HS256";
  EXPECT_NE(err(c6).find("identity.signingAlg"), std::string::npos);

  json::object ldap;
  ldap["type"] = "ldap";
  ldap["id"] = "ldap";
  json::object lc;
  lc["host"] = "127.0.0.1:389";
  lc["insecureNoSSL"] = true;
  ldap["config"] = lc;
  json::object c7;
  c7["connectors"] = json::array{ldap};
  EXPECT_NE(err(c7).find("identity.connectors[0].config.userSearch: required"), std::string::npos)
      << err(c7);
}

TEST(LdapEscape, Rfc4515) {
  EXPECT_EQ(LdapEscapeFilterValue("alice"), "alice");
  EXPECT_EQ(LdapEscapeFilterValue("*)(uid=*"), "\\2a\\29\\28uid=\\2a");
  EXPECT_EQ(LdapEscapeFilterValue("a\\b"), "a\\5cb");
  EXPECT_EQ(LdapEscapeFilterValue(std::string("a\0b", 3)), "a\\00b");
  EXPECT_EQ(LdapEscapeFilterValue("é"), "\\c3\\a9");
}

}  // namespace
}  // namespace skiff::identity

namespace skiff::identity {
namespace {

TEST(BootstrapUser, MadeOnceThenReadBackAndLogsIn) {
  testing::TmpDir dir;
  auto first = EnsureBootstrapUser(dir.path());
  ASSERT_TRUE(first) << first.error();
  EXPECT_TRUE(first->created);
  ASSERT_EQ(first->password.size(), 24u);
  auto file = ReadFile(first->password_file);
  ASSERT_TRUE(file);
  EXPECT_EQ(*file, first->password + "\n");
  namespace fs = std::filesystem;
  EXPECT_EQ(fs::status(first->password_file).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(fs::status(dir.path() + "/identity/admin.json").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);

  auto second = EnsureBootstrapUser(dir.path());
  ASSERT_TRUE(second) << second.error();
  EXPECT_FALSE(second->created);
  EXPECT_TRUE(second->password.empty());
  EXPECT_EQ(Serialize(second->entry), Serialize(first->entry));

  json::object config;
  config["staticPasswords"] = json::array{second->entry};
  auto parsed = ParseConfig(config);
  ASSERT_TRUE(parsed) << parsed.error();
  auto id = parsed->connectors[0]->Login("admin@skiff.local", first->password);
  ASSERT_TRUE(id) << id.error();
  EXPECT_EQ(id->groups, (std::vector<std::string>{"admins"}));
  EXPECT_FALSE(parsed->connectors[0]->Login("admin@skiff.local", "guess"));
}

}  // namespace
}  // namespace skiff::identity
