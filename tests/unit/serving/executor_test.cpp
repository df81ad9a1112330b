// The per-revision executor: inline vs pool execution, the concurrency limit, the bounded queue,
// deadlines, and the metrics it records. Waits are on conditions with deadlines, never sleeps.
#include "serving/executor.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "serving/protocol.hpp"

namespace skiff::serving {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

constexpr auto kWait = 10s;  // generous bound for conditions that hold within microseconds

// Waits until pred() holds under mu, failing the test after kWait.
template <class Pred>
bool WaitFor(std::mutex& mu, std::condition_variable& cv, Pred pred) {
  std::unique_lock lock(mu);
  return cv.wait_for(lock, kWait, pred);
}

// Runs posted tasks only when the test says so.
class ManualRunner : public http::TaskRunner {
 public:
  void Post(std::function<void()> task) override {
    std::lock_guard lock(mu_);
    tasks_.push_back(std::move(task));
  }
  size_t pending() {
    std::lock_guard lock(mu_);
    return tasks_.size();
  }
  // Runs tasks (including ones posted while running) until none are left.
  void RunAll() {
    while (true) {
      std::function<void()> t;
      {
        std::lock_guard lock(mu_);
        if (tasks_.empty()) return;
        t = std::move(tasks_.front());
        tasks_.pop_front();
      }
      t();
    }
  }

 private:
  std::mutex mu_;
  std::deque<std::function<void()>> tasks_;
};

// A fixed pool of threads.
class ThreadPool : public http::TaskRunner {
 public:
  explicit ThreadPool(int n) {
    for (int i = 0; i < n; ++i) threads_.emplace_back([this] { Loop(); });
  }
  ~ThreadPool() override {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  void Post(std::function<void()> task) override {
    {
      std::lock_guard lock(mu_);
      tasks_.push_back(std::move(task));
    }
    cv_.notify_one();
  }

 private:
  void Loop() {
    while (true) {
      std::function<void()> t;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stop_ || !tasks_.empty(); });
        if (tasks_.empty()) return;
        t = std::move(tasks_.front());
        tasks_.pop_front();
      }
      t();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

// A model that counts concurrent calls and, when gated, blocks in Infer until opened.
class FakeModel : public Model {
 public:
  FakeModel(bool cheap, int max_concurrency) : cheap_(cheap), max_concurrency_(max_concurrency) {}

  ModelMetadata Metadata() const override { return {}; }
  int MaxConcurrency() const override { return max_concurrency_; }
  bool Cheap() const override { return cheap_; }

  Result<InferResponse> Infer(const InferRequest& request) override {
    std::unique_lock lock(mu);
    ++calls;
    ++running;
    max_running = std::max(max_running, running);
    threads.push_back(std::this_thread::get_id());
    if (!request.inputs.empty()) seen_data = request.inputs[0].data.data();
    order.push_back(request.id);
    cv.notify_all();
    cv.wait(lock, [&] { return !gated; });
    --running;
    cv.notify_all();
    if (clock != nullptr) clock->Advance(advance_clock_by);
    if (throw_error) throw std::runtime_error("boom");
    if (!fail.ok()) return fail;
    InferResponse r;
    r.id = request.id;
    r.outputs.push_back(Tensor::FromInt64s("predict", {1}, {1}));
    return r;
  }

  void Open() {
    std::lock_guard lock(mu);
    gated = false;
    cv.notify_all();
  }

  std::mutex mu;
  std::condition_variable cv;
  bool gated = false;
  int calls = 0;
  int running = 0;
  int max_running = 0;
  std::vector<std::thread::id> threads;
  std::vector<std::string> order;
  const char* seen_data = nullptr;
  FakeClock* clock = nullptr;
  std::chrono::nanoseconds advance_clock_by{0};
  bool throw_error = false;
  Status fail;

 private:
  bool cheap_;
  int max_concurrency_;
};

// Collects done callbacks.
struct Answers {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Result<InferResponse>> results;
  std::vector<std::thread::id> threads;

