#pragma once
// The per-revision executor: runs a loaded Model's Infer for the protocol routes, with the
// model's concurrency limit, a bounded wait queue, a deadline per request, and per-model metrics.
//
//   - A Model whose Cheap() is true runs inline on the submitting thread (an I/O thread: no
//     thread hop, and the request is passed by reference, not copied) whenever a slot is free.
//     Other models run on the CPU TaskRunner. Never more than the model's MaxConcurrency()
//     (capped by ExecutorOptions::max_concurrency) Infer calls run at once.
//   - A request that finds every slot busy waits in a FIFO queue of ExecutorOptions::queue_depth
//     entries (default 128); when that is full, it is refused at once with ResourceExhausted
//     (-> 503 with Retry-After, protocol.hpp): shedding load beats growing latency without bound.
//     Queued requests run on the CPU TaskRunner as slots free up.
//   - Every request has a deadline (the caller's, else now + ExecutorOptions::timeout). A request
//     still queued at its deadline is answered DeadlineExceeded without running (when a slot
//     frees, when Submit finds the queue full, or when the owner calls ExpireDeadlines from a
//     timer); one whose Infer ends after its deadline is answered DeadlineExceeded too (gRPC's
//     rule: no answer after the deadline). A running Infer cannot be interrupted.
//   - ServingMetrics holds the metric families, created once per MetricsRegistry (the registry
//     aborts on duplicate names) and shared by every executor; each executor records into its
//     own children:
//       skiff_model_requests_total{namespace,model,revision,code}   counter; code = HTTP status
//       skiff_model_request_duration_seconds{namespace,model,revision}  histogram, Submit to done
//       skiff_model_queue_depth{namespace,model,revision}           gauge, requests waiting
//       skiff_model_loaded_revisions{namespace,model}               gauge, set by the controller
//     Children are never removed (core/metrics.hpp has no removal): a deleted model's series
//     stay at their last values until restart.
//
// Threading: Submit, ExpireDeadlines, Close, RecordRejected and stats() may be called from any
// thread. One mutex guards the slot count, the queue and the closed flag; it is never held while
// Infer or a done callback runs. `done` is called exactly once, on the submitting thread (refusals
// and inline runs: possibly before Submit returns), on a CPU pool thread, or on the thread that
// calls ExpireDeadlines. Tasks posted to the pool hold a shared_ptr to the executor, so dropping
// the last outside reference while requests run is safe: they finish, then it is destroyed.
// Exceptions thrown by a Model's Infer are caught and answered Internal.

#include <array>
#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.hpp"
#include "core/metrics.hpp"
#include "core/result.hpp"
#include "http/http.hpp"
#include "serving/model.hpp"
#include "serving/tensor.hpp"

namespace skiff::serving {

// Latency buckets for model requests, in seconds: 50 us to 30 s (native models answer in tens of
// microseconds; DefaultLatencyBuckets starts at 0.5 ms).
const std::vector<double>& ModelLatencyBuckets();

// Labels that identify a model revision in metrics.
struct ModelLabels {
  std::string ns;
  std::string model;
  std::string revision;
};

// One failed answer of a model (a 4xx or 5xx), as the client saw it: the message of the error
// body (a 500's is "internal error"), at most kMaxMessageBytes. Never a request body or header.
struct RecentError {
  std::chrono::system_clock::time_point time;
  int status = 0;
  std::string message;
  std::string revision;
  static constexpr size_t kMaxMessageBytes = 300;
};

// What the dashboard shows of a model (GET /api/skiff/models/NS/NAME/stats): its answers by
// status class and its latency, summed over every revision it had since skiff started, and its
// last RecentErrors (newest first).
struct ModelStats {
  uint64_t requests_2xx = 0;
  uint64_t requests_4xx = 0;
  uint64_t requests_5xx = 0;
  uint64_t requests_total = 0;  // every answer, whatever its status
  uint64_t latency_count = 0;   // requests that reached the executor (the histogram's count)
  double latency_sum_seconds = 0;
  // Estimated from the histogram buckets (HistogramQuantile); nullopt without requests.
  std::optional<double> p50_ms, p90_ms, p99_ms;
  std::vector<RecentError> recent_errors;
};

// Prometheus' histogram_quantile over one histogram: `cumulative` holds the cumulative count of
// each bound of `bounds` then +Inf (Histogram::CumulativeCounts). Linear interpolation inside
// the bucket (from 0 for the first); a quantile in the +Inf bucket is the highest finite bound.
// nullopt when the histogram is empty. REQUIRES: cumulative.size() == bounds.size() + 1.
std::optional<double> HistogramQuantile(double q, const std::vector<double>& bounds,
                                        const std::vector<uint64_t>& cumulative);

// The serving metric families. Create one per MetricsRegistry (at start-up, next to the
// registry) and share it; it must outlive every executor that records into it. Thread-safe.
class ServingMetrics {
 public:
  explicit ServingMetrics(MetricsRegistry& registry);

  Family<Counter>& requests() { return requests_; }
  Family<Histogram>& duration() { return duration_; }
  Family<Gauge>& queue_depth() { return queue_depth_; }
  Family<Gauge>& loaded_revisions() { return loaded_revisions_; }
  // For the controller: how many revisions of namespace/model are loaded (0 after deletion).
  void SetLoadedRevisions(const std::string& ns, const std::string& model, int revisions);

