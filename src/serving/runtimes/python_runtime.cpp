#include "serving/runtimes/python_runtime.hpp"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "core/json.hpp"
#include "core/log.hpp"
#include "serving/runtimes/python_process.hpp"
#include "serving/runtimes/python_protocol.hpp"

extern char** environ;

namespace skiff::serving {

namespace embedded {
extern const std::string_view k_python_worker_py;
}

namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr milliseconds kExitWait{5'000};      // for a killed or dying worker to be reaped
constexpr milliseconds kOutputWait{1'000};    // for a dead worker's last output
constexpr size_t kQuotedOutputBytes = 4'000;  // of a worker's output, in load errors
constexpr milliseconds kIdleCheck{1'000};     // how often idle workers are checked

std::string Seconds(milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
  return std::to_string(d.count()) + "ms";
}

// The end of a worker's output, trimmed, for an error message.
std::string Quote(std::string tail) {
  while (!tail.empty() && (tail.back() == '\n' || tail.back() == ' ')) tail.pop_back();
  if (tail.size() > kQuotedOutputBytes)
    tail = "..." + tail.substr(tail.size() - kQuotedOutputBytes);
  return tail;
}

std::vector<TensorSpec> ReadSpecs(const json::object& ready, std::string_view key) {
  std::vector<TensorSpec> out;
  const json::value* v = Find(ready, key);
  if (!v || !v->is_array()) return out;
  for (const auto& s : v->as_array()) {
    if (!s.is_object()) continue;
    TensorSpec spec;
    spec.name = GetString(s, "name");
    auto type = ParseDataType(GetString(s, "datatype", "FP64"));
    spec.datatype = type ? *type : DataType::kFp64;
    if (const json::value* shape = Find(s, "shape"); shape && shape->is_array()) {
      for (const auto& d : shape->as_array()) {
        spec.shape.push_back(d.is_int64() ? d.as_int64() : -1);
      }
    }
    out.push_back(std::move(spec));
  }
  return out;
}

enum class SlotState { kStarting, kIdle, kBusy, kDown };

// One place in the pool. The slot owns its process in every state; the thread that moved the
// slot to kStarting (supervisor) or kBusy (a request) uses it without holding the lock, and
// only that thread replaces it.
struct Slot {
  SlotState state = SlotState::kDown;
  std::unique_ptr<WorkerProcess> process;
  int start_failures = 0;  // failed starts in a row
  steady_clock::time_point restart_at{};
  std::string last_error;
};

struct ModelConfig {
  std::string name;
  std::string platform;
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
  milliseconds request_timeout;
  int workers;
};

class PythonModel final : public Model, public PythonModelControl {
 public:
  PythonModel(PythonRuntimeOptions options, ModelConfig config)
      : options_(std::move(options)), config_(std::move(config)), slots_(config_.workers) {}

  ~PythonModel() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      // A worker being started is killed so that the supervisor's handshake ends now.
      for (auto& s : slots_) {
        if (s.process) s.process->Kill();
      }
    }
    cv_.notify_all();
    if (supervisor_.joinable()) supervisor_.join();
    // No request is in flight (they hold a reference), so every process is ours to end.
    for (auto& s : slots_) s.process.reset();
    graveyard_.clear();
  }

  // Starts every worker; the first failure fails the load.
  Status Start(steady_clock::time_point deadline) {
    std::vector<int> all(slots_.size());
    for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
    {
      std::lock_guard lock(mu_);
      for (auto& s : slots_) s.state = SlotState::kStarting;
    }
    std::vector<Status> results = StartWorkers(all, deadline);
    for (const Status& s : results) {
      if (!s.ok()) return s;
    }
    supervisor_ = std::thread([this] { Supervise(); });
    return Status::Ok();
  }

  ModelMetadata Metadata() const override {
    ModelMetadata m;
    m.name = config_.name;
    m.platform = config_.platform;
    std::lock_guard lock(mu_);
    m.inputs = ReadSpecs(ready_info_, "inputs");
    m.outputs = ReadSpecs(ready_info_, "outputs");
    return m;
  }

  int MaxConcurrency() const override { return config_.workers; }

  Result<InferResponse> Infer(const InferRequest& request) override {
    const auto deadline = steady_clock::now() + config_.request_timeout;
    std::unique_lock lock(mu_);
    int index = -1;
    for (;;) {
      cv_.wait_until(lock, deadline, [&] {
        index = IdleSlotLocked();
        return stopping_ || index >= 0 || AllFailedLocked();
      });
      if (stopping_) return Unavailable("model \"" + config_.name + "\" is being unloaded");
      if (index < 0) {
        if (AllFailedLocked()) return Unavailable(NotReadyMessageLocked());
        return Unavailable("no Python worker for model \"" + config_.name +
                           "\" became free within " + Seconds(config_.request_timeout) +
                           " (workers are restarting)");
      }
      // A worker that died while idle (OOM killer, a stray signal) costs no request.
      if (!ReplaceIfExitedLocked(index)) break;
    }
    Slot& slot = slots_[index];
    slot.state = SlotState::kBusy;
    WorkerProcess* process = slot.process.get();
    lock.unlock();

    bool worker_failed = false;
    Result<InferResponse> result = RoundTrip(*process, request, deadline, worker_failed);

    lock.lock();
    if (worker_failed) {
      // Restarted at once by the supervisor: the worker had started fine before.
      graveyard_.push_back(std::move(slot.process));
      slot.state = SlotState::kDown;
      slot.start_failures = 0;
      slot.restart_at = steady_clock::now();
    } else {
      slot.state = SlotState::kIdle;
    }
    lock.unlock();
    cv_.notify_all();
    return result;
  }

  Status Health() const override {
    std::lock_guard lock(mu_);
    if (AllFailedLocked()) return Unavailable(NotReadyMessageLocked());
    return Status::Ok();
  }

  std::vector<int> WorkerPids() const override {
    std::lock_guard lock(mu_);
    std::vector<int> pids;
    for (const auto& s : slots_) {
      if (s.process && s.state != SlotState::kDown) pids.push_back(s.process->pid());
    }
    return pids;
  }

  bool WaitForIdleWorkers(int n, steady_clock::time_point deadline) const override {
    std::unique_lock lock(mu_);
    return cv_.wait_until(lock, deadline, [&] {
      return std::count_if(slots_.begin(), slots_.end(),
                           [](const Slot& s) { return s.state == SlotState::kIdle; }) >= n;
    });
  }

 private:
  std::string WorkerName(int index) const {
    return "python model " + config_.name + " worker " + std::to_string(index);
  }

  // Spawns the workers for `indexes` (whose slots are kStarting), then waits for each to
  // report ready; they load in parallel. Leaves each slot kIdle or kDown.
  std::vector<Status> StartWorkers(const std::vector<int>& indexes,
                                   steady_clock::time_point deadline) {
    std::vector<Status> results(indexes.size());
    for (size_t k = 0; k < indexes.size(); ++k) {
      WorkerSpawnOptions spawn;
      spawn.argv = config_.argv;
      spawn.env = config_.env;
      spawn.stdin_data = std::string(embedded::k_python_worker_py);
      spawn.stderr_tail_bytes = options_.stderr_tail_bytes;
      spawn.log_name = WorkerName(indexes[k]);
      auto process = WorkerProcess::Spawn(spawn);
      std::lock_guard lock(mu_);
      if (!process) {
        results[k] = FailedPrecondition("cannot start the Python worker for model \"" +
                                        config_.name + "\": " + process.error().message());
      } else {
        slots_[indexes[k]].process = std::move(*process);
        if (stopping_) slots_[indexes[k]].process->Kill();
      }
    }
    for (size_t k = 0; k < indexes.size(); ++k) {
      Slot& slot = slots_[indexes[k]];
      if (results[k].ok()) results[k] = Handshake(*slot.process, deadline);
      std::lock_guard lock(mu_);
      if (results[k].ok()) {
        slot.state = SlotState::kIdle;
        slot.start_failures = 0;
        slot.last_error.clear();
      } else {
        graveyard_.push_back(std::move(slot.process));
        slot.state = SlotState::kDown;
        ++slot.start_failures;
        slot.last_error = results[k].message();
        auto backoff = options_.restart_backoff * (1 << std::min(slot.start_failures - 1, 16));
        slot.restart_at =
            steady_clock::now() + std::min<milliseconds>(backoff, options_.max_restart_backoff);
      }
    }
    cv_.notify_all();
    return results;
  }

  // Waits for the worker's first frame: ready, or the reason it cannot load the model.
  Status Handshake(WorkerProcess& process, steady_clock::time_point deadline) {
    const std::string who = "the Python worker for model \"" + config_.name + "\"";
    auto frame = process.Receive(deadline, options_.max_response_bytes);
    auto with_output = [&](std::string message) {
      std::string out = Quote(process.StderrTail(kOutputWait));
      if (!out.empty()) message += "; its output:\n" + out;
      return message;
    };
    if (!frame) {
      if (frame.error().code() == Code::kDeadlineExceeded) {
        process.Kill();
        process.WaitExit(steady_clock::now() + kExitWait);
        return FailedPrecondition(with_output(who + " did not load the model in time; it was "
                                                    "killed"));
      }
      if (frame.error().code() != Code::kUnavailable) process.Kill();
      auto how = process.WaitExit(steady_clock::now() + kExitWait);
      return FailedPrecondition(
          with_output(who + " " + how.value_or("stopped answering") + " while loading the model"));
    }
    auto header = ParseJsonObject(frame->header);
    if (!header) {
      return FailedPrecondition(who +
                                " sent a malformed first message: " + header.error().message());
    }
    const std::string type = GetString(*header, "type");
    if (type == "error") {
      Status s = python_protocol::ErrorFromReply(*header);
      process.WaitExit(steady_clock::now() + kExitWait);
      std::string out = Quote(process.StderrTail(kOutputWait));
      std::string message = "model \"" + config_.name + "\": " + s.message();
      if (!out.empty()) message += "; the worker's output:\n" + out;
      return Status(s.code(), message);
    }
    if (type != "ready") return FailedPrecondition(who + " sent \"" + type + "\" before ready");
    std::lock_guard lock(mu_);
    if (ready_info_.empty()) ready_info_ = std::move(*header);
    return Status::Ok();
  }

  Result<InferResponse> RoundTrip(WorkerProcess& process, const InferRequest& request,
                                  steady_clock::time_point deadline, bool& worker_failed) {
    const std::string who = "the Python worker for model \"" + config_.name + "\" (pid " +
                            std::to_string(process.pid()) + ")";
    auto fail = [&](const Status& s) -> Status {
      worker_failed = true;
      if (s.code() == Code::kDeadlineExceeded) {
        process.Kill();
        process.WaitExit(steady_clock::now() + kExitWait);
        return DeadlineExceeded(who + " did not answer within " + Seconds(config_.request_timeout) +
                                "; it was killed and is being restarted");
      }
      if (s.code() == Code::kUnavailable) {
        auto how = process.WaitExit(steady_clock::now() + milliseconds(500));
        if (!how) {
          process.Kill();
          how = process.WaitExit(steady_clock::now() + kExitWait);
        }
        return Unavailable(who + " " + how.value_or("stopped answering") +
                           " while predicting; it is being restarted");
      }
      process.Kill();
      process.WaitExit(steady_clock::now() + kExitWait);
      return Internal(who + " broke the protocol (" + s.message() +
                      "); it was killed and is being restarted");
    };
    if (Status s = process.Send(python_protocol::EncodeInferRequest(request), deadline); !s.ok()) {
      return fail(s);
    }
    auto frame = process.Receive(deadline, options_.max_response_bytes);
    if (!frame) return fail(frame.error());
    auto header = ParseJsonObject(frame->header);
    if (!header) return fail(Internal("malformed answer: " + header.error().message()));
    const std::string type = GetString(*header, "type");
    if (type == "error") return python_protocol::ErrorFromReply(*header);
    if (type != "result") return fail(Internal("unexpected answer type \"" + type + "\""));
    const json::value* outputs = Find(*header, "outputs");
    if (!outputs) return fail(Internal("an answer without outputs"));
    auto tensors = python_protocol::DecodeTensors(*outputs, frame->payload);
    if (!tensors) return fail(Internal(tensors.error().message()));
    InferResponse response;
    response.model_name = config_.name;
    response.id = request.id;
    response.outputs = std::move(*tensors);
    if (const json::object* p = GetObject(*header, "parameters")) response.parameters = *p;
    return response;
  }

  // Restarts workers that are down once their backoff has passed, and disposes of dead ones.
  void Supervise() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      if (!graveyard_.empty()) {
        auto dead = std::move(graveyard_);
        graveyard_.clear();
        lock.unlock();
        dead.clear();  // reaps and joins output readers, with bounds
        lock.lock();
        continue;
      }
      const auto now = steady_clock::now();
      auto next = steady_clock::time_point::max();
      std::vector<int> due;
      for (size_t i = 0; i < slots_.size(); ++i) {
        Slot& s = slots_[i];
        if (s.state != SlotState::kDown) continue;
        if (s.restart_at <= now) {
          s.state = SlotState::kStarting;
          due.push_back(static_cast<int>(i));
        } else {
          next = std::min(next, s.restart_at);
        }
      }
      if (!due.empty()) {
        lock.unlock();
        auto results = StartWorkers(due, steady_clock::now() + options_.start_timeout);
        lock.lock();
        if (stopping_) break;  // the failures are our own kills
        for (size_t k = 0; k < due.size(); ++k) {
          if (results[k].ok()) {
            spdlog::info("{} restarted", WorkerName(due[k]));
          } else {
            spdlog::warn("{} failed to start: {}", WorkerName(due[k]), results[k].message());
          }
        }
        continue;
      }
      // Idle workers are checked every kIdleCheck, so that one that died is replaced before a
      // request needs it.
      bool replaced = false;
      for (size_t i = 0; i < slots_.size(); ++i) {
        if (slots_[i].state == SlotState::kIdle)
          replaced |= ReplaceIfExitedLocked(static_cast<int>(i));
      }
      if (replaced) continue;
      cv_.wait_until(lock, std::min(next, steady_clock::now() + kIdleCheck));
    }
  }

