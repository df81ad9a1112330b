"""The Kubeflow Pipelines REST API (issue 7) through the real binary: pipelines and versions
(upload, create, get, list, templates, delete), experiments (create, archive, unarchive, delete),
runs (create from a pipeline, a version or a manifest; get with live node statuses; terminate;
retry; archive; delete; artifacts; task logs), listing as KFP does (page_size, page_token stable
under inserts, sort_by, filter, total_size, KFP's error shape), in v1beta1 and v2beta1, under
/apis and /pipeline/apis, and authorized per namespace by the RBAC engine.

Users act through trusted-header mode (X-Forwarded-Email from 127.0.0.1): ops@example.com is a
cluster admin who sets up namespaces and RoleBindings; alice is kubeflow-admin of team-a, vic
kubeflow-view of team-a, bob has nothing.
"""
import base64
import io
import json
import os
import tarfile
import textwrap
import time

import pytest
import requests
import yaml

from conftest import start_trusted_header_skiff, wait_until

SAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "kfp-samples")
RB = "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings"

USERS = {"ops": "ops@example.com", "alice": "alice@example.com", "vic": "vic@example.com",
         "bob": "bob@example.com"}

# A two-step Argo pipeline that only needs sh: step one writes a parameter and an artifact,
# step two reads both.
ECHO_WORKFLOW = textwrap.dedent("""\
    apiVersion: argoproj.io/v1alpha1
    kind: Workflow
    metadata:
      generateName: echo-pipeline-
      annotations:
        pipelines.kubeflow.org/pipeline_spec: '{"name": "echo-pipeline", "description": "two steps"}'
    spec:
      entrypoint: main
      arguments:
        parameters:
        - {name: message, value: hello}
      templates:
      - name: main
        dag:
          tasks:
          - name: produce
            template: produce
            arguments:
              parameters:
              - {name: message, value: '{{workflow.parameters.message}}'}
          - name: consume
            template: consume
            dependencies: [produce]
            arguments:
              parameters:
              - {name: got, value: '{{tasks.produce.outputs.parameters.out}}'}
              artifacts:
              - {name: data, from: '{{tasks.produce.outputs.artifacts.data}}'}
      - name: produce
        metadata:
          labels: {pipelines.kubeflow.org/enable_caching: "true"}
        inputs:
          parameters:
          - {name: message}
        container:
          image: alpine:3
          command: [sh, -c]
          args: ['mkdir -p /tmp/outputs && echo -n "{{inputs.parameters.message}}-out" > /tmp/outputs/out && echo "artifact of {{inputs.parameters.message}}" > /tmp/outputs/data && echo produced']
        outputs:
          parameters:
          - name: out
            valueFrom: {path: /tmp/outputs/out}
          artifacts:
          - {name: data, path: /tmp/outputs/data}
      - name: consume
        metadata:
          labels: {pipelines.kubeflow.org/enable_caching: "true"}
        inputs:
          parameters:
          - {name: got}
          artifacts:
          - {name: data, path: /tmp/inputs/data}
        container:
          image: alpine:3
          command: [sh, -c]
          args: ['echo "consumed {{inputs.parameters.got}}: $(cat /tmp/inputs/data)"']
    """)

SLEEP_WORKFLOW = textwrap.dedent("""\
    apiVersion: argoproj.io/v1alpha1
    kind: Workflow
    metadata:
      generateName: sleeper-
    spec:
      entrypoint: main
      templates:
      - name: main
        container:
          image: alpine:3
          command: [sh, -c, 'echo started; sleep 120']
    """)

FAIL_ONCE_WORKFLOW = textwrap.dedent("""\
    apiVersion: argoproj.io/v1alpha1
    kind: Workflow
    metadata:
      generateName: flaky-
    spec:
      entrypoint: main
      arguments:
        parameters:
        - {name: marker, value: /nonexistent}
      templates:
      - name: main
        inputs:
          parameters:
          - {name: marker}
        container:
          image: alpine:3
          command: [sh, -c, 'test -e "{{inputs.parameters.marker}}" && echo ok']
    """)


