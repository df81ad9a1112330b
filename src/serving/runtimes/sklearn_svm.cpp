// SVC, NuSVC, SVR, NuSVR and OneClassSVM, evaluated as scikit-learn's bundled libsvm does
// (sklearn/svm/src/libsvm/svm.cpp: Kernel::k_function, svm_predict_values with one-vs-one
// votes, svm_predict_probability with Platt scaling and Wu-Lin-Weng's pairwise coupling). The
// support vectors are grouped by class in class order, as scikit-learn's libsvm sorts labels.
//
// libsvm computes dot products with BLAS (ddot), whose summation order may differ from the
// sequential sums here in the last bits; everything else follows libsvm's order of operations.

#include <algorithm>
#include <cmath>

#include "serving/runtimes/sklearn_internal.hpp"

namespace skiff::serving::sklearn {

namespace {

enum class SvmType { kCSvc, kNuSvc, kEpsilonSvr, kNuSvr, kOneClass };
enum class Kernel { kLinear, kPoly, kRbf, kSigmoid };

// libsvm's powi: exponentiation by squaring, in this exact order.
double Powi(double base, int times) {
  double tmp = base, ret = 1.0;
  for (int t = times; t > 0; t /= 2) {
    if (t % 2 == 1) ret *= tmp;
    tmp = tmp * tmp;
  }
  return ret;
}

double SigmoidPredict(double decision_value, double a, double b) {
  const double fApB = decision_value * a + b;
  // 1-p used later; avoid catastrophic cancellation (libsvm's comment).
  if (fApB >= 0) return std::exp(-fApB) / (1.0 + std::exp(-fApB));
  return 1.0 / (1 + std::exp(fApB));
}

// libsvm's multiclass_probability (method 2 of Wu, Lin and Weng). `r` is k x k row-major.
void MulticlassProbability(int k, const double* r, double* p, double* q, double* qp) {
  const int max_iter = std::max(100, k);
  const double eps = 0.005 / k;
  for (int t = 0; t < k; ++t) {
    p[t] = 1.0 / k;
    q[t * k + t] = 0;
    for (int j = 0; j < t; ++j) {
      q[t * k + t] += r[j * k + t] * r[j * k + t];
      q[t * k + j] = q[j * k + t];
    }
    for (int j = t + 1; j < k; ++j) {
      q[t * k + t] += r[j * k + t] * r[j * k + t];
      q[t * k + j] = -r[j * k + t] * r[t * k + j];
    }
  }
  for (int iter = 0; iter < max_iter; ++iter) {
    double pqp = 0;
    for (int t = 0; t < k; ++t) {
      qp[t] = 0;
      for (int j = 0; j < k; ++j) qp[t] += q[t * k + j] * p[j];
      pqp += p[t] * qp[t];
    }
    double max_error = 0;
    for (int t = 0; t < k; ++t) {
      const double error = std::fabs(qp[t] - pqp);
      if (error > max_error) max_error = error;
    }
    if (max_error < eps) break;
    for (int t = 0; t < k; ++t) {
      const double diff = (-qp[t] + pqp) / q[t * k + t];
      p[t] += diff;
      pqp = (pqp + diff * (diff * q[t * k + t] + 2 * qp[t])) / (1 + diff) / (1 + diff);
      for (int j = 0; j < k; ++j) {
        qp[j] = (qp[j] + diff * q[t * k + j]) / (1 + diff);
        p[j] /= (1 + diff);
      }
    }
  }
}

class Svm : public Estimator {
 public:
  Svm(int64_t f, SvmType type, Kernel kernel, double gamma, double coef0, int degree, int64_t n_sv,
      std::vector<int64_t> n_support, std::vector<double> sv, std::vector<double> coef,
      std::vector<double> intercept, std::vector<double> prob_a, std::vector<double> prob_b)
      : f_(f),
        type_(type),
        kernel_(kernel),
        gamma_(gamma),
        coef0_(coef0),
        degree_(degree),
        l_(n_sv),
        n_support_(std::move(n_support)),
        sv_(std::move(sv)),
        coef_(std::move(coef)),
        prob_a_(std::move(prob_a)),
        prob_b_(std::move(prob_b)) {
    // scikit-learn hands libsvm rho = -intercept_ (libsvm_helper.c, set_model).
    rho_.reserve(intercept.size());
    for (double v : intercept) rho_.push_back(-v);
    start_.resize(n_support_.size());
    for (size_t i = 1; i < n_support_.size(); ++i) start_[i] = start_[i - 1] + n_support_[i - 1];
  }

