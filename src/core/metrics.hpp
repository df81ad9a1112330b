#pragma once
// Prometheus metrics: counters, gauges and histograms with labels, rendered in the text
// exposition format (version 0.0.4). Families are created at start-up and live as long as the
// registry; recording is lock-free after the first use of a label set (a shared lock guards
// the child map of a family). Thread-safe.

#include <array>
#include <atomic>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace skiff {

namespace metrics_internal {
inline constexpr size_t kShards = 8;
// The calling thread's shard of every ShardedSum: threads take them in turn as they first add.
inline thread_local size_t t_shard = kShards;  // kShards: none yet
size_t AssignShard();
inline size_t Shard() {
  const size_t s = t_shard;
  return s < kShards ? s : AssignShard();
}
}  // namespace metrics_internal

// A sum that many threads add to at once (a request counter): one cache line per shard of
// threads, so that an add stays in its core's cache. A single atomic would move between the
// cores' caches on every add. Value() sums the shards (a snapshot, like any relaxed read).
template <class T>
class ShardedSum {
 public:
  void Add(T n) { slots_[metrics_internal::Shard()].value.fetch_add(n, std::memory_order_relaxed); }
  T Value() const {
    T sum = 0;
    for (const Slot& s : slots_) sum += s.value.load(std::memory_order_relaxed);
    return sum;
  }

 private:
  struct alignas(64) Slot {
    std::atomic<T> value{0};
  };
  std::array<Slot, metrics_internal::kShards> slots_;
};

class Counter {
 public:
  void Inc(uint64_t n = 1) { sum_.Add(n); }
  uint64_t Value() const { return sum_.Value(); }

 private:
  ShardedSum<uint64_t> sum_;
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double d) {
    double cur = value_.load(std::memory_order_relaxed);
    while (!value_.compare_exchange_weak(cur, cur + d, std::memory_order_relaxed)) {
    }
  }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  explicit Histogram(const std::vector<double>& bounds);
  void Observe(double v);
  // Snapshot for rendering: cumulative counts per bound (+Inf last), sum, count.
  std::vector<uint64_t> CumulativeCounts() const;
  double Sum() const;
  uint64_t Count() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  // Sharded like ShardedSum: each shard's bucket counts on lines of their own, and its sum and
  // count on another.
  struct alignas(64) Line {
    std::atomic<uint64_t> counts[8];
  };
  struct alignas(64) Totals {
    std::atomic<double> sum{0};
    std::atomic<uint64_t> count{0};
  };
  std::vector<double> bounds_;
  size_t lines_per_shard_;  // lines for bounds_.size() + 1 counts (the +Inf bucket last)
  std::unique_ptr<Line[]> lines_;
  std::array<Totals, metrics_internal::kShards> totals_;
};

// Default latency buckets in seconds, 0.5 ms to 30 s.
const std::vector<double>& DefaultLatencyBuckets();

template <class T>
class Family {
 public:
  Family(std::vector<std::string> label_names, std::function<std::unique_ptr<T>()> make)
      : label_names_(std::move(label_names)), make_(std::move(make)) {}
  // REQUIRES: values.size() == label_names().size(). The reference stays valid for the
  // registry's lifetime.
  T& With(const std::vector<std::string>& values);
  const std::vector<std::string>& label_names() const { return label_names_; }
  template <class F>
  void ForEach(F&& f) const {
    std::shared_lock lock(mu_);
    for (const auto& [labels, child] : children_) f(labels, *child);
  }

 private:
  std::vector<std::string> label_names_;
  std::function<std::unique_ptr<T>()> make_;
  mutable std::shared_mutex mu_;  // guards children_
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_;
};

// REQUIRES (checked, aborting): names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names
// [a-zA-Z_][a-zA-Z0-9_]* without a leading "__" (and not "le" on a histogram), and no two
// families share a name. A family without labels renders 0 before its first use.
class MetricsRegistry {
 public:
  Family<Counter>& AddCounter(const std::string& name, const std::string& help,
                              std::vector<std::string> labels);
  Family<Gauge>& AddGauge(const std::string& name, const std::string& help,
                          std::vector<std::string> labels);
  Family<Histogram>& AddHistogram(const std::string& name, const std::string& help,
                                  std::vector<std::string> labels,
                                  std::vector<double> bounds = DefaultLatencyBuckets());
  // A gauge read at render time (process RSS, open connections).
  void AddGaugeFunc(const std::string& name, const std::string& help, std::function<double()> fn);

  // Prometheus text exposition format.
  std::string Render() const;

 private:
  struct Entry {
    std::string name, help, type;
    std::unique_ptr<Family<Counter>> counter;
    std::unique_ptr<Family<Gauge>> gauge;
    std::unique_ptr<Family<Histogram>> histogram;
    std::function<double()> fn;
  };
  void Add(std::unique_ptr<Entry> e);

  mutable std::mutex mu_;  // guards entries_ (additions only; entries never move or die)
  std::vector<std::unique_ptr<Entry>> entries_;
};

// Resident set size of this process in bytes (from /proc/self/statm).
double ProcessResidentBytes();

template <class T>
T& Family<T>::With(const std::vector<std::string>& values) {
  SKIFF_CHECK(values.size() == label_names_.size());
  {
    std::shared_lock lock(mu_);
    auto it = children_.find(values);
    if (it != children_.end()) return *it->second;
  }
  std::unique_lock lock(mu_);
  auto& slot = children_[values];
  if (!slot) slot = make_();
  return *slot;
}

}  // namespace skiff
