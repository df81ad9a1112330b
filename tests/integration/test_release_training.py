"""`make release` trains its profile-guided build with scripts/pgo_train.py (scripts/release.sh).
The two extra builds are too slow for every CI run, so this test runs the training workload
itself against the ordinary binary: it must still route, authenticate and answer every request,
and stop skiff cleanly (an instrumented skiff writes its profile only then)."""
import os
import re
import subprocess
import sys

from conftest import ROOT, SKIFF


def run_training(seconds="1", clients="2"):
    env = dict(os.environ, PGO_TRAIN_SECONDS=seconds, PGO_TRAIN_CLIENTS=clients)
    return subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "pgo_train.py"), SKIFF],
                          capture_output=True, text=True, env=env, timeout=240)


def test_training_workload_runs_against_skiff_and_stops_it_cleanly():
    r = run_training()
    assert r.returncode == 0, r.stdout + r.stderr
    m = re.search(r"pgo_train: (\d+) requests in 1 s from 2 clients", r.stdout)
    assert m, r.stdout + r.stderr
    # Two keep-alive clients for a second: hundreds of requests at the very least.
    assert int(m.group(1)) >= 100, r.stdout


def test_training_refuses_a_missing_binary():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "pgo_train.py"),
                        os.path.join(ROOT, "no-such-skiff")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "usage: pgo_train.py" in r.stderr
