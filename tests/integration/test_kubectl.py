"""The real kubectl drives skiff: the sequence a user types on day one (issue 2)."""
import json
import subprocess

import yaml

from conftest import LineReader


NS_YAML = """\
apiVersion: v1
kind: Namespace
metadata:
  name: team-b
  labels:
    owner: alice
    tier: gold
"""

NS_YAML_UPDATED = """\
apiVersion: v1
kind: Namespace
metadata:
  name: team-b
  labels:
    owner: bob
"""


def test_get_namespaces_lists_default(kubectl):
    r = kubectl.run("get", "namespaces")
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["NAME", "STATUS", "AGE"]
    assert any(l.split()[:2] == ["default", "Active"] for l in lines[1:]), r.stdout


def test_create_label_get_describe_delete(kubectl):
    r = kubectl.run("create", "namespace", "team-a")
    assert r.stdout.strip() == "namespace/team-a created"

    r = kubectl.run("label", "namespace", "team-a", "serving.kubeflow.org/inferenceservice=enabled")
    assert r.stdout.strip() == "namespace/team-a labeled"

    doc = yaml.safe_load(kubectl.run("get", "ns", "team-a", "-o", "yaml").stdout)
    assert doc["kind"] == "Namespace" and doc["apiVersion"] == "v1"
    assert doc["metadata"]["labels"]["serving.kubeflow.org/inferenceservice"] == "enabled"
    assert doc["metadata"]["uid"] and doc["metadata"]["creationTimestamp"]
    assert doc["status"]["phase"] == "Active"

    obj = json.loads(kubectl.run("get", "ns", "team-a", "-o", "json").stdout)
    assert obj["metadata"]["name"] == "team-a"
    assert int(obj["metadata"]["resourceVersion"]) > 0

    labels = json.loads(kubectl.run("get", "ns", "team-a", "-o", "jsonpath={.metadata.labels}").stdout)
    assert labels["serving.kubeflow.org/inferenceservice"] == "enabled"

    r = kubectl.run("describe", "namespace", "team-a")
    assert "Name:" in r.stdout and "team-a" in r.stdout
    assert "serving.kubeflow.org/inferenceservice=enabled" in r.stdout
    assert "Active" in r.stdout

    r = kubectl.run("delete", "namespace", "team-a")
    assert r.stdout.strip() == 'namespace "team-a" deleted'
    r = kubectl.run("get", "ns", "team-a", check=False)
    assert r.returncode != 0
    assert 'namespaces "team-a" not found' in r.stderr


def test_apply_twice_creates_then_updates(kubectl, tmpdir_path):
    path = f"{tmpdir_path}/ns.yaml"
    with open(path, "w") as f:
        f.write(NS_YAML)
    r = kubectl.run("apply", "-f", path)
    assert r.stdout.strip() == "namespace/team-b created"
    r = kubectl.run("apply", "-f", path)
    assert r.stdout.strip() == "namespace/team-b unchanged"

    with open(path, "w") as f:
        f.write(NS_YAML_UPDATED)
    r = kubectl.run("apply", "-f", path)
    assert r.stdout.strip() == "namespace/team-b configured"
    obj = json.loads(kubectl.run("get", "ns", "team-b", "-o", "json").stdout)
    labels = obj["metadata"]["labels"]
    assert labels["owner"] == "bob"
    assert "tier" not in labels, "a label removed from the manifest must be removed by apply"
    last = json.loads(obj["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert last["metadata"]["labels"] == {"owner": "bob"}


def test_apply_keeps_labels_added_by_others(kubectl, tmpdir_path):
    path = f"{tmpdir_path}/ns.yaml"
    with open(path, "w") as f:
        f.write(NS_YAML)
    kubectl.run("apply", "-f", path)
    kubectl.run("label", "namespace", "team-b", "added-by=someone-else")
    with open(path, "w") as f:
        f.write(NS_YAML_UPDATED)
    kubectl.run("apply", "-f", path)
    labels = json.loads(kubectl.run("get", "ns", "team-b", "-o", "jsonpath={.metadata.labels}").stdout)
    assert labels == {"owner": "bob", "added-by": "someone-else"}


def test_watch_shows_later_change(kubectl):
    kubectl.run("create", "namespace", "team-w")
    proc = kubectl.popen("get", "ns", "-w")
    try:
        out = LineReader(proc.stdout)
        out.wait_for(r"^team-w\s+Active")
        kubectl.run("label", "namespace", "team-w", "watched=yes")
        # The change arrives as a new row for team-w.
        out.wait_for(r"^team-w\s+Active")
        kubectl.run("create", "namespace", "team-x")
        out.wait_for(r"^team-x\s+Active")
        kubectl.run("delete", "namespace", "team-x")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_invalid_name_is_refused_with_field(kubectl):
    r = kubectl.run("create", "namespace", "Team_A", check=False)
    assert r.returncode != 0
    assert "metadata.name: Invalid value" in r.stderr
    r = kubectl.run("get", "ns", "-o", "name")
    assert "namespace/Team_A" not in r.stdout


def test_unknown_field_is_refused_by_strict_validation(kubectl, tmpdir_path):
    path = f"{tmpdir_path}/bad.yaml"
    with open(path, "w") as f:
        f.write("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-s\nspec:\n  bogus: 1\n")
    r = kubectl.run("apply", "-f", path, check=False)
    assert r.returncode != 0
    assert 'unknown field "spec.bogus"' in r.stderr
    r = kubectl.run("get", "ns", "team-s", check=False)
    assert r.returncode != 0


def test_wrong_token_is_unauthorized(skiff, tmpdir_path):
    cfg = f"{tmpdir_path}/bad-kubeconfig"
    with open(cfg, "w") as f:
        f.write(f"""apiVersion: v1
kind: Config
clusters: [{{name: s, cluster: {{server: "{skiff.url}"}}}}]
users: [{{name: u, user: {{token: not-the-token}}}}]
contexts: [{{name: c, context: {{cluster: s, user: u}}}}]
current-context: c
""")
    r = subprocess.run(["kubectl", "--kubeconfig", cfg, "--cache-dir", f"{tmpdir_path}/c2", "get", "ns"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "Unauthorized" in r.stderr or "must be logged in" in r.stderr
