#include "core/config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace skiff {
namespace {

using std::chrono::milliseconds;
using testing::HasSubstr;
using Type = SettingSpec::Type;

std::vector<SettingSpec> Specs() {
  return {
      {"addr", Type::kString, "127.0.0.1:8080", "listen address", "addr"},
      {"dataDir", Type::kString, "/var/lib/skiff", "data directory", "data-dir"},
      {"http.maxBodyBytes", Type::kBytes, "1MiB", "body limit", "max-body-bytes"},
      {"http.readTimeout", Type::kDuration, "30s", "read timeout", "read-timeout"},
      {"http.workers", Type::kInt, "4", "worker threads", "workers"},
      {"http.tls.enabled", Type::kBool, "false", "serve TLS", "tls"},
      {"auth.users", Type::kSection, "", "static users", ""},
      {"logLevel", Type::kString, "", "log level", "log-level"},
  };
}

using EnvMap = std::map<std::string, std::string>;

std::function<std::optional<std::string>(const std::string&)> EnvFrom(EnvMap env) {
  return [env = std::move(env)](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
}

Result<Settings> Load(std::string_view file, EnvMap env = {},
                      std::map<std::string, std::string> flags = {}) {
  return Settings::Load(Specs(), file, "skiff.yaml", EnvFrom(std::move(env)), flags);
}

TEST(EnvNameForTest, Derivation) {
  EXPECT_EQ(EnvNameFor("http.maxBodyBytes"), "SKIFF_HTTP_MAX_BODY_BYTES");
  EXPECT_EQ(EnvNameFor("dataDir"), "SKIFF_DATA_DIR");
  EXPECT_EQ(EnvNameFor("addr"), "SKIFF_ADDR");
  EXPECT_EQ(EnvNameFor("http.tls.enabled"), "SKIFF_HTTP_TLS_ENABLED");
  EXPECT_EQ(EnvNameFor("log-level"), "SKIFF_LOG_LEVEL");
  EXPECT_EQ(EnvNameFor("tls.clientCAFile"), "SKIFF_TLS_CLIENT_CA_FILE");
  EXPECT_EQ(EnvNameFor("oidc.issuerURL"), "SKIFF_OIDC_ISSUER_URL");
  EXPECT_EQ(EnvNameFor("http2Enabled"), "SKIFF_HTTP2_ENABLED");
  EXPECT_EQ(EnvNameFor("a.B"), "SKIFF_A_B");
}

TEST(SettingsTest, DefaultsOnly) {
  auto s = Load("");
  ASSERT_TRUE(s) << s.error();
  EXPECT_EQ(s->GetString("addr"), "127.0.0.1:8080");
  EXPECT_EQ(s->GetBytes("http.maxBodyBytes"), 1u << 20);
  EXPECT_EQ(s->GetDuration("http.readTimeout"), milliseconds(30000));
  EXPECT_EQ(s->GetInt("http.workers"), 4);
  EXPECT_FALSE(s->GetBool("http.tls.enabled"));
  EXPECT_EQ(s->SourceOf("addr"), "default");
  EXPECT_EQ(s->SourceOf("logLevel"), "unset");
  EXPECT_FALSE(s->Has("logLevel"));
  EXPECT_TRUE(s->Has("http.workers"));
  EXPECT_TRUE(s->GetSection("auth.users").is_null());
  EXPECT_EQ(s->SourceOf("auth.users"), "unset");
}

TEST(SettingsTest, PrecedenceDefaultFileEnvFlag) {
  const std::string file = "addr: file:1\ndataDir: /file\nhttp:\n  workers: 8\n";
  auto s =
      Load(file, {{"SKIFF_DATA_DIR", "/env"}, {"SKIFF_HTTP_WORKERS", "16"}}, {{"workers", "32"}});
  ASSERT_TRUE(s) << s.error();
  EXPECT_EQ(s->GetString("addr"), "file:1");
  EXPECT_EQ(s->SourceOf("addr"), "file");
  EXPECT_EQ(s->GetString("dataDir"), "/env");
  EXPECT_EQ(s->SourceOf("dataDir"), "env");
  EXPECT_EQ(s->GetInt("http.workers"), 32);
  EXPECT_EQ(s->SourceOf("http.workers"), "flag");
  EXPECT_EQ(s->GetDuration("http.readTimeout"), milliseconds(30000));
  EXPECT_EQ(s->SourceOf("http.readTimeout"), "default");

  // Each layer wins over the ones below it, one at a time.
  auto env_over_default = Load("", {{"SKIFF_ADDR", "env:1"}});
  ASSERT_TRUE(env_over_default);
  EXPECT_EQ(env_over_default->GetString("addr"), "env:1");
  auto flag_over_default = Load("", {}, {{"addr", "flag:1"}});
  ASSERT_TRUE(flag_over_default);
  EXPECT_EQ(flag_over_default->GetString("addr"), "flag:1");
  EXPECT_EQ(flag_over_default->SourceOf("addr"), "flag");
  auto flag_over_file = Load("addr: file:1\n", {}, {{"addr", "flag:1"}});
  ASSERT_TRUE(flag_over_file);
  EXPECT_EQ(flag_over_file->GetString("addr"), "flag:1");
}

TEST(SettingsTest, DocumentHoldsMergedValues) {
  auto s = Load("http:\n  workers: 2\n", {{"SKIFF_HTTP_TLS_ENABLED", "true"}});
  ASSERT_TRUE(s);
  EXPECT_EQ(Find(s->document(), "http.workers")->as_int64(), 2);
  EXPECT_TRUE(Find(s->document(), "/http/tls/enabled")->as_bool());
}

TEST(SettingsTest, EmptyEnvAndNullFileValuesCountAsUnset) {
  auto s = Load("dataDir:\nhttp:\n", {{"SKIFF_ADDR", ""}, {"SKIFF_HTTP_WORKERS", ""}});
  ASSERT_TRUE(s) << s.error();
  EXPECT_EQ(s->GetString("dataDir"), "/var/lib/skiff");
  EXPECT_EQ(s->SourceOf("dataDir"), "default");
  EXPECT_EQ(s->GetString("addr"), "127.0.0.1:8080");
  EXPECT_EQ(s->GetInt("http.workers"), 4);
}

TEST(SettingsTest, NoEnvFunction) {
  auto s = Settings::Load(Specs(), "", "x", nullptr, {});
  ASSERT_TRUE(s) << s.error();
  EXPECT_EQ(s->GetString("addr"), "127.0.0.1:8080");
}

TEST(SettingsTest, UnknownKeysRejectedWithLine) {
  auto s = Load("addr: x\nhttp:\n  workers: 2\n  maxBodyByte: 10\n");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(s.error().message(), HasSubstr("skiff.yaml line 4"));
  EXPECT_THAT(s.error().message(), HasSubstr("unknown setting \"http.maxBodyByte\""));

  s = Load("addr: x\n\nbogus: 1\n");
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error().message(), HasSubstr("line 3"));
  EXPECT_THAT(s.error().message(), HasSubstr("\"bogus\""));
}

TEST(SettingsTest, DottedKeysInTheFileRejected) {
  // Would otherwise look declared and be silently ignored.
  auto s = Load("http.workers: 9\n");
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error().message(), HasSubstr("line 1"));
  EXPECT_THAT(s.error().message(), HasSubstr("http.workers"));
}

