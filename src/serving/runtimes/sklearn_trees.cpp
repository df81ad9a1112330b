// Decision trees, random forests / extra trees and gradient boosting, evaluated as scikit-learn
// 1.2 does: features cast to float32 and compared with `<=` against the float64 threshold
// (sklearn/tree/_tree.pyx, ensemble/_gradient_boosting.pyx), per-tree probabilities normalized
// and then averaged in tree order (ensemble/_forest.py), boosting stages added as
// raw += learning_rate * leaf (predict_stages) and mapped through the loss's link
// (ensemble/_gb_losses.py).

#include <cmath>
#include <limits>

#include "serving/runtimes/sklearn_internal.hpp"

namespace skiff::serving::sklearn {

namespace {

struct Node {
  int32_t left;  // -1 for a leaf
  int32_t right;
  int32_t feature;
  double threshold;
};

// One sklearn.tree._tree.Tree with `width` values per node.
struct Tree {
  std::vector<Node> nodes;
  std::vector<double> value;
  int64_t width = 1;

  // `row` holds the float32-cast features, as the Cython code reads them.
  const double* Leaf(const float* row) const {
    const Node* base = nodes.data();
    const Node* node = base;
    while (node->left != -1) {
      node = base + (static_cast<double>(row[node->feature]) <= node->threshold ? node->left
                                                                                : node->right);
    }
    return value.data() + (node - base) * width;
  }
};

Result<Tree> ParseTree(const Reader& r, int64_t f, int64_t width) {
  constexpr int64_t kMaxNodes = std::numeric_limits<int32_t>::max();
  SKIFF_ASSIGN_OR_RETURN(int64_t n, r.Int("n_nodes", 1, kMaxNodes));
  SKIFF_ASSIGN_OR_RETURN(std::vector<int64_t> left, r.Ints("left", n, -1, n - 1));
  SKIFF_ASSIGN_OR_RETURN(std::vector<int64_t> right, r.Ints("right", n, -1, n - 1));
  SKIFF_ASSIGN_OR_RETURN(std::vector<int64_t> feature, r.Ints("feature", n, -2, f - 1));
  SKIFF_ASSIGN_OR_RETURN(std::vector<double> threshold, r.F64s("threshold", n));
  Tree t;
  SKIFF_ASSIGN_OR_RETURN(t.value, r.F64s("value", n * width));
  t.width = width;
  t.nodes.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    const bool leaf = left[i] == -1;
    if (leaf != (right[i] == -1))
      return r.Error("left", "node " + std::to_string(i) + " is half a leaf");
    // Children come after their parent in scikit-learn's depth-first layout; requiring it here
    // also rules out cycles in a damaged file.
    if (!leaf && (left[i] <= i || right[i] <= i || feature[i] < 0)) {
      return r.Error("left", "node " + std::to_string(i) + " has invalid children or feature");
    }
    t.nodes[i] = Node{static_cast<int32_t>(left[i]), static_cast<int32_t>(right[i]),
                      static_cast<int32_t>(leaf ? 0 : feature[i]), threshold[i]};
  }
  return t;
}

Result<std::vector<Tree>> ParseTreeList(const Reader& r, int64_t f, int64_t width) {
  SKIFF_ASSIGN_OR_RETURN(std::vector<Reader> rs, r.Objects("trees"));
  std::vector<Tree> trees;
  trees.reserve(rs.size());
  for (const Reader& tr : rs) {
    SKIFF_ASSIGN_OR_RETURN(Tree t, ParseTree(tr, f, width));
    trees.push_back(std::move(t));
  }
  return trees;
}

int64_t CountNodes(const std::vector<Tree>& trees) {
  int64_t n = 0;
  for (const Tree& t : trees) n += static_cast<int64_t>(t.nodes.size());
  return n;
}

// A row cast to float32, as `X.astype(np.float32)` does in _validate_X_predict.
class Float32Row {
 public:
  explicit Float32Row(int64_t f) : buf_(f) {}
  const float* Cast(const double* row) {
    for (size_t j = 0; j < buf_.size(); ++j) buf_[j] = static_cast<float>(row[j]);
    return buf_.data();
  }

 private:
  std::vector<float> buf_;
};

// DecisionTree*/ExtraTree* (one tree) and RandomForest*/ExtraTrees* (averaged trees).
class TreeEnsemble : public Estimator {
 public:
  TreeEnsemble(int64_t f, bool classifier, bool forest, int64_t width, std::vector<Tree> trees)
      : f_(f), classifier_(classifier), forest_(forest), width_(width), trees_(std::move(trees)) {}

  FinitePolicy policy() const override { return FinitePolicy::kFiniteFloat32; }
  bool has_proba() const override { return classifier_; }
  int64_t complexity() const override { return CountNodes(trees_); }

