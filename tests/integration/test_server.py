"""`skiff up`: first start, settings precedence, health and metrics, authentication, limits and
graceful shutdown, against the real binary."""
import json
import os
import signal
import socket
import sqlite3
import stat
import subprocess
import threading

import pytest
import requests

from conftest import SKIFF, LineReader, Skiff, wait_until


def raw_exchange(url, data, timeout=10, read_all=True):
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while True:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            if not b:
                break
            chunks.append(b)
            if not read_all:
                break
        return b"".join(chunks)


def status_of(raw):
    line = raw.split(b"\r\n", 1)[0].decode()
    return int(line.split()[1])


def test_first_start_creates_private_state(tmpdir_path):
    data = os.path.join(tmpdir_path, "fresh", "data")
    s = Skiff(data).start()
    try:
        assert stat.S_IMODE(os.stat(data).st_mode) == 0o700
        token_path = os.path.join(data, "admin.token")
        assert stat.S_IMODE(os.stat(token_path).st_mode) == 0o600
        token = s.token
        assert token.startswith("skf_") and len(token) > 30
        s.out.wait_for(r"Admin token")
        assert any(token in line for line in s.out.all), "the token is shown on first start"
        db = sqlite3.connect(os.path.join(data, "skiff.db"))
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        db.close()
    finally:
        assert s.stop() == 0
    # Second start: same token, not shown again.
    s2 = Skiff(data).start()
    try:
        assert s2.token == token
        r = s2.request("GET", "/api/v1/namespaces/default")
        assert r.status_code == 200
    finally:
        assert s2.stop() == 0
    assert not any(token in line for line in s2.out.all), "the token is shown only once"
    assert not any(token in line for line in s2.err.all), "the token never appears in logs"