TEST(SettingsTest, ParentMustBeAMapping) {
  auto s = Load("addr: x\nhttp: 5\n");
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error().message(), HasSubstr("line 2"));
  EXPECT_THAT(s.error().message(), HasSubstr("\"http\" must be a mapping"));
}

TEST(SettingsTest, FileMustBeOneMapping) {
  auto s = Load("- a\n- b\n");
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error().message(), HasSubstr("mapping"));
  s = Load("addr: a\n---\naddr: b\n");
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error().message(), HasSubstr("one YAML document"));
  s = Load("addr: [unclosed\n");
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error().message(), HasSubstr("line"));
  // Comments only: as if there were no file.
  s = Load("# nothing here\n");
  ASSERT_TRUE(s) << s.error();
  EXPECT_EQ(s->SourceOf("addr"), "default");
}

struct FileTypeError {
  std::string file;
  std::string want;  // in the message
};

class SettingsFileTypeErrorTest : public testing::TestWithParam<FileTypeError> {};

void PrintTo(const FileTypeError& c, std::ostream* os) { *os << "\"" << c.file << "\""; }

TEST_P(SettingsFileTypeErrorTest, Rejected) {
  auto s = Load("addr: ok\n" + GetParam().file);
  ASSERT_FALSE(s) << GetParam().file;
  EXPECT_EQ(s.error().code(), Code::kInvalidArgument);
  // The bad value is on the file's last line.
  const auto line = 1 + std::count(GetParam().file.begin(), GetParam().file.end(), '\n');
  EXPECT_THAT(s.error().message(), HasSubstr("skiff.yaml line " + std::to_string(line)))
      << GetParam().file;
  EXPECT_THAT(s.error().message(), HasSubstr(GetParam().want)) << GetParam().file;
}

