"""Pipelines benchmark (issue 7, "Measured, not asserted"): the real skiff binary, its KFP
v2beta1 API on loopback, in one run:

  1. latency of a 1-task pipeline (an Argo Workflow whose one container runs `true`), from the
     POST /apis/v2beta1/runs to the first GET that sees state SUCCEEDED (client wall time; the
     API's created_at/finished_at have second precision only), BENCH_LATENCY_RUNS runs one
     after the other: p50/p99;
  2. a fan-out/fan-in DAG of `true` steps: one root task, BENCH_FANOUT (200) tasks that depend on
     it, one final task that depends on all of them; total wall time (POST to SUCCEEDED) and

        per-task overhead = (wall - reference wall) / (fanout / P)

     where P is the parallelism (pipelines.maxParallelTasks) and the reference is the same
     fan-out of `true`s spawned by a Python thread pool of P workers in the same run (no
     orchestration at all: what the commands themselves cost on this machine, their CPU
     contention on its cores included). Also shown: (wall - commands) / (fanout / P), with
     commands = (2 + ceil(fanout / P)) x the median cost of one bare `true` (fork/exec/wait from
     Python), the commands' critical path alone, which charges their CPU contention to the
     launcher (the reference scores its own figure there). Root and final task overheads are
     charged to the fan-out tasks (a pessimistic figure). Run
     with the default maxParallelTasks (16) and with BENCH_HIGH_PARALLELISM (64), once with 200
     explicit tasks and once with `withItems` (what KFP v1's ParallelFor compiles to), each
     BENCH_DAG_RUNS (3) times: the rows show skiff's best run against the reference's best of
     three, and the first run after skiff started (its heaps and store files still growing);
  3. listing BENCH_RUNS (10,000) runs of one namespace page by page,
     GET /apis/v2beta1/runs?namespace=NS&page_size=N&sort_by=created_at desc[&filter]&page_token,
     N in 20, 100, 200, with and without a filter: p50/p99 per page.
     The runs are made by posting runs of a 1-task `true` pipeline from BENCH_CLIENTS threads
     while their tasks complete, then waiting until all have finished. That takes minutes on a
     2-core machine, so BENCH_DATA_DIR=DIR keeps the data dir: the first run builds it, later
     runs reuse it (and add runs only when it holds fewer than BENCH_RUNS).

References measured in the same run: a bare `true` spawned with subprocess (the floor of one
task), the same fan-out spawned by a Python thread pool of P workers (the floor of the DAG), and
GET /apis/v2beta1/healthz (the floor of any API call). Kubeflow Pipelines itself (Argo on
Kubernetes) cannot run on this machine, so there is no KFP column.

Targets (issue 7): per-task overhead under 20 ms; listing pages under 20 ms p99.

Usage: bench/pipelines.sh [path/to/skiff]
Env: BENCH_RUNS=10000 BENCH_LATENCY_RUNS=20 BENCH_FANOUT=200 BENCH_HIGH_PARALLELISM=64
     BENCH_CLIENTS=8 BENCH_DATA_DIR (kept data dir for part 3) BENCH_POLL_MS=2
     BENCH_TMP=build/ (where the runs' data dirs go; not /tmp, see main())
     BENCH_DAG_POLL_MS=100 (polling interval of the DAG runs; their wall time is taken from
     the store's ms timestamps)
     BENCH_DAG_RUNS=3 (runs of each fan-out; the rows show the best, as the reference's)
     BENCH_PARTS=123 (which parts to run) BENCH_TIMEOUT=3600 (whole run, s)
     BENCH_EXTRA_CONFIG (YAML appended to every skiff's --config, `\n` for new lines; e.g.
     'store:\n  synchronous: normal' to see what the store's fsyncs cost)
     BENCH_PERF=DIR (record skiff with `perf record --call-graph dwarf` during each fan-out run into
     DIR/fan-<P>-<kind>.data, for `perf report -i`; the recording costs CPU)"""
import concurrent.futures
import http.client
import json
import math
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

from common import free_port, wait_port

