"""The dashboard's server side with the real binary (issue 8): the web app Vite built and the
build embedded is served behind the same authentication as everything (browsers without a
session go to the login page, assets need a session too), with gzip and immutable caching for
the hashed assets, the single-page-app fallback for browsers and the gateway's JSON 404 for API
clients; the model stats endpoint counts predictions and failures and keeps the recent errors;
`skiff routes list` shows the dashboard route last; and the embedding script (cmake/embed_web.py)
is deterministic."""
import gzip
import json
import os
import re
import subprocess
import sys
import urllib.parse

import pytest
import requests

from conftest import ROOT, start_with_config, static_users_config
from test_auth_oidc import forms
from test_serving import constant, isvc_yaml, apply, wait_ready

CONFIG = static_users_config([("admin@example.com", ["admins"]), ("bob@example.com", [])], """\
auth:
  adminGroups: [admins]
profiles:
  autoCreate: false
""")
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")


@pytest.fixture
def server(tmpdir_path):
    s = start_with_config(tmpdir_path, CONFIG)
    yield s
    assert s.stop() == 0, s.err.all[-20:]


def login(s, email, target="/"):
    """Logs `email` in through the built-in provider's form, as a browser navigating to `target`
    would; returns the session (cookies set) and the final redirect back to `target`."""
    sess = requests.Session()
    r = sess.get(s.https + target, headers={"Accept": BROWSER_ACCEPT}, allow_redirects=False,
                 verify=s.ca, timeout=30)
    assert r.status_code == 302, (r.status_code, r.text[:300])
    url = r.headers["Location"]
    for _ in range(10):
        r = sess.get(url, allow_redirects=False, verify=s.ca, timeout=30)
        if r.status_code == 200:
            action, fields = forms(r.text)[0]
            fields.update({"login": email, "password": "password"})
            r = sess.post(urllib.parse.urljoin(url, action), data=fields, allow_redirects=False,
                          verify=s.ca, timeout=30)
        assert r.status_code in (302, 303), r.text[:300]
        url = urllib.parse.urljoin(url, r.headers["Location"])
        if urllib.parse.urlsplit(url).path == "/authservice/oidc/callback":
            back = sess.get(url, allow_redirects=False, verify=s.ca, timeout=30)
            assert back.status_code == 302, back.text[:300]
            return sess, back
    raise AssertionError("never came back to the callback")


def security_headers_ok(r):
    assert r.headers["Content-Security-Policy"] == CSP, r.headers
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "same-origin"
    assert r.headers["X-Frame-Options"] == "DENY"


def test_browser_gets_login_then_the_app_with_gzip_and_immutable_assets(server):
    s = server
    # No session: a browser navigating to / or to an app page is sent to the login page, and
    # assets (fetched with Accept */*) are refused.
    for path in ("/", "/models/team-a/x"):
        r = requests.get(s.https + path, headers={"Accept": BROWSER_ACCEPT},
                         allow_redirects=False, verify=s.ca, timeout=30)
        assert r.status_code == 302, (path, r.status_code)
        assert "/dex/auth?" in r.headers["Location"], r.headers["Location"]

    sess, back = login(s, "admin@example.com", "/models/team-a/x")
    assert back.headers["Location"] == "/models/team-a/x"
    # The CSRF cookie the web app echoes is readable by scripts (not HttpOnly).
    csrf = [c for c in back.raw.headers.getlist("Set-Cookie") if c.startswith("XSRF-TOKEN=")]
    assert sess.cookies.get("XSRF-TOKEN"), back.headers
    assert csrf and "httponly" not in csrf[0].lower(), csrf

    r = sess.get(s.https + "/", headers={"Accept": BROWSER_ACCEPT}, verify=s.ca, timeout=30)
    assert "SKIFF_WEB=OFF" not in r.text, "this skiff was built without the dashboard"
    assert r.status_code == 200, r.text[:300]
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    # A session whose browser lost the CSRF cookie gets a new one with its next dashboard page.
    no_csrf = requests.get(s.https + "/", headers={"Accept": BROWSER_ACCEPT}, verify=s.ca,
                           timeout=30, cookies={"skiff_session": sess.cookies["skiff_session"]})
    assert no_csrf.status_code == 200
    assert any(c.startswith("XSRF-TOKEN=") and "httponly" not in c.lower()
               for c in no_csrf.raw.headers.getlist("Set-Cookie")), no_csrf.headers
    assert '<div id="app">' in r.text
    assert r.headers["Cache-Control"] == "no-cache"
    security_headers_ok(r)
    index_etag = r.headers["ETag"]
    again = sess.get(s.https + "/", headers={"Accept": BROWSER_ACCEPT, "If-None-Match": index_etag},
                     verify=s.ca, timeout=30)
    assert again.status_code == 304 and again.content == b""

    scripts = re.findall(r'<script[^>]+src="(/assets/[^"]+\.js)"', r.text)
    assert scripts, r.text
    raw = sess.get(s.https + scripts[0], headers={"Accept": "*/*", "Accept-Encoding": "gzip"},
                   verify=s.ca, timeout=30, stream=True)
    assert raw.status_code == 200
    assert raw.headers["Content-Encoding"] == "gzip"
    assert raw.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert raw.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert raw.headers["Vary"] == "Accept-Encoding"
    security_headers_ok(raw)
    body = gzip.decompress(raw.raw.read())
    plain = sess.get(s.https + scripts[0], headers={"Accept-Encoding": "gzip;q=0"}, verify=s.ca,
                     timeout=30)
    assert "Content-Encoding" not in plain.headers
    assert plain.content == body and len(body) > 1000
    # HEAD: headers and length, no body.
    head = sess.head(s.https + scripts[0], headers={"Accept-Encoding": "identity"}, verify=s.ca,
                     timeout=30)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["Content-Length"]) == len(body)

    # Assets need a session too.
    r = requests.get(s.https + scripts[0], verify=s.ca, timeout=30, allow_redirects=False)
    assert r.status_code == 401

    # An app page (the browser's navigation) gets index.html; an API client the gateway's 404.
    page = sess.get(s.https + "/models/team-a/x", headers={"Accept": BROWSER_ACCEPT}, verify=s.ca,
                    timeout=30)
    assert page.status_code == 200 and '<div id="app">' in page.text
    security_headers_ok(page)
    nope = sess.get(s.https + "/nope", headers={"Accept": "application/json"}, verify=s.ca,
                    timeout=30)
    assert nope.status_code == 404
    assert nope.json()["error"] == "NotFound" and "candidates" in nope.json(), nope.text
    # Traversal spellings never reach a file outside the table.
    for path in ("/%2e%2e/%2e%2e/etc/passwd", "/assets/..%2f..%2fskiff.db",
                 "/assets/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/assets/%2E%2E%5Cadmin.token"):
        r = sess.get(s.https + path, headers={"Accept": "application/json"}, verify=s.ca,
                     timeout=30)
        assert r.status_code in (400, 404), (path, r.status_code)
        assert "id=\"app\"" not in r.text and "root:" not in r.text


