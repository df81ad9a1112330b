"""Model serving end to end: KServe InferenceService YAML through kubectl and skiff, V1/V2
requests by host- and path-based URLs, canary traffic, failures, storage and runtimes."""
import json
import os
import subprocess
import textwrap
import threading

import pytest
import requests

from conftest import S3rverPeer, Skiff, wait_until

PYTHON = "/usr/bin/python3"
IRIS = {"instances": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]}


def train(script, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    subprocess.run([PYTHON, "-c", textwrap.dedent(script), out_dir], check=True, timeout=120,
                   capture_output=True)
    return out_dir


def iris_svc(out_dir):
    return train("""
        import sys, joblib
        from sklearn import datasets, svm
        iris = datasets.load_iris()
        joblib.dump(svm.SVC(gamma="scale").fit(iris.data, iris.target), sys.argv[1] + "/model.joblib")
    """, out_dir)


def constant(out_dir, value):
    """A classifier that always answers `value` (to tell revisions apart)."""
    return train(f"""
        import sys, joblib
        from sklearn.dummy import DummyClassifier
        m = DummyClassifier(strategy="constant", constant={value}).fit([[0, 0, 0, 0]] * 3, [{value}, 0, 1])
        joblib.dump(m, sys.argv[1] + "/model.joblib")
    """, out_dir)


def isvc_yaml(name, uri, extra="", ns="default"):
    return textwrap.dedent(f"""\
        apiVersion: serving.kserve.io/v1beta1
        kind: InferenceService
        metadata:
          name: {name}
          namespace: {ns}
        spec:
          predictor:
            {extra}
            sklearn:
              storageUri: {uri}
        """)


def apply(skiff, text):
    r = skiff.cli("apply", "-f", "-", input=text)
    assert r.returncode == 0, r.stderr
    return r.stdout


def isvc(skiff, name, ns="default"):
    r = skiff.request("GET", f"/apis/serving.kserve.io/v1beta1/namespaces/{ns}/inferenceservices/{name}")
    return r.json() if r.status_code == 200 else None


def condition(obj, ctype):
    for c in (obj or {}).get("status", {}).get("conditions", []):
        if c["type"] == ctype:
            return c
    return {}


def wait_ready(skiff, name, ns="default", timeout=60):
    return wait_until(lambda: condition(isvc(skiff, name, ns), "Ready").get("status") == "True",
                      timeout=timeout, interval=0.1, what=f"{ns}/{name} Ready")


def predict(skiff, path="/v1/models/m:predict", host=None, body=IRIS):
    headers = {"Content-Type": "application/json"}
    if host:
        headers["Host"] = host
    return skiff.request("POST", path, data=json.dumps(body), headers=headers)


def test_demo_serves_sklearn_iris_on_every_url(tmpdir_path):
    s = Skiff(os.path.join(tmpdir_path, "data"), env={"SKIFF_DEMO_ENABLED": "true"}).start()
    try:
        wait_ready(s, "sklearn-iris", "kserve-test", timeout=120)
        urls = [
            ("/v1/models/sklearn-iris:predict", "sklearn-iris.kserve-test.example.com"),
            ("/v1/models/sklearn-iris:predict", "sklearn-iris-predictor-default.kserve-test.example.com"),
            ("/v1/models/sklearn-iris:predict", "sklearn-iris.kserve-test.my-company.internal:8080"),
            ("/kfserving/kserve-test/sklearn-iris:predict", None),
            ("/serving/kserve-test/sklearn-iris/v1/models/sklearn-iris:predict", None),
            ("/v1/models/sklearn-iris:predict", None),
        ]
        for path, host in urls:
            r = predict(s, path, host)
            assert r.status_code == 200, (path, host, r.text)
            assert r.json() == {"predictions": [1, 1]}, (path, host)
        # V2 on the same model.
        body = {"inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP64",
                            "data": [6.8, 2.8, 4.8, 1.4, 6.0, 3.4, 4.5, 1.6]}]}
        r = s.request("POST", "/serving/kserve-test/sklearn-iris/v2/models/sklearn-iris/infer", json=body)
        assert r.status_code == 200, r.text
        assert r.json()["outputs"][0]["data"] == [1, 1]
        assert s.request("GET", "/v2/health/ready").json() == {"ready": True}
        meta = s.request("GET", "/v2/models/sklearn-iris").json()
        assert meta["inputs"][0]["shape"] == [-1, 4]
        # Status as KServe writes it.
        obj = isvc(s, "sklearn-iris", "kserve-test")
        st = obj["status"]
        assert st["url"] == "http://sklearn-iris.kserve-test.example.com"
        assert st["components"]["predictor"]["latestReadyRevision"] == "sklearn-iris-predictor-00001"
        assert st["components"]["predictor"]["traffic"] == [
            {"revisionName": "sklearn-iris-predictor-00001", "percent": 100, "latestRevision": True, "tag": "latest"}]
        assert st["modelStatus"]["states"]["activeModelState"] == "Loaded"
        # Per-model metrics.
        text = s.request("GET", "/metrics").text
        assert 'skiff_model_requests_total{namespace="kserve-test",model="sklearn-iris"' in text
    finally:
        assert s.stop() == 0


