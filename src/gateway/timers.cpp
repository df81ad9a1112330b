#include "gateway/timers.hpp"

#include <utility>
#include <vector>

namespace skiff::gateway {

Timers::Timers() : thread_([this] { Run(); }) {}

Timers::~Timers() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

uint64_t Timers::After(std::chrono::milliseconds delay, std::function<void()> fn) {
  Clock::time_point when = Clock::now() + delay;
  uint64_t id;
  bool earliest;
  {
    std::lock_guard lock(mu_);
    id = next_id_++;
    earliest = due_.empty() || when < due_.begin()->first;
    due_.emplace(when, id);
    pending_.emplace(id, std::make_pair(when, std::move(fn)));
  }
  if (earliest) cv_.notify_all();
  return id;
}

bool Timers::Cancel(uint64_t id) {
  std::function<void()> dropped;  // destroyed outside the lock
  std::lock_guard lock(mu_);
  auto it = pending_.find(id);
  if (it == pending_.end()) return false;
  auto [first, last] = due_.equal_range(it->second.first);
  for (auto d = first; d != last; ++d) {
    if (d->second == id) {
      due_.erase(d);
      break;
    }
  }
  dropped = std::move(it->second.second);
  pending_.erase(it);
  return true;
}

void Timers::Run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (due_.empty()) {
      cv_.wait(lock);
      continue;
    }
    Clock::time_point next = due_.begin()->first;
    if (Clock::now() < next) {
      cv_.wait_until(lock, next);
      continue;
    }
    std::vector<std::function<void()>> ready;
    Clock::time_point now = Clock::now();
    while (!due_.empty() && due_.begin()->first <= now) {
      auto it = pending_.find(due_.begin()->second);
      if (it != pending_.end()) {
        ready.push_back(std::move(it->second.second));
        pending_.erase(it);
      }
      due_.erase(due_.begin());
    }
    lock.unlock();
    for (auto& fn : ready) fn();
    ready.clear();
    lock.lock();
  }
}

}  // namespace skiff::gateway
