"""Kubernetes API conventions over plain HTTP: concurrency, patches, watch and errors."""
import json
import os
import threading

import requests

from conftest import Skiff

JSON = {"Content-Type": "application/json"}


def ns(name, labels=None):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}}


def create(s, name, labels=None):
    r = s.request("POST", "/api/v1/namespaces", json=ns(name, labels))
    assert r.status_code == 201, r.text
    return r.json()


def test_optimistic_concurrency(skiff):
    obj = create(skiff, "occ")
    rv = obj["metadata"]["resourceVersion"]
    obj["metadata"]["labels"] = {"v": "1"}
    r = skiff.request("PUT", "/api/v1/namespaces/occ", json=obj)
    assert r.status_code == 200
    assert int(r.json()["metadata"]["resourceVersion"]) > int(rv)
    obj["metadata"]["labels"] = {"v": "2"}  # still carries the old resourceVersion
    r = skiff.request("PUT", "/api/v1/namespaces/occ", json=obj)
    assert r.status_code == 409
    assert r.json()["reason"] == "Conflict"
    assert skiff.request("GET", "/api/v1/namespaces/occ").json()["metadata"]["labels"] == {"v": "1"}


def test_patch_kinds(skiff):
    create(skiff, "pt", {"a": "1"})
    r = skiff.request("PATCH", "/api/v1/namespaces/pt", data=json.dumps({"metadata": {"labels": {"b": "2", "a": None}}}),
                      headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200 and r.json()["metadata"]["labels"] == {"b": "2"}
    r = skiff.request("PATCH", "/api/v1/namespaces/pt", data=json.dumps([{"op": "add", "path": "/metadata/labels/c", "value": "3"}]),
                      headers={"Content-Type": "application/json-patch+json"})
    assert r.status_code == 200 and r.json()["metadata"]["labels"] == {"b": "2", "c": "3"}
    r = skiff.request("PATCH", "/api/v1/namespaces/pt", data=json.dumps({"metadata": {"labels": {"$patch": "replace", "d": "4"}}}),
                      headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert r.status_code == 200 and r.json()["metadata"]["labels"] == {"d": "4"}
    r = skiff.request("PATCH", "/api/v1/namespaces/pt", data=json.dumps([{"op": "test", "path": "/metadata/labels/d", "value": "9"}]),
                      headers={"Content-Type": "application/json-patch+json"})
    assert r.status_code == 400
    r = skiff.request("PATCH", "/api/v1/namespaces/pt", data="{}", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415


def test_bad_input_changes_nothing(skiff):
    before = skiff.request("GET", "/api/v1/namespaces").json()["metadata"]["resourceVersion"]
    cases = [
        ("{oops", 400, "BadRequest"),
        (json.dumps({"apiVersion": "v2", "kind": "Namespace", "metadata": {"name": "x"}}), 400, "BadRequest"),
        (json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}}), 400, "BadRequest"),
        (json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "UPPER"}}), 422, "Invalid"),
        (json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a" * 64}}), 422, "Invalid"),
        (json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "lbl", "labels": {"bad key!": "v"}}}), 422, "Invalid"),
        (json.dumps([1, 2]), 400, "BadRequest"),
    ]
    for body, code, reason in cases:
        r = skiff.request("POST", "/api/v1/namespaces", data=body, headers=JSON)
        assert r.status_code == code, (body, r.text)
        assert r.json()["reason"] == reason
        assert r.json()["kind"] == "Status"
    r = skiff.request("POST", "/api/v1/namespaces", data="apiVersion: v1\nkind: Namespace\nmetadata:\n  name: [x\n",
                      headers={"Content-Type": "application/yaml"})
    assert r.status_code == 400 and "line" in r.json()["message"]
    after = skiff.request("GET", "/api/v1/namespaces").json()["metadata"]["resourceVersion"]
    assert before == after


def test_label_selectors(skiff):
    create(skiff, "sel-a", {"env": "prod", "tier": "web"})
    create(skiff, "sel-b", {"env": "dev"})
    create(skiff, "sel-c", {})

    def names(selector):
        r = skiff.request("GET", "/api/v1/namespaces", params={"labelSelector": selector})
        assert r.status_code == 200, r.text
        return sorted(i["metadata"]["name"] for i in r.json()["items"] if i["metadata"]["name"].startswith("sel-"))

    assert names("env=prod") == ["sel-a"]
    assert names("env!=prod") == ["sel-b", "sel-c"]
    assert names("env in (prod,dev)") == ["sel-a", "sel-b"]
    assert names("env notin (prod)") == ["sel-b", "sel-c"]
    assert names("tier") == ["sel-a"]
    assert names("!tier") == ["sel-b", "sel-c"]
    r = skiff.request("GET", "/api/v1/namespaces", params={"labelSelector": "env in prod"})
    assert r.status_code == 400


def test_watch_stream_and_resume(skiff):
    start = create(skiff, "w-0")["metadata"]["resourceVersion"]
    r = requests.get(skiff.url + "/api/v1/namespaces", params={"watch": "1", "resourceVersion": start},
                     headers=skiff.headers(), stream=True, timeout=30)
    assert r.status_code == 200
    lines = r.iter_lines()
    create(skiff, "w-1")
    skiff.request("PATCH", "/api/v1/namespaces/w-1", data='{"metadata":{"labels":{"x":"y"}}}',
                  headers={"Content-Type": "application/merge-patch+json"})
    skiff.request("DELETE", "/api/v1/namespaces/w-1")
    events = [json.loads(next(lines)) for _ in range(3)]
    r.close()
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert all(e["object"]["metadata"]["name"] == "w-1" for e in events)
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs) and rvs[0] > int(start)


def test_too_old_resource_version_is_gone(tmpdir_path):
    s = Skiff(os.path.join(tmpdir_path, "data"), env={"SKIFF_STORE_HISTORY_SIZE": "5"}).start()
    try:
        first = create(s, "old-0")["metadata"]["resourceVersion"]
        for i in range(1, 12):
            create(s, f"old-{i}")
        r = s.request("GET", "/api/v1/namespaces", params={"watch": "1", "resourceVersion": first}, stream=True)
        assert r.status_code == 410
        assert r.json()["reason"] == "Expired"
    finally:
        assert s.stop() == 0


def test_concurrent_writers_get_unique_versions(skiff):
    versions = []
    lock = threading.Lock()

    def writer(k):
        for i in range(10):
            r = skiff.request("POST", "/api/v1/namespaces", json=ns(f"cw-{k}-{i}"))
            assert r.status_code == 201
            with lock:
                versions.append(int(r.json()["metadata"]["resourceVersion"]))

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(versions) == 40 and len(set(versions)) == 40