  ModelExecutor::Done Capture() {
    return [this](Result<InferResponse> r) {
      std::lock_guard lock(mu);
      results.push_back(std::move(r));
      threads.push_back(std::this_thread::get_id());
      cv.notify_all();
    };
  }
  size_t size() {
    std::lock_guard lock(mu);
    return results.size();
  }
  bool WaitForCount(size_t n) {
    return WaitFor(mu, cv, [&] { return results.size() >= n; });
  }
  int CountCode(Code code) {
    std::lock_guard lock(mu);
    int n = 0;
    for (const auto& r : results) n += (r ? Code::kOk : r.error().code()) == code;
    return n;
  }
};

InferRequest Request(std::string id = {}) {
  InferRequest r;
  r.id = std::move(id);
  r.inputs.push_back(Tensor::FromDoubles("input-0", {1, 4}, {6.8, 2.8, 4.8, 1.4}));
  return r;
}

const ModelLabels kLabels{"ns", "iris", "r1"};

TEST(Executor, CheapModelRunsInlineWithoutCopyingTheRequest) {
  auto model = std::make_shared<FakeModel>(/*cheap=*/true, 4);
  ManualRunner cpu;
  auto ex = ModelExecutor::Create(model, kLabels, &cpu, nullptr);
  EXPECT_TRUE(ex->stats().inline_cheap);
  Answers answers;
  InferRequest req;
  req.inputs.push_back(Tensor::FromDoubles("input-0", {64, 4}, std::vector<double>(256, 1.0)));
  const char* data = req.inputs[0].data.data();
  ex->Submit(std::move(req), answers.Capture());
  // Answered before Submit returned, on this thread, with no task posted.
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_TRUE(answers.results[0]) << answers.results[0].error();
  EXPECT_EQ(answers.threads[0], std::this_thread::get_id());
  EXPECT_EQ(cpu.pending(), 0u);
  EXPECT_EQ(model->seen_data, data);  // the model read the caller's buffer
  EXPECT_EQ(ex->stats().running, 0);
}

TEST(Executor, ExpensiveModelRunsOnThePool) {
  auto model = std::make_shared<FakeModel>(/*cheap=*/false, 4);
  ManualRunner cpu;
  auto ex = ModelExecutor::Create(model, kLabels, &cpu, nullptr);
  Answers answers;
  ex->Submit(Request("a"), answers.Capture());
  EXPECT_EQ(answers.size(), 0u);
  EXPECT_EQ(model->calls, 0);
  EXPECT_EQ(cpu.pending(), 1u);
  EXPECT_EQ(ex->stats().running, 1);
  cpu.RunAll();
  ASSERT_EQ(answers.size(), 1u);
  ASSERT_TRUE(answers.results[0]);
  EXPECT_EQ(answers.results[0]->id, "a");
  EXPECT_EQ(ex->stats().running, 0);
}

TEST(Executor, ConcurrencyLimitIsRespected) {
  auto model = std::make_shared<FakeModel>(/*cheap=*/false, 2);
  model->gated = true;
  ThreadPool pool(4);
  auto ex = ModelExecutor::Create(model, kLabels, &pool, nullptr);
  EXPECT_EQ(ex->stats().max_concurrency, 2);
  Answers answers;
  constexpr int kRequests = 12;
  for (int i = 0; i < kRequests; ++i) ex->Submit(Request(std::to_string(i)), answers.Capture());
  // Two run (the pool has four threads idle), ten wait in the executor's queue.
  ASSERT_TRUE(WaitFor(model->mu, model->cv, [&] { return model->running == 2; }));
  EXPECT_EQ(ex->stats().running, 2);
  EXPECT_EQ(ex->stats().queued, 10u);
  model->Open();
  ASSERT_TRUE(answers.WaitForCount(kRequests));
  EXPECT_EQ(answers.CountCode(Code::kOk), kRequests);
  std::lock_guard lock(model->mu);
  EXPECT_EQ(model->calls, kRequests);
  EXPECT_EQ(model->max_running, 2);
}

TEST(Executor, CheapModelsStillRespectTheLimit) {
  auto model = std::make_shared<FakeModel>(/*cheap=*/true, 1);
  model->gated = true;
  ManualRunner cpu;
  auto ex = ModelExecutor::Create(model, kLabels, &cpu, nullptr);
  Answers answers;
  // The first call blocks inside Infer on another "I/O thread".
  std::thread io([&] { ex->Submit(Request("first"), answers.Capture()); });
  ASSERT_TRUE(WaitFor(model->mu, model->cv, [&] { return model->running == 1; }));
  ex->Submit(Request("second"), answers.Capture());  // no free slot: queued, not run inline
  EXPECT_EQ(ex->stats().queued, 1u);
  model->Open();
  io.join();
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(cpu.pending(), 1u);  // the queued request went to the pool
  cpu.RunAll();
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(model->max_running, 1);
  EXPECT_EQ(model->order, (std::vector<std::string>{"first", "second"}));
}

TEST(Executor, OptionCapsModelConcurrency) {
  auto model = std::make_shared<FakeModel>(false, 64);
  ManualRunner cpu;
  ExecutorOptions opts;
  opts.max_concurrency = 3;
  EXPECT_EQ(
      ModelExecutor::Create(model, kLabels, &cpu, nullptr, nullptr, opts)->stats().max_concurrency,
      3);
  opts.max_concurrency = 100;
  EXPECT_EQ(
      ModelExecutor::Create(model, kLabels, &cpu, nullptr, nullptr, opts)->stats().max_concurrency,
      64);
}

TEST(Executor, FullQueueIsRefusedWithResourceExhausted) {
  auto model = std::make_shared<FakeModel>(false, 1);
  ManualRunner cpu;
  ExecutorOptions opts;
  opts.queue_depth = 2;
  auto ex = ModelExecutor::Create(model, kLabels, &cpu, nullptr, nullptr, opts);
  Answers answers;
  for (const char* id : {"a", "b", "c", "d"}) ex->Submit(Request(id), answers.Capture());
  // a holds the slot, b and c wait, d is refused at once.
  ASSERT_EQ(answers.size(), 1u);
  ASSERT_FALSE(answers.results[0]);
  const Status& s = answers.results[0].error();
  EXPECT_EQ(s.code(), Code::kResourceExhausted);
  EXPECT_THAT(s.message(), HasSubstr("Model with name iris is overloaded"));
  http::Response r = ProtocolErrorResponse(s);
  EXPECT_EQ(r.status, 503);
  EXPECT_TRUE(r.headers.Has("Retry-After"));
  EXPECT_EQ(ex->stats().queued, 2u);
  cpu.RunAll();  // a, then b and c in order
  ASSERT_EQ(answers.size(), 4u);
  EXPECT_EQ(model->order, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(answers.CountCode(Code::kOk), 3);
}

TEST(Executor, ZeroQueueDepthRefusesWhenBusy) {
  auto model = std::make_shared<FakeModel>(false, 1);
  ManualRunner cpu;
  ExecutorOptions opts;
  opts.queue_depth = 0;
  auto ex = ModelExecutor::Create(model, kLabels, &cpu, nullptr, nullptr, opts);
  Answers answers;
  ex->Submit(Request(), answers.Capture());
  ex->Submit(Request(), answers.Capture());
  EXPECT_EQ(answers.CountCode(Code::kResourceExhausted), 1);
  cpu.RunAll();
  EXPECT_EQ(answers.CountCode(Code::kOk), 1);
}

TEST(Executor, QueuedRequestsExpireAtTheirDeadline) {
  FakeClock clock;
  auto model = std::make_shared<FakeModel>(false, 1);
  ManualRunner cpu;
  auto ex = ModelExecutor::Create(model, kLabels, &cpu, nullptr, &clock);
  Answers answers;
  ex->Submit(Request("slow"), answers.Capture());  // takes the slot (posted, not yet run)
  ex->Submit(Request("short"), clock.Steady() + 1s, answers.Capture());
  ex->Submit(Request("long"), clock.Steady() + 1h, answers.Capture());
  EXPECT_EQ(ex->ExpireDeadlines(), 0u);
  clock.Advance(2s);
  EXPECT_EQ(ex->ExpireDeadlines(), 1u);
  ASSERT_EQ(answers.size(), 1u);
  ASSERT_FALSE(answers.results[0]);
  EXPECT_EQ(answers.results[0].error().code(), Code::kDeadlineExceeded);
  EXPECT_EQ(ProtocolHttpStatus(answers.results[0].error()), 504);
  cpu.RunAll();
  ASSERT_EQ(answers.size(), 3u);
  EXPECT_EQ(model->order, (std::vector<std::string>{"slow", "long"}));
}

TEST(Executor, ExpiredRequestsAreSkippedWhenASlotFrees) {
  FakeClock clock;
  auto model = std::make_shared<FakeModel>(false, 1);
  ManualRunner cpu;
  auto ex = ModelExecutor::Create(model, kLabels, &cpu, nullptr, &clock);
  Answers answers;
  ex->Submit(Request("a"), answers.Capture());
  ex->Submit(Request("b"), clock.Steady() + 1s, answers.Capture());
  clock.Advance(5s);
  cpu.RunAll();
  EXPECT_EQ(model->order, (std::vector<std::string>{"a"}));
  EXPECT_EQ(answers.CountCode(Code::kDeadlineExceeded), 1);
  EXPECT_EQ(answers.CountCode(Code::kOk), 1);
  EXPECT_EQ(ex->stats().running, 0);
}

TEST(Executor, FullQueueMakesRoomByExpiring) {
  FakeClock clock;
  auto model = std::make_shared<FakeModel>(false, 1);
  ManualRunner cpu;
  ExecutorOptions opts;
  opts.queue_depth = 1;
  auto ex = ModelExecutor::Create(model, kLabels, &cpu, nullptr, &clock, opts);
  Answers answers;
  ex->Submit(Request("a"), answers.Capture());
  ex->Submit(Request("b"), clock.Steady() + 1s, answers.Capture());
  clock.Advance(2s);
  ex->Submit(Request("c"), answers.Capture());  // b expires and c takes its place
  EXPECT_EQ(answers.CountCode(Code::kDeadlineExceeded), 1);
  EXPECT_EQ(answers.CountCode(Code::kResourceExhausted), 0);
  cpu.RunAll();
  EXPECT_EQ(model->order, (std::vector<std::string>{"a", "c"}));
}

TEST(Executor, DeadlinePassedBeforeStartDoesNotRunTheModel) {
  FakeClock clock;
  auto model = std::make_shared<FakeModel>(false, 1);
  ManualRunner cpu;
  auto ex = ModelExecutor::Create(model, kLabels, &cpu, nullptr, &clock);
  Answers answers;
  ex->Submit(Request(), clock.Steady() + 1s, answers.Capture());
  clock.Advance(1s);
  cpu.RunAll();
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers.CountCode(Code::kDeadlineExceeded), 1);
  EXPECT_EQ(model->calls, 0);
}

TEST(Executor, AnswerAfterTheDeadlineIsDeadlineExceeded) {
  FakeClock clock;
  auto model = std::make_shared<FakeModel>(true, 1);
  model->clock = &clock;
  model->advance_clock_by = 3s;
  ManualRunner cpu;
  ExecutorOptions opts;
  opts.timeout = 2s;  // the default deadline
  auto ex = ModelExecutor::Create(model, kLabels, &cpu, nullptr, &clock, opts);
  Answers answers;
  ex->Submit(Request(), answers.Capture());
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(model->calls, 1);
  EXPECT_EQ(answers.CountCode(Code::kDeadlineExceeded), 1);
}

TEST(Executor, ModelErrorsAndExceptionsAreAnswered) {
  auto model = std::make_shared<FakeModel>(true, 1);
  ManualRunner cpu;
  auto ex = ModelExecutor::Create(model, kLabels, &cpu, nullptr);
  Answers answers;
  model->fail = InvalidArgument("expected 4 features, got 3");
  ex->Submit(Request(), answers.Capture());
  model->fail = Status::Ok();
  model->throw_error = true;
  ex->Submit(Request(), answers.Capture());
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers.results[0].error().code(), Code::kInvalidArgument);
  EXPECT_EQ(answers.results[1].error().code(), Code::kInternal);
  EXPECT_EQ(ex->stats().running, 0);  // the slot came back after the throw
}

TEST(Executor, CloseRefusesNewRequestsAndDrainsQueued) {
  auto model = std::make_shared<FakeModel>(false, 1);
  ManualRunner cpu;
  auto ex = ModelExecutor::Create(model, kLabels, &cpu, nullptr);
  Answers answers;
  ex->Submit(Request("a"), answers.Capture());
  ex->Submit(Request("b"), answers.Capture());
  ex->Close();
  ex->Submit(Request("c"), answers.Capture());
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers.results[0].error().code(), Code::kUnavailable);
  EXPECT_EQ(answers.results[0].error().message(), "Model with name iris is not ready.");
  cpu.RunAll();
  EXPECT_EQ(answers.CountCode(Code::kOk), 2);
}

