// The LDAP connector against a real OpenLDAP slapd (tests/integration/ldap_peer.py starts it
// on free loopback ports, with users, groups, a test CA for ldaps:// and StartTLS).

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "core/process.hpp"
#include "identity/connector.hpp"
#include "test_util.hpp"

namespace skiff::identity {
namespace {

using testing::TmpDir;

struct Slapd {
  TmpDir dir;
  json::object info;
  int port() const { return static_cast<int>(info.at("port").as_int64()); }
  int ldaps_port() const { return static_cast<int>(info.at("ldaps_port").as_int64()); }
  std::string Str(const char* k) const { return std::string(info.at(k).as_string()); }
};

std::string PeerScript() {
  if (const char* src = std::getenv("SKIFF_SOURCE_DIR"); src && *src) {
    return std::string(src) + "/tests/integration/ldap_peer.py";
  }
  return std::string(SKIFF_TEST_SOURCE_DIR) + "/tests/integration/ldap_peer.py";
}

class LdapTest : public ::testing::Test {
 protected:
  // slapd starts once for the suite, from the first test's SetUp: a failure to start then
  // fails every test (a failure in SetUpTestSuite would only skip them).
  static std::string StartSlapd() {
    slapd_ = new Slapd;
    ProcessOptions po;
    po.argv = {"/usr/bin/python3", PeerScript(), "start", slapd_->dir.path(), "--tls"};
    po.timeout = std::chrono::seconds(60);
    auto r = RunProcess(po);
    if (!r) return r.error().ToString();
    if (!r->ok()) return r->Describe() + "\n" + r->out + r->err;
    auto info = ParseJsonObject(r->out);
    if (!info) return "unexpected output: " + r->out;
    slapd_->info = *info;
    return "";
  }
  static void TearDownTestSuite() {
    if (slapd_ == nullptr) return;
    ProcessOptions po;
    po.argv = {"/usr/bin/python3", PeerScript(), "stop", slapd_->dir.path()};
    po.timeout = std::chrono::seconds(30);
    (void)RunProcess(po);
    delete slapd_;
    slapd_ = nullptr;
  }
  void SetUp() override {
    static const std::string error = StartSlapd();
    ASSERT_EQ(error, "") << "slapd did not start";
  }

  static json::object Config(const std::string& host) {
    json::object us;
    us["baseDN"] = "dc=example,dc=org";
    us["filter"] = "(objectClass=inetOrgPerson)";
    us["username"] = "uid";
    us["idAttr"] = "DN";
    us["emailAttr"] = "mail";
    us["nameAttr"] = "cn";
    us["preferredUsernameAttr"] = "uid";
    json::object matcher;
    matcher["userAttr"] = "DN";
    matcher["groupAttr"] = "member";
    json::object gs;
    gs["baseDN"] = "ou=Groups,dc=example,dc=org";
    gs["filter"] = "(objectClass=groupOfNames)";
    gs["userMatchers"] = json::array{matcher};
    gs["nameAttr"] = "cn";
    json::object c;
    c["host"] = host;
    c["insecureNoSSL"] = true;
    c["bindDN"] = slapd_->Str("bind_dn");
    c["bindPW"] = slapd_->Str("bind_pw");
    c["usernamePrompt"] = "Username";
    c["userSearch"] = us;
    c["groupSearch"] = gs;
    return c;
  }
  static json::object PlainConfig() {
    return Config("127.0.0.1:" + std::to_string(slapd_->port()));
  }
  static std::unique_ptr<Connector> Make(const json::object& c) {
    auto conn = CreateLdapConnector("ldap", "Corporate LDAP", c, "identity.connectors[0].config");
    EXPECT_TRUE(conn) << conn.error();
    return conn ? std::move(*conn) : nullptr;
  }
  // BIND operations slapd has logged.
  static int Binds(const std::string& dn) {
    ProcessOptions po;
    po.argv = {"/usr/bin/python3", PeerScript(), "binds", slapd_->dir.path(), dn};
    auto r = RunProcess(po);
    return r && r->ok() ? std::stoi(r->out) : -1;
  }

