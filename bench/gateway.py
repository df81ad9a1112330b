"""Gateway benchmark (issue 5, "Measured, not asserted"): wrk through skiff's reverse proxy to an
upstream nginx serving a small static file, against wrk through nginx's own proxy_pass (keep-alive
upstream connections) to the same upstream, in one run, plus the same through skiff with a Bearer
JWT verified against a JWKS. Prints req/s, p50, p99, the ratio to nginx's proxy_pass, and the
JWT's cost (JWT row against the admin-token row).

Rows, each with the same wrk threads/connections/duration:
  a. nginx upstream, directly (the ceiling: no proxy hop)
  b. nginx proxy_pass -> upstream, `keepalive` upstream pool (the reference)
  c. skiff -> upstream through a VirtualService (networking.istio.io/v1beta1, hosts ['*'],
     prefix /bench/ -> 127.0.0.1:<upstream>), applied through the API; Bearer admin token
  d. as c, with a Bearer JWT (RS256) of an external issuer whose JWKS a local HTTP server serves
  e. as d, with a different JWT on every request, so none is served from skiff's verified-token
     cache: what every request would cost without it
  f. (with BENCH_BASELINE) as c, through another skiff binary (e.g. a build of the previous
     commit), interleaved with the other rows: before/after comparisons on a shared machine

Targets: c at least as fast as b; d within 10% of c.
Usage: bench/gateway.sh [path/to/skiff]
Env: BENCH_DURATION=10s BENCH_THREADS=2 BENCH_CONNECTIONS=64 BENCH_TIMEOUT (whole run, s; default from the rounds)
     BENCH_ROUNDS=3 (interleaved rounds; each row reports its median round: on a small shared
     machine one round's ratios move by +-10% from run to run)
     BENCH_ACCESS_LOG=1 (the proxying nginx and skiff both write an access log to a file;
     default: both off, as nginx's static rows)
     BENCH_NGINX_ONLY=1 (rows a and b only, no skiff)
     BENCH_MISS_TOKENS=12000 (distinct JWTs of row e, more than the cache holds; 0: no row e)
     BENCH_BASELINE=path/to/other/skiff (row f; compare CPU us/req of c and f, not req/s)
     BENCH_PERF=DIR (record each skiff row with `perf record --call-graph dwarf` into
     DIR/<row letter>.data, for `perf report -i`; the recording costs CPU: ratios then mislead)"""
import base64
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

from common import Servers, free_port, require, wait_port, wrk, DURATION, THREADS

CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "64"))
ROUNDS = max(1, int(os.environ.get("BENCH_ROUNDS", "3")))
ACCESS_LOG = os.environ.get("BENCH_ACCESS_LOG") == "1"
MISS_TOKENS = int(os.environ.get("BENCH_MISS_TOKENS", "12000"))  # 0: no row e
PERF_DIR = os.environ.get("BENCH_PERF", "")
BASELINE = os.environ.get("BENCH_BASELINE", "")  # another skiff binary: row f


def seconds(duration):
    units = {"s": 1, "m": 60, "h": 3600}
    return float(duration[:-1]) * units[duration[-1]] if duration[-1] in units else float(duration)


# Start-up plus four targets per round, with room for a loaded machine.
TIMEOUT = int(os.environ.get("BENCH_TIMEOUT", str(int(180 + ROUNDS * 4 * seconds(DURATION) * 2))))
ISSUER = "https://issuer.bench.skiff.local"
AUDIENCE = "skiff-bench"
USER = "bench@example.com"
PATH = "/bench/hello.txt"
BODY = b"x" * 1024 + b"\n"  # a 1 KiB static file


