#pragma once
// Runtimes and models: the extension point that serves a model format. A Runtime turns files on
// disk into a loaded Model (expensive work happens in Load, nothing heavy per request, as in
// TensorFlow Serving's loader); a Model answers inference requests. Runtimes are registered by
// name in a RuntimeRegistry filled from main; the InferenceService controller picks one by
// model format (and optional runtime name).
//
// Ownership and threading: a Model is shared (std::shared_ptr) by the model registry snapshot
// and by in-flight requests; it is destroyed when the last of them lets go, so unloading never
// pulls a model from under a running request. Infer is called from worker threads; a Model
// whose MaxConcurrency() is N is never called by more than N threads at once (the caller's
// executor guarantees it).

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/json.hpp"
#include "core/result.hpp"
#include "serving/tensor.hpp"

namespace skiff::serving {

class Model {
 public:
  virtual ~Model() = default;
  virtual ModelMetadata Metadata() const = 0;
  // Errors: InvalidArgument for requests that do not fit the model (wrong shape, datatype,
  // feature count: the message names what was expected) -> 400; Unavailable when a backing
  // process died -> 503; Internal for bugs -> 500.
  virtual Result<InferResponse> Infer(const InferRequest& request) = 0;
  // How many Infer calls may run at once (1 for a single worker process).
  virtual int MaxConcurrency() const { return 64; }
  // True when one Infer is cheap enough (well under a millisecond: a linear model or a few
  // small trees) to run on the I/O thread that received the request, avoiding a thread hop.
  virtual bool Cheap() const { return false; }
};

struct LoadRequest {
  std::string model_name;    // the InferenceService name, used as the V1/V2 model name
  std::string format;        // "sklearn", "xgboost", "pytorch", ... (lower case)
  std::string runtime;       // optional explicit runtime name from the spec
  std::string path;          // local file or directory holding the model (already fetched)
  std::string protocol;      // "v1" or "v2"
  std::map<std::string, std::string> env;  // the predictor's env (e.g. PREDICT_PROBA=true)
  json::object spec;         // the predictor spec, for runtime-specific settings
  std::string work_dir;      // a private directory the runtime may use (converted models)
  std::chrono::milliseconds timeout{120'000};  // for loading
};

class Runtime {
 public:
  virtual ~Runtime() = default;
  virtual std::string Name() const = 0;  // "skiff-sklearn", "skiff-xgboost", "python"
  // Whether this runtime serves `format` at all.
  virtual bool Supports(std::string_view format) const = 0;
  // Loads a model. Blocking and expensive: call from the blocking pool. Errors say exactly
  // what is wrong and what to do ("model.joblib not found in /x: put the file there or fix
  // storageUri"); FailedPrecondition for formats or estimators this runtime cannot serve, so
  // the controller may try the next runtime.
  virtual Result<std::shared_ptr<Model>> Load(const LoadRequest& request) = 0;
};

class RuntimeRegistry {
 public:
  void Register(std::unique_ptr<Runtime> runtime);
  // Runtimes that support `format`, in registration order; with `runtime` set, only that one.
  std::vector<Runtime*> Find(std::string_view format, std::string_view runtime = {}) const;
  const std::vector<std::unique_ptr<Runtime>>& runtimes() const { return runtimes_; }

 private:
  std::vector<std::unique_ptr<Runtime>> runtimes_;
};

}  // namespace skiff::serving