def test_settings_precedence_flag_env_file(tmpdir_path):
    cfg = os.path.join(tmpdir_path, "skiff.yaml")
    with open(cfg, "w") as f:
        f.write(f"dataDir: {tmpdir_path}/from-file\naddr: 127.0.0.1:0\nhttp:\n  maxBodyBytes: 2KiB\n")
    # File only.
    proc = subprocess.Popen([SKIFF, "up", "--config", cfg], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = LineReader(proc.stdout)
    out.wait_for(r"is up at")
    assert os.path.isdir(f"{tmpdir_path}/from-file")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    # Env beats file; flag beats env.
    env = dict(os.environ, SKIFF_DATA_DIR=f"{tmpdir_path}/from-env")
    proc = subprocess.Popen([SKIFF, "up", "--config", cfg], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    LineReader(proc.stdout).wait_for(r"is up at")
    assert os.path.isdir(f"{tmpdir_path}/from-env")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    proc = subprocess.Popen([SKIFF, "up", "--config", cfg, "--data-dir", f"{tmpdir_path}/from-flag"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    LineReader(proc.stdout).wait_for(r"is up at")
    assert os.path.isdir(f"{tmpdir_path}/from-flag")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0


def test_unknown_setting_is_refused_with_line(tmpdir_path):
    cfg = os.path.join(tmpdir_path, "skiff.yaml")
    with open(cfg, "w") as f:
        f.write("addr: 127.0.0.1:0\nhttp:\n  maxBodyByte: 1KiB\n")
    r = subprocess.run([SKIFF, "up", "--config", cfg, "--data-dir", f"{tmpdir_path}/d"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert 'unknown setting "http.maxBodyByte"' in r.stderr
    assert "line 3" in r.stderr


def test_health_is_public_and_everything_else_needs_a_token(skiff):
    assert skiff.request("GET", "/healthz", auth=False).status_code == 200
    assert skiff.request("GET", "/readyz", auth=False).status_code == 200
    for path in ["/api/v1/namespaces", "/apis", "/version", "/metrics", "/openapi/v3"]:
        r = skiff.request("GET", path, auth=False)
        assert r.status_code == 401, path
        assert "Bearer" in r.headers.get("WWW-Authenticate", "")
        r = skiff.request("GET", path, auth=False, headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401, path
    body = skiff.request("GET", "/api/v1/namespaces", auth=False).json()
    assert body["kind"] == "Status" and body["reason"] == "Unauthorized" and body["code"] == 401
    # Identity headers from the client are not believed.
    r = skiff.request("GET", "/api/v1/namespaces", auth=False, headers={"kubeflow-userid": "admin"})
    assert r.status_code == 401


def test_curl_lists_namespaces(skiff):
    r = subprocess.run(["curl", "-sS", "-H", f"Authorization: Bearer {skiff.token}",
                        f"{skiff.url}/api/v1/namespaces"], capture_output=True, text=True, timeout=30)
    body = json.loads(r.stdout)
    assert body["kind"] == "NamespaceList"
    assert "default" in [i["metadata"]["name"] for i in body["items"]]


def test_metrics_count_requests_by_route_and_code(skiff):
    skiff.request("GET", "/api/v1/namespaces/default")
    skiff.request("GET", "/api/v1/namespaces/nope")
    text = skiff.request("GET", "/metrics").text
    assert "# TYPE skiff_http_requests_total counter" in text
    lines = [l for l in text.splitlines() if l.startswith("skiff_http_requests_total{")]
    assert any('code="200"' in l and "/api/*" in l for l in lines), lines
    assert any('code="404"' in l and "/api/*" in l for l in lines), lines
    assert "skiff_http_request_duration_seconds_bucket{" in text
    assert "skiff_http_open_connections" in text
    rss = [l for l in text.splitlines() if l.startswith("skiff_process_resident_memory_bytes ")]
    assert rss and float(rss[0].split()[1]) > 1e6


def test_limits_answer_cleanly(tmpdir_path):
    env = {"SKIFF_HTTP_MAX_BODY_BYTES": "2KiB", "SKIFF_HTTP_MAX_HEADER_BYTES": "4KiB",
           "SKIFF_HTTP_HEADER_TIMEOUT": "300ms"}
    s = Skiff(os.path.join(tmpdir_path, "data"), env=env).start()
    try:
        big = json.dumps({"apiVersion": "v1", "kind": "Namespace",
                          "metadata": {"name": "big", "annotations": {"x": "y" * 4000}}})
        r = s.request("POST", "/api/v1/namespaces", data=big, headers={"Content-Type": "application/json"})
        assert r.status_code == 413
        assert s.request("GET", "/api/v1/namespaces/big").status_code == 404
        r = s.request("GET", "/api/v1/namespaces", headers={"X-Big": "a" * 8000})
        assert r.status_code == 431
        raw = raw_exchange(s.url, b"NOT HTTP AT ALL\r\n\r\n")
        assert status_of(raw) == 400
        # A client that sends half a header and stops gets 408 after the header time-out.
        raw = raw_exchange(s.url, b"GET /healthz HTTP/1.1\r\nHost: x\r\n", timeout=10)
        assert status_of(raw) == 408
        r = s.request("POST", "/api/v1/namespaces", data="{not json", headers={"Content-Type": "application/json"})
        assert r.status_code == 400
        assert r.json()["reason"] == "BadRequest" and "invalid JSON" in r.json()["message"]
    finally:
        assert s.stop() == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_drains_in_flight_request_and_exits_zero(tmpdir_path, sig):
    s = Skiff(os.path.join(tmpdir_path, "data")).start()
    body = json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "late"}}).encode()
    host, port = s.url.removeprefix("http://").split(":")
    conn = socket.create_connection((host, int(port)), timeout=10)
    head = (f"POST /api/v1/namespaces HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {s.token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    conn.sendall(head + body[:10])
    # The server has seen the request start once it reports the connection open.
    wait_until(lambda: 'skiff_http_open_connections 2' in s.request("GET", "/metrics").text
               or 'skiff_http_open_connections 1' in s.request("GET", "/metrics").text, what="connection open")
    s.proc.send_signal(sig)
    conn.sendall(body[10:])
    reply = b""
    while b"\r\n\r\n" not in reply:
        chunk = conn.recv(65536)
        if not chunk:
            break
        reply += chunk
    conn.close()
    assert status_of(reply) == 201, reply
    assert s.proc.wait(timeout=20) == 0
    # The write that was in flight is durable.
    s2 = Skiff(s.data_dir).start()
    try:
        assert s2.request("GET", "/api/v1/namespaces/late").status_code == 200
    finally:
        assert s2.stop() == 0


def test_shutdown_ends_open_watches(skiff):
    r = requests.get(skiff.url + "/api/v1/namespaces?watch=1", headers=skiff.headers(), stream=True, timeout=30)
    assert r.status_code == 200
    lines = r.iter_lines()
    first = json.loads(next(lines))
    assert first["type"] == "ADDED"
    done = threading.Event()

    def drain():
        for _ in lines:
            pass
        done.set()

    threading.Thread(target=drain, daemon=True).start()
    skiff.proc.send_signal(signal.SIGTERM)
    assert done.wait(20), "the watch stream ends at shutdown"
    assert skiff.proc.wait(timeout=20) == 0