  static Slapd* slapd_;
};
Slapd* LdapTest::slapd_ = nullptr;

TEST_F(LdapTest, GoodLoginCarriesEmailNameAndGroups) {
  auto c = Make(PlainConfig());
  auto id = c->Login("alice", "alice-pw");
  ASSERT_TRUE(id) << id.error();
  EXPECT_EQ(id->connector_id, "ldap");
  EXPECT_EQ(id->user_id, "uid=alice,ou=People,dc=example,dc=org");
  EXPECT_EQ(id->email, "alice@example.org");
  EXPECT_TRUE(id->email_verified);
  EXPECT_EQ(id->username, "Alice Smith");
  EXPECT_EQ(id->preferred_username, "alice");
  auto groups = id->groups;
  std::sort(groups.begin(), groups.end());
  EXPECT_EQ(groups, (std::vector<std::string>{"admins", "datascience"}));

  auto bob = c->Login("bob", "bob-pw");
  ASSERT_TRUE(bob) << bob.error();
  EXPECT_EQ(bob->groups, (std::vector<std::string>{"datascience"}));
}

TEST_F(LdapTest, WrongPasswordAndUnknownUserAreUnauthenticated) {
  auto c = Make(PlainConfig());
  auto wrong = c->Login("alice", "bob-pw");
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code(), Code::kUnauthenticated);
  auto unknown = c->Login("mallory", "alice-pw");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code(), Code::kUnauthenticated);
  EXPECT_EQ(wrong.error().message(), unknown.error().message());
}

TEST_F(LdapTest, EmptyPasswordIsRefusedWithoutAnyBind) {
  const std::string dn = "uid=alice,ou=People,dc=example,dc=org";
  auto c = Make(PlainConfig());
  int before = Binds(dn);
  ASSERT_GE(before, 0);
  auto r = c->Login("alice", "");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
  // A real login afterwards binds as alice exactly once: had the empty password been sent (an
  // unauthenticated bind that slapd accepts), slapd's log would show two.
  ASSERT_TRUE(c->Login("alice", "alice-pw"));
  int after = Binds(dn);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (after < before + 1 && std::chrono::steady_clock::now() < deadline) after = Binds(dn);
  EXPECT_EQ(after, before + 1) << "only the real login binds as alice";
}

// A listener that accepts TCP connections at the kernel level but never reads or answers.
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    ::listen(fd_, 8);
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~SilentListener() { ::close(fd_); }
  int port() const { return port_; }
  bool HasPendingConnection() const {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST_F(LdapTest, EmptyPasswordMakesNoConnectionAtAll) {
  SilentListener listener;
  auto c = Make(Config("127.0.0.1:" + std::to_string(listener.port())));
  auto r = c->Login("alice", "");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
  EXPECT_FALSE(listener.HasPendingConnection());
}

TEST_F(LdapTest, EveryCallHasATimeOut) {
  SilentListener listener;
  json::object cfg = Config("127.0.0.1:" + std::to_string(listener.port()));
  cfg["timeoutSeconds"] = 1;
  auto c = Make(cfg);
  auto t0 = std::chrono::steady_clock::now();
  auto r = c->Login("alice", "alice-pw");
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(r);
  EXPECT_TRUE(listener.HasPendingConnection());
  EXPECT_NE(r.error().code(), Code::kUnauthenticated);
  EXPECT_LT(took, std::chrono::seconds(5)) << r.error();
}

TEST_F(LdapTest, FilterInjectionIsEscaped) {
  auto c = Make(PlainConfig());
  // Unescaped, "ali*" would match alice and this password would log in.
  for (const char* user : {"ali*", "*", "*)(uid=*", "alice)(|(uid=*", "*)(objectClass=*"}) {
    auto r = c->Login(user, "alice-pw");
    ASSERT_FALSE(r) << user;
    EXPECT_EQ(r.error().code(), Code::kUnauthenticated) << user << ": " << r.error();
  }
}

TEST_F(LdapTest, SeveralMatchingEntriesAreAnError) {
  auto c = Make(PlainConfig());
  auto r = c->Login("twin", "twin-pw");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kFailedPrecondition);
  EXPECT_NE(r.error().message().find("matched 2 entries"), std::string::npos) << r.error();
}

