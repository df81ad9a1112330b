"""The dashboard in a real browser (issue 8): web/e2e/dashboard.e2e.mjs drives Debian's chromium
with playwright-core against the real skiff binary started here, with the built-in login, three
static users (an admin, alice who owns team-a and team-b, bob who has no namespace until alice
adds him), a trained iris model and the iris pipeline. Screenshots of each page go to
<build>/dashboard-screenshots for review."""
import json
import os
import shutil
import subprocess

import pytest

from conftest import ROOT, SKIFF, start_with_config, static_users_config, wait_until

WEB = os.path.join(ROOT, "web")
SCRIPT = os.path.join(WEB, "e2e", "dashboard.e2e.mjs")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
USERS = {
    "admin": ("admin@example.com", ["admins"]),
    "alice": ("alice@example.com", ["datascience"]),
    "bob": ("bob@example.com", []),
}
CONFIG = static_users_config(USERS.values(), """\
auth:
  adminGroups: [admins]
profiles:
  autoCreate: false
""")


def profile(name, owner):
    return {"apiVersion": "kubeflow.org/v1", "kind": "Profile", "metadata": {"name": name},
            "spec": {"owner": {"kind": "User", "name": owner}}}


@pytest.fixture
def server(tmpdir_path):
    s = start_with_config(tmpdir_path, CONFIG)
    yield s
    assert s.stop() == 0, s.err.all[-20:]


@pytest.mark.timeout(560)
def test_dashboard_end_to_end_in_chromium(server, tmpdir_path):
    assert os.path.exists(CHROMIUM), "chromium is missing: scripts/deps.sh test installs it"
    assert os.path.isdir(os.path.join(WEB, "node_modules", "playwright-core")), \
        "web/node_modules is missing: scripts/peers.sh installs it"
    s = server
    for name in ("team-a", "team-b"):
        r = s.request("POST", "/apis/kubeflow.org/v1/profiles", json=profile(name, "alice@example.com"))
        assert r.status_code == 201, r.text
    for name in ("team-a", "team-b"):
        wait_until(lambda: s.request("GET", f"/api/v1/namespaces/{name}").status_code == 200,
                   timeout=30, what=f"namespace {name}")
    model_dir = os.path.join(tmpdir_path, "iris-model")
    subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "examples", "sklearn-iris", "train.py"),
                    model_dir], check=True, timeout=120, capture_output=True)
    shots = os.path.join(os.path.dirname(os.path.abspath(SKIFF)), "dashboard-screenshots")
    cfg = {
        "url": s.https,
        "chromium": CHROMIUM,
        "profileDir": os.path.join(tmpdir_path, "chromium-profile"),
        "screenshots": shots,
        "users": {k: {"email": e, "password": "password"} for k, (e, _) in USERS.items()},
        "modelUri": "file://" + model_dir,
        "pipelineFile": os.path.join(ROOT, "examples", "pipelines", "iris-v2.yaml"),
    }
    env = {**os.environ, "SKIFF_E2E": json.dumps(cfg)}
    try:
        r = subprocess.run(["node", SCRIPT], cwd=WEB, env=env, capture_output=True, text=True,
                           timeout=600)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"the browser suite did not finish in 600 s: {e.stdout}") from e
    print(r.stdout)
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr[-3000:]}\nskiff: {s.err.all[-30:]}"
    assert "all steps passed" in r.stdout
    for page in ("home", "contributors", "routing", "models", "model-detail", "viewer-refused",
                 "pipeline", "run", "run-task-log", "narrow-contributors"):
        assert os.path.getsize(os.path.join(shots, f"{page}.png")) > 10_000, page