  void PredictClasses(const double* x, int64_t n, int64_t* out) const override {
    Float32Row row(f_);
    std::vector<double> p(width_);
    for (int64_t i = 0; i < n; ++i) {
      const float* r = row.Cast(x + i * f_);
      if (forest_) {
        Proba(r, p.data());
        out[i] = Argmax(p.data(), width_);
      } else {
        // DecisionTreeClassifier.predict: argmax of the leaf's weighted counts.
        out[i] = Argmax(trees_[0].Leaf(r), width_);
      }
    }
  }

  void PredictProba(const double* x, int64_t n, double* out) const override {
    Float32Row row(f_);
    for (int64_t i = 0; i < n; ++i) Proba(row.Cast(x + i * f_), out + i * width_);
  }

  void PredictValues(const double* x, int64_t n, double* out) const override {
    Float32Row row(f_);
    for (int64_t i = 0; i < n; ++i) {
      const float* r = row.Cast(x + i * f_);
      if (!forest_) {
        out[i] = trees_[0].Leaf(r)[0];
        continue;
      }
      double acc = 0;
      for (const Tree& t : trees_) acc += t.Leaf(r)[0];
      out[i] = acc / static_cast<double>(trees_.size());
    }
  }

 private:
  // DecisionTreeClassifier.predict_proba per tree (counts / their sum, a zero sum left as 1),
  // and for forests the sum over trees in order divided by the number of trees.
  void Proba(const float* r, double* p) const {
    const int64_t k = width_;
    if (!forest_) {
      const double* v = trees_[0].Leaf(r);
      double norm = PairwiseSum(v, k);
      if (norm == 0.0) norm = 1.0;
      for (int64_t c = 0; c < k; ++c) p[c] = v[c] / norm;
      return;
    }
    for (int64_t c = 0; c < k; ++c) p[c] = 0;
    for (const Tree& t : trees_) {
      const double* v = t.Leaf(r);
      double norm = PairwiseSum(v, k);
      if (norm == 0.0) norm = 1.0;
      for (int64_t c = 0; c < k; ++c) p[c] += v[c] / norm;
    }
    const double n_trees = static_cast<double>(trees_.size());
    for (int64_t c = 0; c < k; ++c) p[c] /= n_trees;
  }

  int64_t f_;
  bool classifier_, forest_;
  int64_t width_;
  std::vector<Tree> trees_;
};

enum class GbLoss { kIdentity, kBinomial, kMultinomial, kExponential };

class GradientBoosting : public Estimator {
 public:
  GradientBoosting(int64_t f, GbLoss loss, int64_t k, int64_t n_stages, double learning_rate,
                   std::vector<double> init, std::vector<Tree> trees)
      : f_(f),
        loss_(loss),
        k_(k),
        n_stages_(n_stages),
        learning_rate_(learning_rate),
        init_(std::move(init)),
        trees_(std::move(trees)) {}

  FinitePolicy policy() const override { return FinitePolicy::kFiniteFloat32; }
  bool has_proba() const override { return loss_ != GbLoss::kIdentity; }
  int64_t complexity() const override { return CountNodes(trees_); }

  void PredictClasses(const double* x, int64_t n, int64_t* out) const override {
    Float32Row row(f_);
    std::vector<double> raw(k_), p(k_ == 1 ? 2 : k_);
    for (int64_t i = 0; i < n; ++i) {
      Raw(row.Cast(x + i * f_), raw.data());
      if (loss_ == GbLoss::kExponential) {
        out[i] = raw[0] >= 0 ? 1 : 0;  // ExponentialLoss._raw_prediction_to_decision
      } else {
        ToProba(raw.data(), p.data());
        out[i] = Argmax(p.data(), static_cast<int64_t>(p.size()));
      }
    }
  }

  void PredictProba(const double* x, int64_t n, double* out) const override {
    Float32Row row(f_);
    std::vector<double> raw(k_);
    const int64_t width = k_ == 1 ? 2 : k_;
    for (int64_t i = 0; i < n; ++i) {
      Raw(row.Cast(x + i * f_), raw.data());
      ToProba(raw.data(), out + i * width);
    }
  }

  void PredictValues(const double* x, int64_t n, double* out) const override {
    Float32Row row(f_);
    for (int64_t i = 0; i < n; ++i) Raw(row.Cast(x + i * f_), out + i);
  }

 private:
  void Raw(const float* r, double* raw) const {
    for (int64_t j = 0; j < k_; ++j) raw[j] = init_[j];
    const Tree* t = trees_.data();
    for (int64_t s = 0; s < n_stages_; ++s) {
      for (int64_t j = 0; j < k_; ++j, ++t) raw[j] += learning_rate_ * t->Leaf(r)[0];
    }
  }

