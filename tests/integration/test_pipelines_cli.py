"""`skiff pipelines|experiments|runs` (issue 7, CLI) against the real binary: upload KFP v2 IR and
v1 Argo pipelines, runs with -p parameters (typed as the pipeline declares them), `runs get` until
SUCCEEDED, task logs (one task, every task, -f), `runs list` newest first and by experiment,
terminate (CANCELED), retry, archive, --wait, and errors that carry the server's message.

The client acts with the server's admin token (a cluster admin). Pipeline tasks run as local
processes in their own mount+PID namespaces, which needs root or user namespaces (CI runs as
root).
"""
import json
import os
import re
import subprocess
import textwrap

import pytest

from conftest import SKIFF, wait_until

SAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "kfp-samples")
NS = "team-a"

# KFP v1 (Argo): a DAG whose task `say` echoes a workflow parameter.
GREET_ARGO = textwrap.dedent("""\
    apiVersion: argoproj.io/v1alpha1
    kind: Workflow
    metadata:
      generateName: greet-
    spec:
      entrypoint: main
      arguments:
        parameters:
        - {name: who, value: nobody}
      templates:
      - name: main
        dag:
          tasks:
          - name: say
            template: say
            arguments:
              parameters:
              - {name: who, value: '{{workflow.parameters.who}}'}
      - name: say
        inputs:
          parameters:
          - {name: who}
        container:
          image: alpine:3
          command: [sh, -c, 'echo "hello {{inputs.parameters.who}}"']
    """)

# KFP v2 IR: a STRING and an integer parameter.
SAY_IR = textwrap.dedent("""\
    components:
      comp-say:
        executorLabel: exec-say
        inputDefinitions:
          parameters:
            who: {parameterType: STRING}
            times: {parameterType: NUMBER_INTEGER}
    deploymentSpec:
      executors:
        exec-say:
          container:
            image: alpine:3
            command:
            - sh
            - -c
            - 'i=0; while [ "$i" -lt "$1" ]; do echo "hi $0"; i=$((i+1)); done'
            - "{{$.inputs.parameters['who']}}"
            - "{{$.inputs.parameters['times']}}"
    pipelineInfo: {name: say-ir}
    root:
      dag:
        tasks:
          say:
            componentRef: {name: comp-say}
            inputs:
              parameters:
                who: {componentInputParameter: who}
                times: {componentInputParameter: times}
            taskInfo: {name: say}
      inputDefinitions:
        parameters:
          who: {parameterType: STRING, defaultValue: nobody}
          times: {parameterType: NUMBER_INTEGER, defaultValue: 1}
    schemaVersion: 2.1.0
    sdkVersion: kfp-2.14.6
    """)

SLEEP_ARGO = textwrap.dedent("""\
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
          command: [sh, -c, 'echo started; sleep 60; echo slept']
    """)


def cli(skiff, *args, timeout=60):
    return skiff.cli(*args, timeout=timeout)


def ok(skiff, *args, timeout=60):
    r = cli(skiff, *args, timeout=timeout)
    assert r.returncode == 0, f"skiff {' '.join(args)} failed ({r.returncode}): {r.stderr}"
    return r.stdout