  // REQUIRES: mu_ held; slot `index` is idle. If its worker has exited, hands the slot to the
  // supervisor for a restart and returns true.
  bool ReplaceIfExitedLocked(int index) {
    Slot& slot = slots_[index];
    auto how = slot.process->WaitExit(steady_clock::now());  // does not block
    if (!how) return false;
    spdlog::warn("{} (pid {}) {} while idle; restarting it", WorkerName(index), slot.process->pid(),
                 *how);
    graveyard_.push_back(std::move(slot.process));
    slot.state = SlotState::kDown;
    slot.start_failures = 0;
    slot.restart_at = steady_clock::now();
    cv_.notify_all();
    return true;
  }

  // REQUIRES: mu_ held.
  int IdleSlotLocked() const {
    for (size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].state == SlotState::kIdle) return static_cast<int>(i);
    }
    return -1;
  }
  bool AllFailedLocked() const {
    return std::all_of(slots_.begin(), slots_.end(), [&](const Slot& s) {
      return s.state != SlotState::kIdle && s.state != SlotState::kBusy &&
             s.start_failures >= options_.max_start_failures;
    });
  }
  std::string NotReadyMessageLocked() const {
    return "model \"" + config_.name + "\" is not ready: its Python workers failed to start " +
           std::to_string(options_.max_start_failures) +
           " times in a row and are being retried; the last attempt: " + slots_[0].last_error;
  }

  const PythonRuntimeOptions options_;
  const ModelConfig config_;
  std::thread supervisor_;
  mutable std::mutex mu_;  // guards slots_ (but see Slot), graveyard_, ready_info_, stopping_
  mutable std::condition_variable cv_;
  std::vector<Slot> slots_;
  std::vector<std::unique_ptr<WorkerProcess>> graveyard_;  // dead, to be destroyed
  json::object ready_info_;                                // the first worker's ready message
  bool stopping_ = false;
};