TEST(Executor, OutlivesItsOwnerWhileRequestsRun) {
  auto model = std::make_shared<FakeModel>(false, 1);
  ManualRunner cpu;
  Answers answers;
  {
    auto ex = ModelExecutor::Create(model, kLabels, &cpu, nullptr);
    ex->Submit(Request("a"), answers.Capture());
    ex->Submit(Request("b"), answers.Capture());
  }  // the controller dropped the revision
  cpu.RunAll();
  EXPECT_EQ(answers.CountCode(Code::kOk), 2);
}

TEST(Executor, MetricsAreRecordedPerRevision) {
  MetricsRegistry registry;
  ServingMetrics metrics(registry);
  FakeClock clock;
  auto model = std::make_shared<FakeModel>(true, 1);
  model->clock = &clock;
  model->advance_clock_by = 3ms;
  ManualRunner cpu;
  ExecutorOptions opts;
  opts.queue_depth = 1;
  auto ex = ModelExecutor::Create(model, kLabels, &cpu, &metrics, &clock, opts);
  auto other = ModelExecutor::Create(std::make_shared<FakeModel>(true, 1), {"ns", "iris", "r2"},
                                     &cpu, &metrics, &clock);
  Answers answers;
  ex->Submit(Request(), answers.Capture());
  ex->Submit(Request(), answers.Capture());
  other->Submit(Request(), answers.Capture());
  ex->RecordRejected(InvalidArgument("Unrecognized request format: x"));
  metrics.SetLoadedRevisions("ns", "iris", 2);

  const std::string out = registry.Render();
  EXPECT_THAT(out, HasSubstr("skiff_model_requests_total{namespace=\"ns\",model=\"iris\",revision="
                             "\"r1\",code=\"200\"} 2\n"));
  EXPECT_THAT(out, HasSubstr("skiff_model_requests_total{namespace=\"ns\",model=\"iris\",revision="
                             "\"r1\",code=\"400\"} 1\n"));
  EXPECT_THAT(out, HasSubstr("skiff_model_requests_total{namespace=\"ns\",model=\"iris\",revision="
                             "\"r2\",code=\"200\"} 1\n"));
  EXPECT_THAT(out, HasSubstr("skiff_model_request_duration_seconds_count{namespace=\"ns\",model="
                             "\"iris\",revision=\"r1\"} 2\n"));
  // Each call took 3 ms on the fake clock: in the 5 ms bucket, not in the 2.5 ms one.
  EXPECT_THAT(out, HasSubstr("skiff_model_request_duration_seconds_bucket{namespace=\"ns\",model="
                             "\"iris\",revision=\"r1\",le=\"0.0025\"} 0\n"));
  EXPECT_THAT(out, HasSubstr("skiff_model_request_duration_seconds_bucket{namespace=\"ns\",model="
                             "\"iris\",revision=\"r1\",le=\"0.005\"} 2\n"));
  EXPECT_THAT(
      out,
      HasSubstr("skiff_model_queue_depth{namespace=\"ns\",model=\"iris\",revision=\"r1\"} 0\n"));
  EXPECT_THAT(out, HasSubstr("skiff_model_loaded_revisions{namespace=\"ns\",model=\"iris\"} 2\n"));

  // Queue depth and refusals.
  model->gated = true;
  std::thread io([&] { ex->Submit(Request(), answers.Capture()); });
  ASSERT_TRUE(WaitFor(model->mu, model->cv, [&] { return model->running == 1; }));
  ex->Submit(Request(), answers.Capture());  // queued
  ex->Submit(Request(), answers.Capture());  // refused
  const std::string busy = registry.Render();
  EXPECT_THAT(
      busy,
      HasSubstr("skiff_model_queue_depth{namespace=\"ns\",model=\"iris\",revision=\"r1\"} 1\n"));
  EXPECT_THAT(busy, HasSubstr("skiff_model_requests_total{namespace=\"ns\",model=\"iris\",revision="
                              "\"r1\",code=\"503\"} 1\n"));
  model->Open();
  io.join();
  cpu.RunAll();
  EXPECT_THAT(
      registry.Render(),
      HasSubstr("skiff_model_queue_depth{namespace=\"ns\",model=\"iris\",revision=\"r1\"} 0\n"));
}

}  // namespace
}  // namespace skiff::serving