RUNS = int(os.environ.get("BENCH_RUNS", "10000"))
LATENCY_RUNS = int(os.environ.get("BENCH_LATENCY_RUNS", "20"))
FANOUT = int(os.environ.get("BENCH_FANOUT", "200"))
HIGH_PARALLELISM = int(os.environ.get("BENCH_HIGH_PARALLELISM", "64"))
DEFAULT_PARALLELISM = 16  # pipelines.maxParallelTasks's default (src/cli/settings.cpp)
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "8"))
DATA_DIR = os.environ.get("BENCH_DATA_DIR", "")
# Where the runs' data dirs go: the tree's build dir, as `skiff up`'s ./skiff-data sits in the
# directory it is started from.
TMP_ROOT = os.environ.get("BENCH_TMP", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                    os.pardir, "build"))
POLL = float(os.environ.get("BENCH_POLL_MS", "2")) / 1000
# The DAG runs take seconds, and every GET of a run renders its 200-task pipeline (skiff CPU the
# run would otherwise get): poll it less often.
DAG_POLL = float(os.environ.get("BENCH_DAG_POLL_MS", "100")) / 1000
DAG_RUNS = max(1, int(os.environ.get("BENCH_DAG_RUNS", "3")))
PARTS = os.environ.get("BENCH_PARTS", "123")
PERF_DIR = os.environ.get("BENCH_PERF", "")
EXTRA_CONFIG = os.environ.get("BENCH_EXTRA_CONFIG", "")
TIMEOUT = int(os.environ.get("BENCH_TIMEOUT", "3600"))
NS = "bench"
PAGE_SIZES = (20, 100, 200)


# --- pipelines -----------------------------------------------------------------------------------

def workflow(name, tasks):
    """An Argo Workflow (as KFP v1 compiles) whose `main` DAG has `tasks`; every task runs the
    `true` template, with KFP's caching off (else every `true` after the first is a cache hit
    and runs no process)."""
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
            "metadata": {"generateName": name + "-"},
            "spec": {"entrypoint": "main",
                     "templates": [{"name": "main", "dag": {"tasks": tasks}},
                                   {"name": "true",
                                    "metadata": {"labels": {
                                        "pipelines.kubeflow.org/enable_caching": "false"}},
                                    "container": {"image": "alpine:3", "command": ["true"]}}]}}


def one_task():
    return workflow("one-task", [{"name": "t", "template": "true"}])


def fan_out_explicit(n):
    tasks = [{"name": "root", "template": "true"}]
    tasks += [{"name": f"t{i}", "template": "true", "dependencies": ["root"]} for i in range(n)]
    tasks.append({"name": "final", "template": "true",
                  "dependencies": [f"t{i}" for i in range(n)]})
    return workflow("fan-out", tasks)


def fan_out_items(n):
    return workflow("fan-out-items", [
        {"name": "root", "template": "true"},
        {"name": "fan", "template": "true", "dependencies": ["root"],
         "withItems": list(range(n))},
        {"name": "final", "template": "true", "dependencies": ["fan"]}])


# --- HTTP ----------------------------------------------------------------------------------------

class Client:
    """One keep-alive HTTP/1.1 connection to skiff with the admin token (one per thread)."""

    def __init__(self, port, token, timeout=30):
        self.port, self.token, self.timeout = port, token, timeout
        self.conn = None

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self.token}"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                r = self.conn.getresponse()
                out = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.close()
                return r.status, out
            except (http.client.HTTPException, ConnectionError):
                self.close()  # the server closed an idle connection: retry once on a new one
                if attempt:
                    raise

    def ok(self, method, path, body=None):
        code, out = self.call(method, path, body)
        if code != 200:
            raise SystemExit(f"{method} {path}: {code} {out[:500]!r}")
        return json.loads(out)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def create_run(client, name, manifest):
    return client.ok("POST", "/apis/v2beta1/runs",
                     {"display_name": name, "experiment_id": client.experiment,
                      "pipeline_spec": manifest})["run_id"]


def wait_state(client, run_id, timeout=600, poll=None):
    """Polls the run every `poll` (POLL) seconds until it has finished; returns (state, monotonic
    time of the GET that saw it, the run)."""
    poll = POLL if poll is None else poll
    deadline = time.monotonic() + timeout
    while True:
        run = client.ok("GET", f"/apis/v2beta1/runs/{run_id}")
        now = time.monotonic()
        if run["state"] in ("SUCCEEDED", "FAILED", "CANCELED"):
            return run["state"], now, run
        if now > deadline:
            raise SystemExit(f"run {run_id} still {run['state']} after {timeout}s")
        time.sleep(poll)


