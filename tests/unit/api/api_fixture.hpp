#pragma once
// A ResourceApi over a real in-memory SQLite store, driven without sockets: tests build
// http::Request objects by hand and call Handle. The store is wrapped in a decorator that
// records transactions and can inject a commit failure. Watch bodies are read with a
// deadline-bounded Pull.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "api/api.hpp"
#include "api/kind.hpp"
#include "core/clock.hpp"
#include "core/json.hpp"
#include "http/http.hpp"
#include "store/store.hpp"
#include "test_util.hpp"
#include "unit/forwarding_store.hpp"

namespace skiff::api::testing {

inline constexpr std::chrono::seconds kWait{10};

inline constexpr std::string_view kTableAccept =
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;"
    "g=meta.k8s.io,application/json";

// Forwards to a real store; records every Commit and can fail the next ones.
class RecordingStore final : public skiff::testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;

  Result<store::Object> Create(const store::Key& key, json::object object) override {
    ++writes_;
    return ForwardingStore::Create(key, std::move(object));
  }
  Result<store::Object> Update(const store::Key& key, json::object object,
                               int64_t expected_version) override {
    ++writes_;
    if (TakeConflict()) return Conflict("injected conflict");
    return ForwardingStore::Update(key, std::move(object), expected_version);
  }
  Result<store::Object> Delete(const store::Key& key, int64_t expected_version) override {
    ++writes_;
    return ForwardingStore::Delete(key, expected_version);
  }
  Result<std::vector<store::Object>> Commit(std::vector<store::Mutation> mutations) override {
    ++writes_;
    {
      std::lock_guard lock(mu_);
      commits_.push_back(mutations);
    }
    if (fail_commits_) return Unavailable("injected commit failure");
    if (TakeConflict()) return Conflict("injected conflict");
    return ForwardingStore::Commit(std::move(mutations));
  }

  // Write calls of any kind (Create, Update, Delete, Commit).
  int writes() const { return writes_; }
  std::vector<std::vector<store::Mutation>> commits() {
    std::lock_guard lock(mu_);
    return commits_;
  }
  void set_fail_commits(bool fail) { fail_commits_ = fail; }
  // The next `n` Update or Commit calls fail with Conflict, as if another writer won the race.
  void InjectConflicts(int n) { conflicts_ = n; }

 private:
  bool TakeConflict() {
    int n = conflicts_.load();
    while (n > 0) {
      if (conflicts_.compare_exchange_weak(n, n - 1)) return true;
    }
    return false;
  }

  std::atomic<int> conflicts_{0};
  std::atomic<int> writes_{0};
  std::atomic<bool> fail_commits_{false};
  std::mutex mu_;  // guards commits_
  std::vector<std::vector<store::Mutation>> commits_;
};

// A namespaced kind of another group, with a list merged by key and a status subresource.
inline KindInfo WidgetKind() {
  KindInfo k;
  k.group = "example.com";
  k.version = "v1";
  k.kind = "Widget";
  k.plural = "widgets";
  k.singular = "widget";
  k.short_names = {"wd"};
  k.categories = {"all"};
  k.status_subresource = true;
  k.schema = J(R"({
    "type": "object",
    "properties": {
      "apiVersion": {"type": "string"}, "kind": {"type": "string"},
      "metadata": {"type": "object"},
      "spec": {"type": "object", "properties": {
        "replicas": {"type": "integer"},
        "items": {"type": "array",
                  "x-kubernetes-patch-strategy": "merge",
                  "x-kubernetes-patch-merge-key": "name",
                  "items": {"type": "object", "properties": {
                    "name": {"type": "string"}, "value": {"type": "string"}}}}}},
      "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
    }
  })");
  k.columns = {{"Replicas", "integer", ".spec.replicas", "Desired replicas", 0, "", nullptr}};
  k.validate = [](const json::object& obj) {
    FieldErrors errs;
    const json::value root(obj);
    const json::value* r = Find(root, "spec.replicas");
    if (r != nullptr && r->is_int64() && r->get_int64() < 0) {
      errs.push_back({FieldError::Type::kInvalid, "spec.replicas", "must be >= 0", *r});
    }
    return errs;
  };
  return k;
}

struct Reply {
  int status = 0;
  http::HeaderMap headers;
  std::string text;
  json::value body;  // parsed when the body is JSON
  std::shared_ptr<http::BodyStream> stream;

  std::string Str(std::string_view path) const { return GetString(body, path); }
  const json::value& At(std::string_view path) const {
    static const json::value kMissing("<missing>");
    const json::value* v = Find(body, path);
    return v != nullptr ? *v : kMissing;
  }
};

inline std::ostream& operator<<(std::ostream& os, const Reply& r) {
  return os << r.status << " " << r.text;
}

// Reads a watch body chunk by chunk, each Pull bounded by a deadline.
class StreamReader {
 public:
  explicit StreamReader(std::shared_ptr<http::BodyStream> stream) : stream_(std::move(stream)) {}

