"""`skiff get/apply/delete/kubeconfig` do what kubectl does, without kubectl."""
import json

import yaml


MULTI = """\
apiVersion: v1
kind: Namespace
metadata:
  name: team-c
  labels: {app: demo}
---
apiVersion: v1
kind: ResourceQuota
metadata:
  name: quota
  namespace: team-c
spec:
  hard:
    pods: "10"
"""


def test_apply_get_delete_round_trip(skiff, tmpdir_path):
    path = f"{tmpdir_path}/m.yaml"
    with open(path, "w") as f:
        f.write(MULTI)
    r = skiff.cli("apply", "-f", path, check=True)
    assert r.stdout.splitlines() == ["namespace/team-c created", "resourcequota/quota created"]
    r = skiff.cli("apply", "-f", path, check=True)
    assert r.stdout.splitlines() == ["namespace/team-c unchanged", "resourcequota/quota unchanged"]

    r = skiff.cli("get", "ns", check=True)
    assert r.stdout.splitlines()[0].split() == ["NAME", "STATUS", "AGE"]
    assert any(l.split()[:2] == ["team-c", "Active"] for l in r.stdout.splitlines())

    doc = yaml.safe_load(skiff.cli("get", "namespace", "team-c", "-o", "yaml", check=True).stdout)
    assert doc["metadata"]["labels"] == {"app": "demo"}
    obj = json.loads(skiff.cli("get", "quota", "quota", "-n", "team-c", "-o", "json", check=True).stdout)
    assert obj["spec"]["hard"]["pods"] == "10"

    r = skiff.cli("get", "ns", "-l", "app=demo", "-o", "name", check=True)
    assert r.stdout.split() == ["namespace/team-c"]

    r = skiff.cli("delete", "ns", "team-c", check=True)
    assert r.stdout.strip() == 'namespace "team-c" deleted'
    r = skiff.cli("get", "ns", "team-c")
    assert r.returncode == 1
    assert 'Error from server (NotFound): namespaces "team-c" not found' in r.stderr
    # The quota went with its namespace.
    r = skiff.cli("get", "quota", "-n", "team-c")
    assert "No resources found" in r.stderr


def test_apply_from_stdin_and_update(skiff):
    r = skiff.cli("apply", "-f", "-", input="apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-d\n  labels: {a: '1', b: '2'}\n", check=True)
    assert r.stdout.strip() == "namespace/team-d created"
    r = skiff.cli("apply", "-f", "-", input="apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-d\n  labels: {a: '3'}\n", check=True)
    assert r.stdout.strip() == "namespace/team-d configured"
    obj = json.loads(skiff.cli("get", "ns", "team-d", "-o", "json", check=True).stdout)
    assert obj["metadata"]["labels"] == {"a": "3"}


def test_yaml_errors_name_the_line(skiff, tmpdir_path):
    path = f"{tmpdir_path}/bad.yaml"
    with open(path, "w") as f:
        f.write("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ok\n  labels: [unclosed\n")
    r = skiff.cli("apply", "-f", path)
    assert r.returncode != 0
    assert "line" in r.stderr and "invalid YAML" in r.stderr


def test_invalid_name_error_names_field_and_line(skiff, tmpdir_path):
    path = f"{tmpdir_path}/bad.yaml"
    with open(path, "w") as f:
        f.write("apiVersion: v1\nkind: Namespace\nmetadata:\n  labels: {}\n  name: Not_Valid\n")
    r = skiff.cli("apply", "-f", path)
    assert r.returncode != 0
    assert "Error from server (Invalid)" in r.stderr
    assert "metadata.name" in r.stderr
    assert "line 5" in r.stderr, r.stderr
    assert "Not_Valid" not in skiff.cli("get", "ns", "-o", "name").stdout


def test_missing_kind_names_the_line(skiff, tmpdir_path):
    path = f"{tmpdir_path}/nokind.yaml"
    with open(path, "w") as f:
        f.write("apiVersion: v1\nmetadata:\n  name: x\n")
    r = skiff.cli("apply", "-f", path)
    assert r.returncode != 0
    assert "kind is required" in r.stderr


def test_unknown_resource_type(skiff):
    r = skiff.cli("get", "widgets")
    assert r.returncode != 0
    assert 'the server doesn\'t have a resource type "widgets"' in r.stderr


def test_kubeconfig_has_server_and_token(skiff):
    cfg = yaml.safe_load(skiff.cli("kubeconfig", check=True).stdout)
    # kubectl sends tokens only over TLS: the kubeconfig points at the TLS side of the port,
    # trusting skiff's private CA.
    cluster = cfg["clusters"][0]["cluster"]
    assert cluster["server"] == skiff.url.replace("http://", "https://")
    import base64
    with open(f"{skiff.data_dir}/tls/ca.crt", "rb") as f:
        assert base64.b64decode(cluster["certificate-authority-data"]) == f.read()
    assert cfg["users"][0]["user"]["token"] == skiff.token
    assert cfg["current-context"] == "skiff"


def test_unreachable_server_says_what_to_do(tmpdir_path):
    import subprocess
    from conftest import SKIFF
    import os
    os.makedirs(f"{tmpdir_path}/d")
    with open(f"{tmpdir_path}/d/admin.token", "w") as f:
        f.write("skf_dummy_token_for_test_only\n")
    r = subprocess.run([SKIFF, "get", "ns", "--server", "http://127.0.0.1:1", "--data-dir", f"{tmpdir_path}/d"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "cannot reach skiff at http://127.0.0.1:1" in r.stderr
    assert "skiff up" in r.stderr
