#pragma once
// Native scikit-learn models: the "skiff-sklearn" model file that sklearn_export.py writes, and
// the immutable evaluator built from it. Evaluation is float64 C++ that follows scikit-learn
// 1.2's own order of operations (trees compare float32-cast features as sklearn does; sums over
// classes use numpy's pairwise summation), so predictions equal scikit-learn's: classes
// exactly, probabilities and values to ~1e-15 relative (the remaining difference comes from
// BLAS dot products, whose summation order numpy leaves to the BLAS library).
//
// Threading: a SklearnModel is immutable after Parse; any number of threads may evaluate it at
// once without locks.
//
// ---------------------------------------------------------------------------------------------
// The skiff-sklearn file, version 1: one JSON object.
//
// Encodings used below:
//   f64[N]   a JSON string: base64 (standard alphabet, padded) of N little-endian IEEE 754
//            binary64 values; matrices are row-major. Exact, unlike decimal JSON numbers.
//   f64      a JSON string holding Python's repr() of one float ("0.1", "1e-05", "inf", "nan").
//   int[N]   a JSON array of N integers.
//   labels   {"type": "int"|"float"|"str"|"bool", "values": [...]} with JSON integers, f64
//            strings, strings or booleans: a classifier's classes_, in classes_ order.
//
// Top level:
//   format        "skiff-sklearn"
//   version       1 (a reader rejects other versions; the runtime then re-imports)
//   producer      {"sklearn", "numpy", "python"}: versions the importer ran with (information)
//   source        file name of the pickle it was converted from (information)
//   description   "SVC" or "Pipeline(StandardScaler, LogisticRegression)" (information)
//   n_features    F, the width of an input row (n_features_in_ of the first step)
//   feature_names names the model was fitted with, if any; inputs are positional (information)
//   warnings      warnings raised while unpickling, e.g. a scikit-learn version mismatch
//   steps         [transformer...]: applied in order to each row before the estimator
//   estimator     the final estimator (below)
//   checks        null, or probe rows with scikit-learn's answers, re-evaluated at load time:
//                 {"rows": M, "x": f64[M*F], "predict": int[M] (class indexes) | f64[M*T],
//                  "proba": f64[M*K] | null}; a mismatch fails the load (FailedPrecondition).
//
// Transformers ("type" is the scikit-learn class name; every one keeps F features):
//   StandardScaler  {"mean": f64[F] | null, "scale": f64[F] | null}   x = (x - mean) / scale
//   MinMaxScaler    {"scale": f64[F], "min": f64[F], "clip": bool, "feature_range": [f64, f64]}
//                   x = x * scale + min, then clipped to feature_range when clip
//   RobustScaler    {"center": f64[F] | null, "scale": f64[F] | null} x = (x - center) / scale
//   MaxAbsScaler    {"scale": f64[F]}                                  x = x / scale
//   Normalizer      {"norm": "l1" | "l2" | "max"}   each row divided by its norm (0 -> 1)
//   SimpleImputer   {"missing_values": f64 ("nan" or a number), "statistics": f64[F]}
//                   entries equal to missing_values (NaN: entries that are NaN) become
//                   statistics[j] (only without add_indicator and without dropped features)
//
// Estimator, common fields:
//   type       scikit-learn class name ("LogisticRegression", "RandomForestClassifier", ...)
//   task       "classifier" | "regressor"
//   classes    labels (classifiers; K = number of classes)
//   has_proba  bool (classifiers): whether the model has predict_proba (hasattr, as KServe asks)
//   n_outputs  regressors: T, the number of targets; outputs_2d: whether predict returns [N, T]
//              rather than [N]
//   family     one of the following, with its fields:
//
//   "linear"   scores = x . coef[o] + intercept[o] for o < n_outputs
//       coef f64[n_outputs*F], intercept f64[n_outputs]
//       classifiers: n_outputs is 1 (binary: class 1 when score > 0) or K (argmax);
//         proba: null | "logistic_ovr" (expit, normalized over classes when K > 2) |
//         "softmax" (binary: softmax of [-s, s]) | "modified_huber" (SGDClassifier)
//       regressors: link "identity" | "log" (value = exp(score), Poisson/Gamma/Tweedie)
//   "tree"     trees: [tree] (one tree: DecisionTree*, ExtraTree*)
//   "forest"   trees: [tree] (RandomForest*, ExtraTrees*: per-tree probabilities or values,
//              averaged in tree order)
//       tree: {"n_nodes": N, "left": int[N], "right": int[N], "feature": int[N],
//              "threshold": f64[N], "value": f64[N*W]} with W = K (classifiers: weighted class
//              counts) or 1; left = right = -1 marks a leaf; a child's index is always greater
//              than its parent's. A row goes left when float32(x[feature]) <= threshold.
//   "gradient_boosting"  GradientBoosting*: loss "identity" | "binomial" | "multinomial" |
//       "exponential", k (trees per stage: 1, or K for multinomial), n_stages,
//       learning_rate f64, init f64[k] (the constant init estimator's raw prediction),
//       trees [tree] stage-major (stage s, class j at s*k + j; W = 1).
//       raw[j] = init[j] + sum over stages of learning_rate * leaf value.
//   "hist_gradient_boosting"  HistGradientBoosting*: link "identity" | "log" | "logit" |
//       "softmax", k, baseline f64[k], known_cat_bitsets [[u32 x 8]...] and f_idx_map int[F]
//       (categories seen in fit, per categorical feature), predictors [predictor]
//       iteration-major (iteration i, tree j at i*k + j). predictor: {"n_nodes": N,
//       "value": f64[N], "feature": int[N], "threshold": f64[N], "missing_go_to_left": int[N],
//       "left": int[N], "right": int[N], "is_leaf": int[N], "is_categorical": int[N],
//       "bitset_idx": int[N], "raw_left_cat_bitsets": [[u32 x 8]...]}. Rows are compared as
//       float64 (x <= threshold); NaN follows missing_go_to_left.
//       raw[j] = baseline[j] + sum of leaf values (leaf values include the learning rate).
//   "svm"      SVC, NuSVC, SVR, NuSVR, OneClassSVM, evaluated as libsvm does:
//       svm_type "c_svc" | "nu_svc" | "epsilon_svr" | "nu_svr" | "one_class",
//       kernel "linear" | "poly" | "rbf" | "sigmoid", gamma f64, coef0 f64, degree int,
//       n_sv L, n_support int[K] (support vectors per class, classes in order),
//       support_vectors f64[L*F], dual_coef f64[(K-1)*L] (libsvm's sv_coef; 1 row for
//       regression), intercept f64[K(K-1)/2] (-rho), prob_a/prob_b f64[K(K-1)/2] | null
//       (Platt scaling, SVC(probability=True)). Classes are chosen by one-vs-one votes; OneClassSVM
//       is a classifier with classes [-1, 1].
//
// Non-finite inputs follow scikit-learn's input validation, deliberately: a step or estimator
// that scikit-learn refuses NaN or infinity for (linear models, SVMs, trees and forests, gradient
// boosting, Normalizer) refuses them here too (InvalidArgument naming the row, the feature and
// the estimator); the scalers pass NaN through (and refuse infinity), SimpleImputer with
// missing_values=NaN replaces it, and HistGradientBoosting accepts NaN (routed by
// missing_go_to_left) and infinities. Trees cast features to float32 first, so values beyond
// float32's range count as infinite, as in scikit-learn.
// ---------------------------------------------------------------------------------------------

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace skiff::serving::sklearn {

inline constexpr std::string_view kFormatName = "skiff-sklearn";
inline constexpr int kFormatVersion = 1;

// A classifier's classes_, in order.
struct Labels {
  enum class Type { kInt, kFloat, kString, kBool };
  Type type = Type::kInt;
  std::vector<int64_t> ints;  // kInt and kBool (0/1)
  std::vector<double> floats;
  std::vector<std::string> strings;
  size_t size() const;
};

// What scikit-learn's input validation accepts, per step.
enum class FinitePolicy {
  kFinite,         // NaN and +-inf rejected
  kAllowNan,       // NaN passes through, +-inf rejected (the scalers)
  kAllowAll,       // NaN and +-inf accepted (HistGradientBoosting)
  kFiniteFloat32,  // rejected after a cast to float32 (trees: |x| > FLT_MAX becomes inf)
};

class Transformer;
class Estimator;

class SklearnModel {
 public:
  enum class Task { kClassifier, kRegressor };

  // Parses and validates a skiff-sklearn file (never trusts sizes or indexes in it). Errors:
  // InvalidArgument naming the field, for a malformed file or another version.
  static Result<std::unique_ptr<SklearnModel>> Parse(std::string_view text);
  ~SklearnModel();

  int64_t n_features() const { return n_features_; }
  Task task() const { return task_; }
  bool has_proba() const;
  const Labels& classes() const { return classes_; }  // classifiers
  int64_t n_classes() const { return static_cast<int64_t>(classes_.size()); }
  int64_t n_targets() const { return n_targets_; }  // regressors
  bool targets_2d() const { return targets_2d_; }
  const std::string& description() const { return description_; }
  const std::string& estimator_type() const { return estimator_type_; }
  const std::vector<std::string>& warnings() const { return warnings_; }
  // The model's size in tree nodes, support-vector features or coefficients (steps included):
  // what the runtime's Model::Cheap() looks at.
  int64_t complexity() const;

  // Applies the steps to `x` (n rows of n_features, row-major) in place, checking each step's
  // input as scikit-learn does. Errors: InvalidArgument for refused NaN/infinity.
  Status Transform(double* x, int64_t n) const;
  // The estimator on transformed rows (after Transform). REQUIRES: the matching task, and
  // has_proba() for PredictProba. Outputs: n class indexes into classes(); n * n_classes()
  // probabilities; n * n_targets() values.
  void PredictClasses(const double* x, int64_t n, int64_t* out) const;
  void PredictProba(const double* x, int64_t n, double* out) const;
  void PredictValues(const double* x, int64_t n, double* out) const;

  // Re-evaluates the probe rows in "checks" and compares with scikit-learn's answers (classes
  // exactly, numbers within 1e-9 relative or 1e-12 absolute). Errors: FailedPrecondition.
  Status Verify() const;

 private:
  SklearnModel() = default;

  int64_t n_features_ = 0;
  Task task_ = Task::kClassifier;
  Labels classes_;
  int64_t n_targets_ = 1;
  bool targets_2d_ = false;
  std::string description_;
  std::string estimator_type_;
  std::vector<std::string> warnings_;
  std::vector<std::unique_ptr<Transformer>> steps_;
  std::unique_ptr<Estimator> estimator_;
  // Probe rows ("checks"); empty when the file has none.
  int64_t check_rows_ = 0;
  std::vector<double> check_x_;
  std::vector<int64_t> check_classes_;
  std::vector<double> check_values_;
  std::vector<double> check_proba_;
};

}  // namespace skiff::serving::sklearn
