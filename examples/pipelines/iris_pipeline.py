"""Source of the iris pipeline in both formats (KFP SDK). skiff runs the compiled files; this file
is how they were written. With the KFP SDK installed:

    python3 iris_pipeline.py            # writes iris-v2.yaml (KFP v2 IR)

iris-v1.yaml is the same pipeline as the KFP v1 SDK compiles it (an Argo Workflow whose steps
run `python3 -c` programs).
"""
from kfp import compiler, dsl
from kfp.dsl import Input, Metrics, Model, Output


@dsl.component(base_image="python:3.11", packages_to_install=["scikit-learn", "joblib"])
def train(c: float, model: Output[Model], metrics: Output[Metrics]):
    import os

    import joblib
    from sklearn import datasets, svm
    from sklearn.model_selection import train_test_split

    iris = datasets.load_iris()
    x_train, x_test, y_train, y_test = train_test_split(
        iris.data, iris.target, test_size=0.2, random_state=0)
    clf = svm.SVC(gamma="scale", C=c)
    clf.fit(x_train, y_train)
    metrics.log_metric("accuracy", float(clf.score(x_test, y_test)))
    os.makedirs(model.path, exist_ok=True)
    joblib.dump(clf, os.path.join(model.path, "model.joblib"))


@dsl.component(base_image="python:3.11", packages_to_install=["scikit-learn", "joblib"])
def evaluate(model: Input[Model]) -> float:
    import os

    import joblib
    from sklearn import datasets

    iris = datasets.load_iris()
    clf = joblib.load(os.path.join(model.path, "model.joblib"))
    accuracy = float(clf.score(iris.data, iris.target))
    print(f"accuracy on all of iris: {accuracy:.3f}")
    return accuracy


@dsl.pipeline(name="iris", description="Trains an SVC on iris and evaluates it.")
def iris(c: float = 1.0):
    trained = train(c=c)
    evaluate(model=trained.outputs["model"])


if __name__ == "__main__":
    compiler.Compiler().compile(iris, "iris-v2.yaml")