TEST_F(LdapTest, UnreachableServerIsUnavailable) {
  json::object cfg = Config("127.0.0.1:1");  // nothing listens on port 1
  auto c = Make(cfg);
  auto r = c->Login("alice", "alice-pw");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kUnavailable) << r.error();
}

TEST_F(LdapTest, LdapsVerifiesTheServerCertificate) {
  json::object cfg = Config("127.0.0.1:" + std::to_string(slapd_->ldaps_port()));
  cfg.erase("insecureNoSSL");
  // Without the CA, the self-made certificate is not trusted: no login.
  auto untrusted = Make(cfg)->Login("alice", "alice-pw");
  ASSERT_FALSE(untrusted);
  EXPECT_NE(untrusted.error().code(), Code::kUnauthenticated);
  cfg["rootCA"] = slapd_->Str("ca_file");
  auto ok = Make(cfg)->Login("alice", "alice-pw");
  ASSERT_TRUE(ok) << ok.error();
  EXPECT_EQ(ok->email, "alice@example.org");
  json::object skip = cfg;
  skip.erase("rootCA");
  skip["insecureSkipVerify"] = true;
  EXPECT_TRUE(Make(skip)->Login("alice", "alice-pw"));
}

TEST_F(LdapTest, StartTlsVerifiesTheServerCertificate) {
  json::object cfg = PlainConfig();
  cfg.erase("insecureNoSSL");
  cfg["startTLS"] = true;
  auto untrusted = Make(cfg)->Login("alice", "alice-pw");
  ASSERT_FALSE(untrusted);
  EXPECT_NE(untrusted.error().code(), Code::kUnauthenticated);
  cfg["rootCA"] = slapd_->Str("ca_file");
  auto ok = Make(cfg)->Login("bob", "bob-pw");
  ASSERT_TRUE(ok) << ok.error();
  EXPECT_EQ(ok->groups, (std::vector<std::string>{"datascience"}));
}

TEST_F(LdapTest, ConfigErrorsNameTheField) {
  json::object cfg = PlainConfig();
  cfg["host"] = "ldap://127.0.0.1:389";
  auto r = CreateLdapConnector("ldap", "x", cfg, "identity.connectors[0].config");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("identity.connectors[0].config.host"), std::string::npos);
  json::object both = PlainConfig();
  both["startTLS"] = true;
  EXPECT_FALSE(CreateLdapConnector("ldap", "x", both, "f"));
  json::object bad_filter = PlainConfig();
  bad_filter["userSearch"].as_object()["filter"] = "objectClass=person";
  auto bf = CreateLdapConnector("ldap", "x", bad_filter, "identity.connectors[0].config");
  ASSERT_FALSE(bf);
  EXPECT_NE(bf.error().message().find("userSearch.filter"), std::string::npos);
}

TEST_F(LdapTest, RefreshLooksTheUserUpAgain) {
  auto c = Make(PlainConfig());
  auto id = c->Login("alice", "alice-pw");
  ASSERT_TRUE(id) << id.error();
  EXPECT_EQ(id->login, "alice");
  auto again = c->Refresh(*id);
  ASSERT_TRUE(again) << again.error();
  EXPECT_EQ(again->user_id, id->user_id);
  EXPECT_EQ(again->email, "alice@example.org");
  EXPECT_EQ(again->groups.size(), 2u);
  Identity ghost = *id;
  ghost.login = "ghost";
  auto gone = c->Refresh(ghost);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code(), Code::kUnauthenticated);
  Identity moved = *id;
  moved.login = "bob";  // another entry now answers to the name: not the same user
  auto other = c->Refresh(moved);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code(), Code::kUnauthenticated);
}

TEST_F(LdapTest, AMissingSearchBaseIsAConfigurationError) {
  json::object cfg = PlainConfig();
  cfg["userSearch"].as_object()["baseDN"] = "ou=Nowhere,dc=example,dc=org";
  auto r = Make(cfg)->Login("alice", "alice-pw");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kFailedPrecondition);
  EXPECT_NE(r.error().message().find("ou=Nowhere,dc=example,dc=org"), std::string::npos);
}

}  // namespace
}  // namespace skiff::identity