class Env:
    def call(self, user, method, path, **kw):
        headers = kw.pop("headers", {})
        headers["X-Forwarded-Email"] = USERS[user]
        kw.setdefault("timeout", 30)
        return requests.request(method, self.skiff.url + path, headers=headers, **kw)

    def ok(self, user, method, path, **kw):
        r = self.call(user, method, path, **kw)
        assert r.status_code == 200, f"{method} {path}: {r.status_code} {r.text}"
        return r.json()

    def upload(self, user, text, name, version=None, v="v1beta1", namespace=None):
        params = {"name": name}
        path = f"/apis/{v}/pipelines/upload"
        if version:
            path = f"/apis/{v}/pipelines/upload_version"
            params["pipelineid"] = version
        if namespace:
            params["namespace"] = namespace
        return self.call(user, "POST", path, params=params,
                         files={"uploadfile": (name + ".yaml", text)})


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    d = tmp_path_factory.mktemp("kfp")
    # The create-from-URL tests serve files on 127.0.0.1, which skiff refuses by default.
    s = start_trusted_header_skiff(d, env={"SKIFF_PIPELINES_FETCH_PRIVATE_ADDRESSES": "true"})
    e = Env()
    e.skiff = s
    try:
        for ns in ["team-a", "team-b"]:
            r = e.call("ops", "POST", "/api/v1/namespaces",
                       json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
            assert r.status_code == 201, r.text
        for ns, name, user, role in [("team-a", "alice-admin", "alice@example.com", "kubeflow-admin"),
                                     ("team-a", "vic-view", "vic@example.com", "kubeflow-view")]:
            b = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                 "metadata": {"name": name, "namespace": ns},
                 "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}],
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role}}
            r = e.call("ops", "POST", RB.format(ns=ns), json=b)
            assert r.status_code == 201, r.text
        yield e
    finally:
        rc = s.stop()
    assert rc == 0, s.err.all[-30:]


def experiment(env, user, ns, name):
    return env.ok(user, "POST", "/apis/v1beta1/experiments",
                  json={"name": name, "resource_references": [
                      {"key": {"type": "NAMESPACE", "id": ns}, "relationship": "OWNER"}]})


def run_v1(env, user, exp_id, name, pipeline_id=None, manifest=None, params=None):
    spec = {}
    if pipeline_id:
        spec["pipeline_id"] = pipeline_id
    if manifest:
        spec["workflow_manifest"] = manifest
    if params:
        spec["parameters"] = [{"name": k, "value": v} for k, v in params.items()]
    return env.call(user, "POST", "/apis/v1beta1/runs", json={
        "name": name, "pipeline_spec": spec,
        "resource_references": [{"key": {"type": "EXPERIMENT", "id": exp_id},
                                 "relationship": "OWNER"}]})


def wait_run(env, user, run_id, states=("SUCCEEDED", "FAILED", "CANCELED"), timeout=60):
    def done():
        r = env.ok(user, "GET", f"/apis/v2beta1/runs/{run_id}")
        return r if r["state"] in states else None
    return wait_until(done, timeout=timeout, interval=0.1, what=f"run {run_id} in {states}")


def test_healthz_under_both_prefixes(env):
    for prefix in ["/apis", "/pipeline/apis"]:
        for v in ["v1beta1", "v2beta1"]:
            h = env.ok("bob", "GET", f"{prefix}/{v}/healthz")
            assert h["multi_user"] is True
    # No anonymous access.
    r = requests.get(env.skiff.url + "/apis/v1beta1/healthz", timeout=10)
    assert r.status_code == 401


def test_pipeline_upload_get_templates_versions_delete(env):
    r = env.upload("alice", ECHO_WORKFLOW, "echo-upload")
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["name"] == "echo-upload"
    assert p["default_version"]["name"] == "echo-upload"
    assert {"name": "message", "value": "hello"} in p["parameters"]
    # The same in v2beta1, and by name.
    p2 = env.ok("bob", "GET", f"/apis/v2beta1/pipelines/{p['id']}")
    assert p2["pipeline_id"] == p["id"] and p2["display_name"] == "echo-upload"
    assert env.ok("bob", "GET", "/apis/v2beta1/pipelines/names/echo-upload")["pipeline_id"] == p["id"]
    t = env.ok("bob", "GET", f"/apis/v1beta1/pipelines/{p['id']}/templates")
    assert t["template"] == ECHO_WORKFLOW
    # A second version becomes the default.
    r = env.upload("alice", ECHO_WORKFLOW.replace("hello", "bonjour"), "v2", version=p["id"])
    assert r.status_code == 200, r.text
    v2 = r.json()
    assert env.ok("bob", "GET", f"/apis/v1beta1/pipelines/{p['id']}")["default_version"]["id"] == v2["id"]
    versions = env.ok("bob", "GET", "/apis/v1beta1/pipeline_versions",
                      params={"resource_key.type": "PIPELINE", "resource_key.id": p["id"]})
    assert versions["total_size"] == 2
    assert {v["name"] for v in versions["versions"]} == {"echo-upload", "v2"}
    vv2 = env.ok("bob", "GET", f"/apis/v2beta1/pipelines/{p['id']}/versions/{v2['id']}")
    assert vv2["pipeline_spec"]["kind"] == "Workflow"
    # Same name again: 409 with KFP's error shape.
    r = env.upload("alice", ECHO_WORKFLOW, "echo-upload")
    assert r.status_code == 409
    assert "already exists" in r.json()["message"] and r.json()["code"] == 6
    # bob (no role anywhere) may read shared pipelines but not delete alice's.
    r = env.call("bob", "DELETE", f"/apis/v1beta1/pipelines/{p['id']}")
    assert r.status_code == 403, r.text
    env.ok("alice", "DELETE", f"/apis/v1beta1/pipelines/{p['id']}")
    r = env.call("alice", "GET", f"/apis/v1beta1/pipelines/{p['id']}")
    assert r.status_code == 404
    r = env.call("alice", "GET", f"/apis/v1beta1/pipeline_versions/{v2['id']}")
    assert r.status_code == 404


