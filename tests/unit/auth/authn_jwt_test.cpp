// MakeRemoteJwtIssuer against a JWKS served over loopback HTTP: verified tokens are served from
// the cache, and with a background refresher a key removed from the JWKS stops working once the
// set's TTL has passed, without any request waiting for the fetch.

#include "auth/authn_jwt.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <mutex>

#include "auth/jwt.hpp"
#include "core/json.hpp"
#include "http/server.hpp"

namespace skiff::auth {
namespace {

using std::chrono::seconds;

constexpr std::string_view kIssuer = "https://issuer.test";

// Serves /keys (changeable by the test, with Cache-Control max-age=60) and counts fetches.
class JwksServer {
 public:
  JwksServer() {
    http::ServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.io_threads = 1;
    o.blocking_threads = 1;
    o.cpu_threads = 1;
    o.shutdown_grace = std::chrono::milliseconds(1000);
    server_ = std::make_unique<http::Server>(
        o,
        [this](http::Request& req, http::Responder respond) {
          std::lock_guard lock(mu_);
          if (req.path != "/keys") return respond(http::Response::Text(404, "not found"));
          ++fetches_;
          http::Response r = http::Response::Json(200, jwks_);
          r.headers.Set("Cache-Control", "max-age=60");
          respond(std::move(r));
        },
        nullptr);
    auto port = server_->Start();
    EXPECT_TRUE(port) << port.error();
    url_ = "http://127.0.0.1:" + std::to_string(port ? *port : 0) + "/keys";
  }
  ~JwksServer() { server_->Shutdown(); }

  void Serve(std::initializer_list<const jose::Key*> keys) {
    jose::KeySet set;
    for (const jose::Key* k : keys) set.Add(*k);
    std::lock_guard lock(mu_);
    jwks_ = Serialize(set.ToJwks());
  }
  int fetches() const {
    std::lock_guard lock(mu_);
    return fetches_;
  }
  const std::string& url() const { return url_; }

 private:
  std::unique_ptr<http::Server> server_;
  std::string url_;
  mutable std::mutex mu_;  // guards jwks_ and fetches_
  std::string jwks_ = R"({"keys":[]})";
  int fetches_ = 0;
};

// Keeps posted tasks until the test runs them (the blocking pool, under the test's control).
class ManualRunner final : public http::TaskRunner {
 public:
  void Post(std::function<void()> task) override {
    std::lock_guard lock(mu_);
    tasks_.push_back(std::move(task));
  }
  size_t pending() const {
    std::lock_guard lock(mu_);
    return tasks_.size();
  }
  void RunAll() {
    std::deque<std::function<void()>> tasks;
    {
      std::lock_guard lock(mu_);
      tasks.swap(tasks_);
    }
    for (auto& t : tasks) t();
  }

 private:
  mutable std::mutex mu_;  // guards tasks_
  std::deque<std::function<void()>> tasks_;
};

jose::Key NewKey(std::string kid) {
  auto k = jose::Key::Generate(jose::Alg::kES256);
  EXPECT_TRUE(k);
  k->set_kid(std::move(kid));
  return *k;
}

std::string Token(const jose::Key& key, const Clock& clock) {
  const int64_t now = std::chrono::duration_cast<seconds>(clock.Now().time_since_epoch()).count();
  json::object c;
  c["iss"] = kIssuer;
  c["aud"] = "skiff";
  c["email"] = "alice@example.com";
  c["iat"] = now;
  c["exp"] = now + 3 * 3600;
  return *jose::Sign(key, c);
}

TEST(RemoteJwtIssuer, ARemovedKeyStopsWorkingAfterTheBackgroundRefresh) {
  FakeClock clock;
  JwksServer server;
  const jose::Key k1 = NewKey("k1"), k2 = NewKey("k2");
  server.Serve({&k1});
  ManualRunner runner;
  JwtPolicy policy;
  policy.issuer = kIssuer;
  policy.audiences = {"skiff"};
  policy.algorithms = {jose::Alg::kES256};
  policy.cache.max_age = std::chrono::hours(2);  // so only the key refresh can drop the entry
  RemoteJwksOptions remote;
  remote.jwks_uri = server.url();
  remote.refresher = &runner;
  auto issuer = MakeRemoteJwtIssuer(policy, remote, ClaimMapping{}, clock);
  ASSERT_TRUE(issuer) << issuer.error();
  const std::string token = Token(k1, clock);

  // Nothing loaded: the inline try asks for the blocking path (which fetches) and queues no
  // background fetch that could race it.
  auto first = issuer->verify_inline(token);
  ASSERT_FALSE(first);
  EXPECT_TRUE(NeedsKeyRefresh(first.error())) << first.error();
  EXPECT_EQ(runner.pending(), 0u);
  ASSERT_TRUE(issuer->verify(token));
  EXPECT_EQ(server.fetches(), 1);
  for (int i = 0; i < 3; ++i) {
    auto ok = issuer->verify_inline(token);
    ASSERT_TRUE(ok) << ok.error();
    EXPECT_EQ(GetString(*ok, "email"), "alice@example.com");
  }
  EXPECT_EQ(runner.pending(), 0u);

  // k1 leaves the JWKS. Within the TTL (60 s) nothing is fetched and the token still works.
  server.Serve({&k2});
  clock.Advance(seconds(59));
  ASSERT_TRUE(issuer->verify_inline(token));
  EXPECT_EQ(runner.pending(), 0u);
  // Past the TTL: the request is answered at once with the set it has, and one refresh is
  // queued however many requests notice.
  clock.Advance(seconds(2));
  ASSERT_TRUE(issuer->verify_inline(token));
  ASSERT_TRUE(issuer->verify_inline(token));
  EXPECT_EQ(runner.pending(), 1u);
  runner.RunAll();
  EXPECT_EQ(server.fetches(), 2);
  // From the new set on, the cached entry is not honoured.
  auto gone = issuer->verify_inline(token);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().message(), "unknown kid \"k1\"");
  EXPECT_FALSE(NeedsKeyRefresh(gone.error()));  // just refreshed: final
  ASSERT_TRUE(issuer->verify_inline(Token(k2, clock)));
}

}  // namespace
}  // namespace skiff::auth