// The workers' environment: the predictor's env on top of an allow-list of this process's
// variables (locale, paths, proxies), so that user code does not see skiff's own secrets (S3 or
// OIDC credentials in the environment), plus single-threaded BLAS unless configured.
std::map<std::string, std::string> WorkerEnvironment(
    const std::map<std::string, std::string>& predictor_env) {
  static constexpr std::string_view kInherited[] = {"PATH",
                                                    "HOME",
                                                    "USER",
                                                    "LOGNAME",
                                                    "LANG",
                                                    "LANGUAGE",
                                                    "TZ",
                                                    "TMPDIR",
                                                    "PYTHONPATH",
                                                    "OMP_NUM_THREADS",
                                                    "OPENBLAS_NUM_THREADS",
                                                    "MKL_NUM_THREADS",
                                                    "HTTP_PROXY",
                                                    "HTTPS_PROXY",
                                                    "NO_PROXY",
                                                    "http_proxy",
                                                    "https_proxy",
                                                    "no_proxy"};
  std::map<std::string, std::string> env = {
      {"PATH", "/usr/local/bin:/usr/bin:/bin"},
      {"OMP_NUM_THREADS", "1"},
      {"OPENBLAS_NUM_THREADS", "1"},
      {"MKL_NUM_THREADS", "1"},
  };
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = kv.substr(0, eq);
    bool keep = key.starts_with("LC_") || std::find(std::begin(kInherited), std::end(kInherited),
                                                    key) != std::end(kInherited);
    if (keep) env[std::string(key)] = std::string(kv.substr(eq + 1));
  }
  for (const auto& [k, v] : predictor_env) env[k] = v;
  env["PYTHONUNBUFFERED"] = "1";
  env["PYTHONDONTWRITEBYTECODE"] = "1";
  return env;
}

}  // namespace

