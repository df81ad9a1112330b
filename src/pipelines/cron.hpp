#pragma once
// Recurring-run schedules as KFP's ScheduledWorkflow controller computes them
// (backend/src/crd/controller/scheduledworkflow/util: cron_schedule.go, periodic_schedule.go,
// scheduled_workflow.go), sans-I/O: the engine asks which fire times are due at `now` and fires
// them; everything here is a pure function of its arguments.
//
// Cron expressions are parsed as github.com/robfig/cron v1's cron.Parse, which KFP uses:
//   - 6 fields "second minute hour day-of-month month day-of-week", or 5 fields with the
//     day-of-week left out ("0 0 * * *" is second 0 of minute 0 of every hour, NOT the
//     crontab's daily midnight: robfig's default parser drops the day-of-week, not the second);
//   - "*" and "?", single values, ranges "a-b", lists "a,b", steps "*/n", "a-b/n" and "a/n"
//     (= a-max/n); names JAN..DEC and SUN..SAT in any case; day-of-week 0-6 (Sunday 0, no 7);
//   - the day-of-month / day-of-week rule: when either field is a "*" or "?" (also "*/n"), a day
//     must match both; when both are restricted, a day matching either one is enough;
//   - descriptors @yearly @annually @monthly @weekly @daily @midnight @hourly and @every
//     <Go duration> ("@every 1h30m", rounded down to whole seconds, at least 1 s).
// Times are Unix seconds and schedules run in UTC (KFP's controller uses its configured time
// zone, UTC by default). A schedule that cannot fire within five years (robfig's limit), such as
// "0 0 0 30 2 *", has no next time (robfig returns Go's zero time, which KFP would take as
// "due"; skiff never fires it).
//
// Threading: value types and pure functions; thread-safe.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace skiff::pipelines {

struct CronSchedule {
  // Bit i set: value i matches. Bit 63 set: the field was written with "*" or "?".
  uint64_t second = 0, minute = 0, hour = 0, dom = 0, month = 0, dow = 0;
  // > 0: an "@every" schedule firing this many seconds after the previous time.
  int64_t every_seconds = 0;
  std::string spec;  // the text it was parsed from
};

// InvalidArgument with robfig's message ("Expected 5 to 6 fields, found 3: * * *", ...).
Result<CronSchedule> ParseCron(std::string_view spec);

// The first time strictly after `after` (Unix seconds) at which `schedule` fires, in UTC; nullopt
// when there is none within five years.
std::optional<int64_t> NextAfter(const CronSchedule& schedule, int64_t after);

// KFP's create-time checks of a recurring run (v1beta1 job_server, v2beta1
// recurring_run_server), in their words, prefixed "Invalid input error: ": max_concurrency
// 1..10, a cron robfig parses, a periodic interval of at least 1 s. `v2beta1` picks the v2
// wording of the max_concurrency message.
Status ValidateRecurringRun(std::optional<std::string_view> cron,
                            std::optional<int64_t> interval_seconds, int64_t max_concurrency,
                            bool v2beta1);

// A recurring run's trigger: a cron schedule, a periodic one, or (neither) a one-off run.
struct Trigger {
  std::optional<CronSchedule> cron;
  std::optional<int64_t> interval_seconds;  // periodic; 0 counts as 1 as in KFP
  std::optional<int64_t> start_time;        // Unix seconds
  std::optional<int64_t> end_time;
};

// The next time KFP's controller would schedule a run (its getNextScheduledEpoch), given the
// scheduled time of the last run fired (nullopt before the first), the recurring run's creation
// time and now. nullopt: never again (past end_time, a one-off that has run, or an impossible
// cron). The result may be <= now: then it is due.
//   cron:     after max(last_fired or start_time or created_at, start_time), the next cron time;
//             with no_catchup, the latest cron time <= min(now, end_time) at or after that one.
//   periodic: max(last_fired or start_time or created_at, start_time) + interval; with
//             no_catchup, now when at least one more interval has passed since then.
//   one-off:  created_at, until it has fired once.
std::optional<int64_t> NextScheduled(const Trigger& trigger, std::optional<int64_t> last_fired,
                                     int64_t created_at, int64_t now, bool no_catchup);

// The runs due at `now`, in order, as the controller would fire them one per sync if nothing
// held it back: with catch-up every missed time (oldest first), without it at most one (the
// latest missed time). At most `max` of them: the caller passes the free max_concurrency slots,
// fires them, and records the last one as last_fired.
std::vector<int64_t> DueTimes(const Trigger& trigger, std::optional<int64_t> last_fired,
                              int64_t created_at, int64_t now, bool no_catchup, size_t max);

}  // namespace skiff::pipelines
