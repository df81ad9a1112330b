#pragma once
// The XGBoost runtime ("skiff-xgboost", format "xgboost"): serves a Booster saved with
// Booster.save_model (JSON `.json`, UBJSON `.ubj` or the legacy binary `.bst`) in process
// through libxgboost's C API, with no Python in the request path. Answers as KServe's xgbserver
// does (`booster.predict(DMatrix(np.array(instances))).tolist()`): one FP32 output "output-0"
// holding exactly what Booster.predict returns: probabilities of the positive class for
// binary:logistic ([n]), an [n, k] matrix for multi:softprob, class indexes (as floats) for
// multi:softmax, values for reg:*, margins/scores for raw and ranking objectives. gbtree models
// predict in place (XGBoosterPredictFromDense, no DMatrix per request); dart and gblinear
// through a DMatrix, because their in-place results differ or are missing in 1.7. Either way
// the floats are bit-identical to Python's (tests check).
//
// Input: one numeric tensor shaped [n, n_features] (any numeric datatype; converted to float32
// as DMatrix does), or several tensors shaped [n] / [n, m] taken as columns in order (KServe's
// V2 multi-input form). NaN means "missing", as in XGBoost; +-Inf (or a float64 too large for
// float32) is rejected with InvalidArgument, where XGBoost's DMatrix would throw.
//
// Threading: the C API does not promise that concurrent predictions on one Booster are safe in
// 1.7 (prediction caches and thread-local output buffers live in the Learner), so each loaded
// model keeps a small pool of Boosters loaded from the same bytes; an Infer takes one for the
// call. MaxConcurrency() is the pool size. Each prediction uses `threads_per_predict` OpenMP
// threads, so requests, not OpenMP, provide the parallelism by default.

#include <memory>

#include "serving/model.hpp"

namespace skiff::serving {

struct XgboostOptions {
  // Boosters per loaded model, i.e. concurrent predictions; 0 means one per hardware thread
  // (at most 8).
  int boosters = 0;
  // XGBoost's `nthread` for each prediction and DMatrix construction.
  int threads_per_predict = 1;
  // Model files larger than this are refused at load.
  size_t max_model_bytes = size_t{2} << 30;
};

class XgboostRuntime final : public Runtime {
 public:
  explicit XgboostRuntime(XgboostOptions options = {});
  std::string Name() const override { return "skiff-xgboost"; }
  bool Supports(std::string_view format) const override { return format == "xgboost"; }
  // request.path is a model file, or a directory holding model.bst, model.json or model.ubj
  // (or exactly one *.bst / *.json / *.ubj file). Errors: NotFound when there is no model file,
  // FailedPrecondition when there are several or XGBoost cannot read the file.
  Result<std::shared_ptr<Model>> Load(const LoadRequest& request) override;

 private:
  XgboostOptions options_;
};

// Finds the model file for `path` as Load does (exposed for tests and for `skiff` diagnostics).
Result<std::string> FindXgboostModelFile(const std::string& path);

}  // namespace skiff::serving