  // Keeps `error` among the last kRecentErrors of its model (labels.ns, labels.model). Its
  // message is cut to RecentError::kMaxMessageBytes (on a UTF-8 boundary).
  void RecordError(const ModelLabels& labels, RecentError error);
  // The model's totals over all its revisions (series of deleted models stay, like the
  // metrics: a model re-created under the same name continues them).
  ModelStats Stats(const std::string& ns, const std::string& model) const;
  static constexpr size_t kRecentErrors = 20;

 private:
  Family<Counter>& requests_;
  Family<Histogram>& duration_;
  Family<Gauge>& queue_depth_;
  Family<Gauge>& loaded_revisions_;
  mutable std::mutex errors_mu_;  // guards errors_
  // (namespace, model) -> its last errors, oldest first, at most kRecentErrors.
  std::map<std::pair<std::string, std::string>, std::deque<RecentError>> errors_;
};

struct ExecutorOptions {
  // Requests that may wait for a slot; 0 refuses every request that finds all slots busy.
  size_t queue_depth = 128;
  // Deadline for Submit calls that pass none (KServe's default predictor timeout is 60 s).
  std::chrono::milliseconds timeout{60'000};
  // Caps the model's MaxConcurrency(); 0 leaves it as the model says.
  int max_concurrency = 0;
  // Seconds a refused client is told to wait (Retry-After), carried for the routes.
  int retry_after_seconds = 1;
};

class ModelExecutor : public std::enable_shared_from_this<ModelExecutor> {
 public:
  using Clock = std::chrono::steady_clock;
  using Done = std::function<void(Result<InferResponse>)>;

  // REQUIRES: model and cpu non-null; cpu, metrics (may be null: no metrics) and clock (null:
  // SystemClock()) outlive the executor.
  static std::shared_ptr<ModelExecutor> Create(std::shared_ptr<Model> model, ModelLabels labels,
                                               http::TaskRunner* cpu, ServingMetrics* metrics,
                                               const skiff::Clock* clock = nullptr,
                                               ExecutorOptions options = {});
  ~ModelExecutor();
  ModelExecutor(const ModelExecutor&) = delete;
  ModelExecutor& operator=(const ModelExecutor&) = delete;

  // Runs `request` and calls `done` exactly once with the model's answer or: ResourceExhausted
  // (queue full), DeadlineExceeded, Unavailable (after Close), Internal (Infer threw).
  void Submit(InferRequest request, Done done);
  void Submit(InferRequest request, Clock::time_point deadline, Done done);

  // Answers queued requests whose deadline has passed; returns how many. Call from a timer for
  // prompt answers while every slot is stuck in a long Infer.
  size_t ExpireDeadlines();
  // Stops accepting: later Submits answer ModelNotReady (503). Queued and running requests
  // still complete (an old revision drains while the new one serves).
  void Close();
  // Counts a request answered before it reached the executor (a 400 from request parsing), so
  // that skiff_model_requests_total covers every request the model's routes answered (and its
  // recent errors, ServingMetrics::Stats, show it).
  void RecordRejected(const Status& status);

  struct Stats {
    int running = 0;    // slots taken (Infer running or posted to the pool)
    size_t queued = 0;  // waiting for a slot
    int max_concurrency = 0;
    bool inline_cheap = false;  // Cheap() models run on the submitting thread
  };
  Stats stats() const;
  const ModelLabels& labels() const { return labels_; }
  const std::shared_ptr<Model>& model() const { return model_; }
  const ExecutorOptions& options() const { return options_; }

 private:
  struct Pending {
    InferRequest request;
    Done done;
    Clock::time_point deadline;
    Clock::time_point start;
  };

  ModelExecutor(std::shared_ptr<Model> model, ModelLabels labels, http::TaskRunner* cpu,
                ServingMetrics* metrics, const skiff::Clock* clock, ExecutorOptions options);
  void Run(Pending& p);
  void Post(Pending p);
  // Gives the slot of a finished run to the next live queued request, or frees it.
  void ReleaseSlot();
  // REQUIRES: mu_ held. Moves requests whose deadline has passed out of the queue.
  void TakeExpiredLocked(Clock::time_point now, std::vector<Pending>& expired);
  void Finish(Done& done, Result<InferResponse> result, Clock::time_point start);
  void FinishExpired(std::vector<Pending>& expired);
  void Record(const Status& status, double seconds);
  void RecordError(const Status& status, int http_status);
  Counter& RequestsFor(int http_status);

  const std::shared_ptr<Model> model_;
  const ModelLabels labels_;
  http::TaskRunner* const cpu_;
  ServingMetrics* const metrics_;
  const skiff::Clock* const clock_;
  const ExecutorOptions options_;
  const int max_concurrency_;
  const bool cheap_;
  Histogram* duration_ = nullptr;
  Gauge* queue_gauge_ = nullptr;
  // Counter children for the usual codes, filled on first use (lock-free afterwards).
  static constexpr std::array<int, 10> kCachedCodes = {200, 400, 404, 413, 499,
                                                       500, 501, 503, 504, 409};
  std::array<std::atomic<Counter*>, kCachedCodes.size()> code_counters_{};

  mutable std::mutex mu_;  // guards running_, queue_, closed_
  int running_ = 0;
  std::deque<Pending> queue_;
  bool closed_ = false;
};

}  // namespace skiff::serving
