#include "gateway/access_log.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "core/fs.hpp"
#include "core/json.hpp"

namespace skiff::gateway {
namespace {

http::AccessRecord Sample() {
  http::AccessRecord r;
  r.start = std::chrono::system_clock::from_time_t(1'800'000'000);
  r.method = "POST";
  r.target = "/v1/models/iris:predict";
  r.path = r.target;
  r.status = 200;
  r.bytes_received = 52;
  r.bytes_sent = 21;
  r.duration = std::chrono::microseconds(1500);
  r.remote_addr = "127.0.0.1:50000";
  r.host = "iris.default.example.com";
  r.user_agent = "curl/7.88.1";
  r.notes.request_id = "6f1c";
  r.notes.upstream = "model default/iris";
  r.notes.route_name = "serving";
  r.notes.user = "alice@example.com";
  return r;
}

TEST(AccessLogFormat, TextLineHasEveryFieldInOrder) {
  std::string line = FormatAccessRecord(Sample(), AccessLogFormat::kText);
  EXPECT_EQ(line,
            "[2027-01-15T08:00:00.000000Z] \"POST /v1/models/iris:predict HTTP/1.1\" 200 - 52 21 1 "
            "\"127.0.0.1\" \"curl/7.88.1\" \"6f1c\" \"iris.default.example.com\" "
            "\"model default/iris\" \"serving\" \"alice@example.com\"");
}

TEST(AccessLogFormat, EmptyFieldsAreDashesAndFlagsJoin) {
  http::AccessRecord r = Sample();
  r.notes = {};
  r.user_agent.clear();
  r.flags = "DC";
  r.notes.flags = "UF";
  std::string line = FormatAccessRecord(r, AccessLogFormat::kText);
  EXPECT_NE(line.find(" 200 DC,UF 52 "), std::string::npos) << line;
  EXPECT_NE(line.find("\"127.0.0.1\" \"-\" \"-\""), std::string::npos) << line;
}

TEST(AccessLogFormat, QuotesAndControlCharactersCannotForgeFieldsOrLines) {
  http::AccessRecord r = Sample();
  r.user_agent = "evil\" \"forged\nsecond line";
  std::string line = FormatAccessRecord(r, AccessLogFormat::kText);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_NE(line.find("\"evil\\\" \\\"forged\\x0asecond line\""), std::string::npos) << line;
}

TEST(AccessLogFormat, CredentialsInTheQueryAreRedacted) {
  EXPECT_EQ(RedactTarget("/authservice/oidc/callback?code=abc&state=xyz&x=1"),
            "/authservice/oidc/callback?code=REDACTED&state=REDACTED&x=1");
  EXPECT_EQ(RedactTarget("/p?ACCESS_TOKEN=t&q=token"), "/p?ACCESS_TOKEN=REDACTED&q=token");
  EXPECT_EQ(RedactTarget("/p?id%5Ftoken=t"), "/p?id%5Ftoken=REDACTED");
  EXPECT_EQ(RedactTarget("/plain"), "/plain");
  http::AccessRecord r = Sample();
  r.target = "/cb?code=secret-code";
  EXPECT_EQ(FormatAccessRecord(r, AccessLogFormat::kText).find("secret-code"), std::string::npos);
  EXPECT_EQ(FormatAccessRecord(r, AccessLogFormat::kJson).find("secret-code"), std::string::npos);
}

TEST(AccessLogFormat, JsonLineParsesWithTheSameFields) {
  auto parsed = ParseJson(FormatAccessRecord(Sample(), AccessLogFormat::kJson));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(GetString(*parsed, "method"), "POST");
  EXPECT_EQ(GetString(*parsed, "request_id"), "6f1c");
  EXPECT_EQ(GetString(*parsed, "upstream_host"), "model default/iris");
  EXPECT_EQ(GetString(*parsed, "route_name"), "serving");
  EXPECT_EQ(parsed->at("response_code").as_int64(), 200);
  EXPECT_EQ(parsed->at("duration_ms").as_int64(), 1);
}

TEST(AccessLogFile, WritesEveryLineToTheFile) {
  auto dir = std::filesystem::temp_directory_path() / ("skiff-al-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::string path = (dir / "access.log").string();
  {
    auto log = AccessLog::Open(path, AccessLogFormat::kText);
    ASSERT_TRUE(log) << log.error().ToString();
    for (int i = 0; i < 1000; ++i) {
      http::AccessRecord r = Sample();
      r.notes.request_id = "id-" + std::to_string(i);
      (*log)->Write(r);
    }
    (*log)->Flush();
    auto text = ReadFile(path, 1 << 22);
    ASSERT_TRUE(text);
    EXPECT_EQ(std::count(text->begin(), text->end(), '\n'), 1000);
    EXPECT_NE(text->find("\"id-999\""), std::string::npos);
    EXPECT_EQ((*log)->dropped(), 0u);
  }
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  std::filesystem::remove_all(dir);
}

TEST(AccessLogFile, AFullQueueDropsAndCountsInsteadOfBlocking) {
  signal(SIGPIPE, SIG_IGN);  // as skiff up does
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  // A pipe nobody reads: the writer thread blocks once the pipe is full; Write must not.
  std::string path = "/proc/self/fd/" + std::to_string(fds[1]);
  auto log = AccessLog::Open(path, AccessLogFormat::kText, /*max_queued_lines=*/10);
  ASSERT_TRUE(log);
  http::AccessRecord r = Sample();
  r.user_agent.assign(8000, 'x');  // 8 KB lines fill the 64 KB pipe quickly
  for (int i = 0; i < 200; ++i) (*log)->Write(r);
  EXPECT_GT((*log)->dropped(), 0u);
  close(fds[0]);  // the writer's next write fails (EPIPE is ignored: SIGPIPE is blocked below)
  log->reset();
  close(fds[1]);
}

}  // namespace
}  // namespace skiff::gateway
