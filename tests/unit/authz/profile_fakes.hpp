#pragma once
// Test doubles shared by the authz tests: a table-driven Authorizer (roles per user and
// namespace, cluster admins) and a TaskRunner that runs tasks on one thread of its own, plus
// small store helpers (an empty in-memory store, typical objects).

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "authz/authz.hpp"
#include "authz/profile.hpp"
#include "core/crypto.hpp"
#include "http/http.hpp"
#include "store/store.hpp"

namespace skiff::authz::testing {

// Roles: admin in a namespace may do everything there; edit everything but rolebindings;
// view only get/list/watch. Cluster admins (by name) everything. Cluster scope: admins only.
class FakeAuthorizer final : public Authorizer {
 public:
  void Grant(const std::string& user, const std::string& ns, const std::string& role) {
    std::lock_guard lock(mu_);
    roles_[{user, ns}] = role;
  }
  void MakeClusterAdmin(const std::string& user) {
    std::lock_guard lock(mu_);
    admins_.insert(user);
  }
  Decision Decide(const Principal& who, const Attributes& what) const override {
    std::lock_guard lock(mu_);
    calls_.push_back(who.name + " " + what.verb + " " + what.resource + " " + what.ns);
    if (who.cluster_admin || admins_.count(who.name) > 0)
      return Make(true, "cluster admin", "admins");
    if (what.ns.empty()) return Make(false, who.name + " may not act at cluster scope", "");
    auto it = roles_.find({who.name, what.ns});
    if (it == roles_.end()) return Make(false, "no role in " + what.ns, "");
    const std::string& role = it->second;
    bool read = what.verb == "get" || what.verb == "list" || what.verb == "watch";
    bool allowed = role == "kubeflow-admin" ||
                   (role == "kubeflow-edit" && what.resource != "rolebindings") ||
                   (role == "kubeflow-view" && read && what.resource != "rolebindings");
    return Make(allowed, allowed ? "ok" : who.name + " lacks the permission in " + what.ns, role);
  }
  static Decision Make(bool allowed, std::string reason, std::string rule) {
    Decision d;
    d.allowed = allowed;
    d.reason = std::move(reason);
    d.rule = std::move(rule);
    return d;
  }
  std::vector<NamespaceRole> NamespacesOf(const Principal& who) const override {
    std::lock_guard lock(mu_);
    std::vector<NamespaceRole> out;
    for (const auto& [key, role] : roles_) {
      if (key.first == who.name) out.push_back({key.second, role, "fake"});
    }
    return out;
  }
  std::vector<std::string> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }

 private:
  mutable std::mutex mu_;  // guards everything below
  std::map<std::pair<std::string, std::string>, std::string> roles_;
  std::set<std::string> admins_;
  mutable std::vector<std::string> calls_;
};

// Runs posted tasks in order on its own thread; Drain waits until all have run.
class ThreadRunner final : public http::TaskRunner {
 public:
  ThreadRunner() : thread_([this] { Run(); }) {}
  ~ThreadRunner() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void Post(std::function<void()> task) override {
    std::lock_guard lock(mu_);
    tasks_.push_back(std::move(task));
    ++posted_;
    cv_.notify_all();
  }
  void Drain() {
    std::unique_lock lock(mu_);
    idle_cv_.wait(lock, [&] { return tasks_.empty() && !busy_; });
  }
  int posted() const {
    std::lock_guard lock(mu_);
    return posted_;
  }

 private:
  void Run() {
    std::unique_lock lock(mu_);
    while (true) {
      cv_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;
      auto task = std::move(tasks_.front());
      tasks_.pop_front();
      busy_ = true;
      lock.unlock();
      task();
      lock.lock();
      busy_ = false;
      if (tasks_.empty()) idle_cv_.notify_all();
    }
  }
  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_, idle_cv_;
  std::deque<std::function<void()>> tasks_;
  bool busy_ = false;
  bool stopping_ = false;
  int posted_ = 0;
  std::thread thread_;
};

// An empty SQLite store in memory. Failing to open it fails the test and returns null: callers
// ASSERT_NE(store, nullptr).
inline std::unique_ptr<store::Store> MemoryStore() {
  store::SqliteOptions o;
  o.path = ":memory:";
  auto s = store::OpenSqliteStore(o);
  EXPECT_TRUE(s.has_value()) << s.error().ToString();
  if (!s) return nullptr;
  return std::move(*s);
}

inline json::object ProfileObject(const std::string& name, const std::string& owner) {
  return json::object{
      {"apiVersion", "kubeflow.org/v1"},
      {"kind", "Profile"},
      {"metadata", json::object{{"name", name},
                                {"uid", NewUid()},
                                {"creationTimestamp", "2026-01-01T00:00:00Z"},
                                {"generation", 1}}},
      {"spec", json::object{{"owner", json::object{{"kind", "User"}, {"name", owner}}}}}};
}

inline json::object NamespaceObject(const std::string& name, const std::string& owner = {}) {
  json::object md{{"name", name}, {"uid", NewUid()}};
  if (!owner.empty()) md["annotations"] = json::object{{"owner", owner}};
  return json::object{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", std::move(md)}};
}

inline bool Exists(store::Store& store, std::string_view resource, const std::string& ns,
                   const std::string& name) {
  return store.Get({std::string(resource), ns, name}).has_value();
}

}  // namespace skiff::authz::testing
