"""skiff's `kfp` package (src/pipelines/python) running the KFP SDK's real lightweight commands.

The commands come from the compiled samples in ../shared/kfp-samples/v2-ir (or
$SKIFF_KFP_SAMPLES). Each runs as the engine runs it: without the pip install step (what
LocalLightweightCommand keeps: everything after `sh -c '<pip install> && "$0" "$@"'`), with the
environment KfpShimEnvironment gives (PYTHONPATH=<shim>/boot), python3 from Debian and no real
kfp installed. The package is copied from the source tree (the layout InstallKfpShim writes).

Artifact URIs are "file:///skiff-kfp-test-<random>/...", which the artifact path rule puts under
/tmp/skiff/artifacts/skiff-kfp-test-<random>/ (removed at the end).

The test_e2e_* tests upload the samples to the real binary ($SKIFF_BIN) and check what its
engine's runs produce with the kfp package skiff installs itself.
"""
import json
import os
import shutil
import subprocess
import tempfile
import uuid

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHIM_SRC = os.path.join(ROOT, "src", "pipelines", "python")
SAMPLES = os.environ.get("SKIFF_KFP_SAMPLES") or os.path.join(
    os.path.dirname(ROOT), "shared", "kfp-samples")
PYTHON_PATH = "/usr/bin:/bin"
ARTIFACT_ROOT = "/tmp/skiff/artifacts"


