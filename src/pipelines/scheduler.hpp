#pragma once
// Recurring runs (KFP's jobs / recurring runs, its ScheduledWorkflow controller): a thread that
// fires each enabled recurring run's due times (cron.hpp: KFP's 6-field cron with seconds, or a
// periodic interval, within start/end time, with or without catch-up), at most max_concurrency
// of its runs unfinished at once, and records the last time fired in the recurring run's status
// before the next one is considered, so a restart neither loses nor repeats a firing.
//
// Recurring-run records (catalog Kind::kRecurringRun) hold in spec: `enabled` (bool),
// `max_concurrency` (int), `no_catchup` (bool), `trigger` (v2beta1's shape: {"cron_schedule":
// {"cron", "start_time", "end_time"}} or {"periodic_schedule": {"interval_second", ...}}, times
// RFC 3339); in status: `last_fired` (Unix seconds), `error` (why the last firing failed).
//
// Threading: one thread; Wake and Stop from any thread.

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "core/result.hpp"
#include "pipelines/catalog.hpp"
#include "pipelines/cron.hpp"

namespace skiff::pipelines {

// The trigger of a recurring run's spec; InvalidArgument naming the field when malformed.
Result<Trigger> TriggerFromSpec(const json::object& trigger);

class Scheduler {
 public:
  // Creates the run of `recurring` scheduled at `scheduled_at` (Unix seconds).
  using Fire = std::function<Status(const Record& recurring, int64_t scheduled_at)>;
  // Counts the unfinished runs of a recurring run.
  using Active = std::function<int64_t(const std::string& recurring_id)>;

  Scheduler(Catalog& catalog, Fire fire, Active active);
  ~Scheduler();  // Stop()

  void Start();
  void Stop();
  // A recurring run was created, enabled or disabled, or a run ended: look again now.
  void Wake();

 private:
  void Loop();
  // Fires what is due; returns the next time (Unix ms) anything may be due, 0 for none.
  int64_t Tick();

  Catalog& catalog_;
  Fire fire_;
  Active active_;
  std::mutex mu_;  // guards stopping_, woken_
  std::condition_variable cv_;
  bool stopping_ = false;
  bool woken_ = false;
  std::thread thread_;
};

}  // namespace skiff::pipelines
