"""Recurring runs (issue 7): KFP's v1beta1 jobs and v2beta1 recurringruns through the real
binary. They fire on time (6-field cron with seconds, and periodic), never have more than
max_concurrency runs unfinished, catch up on missed times unless no_catchup, respect start and
end times, can be disabled and enabled, and are refused with KFP's messages when invalid.
"""
import json
import os
import textwrap
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from conftest import Skiff, wait_until

ECHO = textwrap.dedent("""\
    apiVersion: argoproj.io/v1alpha1
    kind: Workflow
    metadata: {generateName: tick-}
    spec:
      entrypoint: main
      templates:
      - name: main
        container:
          image: alpine
          command: [sh, -c, 'echo tick']
    """)

# Records its start and end (host clock, ns) so the test can check that runs never overlap.
SLOW = textwrap.dedent("""\
    apiVersion: argoproj.io/v1alpha1
    kind: Workflow
    metadata: {{generateName: slow-}}
    spec:
      entrypoint: main
      templates:
      - name: main
        container:
          image: alpine
          command: [sh, -c, 'echo "start $(date +%s%N)" >> {log}; sleep 1.2; echo "end $(date +%s%N)" >> {log}']
    """)


def rfc3339(dt):
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Skiff(str(tmp_path_factory.mktemp("recurring") / "data")).start()
    s.exp = s.request("POST", "/apis/v2beta1/experiments",
                      json={"display_name": "rec", "namespace": "team-r"}).json()["experiment_id"]
    yield s
    rc = s.stop()
    assert rc == 0, "\n".join(s.err.all[-60:])


def create(server, name, trigger, manifest=ECHO, **extra):
    body = {"display_name": name, "experiment_id": server.exp,
            "pipeline_spec": __import__("yaml").safe_load(manifest), "trigger": trigger,
            "max_concurrency": "1"}
    body.update(extra)
    return server.request("POST", "/apis/v2beta1/recurringruns", json=body)


def runs_of(server, rid):
    out, token = [], ""
    while True:
        r = server.request("GET", "/apis/v2beta1/runs",
                           params={"namespace": "team-r", "page_size": 200, "page_token": token})
        assert r.status_code == 200, r.text
        body = r.json()
        out += [x for x in body.get("runs", []) if x.get("recurring_run_id") == rid]
        token = body.get("next_page_token", "")
        if not token:
            return out


