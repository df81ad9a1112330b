#pragma once
// A BodyStream driven by the test: Push/End from the test thread, Pull from the server.

#include <deque>
#include <mutex>

#include "http/http.hpp"

namespace skiff::http::testing {

class TestStream : public BodyStream {
 public:
  void Pull(std::function<void(std::optional<std::string>)> ready) override {
    std::optional<std::string> value;
    {
      std::lock_guard lock(mu_);
      ++pulls_;
      if (!queue_.empty()) {
        value = std::move(queue_.front());
        queue_.pop_front();
      } else if (!cancelled_ && !ended_) {
        pending_ = std::move(ready);
        return;
      }
    }
    ready(std::move(value));
  }
  void Cancel() override {
    std::function<void(std::optional<std::string>)> pending;
    {
      std::lock_guard lock(mu_);
      ++cancels_;
      cancelled_ = true;
      queue_.clear();
      pending = std::move(pending_);
      pending_ = nullptr;
    }
    if (pending) pending(std::nullopt);
  }
  void Push(std::string chunk) {
    std::function<void(std::optional<std::string>)> pending;
    {
      std::lock_guard lock(mu_);
      if (!pending_) {
        queue_.push_back(std::move(chunk));
        return;
      }
      pending = std::move(pending_);
      pending_ = nullptr;
    }
    pending(std::move(chunk));
  }
  void End() {
    std::function<void(std::optional<std::string>)> pending;
    {
      std::lock_guard lock(mu_);
      ended_ = true;
      pending = std::move(pending_);
      pending_ = nullptr;
    }
    if (pending) pending(std::nullopt);
  }
  int cancels() const {
    std::lock_guard lock(mu_);
    return cancels_;
  }
  bool waiting() const {
    std::lock_guard lock(mu_);
    return static_cast<bool>(pending_);
  }

 private:
  mutable std::mutex mu_;  // guards everything below
  std::deque<std::string> queue_;
  std::function<void(std::optional<std::string>)> pending_;
  bool cancelled_ = false;
  bool ended_ = false;
  int pulls_ = 0;
  int cancels_ = 0;
};

}  // namespace skiff::http::testing
