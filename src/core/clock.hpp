#pragma once
// The injected clock: wall time for timestamps, steady time for deadlines. Production code
// takes a `Clock&`; tests pass a FakeClock they advance by hand. Thread-safe.

#include <atomic>
#include <chrono>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace skiff {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::system_clock::time_point Now() const = 0;
  virtual std::chrono::steady_clock::time_point Steady() const = 0;
};

// The process-wide real clock.
Clock& SystemClock();

class FakeClock final : public Clock {
 public:
  explicit FakeClock(std::chrono::system_clock::time_point start =
                         std::chrono::system_clock::time_point(std::chrono::seconds(1700000000)))
      : now_ns_(start.time_since_epoch().count()) {}
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::time_point(
        std::chrono::system_clock::duration(now_ns_.load()));
  }
  std::chrono::steady_clock::time_point Steady() const override {
    return std::chrono::steady_clock::time_point(
        std::chrono::steady_clock::duration(steady_ns_.load()));
  }
  void Advance(std::chrono::nanoseconds d) {
    now_ns_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(d).count();
    steady_ns_ += std::chrono::duration_cast<std::chrono::steady_clock::duration>(d).count();
  }

 private:
  std::atomic<int64_t> now_ns_;
  std::atomic<int64_t> steady_ns_{1'000'000'000};
};

// "2006-01-02T15:04:05Z" (Kubernetes metav1.Time), or with fractional seconds when asked
// ("2006-01-02T15:04:05.000000Z", metav1.MicroTime).
std::string FormatRfc3339(std::chrono::system_clock::time_point t, bool micros = false);
Result<std::chrono::system_clock::time_point> ParseRfc3339(std::string_view s);

// Go-style durations: "300ms", "30s", "5m", "1h30m", "1.5s" (also us/µs/ns, rounded to
// milliseconds). A bare integer is seconds. Negative durations are rejected.
Result<std::chrono::milliseconds> ParseDuration(std::string_view s);
// "1h30m", "2m5s", "1.5s", "250ms", "0s": ParseDuration reads it back.
std::string FormatDuration(std::chrono::milliseconds d);
// kubectl's AGE column (apimachinery duration.HumanDuration): "90s", "5m30s", "3h", "2d5h",
// "400d", "3y20d"; "<invalid>" when d is below -1s (clock skew tolerated up to that).
std::string ShortAge(std::chrono::system_clock::duration d);

}  // namespace skiff
