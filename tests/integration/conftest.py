"""Fixtures that run the real `skiff` binary and real clients (kubectl, curl) against it.

Every server listens on 127.0.0.1 with a port the kernel picks (the server prints it), keeps its
state in a fresh temporary data directory, and is stopped (and checked to exit 0) at the end of
the test. Every wait has a deadline; nothing sleeps to synchronise.
"""
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import pytest
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SKIFF = os.environ.get("SKIFF_BIN") or os.path.join(ROOT, "build", "release", "skiff")
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"


class LineReader:
    """Reads a pipe on a thread so tests can wait for a line with a deadline."""

    def __init__(self, pipe):
        self.lines = queue.Queue()
        self.all = []
        self._thread = threading.Thread(target=self._run, args=(pipe,), daemon=True)
        self._thread.start()

    def _run(self, pipe):
        for raw in iter(pipe.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.all.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, pattern, timeout=15):
        """Returns the first match of `pattern` in a later line, or fails at the deadline."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line matching {pattern!r} within {timeout}s; saw {self.all!r}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"stream ended before a line matching {pattern!r}; saw {self.all!r}")
            m = rx.search(line)
            if m:
                return m


def wait_until(predicate, timeout=10, interval=0.05, what="condition"):
    """Polls `predicate` until it returns a true value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Skiff:
    def __init__(self, data_dir, args=(), env=None, config=None):
        self.data_dir = data_dir
        self.args = list(args)
        self.env = dict(os.environ)
        # The sklearn-iris demo trains a model with Python at first start; tests that want it
        # turn it on.
        self.env.setdefault("SKIFF_DEMO_ENABLED", "false")
        self.env.update(env or {})
        self.config = config
        self.proc = None
        self.url = None
        self.out = None
        self.err = None

    def start(self, timeout=15):
        cmd = [SKIFF, "up", "--data-dir", self.data_dir]
        if not any(a.startswith("--addr") for a in self.args) and "SKIFF_ADDR" not in self.env:
            cmd += ["--addr", "127.0.0.1:0"]
        if self.config:
            cmd += ["--config", self.config]
        cmd += self.args
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env)
        self.out = LineReader(self.proc.stdout)
        self.err = LineReader(self.proc.stderr)
        m = self.out.wait_for(r"is up at (http://\S+)", timeout=timeout)
        self.url = m.group(1)
        return self

    @property
    def token(self):
        with open(os.path.join(self.data_dir, "admin.token")) as f:
            return f.read().strip()

    def headers(self, extra=None):
        h = {"Authorization": f"Bearer {self.token}"}
        h.update(extra or {})
        return h

    def request(self, method, path, auth=True, **kw):
        headers = kw.pop("headers", {})
        if auth:
            headers = self.headers(headers)
        kw.setdefault("timeout", 10)
        return requests.request(method, self.url + path, headers=headers, **kw)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
            raise AssertionError(f"skiff did not stop within {timeout}s after signal {sig}")

    def cli(self, *args, input=None, timeout=30, check=False):
        """Runs a `skiff` client command against this server."""
        cmd = [SKIFF, *args, "--server", self.url, "--data-dir", self.data_dir]
        r = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout,
                           env=self.env)
        if check and r.returncode != 0:
            raise AssertionError(f"{cmd} failed ({r.returncode}): {r.stderr}")
        return r


def start_trusted_header_skiff(tmp_path, sources="127.0.0.1/32", groups_header=None, env=None,
                               extra=""):
    """A started skiff in trusted-header mode (as behind oauth2-proxy or Istio): it believes the
    user named in X-Forwarded-Email (and the groups in `groups_header`, when given) from the
    addresses in `sources`, so tests act as any user by e-mail. No built-in identity provider, no
    login page; ops@example.com is a cluster admin. `extra` is more skiff.yaml (other top-level
    keys). The caller stops it."""
    cfg = os.path.join(str(tmp_path), "skiff.yaml")
    groups = f"\n    groupsHeader: {groups_header}" if groups_header else ""
    with open(cfg, "w") as f:
        f.write(f"""
identity:
  enabled: false
auth:
  login: "off"
  admins: [ops@example.com]
  trustedHeader:
    header: X-Forwarded-Email{groups}
    sources: [{sources}]
{extra}""")
    return Skiff(os.path.join(str(tmp_path), "data"), config=cfg, env=env).start()


# Dex's documented example hash of "password" (bcrypt, cost 10).
PASSWORD_HASH = "$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W"


def static_users_config(users, extra=""):
    """skiff.yaml text with the built-in identity provider's static users, each
    (email, [groups]) with the password "password", followed by `extra` YAML."""
    lines = ["identity:", "  staticPasswords:"]
    for i, (email, groups) in enumerate(users):
        lines += [f"    - email: {email}", f'      hash: "{PASSWORD_HASH}"',
                  f"      username: {email.split('@')[0]}",
                  f"      userID: 00000000-0000-0000-0000-{i + 1:012d}",
                  f"      groups: [{', '.join(groups)}]"]
    return "\n".join(lines) + "\n" + extra


def start_with_config(tmpdir_path, config_text):
    """A started skiff with `config_text` as its skiff.yaml, with .ca (its CA file) and .https
    (its URL over TLS, where browsers log in). The caller stops it."""
    cfg = os.path.join(tmpdir_path, "skiff.yaml")
    with open(cfg, "w") as f:
        f.write(config_text)
    s = Skiff(os.path.join(tmpdir_path, "data"), config=cfg).start()
    s.ca = os.path.join(s.data_dir, "tls", "ca.crt")
    s.https = s.url.replace("http://", "https://", 1)
    return s


