"""Trains the scikit-learn models the native sklearn runtime's tests compare against.

Run by tests/unit/serving/sklearn_test_util.cpp with Debian's /usr/bin/python3:

    sklearn_train.py OUT_DIR

writes OUT_DIR/<case>/model.joblib for every case, plus OUT_DIR/manifest.json:

    {"cases": [{"name", "family", "task": "classifier"|"regressor", "rows", "n_features",
                "x": f64 (held-out rows), "label_type": "int"|"float"|"str"|"bool",
                "predict": ints | strings | bools | f64, "proba": f64 | null,
                "n_targets", "targets_2d"}],
     "pairwise": [{"x": f64, "sum": f64}]}

where f64 is base64 of little-endian float64 values (exact). Held-out rows come from real data
sets bundled with scikit-learn (iris, breast_cancer, diabetes, wine) and seeded generators.
"""

import base64
import json
import os
import sys
import warnings

import joblib
import numpy as np
from sklearn import datasets, ensemble, linear_model, pipeline, preprocessing, svm, tree
from sklearn import impute, semi_supervised
from sklearn.model_selection import train_test_split

warnings.simplefilter("ignore")  # convergence warnings do not matter for parity


def f64s(a):
    a = np.ascontiguousarray(np.asarray(a, dtype=np.float64).ravel(), dtype="<f8")
    return base64.b64encode(a.tobytes()).decode("ascii")


OUT = sys.argv[1]
CASES = []


def split(X, y, seed=0, test_size=0.3):
    return train_test_split(X, y, test_size=test_size, random_state=seed)


def add(name, family, model, X_train, y_train, X_test, fit=True):
    if fit:
        model.fit(X_train, y_train)
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    joblib.dump(model, os.path.join(d, "model.joblib"))
    X_test = np.asarray(X_test, dtype=np.float64)
    pred = model.predict(X_test)
    case = {"name": name, "family": family, "rows": int(X_test.shape[0]),
            "n_features": int(X_test.shape[1]), "x": f64s(X_test), "proba": None,
            "n_targets": 1, "targets_2d": False}
    is_classifier = hasattr(model, "classes_") or name.startswith("one_class")
    if is_classifier:
        case["task"] = "classifier"
        kind = pred.dtype.kind
        if kind in "iu":
            case["label_type"], case["predict"] = "int", [int(v) for v in pred]
        elif kind == "b":
            case["label_type"], case["predict"] = "bool", [bool(v) for v in pred]
        elif kind == "f":
            case["label_type"], case["predict"] = "float", f64s(pred)
        else:
            case["label_type"], case["predict"] = "str", [str(v) for v in pred]
        if hasattr(model, "predict_proba"):
            case["proba"] = f64s(model.predict_proba(X_test))
    else:
        case["task"] = "regressor"
        case["label_type"] = "float"
        case["predict"] = f64s(pred)
        if pred.ndim == 2:
            case["n_targets"], case["targets_2d"] = int(pred.shape[1]), True
    CASES.append(case)


def scaled(est, scaler=None):
    return pipeline.make_pipeline(scaler or preprocessing.StandardScaler(), est)


iris_X, iris_y = datasets.load_iris(return_X_y=True)
cancer_X, cancer_y = datasets.load_breast_cancer(return_X_y=True)
diab_X, diab_y = datasets.load_diabetes(return_X_y=True)
wine_X, wine_y = datasets.load_wine(return_X_y=True)
cls_X, cls_y = datasets.make_classification(n_samples=400, n_features=8, n_informative=5,
                                            random_state=7)
cls3_X, cls3_y = datasets.make_classification(n_samples=450, n_features=10, n_informative=6,
                                              n_classes=3, random_state=11)
cls10_X, cls10_y = datasets.make_classification(n_samples=1200, n_features=12, n_informative=10,
                                                n_classes=10, random_state=3)
reg_X, reg_y = datasets.make_regression(n_samples=300, n_features=6, noise=5.0, random_state=5)
reg3_X, reg3_y = datasets.make_regression(n_samples=300, n_features=5, n_targets=3, noise=1.0,
                                          random_state=9)

iris = split(iris_X, iris_y)
cancer = split(cancer_X, cancer_y)
diab = split(diab_X, diab_y)
wine = split(wine_X, wine_y)
cls = split(cls_X, cls_y)
cls3 = split(cls3_X, cls3_y)
cls10 = split(cls10_X, cls10_y)
reg = split(reg_X, reg_y)
reg3 = split(reg3_X, reg3_y)


def args(data):
    X_train, X_test, y_train, y_test = data
    return X_train, y_train, X_test


