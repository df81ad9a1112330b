// HistGradientBoostingClassifier/Regressor, evaluated as scikit-learn 1.2 predicts from raw
// (unbinned) data (ensemble/_hist_gradient_boosting/_predictor.pyx): float64 features compared
// with `<=` against num_threshold, NaN routed by missing_go_to_left, categorical splits looked up
// in bitsets of raw category values with unknown categories treated as missing; raw scores are
// baseline + the leaf values of every predictor in order, mapped by the loss's inverse link
// (sklearn/_loss).
//
// Categorical values are truncated to an integer category as scikit-learn's cast to uint8 does.
// Negative values and values of 256 or more cannot be categories (scikit-learn requires
// categories in [0, max_bins)); scikit-learn 1.2's cast is undefined for them, so here they are
// treated as unknown categories, i.e. as missing, as later scikit-learn releases do.

#include <cmath>
#include <limits>

#include "serving/runtimes/sklearn_internal.hpp"

namespace skiff::serving::sklearn {

namespace {

struct HistNode {
  double value;
  double threshold;
  int32_t feature;
  int32_t left;
  int32_t right;
  uint32_t bitset_idx;
  bool is_leaf;
  bool missing_go_to_left;
  bool is_categorical;
};

bool InBitset(const uint32_t* bitset, uint32_t v) { return (bitset[v / 32] >> (v % 32)) & 1; }

struct HistTree {
  std::vector<HistNode> nodes;
  std::vector<uint32_t> raw_left_cat_bitsets;  // 8 words per categorical split

  double Predict(const double* row, const uint32_t* known, const int64_t* f_idx_map) const {
    const HistNode* node = nodes.data();
    while (!node->is_leaf) {
      const double v = row[node->feature];
      bool left;
      if (std::isnan(v)) {
        left = node->missing_go_to_left;
      } else if (node->is_categorical) {
        if (v < 0 || v >= 256) {
          left = node->missing_go_to_left;
        } else {
          const uint32_t c = static_cast<uint32_t>(v);
          if (InBitset(raw_left_cat_bitsets.data() + 8 * node->bitset_idx, c)) {
            left = true;
          } else if (InBitset(known + 8 * f_idx_map[node->feature], c)) {
            left = false;
          } else {
            left = node->missing_go_to_left;  // an unknown category
          }
        }
      } else {
        left = v <= node->threshold;
      }
      node = nodes.data() + (left ? node->left : node->right);
    }
    return node->value;
  }
};

enum class HistLink { kIdentity, kLog, kLogit, kSoftmax };

class HistGradientBoosting : public Estimator {
 public:
  HistGradientBoosting(int64_t f, HistLink link, int64_t k, std::vector<double> baseline,
                       std::vector<uint32_t> known, std::vector<int64_t> f_idx_map,
                       std::vector<HistTree> trees)
      : f_(f),
        link_(link),
        k_(k),
        baseline_(std::move(baseline)),
        known_(std::move(known)),
        f_idx_map_(std::move(f_idx_map)),
        trees_(std::move(trees)) {}

  FinitePolicy policy() const override { return FinitePolicy::kAllowAll; }
  bool has_proba() const override {
    return link_ == HistLink::kLogit || link_ == HistLink::kSoftmax;
  }
  int64_t complexity() const override {
    int64_t n = 0;
    for (const HistTree& t : trees_) n += static_cast<int64_t>(t.nodes.size());
    return n;
  }

  void PredictClasses(const double* x, int64_t n, int64_t* out) const override {
    const int64_t width = k_ == 1 ? 2 : k_;
    std::vector<double> p(width);
    for (int64_t i = 0; i < n; ++i) {
      Proba(x + i * f_, p.data());  // HistGradientBoostingClassifier.predict: argmax(proba)
      out[i] = Argmax(p.data(), width);
    }
  }

  void PredictProba(const double* x, int64_t n, double* out) const override {
    const int64_t width = k_ == 1 ? 2 : k_;
    for (int64_t i = 0; i < n; ++i) Proba(x + i * f_, out + i * width);
  }

  void PredictValues(const double* x, int64_t n, double* out) const override {
    for (int64_t i = 0; i < n; ++i) {
      Raw(x + i * f_, out + i);
      if (link_ == HistLink::kLog) out[i] = std::exp(out[i]);
    }
  }

 private:
  void Raw(const double* row, double* raw) const {
    for (int64_t j = 0; j < k_; ++j) raw[j] = baseline_[j];
    const HistTree* t = trees_.data();
    const HistTree* end = t + trees_.size();
    while (t != end) {
      for (int64_t j = 0; j < k_; ++j, ++t) {
        raw[j] += t->Predict(row, known_.data(), f_idx_map_.data());
      }
    }
  }

  void Proba(const double* row, double* p) const {
    if (link_ == HistLink::kLogit) {
      double raw;
      Raw(row, &raw);
      p[1] = Expit(raw);
      p[0] = 1 - p[1];
    } else {
      Raw(row, p);
      SoftmaxInPlace(p, k_);
    }
  }

