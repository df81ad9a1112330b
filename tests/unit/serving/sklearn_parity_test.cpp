// Parity of the native scikit-learn runtime with scikit-learn itself: every model in
// sklearn_train.py is loaded through SklearnRuntime (from the pre-converted cache: the runtime
// is given a Python that does not exist, so a cache miss fails the test) and asked for predict
// and predict_proba on held-out rows; classes must match exactly, numbers within 1e-9 relative
// (1e-12 absolute near zero).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <set>

#include "serving/runtimes/sklearn_internal.hpp"
#include "serving/runtimes/sklearn_runtime.hpp"
#include "sklearn_test_util.hpp"

namespace skiff::serving {
namespace {

using sklearn_test::Case;
using sklearn_test::Fixture;

const Fixture& Data() {
  const auto& fx = sklearn_test::SharedFixture();
  if (!fx) ADD_FAILURE() << "test data: " << fx.error();
  static const Fixture empty;
  return fx ? *fx : empty;
}

struct Closeness {
  double max_rel = 0;  // worst relative difference seen
  int64_t exact = 0, total = 0;
};

::testing::AssertionResult Near(double got, double want, Closeness& c) {
  ++c.total;
  if (std::isnan(got) && std::isnan(want)) return ::testing::AssertionSuccess();
  if (got == want) {
    ++c.exact;
    return ::testing::AssertionSuccess();
  }
  const double d = std::fabs(got - want);
  const double scale = std::max(std::fabs(got), std::fabs(want));
  if (scale > 0) c.max_rel = std::max(c.max_rel, d / scale);
  if (d <= 1e-12 || d <= 1e-9 * scale) return ::testing::AssertionSuccess();
  char buf[128];
  std::snprintf(buf, sizeof buf, "%.17g vs scikit-learn %.17g", got, want);
  return ::testing::AssertionFailure() << buf;
}

Result<std::shared_ptr<Model>> LoadCached(const Case& c) {
  // A Python that does not exist: only the pre-converted native file can satisfy this Load.
  SklearnRuntime runtime(SklearnOptions{.python = "/nonexistent/python3"});
  LoadRequest req;
  req.model_name = c.name;
  req.format = "sklearn";
  req.path = c.dir;
  req.work_dir = Data().work_dir;
  return runtime.Load(req);
}

// Loads one case and compares predict (and predict_proba) with scikit-learn's.
void CheckCase(const Case& c) {
  SCOPED_TRACE(c.name);
  auto model = LoadCached(c);
  ASSERT_TRUE(model) << model.error();
  InferRequest req;
  req.inputs.push_back(sklearn_test::Input(c.x, c.rows, c.n_features));
  req.outputs.push_back(sklearn_test::Output("predict"));
  const bool proba = !c.proba.empty();
  if (proba) req.outputs.push_back(sklearn_test::Output("predict_proba"));
  auto resp = (*model)->Infer(req);
  ASSERT_TRUE(resp) << resp.error();
  ASSERT_EQ(resp->outputs.size(), proba ? 2u : 1u);
  const Tensor& pred = resp->outputs[0];
  EXPECT_EQ(pred.name, "predict");
  Closeness close;
  if (c.label_type == "int" || c.label_type == "bool") {
    ASSERT_EQ(pred.datatype, c.label_type == "int" ? DataType::kInt64 : DataType::kBool);
    ASSERT_EQ(pred.shape, std::vector<int64_t>({c.rows}));
    for (int64_t i = 0; i < c.rows; ++i) {
      const int64_t got = c.label_type == "int" ? pred.As<int64_t>()[i] : pred.As<uint8_t>()[i];
      EXPECT_EQ(got, c.int_labels[i]) << "row " << i;
    }
  } else if (c.label_type == "str") {
    ASSERT_EQ(pred.datatype, DataType::kBytes);
    EXPECT_EQ(pred.strings, c.str_labels);
  } else {
    ASSERT_EQ(pred.datatype, DataType::kFp64);
    const std::vector<int64_t> shape =
        c.targets_2d ? std::vector<int64_t>{c.rows, c.n_targets} : std::vector<int64_t>{c.rows};
    ASSERT_EQ(pred.shape, shape);
    ASSERT_EQ(static_cast<size_t>(pred.ElementCount()), c.values.size());
    for (size_t i = 0; i < c.values.size(); ++i) {
      if (c.classifier) {
        EXPECT_EQ(pred.As<double>()[i], c.values[i]) << "row " << i;  // float class labels
      } else {
        EXPECT_TRUE(Near(pred.As<double>()[i], c.values[i], close)) << "value " << i;
      }
    }
  }
  if (proba) {
    const Tensor& p = resp->outputs[1];
    EXPECT_EQ(p.name, "predict_proba");
    ASSERT_EQ(p.datatype, DataType::kFp64);
    ASSERT_EQ(p.shape.size(), 2u);
    ASSERT_EQ(p.shape[0], c.rows);
    ASSERT_EQ(static_cast<size_t>(p.ElementCount()), c.proba.size());
    for (size_t i = 0; i < c.proba.size(); ++i) {
      EXPECT_TRUE(Near(p.As<double>()[i], c.proba[i], close)) << "probability " << i;
    }
  }
  std::printf("  %-40s %4lld rows: %lld/%lld numbers bit-identical, max rel. diff %.2g\n",
              c.name.c_str(), static_cast<long long>(c.rows), static_cast<long long>(close.exact),
              static_cast<long long>(close.total), close.max_rel);
}

// Checks every case of `family`, which must be exactly `expected`.
void CheckFamily(const std::string& family, const std::set<std::string>& expected) {
  std::set<std::string> seen;
  for (const Case& c : Data().cases) {
    if (c.family != family) continue;
    seen.insert(c.name);
    CheckCase(c);
  }
  EXPECT_EQ(seen, expected) << "the training script and this test disagree on the cases";
}

TEST(SklearnParity, LinearModels) {
  CheckFamily("linear", {"logreg_binary",
                         "logreg_multinomial",
                         "logreg_ovr",
                         "logreg_multinomial_binary",
                         "logreg_10_classes",
                         "logreg_ovr_10_classes",
                         "linear_regression",
                         "ridge",
                         "ridge_3_targets",
                         "lasso",
                         "elastic_net",
                         "sgd_classifier_hinge",
                         "sgd_classifier_log",
                         "sgd_classifier_modified_huber",
                         "sgd_classifier_modified_huber_binary",
                         "sgd_regressor",
                         "linear_svc",
                         "linear_svc_binary",
                         "linear_svr",
                         "ridge_classifier",
                         "poisson_regressor"});
}

TEST(SklearnParity, TreesAndForests) {
  CheckFamily("trees",
              {"decision_tree_classifier", "decision_tree_regressor", "random_forest_classifier",
               "random_forest_regressor", "extra_trees_classifier", "extra_trees_regressor",
               "random_forest_weighted", "decision_tree_float32_boundaries"});
}

TEST(SklearnParity, GradientBoosting) {
  CheckFamily("boosting", {"gradient_boosting_binary", "gradient_boosting_multiclass",
                           "gradient_boosting_exponential", "gradient_boosting_init_zero",
                           "gradient_boosting_regressor", "gradient_boosting_huber"});
}

TEST(SklearnParity, HistGradientBoostingWithMissingValuesAndCategories) {
  CheckFamily("hist", {"hist_gradient_boosting_binary", "hist_gradient_boosting_multiclass",
                       "hist_gradient_boosting_regressor", "hist_gradient_boosting_poisson",
                       "hist_gradient_boosting_categorical", "hist_gradient_boosting_boundaries"});
}

TEST(SklearnParity, SupportVectorMachines) {
  CheckFamily("svm", {"svc_iris", "svc_proba", "svc_proba_binary", "svc_linear", "svc_poly",
                      "svc_sigmoid", "nu_svc", "svr", "nu_svr", "one_class_svm"});
}

TEST(SklearnParity, PipelinesWithEveryScalerAndImputer) {
  CheckFamily("pipeline", {"pipeline_standard", "pipeline_minmax_clip", "pipeline_minmax_range",
                           "pipeline_robust", "pipeline_maxabs", "pipeline_normalizer_l1",
                           "pipeline_normalizer_l2", "pipeline_normalizer_max", "pipeline_nested",
                           "pipeline_imputer_mean", "pipeline_imputer_median_forest",
                           "pipeline_imputer_constant"});
}

TEST(SklearnParity, ClassLabelsOfEveryType) {
  CheckFamily("labels", {"labels_str", "labels_str_forest", "labels_float", "labels_bool",
                         "labels_negative_int"});
}

TEST(SklearnParity, PairwiseSumMatchesNumpy) {
  ASSERT_FALSE(Data().pairwise.empty());
  for (const auto& [x, sum] : Data().pairwise) {
    EXPECT_EQ(sklearn::PairwiseSum(x.data(), static_cast<int64_t>(x.size())), sum)
        << "n = " << x.size();
  }
}

}  // namespace
}  // namespace skiff::serving
