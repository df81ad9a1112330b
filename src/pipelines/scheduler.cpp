#include "pipelines/scheduler.hpp"

#include <algorithm>

#include "core/clock.hpp"
#include "core/log.hpp"

namespace skiff::pipelines {

namespace {

Result<std::optional<int64_t>> TimeField(const json::object& o, std::string_view key,
                                         const std::string& where) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return std::optional<int64_t>();
  if (!v->is_string()) return InvalidArgument(where + "." + std::string(key) + ": must be a time");
  std::string_view s = v->get_string();
  if (s.empty()) return std::optional<int64_t>();
  auto t = ParseRfc3339(s);
  if (!t) {
    return InvalidArgument(where + "." + std::string(key) + ": \"" + std::string(s) +
                           "\" is not an RFC 3339 time");
  }
  int64_t secs = std::chrono::duration_cast<std::chrono::seconds>(t->time_since_epoch()).count();
  if (secs <= 0) return std::optional<int64_t>();  // KFP's zero time: unset
  return std::optional<int64_t>(secs);
}

}  // namespace

Result<Trigger> TriggerFromSpec(const json::object& trigger) {
  Trigger t;
  const json::object* cron = GetObject(trigger, "cron_schedule");
  const json::object* periodic = GetObject(trigger, "periodic_schedule");
  if (cron != nullptr && periodic != nullptr) {
    return InvalidArgument("trigger: give cron_schedule or periodic_schedule, not both");
  }
  const json::object* s = cron != nullptr ? cron : periodic;
  std::string where = cron != nullptr ? "trigger.cron_schedule" : "trigger.periodic_schedule";
  if (s != nullptr) {
    SKIFF_ASSIGN_OR_RETURN(t.start_time, TimeField(*s, "start_time", where));
    SKIFF_ASSIGN_OR_RETURN(t.end_time, TimeField(*s, "end_time", where));
  }
  if (cron != nullptr) {
    SKIFF_ASSIGN_OR_RETURN(CronSchedule c, ParseCron(GetString(*cron, "cron")));
    t.cron = std::move(c);
  } else if (periodic != nullptr) {
    const json::value* iv = periodic->if_contains("interval_second");
    int64_t interval = 0;
    if (iv != nullptr && iv->is_int64()) {
      interval = iv->get_int64();
    } else if (iv != nullptr && iv->is_string()) {
      try {
        interval = std::stoll(std::string(iv->get_string()));
      } catch (...) {
        return InvalidArgument("trigger.periodic_schedule.interval_second: not an integer");
      }
    }
    t.interval_seconds = interval;
  }
  return t;
}

Scheduler::Scheduler(Catalog& catalog, Fire fire, Active active)
    : catalog_(catalog), fire_(std::move(fire)), active_(std::move(active)) {}

Scheduler::~Scheduler() { Stop(); }

void Scheduler::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void Scheduler::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Scheduler::Wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

void Scheduler::Loop() {
  for (;;) {
    int64_t next_ms = Tick();
    std::unique_lock lock(mu_);
    if (stopping_) return;
    // Re-check at least every second: a run of a recurring run ending frees a slot.
    int64_t now_ms = catalog_.NowMs();
    int64_t wait_ms = 1000;
    if (next_ms > 0) wait_ms = std::clamp<int64_t>(next_ms - now_ms, 0, 1000);
    cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [&] { return stopping_ || woken_; });
    woken_ = false;
    if (stopping_) return;
  }
}

int64_t Scheduler::Tick() {
  int64_t next_ms = 0;
  const int64_t now_ms = catalog_.NowMs();
  const int64_t now = now_ms / 1000;
  for (const RecordPtr& r : catalog_.All(Kind::kRecurringRun)) {
    const json::value* enabled = r->spec.if_contains("enabled");
    if (enabled == nullptr || !enabled->is_bool() || !enabled->get_bool()) continue;
    const json::object* trig = GetObject(r->spec, "trigger");
    auto trigger = TriggerFromSpec(trig != nullptr ? *trig : json::object{});
    if (!trigger) continue;  // refused at create time; an old record: skip
    std::optional<int64_t> last;
    if (const json::value* l = r->status.if_contains("last_fired"); l && l->is_int64()) {
      last = l->get_int64();
    }
    bool no_catchup = false;
    if (const json::value* n = r->spec.if_contains("no_catchup"); n && n->is_bool()) {
      no_catchup = n->get_bool();
    }
    int64_t max_concurrency = 1;
    if (const json::value* m = r->spec.if_contains("max_concurrency"); m && m->is_int64()) {
      max_concurrency = std::max<int64_t>(1, m->get_int64());
    }
    int64_t created = r->created_at_ms / 1000;
    int64_t free = max_concurrency - active_(r->id);
    if (free > 0) {
      for (int64_t t :
           DueTimes(*trigger, last, created, now, no_catchup, static_cast<size_t>(free))) {
        // The firing is recorded before the run exists: a crash in between loses this one run
        // rather than starting it twice.
        auto updated = catalog_.Update(Kind::kRecurringRun, r->id, [&](Record& x) {
          x.status["last_fired"] = t;
          x.status.erase("error");
          return Status();
        });
        if (!updated) break;  // deleted meanwhile
        last = t;
        if (Status s = fire_(**updated, t); !s.ok()) {
          spdlog::warn("pipelines: recurring run {}: {}", r->id, s.message());
          (void)catalog_.Update(Kind::kRecurringRun, r->id, [&](Record& x) {
            x.status["error"] = s.message();
            return Status();
          });
        }
      }
    }
    // A time already due waits for a free slot (the one-second re-check or a Wake).
    if (auto n = NextScheduled(*trigger, last, created, now, no_catchup); n && *n > now) {
      if (next_ms == 0 || *n * 1000 < next_ms) next_ms = *n * 1000;
    }
  }
  return next_ms;
}

}  // namespace skiff::pipelines