@pytest.fixture
def shim(tmp_path):
    dest = tmp_path / "shim"
    shutil.copytree(SHIM_SRC, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


@pytest.fixture
def artifacts():
    """A unique artifact URI prefix and its local directory (removed afterwards)."""
    top = f"skiff-kfp-test-{uuid.uuid4().hex[:12]}"
    yield f"file:///{top}", os.path.join(ARTIFACT_ROOT, top)
    shutil.rmtree(os.path.join(ARTIFACT_ROOT, top), ignore_errors=True)


def sample_executor(name, executor):
    with open(os.path.join(SAMPLES, "v2-ir", name)) as f:
        doc = yaml.safe_load(f)
    container = doc["deploymentSpec"]["executors"][executor]["container"]
    return container["command"], container["args"]


def local_command(command, args, executor_input):
    """The command the engine runs: the install step dropped, {{$}} resolved."""
    assert command[:2] == ["sh", "-c"] and "pip install" in command[2]
    assert command[2].strip().endswith('&& "$0" "$@"')
    argv = command[3:] + args
    return [json.dumps(executor_input) if a == "{{$}}" else a for a in argv]


def with_source(name, executor, source, function):
    """A sample's command with another component source and function (as KFP compiles it)."""
    command, args = sample_executor(name, executor)
    command = command[:6] + ["\nimport kfp\nfrom kfp import dsl\nfrom kfp.dsl import *\n"
                             "from typing import *\n\n" + source]
    args = ["--executor_input", "{{$}}", "--function_to_execute", function]
    return command, args


def run(argv, tmp_path, pythonpath, timeout=60):
    env = {"PATH": PYTHON_PATH, "PYTHONPATH": pythonpath, "TMPDIR": str(tmp_path),
           "HOME": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=timeout)


class Task:
    """One task's executor input (outputs under its own directory) and its results."""

    def __init__(self, tmp_path, name, parameters=None, output_parameters=(),
                 input_artifacts=None, output_artifacts=None):
        self.dir = tmp_path / name
        self.output_file = str(self.dir / "kfp_outputs" / "output_metadata.json")
        self.input = {
            "inputs": {"parameterValues": parameters or {}},
            "outputs": {
                "parameters": {
                    p: {"outputFile": str(self.dir / "outputs" / p)} for p in output_parameters
                },
                "outputFile": self.output_file,
            },
        }
        if input_artifacts:
            self.input["inputs"]["artifacts"] = {
                k: {"artifacts": v} for k, v in input_artifacts.items()
            }
        if output_artifacts:
            self.input["outputs"]["artifacts"] = {
                k: {"artifacts": [v]} for k, v in output_artifacts.items()
            }

    def run(self, command, args, tmp_path, shim, expect_ok=True):
        self.proc = run(local_command(command, args, self.input), tmp_path, str(shim / "boot"))
        if expect_ok:
            assert self.proc.returncode == 0, self.proc.stdout + self.proc.stderr
        return self

    def output(self):
        with open(self.output_file) as f:
            return json.load(f)

    def parameter_file(self, name):
        with open(self.dir / "outputs" / name) as f:
            return f.read()


def artifact(uri, schema="system.Dataset", name="", metadata=None):
    return {"name": name, "uri": uri, "type": {"schemaTitle": schema, "schemaVersion": "0.0.1"},
            "metadata": metadata or {}}


def local(uri):
    return ARTIFACT_ROOT + "/" + uri.split("://", 1)[1].lstrip("/")


# --- the samples' own components ---


def test_add_numbers(tmp_path, shim):
    command, args = sample_executor("add_numbers.yaml", "exec-add-numbers")
    t = Task(tmp_path, "add", {"a": 2, "b": 40}, ["Output"]).run(command, args, tmp_path, shim)
    assert t.output() == {"parameterValues": {"Output": 42}}
    assert t.parameter_file("Output") == "42"


def test_parameters_simple(tmp_path, shim):
    command, args = sample_executor("parameters_simple.yaml", "exec-double")
    doubles = []
    for i, n in enumerate([1, 2, 3]):
        t = Task(tmp_path, f"double-{i}", {"num": n}, ["Output"]).run(command, args, tmp_path,
                                                                      shim)
        doubles.append(t.output()["parameterValues"]["Output"])
    assert doubles == [2, 4, 6]
    command, args = sample_executor("parameters_simple.yaml", "exec-add")
    t = Task(tmp_path, "add", {"nums": doubles}, ["Output"]).run(command, args, tmp_path, shim)
    assert t.output() == {"parameterValues": {"Output": 12}}
    assert t.parameter_file("Output") == "12"


def test_artifacts_simple(tmp_path, shim, artifacts):
    prefix, _ = artifacts
    command, args = sample_executor("artifacts_simple.yaml", "exec-double")
    produced = []
    for i, n in enumerate([1, 2, 3]):
        uri = f"{prefix}/ns/run/double/{i}/out_dataset"
        t = Task(tmp_path, f"double-{i}", {"num": n},
                 output_artifacts={"out_dataset": artifact(uri, name="out_dataset")})
        t.run(command, args, tmp_path, shim)
        with open(local(uri)) as f:
            assert f.read() == str(2 * n)
        out = t.output()["artifacts"]["out_dataset"]["artifacts"]
        assert out == [{"name": "out_dataset", "uri": uri, "metadata": {}}]
        produced.append(artifact(uri, name="out_dataset"))

    command, args = sample_executor("artifacts_simple.yaml", "exec-add")
    sum_uri = f"{prefix}/ns/run/add/out_dataset"
    t = Task(tmp_path, "add", input_artifacts={"in_datasets": produced},
             output_artifacts={"out_dataset": artifact(sum_uri)})
    t.run(command, args, tmp_path, shim)
    with open(local(sum_uri)) as f:
        assert f.read() == "12"


def test_flip_coin(tmp_path, shim):
    command, args = sample_executor("flip_coin.yaml", "exec-flip-coin")
    t = Task(tmp_path, "flip", {}, ["Output"]).run(command, args, tmp_path, shim)
    side = t.output()["parameterValues"]["Output"]
    assert side in ("heads", "tails")
    assert t.parameter_file("Output") == side
    assert side in t.proc.stdout  # the component prints it

    command, args = sample_executor("flip_coin.yaml", "exec-random-num")
    t = Task(tmp_path, "random", {"low": 5, "high": 9}, ["Output"]).run(command, args, tmp_path,
                                                                       shim)
    assert 5 <= t.output()["parameterValues"]["Output"] <= 9

    command, args = sample_executor("flip_coin.yaml", "exec-print-msg")
    t = Task(tmp_path, "print", {"msg": "heads and 7"}).run(command, args, tmp_path, shim)
    assert "heads and 7" in t.proc.stdout
    assert t.output() == {}


# --- the rest of the executor contract, with the samples' command and other sources ---

METRICS_SOURCE = '''
@dsl.component(base_image="python:3.11")
def evaluate(model: Input[Model], metrics: Output[Metrics],
             confusion: Output[ClassificationMetrics], report: Output[HTML],
             threshold: float = 0.5):
    with open(model.path) as f:
        weights = f.read()
    metrics.log_metric("accuracy", 0.9)
    metrics.log_metric("weights", len(weights))
    metrics.log_metric("threshold", threshold)
    metrics.log_metric("model_name", model.name)
    metrics.log_metric("framework", model.metadata.get("framework", ""))
    confusion.log_confusion_matrix(["cat", "dog"], [[8, 2], [1, 9]])
    confusion.log_roc_curve([0.0, 0.5], [0.0, 0.8], [1.0, 0.5])
    report.metadata["title"] = "report"
    with open(report.path, "w") as f:
        f.write("<p>ok</p>")
'''


def test_metrics_and_input_artifact(tmp_path, shim, artifacts):
    prefix, _ = artifacts
    model_uri = f"{prefix}/ns/run/train/model"
    os.makedirs(os.path.dirname(local(model_uri)))
    with open(local(model_uri), "w") as f:
        f.write("w1 w2")
    command, args = with_source("add_numbers.yaml", "exec-add-numbers", METRICS_SOURCE,
                                "evaluate")
    t = Task(tmp_path, "evaluate", {"threshold": 1},
             input_artifacts={"model": [artifact(model_uri, "system.Model", "model",
                                                 {"framework": "sklearn"})]},
             output_artifacts={
                 "metrics": artifact(f"{prefix}/m", "system.Metrics", "metrics"),
                 "confusion": artifact(f"{prefix}/c", "system.ClassificationMetrics"),
                 "report": artifact(f"{prefix}/r/index.html", "system.HTML"),
             })
    t.run(command, args, tmp_path, shim)
    out = t.output()["artifacts"]
    assert out["metrics"]["artifacts"][0]["metadata"] == {
        "accuracy": 0.9, "weights": 5, "threshold": 1.0, "model_name": "model",
        "framework": "sklearn"}
    assert isinstance(out["metrics"]["artifacts"][0]["metadata"]["threshold"], float)
    confusion = out["confusion"]["artifacts"][0]["metadata"]
    assert confusion["confusionMatrix"] == {
        "annotationSpecs": [{"displayName": "cat"}, {"displayName": "dog"}],
        "rows": [{"row": [8, 2]}, {"row": [1, 9]}]}
    assert confusion["confidenceMetrics"][1] == {
        "confidenceThreshold": 0.5, "recall": 0.8, "falsePositiveRate": 0.5}
    assert out["report"]["artifacts"][0] == {"name": "", "uri": f"{prefix}/r/index.html",
                                             "metadata": {"title": "report"}}
    with open(local(f"{prefix}/r/index.html")) as f:
        assert f.read() == "<p>ok</p>"


NAMED_TUPLE_SOURCE = '''
def stats(nums: List[int], scale: float, verbose: bool, labels: Dict[str, str],
          note: Optional[str] = "default note") -> NamedTuple(
              "Outputs", [("total", int), ("mean", float), ("flags", dict), ("note", str),
                          ("ok", bool)]):
    assert isinstance(scale, float) and verbose is True, (scale, verbose)
    Outputs = NamedTuple("Outputs", [("total", int), ("mean", float), ("flags", dict),
                                     ("note", str), ("ok", bool)])
    total = sum(nums)
    return Outputs(total, total * scale / len(nums), {"labels": labels}, note, total > 3)
'''


def test_named_tuple_outputs_and_typed_parameters(tmp_path, shim):
    command, args = with_source("add_numbers.yaml", "exec-add-numbers", NAMED_TUPLE_SOURCE,
                                "stats")
    outputs = ["total", "mean", "flags", "note", "ok"]
    t = Task(tmp_path, "stats", {"nums": [1, 2, 3], "scale": 2, "verbose": True,
                                 "labels": {"a": "b"}}, outputs)
    t.run(command, args, tmp_path, shim)
    assert t.output() == {"parameterValues": {
        "total": 6, "mean": 4.0, "flags": {"labels": {"a": "b"}}, "note": "default note",
        "ok": True}}
    assert t.parameter_file("total") == "6"
    assert t.parameter_file("mean") == "4.0"
    assert json.loads(t.parameter_file("flags")) == {"labels": {"a": "b"}}
    assert t.parameter_file("note") == "default note"
    assert t.parameter_file("ok") == "true"


PATHS_SOURCE = '''
def paths(data: InputPath("Dataset"), lines: OutputPath(int), copy: OutputPath("Dataset"),
          summary: Output[Artifact]) -> Dataset:
    with open(data) as f:
        text = f.read()
    with open(lines, "w") as f:
        f.write(str(len(text.splitlines())))
    with open(copy, "w") as f:
        f.write(text.upper())
    summary.path = summary.path + ".txt"
    with open(summary.path, "w") as f:
        f.write("summary")
    return "returned payload"
'''


def test_input_output_paths_and_artifact_return(tmp_path, shim, artifacts):
    prefix, _ = artifacts
    data_uri = f"{prefix}/in/data.csv"
    os.makedirs(os.path.dirname(local(data_uri)))
    with open(local(data_uri), "w") as f:
        f.write("a,b\n1,2\n")
    command, args = with_source("add_numbers.yaml", "exec-add-numbers", PATHS_SOURCE, "paths")
    t = Task(tmp_path, "paths", {}, ["lines"],
             input_artifacts={"data": [artifact(data_uri)]},
             output_artifacts={"copy": artifact(f"{prefix}/out/copy"),
                               "summary": artifact(f"{prefix}/out/summary", "system.Artifact"),
                               "Output": artifact(f"{prefix}/out/Output")})
    t.run(command, args, tmp_path, shim)
    assert t.parameter_file("lines") == "2"
    with open(local(f"{prefix}/out/copy")) as f:
        assert f.read() == "A,B\n1,2\n"
    with open(local(f"{prefix}/out/Output")) as f:
        assert f.read() == "returned payload"
    out = t.output()["artifacts"]
    # Setting .path moves the artifact: its URI follows, in the same scheme.
    assert out["summary"]["artifacts"][0]["uri"] == f"{prefix}/out/summary.txt"
    with open(local(f"{prefix}/out/summary.txt")) as f:
        assert f.read() == "summary"


FAILING_SOURCE = '''
def fail(message: str):
    raise ValueError("component failed: " + message)
'''


def test_component_exception_fails_the_task(tmp_path, shim):
    command, args = with_source("add_numbers.yaml", "exec-add-numbers", FAILING_SOURCE, "fail")
    t = Task(tmp_path, "fail", {"message": "boom"})
    t.run(command, args, tmp_path, shim, expect_ok=False)
    assert t.proc.returncode != 0
    assert "Traceback" in t.proc.stderr
    assert "ValueError: component failed: boom" in t.proc.stderr
    assert not os.path.exists(t.output_file)


def test_wrong_return_type_fails(tmp_path, shim):
    source = "def bad() -> int:\n    return 'not an int'\n"
    command, args = with_source("add_numbers.yaml", "exec-add-numbers", source, "bad")
    t = Task(tmp_path, "bad", {}, ["Output"]).run(command, args, tmp_path, shim,
                                                  expect_ok=False)
    assert t.proc.returncode != 0
    assert "returned value of type" in t.proc.stderr


KFP20_PROGRAM = (
    'program_path=$(mktemp -d)\nprintf "%s" "$0" > "$program_path/ephemeral_component.py"\n'
    'python3 -m kfp.components.executor_main                         --component_module_path'
    '                         "$program_path/ephemeral_component.py"                         '
    '"$@"\n')


def test_kfp_2_0_executor_module(tmp_path, shim):
    """KFP 2.0 compiled `python3 -m kfp.components.executor_main`."""
    command, args = sample_executor("add_numbers.yaml", "exec-add-numbers")
    command = command[:3] + ["sh", "-ec", KFP20_PROGRAM] + command[6:]
    t = Task(tmp_path, "add20", {"a": 1.0, "b": 2}, ["Output"]).run(command, args, tmp_path, shim)
    assert t.output() == {"parameterValues": {"Output": 3}}


# --- which kfp a task gets ---


def which_kfp(tmp_path, pythonpath):
    proc = run(["python3", "-c", "import kfp, kfp.dsl; print(kfp.__file__)"], tmp_path,
               pythonpath)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def make_fake_kfp(root, with_executor):
    """A stand-in for an installed kfp: kfp 2 (with the executor) or an older one."""
    (root / "kfp" / "dsl").mkdir(parents=True)
    (root / "kfp" / "__init__.py").write_text("")
    (root / "kfp" / "dsl" / "__init__.py").write_text("")
    if with_executor:
        (root / "kfp" / "dsl" / "executor_main.py").write_text(
            "import sys\nprint('REAL KFP EXECUTOR', ' '.join(sys.argv[1:3]))\n")


def test_shim_used_when_kfp_is_absent(tmp_path, shim):
    assert which_kfp(tmp_path, str(shim / "boot")) == str(shim / "pkg" / "kfp" / "__init__.py")
    # Without skiff's environment there is no kfp at all (the premise of these tests).
    proc = run(["python3", "-c", "import kfp"], tmp_path, "")
    assert proc.returncode != 0 and "No module named 'kfp'" in proc.stderr


def test_real_kfp_wins(tmp_path, shim):
    real = tmp_path / "site"
    make_fake_kfp(real, with_executor=True)
    pythonpath = f"{shim / 'boot'}:{real}"
    assert which_kfp(tmp_path, pythonpath) == str(real / "kfp" / "__init__.py")
    command, args = sample_executor("add_numbers.yaml", "exec-add-numbers")
    t = Task(tmp_path, "add", {"a": 1, "b": 2}, ["Output"])
    proc = run(local_command(command, args, t.input), tmp_path, pythonpath)
    assert proc.returncode == 0, proc.stderr
    assert "REAL KFP EXECUTOR --component_module_path" in proc.stdout
    assert not os.path.exists(t.output_file)


def test_kfp_without_v2_executor_is_shadowed(tmp_path, shim):
    old = tmp_path / "site"
    make_fake_kfp(old, with_executor=False)  # e.g. kfp 1.8: no kfp.dsl.executor_main
    assert which_kfp(tmp_path, f"{shim / 'boot'}:{old}") == str(
        shim / "pkg" / "kfp" / "__init__.py")


def test_shadowed_sitecustomize_still_runs(tmp_path, shim):
    other = tmp_path / "other"
    other.mkdir()
    (other / "sitecustomize.py").write_text("import builtins\nbuiltins.SKIFF_OTHER_SITE = 1\n")
    proc = run(["python3", "-c", "import builtins, kfp; print(builtins.SKIFF_OTHER_SITE, "
                "kfp.SKIFF_SHIM)"], tmp_path, f"{shim / 'boot'}:{other}")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1", "True"]


EXIT_HANDLER_SOURCE = '''
def report(status: PipelineTaskFinalStatus, user: str = "nobody") -> str:
    return f"{status.state} {status.pipeline_task_name} {status.error_code} {status.error_message} {user}"
'''


def test_pipeline_task_final_status(tmp_path, shim):
    command, args = with_source("add_numbers.yaml", "exec-add-numbers", EXIT_HANDLER_SOURCE,
                                "report")
    status = {"state": "FAILED", "pipelineJobResourceName": "runs/1", "pipelineTaskName": "train",
              "error": {"code": 9, "message": "it broke"}}
    t = Task(tmp_path, "exit", {"status": status}, ["Output"]).run(command, args, tmp_path, shim)
    assert t.output() == {"parameterValues": {"Output": "FAILED train 9 it broke nobody"}}


def test_missing_package_is_explained(tmp_path, shim):
    source = "def uses_pandas() -> int:\n    import pandas_not_installed_here\n    return 1\n"
    command, args = with_source("add_numbers.yaml", "exec-add-numbers", source, "uses_pandas")
    t = Task(tmp_path, "pandas", {}, ["Output"]).run(command, args, tmp_path, shim,
                                                     expect_ok=False)
    assert t.proc.returncode != 0
    assert "`pandas_not_installed_here` is not installed" in t.proc.stderr
    assert "ModuleNotFoundError" in t.proc.stderr


def test_artifact_path_rule_matches_cpp(tmp_path, shim):
    """The Python twin of ArtifactLocalPath, on the cases lightweight_test.cpp checks."""
    cases = {
        "file:///var/lib/skiff/pipelines/artifacts/ns/run/a/model":
            "/tmp/skiff/artifacts/var/lib/skiff/pipelines/artifacts/ns/run/a/model",
        "s3://bucket/p/x": "/tmp/skiff/artifacts/bucket/p/x",
        "gs://b//k/": "/tmp/skiff/artifacts/b/k",
        "minio://mlpipeline/v2/artifacts/x": "/tmp/skiff/artifacts/mlpipeline/v2/artifacts/x",
        "file:///a/./b/../c": "/tmp/skiff/artifacts/a/c",
        "file:///../../etc/passwd": "/tmp/skiff/artifacts/etc/passwd",
        "s3://..": "/tmp/skiff/artifacts",
        "/tmp/x/y": "/tmp/x/y",
        "": "",
    }
    script = ("import json, sys\nfrom kfp.dsl import Artifact\n"
              "print(json.dumps({u: Artifact(uri=u).path for u in json.loads(sys.argv[1])}))\n")
    proc = run(["python3", "-c", script, json.dumps(list(cases))], tmp_path, str(shim / "boot"))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == cases


# --- end to end: the samples uploaded to skiff and run by its engine ---

E2E_USERS = {"ops": "ops@example.com", "alice": "alice@example.com"}


class Server:
    def __init__(self, skiff):
        self.skiff = skiff

    def call(self, user, method, path, **kw):
        import requests
        headers = kw.pop("headers", {})
        headers["X-Forwarded-Email"] = E2E_USERS[user]
        kw.setdefault("timeout", 30)
        return requests.request(method, self.skiff.url + path, headers=headers, **kw)

    def ok(self, user, method, path, **kw):
        r = self.call(user, method, path, **kw)
        assert r.status_code == 200, f"{method} {path}: {r.status_code} {r.text}"
        return r.json()

    def run_sample(self, name, parameters=None, timeout=120):
        from conftest import wait_until
        with open(os.path.join(SAMPLES, "v2-ir", name)) as f:
            text = f.read()
        r = self.call("alice", "POST", "/apis/v2beta1/pipelines/upload",
                      params={"name": name}, files={"uploadfile": (name, text)})
        assert r.status_code == 200, r.text
        pid = r.json()["pipeline_id"]
        versions = self.ok("alice", "GET", f"/apis/v2beta1/pipelines/{pid}/versions")
        vid = versions["pipeline_versions"][0]["pipeline_version_id"]
        exp = self.ok("alice", "POST", "/apis/v2beta1/experiments",
                      json={"display_name": name, "namespace": "team-a"})
        run = self.ok("alice", "POST", "/apis/v2beta1/runs", json={
            "display_name": name, "experiment_id": exp["experiment_id"],
            "pipeline_version_reference": {"pipeline_id": pid, "pipeline_version_id": vid},
            "runtime_config": {"parameters": parameters or {}}})

        def done():
            d = self.ok("alice", "GET", f"/apis/v2beta1/runs/{run['run_id']}")
            return d if d["state"] in ("SUCCEEDED", "FAILED", "CANCELED") else None

        return wait_until(done, timeout=timeout, interval=0.1, what=f"run of {name}")

    def logs(self, run):
        out = {}
        for t in run["run_details"]["task_details"]:
            if t.get("pod_name"):
                r = self.call("alice", "GET", "/pipeline/k8s/pod/logs",
                              params={"podname": t["pod_name"], "runid": run["run_id"]})
                out[t["display_name"]] = r.text
        return out


@pytest.fixture(scope="module")
def server():
    from conftest import start_trusted_header_skiff
    # Not under /tmp: every task has its own /tmp, which would hide the kfp package skiff
    # installs in its data dir (production data dirs are elsewhere, /var/lib/skiff...).
    top = tempfile.mkdtemp(prefix="skiff-kfp-e2e-", dir="/var/tmp")
    try:
        s = start_trusted_header_skiff(top)
    except BaseException:
        shutil.rmtree(top, ignore_errors=True)
        raise
    srv = Server(s)
    try:
        r = srv.call("ops", "POST", "/api/v1/namespaces",
                     json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}})
        assert r.status_code == 201, r.text
        b = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
             "metadata": {"name": "alice-admin", "namespace": "team-a"},
             "subjects": [{"kind": "User", "name": "alice@example.com",
                           "apiGroup": "rbac.authorization.k8s.io"}],
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                         "name": "kubeflow-admin"}}
        r = srv.call("ops", "POST",
                     "/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings", json=b)
        assert r.status_code == 201, r.text
        yield srv
    finally:
        rc = s.stop()
        shutil.rmtree(top, ignore_errors=True)
    assert rc == 0, s.err.all[-30:]