def nginx(servers, name, server_block, upstream_block=""):
    """Starts an nginx with its own prefix under the run's temporary directory."""
    prefix = os.path.join(servers.tmp, name)
    os.makedirs(prefix, exist_ok=True)
    conf = os.path.join(prefix, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""daemon off;
worker_processes {os.cpu_count()};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path {prefix}/body; proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fcgi; uwsgi_temp_path {prefix}/uwsgi; scgi_temp_path {prefix}/scgi;
  {upstream_block}
  {server_block}
}}
""")
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    proc = subprocess.Popen([binary, "-c", conf, "-p", prefix],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    servers.procs.append(proc)
    return proc.pid


def upstream_nginx(servers):
    port = free_port()
    www = os.path.join(servers.tmp, "www")
    os.makedirs(os.path.join(www, "bench"), exist_ok=True)
    with open(os.path.join(www, "bench", "hello.txt"), "wb") as f:
        f.write(BODY)
    # nginx started as root serves files as "nobody": let it through the private temp dir.
    os.chmod(servers.tmp, 0o711)
    for d in (www, os.path.join(www, "bench")):
        os.chmod(d, 0o755)
    os.chmod(os.path.join(www, "bench", "hello.txt"), 0o644)
    pid = nginx(servers, "upstream",
                f"server {{ listen 127.0.0.1:{port}; root {www}; location / {{ }} }}")
    wait_port(port)
    return port, pid


def proxy_nginx(servers, upstream_port):
    port = free_port()
    # What a careful nginx set-up does in front of an upstream: pooled HTTP/1.1 connections
    # (enough idle ones per worker that the pool never churns at BENCH_CONNECTIONS) and the
    # X-Forwarded-* headers skiff adds too.
    log = f"access_log {servers.tmp}/proxy/access.log;" if ACCESS_LOG else ""
    pid = nginx(servers, "proxy",
                f"""server {{
    listen 127.0.0.1:{port};
    {log}
    location / {{
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
    }}
  }}""",
          f"upstream bench_upstream {{ server 127.0.0.1:{upstream_port}; keepalive {CONNECTIONS}; }}")
    wait_port(port)
    return port, pid


# --- JWT: an RS256 key, its JWKS on a loopback HTTP server, one signed token ---------------------

def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def int_b64u(n):
    return b64u(n.to_bytes((n.bit_length() + 7) // 8, "big"))


class Issuer:
    """An RS256 signing key whose JWKS is served at http://127.0.0.1:<port>/jwks.json."""

    def __init__(self):
        from cryptography.hazmat.primitives.asymmetric import rsa
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pub = self.key.public_key().public_numbers()
        jwks = json.dumps({"keys": [{"kty": "RSA", "kid": "bench1", "use": "sig", "alg": "RS256",
                                     "n": int_b64u(pub.n), "e": int_b64u(pub.e)}]}).encode()
        outer = self
        self.fetches = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                ok = self.path == "/jwks.json"
                outer.fetches += ok
                body = jwks if ok else b"not found\n"
                self.send_response(200 if ok else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", "max-age=3600")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.jwks_uri = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks.json"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def token(self, lifetime=3600, jti=None):
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT", "kid": "bench1"}
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "bench-user", "email": USER,
                  "groups": ["bench"], "iat": now, "exp": now + lifetime}
        if jti is not None:
            claims["jti"] = jti
        signing_input = b64u(json.dumps(header)) + "." + b64u(json.dumps(claims))
        sig = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + b64u(sig)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def miss_script(servers, issuer):
    """A wrk script sending MISS_TOKENS different JWTs in turn (each wrk thread from its own
    offset), so that the same token comes back only after more than the verified-token cache
    holds (10,000): every request is verified in full, as without the cache."""
    path = os.path.join(servers.tmp, "tokens.txt")
    with open(path, "w") as f:
        for i in range(MISS_TOKENS):
            f.write(issuer.token(jti=str(i)) + "\n")
    script = os.path.join(servers.tmp, "miss.lua")
    with open(script, "w") as f:
        f.write(f"""local tokens = {{}}
for line in io.lines("{path}") do tokens[#tokens + 1] = line end
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end
local i = 0
function init(args)
  i = math.floor((id - 1) * #tokens / {THREADS})
end
function request()
  i = i % #tokens + 1
  return wrk.format("GET", "{PATH}", {{["Authorization"] = "Bearer " .. tokens[i]}})
end
""")
    return script


# --- skiff ---------------------------------------------------------------------------------------

def start_skiff(servers, binary, issuer):
    port = free_port()
    data = os.path.join(servers.tmp, "skiff-data")
    cfg = os.path.join(servers.tmp, "skiff.yaml")
    with open(cfg, "w") as f:
        # The JWT's user is a cluster admin, like the admin token, so both rows pass the same
        # authorization and differ only in how the credential is checked.
        access_log = os.path.join(servers.tmp, "skiff-access.log") if ACCESS_LOG else "off"
        f.write(f"""gateway:
  accessLog: "{access_log}"
auth:
  login: "off"
  admins: [{USER}]
  jwt:
    - issuer: {ISSUER}
      audiences: [{AUDIENCE}]
      jwksURI: {issuer.jwks_uri}
      algorithms: [RS256]
""")
    env = dict(os.environ)
    env["SKIFF_DEMO_ENABLED"] = "false"
    log = open(os.path.join(servers.tmp, "skiff.log"), "wb")
    servers.procs.append(subprocess.Popen(
        [binary, "up", "--addr", f"127.0.0.1:{port}", "--data-dir", data, "--config", cfg,
         "--log-level", "warn"], stdout=log, stderr=log, env=env))
    log.close()
    try:
        wait_port(port, timeout=30)
    except SystemExit:
        raise SystemExit("skiff did not start:\n" + tail(os.path.join(servers.tmp, "skiff.log")))
    deadline = time.monotonic() + 60
    while call("GET", f"http://127.0.0.1:{port}/readyz", "-")[0] != 200:
        if time.monotonic() > deadline:
            raise SystemExit("skiff did not become ready:\n" +
                             tail(os.path.join(servers.tmp, "skiff.log")))
        time.sleep(0.1)
    with open(os.path.join(data, "admin.token")) as f:
        return port, f.read().strip(), servers.procs[-1].pid


