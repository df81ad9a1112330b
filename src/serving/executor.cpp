#include "serving/executor.hpp"

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <optional>

#include "serving/protocol.hpp"
#include "serving/protocol_json.hpp"

namespace skiff::serving {

const std::vector<double>& ModelLatencyBuckets() {
  static const std::vector<double> kBuckets = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                               0.005,   0.01,   0.025,   0.05,   0.1,   0.25,
                                               0.5,     1,      2.5,     5,      10,    30};
  return kBuckets;
}

ServingMetrics::ServingMetrics(MetricsRegistry& registry)
    : requests_(registry.AddCounter(
          "skiff_model_requests_total",
          "Inference requests answered, per model revision and HTTP status code.",
          {"namespace", "model", "revision", "code"})),
      duration_(registry.AddHistogram(
          "skiff_model_request_duration_seconds",
          "Seconds from submission to answer of inference requests, queueing included.",
          {"namespace", "model", "revision"}, ModelLatencyBuckets())),
      queue_depth_(registry.AddGauge("skiff_model_queue_depth",
                                     "Inference requests waiting for a free model slot.",
                                     {"namespace", "model", "revision"})),
      loaded_revisions_(registry.AddGauge("skiff_model_loaded_revisions",
                                          "Revisions of the model loaded and able to serve.",
                                          {"namespace", "model"})) {}

void ServingMetrics::SetLoadedRevisions(const std::string& ns, const std::string& model,
                                        int revisions) {
  loaded_revisions_.With({ns, model}).Set(revisions);
}

namespace {

// `s` cut to at most `max` bytes without splitting a UTF-8 sequence.
void TruncateUtf8(std::string& s, size_t max) {
  if (s.size() <= max) return;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  s.resize(n);
}

}  // namespace

void ServingMetrics::RecordError(const ModelLabels& labels, RecentError error) {
  TruncateUtf8(error.message, RecentError::kMaxMessageBytes);
  std::lock_guard lock(errors_mu_);
  auto& ring = errors_[{labels.ns, labels.model}];
  ring.push_back(std::move(error));
  while (ring.size() > kRecentErrors) ring.pop_front();
}

std::optional<double> HistogramQuantile(double q, const std::vector<double>& bounds,
                                        const std::vector<uint64_t>& cumulative) {
  if (cumulative.size() != bounds.size() + 1 || cumulative.back() == 0) return std::nullopt;
  const double total = static_cast<double>(cumulative.back());
  const double rank = std::clamp(q, 0.0, 1.0) * total;
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (static_cast<double>(cumulative[i]) < rank || cumulative[i] == 0) continue;
    const double lower = i == 0 ? 0 : bounds[i - 1];
    const double below = i == 0 ? 0 : static_cast<double>(cumulative[i - 1]);
    const double in_bucket = static_cast<double>(cumulative[i]) - below;
    if (in_bucket <= 0) return bounds[i];
    return lower + (bounds[i] - lower) * ((rank - below) / in_bucket);
  }
  return bounds.empty() ? std::nullopt : std::optional<double>(bounds.back());
}

ModelStats ServingMetrics::Stats(const std::string& ns, const std::string& model) const {
  ModelStats out;
  requests_.ForEach([&](const std::vector<std::string>& labels, const Counter& c) {
    // labels: namespace, model, revision, code
    if (labels[0] != ns || labels[1] != model) return;
    const uint64_t n = c.Value();
    const int code = std::atoi(labels[3].c_str());
    out.requests_total += n;
    if (code >= 200 && code < 300) out.requests_2xx += n;
    if (code >= 400 && code < 500) out.requests_4xx += n;
    if (code >= 500 && code < 600) out.requests_5xx += n;
  });
  const std::vector<double>& bounds = ModelLatencyBuckets();
  std::vector<uint64_t> cumulative(bounds.size() + 1, 0);
  duration_.ForEach([&](const std::vector<std::string>& labels, const Histogram& h) {
    if (labels[0] != ns || labels[1] != model || h.bounds() != bounds) return;
    std::vector<uint64_t> counts = h.CumulativeCounts();
    for (size_t i = 0; i < counts.size() && i < cumulative.size(); ++i) cumulative[i] += counts[i];
    out.latency_sum_seconds += h.Sum();
  });
  // The merged +Inf bucket is the count (read together with the buckets, not apart from them).
  out.latency_count = cumulative.back();
  auto ms = [](std::optional<double> s) {
    return s ? std::optional<double>(*s * 1000.0) : std::nullopt;
  };
  out.p50_ms = ms(HistogramQuantile(0.50, bounds, cumulative));
  out.p90_ms = ms(HistogramQuantile(0.90, bounds, cumulative));
  out.p99_ms = ms(HistogramQuantile(0.99, bounds, cumulative));
  {
    std::lock_guard lock(errors_mu_);
    if (auto it = errors_.find({ns, model}); it != errors_.end()) {
      out.recent_errors.assign(it->second.rbegin(), it->second.rend());
    }
  }
  return out;
}

