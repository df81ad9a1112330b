"""`skiff login`: the OIDC code flow with PKCE and a loopback redirect against skiff's built-in
identity provider, a kubeconfig whose exec plugin hands kubectl the user's ID token, and token
refresh through that plugin. The test plays the browser: it opens the URL the command prints,
submits the login form and follows the redirect to the command's listener."""
import html
import json
import os
import re
import socket
import stat
import subprocess
import time
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import yaml

from conftest import KUBECTL, SKIFF, LineReader, Skiff

# Dex's documented example hash of "password" (bcrypt, cost 10).
PASSWORD_HASH = "$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def env(tmpdir_path):
    # `skiff login` uses the built-in public client "skiff-cli", whose loopback redirect may use
    # any port (RFC 8252); the test picks one so that it can forge requests to the listener.
    port = free_port()
    config = os.path.join(tmpdir_path, "skiff.yaml")
    with open(config, "w") as f:
        yaml.safe_dump({
            "identity": {
                "staticPasswords": [{
                    "email": "alice@example.com", "hash": PASSWORD_HASH, "username": "alice",
                    "userID": "08a8684b-db88-4b73-90a9-3cd1661f5466", "groups": ["datascience"]}],
            }}, f)
    s = Skiff(os.path.join(tmpdir_path, "data"), config=config).start()
    https = "https://" + s.url.split("://", 1)[1]
    ca = os.path.join(s.data_dir, "tls", "ca.crt")
    yield {"skiff": s, "https": https, "ca": ca, "port": port, "dir": tmpdir_path}
    assert s.stop() == 0


def login_cmd(e, *extra, timeout="60s"):
    return [SKIFF, "login", "--server", e["https"], "--ca-file", e["ca"],
            "--listen", f"127.0.0.1:{e['port']}", "--no-browser", "--timeout", timeout,
            "--kubeconfig", os.path.join(e["dir"], "kubeconfig"),
            "--cache-dir", os.path.join(e["dir"], "tokens"), *extra]


def play_browser(e, url, password="password", login="alice@example.com"):
    """Opens the authorization URL, submits the login form and follows the redirect to the
    command's loopback listener. Returns the listener's answer."""
    b = requests.Session()
    # Per request: a session-level `verify` loses to REQUESTS_CA_BUNDLE in the environment.
    page = b.get(url, timeout=10, verify=e["ca"])
    assert page.status_code == 200, page.text
    form = re.search(r'<form method="post" action="([^"]+)"', page.text)
    assert form, page.text
    fields = {m.group(1): html.unescape(m.group(2))
              for m in re.finditer(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text)}
    fields.update({"login": login, "password": password})
    action = requests.compat.urljoin(page.url, html.unescape(form.group(1)))
    r = b.post(action, data=fields, allow_redirects=False, timeout=30, verify=e["ca"])
    assert r.status_code in (302, 303), r.text
    location = r.headers["Location"]
    redirect = parse_qs(urlparse(url).query)["redirect_uri"][0]
    assert location.startswith(redirect + "?"), location
    return requests.get(location, timeout=10)


