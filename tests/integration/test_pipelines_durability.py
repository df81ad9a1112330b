"""Pipeline runs survive skiff being killed (issue 7, "Durable"): skiff is SIGKILLed while a task
runs; the task's processes die with it (no task outlives skiff); after a restart on the same data
dir the run continues: finished tasks are not re-run, the interrupted task is re-run when its
retry policy covers errors and failed otherwise, and nothing runs twice at the same time.

Tasks count their starts in files under /dev/shm (tasks have their own /tmp; /dev/shm is shared
with the host), which is how the test sees what ran how often.
"""
import os
import signal
import textwrap
import time
import uuid

import pytest
import requests

from conftest import Skiff, wait_until

RETRIED = textwrap.dedent("""\
    apiVersion: argoproj.io/v1alpha1
    kind: Workflow
    metadata: {{generateName: durable-}}
    spec:
      entrypoint: main
      templates:
      - name: main
        dag:
          tasks:
          - {{name: a, template: a}}
          - {{name: b, template: b, dependencies: [a]}}
          - {{name: c, template: c, dependencies: [b]}}
      - name: a
        container:
          image: alpine
          command: [sh, -c, 'echo a >> {shm}/a']
      - name: b
        retryStrategy: {{limit: 2, retryPolicy: Always}}
        container:
          image: alpine
          command: [sh, -c, 'echo b >> {shm}/b; if [ "$(wc -l < {shm}/b)" -ge 2 ]; then echo quick; else exec sleep 31.{tag}; fi']
      - name: c
        container:
          image: alpine
          command: [sh, -c, 'echo c >> {shm}/c']
    """)

NOT_RETRIED = textwrap.dedent("""\
    apiVersion: argoproj.io/v1alpha1
    kind: Workflow
    metadata: {{generateName: fragile-}}
    spec:
      entrypoint: main
      templates:
      - name: main
        container:
          image: alpine
          command: [sh, -c, 'echo x >> {shm}/x; exec sleep 32.{tag}']
    """)


def lines(path):
    try:
        with open(path) as f:
            return len(f.read().splitlines())
    except FileNotFoundError:
        return 0


def processes_with(marker):
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if marker.encode() in f.read().replace(b"\0", b" "):
                    found.append(int(pid))
        except OSError:
            pass
    return found


@pytest.fixture
def shm():
    d = f"/dev/shm/skiff-durable-{uuid.uuid4().hex[:12]}"
    os.makedirs(d)
    yield d
    for f in os.listdir(d):
        os.unlink(os.path.join(d, f))
    os.rmdir(d)


def test_runs_continue_after_sigkill(tmp_path, shm):
    data = str(tmp_path / "data")
    tag = uuid.uuid4().int % 10**6
    s = Skiff(data).start()
    try:
        h = s.headers()
        exp = s.request("POST", "/apis/v2beta1/experiments",
                        json={"display_name": "durable", "namespace": "team-d"})
        assert exp.status_code == 200, exp.text
        exp_id = exp.json()["experiment_id"]

        def run(manifest, name):
            r = s.request("POST", "/apis/v1beta1/runs", json={
                "name": name, "pipeline_spec": {"workflow_manifest": manifest},
                "resource_references": [{"key": {"type": "EXPERIMENT", "id": exp_id},
                                         "relationship": "OWNER"}]})
            assert r.status_code == 200, r.text
            return r.json()["run"]["id"]

        retried = run(RETRIED.format(shm=shm, tag=tag), "retried")
        fragile = run(NOT_RETRIED.format(shm=shm, tag=tag), "fragile")
        try:
            wait_until(lambda: processes_with(f"sleep 31.{tag}") and
                       processes_with(f"sleep 32.{tag}"), timeout=30, what="both long tasks to run")
        except AssertionError:
            for rid in (retried, fragile):
                print(s.request("GET", f"/apis/v2beta1/runs/{rid}").json())
            raise
        assert (lines(f"{shm}/a"), lines(f"{shm}/b"), lines(f"{shm}/x")) == (1, 1, 1)
        s.proc.send_signal(signal.SIGKILL)
        s.proc.wait(timeout=10)
        # The tasks die with skiff.
        wait_until(lambda: not processes_with(f"sleep 31.{tag}") and
                   not processes_with(f"sleep 32.{tag}"), timeout=10,
                   what="the tasks to die with skiff")
    finally:
        if s.proc.poll() is None:
            s.stop()

    s2 = Skiff(data).start()
    try:
        def state(run_id):
            r = s2.request("GET", f"/apis/v2beta1/runs/{run_id}")
            assert r.status_code == 200, r.text
            return r.json()

        done = wait_until(lambda: (lambda r: r if r["state"] in ("SUCCEEDED", "FAILED") else None)(
            state(retried)), timeout=60, what="the retried run to finish")
        assert done["state"] == "SUCCEEDED", done
        # a ran once, b twice (interrupted, then re-run), c once.
        assert (lines(f"{shm}/a"), lines(f"{shm}/b"), lines(f"{shm}/c")) == (1, 2, 1)
        b = [t for t in done["run_details"]["task_details"] if t["display_name"] == "b"][0]
        assert b["state"] == "SUCCEEDED"

        fr = wait_until(lambda: (lambda r: r if r["state"] in ("SUCCEEDED", "FAILED") else None)(
            state(fragile)), timeout=30, what="the fragile run to finish")
        assert fr["state"] == "FAILED"
        assert "skiff stopped while the task ran" in fr["error"]["message"], fr
        assert lines(f"{shm}/x") == 1  # not re-run: no retry policy
    finally:
        rc = s2.stop()
    assert rc == 0
