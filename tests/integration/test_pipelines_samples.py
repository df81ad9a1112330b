"""Every pipeline compiled by the KFP SDK in ../shared/kfp-samples (issue 7, "Samples") uploaded
through the API and run on this machine to the state KFP would reach (the samples' README):
container-only and lightweight Python pipelines succeed; a file that needs the cluster is
refused at upload naming the field; a step whose command is not here fails and says which; a
pipeline that writes to a cloud bucket fails at that step.
"""
import os
import shutil

import pytest

from conftest import Skiff, wait_until

SAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "kfp-samples")

# Run parameters for pipelines with required parameters (the SDK's compile tests give these).
PARAMS = {
    "add_numbers": {"a": 1, "b": 2},
    "arguments_parameters": {"param2": "world"},
    "container_io": {"text": "some text"},
    "container_with_concat_placeholder": {"text1": "hello "},
    "sequential_v1": {"param1": "one", "param2": "two"},
}

SUCCEED = ["v1-argo/coin", "v1-argo/recursive_while", "v1-argo/withitem_basic",
           "v1-argo/withparam_output", "v2-ir/add_numbers", "v2-ir/arguments_parameters",
           "v2-ir/flip_coin",
           "v2-ir/hello_world", "v2-ir/parameters_simple", "v2-ir/pipeline_with_after",
           "v2-ir/pipeline_with_nested_conditions_yaml",
           "v2-ir/producer_consumer_param_pipeline", "v2-ir/sequential_v1"]

# Container components whose command (`my_program`) exists only in their image.
MISSING_COMMAND = {"v2-ir/container_io": "container-io",
                   "v2-ir/container_with_concat_placeholder": "container-with-concat-placeholder",
                   "v2-ir/container_with_if_placeholder": "container-with-if-placeholder"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Skiff(str(tmp_path_factory.mktemp("samples") / "data")).start()
    yield s
    assert s.stop() == 0


def all_samples():
    out = []
    for sub in ["v1-argo", "v2-ir"]:
        for f in sorted(os.listdir(os.path.join(SAMPLES, sub))):
            if f.endswith(".yaml"):
                out.append(f"{sub}/{f[:-5]}")
    return out


def test_every_sample_is_covered():
    expected = set(SUCCEED) | set(MISSING_COMMAND) | {
        "v1-argo/param_substitutions", "v1-argo/timeout", "v2-ir/artifacts_simple",
        "v2-ir/two_step_pipeline"}
    assert set(all_samples()) == expected


@pytest.fixture(scope="module")
def runs(server):
    """Uploads every sample and starts a run of each; returns {sample: final run} (v2beta1)."""
    exp = server.request("POST", "/apis/v2beta1/experiments",
                         json={"display_name": "samples", "namespace": "samples"}).json()
    started, refused = {}, {}
    for sample in all_samples():
        with open(os.path.join(SAMPLES, sample + ".yaml")) as f:
            r = server.request("POST", "/apis/v2beta1/pipelines/upload",
                               params={"name": sample.replace("/", "-")},
                               files={"uploadfile": (os.path.basename(sample) + ".yaml", f.read())})
        if r.status_code != 200:
            refused[sample] = r
            continue
        name = sample.split("/")[1]
        run = server.request("POST", "/apis/v2beta1/runs", json={
            "display_name": sample, "experiment_id": exp["experiment_id"],
            "pipeline_version_reference": {"pipeline_id": r.json()["pipeline_id"]},
            "runtime_config": {"parameters": PARAMS.get(name, {})}})
        assert run.status_code == 200, (sample, run.text)
        started[sample] = run.json()["run_id"]

    def finished():
        out = {}
        for sample, run_id in started.items():
            r = server.request("GET", f"/apis/v2beta1/runs/{run_id}").json()
            if r["state"] not in ("SUCCEEDED", "FAILED"):
                return None
            out[sample] = r
        return out
    final = wait_until(finished, timeout=240, interval=0.5, what="every sample run to finish")
    return final, refused


def pods(run):
    return {t["display_name"]: t for t in run["run_details"]["task_details"] if t.get("pod_name")}


def log(server, run, task):
    return server.request("GET", "/pipeline/k8s/pod/logs",
                          params={"podname": task["pod_name"], "runid": run["run_id"]}).text


@pytest.mark.parametrize("sample", SUCCEED)
def test_sample_succeeds(runs, sample):
    final, _ = runs
    run = final[sample]
    assert run["state"] == "SUCCEEDED", (run.get("error"), [
        (t["display_name"], t["state"], t.get("error")) for t in run["run_details"]["task_details"]])


def test_cluster_only_sample_refused_at_upload(runs):
    _, refused = runs
    assert set(refused) == {"v1-argo/param_substitutions"}
    r = refused["v1-argo/param_substitutions"]
    assert r.status_code == 400
    assert "spec.templates[0].volumes" in r.json()["message"]


def test_outputs_of_succeeded_samples(server, runs):
    final, _ = runs
    # add_numbers: 1 + 2, through the lightweight executor's return value.
    add = final["v2-ir/add_numbers"]
    outs = [t.get("outputs", {}).get("parameters", {}) for t in pods(add).values()]
    assert {"Output": 3} in outs, outs
    # withparam_output: the producer's JSON list fans out to 11 consumers, each echoing its item.
    wp = final["v1-argo/withparam_output"]
    consumers = [t for t in wp["run_details"]["task_details"]
                 if t["display_name"] == "my-in-cop1" and t.get("pod_name")]
    assert len(consumers) == 11
    items = sorted(int(log(server, wp, t).split(":")[-1]) for t in consumers)
    assert items == list(range(20, 31))
    # flip_coin takes one branch: either, run correctly, is right.
    fc = pods(final["v2-ir/flip_coin"])
    assert fc["flip-coin"]["state"] == "SUCCEEDED"


def test_random_failures_fail_with_the_exit_code(server, runs):
    final, _ = runs
    run = final["v1-argo/timeout"]
    for name, t in pods(run).items():
        if t["state"] == "FAILED":
            assert "exit code" in t["error"]["message"], t
            code = int(log(server, run, t).strip().splitlines()[-1])
            assert code in (1, 2, 3)
        else:
            assert t["state"] == "SUCCEEDED"
            assert log(server, run, t).strip() == "0"
    assert run["state"] == ("SUCCEEDED" if all(t["state"] == "SUCCEEDED" for t in pods(run).values())
                            else "FAILED")


@pytest.mark.parametrize("sample", sorted(MISSING_COMMAND))
def test_missing_command_named_in_the_log(server, runs, sample):
    final, _ = runs
    run = final[sample]
    assert run["state"] == "FAILED"
    task = pods(run)[MISSING_COMMAND[sample]]
    assert "my_program" in task["error"]["message"]
    assert "my_program: command not found" in log(server, run, task)


def test_cloud_bucket_samples_fail_at_the_cloud_step(server, runs):
    final, _ = runs
    # artifacts_simple's container step maps gs:// URIs to /gcs (GCS only): the lightweight
    # Python steps succeed, the container step fails, as on a KFP install with MinIO.
    arts = pods(final["v2-ir/artifacts_simple"])
    assert final["v2-ir/artifacts_simple"]["state"] == "FAILED"
    assert arts["add"]["state"] == "SUCCEEDED" and arts["double"]["state"] == "SUCCEEDED"
    assert arts["add-container"]["state"] == "FAILED"
    # two_step_pipeline writes and reads its artifact with gsutil: where gsutil is missing (a
    # fresh machine) its first step fails saying so; where it is installed it works on the
    # file:// URIs skiff gives, so the run may succeed.
    run = final["v2-ir/two_step_pipeline"]
    if shutil.which("gsutil", path=os.environ.get("PATH", "") + ":/usr/bin:/bin") is None:
        assert run["state"] == "FAILED"
        producer = pods(run)["Producer"]
        assert producer["state"] == "FAILED"
        assert "gsutil: not found" in log(server, run, producer)


EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "pipelines")