def test_upload_refuses_what_cannot_run_here(env):
    with open(os.path.join(SAMPLES, "v1-argo", "param_substitutions.yaml")) as f:
        r = env.upload("alice", f.read(), "needs-a-cluster")
    assert r.status_code == 400, r.text
    body = r.json()
    assert "spec.templates[0].volumes" in body["message"], body
    assert set(body) >= {"error", "code", "message", "details"}
    r = env.upload("alice", "kind: Nonsense\n", "junk")
    assert r.status_code == 400
    assert "not a pipeline file" in r.json()["message"]
    r = env.call("alice", "POST", "/apis/v1beta1/pipelines/upload", data="x",
                 headers={"Content-Type": "text/plain"})
    assert r.status_code == 400
    # Nothing was stored.
    names = [p["name"] for p in env.ok("alice", "GET", "/apis/v1beta1/pipelines").get("pipelines", [])]
    assert "needs-a-cluster" not in names and "junk" not in names


def test_run_argo_pipeline_to_success_with_outputs_artifacts_and_logs(env):
    p = env.upload("alice", ECHO_WORKFLOW, "echo-run").json()
    exp = experiment(env, "alice", "team-a", "exp-echo")
    r = run_v1(env, "alice", exp["id"], "r-echo", pipeline_id=p["id"], params={"message": "hi"})
    assert r.status_code == 200, r.text
    detail = r.json()
    run_id = detail["run"]["id"]
    refs = {x["key"]["type"]: x["key"]["id"] for x in detail["run"]["resource_references"]}
    assert refs["EXPERIMENT"] == exp["id"] and refs["NAMESPACE"] == "team-a"
    final = wait_run(env, "alice", run_id)
    assert final["state"] == "SUCCEEDED", final
    e2 = env.ok("alice", "GET", f"/apis/v2beta1/experiments/{exp['id']}")
    assert e2["last_run_created_at"] == final["created_at"]
    # v1: the workflow manifest carries the live node statuses.
    d = env.ok("alice", "GET", f"/apis/v1beta1/runs/{run_id}")
    assert d["run"]["status"] == "Succeeded"
    wf = json.loads(d["pipeline_runtime"]["workflow_manifest"])
    nodes = {n["displayName"]: n for n in wf["status"]["nodes"].values()}
    assert nodes["produce"]["phase"] == "Succeeded"
    assert {"name": "out", "value": "hi-out"} in nodes["produce"]["outputs"]["parameters"]
    assert nodes["consume"]["inputs"]["parameters"] == [{"name": "got", "value": "hi-out"}]
    # The task log (what KFP's UI reads as the pod log).
    consume = nodes["consume"]["id"]
    r = env.call("alice", "GET", "/pipeline/k8s/pod/logs", params={"podname": consume, "runid": run_id})
    assert r.status_code == 200
    assert "consumed hi-out: artifact of hi" in r.text
    # Followers ask only for what they have not seen: offset, and X-Log-Size.
    full = r.text.encode()
    assert r.headers["X-Log-Size"] == str(len(full))
    for offset in (5, len(full), len(full) + 10):
        part = env.call("alice", "GET", "/pipeline/k8s/pod/logs",
                        params={"podname": consume, "runid": run_id, "offset": str(offset)})
        assert part.status_code == 200 and part.content == full[offset:]
    bad = env.call("alice", "GET", "/pipeline/k8s/pod/logs",
                   params={"podname": consume, "runid": run_id, "offset": "-1"})
    assert bad.status_code == 400
    # The artifact, as KFP returns it: a base64 .tgz.
    produce = nodes["produce"]["id"]
    a = env.ok("alice", "GET", f"/apis/v1beta1/runs/{run_id}/nodes/{produce}/artifacts/data:read")
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(a["data"])), mode="r:gz") as tar:
        member = tar.getmembers()[0]
        assert tar.extractfile(member).read() == b"artifact of hi\n"
    # v2: task details.
    tasks = {t["display_name"]: t for t in final["run_details"]["task_details"]}
    assert tasks["produce"]["state"] == "SUCCEEDED"
    assert final["runtime_config"]["parameters"] == {"message": "hi"}
    # vic (view) may read the run and its log, not delete or terminate it; bob nothing.
    env.ok("vic", "GET", f"/apis/v2beta1/runs/{run_id}")
    assert env.call("vic", "GET", "/pipeline/k8s/pod/logs",
                    params={"podname": consume, "runid": run_id}).status_code == 200
    r = env.call("vic", "DELETE", f"/apis/v2beta1/runs/{run_id}")
    assert r.status_code == 403 and "may not" in r.json()["message"], r.text
    for path in [f"/apis/v2beta1/runs/{run_id}", f"/apis/v1beta1/runs/{run_id}/nodes/{produce}/artifacts/data:read"]:
        assert env.call("bob", "GET", path).status_code == 403
    assert env.call("bob", "GET", "/pipeline/k8s/pod/logs",
                    params={"podname": consume, "runid": run_id}).status_code == 403


