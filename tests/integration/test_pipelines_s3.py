"""Pipeline artifacts in S3 (issue 7: "Artifacts in the data dir by default, or in S3"): skiff
with pipelines.artifacts.uri=s3://kfp-artifacts/runs and the storage.s3 connection settings
pointing at the npm s3rver (tests/peers) on 127.0.0.1. A two-step Argo pipeline passes an
artifact: the object lands under the run's prefix in the bucket, the consumer reads it back, and
KFP's ReadArtifact returns it (a base64 .tgz)."""

import base64
import io
import json
import os
import tarfile
import xml.etree.ElementTree as ET

import pytest
import requests

from conftest import S3rverPeer, start_trusted_header_skiff, wait_until
from test_pipelines_api import ECHO_WORKFLOW, USERS

BUCKET = "kfp-artifacts"
RB = "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with S3rverPeer(tmp_path_factory.mktemp("s3rver"), BUCKET) as peer:
        yield peer.url


@pytest.fixture(scope="module")
def skiff(s3, tmp_path_factory):
    d = tmp_path_factory.mktemp("kfp-s3")
    s = start_trusted_header_skiff(d, extra=f"""\
pipelines:
  artifacts:
    uri: s3://{BUCKET}/runs
storage:
  s3:
    endpoint: {s3}
    addressing: path
    region: us-east-1
    accessKeyId: S3RVER
    secretAccessKey: S3RVER
""")
    try:
        r = call(s, "ops", "POST", "/api/v1/namespaces",
                 json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}})
        assert r.status_code == 201, r.text
        b = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
             "metadata": {"name": "alice-admin", "namespace": "team-a"},
             "subjects": [{"kind": "User", "name": USERS["alice"],
                           "apiGroup": "rbac.authorization.k8s.io"}],
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                         "name": "kubeflow-admin"}}
        r = call(s, "ops", "POST", RB.format(ns="team-a"), json=b)
        assert r.status_code == 201, r.text
        yield s
    finally:
        rc = s.stop()
    assert rc == 0, s.err.all[-30:]


def call(s, user, method, path, **kw):
    headers = kw.pop("headers", {})
    headers["X-Forwarded-Email"] = USERS[user]
    kw.setdefault("timeout", 30)
    return requests.request(method, s.url + path, headers=headers, **kw)


def ok(s, user, method, path, **kw):
    r = call(s, user, method, path, **kw)
    assert r.status_code == 200, f"{method} {path}: {r.status_code} {r.text}"
    return r.json()


def list_keys(endpoint, prefix):
    # s3rver does not check signatures (skiff's SigV4 is proven by unit tests).
    r = requests.get(f"{endpoint}/{BUCKET}", params={"list-type": "2", "prefix": prefix},
                     timeout=10)
    assert r.status_code == 200, r.text
    root = ET.fromstring(r.content)
    return [el.text for el in root.iter() if el.tag.endswith("}Key") or el.tag == "Key"]


