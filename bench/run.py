"""Runs wrk against nginx (static 200) and skiff (GET /healthz, GET of one namespace) on
loopback in the same run, and prints requests/s, latency and the ratio to nginx.

nginx and skiff each get the same settings: all cores, keep-alive, no access log."""
import os
import sys

from common import Servers, require, table, wrk, DURATION, THREADS

CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "64"))


def main():
    skiff_bin = os.path.abspath(sys.argv[1])
    require("wrk", "nginx")
    with Servers() as s:
        ngx = s.nginx()
        port, token, _ = s.skiff(skiff_bin, {"SKIFF_DEMO_ENABLED": "false"})
        auth = f"Authorization: Bearer {token}"
        rows = [
            ("nginx static 200", CONNECTIONS, wrk(f"http://127.0.0.1:{ngx}/", CONNECTIONS)),
            ("skiff GET /healthz", CONNECTIONS, wrk(f"http://127.0.0.1:{port}/healthz", CONNECTIONS)),
            ("skiff GET /api/v1/namespaces/default", CONNECTIONS,
             wrk(f"http://127.0.0.1:{port}/api/v1/namespaces/default", CONNECTIONS, [auth])),
        ]
    base = rows[0][2]["rps"]
    print(f"\nwrk -t{THREADS} -d{DURATION} on {os.cpu_count()} cores (loopback, wrk shares the cores)\n")
    table(rows, base)
    print(f"\n/healthz throughput is {rows[1][2]['rps'] / base:.0%} of nginx's static 200 (goal: at least 70%).")


if __name__ == "__main__":
    main()
