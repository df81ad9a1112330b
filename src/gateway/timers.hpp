#pragma once
// Timers: callbacks run after a delay on one timer thread, for the gateway's fault delays and
// route time-outs of in-process services (the upstream proxy has its own deadlines). Cheap to
// schedule and cancel; thread-safe. Callbacks run on the timer thread and must not block.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace skiff::gateway {

class Timers {
 public:
  Timers();
  // Stops the thread; callbacks not yet due are dropped (destroyed without running).
  ~Timers();
  Timers(const Timers&) = delete;
  Timers& operator=(const Timers&) = delete;

  // Runs `fn` once `delay` has passed, unless Cancel(id) comes first. Returns the id.
  uint64_t After(std::chrono::milliseconds delay, std::function<void()> fn);
  // True when the callback was pending and will not run.
  bool Cancel(uint64_t id);

 private:
  using Clock = std::chrono::steady_clock;
  void Run();

  std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  std::multimap<Clock::time_point, uint64_t> due_;
  std::map<uint64_t, std::pair<Clock::time_point, std::function<void()>>> pending_;
  uint64_t next_id_ = 1;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace skiff::gateway
