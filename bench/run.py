"""Runs wrk against nginx (static 200) and skiff (GET /healthz, GET of one namespace) on
loopback in the same run, and prints requests/s, latency and the ratio to nginx.

nginx and skiff each get the same settings: all cores, keep-alive, no access log."""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

DURATION = os.environ.get("BENCH_DURATION", "10s")
CONNECTIONS = os.environ.get("BENCH_CONNECTIONS", "64")
THREADS = os.environ.get("BENCH_THREADS", "2")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listening on {port} after {timeout}s")


def wrk(url, headers=()):
    cmd = ["wrk", "-t", THREADS, "-c", CONNECTIONS, "-d", DURATION, "--latency"]
    for h in headers:
        cmd += ["-H", h]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=600).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    def lat(p):
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        if not m:
            return float("nan")
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": lat(50), "p99": lat(99), "non2xx": int(errors.group(1)) if errors else 0}


def main():
    skiff_bin = os.path.abspath(sys.argv[1])
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            raise SystemExit(f"{tool} is missing: run scripts/deps.sh bench")
    tmp = tempfile.mkdtemp(prefix="skiff-bench-")
    procs = []
    try:
        ngx_port = free_port()
        conf = os.path.join(tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""daemon off;
worker_processes {os.cpu_count()};
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy; fastcgi_temp_path {tmp}/fcgi;
  uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  server {{ listen 127.0.0.1:{ngx_port}; location / {{ return 200 "ok\\n"; }} }}
}}
""")
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        procs.append(subprocess.Popen([nginx, "-c", conf, "-p", tmp], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_port(ngx_port)

        sk_port = free_port()
        data = os.path.join(tmp, "skiff-data")
        procs.append(subprocess.Popen([skiff_bin, "up", "--addr", f"127.0.0.1:{sk_port}", "--data-dir", data,
                                       "--log-level", "warn"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_port(sk_port)
        token = open(os.path.join(data, "admin.token")).read().strip()
        auth = f"Authorization: Bearer {token}"

        results = [
            ("nginx static 200", wrk(f"http://127.0.0.1:{ngx_port}/")),
            ("skiff GET /healthz", wrk(f"http://127.0.0.1:{sk_port}/healthz")),
            ("skiff GET /api/v1/namespaces/default", wrk(f"http://127.0.0.1:{sk_port}/api/v1/namespaces/default", [auth])),
        ]
        base = results[0][1]["rps"]
        print(f"\nwrk -t{THREADS} -c{CONNECTIONS} -d{DURATION} on {os.cpu_count()} cores (loopback, wrk shares the cores)\n")
        print(f"| {'target':<38} | {'req/s':>10} | {'p50 ms':>7} | {'p99 ms':>7} | {'vs nginx':>8} | {'non-2xx':>7} |")
        print(f"|{'-'*40}|{'-'*12}|{'-'*9}|{'-'*9}|{'-'*10}|{'-'*9}|")
        for name, r in results:
            print(f"| {name:<38} | {r['rps']:>10.0f} | {r['p50']:>7.2f} | {r['p99']:>7.2f} | {r['rps']/base:>7.0%} | {r['non2xx']:>7} |")
        healthz = results[1][1]["rps"] / base
        print(f"\n/healthz throughput is {healthz:.0%} of nginx's static 200 (goal: at least 70%).")
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