def test_kubectl_apply_kserve_yaml_and_errors(skiff, kubectl, tmpdir_path):
    model = iris_svc(f"{tmpdir_path}/iris")
    path = f"{tmpdir_path}/isvc.yaml"
    with open(path, "w") as f:
        f.write(isvc_yaml("sklearn-iris", model, extra="minReplicas: 1"))
    r = kubectl.run("apply", "-f", path)
    assert r.stdout.strip() == "inferenceservice.serving.kserve.io/sklearn-iris created"
    wait_ready(skiff, "sklearn-iris")
    r = kubectl.run("get", "isvc")
    header = r.stdout.splitlines()[0].split()
    assert header[:3] == ["NAME", "URL", "READY"]
    assert "True" in r.stdout.splitlines()[1]
    r = kubectl.run("apply", "-f", path)
    assert r.stdout.strip() == "inferenceservice.serving.kserve.io/sklearn-iris unchanged"

    # Errors as KServe returns them.
    r = skiff.request("POST", "/v1/models/sklearn-iris:predict", data="{not json")
    assert r.status_code == 400 and "Unrecognized request format" in r.json()["error"]
    r = predict(skiff, body={"instances": [[1, 2, 3]]}, path="/v1/models/sklearn-iris:predict")
    assert r.status_code == 400 and "4" in r.json()["error"]
    r = predict(skiff, path="/v1/models/nope:predict")
    assert r.status_code == 404 and r.json() == {"error": "Model with name nope does not exist."}
    r = skiff.request("POST", "/v1/models/sklearn-iris:predict", data="x" * (9 << 20))
    assert r.status_code == 413
    # The model still serves after all that.
    assert predict(skiff, "/v1/models/sklearn-iris:predict").json() == {"predictions": [1, 1]}

    kubectl.run("delete", "isvc", "sklearn-iris")
    wait_until(lambda: predict(skiff, "/v1/models/sklearn-iris:predict").status_code == 404,
               what="the model to be unloaded")


def test_load_failures_say_what_is_wrong_and_others_keep_serving(skiff, tmpdir_path):
    apply(skiff, isvc_yaml("good", iris_svc(f"{tmpdir_path}/iris")))
    wait_ready(skiff, "good")
    apply(skiff, isvc_yaml("missing", f"{tmpdir_path}/does-not-exist"))
    os.makedirs(f"{tmpdir_path}/corrupt")
    with open(f"{tmpdir_path}/corrupt/model.joblib", "wb") as f:
        f.write(b"this is not a pickle")
    apply(skiff, isvc_yaml("corrupt", f"{tmpdir_path}/corrupt"))
    apply(skiff, isvc_yaml("cloud", "gs://kfserving-examples/models/sklearn/1.0/model"))
    for name, words in [("missing", "does-not-exist"), ("corrupt", "model.joblib"), ("cloud", "gs://")]:
        c = wait_until(lambda: condition(isvc(skiff, name), "Ready").get("status") == "False"
                       and condition(isvc(skiff, name), "Ready"), timeout=60, what=f"{name} to fail")
        assert words in c["message"], (name, c)
        assert isvc(skiff, name)["status"]["modelStatus"]["lastFailureInfo"]["message"]
        r = predict(skiff, f"/v1/models/{name}:predict")
        assert r.status_code == 503 and "not ready" in r.json()["error"]
    assert predict(skiff, "/v1/models/good:predict").json() == {"predictions": [1, 1]}