def test_run_parameters_checked_and_namespace_required(env):
    p = env.upload("alice", ECHO_WORKFLOW, "echo-params").json()
    exp = experiment(env, "alice", "team-a", "exp-params")
    r = run_v1(env, "alice", exp["id"], "bad", pipeline_id=p["id"], params={"nope": "1"})
    assert r.status_code == 400 and "no parameter \"nope\"" in r.json()["message"]
    r = env.call("alice", "POST", "/apis/v1beta1/runs",
                 json={"name": "x", "pipeline_spec": {"pipeline_id": p["id"]}})
    assert r.status_code == 400 and "namespace" in r.json()["message"]
    # vic (view) cannot create runs; bob cannot create experiments in team-a.
    assert run_v1(env, "vic", exp["id"], "v", pipeline_id=p["id"]).status_code == 403
    r = env.call("bob", "POST", "/apis/v2beta1/experiments",
                 json={"display_name": "b", "namespace": "team-a"})
    assert r.status_code == 403


def test_v2_run_of_ir_pipeline_and_default_experiment(env):
    with open(os.path.join(SAMPLES, "v2-ir", "hello_world.yaml")) as f:
        text = f.read()
    r = env.upload("alice", text, "hello-ir", v="v2beta1")
    assert r.status_code == 200, r.text
    pid = r.json()["pipeline_id"]
    versions = env.ok("alice", "GET", f"/apis/v2beta1/pipelines/{pid}/versions")
    vid = versions["pipeline_versions"][0]["pipeline_version_id"]
    exp = env.ok("alice", "POST", "/apis/v2beta1/experiments",
                 json={"display_name": "ir", "namespace": "team-a"})
    run = env.ok("alice", "POST", "/apis/v2beta1/runs", json={
        "display_name": "hello", "experiment_id": exp["experiment_id"],
        "pipeline_version_reference": {"pipeline_id": pid, "pipeline_version_id": vid}})
    final = wait_run(env, "alice", run["run_id"])
    assert final["state"] == "SUCCEEDED", final
    pods = [t for t in final["run_details"]["task_details"] if t.get("pod_name")]
    assert [t["display_name"] for t in pods] == ["echo"]
    log = env.call("alice", "GET", "/pipeline/k8s/pod/logs",
                   params={"podname": pods[0]["pod_name"], "runid": run["run_id"]})
    assert log.text == "hello world\n"