@pytest.fixture
def tmpdir_path():
    d = tempfile.mkdtemp(prefix="skiff-it-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def skiff(tmpdir_path):
    s = Skiff(os.path.join(tmpdir_path, "data")).start()
    yield s
    rc = s.stop()
    assert rc == 0, f"skiff exited with {rc}; stderr: {s.err.all[-20:]}"


class Kubectl:
    def __init__(self, kubeconfig, cache_dir):
        self.kubeconfig = kubeconfig
        self.cache_dir = cache_dir

    def base(self):
        return [KUBECTL, "--kubeconfig", self.kubeconfig, "--cache-dir", self.cache_dir]

    def run(self, *args, input=None, timeout=60, check=True):
        r = subprocess.run(self.base() + list(args), input=input, capture_output=True, text=True,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({r.returncode}):\n{r.stderr}")
        return r

    def popen(self, *args):
        return subprocess.Popen(self.base() + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.fixture
def kubectl(skiff, tmpdir_path):
    r = skiff.cli("kubeconfig", check=True)
    path = os.path.join(tmpdir_path, "kubeconfig")
    with open(path, "w") as f:
        f.write(r.stdout)
    return Kubectl(path, os.path.join(tmpdir_path, "kube-cache"))


# --- Authentication peers (issue 4) -------------------------------------------------------------

PEERS_DIR = os.environ.get("SKIFF_PEERS_DIR") or os.path.join(ROOT, "tests", "peers")
NODE = shutil.which("node") or "/usr/bin/node"


def make_test_ca(directory, ip="127.0.0.1"):
    """Writes a CA and a server certificate for `ip` (P-256) into `directory`.

    Returns (ca_cert_path, cert_path, key_path)."""
    import datetime
    import ipaddress
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    os.makedirs(directory, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "skiff test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ip)]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256()))
    paths = (os.path.join(directory, "ca.crt"), os.path.join(directory, "server.crt"),
             os.path.join(directory, "server.key"))
    with open(paths[0], "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(paths[1], "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(paths[2], "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    os.chmod(paths[2], 0o600)
    return paths


class NodePeer:
    """A node script from tests/integration run with the npm peers; stopped by stop()."""

    def __init__(self, script, args, cwd=None):
        env = dict(os.environ)
        env["SKIFF_PEERS_DIR"] = PEERS_DIR
        self.proc = subprocess.Popen(
            [NODE, os.path.join(os.path.dirname(os.path.abspath(__file__)), script), *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
            cwd=cwd)
        self.out = LineReader(self.proc.stdout)
        self.err = LineReader(self.proc.stderr)

    def send(self, line):
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def stop(self, timeout=10):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


class OidcProviderPeer:
    """npm oidc-provider on https://127.0.0.1:<port> (see auth_oidc_provider.mjs)."""

    def __init__(self, directory, client_id="skiff", client_secret="skiff-secret", accounts=None):
        self.ca, cert, key = make_test_ca(os.path.join(directory, "idp-tls"))
        self.client_id = client_id
        self.client_secret = client_secret
        cfg = {"key": key, "cert": cert, "clientId": client_id, "clientSecret": client_secret,
               "accounts": accounts or {}}
        self.peer = NodePeer("auth_oidc_provider.mjs", [json.dumps(cfg)])
        m = self.peer.out.wait_for(r"^ready (\d+)", timeout=30)
        self.port = int(m.group(1))
        self.issuer = f"https://127.0.0.1:{self.port}"

    def configure(self, redirect_uris, post_logout_redirect_uris):
        self.peer.send(json.dumps({"redirect_uris": redirect_uris,
                                   "post_logout_redirect_uris": post_logout_redirect_uris}))
        self.peer.out.wait_for(r"^configured", timeout=30)

    def stop(self):
        self.peer.stop()


def free_port():
    """A port that was free a moment ago (for peers that must know a URL before listening)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    import socket
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


class S3rverPeer:
    """The npm s3rver (tests/peers) on 127.0.0.1:<free port>, storing in `directory`, with
    `bucket` made; .url is its endpoint. A context manager: stopped on exit. It checks no
    signatures (skiff's SigV4 is proven by unit tests against botocore)."""

    def __init__(self, directory, bucket):
        peers = os.environ.get("SKIFF_PEERS_DIR",
                               os.path.join(os.path.dirname(__file__), "..", "peers"))
        script = os.path.join(peers, "node_modules", "s3rver", "bin", "s3rver.js")
        assert os.path.exists(script), "run scripts/peers.sh to install the test peers"
        os.makedirs(directory, exist_ok=True)
        port = free_port()
        # --openssl-legacy-provider: s3rver's continuation tokens use DES (OpenSSL 3 legacy).
        self.proc = subprocess.Popen(
            ["node", "--openssl-legacy-provider", script, "-d", str(directory), "-p", str(port),
             "-a", "127.0.0.1", "--configure-bucket", bucket, "--silent"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{port}"
        try:
            wait_until(lambda: port_open(port), timeout=30, what="s3rver")
        except BaseException:
            self.stop()
            raise

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class HttpsFiles:
    """An HTTPS server on 127.0.0.1 (its own test CA) serving `files` (path -> bytes) and
    counting GETs: a JWKS endpoint, or the ALB public-key endpoint, as a test needs."""

    def __init__(self, directory, files=None, content_type="application/octet-stream"):
        import http.server
        import ssl

        self.ca, cert, key = make_test_ca(directory)
        self.files = dict(files or {})
        self.fetches = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.fetches += 1
                body = outer.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                body = body if body is not None else b"not found"
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
