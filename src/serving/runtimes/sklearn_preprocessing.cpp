// Pipeline steps in front of an estimator: scikit-learn's scalers, Normalizer and SimpleImputer,
// with the operations in the order their transform() methods apply them
// (sklearn/preprocessing/_data.py, sklearn/impute/_base.py).

#include <cmath>
#include <limits>
#include <optional>

#include "serving/runtimes/sklearn_internal.hpp"

namespace skiff::serving::sklearn {

namespace {

// StandardScaler (x - mean) / scale, RobustScaler (x - center) / scale, MaxAbsScaler x / scale.
class CenterScale : public Transformer {
 public:
  CenterScale(std::string name, std::optional<std::vector<double>> center,
              std::optional<std::vector<double>> scale)
      : name_(std::move(name)), center_(std::move(center)), scale_(std::move(scale)) {}

  std::string_view name() const override { return name_; }
  // Their transform() validates with force_all_finite="allow-nan".
  FinitePolicy policy() const override { return FinitePolicy::kAllowNan; }

  void Apply(double* x, int64_t n, int64_t f) const override {
    for (int64_t i = 0; i < n; ++i) {
      double* row = x + i * f;
      if (center_) {
        for (int64_t j = 0; j < f; ++j) row[j] -= (*center_)[j];
      }
      if (scale_) {
        for (int64_t j = 0; j < f; ++j) row[j] /= (*scale_)[j];
      }
    }
  }

 private:
  std::string name_;
  std::optional<std::vector<double>> center_;
  std::optional<std::vector<double>> scale_;
};

class MinMaxScaler : public Transformer {
 public:
  MinMaxScaler(std::vector<double> scale, std::vector<double> min, bool clip, double lo, double hi)
      : scale_(std::move(scale)), min_(std::move(min)), clip_(clip), lo_(lo), hi_(hi) {}

  std::string_view name() const override { return "MinMaxScaler"; }
  FinitePolicy policy() const override { return FinitePolicy::kAllowNan; }

  void Apply(double* x, int64_t n, int64_t f) const override {
    for (int64_t i = 0; i < n; ++i) {
      double* row = x + i * f;
      for (int64_t j = 0; j < f; ++j) {
        double v = row[j] * scale_[j];
        v += min_[j];
        if (clip_ && !std::isnan(v)) v = v < lo_ ? lo_ : (v > hi_ ? hi_ : v);  // np.clip
        row[j] = v;
      }
    }
  }

 private:
  std::vector<double> scale_, min_;
  bool clip_;
  double lo_, hi_;
};

// SimpleImputer: entries equal to missing_values (or NaN when that is NaN) become the feature's
// statistic. Only the shape-preserving forms are exported (no add_indicator, no dropped
// all-missing features).
class SimpleImputer : public Transformer {
 public:
  SimpleImputer(double missing, std::vector<double> statistics)
      : missing_(missing), statistics_(std::move(statistics)) {}

  std::string_view name() const override { return "SimpleImputer"; }
  // _validate_input: force_all_finite="allow-nan" when missing_values is NaN, else True.
  FinitePolicy policy() const override {
    return std::isnan(missing_) ? FinitePolicy::kAllowNan : FinitePolicy::kFinite;
  }

  void Apply(double* x, int64_t n, int64_t f) const override {
    const bool nan = std::isnan(missing_);
    for (int64_t i = 0; i < n; ++i) {
      double* row = x + i * f;
      for (int64_t j = 0; j < f; ++j) {
        if (nan ? std::isnan(row[j]) : row[j] == missing_) row[j] = statistics_[j];
      }
    }
  }

 private:
  double missing_;
  std::vector<double> statistics_;
};

class Normalizer : public Transformer {
 public:
  enum class Norm { kL1, kL2, kMax };
  explicit Normalizer(Norm norm) : norm_(norm) {}

  std::string_view name() const override { return "Normalizer"; }
  FinitePolicy policy() const override { return FinitePolicy::kFinite; }