INSTANTIATE_TEST_SUITE_P(
    Types, SettingsFileTypeErrorTest,
    testing::Values(FileTypeError{"http:\n  workers: many\n", "expected an integer"},
                    FileTypeError{"http:\n  workers: 1.5\n", "expected an integer"},
                    FileTypeError{"http:\n  workers: 18446744073709551615\n", "out of range"},
                    FileTypeError{"http:\n  workers: [1]\n", "expected an integer"},
                    FileTypeError{"http:\n  tls:\n    enabled: maybe\n", "expected true or false"},
                    FileTypeError{"http:\n  tls:\n    enabled: 1\n", "expected true or false"},
                    FileTypeError{"http:\n  readTimeout: soon\n", "invalid duration"},
                    FileTypeError{"http:\n  readTimeout: 1.5\n", "expected a duration"},
                    FileTypeError{"http:\n  readTimeout: -5\n", "negative"},
                    FileTypeError{"http:\n  maxBodyBytes: 1XB\n", "unknown unit"},
                    FileTypeError{"http:\n  maxBodyBytes: -1\n", "invalid size"},
                    FileTypeError{"http:\n  maxBodyBytes: {a: 1}\n", "expected a size"},
                    FileTypeError{"dataDir: {a: 1}\n", "expected a string"},
                    FileTypeError{"dataDir: [x]\n", "expected a string"}));

TEST(SettingsTest, FileScalarsForStringSettings) {
  auto s = Load("addr: 8080\ndataDir: 1.10\nlogLevel: true\n");
  ASSERT_TRUE(s) << s.error();
  EXPECT_EQ(s->GetString("addr"), "8080");
  EXPECT_EQ(s->GetString("dataDir"), "1.1");  // an unquoted 1.10 is the float 1.1
  EXPECT_EQ(s->GetString("logLevel"), "true");
}

struct DurationCase {
  std::string text;
  int64_t ms;
};

void PrintTo(const DurationCase& c, std::ostream* os) { *os << "\"" << c.text << "\""; }

class SettingsDurationTest : public testing::TestWithParam<DurationCase> {};