def write(tmpdir_path, name, text):
    path = os.path.join(tmpdir_path, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def run_json(skiff, run_id):
    return json.loads(ok(skiff, "runs", "get", run_id, "-o", "json"))


def wait_state(skiff, run_id, states, timeout=60):
    def check():
        run = run_json(skiff, run_id)
        return run if run["state"] in states else None
    return wait_until(check, timeout=timeout, interval=0.2, what=f"run {run_id} in {states}")


def created_id(stdout):
    m = re.search(r"created: (\S+)", stdout)
    assert m, stdout
    return m.group(1)


def table(stdout):
    """Rows of a printed table (split on runs of 3+ spaces), header first."""
    return [re.split(r" {3,}", line.strip()) for line in stdout.splitlines() if line.strip()]


def test_upload_run_logs_list(skiff, tmpdir_path):
    hello = os.path.join(SAMPLES, "v2-ir", "hello_world.yaml")
    out = ok(skiff, "pipelines", "upload", hello)
    assert "pipeline hello_world uploaded" in out
    assert re.search(r"id:\s+[0-9a-f-]{36}", out), out
    out = ok(skiff, "pipelines", "upload", write(tmpdir_path, "greet.yaml", GREET_ARGO))
    assert "parameters: who = nobody" in out, out
    out = ok(skiff, "pipelines", "upload", write(tmpdir_path, "say.yaml", SAY_IR), "--name",
             "say-ir", "--description", "says hi")
    assert "who (STRING) = nobody" in out and "times (NUMBER_INTEGER) = 1" in out, out

    rows = table(ok(skiff, "pipelines", "list"))
    assert rows[0] == ["NAME", "ID", "VERSIONS", "CREATED"]
    assert sorted(r[0] for r in rows[1:]) == ["greet", "hello_world", "say-ir"]
    assert all(r[2] == "1" for r in rows[1:])
    listed = json.loads(ok(skiff, "pipelines", "list", "-o", "json"))
    assert listed["total_size"] == 3
    assert {p["display_name"] for p in listed["pipelines"]} == {"greet", "hello_world", "say-ir"}
    got = ok(skiff, "pipelines", "get", "say-ir")
    assert "says hi" in got and "Versions (newest first):" in got
    pid = next(p["pipeline_id"] for p in listed["pipelines"] if p["display_name"] == "say-ir")
    assert json.loads(ok(skiff, "pipelines", "get", pid, "-o", "json"))["display_name"] == "say-ir"

    # v2 IR sample, no parameters, Default experiment.
    out = ok(skiff, "runs", "create", "--pipeline", "hello_world", "-n", NS)
    hello_run = created_id(out)
    assert f"skiff runs get {hello_run}" in out
    assert "experiment Default" in out
    run = wait_state(skiff, hello_run, {"SUCCEEDED", "FAILED"})
    assert run["state"] == "SUCCEEDED", run
    got = ok(skiff, "runs", "get", hello_run)
    assert re.search(r"State:\s+SUCCEEDED", got), got
    assert re.search(r"^\s+echo\s+SUCCEEDED", got, re.M), got
    assert ok(skiff, "runs", "logs", hello_run, "echo") == "hello world\n"

    # v1 Argo with -p, in a named experiment that the CLI creates, waiting for the end.
    r = cli(skiff, "runs", "create", "--pipeline", "greet", "-p", "who=skiff", "-n", NS,
            "--experiment", "cli-exp", "--name", "greet-run", "--wait", timeout=90)
    assert r.returncode == 0, r.stderr
    assert "experiment cli-exp created" in r.stderr
    assert re.search(r"SUCCEEDED after", r.stdout), r.stdout
    greet_run = created_id(r.stdout)
    assert ok(skiff, "runs", "logs", greet_run, "say") == "hello skiff\n"
    # A run by name, with its namespace.
    assert run_json(skiff, greet_run)["display_name"] == "greet-run"
    assert re.search(r"ID:\s+" + greet_run, ok(skiff, "runs", "get", "greet-run", "-n", NS))
    assert ok(skiff, "runs", "logs", "greet-run", "say", "-n", NS) == "hello skiff\n"
    r = cli(skiff, "runs", "get", "no-such-run", "-n", NS)
    assert r.returncode == 1 and "no run has the id or name" in r.stderr, r.stderr
    # Without TASK: every container task, prefixed with its name.
    assert ok(skiff, "runs", "logs", greet_run) == "say | hello skiff\n"
    # -f on a finished task prints its log and exits 0 (it succeeded).
    assert ok(skiff, "runs", "logs", greet_run, "say", "-f") == "hello skiff\n"

    # IR with typed parameters: "42" stays a string for the STRING parameter, 2 is a number.
    out = ok(skiff, "runs", "create", "--pipeline", "say-ir", "-p", "who=42", "-p", "times=2",
             "-n", NS, "--experiment", "cli-exp", "-o", "json")
    say_run = json.loads(out)["run_id"]
    run = wait_state(skiff, say_run, {"SUCCEEDED", "FAILED"})
    assert run["state"] == "SUCCEEDED", run
    assert run["runtime_config"]["parameters"] == {"who": "42", "times": 2}
    assert ok(skiff, "runs", "logs", say_run, "say") == "hi 42\nhi 42\n"
    assert "Parameters:  " in ok(skiff, "runs", "get", say_run)

    # Newest first, with a state and an age; --experiment narrows the list.
    rows = table(ok(skiff, "runs", "list", "-n", NS))
    assert rows[0] == ["NAME", "ID", "STATE", "DURATION", "AGE"]
    assert [r[1] for r in rows[1:]] == [say_run, greet_run, hello_run]
    assert all(r[2] == "SUCCEEDED" for r in rows[1:])
    assert rows[2][0] == "greet-run"
    rows = table(ok(skiff, "runs", "list", "-n", NS, "--experiment", "cli-exp"))
    assert [r[1] for r in rows[1:]] == [say_run, greet_run]
    runs = json.loads(ok(skiff, "runs", "list", "-n", NS, "-o", "json"))
    assert [r["run_id"] for r in runs["runs"]] == [say_run, greet_run, hello_run]

    rows = table(ok(skiff, "experiments", "list", "-n", NS))
    assert rows[0][:3] == ["NAME", "ID", "STATE"]
    assert sorted(r[0] for r in rows[1:]) == ["Default", "cli-exp"]
    out = ok(skiff, "experiments", "create", "second", "-n", NS)
    assert "experiment second created in team-a" in out
    r = cli(skiff, "experiments", "create", "second", "-n", NS)
    assert r.returncode == 1 and "already exists" in r.stderr, r.stderr

    # A new version of an existing pipeline, then a run of that version.
    out = ok(skiff, "pipelines", "upload", write(tmpdir_path, "greet2.yaml",
             GREET_ARGO.replace("hello ", "bonjour ")), "--name", "greet", "--version", "v2")
    assert "pipeline greet: version v2 uploaded" in out
    got = ok(skiff, "pipelines", "get", "greet")
    assert table(got.split("Versions (newest first):")[1])[1][0] == "v2"
    r = cli(skiff, "runs", "create", "--pipeline", "greet", "--version", "v2", "-p", "who=v2",
            "-n", NS, "--wait", timeout=90)
    assert r.returncode == 0, r.stderr
    assert ok(skiff, "runs", "logs", created_id(r.stdout), "say") == "bonjour v2\n"


def test_terminate_follow_retry_archive(skiff, tmpdir_path):
    ok(skiff, "pipelines", "upload", write(tmpdir_path, "sleeper.yaml", SLEEP_ARGO))
    run_id = created_id(ok(skiff, "runs", "create", "--pipeline", "sleeper", "-n", NS))
    follower = subprocess.Popen(
        [SKIFF, "runs", "logs", run_id, "-f", "--server", skiff.url, "--data-dir", skiff.data_dir],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=skiff.env)
    try:
        wait_until(lambda: "started" in cli(skiff, "runs", "logs", run_id).stdout, timeout=30,
                   interval=0.2, what="the task's first line")
        assert run_json(skiff, run_id)["state"] == "RUNNING"
        out = ok(skiff, "runs", "terminate", run_id)
        assert f"run {run_id} is being terminated" in out
        stdout, stderr = follower.communicate(timeout=30)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait(timeout=5)
    # The follower printed the log as it came, then exited 1: the run did not succeed.
    assert follower.returncode == 1, (stdout, stderr)
    assert "started" in stdout and "slept" not in stdout
    assert "CANCELED" in stderr
    run = wait_state(skiff, run_id, {"CANCELED"}, timeout=30)
    got = ok(skiff, "runs", "get", run_id)
    assert re.search(r"State:\s+CANCELED", got), got
    assert run["error"]["message"]

    # Retry runs the canceled task again; terminate it again.
    out = ok(skiff, "runs", "retry", run_id)
    assert "is being retried" in out
    wait_state(skiff, run_id, {"RUNNING"}, timeout=30)
    ok(skiff, "runs", "terminate", run_id)
    wait_state(skiff, run_id, {"CANCELED"}, timeout=30)

    ok(skiff, "runs", "archive", run_id)
    rows = table(ok(skiff, "runs", "list", "-n", NS))
    assert rows[1][1] == run_id and rows[1][2] == "CANCELED (archived)", rows

    # --wait gives up at --timeout with exit 1 and says why.
    r = cli(skiff, "runs", "create", "--pipeline", "sleeper", "-n", NS, "--wait", "--timeout",
            "1s")
    assert r.returncode == 1
    assert "still" in r.stderr and "after 1s" in r.stderr, r.stderr
    waited = created_id(r.stdout)
    # logs -f also stops at its --timeout.
    r = cli(skiff, "runs", "logs", waited, "-f", "--timeout", "500ms")
    assert r.returncode == 1 and "--timeout" in r.stderr, r.stderr
    ok(skiff, "runs", "terminate", waited)
    wait_state(skiff, waited, {"CANCELED"}, timeout=30)


def test_errors_show_the_servers_message(skiff, tmpdir_path):
    # A pipeline that needs a cluster (a PVC) is refused at upload: the CLI prints the reason the
    # API gives.
    sample = os.path.join(SAMPLES, "v1-argo", "param_substitutions.yaml")
    with open(sample, "rb") as f:
        api = skiff.request("POST", "/apis/v2beta1/pipelines/upload?name=probe",
                            files={"uploadfile": ("p.yaml", f)})
    assert api.status_code == 400
    message = api.json()["message"]
    r = cli(skiff, "pipelines", "upload", sample)
    assert r.returncode == 1
    assert r.stderr.strip() == f"Error from server (InvalidArgument): {message}", r.stderr

    r = cli(skiff, "pipelines", "upload", write(tmpdir_path, "junk.yaml", "kind: Nonsense\n"))
    assert r.returncode == 1 and "Error from server (InvalidArgument)" in r.stderr, r.stderr
    r = cli(skiff, "pipelines", "upload", os.path.join(tmpdir_path, "missing.yaml"))
    assert r.returncode == 1 and "cannot read" in r.stderr

    hello = os.path.join(SAMPLES, "v2-ir", "hello_world.yaml")
    ok(skiff, "pipelines", "upload", hello)
    r = cli(skiff, "pipelines", "upload", hello)
    assert r.returncode == 1
    assert "already exists" in r.stderr and "--version" in r.stderr, r.stderr

    r = cli(skiff, "runs", "create", "--pipeline", "hello_world", "-n", NS, "-p", "nope=1")
    assert r.returncode == 1 and "no parameter \"nope\"" in r.stderr, r.stderr
    r = cli(skiff, "runs", "create", "--pipeline", "hello_world", "-n", NS, "-p", "novalue")
    assert r.returncode == 1 and "KEY=VALUE" in r.stderr
    r = cli(skiff, "runs", "create", "--pipeline", "absent", "-n", NS)
    assert r.returncode == 1 and "pipeline \"absent\" not found" in r.stderr, r.stderr
    r = cli(skiff, "runs", "create", "--pipeline", "hello_world", "--version", "v9", "-n", NS)
    assert r.returncode == 1 and "no version \"v9\"" in r.stderr, r.stderr
    r = cli(skiff, "runs", "create", "--pipeline", "hello_world")
    assert r.returncode == 1 and "-n NAMESPACE" in r.stderr
    r = cli(skiff, "runs", "get", "0000-not-a-run")
    assert r.returncode == 1 and "Error from server (NotFound)" in r.stderr, r.stderr
    r = cli(skiff, "runs", "list", "-n", NS, "-o", "yaml")
    assert r.returncode == 1 and "unknown output format" in r.stderr

    run_id = created_id(ok(skiff, "runs", "create", "--pipeline", "hello_world", "-n", NS)
                        .splitlines()[0])
    wait_state(skiff, run_id, {"SUCCEEDED"})
    r = cli(skiff, "runs", "logs", run_id, "nosuchtask")
    assert r.returncode == 1 and "has no task nosuchtask" in r.stderr and "echo" in r.stderr

    out = ok(skiff, "pipelines", "delete", "hello_world")
    assert "deleted" in out
    r = cli(skiff, "pipelines", "get", "hello_world")
    assert r.returncode == 1 and "not found" in r.stderr
    assert "No pipelines" in ok(skiff, "pipelines", "list")


FAIL_ARGO = textwrap.dedent("""\
    apiVersion: argoproj.io/v1alpha1
    kind: Workflow
    metadata:
      generateName: boom-
    spec:
      entrypoint: main
      templates:
      - name: main
        dag:
          tasks:
          - {name: first, template: ok}
          - {name: boom, template: boom, dependencies: [first]}
      - name: ok
        container:
          image: alpine:3
          command: [sh, -c, 'echo fine']
      - name: boom
        container:
          image: alpine:3
          command: [sh, -c, 'echo going down; echo partial line without newline; exit 3']
    """)


def test_failed_runs_and_namespaced_pipelines(skiff, tmpdir_path):
    # A namespaced pipeline: listed with -n only, found by runs in that namespace.
    out = ok(skiff, "pipelines", "upload", write(tmpdir_path, "boom.yaml", FAIL_ARGO), "-n", NS)
    assert re.search(r"namespace:\s+team-a", out), out
    assert f"skiff runs create --pipeline boom -n {NS}" in out
    assert "No pipelines shared" in ok(skiff, "pipelines", "list")
    assert [r[0] for r in table(ok(skiff, "pipelines", "list", "-n", NS))[1:]] == ["boom"]
    r = cli(skiff, "pipelines", "get", "boom")
    assert r.returncode == 1 and "needs -n NS" in r.stderr, r.stderr

    r = cli(skiff, "runs", "create", "--pipeline", "boom", "-n", NS, "--wait", timeout=90)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "FAILED after" in r.stdout and "error:" in r.stdout, r.stdout
    run_id = created_id(r.stdout)
    # runs get finds the run (exit 0) and shows which task failed.
    got = ok(skiff, "runs", "get", run_id)
    assert re.search(r"State:\s+FAILED", got), got
    rows = {row[0].strip(): row for row in table(got.split("\n\n", 1)[1])}
    assert rows["first"][1] == "SUCCEEDED" and rows["boom"][1] == "FAILED", rows
    assert "exit code 3" in " ".join(rows["boom"][2:]), rows
    # -f on a failed task: its log, then exit 1; a line without a newline keeps its bytes.
    r = cli(skiff, "runs", "logs", run_id, "boom", "-f")
    assert r.returncode == 1
    assert r.stdout == "going down\npartial line without newline\n" or \
        r.stdout == "going down\npartial line without newline", r.stdout
    assert "task boom FAILED" in r.stderr
    # Every task, prefixed, in start order.
    out = ok(skiff, "runs", "logs", run_id)
    assert out.splitlines() == ["first | fine", "boom | going down",
                                "boom | partial line without newline"], out


def test_v1_sample_fan_out(skiff):
    # KFP v1's withItems sample: a parameter, a loop of two iterations with two tasks each.
    ok(skiff, "pipelines", "upload", os.path.join(SAMPLES, "v1-argo", "withitem_basic.yaml"))
    r = cli(skiff, "runs", "create", "--pipeline", "withitem_basic", "-n", NS, "-p",
            "my_pipe_param=7", "--wait", timeout=90)
    assert r.returncode == 0, (r.stdout, r.stderr)
    run_id = created_id(r.stdout)
    got = ok(skiff, "runs", "get", run_id)
    # The tree: iterations under the loop, their tasks under them.
    assert re.search(r'^ {4}for-loop-2\(0:\{"a":1,"b":2\}\)\s+SUCCEEDED', got, re.M), got
    assert re.search(r"^ {6}my-in-coop1\s+SUCCEEDED", got, re.M), got
    # Every task's log; names that repeat get the node id.
    lines = ok(skiff, "runs", "logs", run_id).splitlines()
    assert "my-out-cop | 7" in lines, lines
    coop1 = sorted(line.split(" | ")[1] for line in lines if line.startswith("my-in-coop1("))
    assert coop1 == ["op1 1 7", "op1 10 7"], lines
    node = next(line for line in lines if line.endswith("| op1 10 7")).split("(")[1].split(")")[0]
    r = cli(skiff, "runs", "logs", run_id, "my-in-coop1")
    assert r.returncode == 1 and "more than one task is named my-in-coop1" in r.stderr
    assert ok(skiff, "runs", "logs", run_id, node) == "op1 10 7\n"
