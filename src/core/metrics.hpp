#pragma once
// Prometheus metrics: counters, gauges and histograms with labels, rendered in the text
// exposition format (version 0.0.4). Families are created at start-up and live as long as the
// registry; recording is lock-free after the first use of a label set (a shared lock guards
// the child map of a family). Thread-safe.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace skiff {

class Counter {
 public:
  void Inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
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
  double Sum() const { return sum_.load(std::memory_order_relaxed); }
  uint64_t Count() const { return count_.load(std::memory_order_relaxed); }
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1 (the +Inf bucket)
  std::atomic<double> sum_{0};
  std::atomic<uint64_t> count_{0};
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
