"""Shared pieces of the benchmark scripts: free ports, nginx's static 200 as the loopback
ceiling, a skiff server on a temporary data directory, and wrk with its output parsed."""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

DURATION = os.environ.get("BENCH_DURATION", "10s")
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


def require(*tools):
    for tool in tools:
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            raise SystemExit(f"{tool} is missing: run scripts/deps.sh bench")


class Servers:
    """Starts processes in a temporary directory and stops them all at the end."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="skiff-bench-")
        self.procs = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def nginx(self):
        port = free_port()
        tmp = self.tmp
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
  server {{ listen 127.0.0.1:{port}; location / {{ return 200 "ok\\n"; }} }}
}}
""")
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.procs.append(subprocess.Popen([nginx, "-c", conf, "-p", tmp],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_port(port)
        return port

    def skiff(self, binary, env=None):
        port = free_port()
        data = os.path.join(self.tmp, "skiff-data")
        e = dict(os.environ)
        e.update(env or {})
        self.procs.append(subprocess.Popen(
            [binary, "up", "--addr", f"127.0.0.1:{port}", "--data-dir", data, "--log-level", "warn"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=e))
        wait_port(port)
        token = open(os.path.join(data, "admin.token")).read().strip()
        return port, token, data


def wrk(url, connections, headers=(), script=None, duration=DURATION):
    threads = str(min(int(THREADS), connections))
    cmd = ["wrk", "-t", threads, "-c", str(connections), "-d", duration, "--latency"]
    for h in headers:
        cmd += ["-H", h]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=600).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        raise SystemExit(f"wrk failed for {url}:\n{out}")

    def lat(p):
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)\b", out)
        if not m:
            return float("nan")
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": float(m.group(1)), "p50": lat(50), "p99": lat(99),
            "non2xx": int(errors.group(1)) if errors else 0}


def table(rows, base_rps):
    """rows: (name, connections, result). Prints a Markdown table with the ratio to base_rps."""
    print(f"| {'target':<44} | {'conns':>5} | {'req/s':>10} | {'p50 ms':>7} | {'p99 ms':>7} | {'vs nginx':>8} | {'non-2xx':>7} |")
    print(f"|{'-'*46}|{'-'*7}|{'-'*12}|{'-'*9}|{'-'*9}|{'-'*10}|{'-'*9}|")
    for name, conns, r in rows:
        print(f"| {name:<44} | {conns:>5} | {r['rps']:>10.0f} | {r['p50']:>7.2f} | {r['p99']:>7.2f} | "
              f"{r['rps'] / base_rps:>7.0%} | {r['non2xx']:>7} |")