@pytest.mark.parametrize("fmt", ["v1", "v2"])
def test_iris_example_in_both_formats(server, fmt):
    """The README tour's pipeline: trains an SVC on iris, passes the model as an artifact and
    evaluates it; the same pipeline as KFP v1 (Argo) and v2 (IR) compile it."""
    with open(os.path.join(EXAMPLES, f"iris-{fmt}.yaml")) as f:
        r = server.request("POST", "/apis/v2beta1/pipelines/upload", params={"name": f"iris-{fmt}"},
                           files={"uploadfile": (f"iris-{fmt}.yaml", f.read())})
    assert r.status_code == 200, r.text
    exp = server.request("POST", "/apis/v2beta1/experiments",
                         json={"display_name": f"iris-{fmt}", "namespace": "samples"}).json()
    c = "0.5" if fmt == "v1" else 0.5
    run = server.request("POST", "/apis/v2beta1/runs", json={
        "display_name": "iris", "experiment_id": exp["experiment_id"],
        "pipeline_version_reference": {"pipeline_id": r.json()["pipeline_id"]},
        "runtime_config": {"parameters": {"c": c}}}).json()
    final = wait_until(lambda: (lambda x: x if x["state"] in ("SUCCEEDED", "FAILED") else None)(
        server.request("GET", f"/apis/v2beta1/runs/{run['run_id']}").json()),
        timeout=120, what="the iris run")
    tasks = pods(final)
    assert final["state"] == "SUCCEEDED", [(t["display_name"], t.get("error")) for t in tasks.values()]
    text = log(server, final, tasks["evaluate"])
    accuracy = float(text.strip().splitlines()[-1].split(":")[-1])
    assert accuracy > 0.9, text
    if fmt == "v2":
        # The lightweight executor's return value and the Metrics artifact's metadata.
        assert tasks["evaluate"]["outputs"]["parameters"]["Output"] == pytest.approx(accuracy, abs=1e-3)
        metrics = tasks["train"]["outputs"]["artifacts"]["metrics"]["metadata"]
        assert 0.9 < metrics["accuracy"] <= 1.0
    else:
        assert 0.9 < float(tasks["train"]["outputs"]["parameters"]["train-accuracy"]) <= 1.0
