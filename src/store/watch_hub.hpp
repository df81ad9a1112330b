#pragma once
// The watch fan-out shared by store backends: takes committed changes in version order and
// delivers to each watcher what Kubernetes' watch cache would (cacher.go convertToWatchEvent):
// only its namespace and label selector, with MODIFIED turned into ADDED when the object moves
// into the selector and into DELETED (the previous state, at the change's version) when it moves
// out.
//
// Delivery never blocks a writer: Publish() only appends to per-watcher bounded queues. A small
// pool of dispatcher threads owned by the hub runs callbacks, one at a time per watcher and in
// version order. A watcher whose queue overflows ends with on_error(Expired).
//
// Lock order (outer to inner): the store's write mutex, WatchHub::watchers_mu_, Watcher::mu_,
// WatchHub::run_mu_. Callbacks run with no lock held.

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "store/store.hpp"

namespace skiff::store {

// One committed change, shared by every watcher of its resource. Builds the event variants a
// watcher may see lazily and at most once each. Not thread-safe: used by one thread at a time
// (the publisher under the store's write mutex, or one StartWatch while replaying).
class Change {
 public:
  // `object`: the new state; for kDeleted the last state with the deletion's version.
  // `prev`: the state before the change (nullptr for kAdded; for kDeleted it may be nullptr, the
  // last state is then taken from `object`).
  Change(EventType type, std::shared_ptr<const Object> object, std::shared_ptr<const Object> prev);
  // A MODIFIED change whose previous state is the stored document `prev_json`, parsed only when
  // a watcher's filter needs it (most writes have no watcher with a selector; a pipeline run's
  // state is ~100 KB written many times a second).
  Change(std::shared_ptr<const Object> object, std::string prev_json);

  int64_t version() const { return object_->resource_version; }
  const Key& key() const { return object_->key; }
  const Object& object() const { return *object_; }
  // The new state for the writer's caller, once the change is published: moved out when nothing
  // else holds it (watchers get copies), else copied. Call it last.
  Object TakeObject();

  // What a watcher of namespace `ns` (empty = all) with `selector` sees, or nullptr.
  std::shared_ptr<const Event> EventFor(const std::string& ns, const Selector& selector);

 private:
  EventType type_;
  std::shared_ptr<const Object> object_;
  // The previous state, parsing prev_json_ first; null when there is none.
  const Object* Prev();

  std::shared_ptr<const Object> prev_;
  std::string prev_json_;  // the lazy form of prev_ (until Prev() parses it)
  std::shared_ptr<const Event> added_, modified_, deleted_;
};

struct WatchHubOptions {
  int threads = 2;            // dispatcher threads
  size_t queue_limit = 1000;  // pending live events per watcher before it is ended
};

class Watcher;

class WatchHub : public std::enable_shared_from_this<WatchHub> {
 public:
  static std::shared_ptr<WatchHub> Create(const WatchHubOptions& options);
  // Close()s.
  ~WatchHub();

  // Registers a watcher that queues every change published after this call (with version >
  // options.from_version) but delivers nothing until Activate(). nullptr after Close().
  // REQUIRES: the caller holds whatever orders Publish() calls (the store's write mutex), so
  // that "after this call" is a precise version.
  std::shared_ptr<Watcher> Add(const std::string& resource, const WatchOptions& options,
                               std::function<void(const Event&)> on_event,
                               std::function<void(const Status&)> on_error);
  // Starts delivery: `replay` first (not counted against the queue limit), then live events.
  void Activate(const std::shared_ptr<Watcher>& watcher,
                std::vector<std::shared_ptr<const Event>> replay);
  // Removes a watcher that was never activated, without calling anything.
  void Abandon(const std::shared_ptr<Watcher>& watcher);

  // REQUIRES: called by one thread at a time, changes in increasing version order.
  void Publish(const std::vector<std::shared_ptr<Change>>& changes);

  // Ends every watch with on_error(why), waits for the dispatchers to deliver it and joins them.
  // Idempotent. REQUIRES: not called from a watch callback.
  void Close(const Status& why);

  // A Watch handle for `watcher`: Stop() on it (or destroying it) ends the watcher.
  static std::unique_ptr<Watch> MakeHandle(std::shared_ptr<Watcher> watcher);

 private:
  friend class Watcher;
  explicit WatchHub(const WatchHubOptions& options) : options_(options) {}
  void Schedule(std::shared_ptr<Watcher> watcher);  // REQUIRES: watcher->mu_ held
  void Remove(const Watcher* watcher);
  void DispatchLoop();
  void RunSome(const std::shared_ptr<Watcher>& watcher);

  const WatchHubOptions options_;

  std::mutex watchers_mu_;  // guards watchers_ and closed_
  std::unordered_map<std::string, std::vector<std::shared_ptr<Watcher>>> watchers_;
  bool closed_ = false;

  std::mutex run_mu_;  // guards run_queue_ and stopping_
  std::condition_variable run_cv_;
  std::deque<std::shared_ptr<Watcher>> run_queue_;  // watchers with work, each at most once
  bool stopping_ = false;

  std::vector<std::thread> threads_;  // written in Create and Close only
};

// One watch's state. Owned jointly by its handle, the hub's registry and the dispatcher
// running it; the hub is referenced weakly so a handle may outlive the store.
class Watcher {
 public:
  Watcher(std::weak_ptr<WatchHub> hub, std::string resource, const WatchOptions& options,
          std::function<void(const Event&)> on_event, std::function<void(const Status&)> on_error)
      : hub_(std::move(hub)),
        resource_(std::move(resource)),
        ns_(options.ns),
        selector_(options.label_selector),
        from_version_(options.from_version),
        on_event_(std::move(on_event)),
        on_error_(std::move(on_error)) {}

  // After Stop returns no callback is running or will run, except that Stop called from this
  // watcher's own callback returns at once (that callback finishes; no other follows).
  // Stop waits for a callback running on another thread, so two callbacks that stop each
  // other's watches at the same time deadlock; callbacks should hand such work off instead.
  void Stop();

 private:
  friend class WatchHub;
  bool Finished() const { return stopped_ || done_; }

  const std::weak_ptr<WatchHub> hub_;
  const std::string resource_;
  const std::string ns_;
  const Selector selector_;
  const int64_t from_version_;

  std::mutex mu_;                    // guards everything below
  std::condition_variable idle_cv_;  // signalled when running_ becomes false
  std::function<void(const Event&)> on_event_;
  std::function<void(const Status&)> on_error_;
  std::deque<std::shared_ptr<const Event>> replay_;  // delivered first, unbounded
  std::deque<std::shared_ptr<const Event>> live_;    // bounded by queue_limit
  std::optional<Status> error_;                      // to deliver instead of further events
  bool active_ = false;                              // Activate() was called
  bool scheduled_ = false;  // in the run queue or being run by a dispatcher
  bool running_ = false;    // a callback is executing
  std::thread::id running_thread_;
  bool stopped_ = false;  // Stop() was called
  bool done_ = false;     // on_error was delivered
};

}  // namespace skiff::store
