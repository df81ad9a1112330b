"""skiff scikit-learn importer: converts a pickled scikit-learn estimator into skiff's native
model file ("skiff-sklearn" format, version 1; every field is documented in
src/serving/runtimes/sklearn_model.hpp), so that C++ evaluators serve it with no Python in the
request path.

Embedded in the skiff binary and run with Debian's interpreter in isolated mode:

    /usr/bin/python3 -I -B -c <this script> MODEL OUT [MODEL OUT ...]

For each (MODEL, OUT) pair it loads MODEL with joblib.load (which also reads plain pickles),
walks the estimator, writes OUT (JSON) and prints one status line on stdout:

    SKIFF-SKLEARN-STATUS {"model": MODEL, "ok": true}
    SKIFF-SKLEARN-STATUS {"model": MODEL, "ok": false, "kind": KIND, "estimator": NAME,
                          "message": TEXT}

KIND is "unsupported" (an estimator or option with no native evaluator: the Python worker
runtime serves it), "missing_code" (the pickle needs Python code that is not installed),
"load" (not a joblib/pickle file, or a truncated one) or "error" (a bug here). Anything else
the libraries print goes to stderr. Exit code: 0 when every model converted, 2 when one was
unsupported or needed missing code, 3 when one could not be loaded, 1 on other errors (the
highest applies).

Float64 arrays are written as base64 of their little-endian IEEE 754 bytes and float scalars as
Python's repr (shortest round-trip text), so every value reaches C++ bit for bit.
"""

import base64
import json
import os
import platform
import sys
import warnings

FORMAT = "skiff-sklearn"
VERSION = 1
STATUS_PREFIX = "SKIFF-SKLEARN-STATUS "


class Unsupported(Exception):
    def __init__(self, estimator, reason=""):
        super().__init__(reason)
        self.estimator = estimator
        self.reason = reason


def _np():
    import numpy

    return numpy


def f64s(a):
    np = _np()
    a = np.ascontiguousarray(np.asarray(a, dtype=np.float64).ravel(), dtype="<f8")
    return base64.b64encode(a.tobytes()).decode("ascii")


def f64(x):
    return repr(float(x))


def ints(a):
    np = _np()
    return [int(v) for v in np.asarray(a).ravel()]


def name_of(obj):
    return type(obj).__name__


def is_sklearn(obj):
    return type(obj).__module__.split(".")[0] == "sklearn"


def dense(a):
    if hasattr(a, "toarray"):
        a = a.toarray()
    return _np().asarray(a, dtype=_np().float64)


def labels(classes):
    """classes_ as {"type", "values"}: int, float, bool or str labels."""
    np = _np()
    classes = np.asarray(classes)
    kind = classes.dtype.kind
    if kind == "b":
        return {"type": "bool", "values": [bool(v) for v in classes]}
    if kind in "iu":
        return {"type": "int", "values": [int(v) for v in classes]}
    if kind == "f":
        return {"type": "float", "values": [f64(v) for v in classes]}
    values = list(classes.tolist())
    if all(isinstance(v, str) for v in values):
        return {"type": "str", "values": values}
    if all(isinstance(v, bool) for v in values):
        return {"type": "bool", "values": values}
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return {"type": "int", "values": values}
    if all(isinstance(v, float) for v in values):
        return {"type": "float", "values": [f64(v) for v in values]}
    raise Unsupported("classes", "class labels of type %s" % sorted({name_of(v) for v in values}))


# ---------------------------------------------------------------------------------------------
# Transformers (pipeline steps before the estimator). All keep the number of features.


