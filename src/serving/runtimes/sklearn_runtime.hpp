#pragma once
// The native scikit-learn runtime ("skiff-sklearn", format "sklearn"): serves a pickled
// scikit-learn estimator (model.joblib / model.pkl / model.pickle) with C++ evaluators and no
// Python in the request path. Load() converts the pickle once with the embedded importer
// (sklearn_export.py, run as `/usr/bin/python3 -I -B -c ...`, i.e. Debian's scikit-learn,
// isolated from PYTHON* variables and user site-packages) into the skiff-sklearn file described
// in sklearn_model.hpp, caches that file in LoadRequest::work_dir under the pickle's SHA-256 (so
// a restart or a reload parses instead of re-importing), and checks the evaluator against
// scikit-learn's answers on probe rows. Estimators without a native evaluator get
// FailedPrecondition ("... LabelSpreading is not supported natively; it will be served by the
// Python worker runtime") so that the controller falls back to the Python worker runtime.
//
// Requests are answered as KServe's sklearnserver answers them: one input tensor [N, F] (any
// numeric datatype, converted to float64; a 1-D [F] tensor is one row), and by default one
// output "output-0" holding predict() (class labels as INT64, FP64, BYTES or BOOL tensors, or
// regression values as FP64), or predict_proba() ([N, K] FP64) when the predictor's environment
// has PREDICT_PROBA=true and the model has predict_proba. V2 requests may name outputs
// "predict" and/or "predict_proba" (MLServer's names) or "output-0". Non-finite inputs: see
// sklearn_model.hpp (as scikit-learn: refused by most estimators, NaN accepted by
// HistGradientBoosting).
//
// Threading: a loaded model is immutable; Infer takes no locks and may run on any number of
// threads (MaxConcurrency() is high). Load is blocking (it may run Python): call it from the
// blocking pool.

#include <memory>
#include <string>
#include <string_view>

#include "serving/model.hpp"
#include "serving/runtimes/sklearn_model.hpp"

namespace skiff::serving {

struct SklearnOptions {
  // The interpreter that runs the importer; it needs scikit-learn and joblib.
  std::string python = "/usr/bin/python3";
  // Model files (and converted files) larger than this are refused at load.
  size_t max_model_bytes = size_t{2} << 30;
  // Models up to this complexity (tree nodes, support-vector features or coefficients; see
  // SklearnModel::complexity) are Cheap(): run inline on the I/O thread.
  int64_t cheap_complexity = 10'000;
};

class SklearnRuntime final : public Runtime {
 public:
  explicit SklearnRuntime(SklearnOptions options = {});
  std::string Name() const override { return "skiff-sklearn"; }
  bool Supports(std::string_view format) const override { return format == "sklearn"; }
  // request.path is a model file, or a directory holding one model.joblib / model.pkl /
  // model.pickle (or exactly one *.joblib / *.pkl / *.pickle file, as KServe's sklearnserver
  // accepts). Errors: NotFound when there is no model file (the message says what was looked
  // for and where), FailedPrecondition when the estimator has no native evaluator (or several
  // candidate files), InvalidArgument for a file that is not a joblib/pickle file,
  // DeadlineExceeded when the importer outlives request.timeout.
  Result<std::shared_ptr<Model>> Load(const LoadRequest& request) override;

  const SklearnOptions& options() const { return options_; }

 private:
  SklearnOptions options_;
};

// Finds the model file for `path` as Load does.
Result<std::string> FindSklearnModelFile(const std::string& path);
// Where Load caches the file converted from a pickle whose SHA-256 is `sha256_hex`; the name
// also carries the importer's version, so a new importer converts again.
std::string SklearnCachePath(const std::string& work_dir, std::string_view sha256_hex);
// The importer's command line for (pickle, output file) pairs, as Load runs it.
std::vector<std::string> SklearnImporterArgv(
    const std::string& python, const std::vector<std::pair<std::string, std::string>>& pairs);
// Serves an already parsed model: Metadata and Infer as a loaded model answers them. Reads
// request.model_name and request.env (PREDICT_PROBA).
std::shared_ptr<Model> NewSklearnModel(const LoadRequest& request,
                                       std::shared_ptr<const sklearn::SklearnModel> model,
                                       int64_t cheap_complexity = 10'000);

}  // namespace skiff::serving
