#include "identity/throttle.hpp"

#include <algorithm>

namespace skiff::identity {

std::chrono::seconds LoginThrottle::Wait(const std::string& key, int threshold) const {
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.failures < threshold) return std::chrono::seconds(0);
  int exponent = std::min(it->second.failures - threshold, 30);
  auto delay = std::min<std::chrono::seconds>(std::chrono::seconds(int64_t{1} << exponent), max_);
  auto until = it->second.last + delay;
  auto now = clock_.Steady();
  if (now >= until) return std::chrono::seconds(0);
  auto left = std::chrono::ceil<std::chrono::seconds>(until - now);
  return std::max(left, std::chrono::seconds(1));
}

std::chrono::seconds LoginThrottle::RetryAfter(const std::string& user,
                                               const std::string& address) const {
  std::lock_guard lock(mu_);
  return std::max(Wait("u:" + user, after_), Wait("a:" + address, after_ * kAddressFactor));
}

void LoginThrottle::Fail(const std::string& key) {
  auto now = clock_.Steady();
  if (entries_.size() >= max_entries_ && !entries_.contains(key)) {
    // Drop entries whose back-off has long run out; if none, the oldest one.
    auto oldest = entries_.begin();
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (now - it->second.last > max_ * 2) {
        it = entries_.erase(it);
        continue;
      }
      if (it->second.last < oldest->second.last) oldest = it;
      ++it;
    }
    if (entries_.size() >= max_entries_ && !entries_.empty()) entries_.erase(oldest);
  }
  Entry& e = entries_[key];
  // A user who comes back long after the last failure starts over.
  if (e.failures > 0 && now - e.last > max_ * 4) e.failures = 0;
  e.failures++;
  e.last = now;
}

void LoginThrottle::RecordFailure(const std::string& user, const std::string& address) {
  std::lock_guard lock(mu_);
  Fail("u:" + user);
  Fail("a:" + address);
}

void LoginThrottle::RecordSuccess(const std::string& user) {
  std::lock_guard lock(mu_);
  entries_.erase("u:" + user);
}

}  // namespace skiff::identity