def export_transformer(t):
    n = name_of(t)
    if not is_sklearn(t):
        raise Unsupported(n, "a custom transformer")
    if n == "StandardScaler":
        return {
            "type": n,
            "mean": f64s(t.mean_) if t.with_mean and t.mean_ is not None else None,
            "scale": f64s(t.scale_) if t.with_std and t.scale_ is not None else None,
        }
    if n == "MinMaxScaler":
        lo, hi = t.feature_range
        return {
            "type": n,
            "scale": f64s(t.scale_),
            "min": f64s(t.min_),
            "clip": bool(getattr(t, "clip", False)),
            "feature_range": [f64(lo), f64(hi)],
        }
    if n == "RobustScaler":
        return {
            "type": n,
            "center": f64s(t.center_) if t.with_centering and t.center_ is not None else None,
            "scale": f64s(t.scale_) if t.with_scaling and t.scale_ is not None else None,
        }
    if n == "MaxAbsScaler":
        return {"type": n, "scale": f64s(t.scale_)}
    if n == "SimpleImputer":
        np = _np()
        if t.add_indicator:
            raise Unsupported(n, "add_indicator=True")
        mv = t.missing_values
        if isinstance(mv, bool) or not isinstance(mv, (int, float, np.integer, np.floating)):
            raise Unsupported(n, "missing_values=%r" % (mv,))
        stats = np.asarray(t.statistics_)
        if stats.dtype.kind not in "fiu":
            raise Unsupported(n, "non-numeric statistics")
        stats = stats.astype(np.float64)
        keeps_all = t.strategy == "constant" or getattr(t, "keep_empty_features", False)
        if not keeps_all and np.isnan(stats).any():
            raise Unsupported(n, "features without observed values (transform drops them)")
        return {"type": n, "missing_values": f64(mv), "statistics": f64s(stats)}
    if n == "Normalizer":
        if t.norm not in ("l1", "l2", "max"):
            raise Unsupported(n, "norm=%r" % (t.norm,))
        return {"type": n, "norm": t.norm}
    raise Unsupported(n)


# ---------------------------------------------------------------------------------------------
# Estimators

LINEAR_CLASSIFIERS = {
    "LogisticRegression",
    "LogisticRegressionCV",
    "SGDClassifier",
    "LinearSVC",
    "RidgeClassifier",
    "RidgeClassifierCV",
    "Perceptron",
    "PassiveAggressiveClassifier",
}
LINEAR_REGRESSORS = {
    "LinearRegression",
    "Ridge",
    "RidgeCV",
    "Lasso",
    "LassoCV",
    "ElasticNet",
    "ElasticNetCV",
    "MultiTaskLasso",
    "MultiTaskLassoCV",
    "MultiTaskElasticNet",
    "MultiTaskElasticNetCV",
    "Lars",
    "LarsCV",
    "LassoLars",
    "LassoLarsCV",
    "LassoLarsIC",
    "OrthogonalMatchingPursuit",
    "OrthogonalMatchingPursuitCV",
    "BayesianRidge",
    "ARDRegression",
    "HuberRegressor",
    "TheilSenRegressor",
    "QuantileRegressor",
    "SGDRegressor",
    "LinearSVR",
    "PassiveAggressiveRegressor",
    "PoissonRegressor",
    "GammaRegressor",
    "TweedieRegressor",
}


def logistic_proba(est):
    """predict_proba's method, decided here as LogisticRegression.predict_proba decides it."""
    solver = getattr(est, "solver", "lbfgs")
    ovr = est.multi_class in ("ovr", "warn") or (
        est.multi_class == "auto"
        and (est.classes_.size <= 2 or solver in ("liblinear", "newton-cholesky"))
    )
    return "logistic_ovr" if ovr else "softmax"


def export_linear_classifier(est):
    n = name_of(est)
    np = _np()
    coef = dense(est.coef_)
    if coef.ndim != 2:
        raise Unsupported(n, "coef_ of shape %s" % (coef.shape,))
    if n.startswith("RidgeClassifier") and est._label_binarizer.y_type_.startswith("multilabel"):
        raise Unsupported(n, "multilabel targets")
    intercept = np.broadcast_to(np.asarray(est.intercept_, dtype=np.float64), (coef.shape[0],))
    proba = None
    if n in ("LogisticRegression", "LogisticRegressionCV"):
        proba = logistic_proba(est)
    elif n == "SGDClassifier":
        if est.loss in ("log_loss", "log"):
            proba = "logistic_ovr"
        elif est.loss == "modified_huber":
            proba = "modified_huber"
    return {
        "family": "linear",
        "n_outputs": int(coef.shape[0]),
        "coef": f64s(coef),
        "intercept": f64s(intercept),
        "proba": proba,
    }