  void Apply(double* x, int64_t n, int64_t f) const override {
    // _handle_zeros_in_scale: norms below 10 * eps count as zero and become 1.
    constexpr double kTiny = 10 * std::numeric_limits<double>::epsilon();
    for (int64_t i = 0; i < n; ++i) {
      double* row = x + i * f;
      double norm = 0;
      switch (norm_) {
        case Norm::kL1: {
          // np.abs(X).sum(axis=1), pairwise like numpy.
          double small[16];
          std::vector<double> large;
          double* a = small;
          if (f > 16) {
            large.resize(f);
            a = large.data();
          }
          for (int64_t j = 0; j < f; ++j) a[j] = std::fabs(row[j]);
          norm = PairwiseSum(a, f);
          break;
        }
        case Norm::kL2: {
          // row_norms: sqrt(einsum("ij,ij->i")); einsum's own summation order is SIMD-blocked,
          // a sequential sum agrees to the last bit or two.
          double s = 0;
          for (int64_t j = 0; j < f; ++j) s += row[j] * row[j];
          norm = std::sqrt(s);
          break;
        }
        case Norm::kMax: {
          norm = f > 0 ? std::fabs(row[0]) : 0;
          for (int64_t j = 1; j < f; ++j) norm = std::max(norm, std::fabs(row[j]));
          break;
        }
      }
      if (norm < kTiny) norm = 1.0;
      for (int64_t j = 0; j < f; ++j) row[j] /= norm;
    }
  }

 private:
  Norm norm_;
};

Result<std::optional<std::vector<double>>> OptionalF64s(const Reader& r, std::string_view key,
                                                        int64_t f) {
  if (r.IsNull(key)) return std::optional<std::vector<double>>();
  SKIFF_ASSIGN_OR_RETURN(std::vector<double> v, r.F64s(key, f));
  return std::optional<std::vector<double>>(std::move(v));
}

}  // namespace

Result<std::unique_ptr<Transformer>> ParseTransformer(const Reader& r, int64_t f) {
  SKIFF_ASSIGN_OR_RETURN(std::string type, r.String("type"));
  if (type == "StandardScaler" || type == "RobustScaler") {
    const char* center_key = type == "StandardScaler" ? "mean" : "center";
    SKIFF_ASSIGN_OR_RETURN(auto center, OptionalF64s(r, center_key, f));
    SKIFF_ASSIGN_OR_RETURN(auto scale, OptionalF64s(r, "scale", f));
    return std::unique_ptr<Transformer>(
        std::make_unique<CenterScale>(type, std::move(center), std::move(scale)));
  }
  if (type == "MaxAbsScaler") {
    SKIFF_ASSIGN_OR_RETURN(std::vector<double> scale, r.F64s("scale", f));
    return std::unique_ptr<Transformer>(
        std::make_unique<CenterScale>(type, std::nullopt, std::move(scale)));
  }
  if (type == "MinMaxScaler") {
    SKIFF_ASSIGN_OR_RETURN(std::vector<double> scale, r.F64s("scale", f));
    SKIFF_ASSIGN_OR_RETURN(std::vector<double> min, r.F64s("min", f));
    SKIFF_ASSIGN_OR_RETURN(bool clip, r.Bool("clip"));
    SKIFF_ASSIGN_OR_RETURN(std::vector<double> range, r.F64List("feature_range", 2));
    return std::unique_ptr<Transformer>(
        std::make_unique<MinMaxScaler>(std::move(scale), std::move(min), clip, range[0], range[1]));
  }
  if (type == "SimpleImputer") {
    SKIFF_ASSIGN_OR_RETURN(double missing, r.F64("missing_values"));
    SKIFF_ASSIGN_OR_RETURN(std::vector<double> statistics, r.F64s("statistics", f));
    return std::unique_ptr<Transformer>(
        std::make_unique<SimpleImputer>(missing, std::move(statistics)));
  }
  if (type == "Normalizer") {
    SKIFF_ASSIGN_OR_RETURN(std::string norm, r.String("norm"));
    Normalizer::Norm n;
    if (norm == "l1") {
      n = Normalizer::Norm::kL1;
    } else if (norm == "l2") {
      n = Normalizer::Norm::kL2;
    } else if (norm == "max") {
      n = Normalizer::Norm::kMax;
    } else {
      return r.Error("norm", "unknown norm \"" + norm + "\"");
    }
    return std::unique_ptr<Transformer>(std::make_unique<Normalizer>(n));
  }
  return r.Error("type", "unknown step \"" + type + "\"");
}

}  // namespace skiff::serving::sklearn