# --- linear ----------------------------------------------------------------------------------
add("logreg_binary", "linear", linear_model.LogisticRegression(max_iter=5000), *args(cls))
add("logreg_multinomial", "linear", linear_model.LogisticRegression(max_iter=5000), *args(iris))
add("logreg_ovr", "linear",
    linear_model.LogisticRegression(multi_class="ovr", solver="liblinear"), *args(wine))
add("logreg_multinomial_binary", "linear",
    linear_model.LogisticRegression(multi_class="multinomial", max_iter=5000), *args(cls))
add("logreg_10_classes", "linear", linear_model.LogisticRegression(max_iter=5000), *args(cls10))
add("logreg_ovr_10_classes", "linear",
    linear_model.LogisticRegression(multi_class="ovr", max_iter=5000), *args(cls10))
add("linear_regression", "linear", linear_model.LinearRegression(), *args(diab))
add("ridge", "linear", linear_model.Ridge(alpha=0.5), *args(diab))
add("ridge_3_targets", "linear", linear_model.Ridge(alpha=0.1), *args(reg3))
add("lasso", "linear", linear_model.Lasso(alpha=0.05), *args(diab))
add("elastic_net", "linear", linear_model.ElasticNet(alpha=0.01, l1_ratio=0.3), *args(diab))
add("sgd_classifier_hinge", "linear", linear_model.SGDClassifier(random_state=0), *args(cls3))
add("sgd_classifier_log", "linear",
    linear_model.SGDClassifier(loss="log_loss", random_state=0), *args(cls3))
add("sgd_classifier_modified_huber", "linear",
    linear_model.SGDClassifier(loss="modified_huber", random_state=0), *args(cls3))
add("sgd_classifier_modified_huber_binary", "linear",
    linear_model.SGDClassifier(loss="modified_huber", random_state=0), *args(cls))
add("sgd_regressor", "linear", linear_model.SGDRegressor(random_state=0), *args(reg))
add("linear_svc", "linear", svm.LinearSVC(random_state=0, max_iter=20000), *args(cls3))
add("linear_svc_binary", "linear", svm.LinearSVC(random_state=0, max_iter=20000), *args(cls))
add("linear_svr", "linear", svm.LinearSVR(random_state=0, max_iter=20000), *args(reg))
add("ridge_classifier", "linear", linear_model.RidgeClassifier(), *args(iris))
_rng = np.random.default_rng(1)
_pX = _rng.standard_normal((300, 4))
_py = _rng.poisson(np.exp(_pX @ np.array([0.3, -0.2, 0.1, 0.4]) + 0.5))
add("poisson_regressor", "linear", linear_model.PoissonRegressor(), *args(split(_pX, _py)))

# --- trees -----------------------------------------------------------------------------------
add("decision_tree_classifier", "trees", tree.DecisionTreeClassifier(random_state=0), *args(iris))
add("decision_tree_regressor", "trees", tree.DecisionTreeRegressor(random_state=0), *args(diab))
add("random_forest_classifier", "trees",
    ensemble.RandomForestClassifier(n_estimators=30, random_state=0), *args(cancer))
add("random_forest_regressor", "trees",
    ensemble.RandomForestRegressor(n_estimators=30, random_state=0), *args(diab))
add("extra_trees_classifier", "trees",
    ensemble.ExtraTreesClassifier(n_estimators=30, random_state=0), *args(wine))
add("extra_trees_regressor", "trees",
    ensemble.ExtraTreesRegressor(n_estimators=30, random_state=0), *args(diab))
# Weighted classes make the leaf values fractional, so normalization is not exact counting.
add("random_forest_weighted", "trees",
    ensemble.RandomForestClassifier(n_estimators=20, class_weight="balanced", max_depth=6,
                                    random_state=1), *args(cls10))

# Rows on both sides of every split, within float32 rounding of the threshold: trees compare
# float32(x) <= threshold, histogram gradient boosting compares float64 x.
def boundary_rows(base, features, thresholds):
    rows = []
    for f, t in zip(features, thresholds):
        if not np.isfinite(t):
            continue
        t32 = float(np.float32(t))
        for v in sorted({t, np.nextafter(t, np.inf), np.nextafter(t, -np.inf), t32,
                         np.nextafter(t32, np.inf), np.nextafter(t32, -np.inf)}):
            r = base[len(rows) % len(base)].copy()
            r[f] = v
            rows.append(r)
    return np.array(rows)


_dt = tree.DecisionTreeRegressor(max_depth=8, random_state=0).fit(diab[0], diab[2])
_internal = _dt.tree_.children_left != -1
add("decision_tree_float32_boundaries", "trees", _dt, None, None,
    boundary_rows(diab[1], _dt.tree_.feature[_internal], _dt.tree_.threshold[_internal]),
    fit=False)

# --- gradient boosting -----------------------------------------------------------------------
add("gradient_boosting_binary", "boosting",
    ensemble.GradientBoostingClassifier(n_estimators=40, random_state=0), *args(cancer))