def run_login(e, *extra):
    proc = subprocess.Popen(login_cmd(e, *extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = LineReader(proc.stderr)
    out = LineReader(proc.stdout)
    try:
        url = err.wait_for(r"^\s+(https://\S+/dex/auth\?\S+)$", timeout=15).group(1)
        answer = play_browser(e, url)
        assert answer.status_code == 200 and "Login complete" in answer.text
        assert proc.wait(timeout=30) == 0, err.all
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
    return proc, out, err


def kubectl(e, *args, timeout=30):
    return subprocess.run([KUBECTL, "--kubeconfig", os.path.join(e["dir"], "kubeconfig"), *args],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "KUBECACHEDIR": os.path.join(e["dir"], "kc")})


def cache_file(e):
    d = os.path.join(e["dir"], "tokens")
    files = os.listdir(d)
    assert len(files) == 1, files
    return os.path.join(d, files[0])


def test_login_writes_a_kubeconfig_that_acts_as_the_user(env):
    _, _, err = run_login(env)
    assert any("Logged in as alice@example.com" in line for line in err.all), err.all
    kc_path = os.path.join(env["dir"], "kubeconfig")
    assert stat.S_IMODE(os.stat(kc_path).st_mode) == 0o600
    kc = yaml.safe_load(open(kc_path))
    assert kc["current-context"] == "skiff-alice@example.com"
    user = next(u for u in kc["users"] if u["name"] == "skiff-alice@example.com")["user"]
    assert user["exec"]["apiVersion"] == "client.authentication.k8s.io/v1"
    assert user["exec"]["args"][:2] == ["login", "--exec"]
    cluster = next(c for c in kc["clusters"] if c["name"] == "skiff")["cluster"]
    assert cluster["server"] == env["https"] and cluster["certificate-authority-data"]
    # Tokens are cached for the exec plugin, readable only by the user.
    path = cache_file(env)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    cached = json.load(open(path))
    assert cached["idToken"].count(".") == 2 and cached["refreshToken"]

    # kubectl runs `skiff login --exec` and is then alice: the server knows her by her ID token.
    r = kubectl(env, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "alice@example.com"
    # Not a cluster admin (issue 6's RBAC): listing all namespaces is refused, naming her.
    r = kubectl(env, "get", "namespaces", "-o", "name")
    assert 'User "alice@example.com" cannot list resource "namespaces"' in r.stderr, r.stderr
    token = cached["idToken"]
    me = requests.get(env["https"] + "/version", verify=env["ca"], timeout=10,
                      headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    # A token that is not the user's is refused, so the 200 above proves the ID token worked.
    bad = requests.get(env["https"] + "/api/v1/namespaces", verify=env["ca"], timeout=10,
                       headers={"Authorization": f"Bearer {token[:-4]}AAAA"})
    assert bad.status_code == 401


def test_exec_plugin_refreshes_an_expired_token(env):
    run_login(env)
    path = cache_file(env)
    before = json.load(open(path))
    # Make the cached ID token unusable (as if it had expired): the plugin must refresh.
    stale = dict(before, idToken="x.y.z")
    with open(path, "w") as f:
        json.dump(stale, f)
    r = kubectl(env, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
    assert r.returncode == 0, r.stderr
    after = json.load(open(path))
    assert after["idToken"] not in ("x.y.z", before["idToken"])
    # Refresh tokens rotate: the old one is spent.
    assert after["refreshToken"] != before["refreshToken"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    # --print-token hands out the cached token while it is valid (no new login, no browser).
    r = subprocess.run(login_cmd(env, "--print-token"), capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == after["idToken"]
    assert "Open this URL" not in r.stderr


def test_exec_plugin_without_a_usable_login_says_what_to_do(env):
    os.makedirs(os.path.join(env["dir"], "tokens"), exist_ok=True)
    cmd = [SKIFF, "login", "--exec", "--server", env["https"], "--ca-file", env["ca"],
           "--cache-dir", os.path.join(env["dir"], "tokens")]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                       env={**os.environ, "KUBERNETES_EXEC_INFO":
                            json.dumps({"apiVersion": "client.authentication.k8s.io/v1",
                                        "kind": "ExecCredential",
                                        "spec": {"interactive": False}})})
    assert r.returncode != 0
    assert "skiff login" in r.stderr


def test_a_forged_redirect_to_the_listener_is_ignored(env):
    proc = subprocess.Popen(login_cmd(env, timeout="20s"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    err = LineReader(proc.stderr)
    try:
        url = err.wait_for(r"^\s+(https://\S+/dex/auth\?\S+)$", timeout=15).group(1)
        # Another page in the browser sends a code with the wrong state: refused, still waiting.
        forged = requests.get(f"http://127.0.0.1:{env['port']}/callback?code=abc&state=nope",
                              timeout=10)
        assert forged.status_code == 400
        assert proc.poll() is None
        # The real login still completes.
        answer = play_browser(env, url)
        assert answer.status_code == 200
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)


def test_wrong_password_never_reaches_the_listener(env):
    proc = subprocess.Popen(login_cmd(env, timeout="20s"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    err = LineReader(proc.stderr)
    try:
        url = err.wait_for(r"^\s+(https://\S+/dex/auth\?\S+)$", timeout=15).group(1)
        b = requests.Session()
        page = b.get(url, timeout=10, verify=env["ca"])
        form = re.search(r'<form method="post" action="([^"]+)"', page.text)
        fields = {m.group(1): html.unescape(m.group(2)) for m in
                  re.finditer(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text)}
        fields.update({"login": "alice@example.com", "password": "wrong"})
        r = b.post(requests.compat.urljoin(page.url, html.unescape(form.group(1))), data=fields,
                   allow_redirects=False, timeout=30, verify=env["ca"])
        assert r.status_code not in (302, 303)
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait(timeout=5)
    assert not os.path.exists(os.path.join(env["dir"], "kubeconfig"))


def test_first_start_admin_can_log_in_with_the_default_client(tmpdir_path):
    """With no users configured, skiff up creates admin@skiff.local (password shown once, kept
    0600) and `skiff login` works with no client registration and a kernel-picked port."""
    s = Skiff(os.path.join(tmpdir_path, "data")).start()
    try:
        line = s.out.wait_for(r"Browser login at (https://\S+)/ as (\S+), password")
        assert line.group(2) == "admin@skiff.local"
        password = s.out.wait_for(r"^  (\S+)$").group(1)
        pw_file = os.path.join(s.data_dir, "identity", "admin.password")
        assert stat.S_IMODE(os.stat(pw_file).st_mode) == 0o600
        assert open(pw_file).read().strip() == password
        e = {"skiff": s, "https": "https://" + s.url.split("://", 1)[1],
             "ca": os.path.join(s.data_dir, "tls", "ca.crt"), "dir": tmpdir_path}
        cmd = [SKIFF, "login", "--server", e["https"], "--ca-file", e["ca"], "--no-browser",
               "--timeout", "60s", "--kubeconfig", os.path.join(tmpdir_path, "kubeconfig"),
               "--cache-dir", os.path.join(tmpdir_path, "tokens")]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        err = LineReader(proc.stderr)
        try:
            url = err.wait_for(r"^\s+(https://\S+/dex/auth\?\S+)$", timeout=15).group(1)
            redirect = parse_qs(urlparse(url).query)["redirect_uri"][0]
            assert re.fullmatch(r"http://127\.0\.0\.1:\d+/callback", redirect), redirect
            answer = play_browser(e, url, password=password, login="admin@skiff.local")
            assert answer.status_code == 200
            assert proc.wait(timeout=30) == 0, err.all
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)
        who = kubectl(e, "auth", "whoami", "-o", "json")
        assert who.returncode == 0, who.stderr
        info = json.loads(who.stdout)["status"]["userInfo"]
        assert info["username"] == "admin@skiff.local"
        # A restart neither changes nor re-prints the password.
        assert s.stop() == 0
        s2 = Skiff(s.data_dir).start()
        try:
            s2.out.wait_for(r"Browser login at \S+ as admin@skiff.local \(password in ")
            assert open(pw_file).read().strip() == password
            assert not any(password in line for line in s2.out.all)
        finally:
            assert s2.stop() == 0
    finally:
        s.stop()