def test_terminate_retry_archive_delete(env):
    exp = experiment(env, "alice", "team-a", "exp-lifecycle")
    r = run_v1(env, "alice", exp["id"], "sleeper", manifest=SLEEP_WORKFLOW)
    assert r.status_code == 200, r.text
    run_id = r.json()["run"]["id"]
    wait_run(env, "alice", run_id, states=("RUNNING",))
    # Wait until the task's process has started (its log says so).
    def started():
        d = env.ok("alice", "GET", f"/apis/v2beta1/runs/{run_id}")
        pods = [t for t in d["run_details"]["task_details"] if t.get("pod_name")]
        if not pods or pods[0]["state"] != "RUNNING":
            return None
        log = env.call("alice", "GET", "/pipeline/k8s/pod/logs",
                       params={"podname": pods[0]["pod_name"], "runid": run_id})
        return "started" in log.text
    wait_until(started, timeout=30, what="the sleeper to start")

    def listed_state():
        runs = env.ok("alice", "GET", "/apis/v2beta1/runs", params={"namespace": "team-a"})["runs"]
        return {x["run_id"]: x["state"] for x in runs}[run_id]
    # Lists keep rendered runs per run version: a list shows each change, never a stale copy.
    assert listed_state() == "RUNNING"
    env.ok("alice", "POST", f"/apis/v1beta1/runs/{run_id}/terminate")
    # Terminate answers once the run shows it: never RUNNING after the call.
    assert env.ok("alice", "GET", f"/apis/v2beta1/runs/{run_id}")["state"] in ("CANCELING", "CANCELED")
    final = wait_run(env, "alice", run_id, timeout=30)
    assert final["state"] == "CANCELED", final
    assert listed_state() == "CANCELED"
    r = env.call("alice", "POST", f"/apis/v1beta1/runs/{run_id}/terminate")
    assert r.status_code == 400  # FailedPrecondition: it has finished
    # Retry: a failed run re-runs its failed step. The step checks for a marker file (in
    # /dev/shm: tasks have their own /tmp) that the test creates after the first failure.
    marker = f"/dev/shm/skiff-retry-marker-{os.getpid()}-{time.monotonic_ns()}"
    r = run_v1(env, "alice", exp["id"], "flaky", manifest=FAIL_ONCE_WORKFLOW,
               params={"marker": marker})
    assert r.status_code == 200, r.text
    run2 = r.json()["run"]["id"]
    assert wait_run(env, "alice", run2)["state"] == "FAILED"
    r = env.call("vic", "POST", f"/apis/v1beta1/runs/{run2}/retry")
    assert r.status_code == 403
    try:
        open(marker, "w").close()
        env.ok("alice", "POST", f"/apis/v2beta1/runs/{run2}:retry")
        assert wait_run(env, "alice", run2)["state"] == "SUCCEEDED"
    finally:
        os.unlink(marker)
    # Archive/unarchive and the filter on storage_state. A GET of a run is rendered once per
    # run version and then served as is: each change shows at once, never a stale copy.
    def storage(run):
        v1 = env.ok("alice", "GET", f"/apis/v1beta1/runs/{run}")["run"]["storage_state"]
        v2 = env.ok("alice", "GET", f"/apis/v2beta1/runs/{run}")["storage_state"]
        return v1, v2
    assert storage(run_id) == ("STORAGESTATE_AVAILABLE", "AVAILABLE")
    assert storage(run_id) == ("STORAGESTATE_AVAILABLE", "AVAILABLE")  # the kept rendering
    env.ok("alice", "POST", f"/apis/v1beta1/runs/{run_id}:archive")
    assert storage(run_id) == ("STORAGESTATE_ARCHIVED", "ARCHIVED")
    lst = env.ok("alice", "GET", "/apis/v2beta1/runs", params={
        "namespace": "team-a",
        "filter": json.dumps({"predicates": [{"key": "storage_state", "operation": "EQUALS",
                                              "string_value": "ARCHIVED"}]})})
    assert [x["run_id"] for x in lst["runs"]] == [run_id]
    lst = env.ok("alice", "GET", "/apis/v1beta1/runs", params={
        "resource_reference_key.type": "EXPERIMENT", "resource_reference_key.id": exp["id"],
        "filter": json.dumps({"predicates": [{"key": "storage_state", "op": "EQUALS",
                                              "string_value": "STORAGESTATE_ARCHIVED"}]})})
    assert [x["id"] for x in lst["runs"]] == [run_id]
    env.ok("alice", "POST", f"/apis/v1beta1/runs/{run_id}:unarchive")
    assert storage(run_id) == ("STORAGESTATE_AVAILABLE", "AVAILABLE")
    env.ok("alice", "DELETE", f"/apis/v1beta1/runs/{run_id}")
    assert env.call("alice", "GET", f"/apis/v1beta1/runs/{run_id}").status_code == 404
    # Experiments: archive archives its runs; delete removes it.
    env.ok("alice", "POST", f"/apis/v1beta1/experiments/{exp['id']}:archive")
    e = env.ok("alice", "GET", f"/apis/v2beta1/experiments/{exp['id']}")
    assert e["storage_state"] == "ARCHIVED"
    assert env.ok("alice", "GET", f"/apis/v2beta1/runs/{run2}")["storage_state"] == "ARCHIVED"
    env.ok("alice", "DELETE", f"/apis/v1beta1/experiments/{exp['id']}")
    assert env.call("alice", "GET", f"/apis/v1beta1/experiments/{exp['id']}").status_code == 404