# --- skiff ---------------------------------------------------------------------------------------

class Skiff:
    """`skiff up` on 127.0.0.1:<free port> with its own config; stop() ends it."""

    def __init__(self, binary, data, tmp, parallelism=None):
        self.data = data
        self.port = free_port()
        cfg = os.path.join(tmp, f"skiff-{self.port}.yaml")
        with open(cfg, "w") as f:
            f.write('auth:\n  login: "off"\n')
            if parallelism:
                f.write(f"pipelines:\n  maxParallelTasks: {parallelism}\n")
            if EXTRA_CONFIG:
                f.write(EXTRA_CONFIG.replace("\\n", "\n") + "\n")
        env = dict(os.environ, SKIFF_DEMO_ENABLED="false")
        self.log = os.path.join(tmp, f"skiff-{self.port}.log")
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [binary, "up", "--addr", f"127.0.0.1:{self.port}", "--data-dir", data,
                 "--config", cfg, "--log-level", "warn"], stdout=log, stderr=log, env=env)
        try:
            wait_port(self.port, timeout=60)
            with open(os.path.join(data, "admin.token")) as f:
                self.token = f.read().strip()
            self.client = Client(self.port, self.token)
            deadline = time.monotonic() + 60
            while self.client.call("GET", "/apis/v2beta1/healthz")[0] != 200:
                if time.monotonic() > deadline:
                    raise SystemExit("skiff's pipelines API did not answer")
                time.sleep(0.1)
        except BaseException:
            self.stop()
            raise SystemExit("skiff did not start:\n" + self.tail())

    def tail(self, n=30):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def cpu(self):
        """skiff's own user + system CPU seconds (not its tasks')."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def recorded(self, run_id):
        """The run's record as the store holds it (read-only), with its status and nodes (records
        of their own, or inside the document as older versions stored them): its ms timestamps
        (metadata.createdAtMs, status.finishedAtMs, each node's startedAtMs/finishedAtMs) are
        finer than the API's, which have second precision."""
        db = sqlite3.connect(f"file:{os.path.join(self.data, 'skiff.db')}?mode=ro", uri=True,
                             timeout=30)
        by_name = "SELECT json FROM objects WHERE resource = ? AND name = ?"
        try:
            row = db.execute(by_name, ("runs.pipelines.kubeflow.org", run_id)).fetchone()
            status = db.execute(by_name, ("runstatuses.pipelines.kubeflow.org", run_id)).fetchone()
            nodes = db.execute("SELECT json FROM objects WHERE resource = "
                               "'runnodes.pipelines.kubeflow.org' AND name >= ? AND name < ?",
                               (run_id + ".", run_id + "/")).fetchall()
        finally:
            db.close()
        if row is None:
            raise SystemExit(f"run {run_id} is not in {self.data}/skiff.db")
        run = json.loads(row[0])
        if status is not None:
            run["status"] = json.loads(status[0])["status"]
        for (doc,) in nodes:
            node = json.loads(doc)["node"]
            run.setdefault("status", {}).setdefault("nodes", {})[node["id"]] = node
        return run

    def io(self):
        """(write calls, bytes written) by skiff so far (/proc/PID/io syscw, wchar): the store's
        WAL and database writes, mostly (its log lines too; the tasks write their own logs)."""
        fields = {}
        with open(f"/proc/{self.proc.pid}/io") as f:
            for line in f:
                key, _, value = line.partition(":")
                fields[key] = int(value)
        return fields["syscw"], fields["wchar"]

    def setup_namespace(self, client):
        """The benchmark's namespace and one experiment in it (idempotent)."""
        code, out = client.call("POST", "/api/v1/namespaces",
                                {"apiVersion": "v1", "kind": "Namespace",
                                 "metadata": {"name": NS}})
        if code not in (200, 201, 409):
            raise SystemExit(f"creating namespace {NS}: {code} {out[:300]!r}")
        q = urllib.parse.urlencode({"namespace": NS, "filter": json.dumps(
            {"predicates": [{"key": "display_name", "operation": "EQUALS",
                             "string_value": "bench"}]})})
        found = client.ok("GET", f"/apis/v2beta1/experiments?{q}").get("experiments", [])
        if found:
            return found[0]["experiment_id"]
        return client.ok("POST", "/apis/v2beta1/experiments",
                         {"display_name": "bench", "namespace": NS})["experiment_id"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def client_of(sk, experiment):
    c = Client(sk.port, sk.token)
    c.experiment = experiment
    return c


# --- statistics ----------------------------------------------------------------------------------

def pct(values, p):
    """The p-th percentile (nearest rank) of `values`."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))]


def ms(seconds):
    return seconds * 1000


# What a task's isolation costs the kernel (new mount and PID namespaces, a fresh /proc), as
# skiff's launcher sets up for each task (launcher.hpp), without skiff.
UNSHARE = ["unshare", "--mount", "--pid", "--fork", "--mount-proc", "true"]


def bare_true(n=200, argv=("true",)):
    """Seconds one `true` costs when Python spawns and waits for it: (p50, p99) of n."""
    times = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(list(argv), check=True)
        times.append(time.perf_counter() - t)
    return pct(times, 50), pct(times, 99)


def python_fan_out(n, parallelism):
    """Root, n `true` over `parallelism` threads, final, spawned from Python: (wall seconds,
    Python's CPU seconds, the `true`s' CPU seconds)."""
    def cpu(who):
        r = resource.getrusage(who)
        return r.ru_utime + r.ru_stime
    own, children = cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(["true"], check=True)
    with concurrent.futures.ThreadPoolExecutor(parallelism) as pool:
        list(pool.map(lambda _: subprocess.run(["true"], check=True), range(n)))
    subprocess.run(["true"], check=True)
    return (time.perf_counter() - t, cpu(resource.RUSAGE_SELF) - own,
            cpu(resource.RUSAGE_CHILDREN) - children)


# --- parts ---------------------------------------------------------------------------------------

def part_latency(binary, tmp, rows, notes):
    sk = Skiff(binary, os.path.join(tmp, "data-latency"), tmp)
    try:
        c = client_of(sk, None)
        c.experiment = sk.setup_namespace(c)
        manifest = one_task()
        health = []
        for _ in range(200):
            t = time.perf_counter()
            c.ok("GET", "/apis/v2beta1/healthz")
            health.append(time.perf_counter() - t)
        for i in range(3):  # warm-up: first task start installs things, compiles, etc.
            run_id = create_run(c, f"warm-{i}", manifest)
            wait_state(c, run_id)
        lat, post, gets, server = [], [], [], []
        cpu0 = sk.cpu()
        for i in range(LATENCY_RUNS):
            t0 = time.monotonic()
            run_id = create_run(c, f"latency-{i}", manifest)
            post.append(time.monotonic() - t0)
            n0 = time.monotonic()
            state, seen, run = wait_state(c, run_id)
            if state != "SUCCEEDED":
                raise SystemExit(f"run {run_id} ended {state}: {json.dumps(run)[:800]}")
            lat.append(seen - t0)
            gets.append(seen - n0)
            rec = sk.recorded(run_id)
            server.append((rec["status"]["finishedAtMs"] - rec["metadata"]["createdAtMs"]) / 1000)
        cpu = (sk.cpu() - cpu0) / LATENCY_RUNS  # clock ticks are 10 ms: the mean of all
        t50, t99 = bare_true()
        rows.append(("1-task run: POST -> SUCCEEDED seen (p50 / p99)",
                     f"{ms(pct(lat, 50)):.1f} / {ms(pct(lat, 99)):.1f} ms",
                     f"{ms(t50):.2f} / {ms(t99):.2f} ms", f"{pct(lat, 50) / t50:.0f}x",
                     "-", "reference: one bare `true` spawned by Python"))
        if os.geteuid() == 0 and shutil.which("unshare"):
            u50, u99 = bare_true(argv=UNSHARE)
            rows.append(("", "", f"{ms(u50):.2f} / {ms(u99):.2f} ms", f"{pct(lat, 50) / u50:.0f}x",
                         "-", "reference: `unshare -m -p -f --mount-proc true` (the namespaces "
                         "alone)"))
        rows.append(("  run created -> finished in the store (p50 / p99)",
                     f"{ms(pct(server, 50)):.1f} / {ms(pct(server, 99)):.1f} ms", "", "", "-",
                     "the store's ms timestamps, without the HTTP and polling"))
        rows.append(("  POST /apis/v2beta1/runs (p50 / p99)",
                     f"{ms(pct(post, 50)):.1f} / {ms(pct(post, 99)):.1f} ms",
                     f"{ms(pct(health, 50)):.2f} / {ms(pct(health, 99)):.2f} ms",
                     f"{pct(post, 50) / pct(health, 50):.0f}x", "-",
                     "reference: GET /apis/v2beta1/healthz"))
        rows.append(("  skiff CPU per 1-task run (mean)", f"{ms(cpu):.1f} ms", "", "", "-",
                     "skiff's own user+sys while the runs ran and were polled, not the task's"))
        notes.append(f"1-task runs: {LATENCY_RUNS} in sequence after 3 warm-up runs, polled every "
                     f"{ms(POLL):.0f} ms (a GET costs {ms(pct(health, 50)):.2f} ms p50), so the "
                     f"figure is late by up to about {ms(POLL) + ms(pct(health, 50)):.1f} ms.")
    finally:
        sk.stop()


def children_cpu(sk):
    """CPU seconds of skiff's reaped children (the tasks' init processes and their commands)."""
    with open(f"/proc/{sk.proc.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def mkdir_cost(parent, n=200):
    """Seconds one mkdir takes in `parent`: (p50, p99) of n (the dirs stay: deleting them would
    slow the next inodes made near them on ext4 without a journal)."""
    probe = tempfile.mkdtemp(prefix="mkdir-", dir=parent)
    times = []
    for i in range(n):
        t = time.perf_counter()
        os.mkdir(os.path.join(probe, str(i)))
        times.append(time.perf_counter() - t)
    return pct(times, 50), pct(times, 99)



def fan_out_once(sk, c, kind, manifest, parallelism, i):
    """One fan-out run: its wall (store timestamps), skiff's and its tasks' CPU, its writes."""
    perf = None
    if PERF_DIR:
        os.makedirs(PERF_DIR, exist_ok=True)
        out = os.path.join(PERF_DIR, f"fan-{parallelism}-{kind.split()[0]}-{i}.data")
        perf = subprocess.Popen(["perf", "record", "-q", "-F", "499", "--call-graph",
                                 "dwarf,32768", "-p", str(sk.proc.pid), "-o", out],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)  # perf attaches
    cpu0, child0, io0 = sk.cpu(), children_cpu(sk), sk.io()
    t0 = time.monotonic()
    run_id = create_run(c, f"fan-{kind}-{i}", manifest)
    posted = time.monotonic() - t0
    state, seen, run = wait_state(c, run_id, poll=DAG_POLL)
    cpu, child = sk.cpu() - cpu0, children_cpu(sk) - child0
    io = sk.io()
    if perf:
        perf.send_signal(signal.SIGINT)
        perf.wait(timeout=120)
    if state != "SUCCEEDED":
        raise SystemExit(f"fan-out run ended {state}: {json.dumps(run)[:800]}")
    rec = sk.recorded(run_id)
    pods = [n for n in rec["status"]["nodes"].values() if n.get("type") == "Pod"]
    ran = [n for n in pods if n.get("phase") == "Succeeded" and n.get("exitCode") == 0
           and n.get("attempts") == 1]
    if len(ran) != FANOUT + 2:
        raise SystemExit(f"the {kind} run has {len(ran)} task pods that ran once "
                         f"and succeeded, expected {FANOUT + 2}")
    return {"wall": (rec["status"]["finishedAtMs"] - rec["metadata"]["createdAtMs"]) / 1000,
            "cpu": cpu, "child": child, "nwrites": io[0] - io0[0], "nbytes": io[1] - io0[1],
            "posted": posted, "client_wall": seen - t0, "pods": pods}


def part_fan_out(binary, tmp, rows, notes):
    t50, _ = bare_true()
    m50, m99 = mkdir_cost(tmp)
    rows.append(("a task's two inodes: mkdir in the data dir (p50 / p99)", "",
                 f"{m50 * 1e6:.0f} / {m99 * 1e6:.0f} us", "", "-",
                 f"each task makes its /tmp and its log in {tmp}"))
    for parallelism in (DEFAULT_PARALLELISM, HIGH_PARALLELISM):
        sk = Skiff(binary, os.path.join(tmp, f"data-fan-{parallelism}"), tmp,
                   None if parallelism == DEFAULT_PARALLELISM else parallelism)
        try:
            c = client_of(sk, None)
            c.experiment = sk.setup_namespace(c)
            run_id = create_run(c, "warm", one_task())
            wait_state(c, run_id)
            base, base_cpu, base_child = min(python_fan_out(FANOUT, parallelism)
                                             for _ in range(3))
            waves = FANOUT / parallelism
            commands = (2 + math.ceil(FANOUT / parallelism)) * t50
            base_overhead = (base - commands) / waves
            for kind, manifest in (("explicit tasks", fan_out_explicit(FANOUT)),
                                   ("withItems", fan_out_items(FANOUT))):
                dags = [fan_out_once(sk, c, kind, manifest, parallelism, i)
                        for i in range(DAG_RUNS)]
                # The rows show the best run, as the reference's are its best of three; the first
                # run after skiff started (its heaps and store files still growing) is shown too.
                best = min(dags, key=lambda d: d["wall"])
                first = dags[0]
                wall, cpu, child = best["wall"], best["cpu"], best["child"]
                nwrites, nbytes, posted, client_wall = (best["nwrites"], best["nbytes"],
                                                        best["posted"], best["client_wall"])
                pods = best["pods"]
                starts = sorted(n["startedAtMs"] for n in pods)
                spans = sorted((n["finishedAtMs"] - n["startedAtMs"]) / 1000 for n in pods)
                launch_rate = (len(starts) - 1) / max(1e-3, (starts[-1] - starts[0]) / 1000)
                overhead = (wall - commands) / waves
                name = f"{FANOUT}-task fan-out/in, {kind}, P={parallelism}"
                default = " (default)" if parallelism == DEFAULT_PARALLELISM else ""
                rows.append((f"{name}{default}: wall", f"{ms(wall):.0f} ms",
                             f"{ms(base):.0f} ms", f"{wall / base:.1f}x", "-",
                             "run created -> finished (store, ms); reference: Python thread "
                             f"pool of {parallelism} spawning `true`"))
                rows.append(("  (wall - commands) / (tasks / P)",
                             f"{ms(overhead):.1f} ms", f"{ms(base_overhead):.2f} ms",
                             f"{overhead / base_overhead:.0f}x" if base_overhead > 0 else "-",
                             "-", "the commands' own CPU contention included: "
                             "the reference's own figure shows it"))
                # The target's measure: what skiff adds to each wave beyond what spawning the
                # same commands costs on this machine (the Python pool has no orchestration at
                # all), so that the commands' own CPU contention on few cores, which the formula
                # above charges to the launcher, cancels out.
                added = (wall - base) / waves
                rows.append(("  per-task overhead = (wall - reference) / (tasks / P)",
                             f"{ms(added):.1f} ms", "0 ms", "-",
                             "met" if added < 0.020 else "NOT met",
                             f"target < 20 ms; skiff's best of {DAG_RUNS} runs, the reference's "
                             "best of 3"))
                if DAG_RUNS > 1:
                    first_added = (first["wall"] - base) / waves
                    rows.append(("    the same, the first run after skiff started",
                                 f"{ms(first_added):.1f} ms", "0 ms", "-", "-",
                                 f"wall {ms(first['wall']):.0f} ms; CPU per task: skiff "
                                 f"{ms(first['cpu'] / len(first['pods'])):.1f} ms"))
                    notes.append(f"{kind}, P={parallelism}: walls of the {DAG_RUNS} runs "
                                 + " / ".join(f"{ms(d['wall']):.0f}" for d in dags) + " ms.")
                rows.append(("  wall / tasks (tasks = fan-out + 2)",
                             f"{ms(wall / len(pods)):.1f} ms",
                             f"{ms(base / len(pods)):.2f} ms", f"{wall / base:.0f}x", "-",
                             "what one task costs in throughput"))
                rows.append(("  task started -> finished in the store (p50 / p99)",
                             f"{ms(pct(spans, 50)):.0f} / {ms(pct(spans, 99)):.0f} ms",
                             f"{ms(t50):.2f} ms", "", "-",
                             f"tasks started at {launch_rate:.0f}/s; reference: one `true`"))
                rows.append(("  skiff's writes during the run (calls / bytes)",
                             f"{nwrites} / {nbytes / 1e6:.1f} MB",
                             "", "", "-", "/proc/PID/io: the store's WAL (each commit: the run's "
                             "status and the nodes that changed), log lines"))
                ntasks = FANOUT + 2
                rows.append(("  CPU per task: skiff / the task's processes",
                             f"{ms(cpu / len(pods)):.1f} / {ms(child / len(pods)):.1f} ms",
                             f"{ms(base_cpu / ntasks):.1f} / {ms(base_child / ntasks):.1f} ms", "",
                             "-", "user+sys (skiff includes serving the polls); reference: Python "
                             "/ its `true`s (its best run)"))
                floor = (cpu + child) / (os.cpu_count() or 1)
                rows.append(("  CPU floor of the wall: (skiff + tasks' CPU) / cores",
                             f"{ms(floor):.0f} ms",
                             f"{ms((base_cpu + base_child) / (os.cpu_count() or 1)):.0f} ms", "",
                             "-", "the wall cannot be shorter on this machine"))
                notes.append(f"{kind}, P={parallelism}: POST took {ms(posted):.0f} ms; client "
                             f"wall (POST -> SUCCEEDED seen, polled every {ms(DAG_POLL):.0f} ms) "
                             f"{ms(client_wall):.0f} ms.")
        finally:
            sk.stop()
    notes.append(f"per-task overhead = (wall - reference wall) / ({FANOUT} / P): what skiff adds "
                 "to each wave of P tasks beyond what the same commands cost when a Python thread "
                 "pool of P spawns them in the same run (the best of three). The row above it, "
                 f"(wall - commands) / ({FANOUT} / P) with commands = (2 + ceil({FANOUT} / P)) x "
                 f"{ms(t50):.2f} ms (one bare `true`, p50, the commands' critical path), also "
                 "charges the commands' own CPU contention on this machine's cores to the "
                 "launcher: the reference, which orchestrates nothing, scores its own figure "
                 "there. Root's and final's overheads are charged to the fan-out tasks.")


def fill_runs(sk, notes):
    """Makes the namespace hold at least RUNS runs (all finished)."""
    c = client_of(sk, None)
    c.experiment = sk.setup_namespace(c)
    q = urllib.parse.urlencode({"namespace": NS, "page_size": 1})
    have = c.ok("GET", f"/apis/v2beta1/runs?{q}").get("total_size", 0)
    missing = RUNS - have
    if missing <= 0:
        notes.append(f"listing: reused {DATA_DIR} holding {have} runs.")
        return have
    manifest = one_task()
    counter = iter(range(have, RUNS))
    lock = threading.Lock()
    ids = []

    def worker():
        w = client_of(sk, c.experiment)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            run_id = create_run(w, f"run-{i:05d}", manifest)
            with lock:
                ids.append(run_id)

    t0 = time.monotonic()
    cpu0 = sk.cpu()
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(worker) for _ in range(CLIENTS)]
        for f in futures:
            f.result()
    posted = time.monotonic() - t0
    # Wait until none is unfinished.
    flt = json.dumps({"predicates": [{"key": "state", "operation": "IN", "string_values": {
        "values": ["PENDING", "RUNNING", "CANCELING"]}}]})
    q = urllib.parse.urlencode({"namespace": NS, "page_size": 1, "filter": flt})
    deadline = time.monotonic() + TIMEOUT
    while c.ok("GET", f"/apis/v2beta1/runs?{q}").get("total_size", 0) > 0:
        if time.monotonic() > deadline:
            raise SystemExit("runs did not finish")
        time.sleep(1)
    done = time.monotonic() - t0
    per_run = ms((sk.cpu() - cpu0) / missing)
    notes.append(f"listing: created {missing} runs of a 1-task `true` pipeline in {done:.0f} s "
                 f"({CLIENTS} clients posting for {posted:.0f} s, then waiting for the last "
                 f"tasks; {missing / done:.0f} runs/s, skiff CPU {per_run:.1f} ms per run)"
                 + (f", kept in {DATA_DIR} for later runs." if DATA_DIR else "."))
    return have + missing


def part_listing(binary, tmp, rows, notes):
    data = DATA_DIR or os.path.join(tmp, "data-list")
    sk = Skiff(binary, data, tmp)
    try:
        total = fill_runs(sk, notes)
        # A fresh server: the listing must not pay for a process busy with thousands of runs
        # just finished (the engine keeps nothing for finished runs after a restart).
        sk.stop()
        sk = Skiff(binary, data, tmp)
        c = client_of(sk, None)
        # Filter: runs whose display name contains "1" (about a third of run-00000..run-09999).
        flt = json.dumps({"predicates": [{"key": "display_name", "operation": "IS_SUBSTRING",
                                          "string_value": "1"}]})
        health = []
        for _ in range(200):
            t = time.perf_counter()
            c.ok("GET", "/apis/v2beta1/healthz")
            health.append(time.perf_counter() - t)
        for size in PAGE_SIZES:
            for filtered in (False, True):
                params = {"namespace": NS, "page_size": size, "sort_by": "created_at desc"}
                if filtered:
                    params["filter"] = flt
                walk = lambda: list_all(c, params)  # noqa: E731
                walk()  # warm-up (caches, page-ins)
                times, seen = walk()
                label = (f"list {total} runs, page_size={size}, created_at desc"
                         + (", filter" if filtered else ""))
                p99 = pct(times, 99)
                rows.append((f"{label}: page p50 / p99 ({len(times)} pages, {seen} runs)",
                             f"{ms(pct(times, 50)):.1f} / {ms(p99):.1f} ms",
                             f"{ms(pct(health, 50)):.2f} / {ms(pct(health, 99)):.2f} ms",
                             f"{pct(times, 50) / pct(health, 50):.0f}x",
                             "met" if p99 < 0.020 else "NOT met", "target p99 < 20 ms"))
        notes.append("listing reference: GET /apis/v2beta1/healthz on the same connection.")
    finally:
        sk.stop()


def list_all(c, params):
    """Walks every page; returns (per-page seconds, runs seen)."""
    times, seen, token = [], 0, None
    while True:
        q = dict(params)
        if token:
            q["page_token"] = token
        path = "/apis/v2beta1/runs?" + urllib.parse.urlencode(q)
        t = time.perf_counter()
        page = c.ok("GET", path)
        times.append(time.perf_counter() - t)
        seen += len(page.get("runs", []))
        token = page.get("next_page_token")
        if not token:
            return times, seen


# --- main ----------------------------------------------------------------------------------------

def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main():
    if len(sys.argv) < 2:
        raise SystemExit("usage: bench/pipelines.py path/to/skiff")
    binary = os.path.abspath(sys.argv[1])
    if not os.access(binary, os.X_OK):
        raise SystemExit(f"{binary} is not an executable skiff")

    def on_alarm(*_):
        raise SystemExit(f"bench/pipelines: gave up after BENCH_TIMEOUT={TIMEOUT}s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TIMEOUT)
    load_before = loadavg()
    # Not under /tmp: `skiff up`'s data dir is ./skiff-data; one under /tmp costs each task the
    # dirs down to it in its own /tmp (its executor dirs are exposed again there). Each task
    # creates two inodes (its /tmp and its log), whose cost depends on the file system and on
    # what was deleted near them lately: the mkdir row of the table shows it for this dir.
    os.makedirs(TMP_ROOT, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="skiff-bench-pipelines-", dir=TMP_ROOT)
    rows, notes = [], []
    started = time.monotonic()
    try:
        if "1" in PARTS:
            part_latency(binary, tmp, rows, notes)
        if "2" in PARTS:
            part_fan_out(binary, tmp, rows, notes)
        if "3" in PARTS:
            part_listing(binary, tmp, rows, notes)
    finally:
        signal.alarm(0)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nskiff pipelines on {os.cpu_count()} cores, loopback; load average "
          f"{load_before} before, {loadavg()} after ({time.monotonic() - started:.0f} s). "
          "Kubeflow Pipelines itself (Argo on Kubernetes) cannot run here: the references are "
          "floors measured in this run.\n")
    w = max(len(r[0]) for r in rows)
    print(f"| {'measure':<{w}} | {'skiff':>17} | {'reference':>17} | {'ratio':>6} | "
          f"{'target':>7} | note")
    print(f"|{'-' * (w + 2)}|{'-' * 19}|{'-' * 19}|{'-' * 8}|{'-' * 9}|{'-' * 6}")
    for name, ours, ref, ratio, target, note in rows:
        print(f"| {name:<{w}} | {ours:>17} | {ref:>17} | {ratio:>6} | {target:>7} | {note}")
    print()
    for n in notes:
        print("- " + n)
    missed = [r for r in rows if r[4] == "NOT met"]
    print(f"\nTargets: {len([r for r in rows if r[4] == 'met'])} met, {len(missed)} not met.")


if __name__ == "__main__":
    main()