TEST_P(SettingsDurationTest, FromFileEnvAndFlag) {
  const auto& c = GetParam();
  auto file = Load("http:\n  readTimeout: " + c.text + "\n");
  ASSERT_TRUE(file) << file.error();
  EXPECT_EQ(file->GetDuration("http.readTimeout"), milliseconds(c.ms)) << c.text;
  auto env = Load("", {{"SKIFF_HTTP_READ_TIMEOUT", c.text}});
  ASSERT_TRUE(env) << env.error();
  EXPECT_EQ(env->GetDuration("http.readTimeout"), milliseconds(c.ms)) << c.text;
  auto flag = Load("", {}, {{"read-timeout", c.text}});
  ASSERT_TRUE(flag) << flag.error();
  EXPECT_EQ(flag->GetDuration("http.readTimeout"), milliseconds(c.ms)) << c.text;
}

INSTANTIATE_TEST_SUITE_P(Forms, SettingsDurationTest,
                         testing::Values(DurationCase{"300ms", 300}, DurationCase{"30s", 30000},
                                         DurationCase{"5m", 300000}, DurationCase{"1h30m", 5400000},
                                         DurationCase{"1.5s", 1500}, DurationCase{"45", 45000},
                                         DurationCase{"0", 0}));

struct BytesCase {
  std::string text;
  uint64_t bytes;
};

void PrintTo(const BytesCase& c, std::ostream* os) { *os << "\"" << c.text << "\""; }

class SettingsBytesTest : public testing::TestWithParam<BytesCase> {};

TEST_P(SettingsBytesTest, FromFileEnvAndFlag) {
  const auto& c = GetParam();
  auto file = Load("http:\n  maxBodyBytes: " + c.text + "\n");
  ASSERT_TRUE(file) << file.error();
  EXPECT_EQ(file->GetBytes("http.maxBodyBytes"), c.bytes) << c.text;
  auto env = Load("", {{"SKIFF_HTTP_MAX_BODY_BYTES", c.text}});
  ASSERT_TRUE(env) << env.error();
  EXPECT_EQ(env->GetBytes("http.maxBodyBytes"), c.bytes) << c.text;
  auto flag = Load("", {}, {{"max-body-bytes", c.text}});
  ASSERT_TRUE(flag) << flag.error();
  EXPECT_EQ(flag->GetBytes("http.maxBodyBytes"), c.bytes) << c.text;
}

INSTANTIATE_TEST_SUITE_P(Forms, SettingsBytesTest,
                         testing::Values(BytesCase{"64KiB", 65536}, BytesCase{"1MiB", 1048576},
                                         BytesCase{"512", 512}, BytesCase{"2Gi", 2ull << 30},
                                         BytesCase{"10Mi", 10ull << 20}, BytesCase{"1M", 1000000},
                                         BytesCase{"0", 0}));

TEST(ParseBytesTest, Units) {
  EXPECT_EQ(*ParseBytes("1B"), 1u);
  EXPECT_EQ(*ParseBytes("1KiB"), 1024u);
  EXPECT_EQ(*ParseBytes("1Ki"), 1024u);
  EXPECT_EQ(*ParseBytes("3TiB"), 3ull << 40);
  EXPECT_EQ(*ParseBytes("1k"), 1000u);
  EXPECT_EQ(*ParseBytes("1KB"), 1000u);
  EXPECT_EQ(*ParseBytes("2GB"), 2000000000u);
  EXPECT_EQ(*ParseBytes("64 KiB"), 65536u);
  EXPECT_EQ(*ParseBytes("18446744073709551615"), 18446744073709551615ull);
  for (const char* bad : {"", "KiB", "-1", "1.5MiB", "1 MiB ", "1XiB", "1kib", "1m", "0x10",
                          "18446744073709551616", "17179869184GiB", " 1"}) {
    auto r = ParseBytes(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
    }
  }
}

