#include "api/watch_stream.hpp"

namespace skiff::api::internal {

void WatchStream::Push(std::string chunk) {
  std::function<void(std::optional<std::string>)> ready;
  {
    std::lock_guard lock(mu_);
    if (finished_) return;
    if (pending_) {
      ready = std::move(pending_);
      pending_ = nullptr;
    } else if (queue_.size() >= kMaxQueued) {
      finished_ = true;
    } else {
      queue_.push_back(std::move(chunk));
      return;
    }
  }
  if (ready) {
    ready(std::move(chunk));
  } else {
    StopWatch();
  }
}

void WatchStream::Finish() {
  std::function<void(std::optional<std::string>)> ready;
  {
    std::lock_guard lock(mu_);
    finished_ = true;
    ready = std::move(pending_);
    pending_ = nullptr;
  }
  StopWatch();
  if (ready) ready(std::nullopt);
}

void WatchStream::Attach(std::unique_ptr<store::Watch> watch) {
  bool stop_now = false;
  {
    std::lock_guard lock(mu_);
    if (finished_) {
      stop_now = true;
    } else {
      watch_ = std::move(watch);
    }
  }
  if (stop_now && watch) watch->Stop();
}

bool WatchStream::finished() {
  std::lock_guard lock(mu_);
  return finished_;
}

void WatchStream::Pull(std::function<void(std::optional<std::string>)> ready) {
  std::optional<std::string> chunk;
  {
    std::lock_guard lock(mu_);
    if (!queue_.empty()) {
      chunk = std::move(queue_.front());
      queue_.pop_front();
    } else if (!finished_) {
      pending_ = std::move(ready);
      return;
    }
  }
  ready(std::move(chunk));
}

void WatchStream::Cancel() {
  {
    std::lock_guard lock(mu_);
    queue_.clear();
  }
  Finish();
}

void WatchStream::StopWatch() {
  std::unique_ptr<store::Watch> w;
  {
    std::lock_guard lock(mu_);
    w = std::move(watch_);
  }
  // Stop outside the lock: a store callback in flight may be waiting to Push.
  if (w) w->Stop();
}

WatchReaper::WatchReaper() : thread_([this] { Run(); }) {}

WatchReaper::~WatchReaper() {
  CloseAll();
  if (thread_.joinable()) thread_.join();
}

void WatchReaper::Add(std::shared_ptr<WatchStream> stream,
                      std::chrono::steady_clock::time_point deadline) {
  {
    std::lock_guard lock(mu_);
    if (!closing_) {
      streams_.emplace(deadline, stream);
      cv_.notify_all();
      return;
    }
  }
  stream->Finish();
}

void WatchReaper::CloseAll() {
  std::multimap<std::chrono::steady_clock::time_point, std::weak_ptr<WatchStream>> all;
  {
    std::lock_guard lock(mu_);
    closing_ = true;
    all.swap(streams_);
    cv_.notify_all();
  }
  for (auto& [_, weak] : all) {
    if (auto s = weak.lock()) s->Finish();
  }
}

void WatchReaper::Run() {
  std::unique_lock lock(mu_);
  while (!closing_) {
    if (streams_.empty()) {
      cv_.wait(lock);
      continue;
    }
    // A copy: wait_until reads the deadline again after waking, and CloseAll may have freed the
    // map node (and so a referenced key) meanwhile.
    const auto deadline = streams_.begin()->first;
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
      auto now = std::chrono::steady_clock::now();
      std::vector<std::shared_ptr<WatchStream>> due;
      while (!streams_.empty() && streams_.begin()->first <= now) {
        if (auto s = streams_.begin()->second.lock()) due.push_back(std::move(s));
        streams_.erase(streams_.begin());
      }
      // Also drop streams that ended on their own, so the map does not grow.
      for (auto it = streams_.begin(); it != streams_.end();) {
        it = it->second.expired() ? streams_.erase(it) : std::next(it);
      }
      lock.unlock();
      for (auto& s : due) s->Finish();
      lock.lock();
    }
  }
}

}  // namespace skiff::api::internal
