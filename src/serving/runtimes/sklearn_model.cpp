// The skiff-sklearn file's top level: format and version, pipeline steps, the estimator's
// common fields and family dispatch, input checks, and the load-time probe checks.

#include "serving/runtimes/sklearn_model.hpp"

#include <cmath>

#include "core/json.hpp"
#include "serving/runtimes/sklearn_internal.hpp"

namespace skiff::serving::sklearn {

namespace {

Result<Labels> ParseLabels(const Reader& r) {
  SKIFF_ASSIGN_OR_RETURN(std::string type, r.String("type"));
  Labels labels;
  if (type == "float") {
    labels.type = Labels::Type::kFloat;
    SKIFF_ASSIGN_OR_RETURN(labels.floats, r.F64List("values", -1));
    return labels;
  }
  if (type == "int") {
    labels.type = Labels::Type::kInt;
    SKIFF_ASSIGN_OR_RETURN(labels.ints, r.Ints("values", -1, INT64_MIN, INT64_MAX));
    return labels;
  }
  SKIFF_ASSIGN_OR_RETURN(const json::array* values, r.Array("values"));
  if (type == "str") {
    labels.type = Labels::Type::kString;
    for (const json::value& v : *values) {
      if (!v.is_string()) return r.Error("values", "expected strings");
      labels.strings.emplace_back(v.get_string());
    }
  } else if (type == "bool") {
    labels.type = Labels::Type::kBool;
    for (const json::value& v : *values) {
      if (!v.is_bool()) return r.Error("values", "expected booleans");
      labels.ints.push_back(v.get_bool() ? 1 : 0);
    }
  } else {
    return r.Error("type", "unknown label type \"" + type + "\"");
  }
  return labels;
}

bool Close(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  if (a == b) return true;
  const double d = std::fabs(a - b);
  return d <= 1e-12 || d <= 1e-9 * std::max(std::fabs(a), std::fabs(b));
}

}  // namespace

SklearnModel::~SklearnModel() = default;

bool SklearnModel::has_proba() const {
  return task_ == Task::kClassifier && estimator_->has_proba();
}

int64_t SklearnModel::complexity() const {
  return estimator_->complexity() + static_cast<int64_t>(steps_.size()) * n_features_;
}

Status SklearnModel::Transform(double* x, int64_t n) const {
  for (const auto& step : steps_) {
    SKIFF_RETURN_IF_ERROR(CheckFinite(x, n, n_features_, step->policy(), step->name()));
    step->Apply(x, n, n_features_);
  }
  return CheckFinite(x, n, n_features_, estimator_->policy(), estimator_type_);
}

void SklearnModel::PredictClasses(const double* x, int64_t n, int64_t* out) const {
  SKIFF_CHECK(task_ == Task::kClassifier);
  estimator_->PredictClasses(x, n, out);
}

void SklearnModel::PredictProba(const double* x, int64_t n, double* out) const {
  SKIFF_CHECK(has_proba());
  estimator_->PredictProba(x, n, out);
}

void SklearnModel::PredictValues(const double* x, int64_t n, double* out) const {
  SKIFF_CHECK(task_ == Task::kRegressor);
  estimator_->PredictValues(x, n, out);
}

Status SklearnModel::Verify() const {
  if (check_rows_ == 0) return Status::Ok();
  const std::string fallback = "; it will be served by the Python worker runtime instead";
  auto mismatch = [&](int64_t row, const std::string& what) {
    return FailedPrecondition("the native evaluator for " + description_ +
                              " differs from scikit-learn on probe row " + std::to_string(row) +
                              " (" + what + ")" + fallback);
  };
  std::vector<double> x = check_x_;
  Status s = Transform(x.data(), check_rows_);
  if (!s.ok()) {
    return FailedPrecondition("the native evaluator for " + description_ +
                              " refused a probe row scikit-learn accepted (" + s.message() + ")" +
                              fallback);
  }
  if (task_ == Task::kClassifier) {
    std::vector<int64_t> classes(check_rows_);
    PredictClasses(x.data(), check_rows_, classes.data());
    for (int64_t i = 0; i < check_rows_; ++i) {
      if (classes[i] != check_classes_[i]) {
        return mismatch(i, "class index " + std::to_string(classes[i]) + ", scikit-learn " +
                               std::to_string(check_classes_[i]));
      }
    }
    if (!check_proba_.empty()) {
      std::vector<double> proba(check_rows_ * n_classes());
      PredictProba(x.data(), check_rows_, proba.data());
      for (size_t i = 0; i < proba.size(); ++i) {
        if (!Close(proba[i], check_proba_[i])) {
          return mismatch(static_cast<int64_t>(i) / n_classes(),
                          "probability " + FormatJsonNumber(proba[i]) + ", scikit-learn " +
                              FormatJsonNumber(check_proba_[i]));
        }
      }
    }
    return Status::Ok();
  }
  std::vector<double> values(check_rows_ * n_targets_);
  PredictValues(x.data(), check_rows_, values.data());
  for (size_t i = 0; i < values.size(); ++i) {
    if (!Close(values[i], check_values_[i])) {
      return mismatch(static_cast<int64_t>(i) / n_targets_, "value " + FormatJsonNumber(values[i]) +
                                                                ", scikit-learn " +
                                                                FormatJsonNumber(check_values_[i]));
    }
  }
  return Status::Ok();
}

Result<std::unique_ptr<SklearnModel>> SklearnModel::Parse(std::string_view text) {
  auto root = ParseJsonObject(text);
  if (!root) {
    return InvalidArgument("invalid skiff-sklearn model file: " + root.error().message());
  }
  const Reader top(*root, "");
  auto format = top.String("format");
  if (!format || *format != kFormatName) {
    return InvalidArgument("not a skiff-sklearn model file (format is not \"skiff-sklearn\")");
  }
  SKIFF_ASSIGN_OR_RETURN(int64_t version, top.Int("version", 0, INT32_MAX));
  if (version != kFormatVersion) {
    return InvalidArgument("skiff-sklearn model file version " + std::to_string(version) +
                           "; this skiff reads version " + std::to_string(kFormatVersion));
  }
  std::unique_ptr<SklearnModel> m(new SklearnModel());
  SKIFF_ASSIGN_OR_RETURN(m->n_features_, top.Int("n_features", 1, 1 << 24));
  const int64_t f = m->n_features_;
  if (top.Has("description")) {
    SKIFF_ASSIGN_OR_RETURN(m->description_, top.String("description"));
  }
  if (const json::value* w = root->if_contains("warnings"); w != nullptr && w->is_array()) {
    for (const json::value& e : w->get_array()) {
      if (e.is_string()) m->warnings_.emplace_back(e.get_string());
    }
  }
  SKIFF_ASSIGN_OR_RETURN(std::vector<Reader> steps, top.Objects("steps"));
  for (const Reader& sr : steps) {
    SKIFF_ASSIGN_OR_RETURN(auto step, ParseTransformer(sr, f));
    m->steps_.push_back(std::move(step));
  }

  SKIFF_ASSIGN_OR_RETURN(Reader er, top.Object("estimator"));
  EstimatorShape shape;
  shape.n_features = f;
  SKIFF_ASSIGN_OR_RETURN(shape.type, er.String("type"));
  m->estimator_type_ = shape.type;
  if (m->description_.empty()) m->description_ = shape.type;
  SKIFF_ASSIGN_OR_RETURN(std::string task, er.String("task"));
  if (task == "classifier") {
    m->task_ = Task::kClassifier;
    SKIFF_ASSIGN_OR_RETURN(Reader lr, er.Object("classes"));
    SKIFF_ASSIGN_OR_RETURN(m->classes_, ParseLabels(lr));
    if (m->classes_.size() < 1) return er.Error("classes", "no classes");
    shape.n_classes = static_cast<int64_t>(m->classes_.size());
    SKIFF_ASSIGN_OR_RETURN(shape.has_proba, er.Bool("has_proba"));
  } else if (task == "regressor") {
    m->task_ = Task::kRegressor;
    SKIFF_ASSIGN_OR_RETURN(m->n_targets_, er.Int("n_outputs", 1, 1 << 20));
    SKIFF_ASSIGN_OR_RETURN(m->targets_2d_, er.Bool("outputs_2d"));
    shape.n_targets = m->n_targets_;
  } else {
    return er.Error("task", "unknown task \"" + task + "\"");
  }
  shape.task = m->task_;
  SKIFF_ASSIGN_OR_RETURN(std::string family, er.String("family"));
  if (family == "linear") {
    SKIFF_ASSIGN_OR_RETURN(m->estimator_, ParseLinear(er, shape));
  } else if (family == "tree" || family == "forest") {
    SKIFF_ASSIGN_OR_RETURN(m->estimator_, ParseTrees(er, shape, family));
  } else if (family == "gradient_boosting") {
    SKIFF_ASSIGN_OR_RETURN(m->estimator_, ParseGradientBoosting(er, shape));
  } else if (family == "hist_gradient_boosting") {
    SKIFF_ASSIGN_OR_RETURN(m->estimator_, ParseHistGradientBoosting(er, shape));
  } else if (family == "svm") {
    SKIFF_ASSIGN_OR_RETURN(m->estimator_, ParseSvm(er, shape));
  } else {
    return er.Error("family", "unknown family \"" + family + "\"");
  }

  if (!top.IsNull("checks")) {
    SKIFF_ASSIGN_OR_RETURN(Reader cr, top.Object("checks"));
    SKIFF_ASSIGN_OR_RETURN(int64_t rows, cr.Int("rows", 0, 1 << 16));
    SKIFF_ASSIGN_OR_RETURN(m->check_x_, cr.F64s("x", rows * f));
    if (m->task_ == Task::kClassifier) {
      SKIFF_ASSIGN_OR_RETURN(m->check_classes_, cr.Ints("predict", rows, 0, shape.n_classes - 1));
      if (!cr.IsNull("proba") && m->has_proba()) {
        SKIFF_ASSIGN_OR_RETURN(m->check_proba_, cr.F64s("proba", rows * shape.n_classes));
      }
    } else {
      SKIFF_ASSIGN_OR_RETURN(m->check_values_, cr.F64s("predict", rows * m->n_targets_));
    }
    m->check_rows_ = rows;
  }
  return m;
}

}  // namespace skiff::serving::sklearn