def pods(run):
    """Task details of the run's container tasks: display name -> list of details."""
    out = {}
    for t in run["run_details"]["task_details"]:
        if t.get("pod_name"):
            out.setdefault(t["display_name"], []).append(t)
    return out


def test_e2e_parameters_simple(server):
    run = server.run_sample("parameters_simple.yaml")
    assert run["state"] == "SUCCEEDED", (run, server.logs(run))
    tasks = pods(run)
    assert sorted(t["outputs"]["parameters"]["Output"] for t in tasks["double"]) == [2, 4, 6]
    assert tasks["add"][0]["outputs"]["parameters"]["Output"] == 12
    assert tasks["add-container"][0]["outputs"]["parameters"]["sum"] == 12


def test_e2e_flip_coin(server):
    run = server.run_sample("flip_coin.yaml")
    assert run["state"] == "SUCCEEDED", (run, server.logs(run))
    tasks = pods(run)
    side = tasks["flip-coin"][0]["outputs"]["parameters"]["Output"]
    assert side in ("heads", "tails")
    # heads: random-num (0..9) then print-msg or print-msg-2; tails: random-num-2 (10..19)...
    ran = [t for name, ts in tasks.items() if name.startswith("random-num") for t in ts
           if t["state"] == "SUCCEEDED"]
    assert len(ran) == 1, tasks.keys()
    number = ran[0]["outputs"]["parameters"]["Output"]
    assert (0 <= number <= 9) if side == "heads" else (10 <= number <= 19)
    printed = [log for name, log in server.logs(run).items() if name.startswith("print-msg")]
    assert any(f"{side} and {number}" in log for log in printed), printed


def test_e2e_artifacts_simple(server):
    """The lightweight tasks (double x3, add over the collected artifacts) succeed and store
    their datasets. (The sample's add-container step reads gs:// paths under /gcs/: not ours.)"""
    run = server.run_sample("artifacts_simple.yaml")
    tasks = pods(run)

    def content(task):
        assert task["state"] == "SUCCEEDED", (task, server.logs(run))
        uri = task["outputs"]["artifacts"]["out_dataset"]["uri"]
        assert uri.startswith("file:///")
        with open(uri[len("file://"):]) as f:
            return f.read()

    assert sorted(content(t) for t in tasks["double"]) == ["2", "4", "6"]
    assert content(tasks["add"][0]) == "12"
