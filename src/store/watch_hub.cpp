#include "store/watch_hub.hpp"

#include <algorithm>
#include <utility>

#include "store/store_util.hpp"

namespace skiff::store {

namespace {

// Events a dispatcher delivers to one watcher before letting the next watcher run.
constexpr int kBatch = 64;

using Callbacks = std::pair<std::function<void(const Event&)>, std::function<void(const Status&)>>;

class WatchHandle final : public Watch {
 public:
  explicit WatchHandle(std::shared_ptr<Watcher> watcher) : watcher_(std::move(watcher)) {}
  ~WatchHandle() override { Stop(); }
  void Stop() override { watcher_->Stop(); }

 private:
  std::shared_ptr<Watcher> watcher_;
};

}  // namespace

Change::Change(EventType type, std::shared_ptr<const Object> object,
               std::shared_ptr<const Object> prev)
    : type_(type), object_(std::move(object)), prev_(std::move(prev)) {
  // A deleted object's last state is what a watcher's filter judges and what it receives.
  if (type_ == EventType::kDeleted) prev_ = object_;
}

Change::Change(std::shared_ptr<const Object> object, std::string prev_json)
    : type_(EventType::kModified), object_(std::move(object)), prev_json_(std::move(prev_json)) {}

const Object* Change::Prev() {
  if (prev_ == nullptr && !prev_json_.empty()) {
    Result<json::object> doc = ParseJsonObject(prev_json_);
    if (doc) {
      const int64_t version = VersionOf(*doc);
      prev_ = std::make_shared<Object>(Object{key(), version, std::move(*doc)});
    } else {
      prev_ = object_;  // the store wrote it: unreachable but for a corrupt file
    }
    prev_json_.clear();
  }
  return prev_.get();
}

Object Change::TakeObject() {
  if (object_.use_count() == 1) {
    // Made non-const by the store (make_shared<Object>) and held by no one else.
    Object out = std::move(const_cast<Object&>(*object_));
    object_.reset();
    return out;
  }
  return *object_;
}

std::shared_ptr<const Event> Change::EventFor(const std::string& ns, const Selector& selector) {
  if (!ns.empty() && ns != key().ns) return nullptr;
  const bool current_passes =
      type_ != EventType::kDeleted && selector.MatchesObject(object_->object);
  const bool has_prev = prev_ != nullptr || !prev_json_.empty();
  const bool previous_passes =
      has_prev && (selector.empty() || selector.MatchesObject(Prev()->object));
  if (current_passes && !previous_passes) {
    if (!added_) added_ = std::make_shared<const Event>(Event{EventType::kAdded, *object_});
    return added_;
  }
  if (current_passes && previous_passes) {
    if (!modified_)
      modified_ = std::make_shared<const Event>(Event{EventType::kModified, *object_});
    return modified_;
  }
  if (!current_passes && previous_passes) {
    if (!deleted_) {
      // Moved out of the selector (or deleted): the previous content at this change's version.
      Object last = *Prev();
      last.resource_version = version();
      json::object& meta = EnsureObject(last.object, "metadata");
      meta["resourceVersion"] = std::to_string(version());
      deleted_ = std::make_shared<const Event>(Event{EventType::kDeleted, std::move(last)});
    }
    return deleted_;
  }
  return nullptr;
}

std::shared_ptr<WatchHub> WatchHub::Create(const WatchHubOptions& options) {
  std::shared_ptr<WatchHub> hub(new WatchHub(options));
  const int n = std::max(1, options.threads);
  for (int i = 0; i < n; ++i)
    hub->threads_.emplace_back([raw = hub.get()] { raw->DispatchLoop(); });
  return hub;
}

WatchHub::~WatchHub() { Close(Unavailable("the store is closing")); }

std::shared_ptr<Watcher> WatchHub::Add(const std::string& resource, const WatchOptions& options,
                                       std::function<void(const Event&)> on_event,
                                       std::function<void(const Status&)> on_error) {
  auto watcher = std::make_shared<Watcher>(weak_from_this(), resource, options, std::move(on_event),
                                           std::move(on_error));
  std::lock_guard lock(watchers_mu_);
  if (closed_) return nullptr;
  watchers_[resource].push_back(watcher);
  return watcher;
}

void WatchHub::Activate(const std::shared_ptr<Watcher>& watcher,
                        std::vector<std::shared_ptr<const Event>> replay) {
  std::lock_guard lock(watcher->mu_);
  if (watcher->Finished()) return;
  watcher->active_ = true;
  if (!watcher->error_) {
    watcher->replay_.assign(std::make_move_iterator(replay.begin()),
                            std::make_move_iterator(replay.end()));
  }
  if (watcher->error_ || !watcher->replay_.empty() || !watcher->live_.empty()) Schedule(watcher);
}

void WatchHub::Abandon(const std::shared_ptr<Watcher>& watcher) {
  Callbacks dropped;
  {
    std::lock_guard lock(watcher->mu_);
    watcher->stopped_ = true;
    dropped = {std::move(watcher->on_event_), std::move(watcher->on_error_)};
    watcher->on_event_ = nullptr;
    watcher->on_error_ = nullptr;
  }
  Remove(watcher.get());
}

void WatchHub::Publish(const std::vector<std::shared_ptr<Change>>& changes) {
  std::vector<std::shared_ptr<Watcher>> dropped;  // released after the lock, see Remove()
  std::lock_guard lock(watchers_mu_);
  for (const std::shared_ptr<Change>& change : changes) {
    auto it = watchers_.find(change->key().resource);
    if (it == watchers_.end()) continue;
    std::vector<std::shared_ptr<Watcher>>& list = it->second;
    for (size_t i = 0; i < list.size();) {
      const std::shared_ptr<Watcher>& w = list[i];
      std::lock_guard wl(w->mu_);
      if (!w->Finished() && !w->error_ && change->version() > w->from_version_) {
        if (std::shared_ptr<const Event> ev = change->EventFor(w->ns_, w->selector_)) {
          if (w->live_.size() >= options_.queue_limit) {
            w->live_.clear();
            w->replay_.clear();
            w->error_ = Expired("watch fell too far behind: more than " +
                                std::to_string(options_.queue_limit) +
                                " events were waiting for delivery; start a new watch");
          } else {
            w->live_.push_back(std::move(ev));
          }
          Schedule(w);
        }
      }
      if (w->Finished() || w->error_) {
        // Ended watchers leave the registry; the run queue keeps one that still has an error to
        // deliver.
        dropped.push_back(std::move(list[i]));
        list.erase(list.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        ++i;
      }
    }
    if (list.empty()) watchers_.erase(it);
  }
}

void WatchHub::Close(const Status& why) {
  {
    std::vector<std::shared_ptr<Watcher>> dropped;
    std::lock_guard lock(watchers_mu_);
    if (closed_) return;
    closed_ = true;
    for (auto& [resource, list] : watchers_) {
      for (std::shared_ptr<Watcher>& w : list) {
        std::lock_guard wl(w->mu_);
        if (!w->Finished() && !w->error_) {
          w->replay_.clear();
          w->live_.clear();
          w->error_ = why;
          w->active_ = true;
          Schedule(w);
        }
        dropped.push_back(std::move(w));
      }
    }
    watchers_.clear();
  }
  {
    std::lock_guard lock(run_mu_);
    stopping_ = true;
  }
  run_cv_.notify_all();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

std::unique_ptr<Watch> WatchHub::MakeHandle(std::shared_ptr<Watcher> watcher) {
  return std::make_unique<WatchHandle>(std::move(watcher));
}

void WatchHub::Schedule(std::shared_ptr<Watcher> watcher) {
  if (watcher->scheduled_ || !watcher->active_) return;
  watcher->scheduled_ = true;
  {
    std::lock_guard lock(run_mu_);
    run_queue_.push_back(std::move(watcher));
  }
  run_cv_.notify_one();
}

void WatchHub::Remove(const Watcher* watcher) {
  // Dropping the registry's reference may destroy the watcher and its callbacks, whose captures
  // may in turn stop other watches; do it after unlocking.
  std::shared_ptr<Watcher> dropped;
  std::lock_guard lock(watchers_mu_);
  auto it = watchers_.find(watcher->resource_);
  if (it == watchers_.end()) return;
  auto& list = it->second;
  auto pos = std::find_if(list.begin(), list.end(),
                          [&](const std::shared_ptr<Watcher>& w) { return w.get() == watcher; });
  if (pos == list.end()) return;
  dropped = std::move(*pos);
  list.erase(pos);
  if (list.empty()) watchers_.erase(it);
}

void WatchHub::DispatchLoop() {
  while (true) {
    std::shared_ptr<Watcher> watcher;
    {
      std::unique_lock lock(run_mu_);
      run_cv_.wait(lock, [&] { return stopping_ || !run_queue_.empty(); });
      if (run_queue_.empty()) return;  // stopping and drained
      watcher = std::move(run_queue_.front());
      run_queue_.pop_front();
    }
    RunSome(watcher);
  }
}

void WatchHub::RunSome(const std::shared_ptr<Watcher>& w) {
  std::unique_lock lock(w->mu_);
  for (int n = 0;; ++n) {
    if (w->Finished()) break;
    std::optional<Status> error;
    std::shared_ptr<const Event> event;
    if (w->error_) {
      error = *w->error_;
      w->done_ = true;
    } else {
      auto& queue = w->replay_.empty() ? w->live_ : w->replay_;
      if (queue.empty()) break;
      if (n == kBatch) {
        // Still scheduled: back of the line so one busy watcher cannot starve the others.
        {
          std::lock_guard run_lock(run_mu_);
          run_queue_.push_back(w);
        }
        run_cv_.notify_one();
        return;
      }
      event = std::move(queue.front());
      queue.pop_front();
    }
    w->running_ = true;
    w->running_thread_ = std::this_thread::get_id();
    lock.unlock();
    // No lock is held here: the callback may Stop() this or another watch, or use the store.
    if (error) {
      if (w->on_error_) w->on_error_(*error);
    } else if (w->on_event_) {
      w->on_event_(*event);
    }
    lock.lock();
    w->running_ = false;
    w->running_thread_ = {};
    w->idle_cv_.notify_all();
  }
  w->scheduled_ = false;
  const bool finished = w->Finished();
  const bool done = w->done_;
  Callbacks dropped;
  if (finished) {
    dropped = {std::move(w->on_event_), std::move(w->on_error_)};
    w->on_event_ = nullptr;
    w->on_error_ = nullptr;
  }
  lock.unlock();
  if (done) Remove(w.get());
}

void Watcher::Stop() {
  Callbacks dropped;
  bool first = false;
  {
    std::unique_lock lock(mu_);
    first = !stopped_;
    stopped_ = true;
    replay_.clear();
    live_.clear();
    if (!(running_ && running_thread_ == std::this_thread::get_id())) {
      idle_cv_.wait(lock, [&] { return !running_; });
      dropped = {std::move(on_event_), std::move(on_error_)};
      on_event_ = nullptr;
      on_error_ = nullptr;
    }
    // else: Stop from inside our own callback. Waiting would deadlock; the dispatcher drops the
    // callbacks when it returns and runs nothing more.
  }
  if (first) {
    if (std::shared_ptr<WatchHub> hub = hub_.lock()) hub->Remove(this);
  }
}

}  // namespace skiff::store
