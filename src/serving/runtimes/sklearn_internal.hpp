#pragma once
// Internals of the native scikit-learn evaluators: the step and estimator interfaces, a reader
// for the skiff-sklearn file's encodings, numpy-compatible math, and one factory per estimator
// family (sklearn_linear.cpp, sklearn_trees.cpp, sklearn_hist_gb.cpp, sklearn_svm.cpp,
// sklearn_preprocessing.cpp). Not for use outside src/serving/runtimes/sklearn_*.
//
// Every evaluator is immutable after its factory returns and safe to call from many threads.

#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.hpp"
#include "core/result.hpp"
#include "serving/runtimes/sklearn_model.hpp"

namespace skiff::serving::sklearn {

class Transformer {
 public:
  virtual ~Transformer() = default;
  virtual std::string_view name() const = 0;
  virtual FinitePolicy policy() const = 0;
  // Transforms n rows of width f in place.
  virtual void Apply(double* x, int64_t n, int64_t f) const = 0;
};

class Estimator {
 public:
  virtual ~Estimator() = default;
  virtual FinitePolicy policy() const = 0;
  virtual bool has_proba() const { return false; }
  // Tree nodes, support-vector features or coefficients.
  virtual int64_t complexity() const = 0;
  // See SklearnModel::PredictClasses/PredictProba/PredictValues. The default implementations
  // are never reached: the model calls only what the estimator's task provides.
  virtual void PredictClasses(const double* x, int64_t n, int64_t* out) const;
  virtual void PredictProba(const double* x, int64_t n, double* out) const;
  virtual void PredictValues(const double* x, int64_t n, double* out) const;
};

// What an estimator factory learns from the common fields.
struct EstimatorShape {
  SklearnModel::Task task = SklearnModel::Task::kClassifier;
  int64_t n_features = 0;
  int64_t n_classes = 0;  // classifiers
  int64_t n_targets = 1;  // regressors
  bool has_proba = false;
  std::string type;  // scikit-learn class name
};

// Reads one JSON object of the file; errors name the field by its path ("estimator.trees[3]").
class Reader {
 public:
  Reader(const json::object& obj, std::string path) : obj_(&obj), path_(std::move(path)) {}

  const std::string& path() const { return path_; }
  bool Has(std::string_view key) const;
  bool IsNull(std::string_view key) const;  // missing or null
  Status Error(std::string_view key, std::string_view what) const;

  Result<int64_t> Int(std::string_view key, int64_t min, int64_t max) const;
  Result<bool> Bool(std::string_view key) const;
  Result<std::string> String(std::string_view key) const;
  Result<double> F64(std::string_view key) const;
  // f64[expected]; expected < 0 accepts any length.
  Result<std::vector<double>> F64s(std::string_view key, int64_t expected) const;
  // A JSON array of f64 strings; expected < 0 accepts any length.
  Result<std::vector<double>> F64List(std::string_view key, int64_t expected) const;
  // int[expected], each within [min, max].
  Result<std::vector<int64_t>> Ints(std::string_view key, int64_t expected, int64_t min,
                                    int64_t max) const;
  // [[u32 x 8]...] bitsets, flattened to 8 words per row.
  Result<std::vector<uint32_t>> Bitsets(std::string_view key) const;
  Result<const json::array*> Array(std::string_view key) const;
  Result<Reader> Object(std::string_view key) const;
  Result<std::vector<Reader>> Objects(std::string_view key) const;

 private:
  const json::value* Get(std::string_view key) const;

  const json::object* obj_;
  std::string path_;
};

// Decoders shared with the model's top level.
Result<double> ParseF64Text(std::string_view text);
Result<std::vector<double>> DecodeF64s(std::string_view base64);

// numpy's pairwise summation, as np.sum(a, axis=1) applies it to each row of a C-contiguous
// float64 array (blocks of 8 partial sums, halves beyond 128 elements).
double PairwiseSum(const double* a, int64_t n);
// np.argmax: the first maximum; a NaN wins (the first NaN).
int64_t Argmax(const double* a, int64_t n);
// np.max over a row: NaN if any element is NaN.
double RowMax(const double* a, int64_t n);
// scipy.special.expit as scipy 1.10 computes it.
inline double Expit(double x) { return 1.0 / (1.0 + std::exp(-x)); }
// sklearn.utils.extmath.softmax on one row, in place: subtract the max, exp, divide by the sum.
void SoftmaxInPlace(double* a, int64_t n);
// Checks n rows of width f against `policy`; the first refused value gives InvalidArgument
// naming its row and feature and `who` (the refusing step).
Status CheckFinite(const double* x, int64_t n, int64_t f, FinitePolicy policy,
                   std::string_view who);

// Factories, one per family. `r` is the estimator object.
Result<std::unique_ptr<Estimator>> ParseLinear(const Reader& r, const EstimatorShape& shape);
Result<std::unique_ptr<Estimator>> ParseTrees(const Reader& r, const EstimatorShape& shape,
                                              std::string_view family);
Result<std::unique_ptr<Estimator>> ParseGradientBoosting(const Reader& r,
                                                         const EstimatorShape& shape);
Result<std::unique_ptr<Estimator>> ParseHistGradientBoosting(const Reader& r,
                                                             const EstimatorShape& shape);
Result<std::unique_ptr<Estimator>> ParseSvm(const Reader& r, const EstimatorShape& shape);
Result<std::unique_ptr<Transformer>> ParseTransformer(const Reader& r, int64_t n_features);

}  // namespace skiff::serving::sklearn