  FinitePolicy policy() const override { return FinitePolicy::kFinite; }
  bool has_proba() const override { return !prob_a_.empty(); }
  int64_t complexity() const override { return l_ * f_; }

  void PredictClasses(const double* x, int64_t n, int64_t* out) const override {
    std::vector<double> kvalue(l_), dec(Pairs());
    std::vector<int> vote(n_support_.size());
    for (int64_t i = 0; i < n; ++i) {
      const double* row = x + i * f_;
      if (type_ == SvmType::kOneClass) {
        out[i] = Regression(row) > 0 ? 1 : 0;  // classes [-1, 1]
        continue;
      }
      out[i] = Decide(row, kvalue.data(), dec.data(), vote.data());
    }
  }

  void PredictProba(const double* x, int64_t n, double* out) const override {
    const int k = static_cast<int>(n_support_.size());
    std::vector<double> kvalue(l_), dec(Pairs());
    std::vector<int> vote(k);
    std::vector<double> pairwise(k * k), q(k * k), qp(k);
    constexpr double kMinProb = 1e-7;
    for (int64_t i = 0; i < n; ++i) {
      Decide(x + i * f_, kvalue.data(), dec.data(), vote.data());
      int p = 0;
      for (int a = 0; a < k; ++a) {
        for (int b = a + 1; b < k; ++b, ++p) {
          // min(max(sigmoid, min_prob), 1 - min_prob) with libsvm's min/max.
          double s = SigmoidPredict(dec[p], prob_a_[p], prob_b_[p]);
          s = s > kMinProb ? s : kMinProb;
          s = s < 1 - kMinProb ? s : 1 - kMinProb;
          pairwise[a * k + b] = s;
          pairwise[b * k + a] = 1 - s;
        }
      }
      MulticlassProbability(k, pairwise.data(), out + i * k, q.data(), qp.data());
    }
  }

  void PredictValues(const double* x, int64_t n, double* out) const override {
    for (int64_t i = 0; i < n; ++i) out[i] = Regression(x + i * f_);
  }

 private:
  size_t Pairs() const { return n_support_.size() * (n_support_.size() - 1) / 2; }

  double Dot(const double* a, const double* b) const {
    double sum = 0;
    for (int64_t j = 0; j < f_; ++j) sum += a[j] * b[j];
    return sum;
  }

  double K(const double* x, const double* sv) const {
    switch (kernel_) {
      case Kernel::kLinear:
        return Dot(x, sv);
      case Kernel::kPoly:
        return Powi(gamma_ * Dot(x, sv) + coef0_, degree_);
      case Kernel::kRbf: {
        double sum = 0;
        for (int64_t j = 0; j < f_; ++j) {
          const double d = x[j] - sv[j];
          sum += d * d;
        }
        return std::exp(-gamma_ * sum);
      }
      case Kernel::kSigmoid:
        return std::tanh(gamma_ * Dot(x, sv) + coef0_);
    }
    return 0;
  }

  // svm_predict_values for one-vs-one classification: returns the class index with most votes.
  int64_t Decide(const double* row, double* kvalue, double* dec, int* vote) const {
    for (int64_t s = 0; s < l_; ++s) kvalue[s] = K(row, sv_.data() + s * f_);
    const int64_t k = static_cast<int64_t>(n_support_.size());
    for (int64_t c = 0; c < k; ++c) vote[c] = 0;
    int64_t p = 0;
    for (int64_t i = 0; i < k; ++i) {
      for (int64_t j = i + 1; j < k; ++j, ++p) {
        double sum = 0;
        const int64_t si = start_[i], sj = start_[j];
        const double* coef1 = coef_.data() + (j - 1) * l_;
        const double* coef2 = coef_.data() + i * l_;
        for (int64_t m = 0; m < n_support_[i]; ++m) sum += coef1[si + m] * kvalue[si + m];
        for (int64_t m = 0; m < n_support_[j]; ++m) sum += coef2[sj + m] * kvalue[sj + m];
        sum -= rho_[p];
        dec[p] = sum;
        if (dec[p] > 0) {
          ++vote[i];
        } else {
          ++vote[j];
        }
      }
    }
    int64_t best = 0;
    for (int64_t c = 1; c < k; ++c) {
      if (vote[c] > vote[best]) best = c;
    }
    return best;
  }

  // svm_predict_values for SVR and one-class SVM.
  double Regression(const double* row) const {
    double sum = 0;
    for (int64_t s = 0; s < l_; ++s) sum += coef_[s] * K(row, sv_.data() + s * f_);
    sum -= rho_[0];
    return sum;
  }