def cpu_seconds(pid):
    """User + system CPU time of a process and its children (nginx's workers), in seconds.
    CPU per request is far less disturbed by other load on the machine than req/s."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields[1] is the parent pid; utime and stime are fields 14 and 15 of stat(5).
        if int(entry) == pid or int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
    return total / tick


def tail(path, n=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def call(method, url, token, body=None, timeout=10):
    req = urllib.request.Request(url, method=method, data=body,
                                 headers={"Authorization": f"Bearer {token}",
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError as e:
        return 0, str(e).encode()


def apply_route(port, token, upstream_port):
    vs = {"apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
          "metadata": {"name": "bench", "namespace": "default"},
          "spec": {"hosts": ["*"],
                   "http": [{"name": "bench",
                             "match": [{"uri": {"prefix": "/bench/"}}],
                             "route": [{"destination": {"host": "127.0.0.1",
                                                        "port": {"number": upstream_port}}}]}]}}
    url = (f"http://127.0.0.1:{port}/apis/networking.istio.io/v1beta1/namespaces/default/"
           "virtualservices")
    code, out = call("POST", url, token, json.dumps(vs).encode())
    if code not in (200, 201):
        raise SystemExit(f"applying the VirtualService failed: {code} {out[:500]!r}")


def wait_routed(url, token, timeout=20):
    """Polls until the route answers with the upstream's file (routing tables may be rebuilt
    asynchronously after an apply)."""
    deadline = time.monotonic() + timeout
    code, out = 0, b""
    while time.monotonic() < deadline:
        code, out = call("GET", url, token)
        if code == 200 and out == BODY:
            return
        time.sleep(0.1)
    raise SystemExit(f"{url} did not reach the upstream within {timeout}s: {code} {out[:300]!r}")


# --- report --------------------------------------------------------------------------------------

def report(rows, ref):
    print(f"\nwrk -t{THREADS} -c{CONNECTIONS} -d{DURATION} x {ROUNDS} round(s) on {os.cpu_count()} "
          f"cores (loopback; wrk, nginx and skiff share the cores); GET {PATH} "
          f"({len(BODY)} bytes)\n")
    print(f"| {'target':<48} | {'req/s':>9} | {'p50 ms':>7} | {'p99 ms':>7} | "
          f"{'vs proxy_pass':>13} | {'CPU us/req':>10} | {'non-2xx':>7} |")
    print(f"|{'-' * 50}|{'-' * 11}|{'-' * 9}|{'-' * 9}|{'-' * 15}|{'-' * 12}|{'-' * 9}|")
    for name, r in rows:
        print(f"| {name:<48} | {r['rps']:>9.0f} | {r['p50']:>7.2f} | {r['p99']:>7.2f} | "
              f"{r['rps'] / ref:>13.0%} | {r['cpu_us']:>10.1f} | {r['non2xx']:>7} |")
    print("\nCPU us/req: CPU time of the answering server's processes (the upstream for a, the "
          "proxy for b-f, not wrk or the upstream) per request.")


def main():
    skiff_bin = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else None
    nginx_only = os.environ.get("BENCH_NGINX_ONLY") == "1" or skiff_bin is None
    require("wrk", "nginx")
    if not nginx_only and not os.access(skiff_bin, os.X_OK):
        raise SystemExit(f"{skiff_bin} is not an executable skiff")
    if not nginx_only:
        try:
            import cryptography  # noqa: F401  (signs the JWT row's token)
        except ImportError:
            raise SystemExit("python3-cryptography is missing: run scripts/deps.sh test")

    def on_alarm(*_):
        raise SystemExit(f"bench/gateway: gave up after BENCH_TIMEOUT={TIMEOUT}s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TIMEOUT)
    issuer = None
    rows = []
    try:
        with Servers() as s:
            up, up_pid = upstream_nginx(s)
            px, px_pid = proxy_nginx(s, up)
            for port in (up, px):
                code, out = call("GET", f"http://127.0.0.1:{port}{PATH}", "-")
                if code != 200 or out != BODY:
                    raise SystemExit(f"nginx on {port} did not serve the file: {code}")
            if not nginx_only:
                issuer = Issuer()
                sk, admin, sk_pid = start_skiff(s, skiff_bin, issuer)
                apply_route(sk, admin, up)
                jwt = issuer.token()
                url = f"http://127.0.0.1:{sk}{PATH}"
                wait_routed(url, admin)
                wait_routed(url, jwt)  # also loads the JWKS before measuring
                if BASELINE:
                    # Its own data directory and configuration, beside the first skiff's.
                    class Sub:
                        tmp = os.path.join(s.tmp, "baseline")
                        procs = s.procs
                    os.makedirs(Sub.tmp)
                    sk0, admin0, sk0_pid = start_skiff(Sub, os.path.abspath(BASELINE), issuer)
                    apply_route(sk0, admin0, up)
                    url0 = f"http://127.0.0.1:{sk0}{PATH}"
                    wait_routed(url0, admin0)
            # (name, URL, headers, the process whose CPU per request is reported)
            targets = [("a. nginx upstream, direct", f"http://127.0.0.1:{up}{PATH}", [], up_pid),
                       ("b. nginx proxy_pass (keepalive) -> upstream",
                        f"http://127.0.0.1:{px}{PATH}", [], px_pid)]
            if not nginx_only:
                targets += [("c. skiff VirtualService -> upstream, admin token", url,
                             [f"Authorization: Bearer {admin}"], sk_pid),
                            ("d. skiff VirtualService -> upstream, JWT RS256", url,
                             [f"Authorization: Bearer {jwt}"], sk_pid)]
                if MISS_TOKENS:
                    targets.append(("e. as d, a new JWT every request (cache misses)", url,
                                    miss_script(s, issuer), sk_pid))
                if BASELINE:
                    targets.append(("f. as c, BENCH_BASELINE's skiff", url0,
                                    [f"Authorization: Bearer {admin0}"], sk0_pid))
            # Rounds interleave the targets, so load from elsewhere on the machine falls on all
            # of them alike; each row reports its median round.
            runs = {name: [] for name, _, _, _ in targets}
            for _ in range(ROUNDS):
                for name, target, headers, pid in targets:
                    perf = None
                    if PERF_DIR and not nginx_only and pid == sk_pid:
                        os.makedirs(PERF_DIR, exist_ok=True)
                        perf = subprocess.Popen(
                            ["perf", "record", "-q", "-F", "499", "--call-graph", "dwarf,16384",
                             "-p", str(pid), "-o", os.path.join(PERF_DIR, name[0] + ".data")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    before = cpu_seconds(pid)
                    if isinstance(headers, str):  # a wrk script
                        r = wrk(target, CONNECTIONS, script=headers)
                    else:
                        r = wrk(target, CONNECTIONS, headers)
                    used = cpu_seconds(pid) - before
                    if perf:
                        perf.send_signal(signal.SIGINT)
                        perf.wait(timeout=120)
                    r["cpu_us"] = used * 1e6 / max(1.0, r["rps"] * seconds(DURATION))
                    runs[name].append(r)
            for name, _, _, _ in targets:
                ordered = sorted(runs[name], key=lambda r: r["rps"])
                median = dict(ordered[len(ordered) // 2])
                median["non2xx"] = sum(r["non2xx"] for r in ordered)
                median["cpu_us"] = sorted(r["cpu_us"] for r in ordered)[len(ordered) // 2]
                rows.append((name, median))
    finally:
        signal.alarm(0)
        if issuer:
            issuer.stop()
    ref = rows[1][1]["rps"]
    report(rows, ref)
    if not nginx_only:
        c, d = rows[2][1], rows[3][1]
        print(f"\nskiff proxy vs nginx proxy_pass: {c['rps'] / ref:.0%} of its req/s "
              f"(target: at least 100%).")
        b = rows[1][1]
        print(f"skiff proxy CPU per request vs nginx proxy_pass: {c['cpu_us'] / b['cpu_us']:.2f}x.")
        print(f"JWT cost (d vs c): {d['rps'] / c['rps'] - 1:+.1%} req/s, "
              f"{d['cpu_us'] / c['cpu_us'] - 1:+.1%} CPU per request, "
              f"p50 {d['p50'] - c['p50']:+.2f} ms, p99 {d['p99'] - c['p99']:+.2f} ms "
              f"(target: under 10%). JWKS fetched {issuer.fetches} time(s).")
        if MISS_TOKENS:
            e = rows[4][1]
            print(f"Without the cache (e vs c): {e['rps'] / c['rps'] - 1:+.1%} req/s, "
                  f"{e['cpu_us'] / c['cpu_us'] - 1:+.1%} CPU per request.")
        if BASELINE:
            f = rows[-1][1]
            print(f"This skiff vs BENCH_BASELINE's (c vs f): {c['cpu_us']:.1f} vs "
                  f"{f['cpu_us']:.1f} CPU us per request ({c['cpu_us'] / f['cpu_us'] - 1:+.1%}).")
    if any(r["non2xx"] for _, r in rows):
        print("\nWARNING: some responses were not 2xx; the numbers above are not comparable.")
        sys.exit(1)


if __name__ == "__main__":
    main()
