#pragma once
// Helpers for the store tests: a temporary directory removed at the end, documents, and an
// event recorder that waits on conditions with deadlines (never bare sleeps).

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "store/store.hpp"

namespace skiff::store::testing {

inline constexpr std::chrono::seconds kWait{10};

class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/skiff-store-test-XXXXXX";
    char* p = mkdtemp(tmpl.data());
    if (p == nullptr) std::abort();
    path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name", "namespace", "labels"}, "data"}
inline json::object Doc(const std::string& name,
                        const std::map<std::string, std::string>& labels = {},
                        const std::string& ns = "", const std::string& data = "") {
  json::object meta;
  meta["name"] = name;
  if (!ns.empty()) meta["namespace"] = ns;
  if (!labels.empty()) {
    json::object l;
    for (const auto& [k, v] : labels) l[k] = v;
    meta["labels"] = std::move(l);
  }
  json::object o;
  o["apiVersion"] = "v1";
  o["kind"] = "ConfigMap";
  o["metadata"] = std::move(meta);
  if (!data.empty()) o["data"] = json::object{{"value", data}};
  return o;
}

inline std::string ResourceVersionOf(const json::object& o) {
  return GetString(o, "metadata.resourceVersion");
}

// Records watch callbacks. Must outlive the watches it is given to.
class Recorder {
 public:
  std::function<void(const Event&)> OnEvent() {
    return [this](const Event& e) {
      std::lock_guard lock(mu_);
      events_.push_back(e);
      cv_.notify_all();
    };
  }
  std::function<void(const Status&)> OnError() {
    return [this](const Status& s) {
      std::lock_guard lock(mu_);
      errors_.push_back(s);
      cv_.notify_all();
    };
  }
  bool WaitForEvents(size_t n, std::chrono::milliseconds timeout = kWait) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return events_.size() >= n; });
  }
  bool WaitForError(std::chrono::milliseconds timeout = kWait) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return !errors_.empty(); });
  }
  std::vector<Event> events() {
    std::lock_guard lock(mu_);
    return events_;
  }
  std::vector<Status> errors() {
    std::lock_guard lock(mu_);
    return errors_;
  }
  // "ADDED a 3" lines, for readable comparisons.
  std::vector<std::string> Summary() {
    std::vector<std::string> out;
    for (const Event& e : events()) {
      out.push_back(std::string(EventTypeName(e.type)) + " " + e.object.key.name + " " +
                    std::to_string(e.object.resource_version));
    }
    return out;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Event> events_;
  std::vector<Status> errors_;
};

}  // namespace skiff::store::testing
