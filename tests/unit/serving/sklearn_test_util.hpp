#pragma once
// Test data for the native scikit-learn runtime: models trained at test time by Debian's
// scikit-learn (sklearn_train.py, next to this file) with scikit-learn's own predictions on
// held-out rows, plus their native files pre-converted by the runtime's importer into a shared
// work directory (one Python run for all models instead of one per Load).
//
// The data live in $TMPDIR/skiff-sklearn-test-<uid>-<hash of the training script and the
// importer>, built once under a file lock and reused by later test processes (ctest runs each
// test in its own process), so only the first process pays for training (~15 s on 2 cores).

#include <chrono>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "serving/tensor.hpp"

namespace skiff::serving::sklearn_test {

inline constexpr char kPython[] = "/usr/bin/python3";

struct Case {
  std::string name;
  std::string family;  // linear, trees, boosting, hist, svm, pipeline, labels, kserve
  std::string dir;     // holds model.joblib
  bool classifier = false;
  int64_t rows = 0;
  int64_t n_features = 0;
  std::vector<double> x;            // rows * n_features, held out from training
  std::string label_type;           // int, float, str, bool
  std::vector<int64_t> int_labels;  // int and bool (0/1)
  std::vector<std::string> str_labels;
  std::vector<double> values;  // float labels, or regression values
  std::vector<double> proba;   // empty when the model has no predict_proba
  int64_t n_targets = 1;
  bool targets_2d = false;
};

struct Fixture {
  std::string root;      // one directory per case, plus manifest.json
  std::string work_dir;  // native files, as SklearnRuntime caches them
  std::vector<Case> cases;
  // numpy's row sums of these vectors (np.sum(axis=1)).
  std::vector<std::pair<std::vector<double>, double>> pairwise;

  const Case* Find(const std::string& name) const;
};

// The shared fixture, built on first use. Errors name the step that failed.
const Result<Fixture>& SharedFixture();

// Decodes base64 little-endian float64 values.
std::vector<double> DecodeF64(std::string_view base64);

// A FP64 input tensor "input-0" of shape [rows, n_features].
Tensor Input(const std::vector<double>& x, int64_t rows, int64_t n_features);

inline RequestedOutput Output(std::string name) {
  RequestedOutput o;
  o.name = std::move(name);
  return o;
}

// A fresh empty directory under the test temp root (removed at process exit is not
// guaranteed; it lives under $TMPDIR).
std::string TempDir(const std::string& tag);

}  // namespace skiff::serving::sklearn_test