def test_canary_split_and_promotion(skiff, tmpdir_path):
    v1 = constant(f"{tmpdir_path}/v1", 0)
    v2 = constant(f"{tmpdir_path}/v2", 2)
    apply(skiff, isvc_yaml("canary", v1))
    wait_ready(skiff, "canary")
    one = {"instances": [[1, 2, 3, 4]]}
    assert predict(skiff, "/v1/models/canary:predict", body=one).json() == {"predictions": [0]}
    apply(skiff, isvc_yaml("canary", v2, extra="canaryTrafficPercent: 20"))
    wait_until(lambda: len(isvc(skiff, "canary")["status"]["components"]["predictor"]["traffic"]) == 2,
               timeout=60, what="the canary split")
    traffic = {t["revisionName"]: t["percent"] for t in isvc(skiff, "canary")["status"]["components"]["predictor"]["traffic"]}
    assert traffic == {"canary-predictor-00001": 80, "canary-predictor-00002": 20}
    answers = [predict(skiff, "/v1/models/canary:predict", body=one).json()["predictions"][0] for _ in range(200)]
    assert answers.count(2) == 40 and answers.count(0) == 160, answers
    # Removing canaryTrafficPercent promotes the new revision.
    apply(skiff, isvc_yaml("canary", v2))
    wait_until(lambda: isvc(skiff, "canary")["status"]["components"]["predictor"]["traffic"][0]["percent"] == 100
               and isvc(skiff, "canary")["status"]["components"]["predictor"]["traffic"][0]["revisionName"] == "canary-predictor-00002",
               what="promotion")
    answers = [predict(skiff, "/v1/models/canary:predict", body=one).json()["predictions"][0] for _ in range(20)]
    assert set(answers) == {2}


def test_previous_revision_serves_while_a_bad_update_fails(skiff, tmpdir_path):
    apply(skiff, isvc_yaml("steady", constant(f"{tmpdir_path}/v1", 1)))
    wait_ready(skiff, "steady")
    apply(skiff, isvc_yaml("steady", f"{tmpdir_path}/nothing-here"))
    wait_until(lambda: condition(isvc(skiff, "steady"), "PredictorReady").get("status") == "False",
               timeout=60, what="the bad revision to fail")
    c = condition(isvc(skiff, "steady"), "PredictorReady")
    assert "steady-predictor-00001 keeps serving" in c["message"]
    assert predict(skiff, "/v1/models/steady:predict", body={"instances": [[0, 0, 0, 0]]}).json() == {"predictions": [1]}


def test_kfserving_v1alpha2_form(skiff, tmpdir_path):
    model = iris_svc(f"{tmpdir_path}/iris")
    apply(skiff, textwrap.dedent(f"""\
        apiVersion: serving.kubeflow.org/v1alpha2
        kind: InferenceService
        metadata:
          name: old-iris
        spec:
          default:
            predictor:
              sklearn:
                storageUri: {model}
        """))
    wait_until(lambda: condition(skiff.request("GET", "/apis/serving.kubeflow.org/v1alpha2/namespaces/default/inferenceservices/old-iris").json(), "Ready").get("status") == "True",
               timeout=60, what="v1alpha2 ready")
    r = predict(skiff, "/v1/models/old-iris:predict", host="old-iris-predictor-default.default.example.com")
    assert r.json() == {"predictions": [1, 1]}