  // The next chunk; nullopt when the stream ended. Fails the test (and returns
  // "<timeout>") when nothing comes within `timeout`.
  std::optional<std::string> Next(std::chrono::milliseconds timeout = kWait) {
    struct State {
      std::mutex mu;
      std::condition_variable cv;
      bool done = false;
      std::optional<std::string> chunk;
    };
    auto state = std::make_shared<State>();
    stream_->Pull([state](std::optional<std::string> chunk) {
      std::lock_guard lock(state->mu);
      state->chunk = std::move(chunk);
      state->done = true;
      state->cv.notify_all();
    });
    std::unique_lock lock(state->mu);
    if (!state->cv.wait_for(lock, timeout, [&] { return state->done; })) {
      ADD_FAILURE() << "no watch chunk within " << timeout.count() << "ms";
      return std::string("<timeout>");
    }
    return state->chunk;
  }

  // The next event as {type, object}; null JSON when the stream ended.
  json::value NextEvent(std::chrono::milliseconds timeout = kWait) {
    auto chunk = Next(timeout);
    if (!chunk) return nullptr;
    auto v = ParseJson(*chunk);
    EXPECT_TRUE(v) << *chunk;
    return v ? *v : json::value("<bad chunk>");
  }

  // "ADDED team-a" for readable comparisons; "END" when the stream ended.
  std::string NextSummary(std::chrono::milliseconds timeout = kWait) {
    json::value e = NextEvent(timeout);
    if (e.is_null()) return "END";
    return GetString(e, "type") + " " + GetString(e, "object.metadata.name");
  }

 private:
  std::shared_ptr<http::BodyStream> stream_;
};

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(10'000); }

  void Open(int64_t history_size) {
    api_.reset();
    store_.reset();
    kinds_ = std::make_unique<KindRegistry>();
    ASSERT_TRUE(RegisterCoreKinds(*kinds_).ok());
    ASSERT_TRUE(kinds_->Register(WidgetKind()).ok());
    store::SqliteOptions o;
    o.path = ":memory:";
    o.synchronous = "normal";
    o.history_size = history_size;
    auto s = store::OpenSqliteStore(o);
    ASSERT_TRUE(s) << s.error();
    store_ = std::make_unique<RecordingStore>(std::move(*s));
    api_ = std::make_unique<ResourceApi>(*kinds_, *store_, clock_, ApiOptions{});
  }

  // `target` is the path with an optional "?query".
  Reply Do(std::string method, std::string_view target, std::string body = "",
           std::initializer_list<std::pair<std::string_view, std::string_view>> headers = {}) {
    http::Request req;
    req.method = std::move(method);
    req.target = std::string(target);
    size_t q = target.find('?');
    req.path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) req.raw_query = std::string(target.substr(q + 1));
    bool has_content_type = false;
    for (const auto& [k, v] : headers) {
      req.headers.Add(k, v);
      has_content_type = has_content_type || http::EqualsIgnoreCase(k, "Content-Type");
    }
    if (!body.empty() && !has_content_type) req.headers.Set("Content-Type", "application/json");
    req.body = std::move(body);
    req.principal = principal_;
    http::Response resp = api_->Handle(req);
    Reply r;
    r.status = resp.status;
    r.headers = resp.headers;
    r.text = resp.body;
    r.stream = resp.stream;
    if (!resp.stream && !resp.body.empty()) {
      auto v = ParseJson(resp.body);
      if (v) r.body = std::move(*v);
    }
    return r;
  }

  Reply Get(std::string_view target,
            std::initializer_list<std::pair<std::string_view, std::string_view>> headers = {}) {
    return Do("GET", target, "", headers);
  }

  Reply CreateNamespace(std::string_view name, std::string_view labels_json = "{}") {
    return Do("POST", "/api/v1/namespaces",
              R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":")" + std::string(name) +
                  R"(","labels":)" + std::string(labels_json) + "}}");
  }

  Reply CreateQuota(std::string_view ns, std::string_view name, std::string_view labels = "{}") {
    return Do("POST", "/api/v1/namespaces/" + std::string(ns) + "/resourcequotas",
              R"({"apiVersion":"v1","kind":"ResourceQuota","metadata":{"name":")" +
                  std::string(name) + R"(","labels":)" + std::string(labels) +
                  R"(},"spec":{"hard":{"pods":"10"}}})");
  }

  Reply Patch(std::string_view target, std::string_view content_type, std::string body) {
    return Do("PATCH", target, std::move(body), {{"Content-Type", content_type}});
  }

  static int64_t Rv(const Reply& r) {
    std::string s = r.Str("metadata.resourceVersion");
    return s.empty() ? -1 : std::stoll(s);
  }

  static std::vector<std::string> ItemNames(const Reply& r) {
    std::vector<std::string> out;
    if (const json::value* items = Find(r.body, "items"); items && items->is_array()) {
      for (const auto& i : items->get_array()) out.push_back(GetString(i, "metadata.name"));
    }
    return out;
  }

  FakeClock clock_;
  std::optional<Principal> principal_;  // who Do's requests come from (none by default)
  std::unique_ptr<KindRegistry> kinds_;
  std::unique_ptr<RecordingStore> store_;
  std::unique_ptr<ResourceApi> api_;  // declared last: destroyed before the store
};

}  // namespace skiff::api::testing