def test_listing_paging_sorting_filtering_as_kfp(env):
    names = [f"list-{i:02d}" for i in range(25)]
    for n in names:
        experiment(env, "alice", "team-a", n)
    base = {"resource_reference_key.type": "NAMESPACE", "resource_reference_key.id": "team-a"}
    flt = json.dumps({"predicates": [{"key": "name", "op": "IS_SUBSTRING", "string_value": "list-"}]})
    # Default page size is 20; total_size counts all matches.
    first = env.ok("alice", "GET", "/apis/v1beta1/experiments", params={**base, "filter": flt})
    assert len(first["experiments"]) == 20 and first["total_size"] == 25
    # Name descending, 10 per page, with an insert between pages: no repeats, no gaps.
    seen = []
    params = {**base, "filter": flt, "page_size": "10", "sort_by": "name desc"}
    page = env.ok("alice", "GET", "/apis/v1beta1/experiments", params=params)
    seen += [e["name"] for e in page["experiments"]]
    experiment(env, "alice", "team-a", "list-00a")  # sorts after the page we have seen
    while page.get("next_page_token"):
        page = env.ok("alice", "GET", "/apis/v1beta1/experiments",
                      params={**base, "page_token": page["next_page_token"], "page_size": "10"})
        seen += [e["name"] for e in page["experiments"]]
    assert seen == sorted(names + ["list-00a"], reverse=True)
    # v2: operation instead of op, IN with string values.
    r = env.ok("alice", "GET", "/apis/v2beta1/experiments", params={
        "namespace": "team-a", "sort_by": "display_name",
        "filter": json.dumps({"predicates": [{"key": "display_name", "operation": "IN",
                                              "string_values": {"values": ["list-03", "list-01"]}}]})})
    assert [e["display_name"] for e in r["experiments"]] == ["list-01", "list-03"]
    # Errors: unknown sort key, bad filter, bad token, a token used with another filter.
    for extra in [{"sort_by": "bogus"}, {"filter": "{not json"}, {"page_token": "garbage!"},
                  {"page_token": first["next_page_token"], "filter": json.dumps({"predicates": []})},
                  {"page_size": "-1"}]:
        r = env.call("alice", "GET", "/apis/v1beta1/experiments", params={**base, **extra})
        assert r.status_code == 400, (extra, r.text)
        assert set(r.json()) >= {"error", "code", "message"}
    # Multi-user: lists must name a namespace, and only readable ones.
    assert env.call("alice", "GET", "/apis/v1beta1/experiments").status_code == 400
    assert env.call("bob", "GET", "/apis/v1beta1/experiments", params=base).status_code == 403
    assert env.call("bob", "GET", "/apis/v2beta1/runs", params={"namespace": "team-a"}).status_code == 403
    assert env.ok("vic", "GET", "/apis/v1beta1/experiments", params=base)["total_size"] >= 26


def pod_tasks(run):
    return {t["display_name"]: t for t in run["run_details"]["task_details"] if t.get("pod_name")}


def test_caching_reuses_outputs_and_can_be_disabled_per_task(env):
    exp = experiment(env, "alice", "team-a", "exp-cache")
    # A fresh message so no earlier test's cache entry applies.
    msg = f"cache-{time.monotonic_ns()}"
    first = run_v1(env, "alice", exp["id"], "c1", manifest=ECHO_WORKFLOW, params={"message": msg})
    r1 = wait_run(env, "alice", first.json()["run"]["id"])
    assert {t["state"] for t in pod_tasks(r1).values()} == {"SUCCEEDED"}
    second = run_v1(env, "alice", exp["id"], "c2", manifest=ECHO_WORKFLOW, params={"message": msg})
    r2 = wait_run(env, "alice", second.json()["run"]["id"])
    assert r2["state"] == "SUCCEEDED"
    tasks = pod_tasks(r2)
    assert tasks["produce"]["state"] == "CACHED" and tasks["consume"]["state"] == "CACHED"
    # The cached outputs are the first run's.
    d = env.ok("alice", "GET", f"/apis/v1beta1/runs/{r2['run_id']}")
    nodes = {n["displayName"]: n for n in json.loads(d["pipeline_runtime"]["workflow_manifest"])["status"]["nodes"].values()}
    assert {"name": "out", "value": f"{msg}-out"} in nodes["produce"]["outputs"]["parameters"]
    # Caching off for one template (KFP v1's label): that step runs again, the other is reused.
    no_cache = ECHO_WORKFLOW.replace(
        "  - name: consume\n    metadata:\n      labels: {pipelines.kubeflow.org/enable_caching: \"true\"}",
        "  - name: consume\n    metadata:\n      labels: {pipelines.kubeflow.org/enable_caching: \"false\"}")
    assert no_cache != ECHO_WORKFLOW
    third = run_v1(env, "alice", exp["id"], "c3", manifest=no_cache, params={"message": msg})
    tasks = pod_tasks(wait_run(env, "alice", third.json()["run"]["id"]))
    assert tasks["produce"]["state"] == "CACHED"
    assert tasks["consume"]["state"] == "SUCCEEDED"
    # A different input is a different key.
    fourth = run_v1(env, "alice", exp["id"], "c4", manifest=ECHO_WORKFLOW, params={"message": msg + "x"})
    assert pod_tasks(wait_run(env, "alice", fourth.json()["run"]["id"]))["produce"]["state"] == "SUCCEEDED"