std::shared_ptr<ModelExecutor> ModelExecutor::Create(std::shared_ptr<Model> model,
                                                     ModelLabels labels, http::TaskRunner* cpu,
                                                     ServingMetrics* metrics,
                                                     const skiff::Clock* clock,
                                                     ExecutorOptions options) {
  SKIFF_CHECK(model != nullptr);
  SKIFF_CHECK(cpu != nullptr);
  return std::shared_ptr<ModelExecutor>(new ModelExecutor(std::move(model), std::move(labels), cpu,
                                                          metrics, clock, std::move(options)));
}

ModelExecutor::ModelExecutor(std::shared_ptr<Model> model, ModelLabels labels,
                             http::TaskRunner* cpu, ServingMetrics* metrics,
                             const skiff::Clock* clock, ExecutorOptions options)
    : model_(std::move(model)),
      labels_(std::move(labels)),
      cpu_(cpu),
      metrics_(metrics),
      clock_(clock != nullptr ? clock : &SystemClock()),
      options_(std::move(options)),
      max_concurrency_(std::max(1, options_.max_concurrency > 0 ? std::min(options_.max_concurrency,
                                                                           model_->MaxConcurrency())
                                                                : model_->MaxConcurrency())),
      cheap_(model_->Cheap()) {
  if (metrics_ != nullptr) {
    const std::vector<std::string> key = {labels_.ns, labels_.model, labels_.revision};
    duration_ = &metrics_->duration().With(key);
    queue_gauge_ = &metrics_->queue_depth().With(key);
    queue_gauge_->Set(0);
  }
}

ModelExecutor::~ModelExecutor() {
  // Only reachable with a non-empty queue if the pool dropped posted tasks (shutdown): answer
  // the waiting requests rather than leave their clients hanging.
  std::deque<Pending> left;
  {
    std::lock_guard lock(mu_);
    left.swap(queue_);
  }
  for (Pending& p : left) Finish(p.done, ModelNotReady(labels_.model), p.start);
  if (queue_gauge_ != nullptr) queue_gauge_->Set(0);
}

void ModelExecutor::Submit(InferRequest request, Done done) {
  const auto now = clock_->Steady();
  Submit(std::move(request), now + options_.timeout, std::move(done));
}

void ModelExecutor::Submit(InferRequest request, Clock::time_point deadline, Done done) {
  const auto now = clock_->Steady();
  Pending p{std::move(request), std::move(done), deadline, now};
  enum class Action { kRefuse, kInline, kPool, kQueued };
  Action action;
  Status refusal;
  std::vector<Pending> expired;
  {
    std::lock_guard lock(mu_);
    if (closed_) {
      action = Action::kRefuse;
      refusal = ModelNotReady(labels_.model);
    } else if (running_ < max_concurrency_) {
      ++running_;
      action = cheap_ ? Action::kInline : Action::kPool;
    } else {
      if (queue_.size() >= options_.queue_depth) TakeExpiredLocked(now, expired);
      if (queue_.size() >= options_.queue_depth) {
        action = Action::kRefuse;
        refusal = ResourceExhausted("Model with name " + labels_.model +
                                    " is overloaded: " + std::to_string(queue_.size()) +
                                    " requests are waiting already; retry later");
      } else {
        queue_.push_back(std::move(p));
        action = Action::kQueued;
      }
      if (queue_gauge_ != nullptr) queue_gauge_->Set(static_cast<double>(queue_.size()));
    }
  }
  FinishExpired(expired);
  switch (action) {
    case Action::kRefuse:
      Finish(p.done, std::move(refusal), now);
      return;
    case Action::kInline: {
      // The caller may drop its reference from another thread while this runs.
      auto self = shared_from_this();
      Run(p);
      return;
    }
    case Action::kPool:
      Post(std::move(p));
      return;
    case Action::kQueued:
      return;
  }
}

void ModelExecutor::Post(Pending p) {
  auto shared = std::make_shared<Pending>(std::move(p));
  cpu_->Post([self = shared_from_this(), shared] { self->Run(*shared); });
}