def test_periodic_fires_and_respects_max_concurrency(server):
    log = f"/dev/shm/skiff-rec-{uuid.uuid4().hex[:10]}"
    try:
        r = create(server, "slow", {"periodic_schedule": {"interval_second": "1"}},
                   manifest=SLOW.format(log=log))
        assert r.status_code == 200, r.text
        rid = r.json()["recurring_run_id"]
        assert r.json()["status"] == "ENABLED"
        wait_until(lambda: len([x for x in runs_of(server, rid) if x["state"] == "SUCCEEDED"]) >= 3,
                   timeout=30, what="three runs of the periodic schedule")
        r = server.request("POST", f"/apis/v2beta1/recurringruns/{rid}:disable")
        assert r.status_code == 200, r.text
        # Once every run has finished, the log shows starts and ends strictly alternating:
        # with max_concurrency 1 a run never starts before the previous one ended.
        wait_until(lambda: all(x["state"] in ("SUCCEEDED", "FAILED") for x in runs_of(server, rid)),
                   timeout=30, what="the last run to finish")
        with open(log) as f:
            events = [line.split() for line in f.read().splitlines()]
        kinds = [e[0] for e in events]
        assert kinds == ["start", "end"] * (len(kinds) // 2), kinds
        stamps = [int(e[1]) for e in events]
        assert stamps == sorted(stamps)
        assert server.request("GET", f"/apis/v2beta1/recurringruns/{rid}").json()["status"] == "DISABLED"
    finally:
        if os.path.exists(log):
            os.unlink(log)


def test_cron_with_seconds_fires_on_its_seconds(server):
    r = create(server, "every-2s", {"cron_schedule": {"cron": "*/2 * * * * *"}},
               max_concurrency="5")
    assert r.status_code == 200, r.text
    rid = r.json()["recurring_run_id"]
    runs = wait_until(lambda: (lambda x: x if len(x) >= 3 else None)(runs_of(server, rid)),
                      timeout=20, what="three cron runs")
    server.request("POST", f"/apis/v2beta1/recurringruns/{rid}:disable")
    # Each run is named after its scheduled time: an even second.
    for run in runs:
        seconds = int(run["display_name"][-3:-1])
        assert seconds % 2 == 0, run["display_name"]


def test_catchup_and_no_catchup(server):
    start = rfc3339(datetime.now(timezone.utc) - timedelta(seconds=65))
    trig = {"periodic_schedule": {"interval_second": "10", "start_time": start}}
    caught = create(server, "catchup", trig, max_concurrency="10").json()["recurring_run_id"]
    single = create(server, "no-catchup", trig, max_concurrency="10",
                    no_catchup=True).json()["recurring_run_id"]
    # With catch-up every missed time since the start fires: 6 (at +10 s ... +60 s).
    wait_until(lambda: len(runs_of(server, caught)) >= 6, timeout=20, what="catch-up runs")
    got = wait_until(lambda: runs_of(server, single) or None, timeout=20, what="one run")
    for rid in (caught, single):
        server.request("POST", f"/apis/v2beta1/recurringruns/{rid}:disable")
    assert len(runs_of(server, caught)) in (6, 7)
    assert len(got) == 1


def test_end_time_in_the_past_never_fires_and_enable_disable(server):
    past = rfc3339(datetime.now(timezone.utc) - timedelta(hours=1))
    r = create(server, "ended", {"cron_schedule": {"cron": "* * * * * *", "end_time": past}})
    rid = r.json()["recurring_run_id"]
    # A later recurring run with the same trigger minus the end fires within its second; by
    # then the ended one would have fired too.
    other = create(server, "probe", {"cron_schedule": {"cron": "* * * * * *"}}).json()["recurring_run_id"]
    wait_until(lambda: runs_of(server, other), timeout=10, what="the probe to fire")
    server.request("POST", f"/apis/v2beta1/recurringruns/{other}:disable")
    assert runs_of(server, rid) == []


def test_v1_jobs_api_and_validation(server):
    body = {"name": "v1-job", "pipeline_spec": {"workflow_manifest": ECHO},
            "resource_references": [{"key": {"type": "EXPERIMENT", "id": server.exp},
                                     "relationship": "OWNER"}],
            "max_concurrency": "2", "enabled": False,
            "trigger": {"cron_schedule": {"cron": "0 0 * * * *"}}}
    r = server.request("POST", "/apis/v1beta1/jobs", json=body)
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["enabled"] is False and job["max_concurrency"] == "2"
    assert job["trigger"]["cron_schedule"]["cron"] == "0 0 * * * *"
    jid = job["id"]
    lst = server.request("GET", "/apis/v1beta1/jobs", params={
        "resource_reference_key.type": "NAMESPACE", "resource_reference_key.id": "team-r"}).json()
    assert jid in [j["id"] for j in lst["jobs"]]
    assert server.request("POST", f"/apis/v1beta1/jobs/{jid}/enable").status_code == 200
    assert server.request("GET", f"/apis/v1beta1/jobs/{jid}").json()["enabled"] is True
    assert server.request("POST", f"/apis/v1beta1/jobs/{jid}/disable").status_code == 200
    assert server.request("DELETE", f"/apis/v1beta1/jobs/{jid}").status_code == 200
    assert server.request("GET", f"/apis/v1beta1/jobs/{jid}").status_code == 404
    # KFP's create-time checks.
    for change, words in [({"max_concurrency": "11"}, "max concurrency"),
                          ({"trigger": {"cron_schedule": {"cron": "* * *"}}}, "Expected 5 to 6 fields"),
                          ({"trigger": {"periodic_schedule": {"interval_second": "0"}}}, "interval"),
                          ({"trigger": {}}, "trigger")]:
        r = server.request("POST", "/apis/v1beta1/jobs", json={**body, **change})
        assert r.status_code == 400, (change, r.text)
        assert words.lower() in r.json()["message"].lower(), (change, r.json())