def test_tasks_cannot_see_skiff_data_or_other_namespaces(env):
    data = os.path.realpath(env.skiff.data_dir)
    peek = textwrap.dedent(f"""\
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata: {{generateName: peek-}}
        spec:
          entrypoint: main
          templates:
          - name: main
            container:
              image: alpine
              command: [sh, -c, 'ls -A {data}; ls {data}/pipelines/artifacts; cat {data}/skiff.db | head -c 16; echo; echo END']
        """)
    exp = experiment(env, "alice", "team-a", "exp-peek")
    r = run_v1(env, "alice", exp["id"], "peek", manifest=peek)
    run = wait_run(env, "alice", r.json()["run"]["id"])
    task = list(pod_tasks(run).values())[0]
    log = env.call("alice", "GET", "/pipeline/k8s/pod/logs",
                   params={"podname": task["pod_name"], "runid": run["run_id"]}).text
    assert "END" in log
    assert "SQLite format" not in log
    assert "admin.token" not in log and "skiff.db" not in log.split("\n")[0]
    assert f"{data}/pipelines/artifacts': No such file or directory" in log
    assert "team-b" not in log


def test_namespace_concurrent_runs_quota(env):
    q = {"apiVersion": "v1", "kind": "ResourceQuota",
         "metadata": {"name": "kf-resource-quota", "namespace": "team-b"},
         "spec": {"hard": {"pipelines.kubeflow.org/concurrent-runs": "1"}}}
    r = env.call("ops", "POST", "/api/v1/namespaces/team-b/resourcequotas", json=q)
    assert r.status_code == 201, r.text
    exp = experiment(env, "ops", "team-b", "exp-quota")
    first = run_v1(env, "ops", exp["id"], "q1", manifest=SLEEP_WORKFLOW).json()["run"]["id"]
    wait_run(env, "ops", first, states=("RUNNING",))
    second = run_v1(env, "ops", exp["id"], "q2", manifest=SLEEP_WORKFLOW).json()["run"]["id"]
    # The second waits, saying why, while the first runs.
    def waiting():
        d = env.ok("ops", "GET", f"/apis/v1beta1/runs/{second}")
        wf = json.loads(d["pipeline_runtime"]["workflow_manifest"])
        return "concurrent-runs quota" in wf["status"].get("message", "")
    wait_until(waiting, timeout=15, what="the second run to wait for the quota")
    assert env.ok("ops", "GET", f"/apis/v2beta1/runs/{second}")["state"] == "PENDING"
    env.ok("ops", "POST", f"/apis/v1beta1/runs/{first}/terminate")
    wait_run(env, "ops", second, states=("RUNNING",), timeout=20)
    env.ok("ops", "POST", f"/apis/v1beta1/runs/{second}/terminate")
    assert wait_run(env, "ops", second, timeout=30)["state"] == "CANCELED"


def test_v2_parameters_must_match_their_types(env):
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "examples", "pipelines",
                           "iris-v2.yaml")) as f:
        r = env.upload("alice", f.read(), "iris-types", v="v2beta1")
    assert r.status_code == 200, r.text
    pid = r.json()["pipeline_id"]
    exp = env.ok("alice", "POST", "/apis/v2beta1/experiments",
                 json={"display_name": "types", "namespace": "team-a"})
    for bad in ["abc", True, [1], {"x": 1}]:
        r = env.call("alice", "POST", "/apis/v2beta1/runs", json={
            "display_name": "typed", "experiment_id": exp["experiment_id"],
            "pipeline_version_reference": {"pipeline_id": pid},
            "runtime_config": {"parameters": {"c": bad}}})
        assert r.status_code == 400, (bad, r.text)
        assert "NUMBER_DOUBLE" in r.json()["message"] and "\"c\"" in r.json()["message"]
    # Nothing was created.
    runs = env.ok("alice", "GET", "/apis/v2beta1/runs", params={"experiment_id": exp["experiment_id"]})
    assert runs.get("runs", []) == []


