"""Training run for `make release` (scripts/release.sh): drives a skiff built with
SKIFF_PGO=generate through the gateway's hot path, so that the compiler lays out and inlines the
optimized build for it. The work: keep-alive requests proxied by a VirtualService to a loopback
upstream, authenticated by the admin token and by a cached RS256 JWT (as bench/gateway.py
measures), a few request bodies, unrouted paths and API reads. skiff stops with SIGTERM at the
end and writes its profile as it exits.

Usage: /usr/bin/python3 scripts/pgo_train.py path/to/instrumented/skiff
Env: PGO_TRAIN_SECONDS (default 8), PGO_TRAIN_CLIENTS (default 8)."""
import http.client
import http.server
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
import gateway  # noqa: E402  (bench/gateway.py: skiff start-up, the route, the JWT issuer)
from common import Servers  # noqa: E402

SECONDS = float(os.environ.get("PGO_TRAIN_SECONDS", "8"))
CLIENTS = int(os.environ.get("PGO_TRAIN_CLIENTS", "8"))


class Upstream(http.server.BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1: the file bench/gateway.py serves, and POST bodies echoed."""
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # the head and the body go out as two writes

    def reply(self, body):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.reply(gateway.BODY)

    def do_POST(self):
        self.reply(self.rfile.read(int(self.headers.get("Content-Length", "0"))))

    def log_message(self, *args):
        pass


def client(port, admin, jwt, deadline, counts, errors):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = b"y" * 4096
    # Mostly what the benchmark sends; every 16th request something else.
    plan = ([("GET", gateway.PATH, admin, None)] * 9 + [("GET", gateway.PATH, jwt, None)] * 5 +
            [("POST", "/bench/echo", admin, body), ("GET", "/nowhere/else", admin, None)])
    api = ("GET", "/apis/networking.istio.io/v1beta1/namespaces/default/virtualservices", admin,
           None)
    n = 0
    while time.monotonic() < deadline:
        method, path, token, data = api if n % 200 == 199 else plan[n % len(plan)]
        headers = {"Authorization": f"Bearer {token}"}
        if data is not None:
            headers["Content-Type"] = "text/plain"
        try:
            conn.request(method, path, body=data, headers=headers)
            r = conn.getresponse()
            r.read()
            if r.status >= 500:
                errors.append(f"{method} {path}: {r.status}")
        except (OSError, http.client.HTTPException) as e:
            errors.append(f"{method} {path}: {e}")
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        n += 1
    conn.close()
    counts.append(n)


def main():
    if len(sys.argv) != 2 or not os.access(sys.argv[1], os.X_OK):
        raise SystemExit("usage: pgo_train.py path/to/skiff (built with SKIFF_PGO=generate)")
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    upstream.daemon_threads = True
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    issuer = gateway.Issuer()
    try:
        with Servers() as s:
            port, admin, _ = gateway.start_skiff(s, os.path.abspath(sys.argv[1]), issuer)
            gateway.apply_route(port, admin, upstream.server_address[1])
            jwt = issuer.token()
            url = f"http://127.0.0.1:{port}{gateway.PATH}"
            gateway.wait_routed(url, admin)
            gateway.wait_routed(url, jwt)
            counts, errors = [], []
            deadline = time.monotonic() + SECONDS
            threads = [threading.Thread(target=client,
                                        args=(port, admin, jwt, deadline, counts, errors))
                       for _ in range(CLIENTS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(SECONDS + 60)
            if errors:
                raise SystemExit(f"training requests failed ({len(errors)}), e.g. {errors[:3]}")
            skiff = s.procs[-1]
        # Servers stopped skiff with SIGTERM: its profile is written only by a clean exit.
        if skiff.returncode != 0:
            raise SystemExit(f"the instrumented skiff exited with {skiff.returncode}")
        print(f"pgo_train: {sum(counts)} requests in {SECONDS:.0f} s from {CLIENTS} clients")
    finally:
        issuer.stop()
        upstream.shutdown()
        upstream.server_close()


if __name__ == "__main__":
    main()