def test_xgboost_and_python_fallback_runtimes(skiff, tmpdir_path):
    train("""
        import sys, xgboost as xgb
        from sklearn import datasets
        iris = datasets.load_iris()
        m = xgb.XGBClassifier(n_estimators=10, max_depth=3).fit(iris.data, iris.target)
        m.get_booster().save_model(sys.argv[1] + "/model.bst")
    """, f"{tmpdir_path}/xgb")
    apply(skiff, textwrap.dedent(f"""\
        apiVersion: serving.kserve.io/v1beta1
        kind: InferenceService
        metadata: {{name: xgb-iris}}
        spec:
          predictor:
            xgboost: {{storageUri: "{tmpdir_path}/xgb"}}
        """))
    # KNeighbors is not in the native evaluator set: the Python workers serve it.
    train("""
        import sys, joblib
        from sklearn import datasets
        from sklearn.neighbors import KNeighborsClassifier
        iris = datasets.load_iris()
        joblib.dump(KNeighborsClassifier().fit(iris.data, iris.target), sys.argv[1] + "/model.joblib")
    """, f"{tmpdir_path}/knn")
    apply(skiff, isvc_yaml("knn-iris", f"{tmpdir_path}/knn"))
    wait_ready(skiff, "xgb-iris")
    wait_ready(skiff, "knn-iris")
    r = predict(skiff, "/v1/models/xgb-iris:predict")
    assert r.status_code == 200, r.text
    probs = r.json()["predictions"]
    assert len(probs) == 2 and all(abs(sum(p) - 1) < 1e-5 for p in probs)
    assert [p.index(max(p)) for p in probs] == [1, 1]
    assert predict(skiff, "/v1/models/knn-iris:predict").json() == {"predictions": [1, 1]}


def test_model_from_s3(tmpdir_path):
    with S3rverPeer(f"{tmpdir_path}/s3", "models") as s3:
        model = iris_svc(f"{tmpdir_path}/iris")
        with open(f"{model}/model.joblib", "rb") as f:
            data = f.read()
        # s3rver does not check signatures; skiff's SigV4 is proven by unit tests.
        r = requests.put(f"{s3.url}/models/iris/v1/model.joblib", data=data,
                         headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}, timeout=10)
        assert r.status_code == 200, r.text
        s = Skiff(os.path.join(tmpdir_path, "data"), env={
            "SKIFF_STORAGE_S3_ENDPOINT": s3.url,
            "SKIFF_STORAGE_S3_ADDRESSING": "path",
            "AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER", "AWS_REGION": "us-east-1"}).start()
        try:
            apply(s, isvc_yaml("s3-iris", "s3://models/iris/v1"))
            wait_ready(s, "s3-iris")
            assert predict(s, "/v1/models/s3-iris:predict").json() == {"predictions": [1, 1]}
        finally:
            assert s.stop() == 0


def test_overload_answers_503_with_retry_after(tmpdir_path):
    # A Python predictor that takes a while, one worker, a queue of one.
    d = f"{tmpdir_path}/slow"
    os.makedirs(d)
    with open(f"{d}/model.py", "w") as f:
        f.write(textwrap.dedent("""\
            import time
            class SlowModel:
                def __init__(self, name):
                    self.name = name
                    self.ready = False
                def load(self):
                    self.ready = True
                def predict(self, payload, headers=None):
                    time.sleep(0.5)
                    return {"predictions": [0 for _ in payload["instances"]]}
            """))
    s = Skiff(os.path.join(tmpdir_path, "data"), env={"SKIFF_SERVING_QUEUE_DEPTH": "1",
                                                      "SKIFF_SERVING_PYTHON_WORKERS": "1"}).start()
    try:
        apply(s, textwrap.dedent(f"""\
            apiVersion: serving.kserve.io/v1beta1
            kind: InferenceService
            metadata: {{name: slow}}
            spec:
              predictor:
                model:
                  modelFormat: {{name: custom}}
                  storageUri: {d}
            """))
        wait_ready(s, "slow")
        codes = []
        lock = threading.Lock()

        def call():
            r = predict(s, "/v1/models/slow:predict", body={"instances": [[1]]})
            with lock:
                codes.append((r.status_code, r.headers.get("Retry-After")))

        threads = [threading.Thread(target=call) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert any(c == 200 for c, _ in codes), codes
        busy = [ra for c, ra in codes if c == 503]
        assert busy and all(ra for ra in busy), codes
    finally:
        assert s.stop() == 0