def export_linear_regressor(est):
    n = name_of(est)
    np = _np()
    coef = dense(est.coef_)
    if coef.ndim == 1:
        n_out, out_2d = 1, False
        coef = coef.reshape(1, -1)
    elif coef.ndim == 2:
        n_out, out_2d = coef.shape[0], True
    else:
        raise Unsupported(n, "coef_ of shape %s" % (coef.shape,))
    intercept = np.broadcast_to(np.asarray(est.intercept_, dtype=np.float64).ravel(), (n_out,))
    link = "identity"
    if n in ("PoissonRegressor", "GammaRegressor", "TweedieRegressor"):
        link_name = name_of(est._base_loss.link)
        if link_name == "LogLink":
            link = "log"
        elif link_name != "IdentityLink":
            raise Unsupported(n, "link %s" % link_name)
    return {
        "family": "linear",
        "n_outputs": int(n_out),
        "outputs_2d": out_2d,
        "coef": f64s(coef),
        "intercept": f64s(intercept),
        "link": link,
    }


def export_tree(tree, width, owner):
    """One sklearn.tree._tree.Tree; value rows hold `width` numbers (classes, or 1)."""
    if tree.n_outputs != 1:
        raise Unsupported(owner, "multi-output trees")
    value = tree.value[:, 0, :width]
    return {
        "n_nodes": int(tree.node_count),
        "left": ints(tree.children_left),
        "right": ints(tree.children_right),
        "feature": ints(tree.feature),
        "threshold": f64s(tree.threshold),
        "value": f64s(value),
    }


def n_classes_of(est):
    return len(est.classes_)


def export_decision_tree(est, classifier):
    width = n_classes_of(est) if classifier else 1
    return {"family": "tree", "trees": [export_tree(est.tree_, width, name_of(est))]}


def export_forest(est, classifier):
    width = n_classes_of(est) if classifier else 1
    if getattr(est, "n_outputs_", 1) != 1:
        raise Unsupported(name_of(est), "multi-output forests")
    trees = [export_tree(e.tree_, width, name_of(est)) for e in est.estimators_]
    return {"family": "forest", "trees": trees}


GB_LOSSES = {
    "LeastSquaresError": "identity",
    "LeastAbsoluteError": "identity",
    "HuberLossFunction": "identity",
    "QuantileLossFunction": "identity",
    "BinomialDeviance": "binomial",
    "MultinomialDeviance": "multinomial",
    "ExponentialLoss": "exponential",
}


def export_gradient_boosting(est, n_features):
    np = _np()
    n = name_of(est)
    loss = GB_LOSSES.get(name_of(est._loss))
    if loss is None:
        raise Unsupported(n, "loss %s" % name_of(est._loss))
    init = est.init_
    if not (isinstance(init, str) and init == "zero") and name_of(init) not in (
        "DummyClassifier",
        "DummyRegressor",
    ):
        raise Unsupported(n, "a custom init estimator (%s)" % name_of(init))
    # The init estimator is constant (Dummy* or zero): its raw prediction for any row.
    init_raw = est._raw_predict_init(np.zeros((1, n_features), dtype=np.float32))[0]
    stages, k = est.estimators_.shape
    trees = [export_tree(est.estimators_[i, j].tree_, 1, n) for i in range(stages) for j in range(k)]
    return {
        "family": "gradient_boosting",
        "loss": loss,
        "k": int(k),
        "n_stages": int(stages),
        "learning_rate": f64(est.learning_rate),
        "init": f64s(init_raw),
        "trees": trees,
    }