  void ToProba(const double* raw, double* p) const {
    switch (loss_) {
      case GbLoss::kBinomial:
        p[1] = Expit(raw[0]);
        p[0] = 1.0 - p[1];
        return;
      case GbLoss::kExponential:
        p[1] = Expit(2.0 * raw[0]);
        p[0] = 1.0 - p[1];
        return;
      case GbLoss::kMultinomial: {
        // np.nan_to_num(np.exp(raw - logsumexp(raw, axis=1)[:, None])), scipy 1.10 logsumexp.
        double a_max = RowMax(raw, k_);
        if (!std::isfinite(a_max)) a_max = 0;
        for (int64_t j = 0; j < k_; ++j) p[j] = std::exp(raw[j] - a_max);
        double lse = std::log(PairwiseSum(p, k_));
        lse += a_max;
        for (int64_t j = 0; j < k_; ++j) {
          double v = std::exp(raw[j] - lse);
          if (std::isnan(v)) v = 0;
          if (std::isinf(v))
            v = v > 0 ? std::numeric_limits<double>::max() : -std::numeric_limits<double>::max();
          p[j] = v;
        }
        return;
      }
      case GbLoss::kIdentity:
        SKIFF_CHECK(false);
    }
  }

  int64_t f_;
  GbLoss loss_;
  int64_t k_, n_stages_;
  double learning_rate_;
  std::vector<double> init_;
  std::vector<Tree> trees_;
};

}  // namespace

Result<std::unique_ptr<Estimator>> ParseTrees(const Reader& r, const EstimatorShape& shape,
                                              std::string_view family) {
  const bool classifier = shape.task == SklearnModel::Task::kClassifier;
  if (!classifier && shape.n_targets != 1) return r.Error("n_outputs", "expected 1 target");
  const int64_t width = classifier ? shape.n_classes : 1;
  SKIFF_ASSIGN_OR_RETURN(std::vector<Tree> trees, ParseTreeList(r, shape.n_features, width));
  const bool forest = family == "forest";
  if (trees.empty() || (!forest && trees.size() != 1)) {
    return r.Error("trees", forest ? "a forest without trees" : "expected exactly one tree");
  }
  if (classifier && !shape.has_proba) return r.Error("has_proba", "trees have predict_proba");
  return std::unique_ptr<Estimator>(std::make_unique<TreeEnsemble>(
      shape.n_features, classifier, forest, width, std::move(trees)));
}

Result<std::unique_ptr<Estimator>> ParseGradientBoosting(const Reader& r,
                                                         const EstimatorShape& shape) {
  const bool classifier = shape.task == SklearnModel::Task::kClassifier;
  SKIFF_ASSIGN_OR_RETURN(std::string loss_name, r.String("loss"));
  SKIFF_ASSIGN_OR_RETURN(int64_t k, r.Int("k", 1, 1 << 16));
  SKIFF_ASSIGN_OR_RETURN(int64_t n_stages, r.Int("n_stages", 0, 1 << 24));
  SKIFF_ASSIGN_OR_RETURN(double learning_rate, r.F64("learning_rate"));
  SKIFF_ASSIGN_OR_RETURN(std::vector<double> init, r.F64s("init", k));
  GbLoss loss;
  if (loss_name == "identity") {
    loss = GbLoss::kIdentity;
  } else if (loss_name == "binomial") {
    loss = GbLoss::kBinomial;
  } else if (loss_name == "multinomial") {
    loss = GbLoss::kMultinomial;
  } else if (loss_name == "exponential") {
    loss = GbLoss::kExponential;
  } else {
    return r.Error("loss", "unknown loss \"" + loss_name + "\"");
  }
  const bool ok = classifier ? (loss == GbLoss::kMultinomial
                                    ? k == shape.n_classes && k > 2
                                    : loss != GbLoss::kIdentity && k == 1 && shape.n_classes == 2)
                             : loss == GbLoss::kIdentity && k == 1 && shape.n_targets == 1;
  if (!ok) return r.Error("loss", "loss \"" + loss_name + "\" does not fit this estimator");
  if (classifier && !shape.has_proba) return r.Error("has_proba", "expected predict_proba");
  SKIFF_ASSIGN_OR_RETURN(std::vector<Tree> trees, ParseTreeList(r, shape.n_features, 1));
  if (static_cast<int64_t>(trees.size()) != n_stages * k) {
    return r.Error("trees", "expected n_stages * k trees");
  }
  return std::unique_ptr<Estimator>(std::make_unique<GradientBoosting>(
      shape.n_features, loss, k, n_stages, learning_rate, std::move(init), std::move(trees)));
}

}  // namespace skiff::serving::sklearn
