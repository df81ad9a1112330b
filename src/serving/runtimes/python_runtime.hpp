#pragma once
// The "python" runtime: serves any scikit-learn estimator the native runtime cannot (format
// "sklearn", registered after it as the fallback) and custom predictors (format "custom" or
// "python": a model.py defining a class of KServe's Model shape, `__init__(name)`, `load()`,
// `predict(payload, headers=None)`, with optional preprocess/postprocess and async methods), in
// a pool of /usr/bin/python3 worker processes running the embedded python_worker.py. The
// framed worker protocol is documented in python_protocol.hpp.
//
// scikit-learn: the model directory holds model.joblib, model.pkl or model.pickle (or one
// *.joblib/*.pkl/*.pickle file; or the path is the file), loaded as KServe's sklearnserver
// does; predict(X), or predict_proba(X) when the predictor's env has PREDICT_PROBA=true. One
// input tensor is X; several are columns (a DataFrame when pandas is installed).
// Custom: the payload is KServe's V1 dict for protocol v1 ({"instances": [...]} plus the body's
// other fields, which the V1 codec passes as request parameters; a body's "inputs" also arrives
// as "instances") and a kserve.InferRequest-like object for v2; predict returns {"predictions":
// [...]}, a V2-style
// {"outputs": [...]} dict or InferResponse, or an array. Predictions that are not a
// rectangular array of numbers or strings come back as one BYTES tensor of JSON texts with the
// tensor parameter content_type=json. When the real kserve package is missing, a small
// stand-in (kserve.Model, kserve.errors, InferRequest/InferResponse...) is importable.
//
// Pool: `workers` processes per model, each serving one request at a time; MaxConcurrency()
// is the pool size and Infer blocks its (worker) thread for the round trip; nothing runs on
// I/O threads. Each request has a deadline (request_timeout, or the predictor spec's
// `timeout` in seconds). A worker that dies or misses the deadline is killed (whole process
// group) and reaped, the request fails with Unavailable ("... exited with signal 9 (SIGKILL)
// while predicting; it is being restarted") or DeadlineExceeded, never hangs, and a supervisor
// thread restarts the worker: at once after a crash, with exponential backoff after failed
// starts. After max_start_failures failed starts in a row for every worker, Infer answers
// Unavailable "model X is not ready: ..." with the worker's stderr, and Health() says so.
// Errors the model raises: ValueError/TypeError/KeyError/IndexError and kserve InvalidInput ->
// InvalidArgument, others -> Internal, with "ExceptionType: message".
//
// Workers get the predictor's env on top of an allow-list of this process's environment
// (PATH, HOME, locale, TMPDIR, PYTHONPATH, proxies: not skiff's own credentials), with
// PYTHONUNBUFFERED=1, PYTHONDONTWRITEBYTECODE=1 and OMP/OpenBLAS/MKL thread counts of 1 unless
// set: the pool, not BLAS threads, provides the parallelism. They run as skiff's own user; there
// is no sandbox. Unloading (destroying the model) kills and reaps every worker.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "serving/model.hpp"

namespace skiff::serving {

struct PythonRuntimeOptions {
  std::string python = "/usr/bin/python3";
  int workers = 2;  // per model; the predictor's env SKIFF_PYTHON_WORKERS overrides
  std::chrono::milliseconds request_timeout{60'000};
  // Bound for a worker's start (import + load) after the initial load, which uses
  // LoadRequest::timeout.
  std::chrono::milliseconds start_timeout{120'000};
  int max_start_failures = 5;
  std::chrono::milliseconds restart_backoff{100};  // after the first failed start
  std::chrono::milliseconds max_restart_backoff{30'000};
  size_t stderr_tail_bytes = 8 << 10;       // kept per worker, quoted in load errors
  uint64_t max_response_bytes = 256 << 20;  // payload of one worker answer
};

class PythonRuntime final : public Runtime {
 public:
  explicit PythonRuntime(PythonRuntimeOptions options = {});
  std::string Name() const override { return "python"; }
  bool Supports(std::string_view format) const override {
    return format == "sklearn" || format == "custom" || format == "python";
  }
  // Starts the pool and waits (up to request.timeout) until every worker has loaded the model.
  // Errors: the worker's own (NotFound for a missing model file, FailedPrecondition for one it
  // cannot load, with the Python exception), or FailedPrecondition quoting its stderr when it
  // died while starting.
  Result<std::shared_ptr<Model>> Load(const LoadRequest& request) override;

 private:
  PythonRuntimeOptions options_;
};

// What a loaded Python model offers beyond Model, for the controller, metrics and tests.
class PythonModelControl {
 public:
  virtual ~PythonModelControl() = default;
  // Ok while at least one worker is up or still being retried under max_start_failures;
  // Unavailable with the reason (and the worker's stderr) otherwise.
  virtual Status Health() const = 0;
  // The process ids of the running workers.
  virtual std::vector<int> WorkerPids() const = 0;
  // Blocks until `n` workers are idle and ready, or the deadline passes; true if they are.
  virtual bool WaitForIdleWorkers(int n, std::chrono::steady_clock::time_point deadline) const = 0;
};

}  // namespace skiff::serving