TEST(SettingsTest, BoolForms) {
  for (const char* t : {"true", "True", "TRUE", "1", "yes", "on"}) {
    auto s = Load("", {{"SKIFF_HTTP_TLS_ENABLED", t}});
    ASSERT_TRUE(s) << t;
    EXPECT_TRUE(s->GetBool("http.tls.enabled")) << t;
  }
  for (const char* t : {"false", "False", "0", "no", "OFF"}) {
    auto s = Load("", {}, {{"tls", t}});
    ASSERT_TRUE(s) << t;
    EXPECT_FALSE(s->GetBool("http.tls.enabled")) << t;
  }
  auto file = Load("http:\n  tls:\n    enabled: yes\n");
  ASSERT_TRUE(file);
  EXPECT_TRUE(file->GetBool("http.tls.enabled"));
}

TEST(SettingsTest, BadEnvValueNamesTheVariable) {
  struct Case {
    std::string var, value, want;
  };
  for (const auto& c : std::vector<Case>{
           {"SKIFF_HTTP_WORKERS", "four", "expected an integer"},
           {"SKIFF_HTTP_WORKERS", "4x", "expected an integer"},
           {"SKIFF_HTTP_TLS_ENABLED", "perhaps", "expected true or false"},
           {"SKIFF_HTTP_READ_TIMEOUT", "10 parsecs", "invalid duration"},
           {"SKIFF_HTTP_MAX_BODY_BYTES", "lots", "invalid size"},
           {"SKIFF_AUTH_USERS", "[unclosed", "invalid YAML"},
       }) {
    auto s = Load("", {{c.var, c.value}});
    ASSERT_FALSE(s) << c.var;
    EXPECT_EQ(s.error().code(), Code::kInvalidArgument);
    EXPECT_THAT(s.error().message(), HasSubstr("environment variable " + c.var)) << c.var;
    EXPECT_THAT(s.error().message(), HasSubstr(c.want)) << c.var;
  }
}

TEST(SettingsTest, BadFlagValueNamesTheFlag) {
  auto s = Load("", {}, {{"workers", "lots"}});
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error().message(), HasSubstr("flag --workers"));
  EXPECT_THAT(s.error().message(), HasSubstr("expected an integer"));
  s = Load("", {}, {{"read-timeout", "5 minutes"}});
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error().message(), HasSubstr("flag --read-timeout"));
  s = Load("", {}, {{"tls", "si"}});
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error().message(), HasSubstr("flag --tls"));
}

TEST(SettingsTest, SectionsPassThrough) {
  const std::string file =
      "auth:\n"
      "  users:\n"
      "  - name: alice\n"
      "    groups: [admins]\n"
      "    anything: {nested: true}\n"
      "  - name: bob\n";
  auto s = Load(file);
  ASSERT_TRUE(s) << s.error();
  const json::value& users = s->GetSection("auth.users");
  ASSERT_TRUE(users.is_array());
  ASSERT_EQ(users.as_array().size(), 2u);
  EXPECT_EQ(GetString(users, "0.name"), "alice");
  EXPECT_TRUE(Find(users, "0.anything.nested")->as_bool());
  EXPECT_EQ(s->SourceOf("auth.users"), "file");

  auto env = Load(file, {{"SKIFF_AUTH_USERS", R"([{"name":"carol"}])"}});
  ASSERT_TRUE(env) << env.error();
  EXPECT_EQ(Serialize(env->GetSection("auth.users")), R"([{"name":"carol"}])");
  EXPECT_EQ(env->SourceOf("auth.users"), "env");

  // A sibling of a section is still checked.
  auto bad = Load("auth:\n  users: []\n  groups: []\n");
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message(), HasSubstr("\"auth.groups\""));
  EXPECT_THAT(bad.error().message(), HasSubstr("line 3"));
}

TEST(SettingsTest, ProcessEnvironment) {
  ::setenv("SKIFF_CORE_TEST_VARIABLE", "value", 1);
  EXPECT_EQ(GetEnv("SKIFF_CORE_TEST_VARIABLE"), "value");
  ::unsetenv("SKIFF_CORE_TEST_VARIABLE");
  EXPECT_EQ(GetEnv("SKIFF_CORE_TEST_VARIABLE"), std::nullopt);
}

}  // namespace
}  // namespace skiff
