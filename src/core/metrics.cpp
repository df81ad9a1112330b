#include "core/metrics.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>

namespace skiff {

namespace {

std::string EscapeLabel(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string Labels(const std::vector<std::string>& names, const std::vector<std::string>& values,
                   const std::string& extra = {}) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (!out.empty()) out += ',';
    out += names[i] + "=\"" + EscapeLabel(values[i]) + "\"";
  }
  if (!extra.empty()) {
    if (!out.empty()) out += ',';
    out += extra;
  }
  return out.empty() ? out : "{" + out + "}";
}

std::string Num(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

Histogram::Histogram(const std::vector<double>& bounds)
    : bounds_(bounds), buckets_(new std::atomic<uint64_t>[bounds.size() + 1]) {
  std::sort(bounds_.begin(), bounds_.end());
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double v) {
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  double cur = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::CumulativeCounts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  uint64_t acc = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    acc += buckets_[i].load(std::memory_order_relaxed);
    out[i] = acc;
  }
  return out;
}

const std::vector<double>& DefaultLatencyBuckets() {
  static const std::vector<double> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                               0.1,    0.25,  0.5,    1,     2.5,  5,     10, 30};
  return kBuckets;
}

Family<Counter>& MetricsRegistry::AddCounter(const std::string& name, const std::string& help,
                                             std::vector<std::string> labels) {
  auto e = std::make_unique<Entry>();
  e->name = name;
  e->help = help;
  e->type = "counter";
  e->counter = std::make_unique<Family<Counter>>(std::move(labels),
                                                 [] { return std::make_unique<Counter>(); });
  auto& ref = *e->counter;
  std::lock_guard lock(mu_);
  entries_.push_back(std::move(e));
  return ref;
}

Family<Gauge>& MetricsRegistry::AddGauge(const std::string& name, const std::string& help,
                                         std::vector<std::string> labels) {
  auto e = std::make_unique<Entry>();
  e->name = name;
  e->help = help;
  e->type = "gauge";
  e->gauge = std::make_unique<Family<Gauge>>(std::move(labels),
                                             [] { return std::make_unique<Gauge>(); });
  auto& ref = *e->gauge;
  std::lock_guard lock(mu_);
  entries_.push_back(std::move(e));
  return ref;
}

Family<Histogram>& MetricsRegistry::AddHistogram(const std::string& name, const std::string& help,
                                                 std::vector<std::string> labels,
                                                 std::vector<double> bounds) {
  auto e = std::make_unique<Entry>();
  e->name = name;
  e->help = help;
  e->type = "histogram";
  e->histogram = std::make_unique<Family<Histogram>>(
      std::move(labels), [bounds] { return std::make_unique<Histogram>(bounds); });
  auto& ref = *e->histogram;
  std::lock_guard lock(mu_);
  entries_.push_back(std::move(e));
  return ref;
}

void MetricsRegistry::AddGaugeFunc(const std::string& name, const std::string& help,
                                   std::function<double()> fn) {
  auto e = std::make_unique<Entry>();
  e->name = name;
  e->help = help;
  e->type = "gauge";
  e->fn = std::move(fn);
  std::lock_guard lock(mu_);
  entries_.push_back(std::move(e));
}

std::string MetricsRegistry::Render() const {
  std::string out;
  std::lock_guard lock(mu_);
  for (const auto& e : entries_) {
    out += "# HELP " + e->name + " " + e->help + "\n";
    out += "# TYPE " + e->name + " " + e->type + "\n";
    if (e->fn) {
      out += e->name + " " + Num(e->fn()) + "\n";
    } else if (e->counter) {
      e->counter->ForEach([&](const std::vector<std::string>& labels, const Counter& c) {
        out += e->name + Labels(e->counter->label_names(), labels) + " " +
               std::to_string(c.Value()) + "\n";
      });
    } else if (e->gauge) {
      e->gauge->ForEach([&](const std::vector<std::string>& labels, const Gauge& g) {
        out += e->name + Labels(e->gauge->label_names(), labels) + " " + Num(g.Value()) + "\n";
      });
    } else if (e->histogram) {
      const auto& names = e->histogram->label_names();
      e->histogram->ForEach([&](const std::vector<std::string>& labels, const Histogram& h) {
        auto counts = h.CumulativeCounts();
        for (size_t i = 0; i < h.bounds().size(); ++i) {
          out += e->name + "_bucket" + Labels(names, labels, "le=\"" + Num(h.bounds()[i]) + "\"") +
                 " " + std::to_string(counts[i]) + "\n";
        }
        out += e->name + "_bucket" + Labels(names, labels, "le=\"+Inf\"") + " " +
               std::to_string(counts.back()) + "\n";
        out += e->name + "_sum" + Labels(names, labels) + " " + Num(h.Sum()) + "\n";
        out += e->name + "_count" + Labels(names, labels) + " " + std::to_string(counts.back()) +
               "\n";
      });
    }
  }
  return out;
}

double ProcessResidentBytes() {
  std::ifstream in("/proc/self/statm");
  long pages_total = 0, pages_resident = 0;
  if (!(in >> pages_total >> pages_resident)) return 0;
  return static_cast<double>(pages_resident) * static_cast<double>(::sysconf(_SC_PAGESIZE));
}

}  // namespace skiff