  int64_t f_;
  HistLink link_;
  int64_t k_;
  std::vector<double> baseline_;
  std::vector<uint32_t> known_;
  std::vector<int64_t> f_idx_map_;
  std::vector<HistTree> trees_;
};

Result<HistTree> ParseHistTree(const Reader& r, int64_t f) {
  constexpr int64_t kMaxNodes = std::numeric_limits<int32_t>::max();
  SKIFF_ASSIGN_OR_RETURN(int64_t n, r.Int("n_nodes", 1, kMaxNodes));
  SKIFF_ASSIGN_OR_RETURN(std::vector<double> value, r.F64s("value", n));
  SKIFF_ASSIGN_OR_RETURN(std::vector<double> threshold, r.F64s("threshold", n));
  SKIFF_ASSIGN_OR_RETURN(std::vector<int64_t> feature, r.Ints("feature", n, 0, kMaxNodes));
  SKIFF_ASSIGN_OR_RETURN(std::vector<int64_t> missing, r.Ints("missing_go_to_left", n, 0, 1));
  SKIFF_ASSIGN_OR_RETURN(std::vector<int64_t> left, r.Ints("left", n, 0, n - 1));
  SKIFF_ASSIGN_OR_RETURN(std::vector<int64_t> right, r.Ints("right", n, 0, n - 1));
  SKIFF_ASSIGN_OR_RETURN(std::vector<int64_t> is_leaf, r.Ints("is_leaf", n, 0, 1));
  SKIFF_ASSIGN_OR_RETURN(std::vector<int64_t> is_cat, r.Ints("is_categorical", n, 0, 1));
  SKIFF_ASSIGN_OR_RETURN(std::vector<int64_t> bitset_idx, r.Ints("bitset_idx", n, 0, kMaxNodes));
  HistTree t;
  SKIFF_ASSIGN_OR_RETURN(t.raw_left_cat_bitsets, r.Bitsets("raw_left_cat_bitsets"));
  const int64_t n_bitsets = static_cast<int64_t>(t.raw_left_cat_bitsets.size() / 8);
  t.nodes.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    HistNode& nd = t.nodes[i];
    nd = HistNode{value[i],
                  threshold[i],
                  static_cast<int32_t>(is_leaf[i] ? 0 : feature[i]),
                  static_cast<int32_t>(left[i]),
                  static_cast<int32_t>(right[i]),
                  static_cast<uint32_t>(bitset_idx[i]),
                  is_leaf[i] != 0,
                  missing[i] != 0,
                  is_cat[i] != 0};
    if (nd.is_leaf) continue;
    // Children follow their parent (as the grower numbers them); this also excludes cycles.
    if (left[i] <= i || right[i] <= i || feature[i] >= f) {
      return r.Error("left", "node " + std::to_string(i) + " has invalid children or feature");
    }
    if (nd.is_categorical && bitset_idx[i] >= n_bitsets) {
      return r.Error("bitset_idx", "node " + std::to_string(i) + " has no bitset");
    }
  }
  return t;
}

}  // namespace

Result<std::unique_ptr<Estimator>> ParseHistGradientBoosting(const Reader& r,
                                                             const EstimatorShape& shape) {
  const bool classifier = shape.task == SklearnModel::Task::kClassifier;
  const int64_t f = shape.n_features;
  SKIFF_ASSIGN_OR_RETURN(std::string link_name, r.String("link"));
  SKIFF_ASSIGN_OR_RETURN(int64_t k, r.Int("k", 1, 1 << 16));
  SKIFF_ASSIGN_OR_RETURN(std::vector<double> baseline, r.F64s("baseline", k));
  SKIFF_ASSIGN_OR_RETURN(std::vector<uint32_t> known, r.Bitsets("known_cat_bitsets"));
  const int64_t n_known = static_cast<int64_t>(known.size() / 8);
  SKIFF_ASSIGN_OR_RETURN(std::vector<int64_t> f_idx_map,
                         r.Ints("f_idx_map", f, 0, std::numeric_limits<int32_t>::max()));
  HistLink link;
  if (link_name == "identity") {
    link = HistLink::kIdentity;
  } else if (link_name == "log") {
    link = HistLink::kLog;
  } else if (link_name == "logit") {
    link = HistLink::kLogit;
  } else if (link_name == "softmax") {
    link = HistLink::kSoftmax;
  } else {
    return r.Error("link", "unknown link \"" + link_name + "\"");
  }
  const bool ok = classifier ? (link == HistLink::kLogit && k == 1 && shape.n_classes == 2) ||
                                   (link == HistLink::kSoftmax && k == shape.n_classes && k > 2)
                             : (link == HistLink::kIdentity || link == HistLink::kLog) && k == 1 &&
                                   shape.n_targets == 1;
  if (!ok) return r.Error("link", "link \"" + link_name + "\" does not fit this estimator");
  if (classifier && !shape.has_proba) return r.Error("has_proba", "expected predict_proba");
  SKIFF_ASSIGN_OR_RETURN(std::vector<Reader> rs, r.Objects("predictors"));
  if (rs.size() % k != 0) return r.Error("predictors", "not a multiple of k");
  std::vector<HistTree> trees;
  trees.reserve(rs.size());
  for (const Reader& tr : rs) {
    SKIFF_ASSIGN_OR_RETURN(HistTree t, ParseHistTree(tr, f));
    // A categorical split's feature must have a row of known categories.
    for (const HistNode& nd : t.nodes) {
      if (!nd.is_leaf && nd.is_categorical && f_idx_map[nd.feature] >= n_known) {
        return tr.Error("is_categorical", "a categorical feature without known categories");
      }
    }
    trees.push_back(std::move(t));
  }
  return std::unique_ptr<Estimator>(std::make_unique<HistGradientBoosting>(
      f, link, k, std::move(baseline), std::move(known), std::move(f_idx_map), std::move(trees)));
}

}  // namespace skiff::serving::sklearn