def test_bearer_token_gets_the_app_and_routes_list_shows_the_dashboard_last(server):
    s = server
    r = s.request("GET", "/", headers={"Accept": BROWSER_ACCEPT})
    assert r.status_code == 200 and '<div id="app">' in r.text
    r = s.request("GET", "/nope", headers={"Accept": "application/json"})
    assert r.status_code == 404 and r.headers["Content-Type"].startswith("application/json")

    rows = s.cli("routes", "list")
    assert rows.returncode == 0, rows.stderr
    lines = [l for l in rows.stdout.splitlines() if l.strip()]
    assert "dashboard" in lines[-1], rows.stdout
    assert rows.stdout.index("serving") < rows.stdout.index("dashboard")
    listed = json.loads(s.cli("routes", "list", "-o", "json").stdout)["routes"]
    assert listed[-1]["name"] == "dashboard", listed[-1]
    assert listed[-2]["name"] == "serving", listed[-2]


def stats(sess, s, ns, name):
    return sess.get(f"{s.https}/api/skiff/models/{ns}/{name}/stats", verify=s.ca, timeout=30)


def test_model_stats_count_predictions_and_errors(server, tmpdir_path):
    s = server
    apply(s, isvc_yaml("m", constant(f"{tmpdir_path}/m", 1)))
    wait_ready(s, "m")
    admin = requests.Session()
    admin.headers["Authorization"] = f"Bearer {s.token}"
    before = stats(admin, s, "default", "m")
    assert before.status_code == 200, before.text
    b = before.json()
    assert b["requests"]["total"] == 0 and b["recentErrors"] == []

    ok = s.request("POST", "/v1/models/m:predict", json={"instances": [[1, 2, 3, 4]]})
    assert ok.status_code == 200, ok.text
    bad = s.request("POST", "/v1/models/m:predict", json={"instances": "not a list"})
    assert 400 <= bad.status_code < 500, bad.text

    after = stats(admin, s, "default", "m").json()
    assert after["requests"]["2xx"] == 1, after
    assert after["requests"]["4xx"] == 1, after
    assert after["requests"]["total"] == 2, after
    assert after["latency"]["count"] >= 1 and after["latency"]["p50_ms"] > 0, after
    err = after["recentErrors"][0]
    assert err["status"] == bad.status_code
    assert err["message"] == bad.json()["error"], (err, bad.text)
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", err["time"]), err
    assert after["sampledAt"] > b["sampledAt"]

    # A user without access to the namespace: 403, for known and unknown models alike; an
    # unknown model is 404 for someone who may look.
    bob, _ = login(s, "bob@example.com")
    assert stats(bob, s, "default", "m").status_code == 403
    assert stats(bob, s, "default", "missing").status_code == 403
    assert stats(admin, s, "default", "missing").status_code == 404


def test_embed_script_is_deterministic_and_types_files(tmp_path):
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text('<!doctype html><div id="app"></div>' * 20)
    (dist / "assets" / "index-abc.js").write_text("console.log('x');" * 50)
    (dist / "assets" / "index-abc.css").write_text("body{margin:0}" * 50)
    (dist / "assets" / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    (dist / ".vite").mkdir()
    (dist / ".vite" / "manifest.json").write_text("{}")
    script = os.path.join(ROOT, "cmake", "embed_web.py")
    outs = []
    for name in ("a.cpp", "b.cpp"):
        subprocess.run([sys.executable, script, "--output", str(tmp_path / name), "--dist",
                        str(dist), "--no-build"], check=True, timeout=60)
        outs.append((tmp_path / name).read_text())
    assert outs[0] == outs[1]
    text = outs[0]
    assert '{"/index.html"sv, "text/html; charset=utf-8"sv' in text
    assert '{"/assets/index-abc.js"sv, "text/javascript; charset=utf-8"sv' in text
    assert '{"/assets/index-abc.css"sv, "text/css; charset=utf-8"sv' in text
    assert '{"/assets/logo.png"sv, "image/png"sv' in text
    assert ".vite" not in text
    assert "bool EmbeddedAssetsBuilt() { return true; }" in text
    # Compiles as C++20 (the same flags as the build's warnings).
    r = subprocess.run(["g++", "-std=c++20", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
                        "-I", os.path.join(ROOT, "src"), str(tmp_path / "a.cpp")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
