#pragma once
// WatchStream: the body of a watch response. Store watch callbacks push encoded events; the
// HTTP connection pulls them. Bounded: a client that falls too far behind has its stream
// ended (it reconnects with its last resourceVersion, as Kubernetes clients do). WatchReaper
// ends streams at their deadline and all of them at shutdown. Thread-safe.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "http/http.hpp"
#include "store/store.hpp"

namespace skiff::api::internal {

class WatchStream final : public http::BodyStream {
 public:
  static constexpr size_t kMaxQueued = 10'000;

  // Adds a chunk; ends the stream instead if too many are queued.
  void Push(std::string chunk);
  // No more chunks after the queued ones.
  void Finish();
  // Takes ownership of the store watch, stopped when the stream ends.
  void Attach(std::unique_ptr<store::Watch> watch);
  bool finished();

  void Pull(std::function<void(std::optional<std::string>)> ready) override;
  void Cancel() override;

 private:
  void StopWatch();

  std::mutex mu_;  // guards everything below
  std::deque<std::string> queue_;
  std::function<void(std::optional<std::string>)> pending_;
  bool finished_ = false;
  std::unique_ptr<store::Watch> watch_;
};

class WatchReaper {
 public:
  WatchReaper();
  ~WatchReaper();
  void Add(std::shared_ptr<WatchStream> stream, std::chrono::steady_clock::time_point deadline);
  // Finishes every stream and refuses new ones (they are finished at once).
  void CloseAll();

 private:
  void Run();

  std::mutex mu_;  // guards streams_, closing_
  std::condition_variable cv_;
  std::multimap<std::chrono::steady_clock::time_point, std::weak_ptr<WatchStream>> streams_;
  bool closing_ = false;
  std::thread thread_;
};

}  // namespace skiff::api::internal
