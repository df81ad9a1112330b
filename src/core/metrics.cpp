#include "core/metrics.hpp"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "core/result.hpp"

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

// A sample value or bucket bound as the Prometheus Go client writes it (strconv 'g', shortest):
// "0.1", "2.5", "1e+06", "+Inf". Bounds must match the usual spelling for le="0.1" queries.
std::string Num(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == 0) return "0";
  char sci[64];
  auto r = std::to_chars(sci, sci + sizeof sci, v, std::chars_format::scientific);
  std::string_view s(sci, static_cast<size_t>(r.ptr - sci));
  const int exp = std::atoi(std::string(s.substr(s.find('e') + 1)).c_str());
  if (exp < -4 || exp >= 6) return std::string(s);
  char fixed[64];
  r = std::to_chars(fixed, fixed + sizeof fixed, v, std::chars_format::fixed);
  return std::string(fixed, r.ptr);
}

std::string EscapeHelp(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

bool ValidName(const std::string& name, bool allow_colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                    (allow_colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

void CheckNames(const std::string& name, const std::vector<std::string>& labels, bool histogram) {
  SKIFF_CHECK(ValidName(name, /*allow_colon=*/true));
  for (const auto& l : labels) {
    SKIFF_CHECK(ValidName(l, /*allow_colon=*/false));
    SKIFF_CHECK(l.rfind("__", 0) != 0);  // reserved for Prometheus
    SKIFF_CHECK(!histogram || l != "le");
  }
}

std::vector<double> CleanBounds(std::vector<double> bounds) {
  // +Inf is implicit and NaN is no bound; duplicates would render duplicate series.
  bounds.erase(
      std::remove_if(bounds.begin(), bounds.end(), [](double b) { return !std::isfinite(b); }),
      bounds.end());
  std::sort(bounds.begin(), bounds.end());
  bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
  return bounds;
}

}  // namespace

namespace metrics_internal {
size_t AssignShard() {
  static std::atomic<size_t> next{0};
  t_shard = next.fetch_add(1, std::memory_order_relaxed) % kShards;
  return t_shard;
}
}  // namespace metrics_internal

Histogram::Histogram(const std::vector<double>& bounds)
    : bounds_(CleanBounds(bounds)),
      lines_per_shard_((bounds_.size() + 1 + 7) / 8),
      lines_(new Line[lines_per_shard_ * metrics_internal::kShards]) {
  for (size_t l = 0; l < lines_per_shard_ * metrics_internal::kShards; ++l) {
    for (auto& c : lines_[l].counts) c.store(0, std::memory_order_relaxed);
  }
}

void Histogram::Observe(double v) {
  // Buckets are "less than or equal" (le); NaN belongs to no finite bucket, only +Inf.
  size_t i = std::isnan(v) ? bounds_.size()
                           : std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  const size_t shard = metrics_internal::Shard();
  lines_[shard * lines_per_shard_ + i / 8].counts[i % 8].fetch_add(1, std::memory_order_relaxed);
  Totals& t = totals_[shard];
  double cur = t.sum.load(std::memory_order_relaxed);
  while (!t.sum.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
  t.count.fetch_add(1, std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::CumulativeCounts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  uint64_t acc = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    for (size_t shard = 0; shard < metrics_internal::kShards; ++shard) {
      acc += lines_[shard * lines_per_shard_ + i / 8].counts[i % 8].load(std::memory_order_relaxed);
    }
    out[i] = acc;
  }
  return out;
}

double Histogram::Sum() const {
  double sum = 0;
  for (const Totals& t : totals_) sum += t.sum.load(std::memory_order_relaxed);
  return sum;
}

uint64_t Histogram::Count() const {
  uint64_t count = 0;
  for (const Totals& t : totals_) count += t.count.load(std::memory_order_relaxed);
  return count;
}

const std::vector<double>& DefaultLatencyBuckets() {
  static const std::vector<double> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                               0.25,   0.5,   1,      2.5,   5,    10,    30};
  return kBuckets;
}

Family<Counter>& MetricsRegistry::AddCounter(const std::string& name, const std::string& help,
                                             std::vector<std::string> labels) {
  CheckNames(name, labels, false);
  auto e = std::make_unique<Entry>();
  e->name = name;
  e->help = help;
  e->type = "counter";
  e->counter = std::make_unique<Family<Counter>>(std::move(labels),
                                                 [] { return std::make_unique<Counter>(); });
  auto& ref = *e->counter;
  if (ref.label_names().empty()) ref.With({});  // a label-less metric renders 0 from the start
  Add(std::move(e));
  return ref;
}

Family<Gauge>& MetricsRegistry::AddGauge(const std::string& name, const std::string& help,
                                         std::vector<std::string> labels) {
  CheckNames(name, labels, false);
  auto e = std::make_unique<Entry>();
  e->name = name;
  e->help = help;
  e->type = "gauge";
  e->gauge =
      std::make_unique<Family<Gauge>>(std::move(labels), [] { return std::make_unique<Gauge>(); });
  auto& ref = *e->gauge;
  if (ref.label_names().empty()) ref.With({});
  Add(std::move(e));
  return ref;
}

Family<Histogram>& MetricsRegistry::AddHistogram(const std::string& name, const std::string& help,
                                                 std::vector<std::string> labels,
                                                 std::vector<double> bounds) {
  CheckNames(name, labels, true);
  auto e = std::make_unique<Entry>();
  e->name = name;
  e->help = help;
  e->type = "histogram";
  e->histogram = std::make_unique<Family<Histogram>>(
      std::move(labels), [bounds] { return std::make_unique<Histogram>(bounds); });
  auto& ref = *e->histogram;
  if (ref.label_names().empty()) ref.With({});
  Add(std::move(e));
  return ref;
}

void MetricsRegistry::AddGaugeFunc(const std::string& name, const std::string& help,
                                   std::function<double()> fn) {
  CheckNames(name, {}, false);
  SKIFF_CHECK(fn != nullptr);
  auto e = std::make_unique<Entry>();
  e->name = name;
  e->help = help;
  e->type = "gauge";
  e->fn = std::move(fn);
  Add(std::move(e));
}

void MetricsRegistry::Add(std::unique_ptr<Entry> e) {
  std::lock_guard lock(mu_);
  // Two families of one name would render an invalid exposition: a bug, not an error.
  for (const auto& existing : entries_) SKIFF_CHECK(existing->name != e->name);
  entries_.push_back(std::move(e));
}

std::string MetricsRegistry::Render() const {
  // Entries never move or die, so they can be rendered outside the lock; a GaugeFunc may then
  // take its own locks (or even register metrics) without deadlocking.
  std::vector<const Entry*> entries;
  {
    std::lock_guard lock(mu_);
    for (const auto& e : entries_) entries.push_back(e.get());
  }
  std::string out;
  for (const Entry* e : entries) {
    out += "# HELP " + e->name + " " + EscapeHelp(e->help) + "\n";
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
        out +=
            e->name + "_count" + Labels(names, labels) + " " + std::to_string(counts.back()) + "\n";
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