  int64_t f_;
  SvmType type_;
  Kernel kernel_;
  double gamma_, coef0_;
  int degree_;
  int64_t l_;
  std::vector<int64_t> n_support_, start_;
  std::vector<double> sv_, coef_, rho_, prob_a_, prob_b_;
};

}  // namespace

Result<std::unique_ptr<Estimator>> ParseSvm(const Reader& r, const EstimatorShape& shape) {
  const int64_t f = shape.n_features;
  SKIFF_ASSIGN_OR_RETURN(std::string type_name, r.String("svm_type"));
  SKIFF_ASSIGN_OR_RETURN(std::string kernel_name, r.String("kernel"));
  SKIFF_ASSIGN_OR_RETURN(double gamma, r.F64("gamma"));
  SKIFF_ASSIGN_OR_RETURN(double coef0, r.F64("coef0"));
  SKIFF_ASSIGN_OR_RETURN(int64_t degree, r.Int("degree", 0, 1 << 20));
  SKIFF_ASSIGN_OR_RETURN(int64_t l, r.Int("n_sv", 0, int64_t{1} << 40));
  SKIFF_ASSIGN_OR_RETURN(std::vector<double> sv, r.F64s("support_vectors", l * f));
  SvmType type;
  if (type_name == "c_svc") {
    type = SvmType::kCSvc;
  } else if (type_name == "nu_svc") {
    type = SvmType::kNuSvc;
  } else if (type_name == "epsilon_svr") {
    type = SvmType::kEpsilonSvr;
  } else if (type_name == "nu_svr") {
    type = SvmType::kNuSvr;
  } else if (type_name == "one_class") {
    type = SvmType::kOneClass;
  } else {
    return r.Error("svm_type", "unknown type \"" + type_name + "\"");
  }
  Kernel kernel;
  if (kernel_name == "linear") {
    kernel = Kernel::kLinear;
  } else if (kernel_name == "poly") {
    kernel = Kernel::kPoly;
  } else if (kernel_name == "rbf") {
    kernel = Kernel::kRbf;
  } else if (kernel_name == "sigmoid") {
    kernel = Kernel::kSigmoid;
  } else {
    return r.Error("kernel", "unknown kernel \"" + kernel_name + "\"");
  }
  const bool svc = type == SvmType::kCSvc || type == SvmType::kNuSvc;
  const bool classifier = shape.task == SklearnModel::Task::kClassifier;
  if (svc != (classifier && type != SvmType::kOneClass) ||
      (type == SvmType::kOneClass && !(classifier && shape.n_classes == 2)) ||
      (!classifier && shape.n_targets != 1)) {
    return r.Error("svm_type", "\"" + type_name + "\" does not fit this estimator");
  }
  std::vector<int64_t> n_support;
  std::vector<double> coef, intercept, prob_a, prob_b;
  if (svc) {
    const int64_t k = shape.n_classes;
    SKIFF_ASSIGN_OR_RETURN(n_support, r.Ints("n_support", k, 0, l));
    int64_t total = 0;
    for (int64_t c : n_support) total += c;
    if (total != l) return r.Error("n_support", "does not add up to n_sv");
    SKIFF_ASSIGN_OR_RETURN(coef, r.F64s("dual_coef", (k - 1) * l));
    SKIFF_ASSIGN_OR_RETURN(intercept, r.F64s("intercept", k * (k - 1) / 2));
    if (!r.IsNull("prob_a")) {
      SKIFF_ASSIGN_OR_RETURN(prob_a, r.F64s("prob_a", k * (k - 1) / 2));
      SKIFF_ASSIGN_OR_RETURN(prob_b, r.F64s("prob_b", k * (k - 1) / 2));
    }
  } else {
    n_support = {0, 0};
    SKIFF_ASSIGN_OR_RETURN(coef, r.F64s("dual_coef", l));
    SKIFF_ASSIGN_OR_RETURN(intercept, r.F64s("intercept", 1));
  }
  if (classifier && shape.has_proba != !prob_a.empty()) {
    return r.Error("prob_a", "disagrees with has_proba");
  }
  return std::unique_ptr<Estimator>(std::make_unique<Svm>(
      f, type, kernel, gamma, coef0, static_cast<int>(degree), l, std::move(n_support),
      std::move(sv), std::move(coef), std::move(intercept), std::move(prob_a), std::move(prob_b)));
}

}  // namespace skiff::serving::sklearn