HGB_LINKS = {
    "HalfSquaredError": "identity",
    "AbsoluteError": "identity",
    "PinballLoss": "identity",
    "HalfPoissonLoss": "log",
    "HalfGammaLoss": "log",
    "HalfBinomialLoss": "logit",
    "HalfMultinomialLoss": "softmax",
}


def export_hist_gradient_boosting(est):
    np = _np()
    n = name_of(est)
    link = HGB_LINKS.get(name_of(est._loss))
    if link is None:
        raise Unsupported(n, "loss %s" % name_of(est._loss))
    known, f_idx_map = est._bin_mapper.make_known_categories_bitsets()
    k = int(est.n_trees_per_iteration_)
    predictors = []
    for iteration in est._predictors:
        for p in iteration:
            nodes = p.nodes
            predictors.append(
                {
                    "n_nodes": int(nodes.shape[0]),
                    "value": f64s(nodes["value"]),
                    "feature": ints(nodes["feature_idx"]),
                    "threshold": f64s(nodes["num_threshold"]),
                    "missing_go_to_left": ints(nodes["missing_go_to_left"]),
                    "left": ints(nodes["left"]),
                    "right": ints(nodes["right"]),
                    "is_leaf": ints(nodes["is_leaf"]),
                    "is_categorical": ints(nodes["is_categorical"]),
                    "bitset_idx": ints(nodes["bitset_idx"]),
                    "raw_left_cat_bitsets": [ints(row) for row in p.raw_left_cat_bitsets],
                }
            )
    baseline = np.asarray(est._baseline_prediction, dtype=np.float64).ravel()
    if baseline.size == 1 and k > 1:
        baseline = np.repeat(baseline, k)
    return {
        "family": "hist_gradient_boosting",
        "link": link,
        "k": k,
        "baseline": f64s(baseline),
        "known_cat_bitsets": [ints(row) for row in known],
        "f_idx_map": ints(f_idx_map),
        "predictors": predictors,
    }


SVM_TYPES = {"SVC": "c_svc", "NuSVC": "nu_svc", "SVR": "epsilon_svr", "NuSVR": "nu_svr",
             "OneClassSVM": "one_class"}


def export_svm(est):
    np = _np()
    n = name_of(est)
    if callable(est.kernel) or est.kernel not in ("linear", "poly", "rbf", "sigmoid"):
        raise Unsupported(n, "kernel=%r" % (est.kernel,))
    svm_type = SVM_TYPES[n]
    if svm_type in ("c_svc", "nu_svc"):
        if est.break_ties and est.decision_function_shape == "ovr" and len(est.classes_) > 2:
            raise Unsupported(n, "break_ties=True")
    out = {
        "family": "svm",
        "svm_type": svm_type,
        "kernel": est.kernel,
        "gamma": f64(est._gamma),
        "coef0": f64(est.coef0),
        "degree": int(est.degree),
        "n_support": ints(est._n_support),
        "support_vectors": f64s(dense(est.support_vectors_)),
        "n_sv": int(est.support_vectors_.shape[0]),
        "dual_coef": f64s(dense(est._dual_coef_)),
        "intercept": f64s(est._intercept_),
        "prob_a": None,
        "prob_b": None,
    }
    if svm_type in ("c_svc", "nu_svc") and est.probability:
        prob_a, prob_b = np.asarray(est._probA), np.asarray(est._probB)
        if prob_a.size and prob_b.size:
            out["prob_a"] = f64s(prob_a)
            out["prob_b"] = f64s(prob_b)
    return out