add("gradient_boosting_multiclass", "boosting",
    ensemble.GradientBoostingClassifier(n_estimators=30, learning_rate=0.2, random_state=0),
    *args(wine))
add("gradient_boosting_exponential", "boosting",
    ensemble.GradientBoostingClassifier(loss="exponential", n_estimators=30, random_state=0),
    *args(cls))
add("gradient_boosting_init_zero", "boosting",
    ensemble.GradientBoostingClassifier(init="zero", n_estimators=20, random_state=0),
    *args(iris))
add("gradient_boosting_regressor", "boosting",
    ensemble.GradientBoostingRegressor(n_estimators=50, random_state=0), *args(diab))
add("gradient_boosting_huber", "boosting",
    ensemble.GradientBoostingRegressor(loss="huber", n_estimators=30, subsample=0.8,
                                       random_state=0), *args(reg))

# --- histogram gradient boosting (with missing values, infinities, categories) ---------------
def with_missing(data, seed, frac=0.1):
    X_train, X_test, y_train, y_test = data
    rng = np.random.default_rng(seed)
    X_train, X_test = X_train.copy(), X_test.copy()
    X_train[rng.random(X_train.shape) < frac] = np.nan
    X_test[rng.random(X_test.shape) < frac] = np.nan
    X_test[0, 0], X_test[1, 1] = np.inf, -np.inf
    return X_train, X_test, y_train, y_test


add("hist_gradient_boosting_binary", "hist",
    ensemble.HistGradientBoostingClassifier(max_iter=40, random_state=0),
    *args(with_missing(cancer, 1)))
add("hist_gradient_boosting_multiclass", "hist",
    ensemble.HistGradientBoostingClassifier(max_iter=30, random_state=0),
    *args(with_missing(wine, 2)))
add("hist_gradient_boosting_regressor", "hist",
    ensemble.HistGradientBoostingRegressor(max_iter=50, random_state=0),
    *args(with_missing(diab, 3)))
add("hist_gradient_boosting_poisson", "hist",
    ensemble.HistGradientBoostingRegressor(loss="poisson", max_iter=30, random_state=0),
    *args(split(_pX, _py)))
_hgb = ensemble.HistGradientBoostingRegressor(max_iter=10, random_state=0).fit(diab[0], diab[2])
_nodes = np.concatenate([p[0].nodes for p in _hgb._predictors])
_nodes = _nodes[_nodes["is_leaf"] == 0]
add("hist_gradient_boosting_boundaries", "hist", _hgb, None, None,
    boundary_rows(diab[1], _nodes["feature_idx"], _nodes["num_threshold"]), fit=False)
_crng = np.random.default_rng(4)
_cX = np.column_stack([_crng.integers(0, 12, 600), _crng.standard_normal(600),
                       _crng.integers(0, 5, 600)]).astype(np.float64)
_cy = ((_cX[:, 0] % 3 == 0) ^ (_cX[:, 1] > 0.3) ^ (_cX[:, 2] == 2)).astype(int)
_cX_train, _cX_test, _cy_train, _cy_test = split(_cX, _cy)
_cX_train = _cX_train[_cX_train[:, 0] != 11]  # category 11 unseen in fit: treated as missing
_cy_train = ((_cX_train[:, 0] % 3 == 0) ^ (_cX_train[:, 1] > 0.3) ^ (_cX_train[:, 2] == 2)).astype(int)
_cX_test = _cX_test.copy()
_cX_test[:5, 0] = np.nan
add("hist_gradient_boosting_categorical", "hist",
    ensemble.HistGradientBoostingClassifier(max_iter=30, categorical_features=[0, 2],
                                            random_state=0), _cX_train, _cy_train, _cX_test)

# --- SVMs ------------------------------------------------------------------------------------
add("svc_iris", "svm", svm.SVC(gamma="scale"), *args(iris))
add("svc_proba", "svm", scaled(svm.SVC(probability=True, random_state=0)), *args(wine))
add("svc_proba_binary", "svm", scaled(svm.SVC(probability=True, random_state=0)), *args(cancer))
add("svc_linear", "svm", svm.SVC(kernel="linear"), *args(iris))
add("svc_poly", "svm", scaled(svm.SVC(kernel="poly", degree=3, coef0=1.0)), *args(cls3))
add("svc_sigmoid", "svm", scaled(svm.SVC(kernel="sigmoid", gamma=0.05)), *args(cls))
add("nu_svc", "svm", svm.NuSVC(nu=0.3), *args(iris))
add("svr", "svm", scaled(svm.SVR(C=50.0)), *args(diab))
add("nu_svr", "svm", scaled(svm.NuSVR(C=10.0)), *args(reg))
add("one_class_svm", "svm", svm.OneClassSVM(nu=0.2, gamma="scale"),
    iris[0], None, iris[1])