void ModelExecutor::Run(Pending& p) {
  Result<InferResponse> result = Internal("not run");
  if (clock_->Steady() >= p.deadline) {
    result = DeadlineExceeded("Model with name " + labels_.model +
                              " could not start the request before its deadline");
  } else {
    try {
      result = model_->Infer(p.request);
    } catch (const std::exception& e) {
      result = Internal(std::string("model threw: ") + e.what());
    } catch (...) {
      result = Internal("model threw a non-standard exception");
    }
    if (result && clock_->Steady() > p.deadline) {
      result = DeadlineExceeded("Model with name " + labels_.model +
                                " answered after the request deadline");
    }
  }
  // Free the slot before answering: serializing the answer need not hold up the next request.
  ReleaseSlot();
  Finish(p.done, std::move(result), p.start);
}

void ModelExecutor::ReleaseSlot() {
  std::vector<Pending> expired;
  std::optional<Pending> next;
  {
    std::lock_guard lock(mu_);
    TakeExpiredLocked(clock_->Steady(), expired);
    if (!queue_.empty()) {
      next.emplace(std::move(queue_.front()));  // the slot passes to it
      queue_.pop_front();
    } else {
      --running_;
    }
    if (queue_gauge_ != nullptr) queue_gauge_->Set(static_cast<double>(queue_.size()));
  }
  FinishExpired(expired);
  if (next) Post(std::move(*next));
}

void ModelExecutor::TakeExpiredLocked(Clock::time_point now, std::vector<Pending>& expired) {
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (it->deadline <= now) {
      expired.push_back(std::move(*it));
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
}

size_t ModelExecutor::ExpireDeadlines() {
  std::vector<Pending> expired;
  {
    std::lock_guard lock(mu_);
    TakeExpiredLocked(clock_->Steady(), expired);
    if (queue_gauge_ != nullptr) queue_gauge_->Set(static_cast<double>(queue_.size()));
  }
  const size_t n = expired.size();
  FinishExpired(expired);
  return n;
}

void ModelExecutor::FinishExpired(std::vector<Pending>& expired) {
  for (Pending& p : expired) {
    Finish(p.done,
           DeadlineExceeded("Model with name " + labels_.model +
                            " had no free slot before the request deadline"),
           p.start);
  }
}

void ModelExecutor::Close() {
  std::lock_guard lock(mu_);
  closed_ = true;
}

ModelExecutor::Stats ModelExecutor::stats() const {
  std::lock_guard lock(mu_);
  return Stats{running_, queue_.size(), max_concurrency_, cheap_};
}

void ModelExecutor::Finish(Done& done, Result<InferResponse> result, Clock::time_point start) {
  const double seconds = std::chrono::duration<double>(clock_->Steady() - start).count();
  Record(result ? Status::Ok() : result.error(), seconds);
  done(std::move(result));
}

void ModelExecutor::RecordRejected(const Status& status) {
  if (metrics_ == nullptr) return;
  const int code = ProtocolHttpStatus(status);
  RequestsFor(code).Inc();
  RecordError(status, code);
}

void ModelExecutor::Record(const Status& status, double seconds) {
  if (metrics_ == nullptr) return;
  const int code = ProtocolHttpStatus(status);
  RequestsFor(code).Inc();
  duration_->Observe(std::max(seconds, 0.0));
  RecordError(status, code);
}

void ModelExecutor::RecordError(const Status& status, int http_status) {
  if (status.ok() || http_status < 400) return;
  RecentError e;
  e.time = clock_->Now();
  e.status = http_status;
  // What the client was told (ProtocolErrorResponse): a 500 says no more than that.
  if (http_status == 500) {
    e.message = "internal error";
  } else {
    e.message = status.message().empty() ? std::string(CodeName(status.code())) : status.message();
    if (!protocol_json::IsValidUtf8(e.message)) e.message = "invalid request";
  }
  e.revision = labels_.revision;
  metrics_->RecordError(labels_, std::move(e));
}

Counter& ModelExecutor::RequestsFor(int http_status) {
  auto make = [&] {
    return &metrics_->requests().With(
        {labels_.ns, labels_.model, labels_.revision, std::to_string(http_status)});
  };
  for (size_t i = 0; i < kCachedCodes.size(); ++i) {
    if (kCachedCodes[i] != http_status) continue;
    Counter* c = code_counters_[i].load(std::memory_order_acquire);
    if (c == nullptr) {
      c = make();  // With returns the same child to every racer
      code_counters_[i].store(c, std::memory_order_release);
    }
    return *c;
  }
  return *make();
}

}  // namespace skiff::serving