CLASSIFIERS = {
    "DecisionTreeClassifier": lambda e, nf: export_decision_tree(e, True),
    "ExtraTreeClassifier": lambda e, nf: export_decision_tree(e, True),
    "RandomForestClassifier": lambda e, nf: export_forest(e, True),
    "ExtraTreesClassifier": lambda e, nf: export_forest(e, True),
    "GradientBoostingClassifier": export_gradient_boosting,
    "HistGradientBoostingClassifier": lambda e, nf: export_hist_gradient_boosting(e),
    "SVC": lambda e, nf: export_svm(e),
    "NuSVC": lambda e, nf: export_svm(e),
}
REGRESSORS = {
    "DecisionTreeRegressor": lambda e, nf: export_decision_tree(e, False),
    "ExtraTreeRegressor": lambda e, nf: export_decision_tree(e, False),
    "RandomForestRegressor": lambda e, nf: export_forest(e, False),
    "ExtraTreesRegressor": lambda e, nf: export_forest(e, False),
    "GradientBoostingRegressor": export_gradient_boosting,
    "HistGradientBoostingRegressor": lambda e, nf: export_hist_gradient_boosting(e),
    "SVR": lambda e, nf: export_svm(e),
    "NuSVR": lambda e, nf: export_svm(e),
}


def export_estimator(est, n_features):
    n = name_of(est)
    if not is_sklearn(est):
        raise Unsupported(n, "a custom estimator")
    if n in LINEAR_CLASSIFIERS or n in CLASSIFIERS:
        if getattr(est, "n_outputs_", 1) != 1:
            raise Unsupported(n, "multi-output classification")
        out = {"type": n, "task": "classifier", "classes": labels(est.classes_)}
        if n in LINEAR_CLASSIFIERS:
            out.update(export_linear_classifier(est))
        else:
            out.update(CLASSIFIERS[n](est, n_features))
        return out
    if n in LINEAR_REGRESSORS:
        out = {"type": n, "task": "regressor"}
        out.update(export_linear_regressor(est))
        return out
    if n in REGRESSORS:
        if getattr(est, "n_outputs_", 1) != 1:
            raise Unsupported(n, "multi-output regression")
        out = {"type": n, "task": "regressor", "n_outputs": 1, "outputs_2d": False}
        out.update(REGRESSORS[n](est, n_features))
        return out
    if n == "OneClassSVM":
        out = {"type": n, "task": "classifier", "classes": {"type": "int", "values": [-1, 1]}}
        out.update(export_svm(est))
        return out
    raise Unsupported(n)


def flat_steps(model):
    """A Pipeline's steps in order, nested pipelines expanded, passthrough steps dropped."""
    if name_of(model) != "Pipeline" or not is_sklearn(model):
        return [model]
    out = []
    for _, step in model.steps:
        if step is None or (isinstance(step, str) and step == "passthrough"):
            continue
        out.extend(flat_steps(step))
    return out


def flatten(model):
    """Pipeline -> ([transformers], final estimator)."""
    steps = flat_steps(model)
    if not steps:
        raise Unsupported("Pipeline", "a Pipeline without steps")
    final = steps[-1]
    if not hasattr(final, "predict"):
        raise Unsupported(name_of(final), "a Pipeline whose last step does not predict")
    return steps[:-1], final


def describe(transformers, final):
    names = [name_of(t) for t in transformers] + [name_of(final)]
    return names[0] if len(names) == 1 else "Pipeline(%s)" % ", ".join(names)


def probe_rows(model, transformers, final, n_features):
    """A few rows the C++ loader re-evaluates and compares with scikit-learn's answers."""
    np = _np()
    rng = np.random.default_rng(20240601)
    rows = np.vstack([rng.standard_normal((6, n_features)) * 2.0, np.zeros((1, n_features))])
    if name_of(final).startswith("HistGradientBoosting") and final.is_categorical_ is not None:
        if transformers:
            return None
        for f in np.flatnonzero(final.is_categorical_):
            cats = np.asarray(final._bin_mapper.bin_thresholds_[f], dtype=np.float64)
            rows[:, f] = rng.choice(cats, size=rows.shape[0]) if cats.size else 0.0
    return rows