def test_artifact_passes_through_s3_and_reads_back(skiff, s3):
    up = call(skiff, "alice", "POST", "/apis/v1beta1/pipelines/upload", params={"name": "echo-s3"},
              files={"uploadfile": ("echo-s3.yaml", ECHO_WORKFLOW)})
    assert up.status_code == 200, up.text
    exp = ok(skiff, "alice", "POST", "/apis/v1beta1/experiments",
             json={"name": "exp-s3", "resource_references": [
                 {"key": {"type": "NAMESPACE", "id": "team-a"}, "relationship": "OWNER"}]})
    r = ok(skiff, "alice", "POST", "/apis/v1beta1/runs", json={
        "name": "r-s3",
        "pipeline_spec": {"pipeline_id": up.json()["id"],
                          "parameters": [{"name": "message", "value": "via-s3"}]},
        "resource_references": [{"key": {"type": "EXPERIMENT", "id": exp["id"]},
                                 "relationship": "OWNER"}]})
    run_id = r["run"]["id"]

    def done():
        x = ok(skiff, "alice", "GET", f"/apis/v2beta1/runs/{run_id}")
        return x if x["state"] in ("SUCCEEDED", "FAILED", "CANCELED") else None
    final = wait_until(done, timeout=60, interval=0.1, what="the run to finish")
    assert final["state"] == "SUCCEEDED", final
    # KFP's pipeline_root for the run is in the bucket.
    assert final["runtime_config"].get("pipeline_root", "").startswith(
        f"s3://{BUCKET}/runs/team-a/{run_id}"), final["runtime_config"]

    d = ok(skiff, "alice", "GET", f"/apis/v1beta1/runs/{run_id}")
    wf = json.loads(d["pipeline_runtime"]["workflow_manifest"])
    nodes = {n["displayName"]: n for n in wf["status"]["nodes"].values()}
    produce, consume = nodes["produce"]["id"], nodes["consume"]["id"]

    # The object is in s3rver under the run's prefix, with the producer's content.
    keys = list_keys(s3, f"runs/team-a/{run_id}/")
    data_keys = [k for k in keys if k.startswith(f"runs/team-a/{run_id}/{produce}/")]
    assert data_keys, keys
    obj = requests.get(f"{s3}/{BUCKET}/{data_keys[0]}", timeout=10)
    assert obj.status_code == 200 and obj.content == b"artifact of via-s3\n"

    # The consumer read it (downloaded into its /tmp before it started).
    logs = call(skiff, "alice", "GET", "/pipeline/k8s/pod/logs",
                params={"podname": consume, "runid": run_id})
    assert logs.status_code == 200
    assert "consumed via-s3-out: artifact of via-s3" in logs.text

    # KFP's ReadArtifact reads it back from S3: a base64 .tgz.
    a = ok(skiff, "alice", "GET",
           f"/apis/v1beta1/runs/{run_id}/nodes/{produce}/artifacts/data:read")
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(a["data"])), mode="r:gz") as tar:
        files = [m for m in tar.getmembers() if m.isfile()]
        assert len(files) == 1
        assert tar.extractfile(files[0]).read() == b"artifact of via-s3\n"

    # Deleted from the bucket: the API says it is no longer stored (404), not a server error.
    requests.delete(f"{s3}/{BUCKET}/{data_keys[0]}", timeout=10)
    r = call(skiff, "alice", "GET",
             f"/apis/v1beta1/runs/{run_id}/nodes/{produce}/artifacts/data:read")
    assert r.status_code == 404, r.text


EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "pipelines")


def test_ir_lightweight_pipeline_artifacts_in_s3(skiff, s3):
    """The README's iris pipeline as KFP v2 IR: the train task's model directory (written where
    the executor's `model.path` points for its s3:// URI) is uploaded under the run's prefix,
    and the evaluate task loads it from there."""
    with open(os.path.join(EXAMPLES, "iris-v2.yaml")) as f:
        up = call(skiff, "alice", "POST", "/apis/v2beta1/pipelines/upload",
                  params={"name": "iris-s3", "namespace": "team-a"},
                  files={"uploadfile": ("iris-v2.yaml", f.read())})
    assert up.status_code == 200, up.text
    exp = ok(skiff, "alice", "POST", "/apis/v2beta1/experiments",
             json={"display_name": "iris-s3", "namespace": "team-a"})
    run = ok(skiff, "alice", "POST", "/apis/v2beta1/runs", json={
        "display_name": "iris-s3", "experiment_id": exp["experiment_id"],
        "pipeline_version_reference": {"pipeline_id": up.json()["pipeline_id"]},
        "runtime_config": {"parameters": {"c": 0.5}}})
    run_id = run["run_id"]

    def done():
        x = ok(skiff, "alice", "GET", f"/apis/v2beta1/runs/{run_id}")
        return x if x["state"] in ("SUCCEEDED", "FAILED", "CANCELED") else None
    final = wait_until(done, timeout=120, interval=0.2, what="the iris run")
    tasks = {t["display_name"]: t for t in final["run_details"]["task_details"]}
    assert final["state"] == "SUCCEEDED", [(n, t.get("error")) for n, t in tasks.items()]
    assert tasks["evaluate"]["state"] == "SUCCEEDED"
    keys = list_keys(s3, f"runs/team-a/{run_id}/")
    assert any(k.endswith("/model/model.joblib") for k in keys), keys
