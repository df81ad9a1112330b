// Linear models: scores = X @ coef_.T + intercept_ (sklearn/linear_model/_base.py), then the
// classifier's decision rule and predict_proba, or the regressor's inverse link.

#include <algorithm>
#include <cmath>

#include "serving/runtimes/sklearn_internal.hpp"

namespace skiff::serving::sklearn {

namespace {

enum class Proba { kNone, kLogisticOvr, kSoftmax, kModifiedHuber };
enum class Link { kIdentity, kLog };

class Linear : public Estimator {
 public:
  Linear(int64_t f, int64_t n_out, std::vector<double> coef, std::vector<double> intercept,
         Proba proba, Link link, int64_t n_classes)
      : f_(f),
        n_out_(n_out),
        coef_(std::move(coef)),
        intercept_(std::move(intercept)),
        proba_(proba),
        link_(link),
        n_classes_(n_classes) {}

  FinitePolicy policy() const override { return FinitePolicy::kFinite; }
  bool has_proba() const override { return proba_ != Proba::kNone; }
  int64_t complexity() const override { return n_out_ * f_; }

  void PredictClasses(const double* x, int64_t n, int64_t* out) const override {
    std::vector<double> s(n_out_);
    for (int64_t i = 0; i < n; ++i) {
      Scores(x + i * f_, s.data());
      // LinearClassifierMixin.predict: binary scores > 0, else argmax.
      out[i] = n_out_ == 1 ? (s[0] > 0 ? 1 : 0) : Argmax(s.data(), n_out_);
    }
  }

  void PredictProba(const double* x, int64_t n, double* out) const override {
    const int64_t k = n_classes_;
    std::vector<double> s(std::max<int64_t>(n_out_, 2));
    for (int64_t i = 0; i < n; ++i) {
      Scores(x + i * f_, s.data());
      double* p = out + i * k;
      switch (proba_) {
        case Proba::kLogisticOvr:  // LinearClassifierMixin._predict_proba_lr
          if (n_out_ == 1) {
            p[1] = Expit(s[0]);
            p[0] = 1 - p[1];
          } else {
            for (int64_t c = 0; c < k; ++c) p[c] = Expit(s[c]);
            const double sum = PairwiseSum(p, k);
            for (int64_t c = 0; c < k; ++c) p[c] /= sum;
          }
          break;
        case Proba::kSoftmax:  // LogisticRegression, multinomial
          if (n_out_ == 1) {
            p[0] = -s[0];
            p[1] = s[0];
          } else {
            std::copy(s.begin(), s.begin() + k, p);
          }
          SoftmaxInPlace(p, k);
          break;
        case Proba::kModifiedHuber:  // SGDClassifier(loss="modified_huber")
          if (n_out_ == 1) {
            p[1] = (std::clamp(s[0], -1.0, 1.0) + 1.0) / 2.0;
            p[0] = 1 - p[1];
          } else {
            for (int64_t c = 0; c < k; ++c) p[c] = (std::clamp(s[c], -1.0, 1.0) + 1.0) / 2.0;
            double sum = PairwiseSum(p, k);
            if (sum == 0) {
              for (int64_t c = 0; c < k; ++c) p[c] = 1;
              sum = static_cast<double>(k);
            }
            for (int64_t c = 0; c < k; ++c) p[c] /= sum;
          }
          break;
        case Proba::kNone:
          SKIFF_CHECK(false);
      }
    }
  }

  void PredictValues(const double* x, int64_t n, double* out) const override {
    for (int64_t i = 0; i < n; ++i) {
      double* o = out + i * n_out_;
      Scores(x + i * f_, o);
      if (link_ == Link::kLog) {
        for (int64_t t = 0; t < n_out_; ++t) o[t] = std::exp(o[t]);
      }
    }
  }

 private:
  void Scores(const double* row, double* s) const {
    for (int64_t o = 0; o < n_out_; ++o) {
      const double* w = coef_.data() + o * f_;
      double acc = 0;
      for (int64_t j = 0; j < f_; ++j) acc += row[j] * w[j];
      s[o] = acc + intercept_[o];
    }
  }

  int64_t f_, n_out_;
  std::vector<double> coef_, intercept_;
  Proba proba_;
  Link link_;
  int64_t n_classes_;
};

}  // namespace

Result<std::unique_ptr<Estimator>> ParseLinear(const Reader& r, const EstimatorShape& shape) {
  const int64_t f = shape.n_features;
  const bool classifier = shape.task == SklearnModel::Task::kClassifier;
  SKIFF_ASSIGN_OR_RETURN(int64_t n_out, r.Int("n_outputs", 1, 1 << 20));
  SKIFF_ASSIGN_OR_RETURN(std::vector<double> coef, r.F64s("coef", n_out * f));
  SKIFF_ASSIGN_OR_RETURN(std::vector<double> intercept, r.F64s("intercept", n_out));
  Proba proba = Proba::kNone;
  Link link = Link::kIdentity;
  if (classifier) {
    if (shape.n_classes < 2 ||
        (!(n_out == 1 && shape.n_classes == 2) && n_out != shape.n_classes)) {
      return r.Error("n_outputs", std::to_string(n_out) + " score rows for " +
                                      std::to_string(shape.n_classes) + " classes");
    }
    if (!r.IsNull("proba")) {
      SKIFF_ASSIGN_OR_RETURN(std::string p, r.String("proba"));
      if (p == "logistic_ovr") {
        proba = Proba::kLogisticOvr;
      } else if (p == "softmax") {
        proba = Proba::kSoftmax;
      } else if (p == "modified_huber") {
        proba = Proba::kModifiedHuber;
      } else {
        return r.Error("proba", "unknown method \"" + p + "\"");
      }
    }
    if ((proba != Proba::kNone) != shape.has_proba) {
      return r.Error("proba", "disagrees with has_proba");
    }
  } else {
    if (n_out != shape.n_targets) return r.Error("n_outputs", "disagrees with the targets");
    SKIFF_ASSIGN_OR_RETURN(std::string l, r.String("link"));
    if (l == "log") {
      link = Link::kLog;
    } else if (l != "identity") {
      return r.Error("link", "unknown link \"" + l + "\"");
    }
  }
  return std::unique_ptr<Estimator>(std::make_unique<Linear>(
      f, n_out, std::move(coef), std::move(intercept), proba, link, shape.n_classes));
}

}  // namespace skiff::serving::sklearn