def checks_for(model, transformers, final, n_features, exported):
    np = _np()
    rows = probe_rows(model, transformers, final, n_features)
    if rows is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            pred = np.asarray(model.predict(rows))
            proba = None
            if exported["task"] == "classifier" and hasattr(model, "predict_proba"):
                proba = np.asarray(model.predict_proba(rows), dtype=np.float64)
        except Exception as e:  # the probe rows do not suit this model: no checks
            print("probe rows rejected: %s" % e, file=sys.stderr)
            return None
    out = {"rows": int(rows.shape[0]), "x": f64s(rows)}
    if exported["task"] == "classifier":
        classes = list(np.asarray(final.classes_).tolist()) if hasattr(final, "classes_") else [-1, 1]
        index = {c: i for i, c in enumerate(classes)}
        out["predict"] = [index[v] for v in pred.tolist()]
        out["proba"] = f64s(proba) if proba is not None else None
    else:
        out["predict"] = f64s(pred)
    return out


def convert(model_path, out_path):
    np = _np()
    model, load_warnings = load(model_path)
    import sklearn

    transformers, final = flatten(model)
    first = transformers[0] if transformers else final
    n_features = getattr(first, "n_features_in_", None)
    if n_features is None:
        raise Unsupported(name_of(first), "an estimator without n_features_in_ (scikit-learn < 1.0)")
    n_features = int(n_features)
    steps = [export_transformer(t) for t in transformers]
    estimator = export_estimator(final, n_features)
    if estimator["task"] == "classifier":
        estimator["has_proba"] = bool(hasattr(model, "predict_proba"))
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "producer": {
            "sklearn": sklearn.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "source": os.path.basename(model_path),
        "description": describe(transformers, final),
        "n_features": n_features,
        "feature_names": [str(v) for v in getattr(first, "feature_names_in_", [])],
        "warnings": load_warnings,
        "steps": steps,
        "estimator": estimator,
    }
    doc["checks"] = checks_for(model, transformers, final, n_features, estimator)
    tmp = out_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, allow_nan=False, separators=(",", ":"))
    os.replace(tmp, out_path)


class LoadError(Exception):
    def __init__(self, cause):
        super().__init__(str(cause))
        self.cause = cause


def load(model_path):
    import joblib

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = joblib.load(model_path)
        except Exception as e:
            raise LoadError(e)
    return model, sorted({str(w.message).splitlines()[0] for w in caught})[:10]


def load_error_kind(e):
    if isinstance(e, ImportError):
        return "missing_code"
    if isinstance(e, AttributeError) and "Can't get attribute" in str(e):
        return "missing_code"
    return "load"


def main(argv):
    status_out = sys.stdout
    sys.stdout = sys.stderr  # library chatter must not mix with the status lines
    if len(argv) < 2 or len(argv) % 2:
        print("usage: sklearn_export.py MODEL OUT [MODEL OUT ...]", file=sys.stderr)
        return 1
    worst = 0
    for model_path, out_path in zip(argv[0::2], argv[1::2]):
        status = {"model": model_path, "ok": True}
        code = 0
        try:
            convert(model_path, out_path)
        except Unsupported as e:
            status.update(ok=False, kind="unsupported", estimator=e.estimator, message=e.reason)
            code = 2
        except LoadError as e:
            kind = load_error_kind(e.cause)
            status.update(ok=False, kind=kind, estimator="",
                          message="%s: %s" % (name_of(e.cause), e.cause))
            code = 2 if kind == "missing_code" else 3
        except Exception as e:  # a bug here, or an estimator state it did not expect
            import traceback

            traceback.print_exc()
            status.update(ok=False, kind="error", estimator="", message="%s: %s" % (name_of(e), e))
            code = 1
        status_out.write(STATUS_PREFIX + json.dumps(status) + "\n")
        status_out.flush()
        if code and (worst == 0 or code > worst):
            worst = code
    return worst


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