PythonRuntime::PythonRuntime(PythonRuntimeOptions options) : options_(std::move(options)) {
  options_.workers = std::max(1, options_.workers);
  options_.max_start_failures = std::max(1, options_.max_start_failures);
}

Result<std::shared_ptr<Model>> PythonRuntime::Load(const LoadRequest& request) {
  ModelConfig config;
  config.name = request.model_name;
  const bool custom = request.format == "custom" || request.format == "python";
  config.platform = custom ? "python" : "sklearn";
  config.workers = options_.workers;
  if (auto it = request.env.find("SKIFF_PYTHON_WORKERS"); it != request.env.end()) {
    try {
      config.workers = std::clamp(std::stoi(it->second), 1, 64);
    } catch (const std::exception&) {
      return InvalidArgument("SKIFF_PYTHON_WORKERS=\"" + it->second + "\" is not a number");
    }
  }
  config.request_timeout = options_.request_timeout;
  if (const json::value* t = Find(request.spec, "timeout");
      t && t->is_int64() && t->as_int64() > 0) {
    config.request_timeout = std::chrono::seconds(t->as_int64());
  }
  json::object worker_config{{"model_name", request.model_name},
                             {"model_dir", request.path},
                             {"kind", custom ? "custom" : "sklearn"},
                             {"protocol", request.protocol.empty() ? "v1" : request.protocol}};
  if (auto it = request.env.find("SKIFF_MODEL_CLASS"); it != request.env.end()) {
    worker_config["class_name"] = it->second;
  }
  config.argv = {options_.python, "-X", "faulthandler", "-", Serialize(worker_config)};
  config.env = WorkerEnvironment(request.env);

  auto model = std::make_shared<PythonModel>(options_, std::move(config));
  const auto deadline = steady_clock::now() + request.timeout;
  if (Status s = model->Start(deadline); !s.ok()) return s;
  spdlog::info("python: loaded model {} from {} ({} workers)", request.model_name, request.path,
               model->MaxConcurrency());
  return std::shared_ptr<Model>(std::move(model));
}

}  // namespace skiff::serving