# --- pipelines with every scaler -------------------------------------------------------------
add("pipeline_standard", "pipeline", scaled(linear_model.LogisticRegression()), *args(wine))
add("pipeline_minmax_clip", "pipeline",
    scaled(linear_model.LogisticRegression(), preprocessing.MinMaxScaler(clip=True)),
    *args(wine))
add("pipeline_minmax_range", "pipeline",
    scaled(linear_model.Ridge(), preprocessing.MinMaxScaler(feature_range=(-2, 3))),
    *args(diab))
add("pipeline_robust", "pipeline",
    scaled(ensemble.RandomForestClassifier(n_estimators=10, random_state=0),
           preprocessing.RobustScaler()), *args(cancer))
add("pipeline_maxabs", "pipeline",
    scaled(svm.SVC(), preprocessing.MaxAbsScaler()), *args(wine))
for norm in ("l1", "l2", "max"):
    add("pipeline_normalizer_" + norm, "pipeline",
        scaled(linear_model.LogisticRegression(max_iter=5000), preprocessing.Normalizer(norm=norm)),
        *args(iris))
add("pipeline_nested", "pipeline",
    pipeline.Pipeline([("prep", pipeline.make_pipeline(preprocessing.StandardScaler(),
                                                       preprocessing.MaxAbsScaler())),
                       ("skip", "passthrough"),
                       ("model", ensemble.GradientBoostingRegressor(n_estimators=20,
                                                                    random_state=0))]),
    *args(diab))

def finite_or_nan(data):
    X_train, X_test, y_train, y_test = data
    return X_train, np.where(np.isinf(X_test), np.nan, X_test), y_train, y_test


add("pipeline_imputer_mean", "pipeline",
    pipeline.make_pipeline(impute.SimpleImputer(), preprocessing.StandardScaler(),
                           linear_model.LogisticRegression(max_iter=5000)),
    *args(finite_or_nan(with_missing(cancer, 5))))
add("pipeline_imputer_median_forest", "pipeline",
    pipeline.make_pipeline(impute.SimpleImputer(strategy="median"),
                           ensemble.RandomForestRegressor(n_estimators=10, random_state=0)),
    *args(finite_or_nan(with_missing(diab, 6))))
_neg_iris = [a.copy() for a in iris]
_neg_iris[0][::5, 1] = -1
_neg_iris[1][::4, 2] = -1
add("pipeline_imputer_constant", "pipeline",
    pipeline.make_pipeline(impute.SimpleImputer(missing_values=-1, strategy="constant",
                                                fill_value=0.5), svm.SVC()), *args(_neg_iris))

# --- class labels of every type --------------------------------------------------------------
names = np.array(["setosa", "versicolor", "virginica"], dtype=object)
add("labels_str", "labels", linear_model.LogisticRegression(max_iter=5000),
    iris[0], names[iris[2]], iris[1])
add("labels_str_forest", "labels", ensemble.RandomForestClassifier(n_estimators=10,
                                                                   random_state=0),
    iris[0], names[iris[2]], iris[1])
add("labels_float", "labels", tree.DecisionTreeClassifier(random_state=0),
    wine[0], wine[2].astype(np.float64) * 2.0 - 1.0, wine[1])
add("labels_bool", "labels", linear_model.LogisticRegression(max_iter=5000),
    cls[0], cls[2].astype(bool), cls[1])
add("labels_negative_int", "labels", svm.SVC(), iris[0], iris[2] * 10 - 7, iris[1])

# --- the KServe sample and an unsupported estimator ------------------------------------------
# gs://kfserving-examples/models/sklearn/1.0/model: svm.SVC(gamma='scale') on all of iris.
add("kserve_iris_svc", "kserve", svm.SVC(gamma="scale"), iris_X, iris_y,
    np.array([[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]))
d = os.path.join(OUT, "unsupported_label_spreading")
os.makedirs(d, exist_ok=True)
joblib.dump(semi_supervised.LabelSpreading().fit(iris_X, iris_y), os.path.join(d, "model.joblib"))

# numpy's own sums over rows, to check the C++ pairwise summation against.
prng = np.random.default_rng(8)
pairwise = []
for n in (3, 7, 8, 9, 15, 16, 17, 100, 128, 129, 300, 1000):
    row = prng.standard_normal(n) * 10.0 ** prng.integers(-8, 9, n)
    pairwise.append({"x": f64s(row), "sum": f64s(row.reshape(1, -1).sum(axis=1))})

with open(os.path.join(OUT, "manifest.json"), "w") as f:
    json.dump({"cases": CASES, "pairwise": pairwise}, f)
print("trained %d cases" % len(CASES))