@pytest.fixture
def file_server(tmp_path):
    """Serves tmp_path over HTTP on 127.0.0.1 (create-from-URL endpoints fetch from it)."""
    import functools
    import http.server
    import threading
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield tmp_path, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_create_from_url_and_the_remaining_pipeline_endpoints(env, file_server):
    root, url = file_server
    (root / "echo.yaml").write_text(ECHO_WORKFLOW)
    (root / "echo2.yaml").write_text(ECHO_WORKFLOW.replace("value: hello", "value: hi"))
    # v1: a pipeline from a URL, then a version from a URL, and the version's template.
    p = env.ok("alice", "POST", "/apis/v1beta1/pipelines",
               json={"name": "from-url", "url": {"pipeline_url": f"{url}/echo.yaml"}})
    assert p["url"]["pipeline_url"] == f"{url}/echo.yaml"
    v = env.ok("alice", "POST", "/apis/v1beta1/pipeline_versions", json={
        "name": "second", "package_url": {"pipeline_url": f"{url}/echo2.yaml"},
        "resource_references": [{"key": {"type": "PIPELINE", "id": p["id"]},
                                 "relationship": "OWNER"}]})
    t = env.ok("alice", "GET", f"/apis/v1beta1/pipeline_versions/{v['id']}/templates")
    assert "value: hi" in t["template"]
    # A URL that does not answer 200, or is not http(s): 400, nothing stored.
    for bad in [f"{url}/missing.yaml", "file:///etc/passwd"]:
        r = env.call("alice", "POST", "/apis/v1beta1/pipelines",
                     json={"name": "bad-url", "url": {"pipeline_url": bad}})
        assert r.status_code == 400, r.text
    assert env.call("alice", "GET", "/apis/v2beta1/pipelines/names/bad-url").status_code == 404
    # v2: a pipeline without versions, a version from a pipeline_spec, the pipeline+version
    # bundle, and delete refused while versions exist (unless cascade).
    bare = env.ok("alice", "POST", "/apis/v2beta1/pipelines",
                  json={"display_name": "bare", "description": "no versions yet"})
    spec = yaml.safe_load(ECHO_WORKFLOW)
    ver = env.ok("alice", "POST", f"/apis/v2beta1/pipelines/{bare['pipeline_id']}/versions",
                 json={"display_name": "v1", "pipeline_spec": spec})
    assert ver["pipeline_id"] == bare["pipeline_id"] and ver["pipeline_spec"]["kind"] == "Workflow"
    r = env.call("alice", "DELETE", f"/apis/v2beta1/pipelines/{bare['pipeline_id']}")
    assert r.status_code == 400 and "versions" in r.json()["message"]
    env.ok("alice", "DELETE",
           f"/apis/v2beta1/pipelines/{bare['pipeline_id']}/versions/{ver['pipeline_version_id']}")
    env.ok("alice", "DELETE", f"/apis/v2beta1/pipelines/{bare['pipeline_id']}")
    both = env.ok("alice", "POST", "/apis/v2beta1/pipelines/create", json={
        "pipeline": {"display_name": "bundle"},
        "pipeline_version": {"display_name": "b1", "pipeline_spec": spec}})
    vs = env.ok("alice", "GET", f"/apis/v2beta1/pipelines/{both['pipeline_id']}/versions")
    assert [x["display_name"] for x in vs["pipeline_versions"]] == ["b1"]
    env.ok("alice", "DELETE", f"/apis/v2beta1/pipelines/{both['pipeline_id']}?cascade=true")
    assert env.call("alice", "GET", f"/apis/v2beta1/pipelines/{both['pipeline_id']}").status_code == 404
    # Unknown paths and methods are KFP-shaped 404s, not the Kubernetes API's.
    r = env.call("alice", "GET", "/apis/v1beta1/nonsense")
    assert r.status_code == 404 and "code" in r.json()
    r = env.call("alice", "PATCH", "/apis/v2beta1/runs")
    assert r.status_code == 404


def test_create_from_url_refuses_internal_addresses_by_default(tmp_path, file_server):
    root, url = file_server
    (root / "echo.yaml").write_text(ECHO_WORKFLOW)
    (tmp_path / "strict").mkdir()
    s = start_trusted_header_skiff(tmp_path / "strict")
    try:
        # Server-side request forgery: loopback, private and cloud-metadata addresses are refused
        # before connecting, and nothing is stored.
        for bad in [f"{url}/echo.yaml", "http://169.254.169.254/latest/meta-data/",
                    "http://10.0.0.1/x.yaml", f"http://localhost:{url.rsplit(':', 1)[1]}/echo.yaml"]:
            r = requests.post(s.url + "/apis/v1beta1/pipelines", timeout=30,
                              headers={"X-Forwarded-Email": "ops@example.com"},
                              json={"name": "internal", "url": {"pipeline_url": bad}})
            assert r.status_code == 400, (bad, r.text)
            assert "pipelines.fetchPrivateAddresses" in r.json()["message"], r.text
        r = requests.get(s.url + "/apis/v2beta1/pipelines/names/internal", timeout=30,
                         headers={"X-Forwarded-Email": "ops@example.com"})
        assert r.status_code == 404, r.text
    finally:
        assert s.stop() == 0
