"""The routing gateway end to end: Istio VirtualService YAML through kubectl, routing to models
and to upstreams through the reverse proxy, Istio's match/rewrite/header/weight/fault/redirect
semantics on real requests, path normalization, the access log, and `skiff routes`."""
import http.client
import http.server
import json
import os
import re
import signal
import socket
import threading
import textwrap
import time

import pytest
import requests

from conftest import Skiff, wait_until
from test_serving import apply, iris_svc, isvc_yaml, wait_ready, IRIS

ISTIO_EXAMPLE = """\
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: kfserving-iap
  namespace: team-a
spec:
  gateways:
  - kubeflow/kubeflow-gateway
  hosts:
  - '*'
  http:
  - match:
    - uri:
        prefix: /kfserving/team-a/sklearn-iap
    route:
    - destination:
        host: cluster-local-gateway.istio-system.svc.cluster.local
      headers:
        request:
          set:
            Host: sklearn-iap-predictor-default.team-a.svc.cluster.local
      weight: 100
    rewrite:
        uri: /v1/models/sklearn-iap
    timeout: 300s
"""


class Upstream:
    """A loopback HTTP/1.1 upstream that answers with what it received, as JSON.
    /slow sleeps (a hung backend for time-out tests), /flaky fails `flaky` times with 503,
    /status/N answers N, /name answers its own name (weighted-split tests)."""

    def __init__(self, name="up", flaky=0):
        outer = self
        self.name = name
        self.flaky = flaky
        self.requests = []
        self.lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _body(self):
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    body = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return body
                        body += self.rfile.read(size)
                        self.rfile.readline()
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _answer(self):
                body = self._body()
                with outer.lock:
                    outer.requests.append((self.command, self.path, dict(self.headers)))
                status = 200
                if self.path.startswith("/slow"):
                    time.sleep(3)
                if self.path.startswith("/flaky"):
                    with outer.lock:
                        if outer.flaky > 0:
                            outer.flaky -= 1
                            status = 503
                m = re.match(r"/status/(\d+)", self.path)
                if m:
                    status = int(m.group(1))
                out = json.dumps({"name": outer.name, "method": self.command, "path": self.path,
                                  "headers": {k.lower(): v for k, v in self.headers.items()},
                                  "body_len": len(body)}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.send_header("X-Upstream", outer.name)
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def vs(name, ns, http_routes, hosts=("*",)):
    return {"apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"hosts": list(hosts), "http": http_routes}}


def put_vs(skiff, obj):
    ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
    base = f"/apis/networking.istio.io/v1beta1/namespaces/{ns}/virtualservices"
    r = skiff.request("GET", f"{base}/{name}")
    if r.status_code == 200:
        obj = dict(obj)
        obj["metadata"] = dict(obj["metadata"], resourceVersion=r.json()["metadata"]["resourceVersion"])
        r = skiff.request("PUT", f"{base}/{name}", json=obj)
    else:
        r = skiff.request("POST", base, json=obj)
    assert r.status_code in (200, 201), r.text
    return r


def ensure_ns(skiff, ns):
    r = skiff.request("POST", "/api/v1/namespaces",
                      json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    assert r.status_code in (201, 409), r.text


def routed(skiff, path, expect_status, **kw):
    """Waits until the routing table has picked up a change (the controller rebuilds it
    asynchronously) and `path` answers `expect_status`."""
    method = kw.pop("method", "GET")
    last = {}

    def ok():
        r = skiff.request(method, path, allow_redirects=False, **kw)
        last["r"] = r
        return r.status_code == expect_status
    wait_until(ok, timeout=10, what=f"{path} -> {expect_status}")
    return last["r"]


@pytest.fixture
def gw(tmpdir_path):
    s = Skiff(os.path.join(tmpdir_path, "data")).start()
    yield s
    s.stop()


@pytest.fixture
def upstream():
    u = Upstream()
    yield u
    u.stop()


def test_istio_example_through_kubectl_reaches_the_model(skiff, kubectl, tmpdir_path):
    gw = skiff  # the server kubectl talks to
    kubectl.run("create", "namespace", "team-a")
    apply(gw, isvc_yaml("sklearn-iap", "file://" + iris_svc(os.path.join(tmpdir_path, "m")),
                        ns="team-a"))
    wait_ready(gw, "sklearn-iap", "team-a")
    path = os.path.join(tmpdir_path, "vs.yaml")
    with open(path, "w") as f:
        f.write(ISTIO_EXAMPLE)
    r = kubectl.run("apply", "-f", path)
    assert "virtualservice.networking.istio.io/kfserving-iap created" in r.stdout
    r = kubectl.run("get", "vs", "-n", "team-a")
    assert "kfserving-iap" in r.stdout and '["*"]' in r.stdout.replace(" ", "") or "*" in r.stdout
    r = kubectl.run("get", "virtualservices.v1alpha3.networking.istio.io", "-n", "team-a", "-o", "json")
    assert json.loads(r.stdout)["items"][0]["spec"]["http"][0]["rewrite"]["uri"] == "/v1/models/sklearn-iap"

    # The explanation names the VirtualService and the model it re-enters to.
    def explained():
        e = gw.cli("routes", "explain", "POST", "/kfserving/team-a/sklearn-iap:predict", "-o", "json")
        assert e.returncode == 0, e.stderr
        return json.loads(e.stdout)
    wait_until(lambda: explained()["decision"]["hops"] == 2, what="the VirtualService in the table")
    e = explained()
    assert len(e["routing"]) == 2  # the request as sent, then the re-entry
    assert e["routing"][1]["host"] == "sklearn-iap-predictor-default.team-a.svc.cluster.local"
    matched = [s for hop in e["routing"] for s in hop["tried"] if s["matched"]]
    assert "VirtualService team-a/kfserving-iap" in [s["source"] for s in matched]
    assert e["decision"]["finalRequest"]["path"] == "/v1/models/sklearn-iap:predict"
    assert e["decision"]["finalRequest"]["authority"] == "sklearn-iap-predictor-default.team-a.svc.cluster.local"
    assert "model team-a/sklearn-iap" in e["decision"]["destination"]
    assert e["decision"]["effectiveTimeout"] == "300s"

    r = gw.request("POST", "/kfserving/team-a/sklearn-iap:predict", json=IRIS)
    assert r.status_code == 200, r.text
    assert r.json() == {"predictions": [1, 1]}

    # A path that only the VirtualService knows (no built-in serving URL looks like it).
    alias = vs("iap-alias", "team-a", [{
        "match": [{"uri": {"prefix": "/models/iap"}}],
        "rewrite": {"uri": "/v1/models/sklearn-iap"},
        "route": [{"destination": {"host": "sklearn-iap-predictor-default.team-a.svc.cluster.local"}}]}])
    put_vs(gw, alias)
    r = routed(gw, "/models/iap:predict", 200, method="POST", json=IRIS)
    assert r.json() == {"predictions": [1, 1]}
    kubectl.run("delete", "vs", "iap-alias", "-n", "team-a")
    routed(gw, "/models/iap:predict", 404, method="POST", json=IRIS)


def test_invalid_virtualservices_are_refused_naming_the_field(skiff, kubectl, tmpdir_path):
    gw = skiff  # the server kubectl talks to
    bad = [
        ("regex", {"match": [{"uri": {"regex": "(unclosed"}}],
                   "route": [{"destination": {"host": "a"}}]}, "spec.http[0].match[0].uri.regex"),
        ("weights", {"route": [{"destination": {"host": "a"}, "weight": 30},
                               {"destination": {"host": "b"}, "weight": 30}]}, "spec.http[0].route"),
        ("unknown", {"route": [{"destination": {"host": "a"}}], "colour": "red"}, "spec.http[0].colour"),
        ("both", {"redirect": {"uri": "/x"}, "route": [{"destination": {"host": "a"}}]}, "spec.http[0]"),
        ("timeout", {"route": [{"destination": {"host": "a"}}], "timeout": "soon"}, "spec.http[0].timeout"),
    ]
    for name, route, field in bad:
        path = os.path.join(tmpdir_path, f"{name}.json")
        with open(path, "w") as f:
            json.dump(vs(f"bad-{name}", "default", [route]), f)
        r = kubectl.run("apply", "-f", path, check=False)
        assert r.returncode != 0, name
        assert field in r.stderr, (name, r.stderr)
        assert "Invalid" in r.stderr or "invalid" in r.stderr or "unknown" in r.stderr or "Unsupported" in r.stderr, r.stderr
        # Nothing was stored.
        assert gw.request("GET", f"/apis/networking.istio.io/v1beta1/namespaces/default/virtualservices/bad-{name}").status_code == 404


def test_proxy_to_an_upstream_with_rewrites_and_headers(gw, upstream):
    put_vs(gw, vs("echo", "default", [{
        "name": "echo-route",
        "match": [{"uri": {"prefix": "/echo/"}}],
        "rewrite": {"uri": "/backend/"},
        "headers": {"request": {"set": {"x-team": "a"}, "remove": ["x-drop-me"]},
                    "response": {"add": {"x-served-by": "skiff"}, "remove": ["x-upstream"]}},
        "route": [{"destination": {"host": "127.0.0.1", "port": {"number": upstream.port}}}]}]))
    r = routed(gw, "/echo/thing?q=1", 200, headers={"x-drop-me": "1", "Connection": "keep-alive, x-hop",
                                                    "x-hop": "secret", "x-request-id": "req-abc-123"})
    got = r.json()
    assert got["path"] == "/backend/thing?q=1"
    h = got["headers"]
    assert h["x-team"] == "a"
    assert "x-drop-me" not in h
    assert "x-hop" not in h, "a header named in Connection is hop-by-hop"
    assert h["x-forwarded-for"].split(",")[-1].strip() == "127.0.0.1"
    assert h["x-forwarded-proto"] == "http"
    assert "skiff" in h["via"]
    assert h["x-request-id"] == "req-abc-123"
    # The credential skiff consumed stays here (Istio's forwardOriginalToken: false); the
    # upstream learns who called from the identity header.
    assert "authorization" not in h
    assert h["kubeflow-userid"]
    assert r.headers["x-served-by"] == "skiff"
    assert "x-upstream" not in r.headers
    assert r.headers["x-request-id"] == "req-abc-123"
    # The upstream (Python's http.server) sends its own Server and Date: the client gets skiff's,
    # once each.
    assert r.raw.headers.getlist("Server") == ["skiff"]
    assert len(r.raw.headers.getlist("Date")) == 1
    # The access log names the route, the upstream, the user and the request id.
    line = gw.out.wait_for(r'"GET /echo/thing\?q=1 HTTP/1.1" 200 .*"req-abc-123".*', timeout=5).group(0)
    assert f"127.0.0.1:{upstream.port}" in line
    assert "echo-route" in line
    assert '"admin"' in line or "admin" in line


def test_weighted_split_follows_the_weights(gw):
    a, b = Upstream("a"), Upstream("b")
    try:
        put_vs(gw, vs("split", "default", [{
            "match": [{"uri": {"prefix": "/split"}}],
            "route": [{"destination": {"host": "127.0.0.1", "port": {"number": a.port}}, "weight": 80},
                      {"destination": {"host": "127.0.0.1", "port": {"number": b.port}}, "weight": 20}]}]))
        routed(gw, "/split", 200)
        counts = {"a": 0, "b": 0}
        with requests.Session() as s:
            for _ in range(400):
                r = s.get(gw.url + "/split", headers=gw.headers(), timeout=10)
                counts[r.json()["name"]] += 1
        # 80% of 400 = 320; a binomial's standard deviation here is 8.
        assert 280 <= counts["a"] <= 360, counts
    finally:
        a.stop()
        b.stop()


def test_upstream_failures_time_outs_and_retries(gw, upstream):
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()  # nothing listens there now
    put_vs(gw, vs("failures", "default", [
        {"match": [{"uri": {"prefix": "/slow"}}], "timeout": "0.3s",
         "route": [{"destination": {"host": "127.0.0.1", "port": {"number": upstream.port}}}]},
        {"match": [{"uri": {"prefix": "/flaky"}}],
         "retries": {"attempts": 3, "retryOn": "5xx"},
         "route": [{"destination": {"host": "127.0.0.1", "port": {"number": upstream.port}}}]},
        {"match": [{"uri": {"prefix": "/dead"}}],
         "route": [{"destination": {"host": "127.0.0.1", "port": {"number": dead_port}}}]},
    ]))
    r = routed(gw, "/slow", 504)
    assert str(upstream.port) in r.text
    r = gw.request("GET", "/dead")
    assert r.status_code in (502, 503)
    assert f"127.0.0.1:{dead_port}" in r.text
    upstream.flaky = 2
    r = gw.request("GET", "/flaky")
    assert r.status_code == 200, r.text
    assert sum(1 for m, p, h in upstream.requests if p == "/flaky") == 3
    upstream.flaky = 10
    r = gw.request("GET", "/flaky")
    assert r.status_code == 503  # 1 try + 3 retries, all failed: the last answer


def test_redirect_direct_response_fault_and_header_matches(gw):
    put_vs(gw, vs("semantics", "default", [
        {"match": [{"uri": {"exact": "/old"}}], "redirect": {"uri": "/new", "redirectCode": 308}},
        {"match": [{"uri": {"prefix": "/hello"}, "headers": {"x-canary": {"exact": "yes"}}}],
         "directResponse": {"status": 200, "body": {"string": "canary"}}},
        {"match": [{"uri": {"prefix": "/hello"}}],
         "directResponse": {"status": 200, "body": {"string": "stable"}}},
        {"match": [{"uri": {"prefix": "/broken"}, "method": {"exact": "POST"}}],
         "fault": {"abort": {"httpStatus": 418, "percentage": {"value": 100}}},
         "directResponse": {"status": 200, "body": {"string": "never"}}},
        {"match": [{"uri": {"prefix": "/q"}, "queryParams": {"v": {"regex": "[0-9]+"}}}],
         "directResponse": {"status": 202, "body": {"string": "numeric"}}},
    ]))
    r = routed(gw, "/old", 308)
    assert r.headers["Location"].endswith("/new")
    assert gw.request("GET", "/hello", headers={"x-canary": "yes"}).text == "canary"
    assert gw.request("GET", "/hello").text == "stable"
    assert gw.request("POST", "/broken").status_code == 418
    assert gw.request("GET", "/broken").status_code == 404  # the method did not match
    assert gw.request("GET", "/q?v=42").status_code == 202
    assert gw.request("GET", "/q?v=x").status_code == 404


def test_no_route_answers_404_with_candidates(gw):
    put_vs(gw, vs("near", "default", [
        {"match": [{"uri": {"prefix": "/models/alpha"}}],
         "directResponse": {"status": 200, "body": {"string": "alpha"}}}]))
    routed(gw, "/models/alpha", 200)
    r = gw.request("GET", "/models/alphx")
    assert r.status_code == 404
    body = r.json()
    assert "default/near[0]" in body["candidates"], body
    # (A browser's GET there gets the dashboard: the HTML 404 is for the methods it does not take.)
    r = gw.request("POST", "/models/alphx", headers={"Accept": "text/html"})
    assert r.status_code == 404 and r.headers["Content-Type"].startswith("text/html")
    assert "skiff routes explain" in r.text


def raw_get(port, target, extra=b""):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + extra + b"\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data


def test_path_normalization_cannot_bypass_a_route(gw):
    put_vs(gw, vs("guard", "default", [
        {"match": [{"uri": {"prefix": "/private"}}],
         "directResponse": {"status": 403, "body": {"string": "guarded"}}},
        {"match": [{"uri": {"prefix": "/"}}],
         "directResponse": {"status": 200, "body": {"string": "open"}}}]))
    routed(gw, "/private/x", 403)
    port = int(gw.url.rsplit(":", 1)[1])
    token = b"Authorization: Bearer " + gw.token.encode() + b"\r\n"
    for target in [b"//private/x", b"/./private/x", b"/x/../private/x", b"/%70rivate/x",
                   b"/public/%2e%2e/private/x", b"///private//x"]:
        status, data = raw_get(port, target, token)
        assert status == 403 and b"guarded" in data, (target, data[:200])
    for target in [b"/private%2Fx", b"/x/..%2Fprivate", b"/x%5C..%5Cprivate", b"/../private",
                   b"/x/..;/private/x"]:
        status, data = raw_get(port, target, token)
        assert status == 400, (target, data[:200])
    # Case is significant unless the route says ignoreUriCase (Istio semantics).
    status, _ = raw_get(port, b"/PRIVATE/x", token)
    assert status == 200


def test_request_smuggling_is_refused(gw):
    port = int(gw.url.rsplit(":", 1)[1])
    auth = b"Authorization: Bearer " + gw.token.encode() + b"\r\n"
    attacks = [
        b"POST /healthz HTTP/1.1\r\nHost: a\r\n" + auth + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST /healthz HTTP/1.1\r\nHost: a\r\n" + auth + b"Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
        b"POST /healthz HTTP/1.1\r\nHost: a\r\n" + auth + b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
    ]
    smuggled = b"GET /readyz HTTP/1.1\r\nHost: a\r\n\r\n"
    for attack in attacks:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(attack + smuggled)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        assert data.startswith(b"HTTP/1.1 400") or data.startswith(b"HTTP/1.1 501"), data[:100]
        assert data.count(b"HTTP/1.1 ") == 1, "the smuggled request was answered"


def test_routes_list_and_explain(gw, upstream):
    put_vs(gw, vs("explained", "default", [
        {"name": "to-upstream", "match": [{"uri": {"prefix": "/up"}, "headers": {"x-env": {"exact": "test"}}}],
         "route": [{"destination": {"host": "127.0.0.1", "port": {"number": upstream.port}}}]},
        {"name": "moved", "match": [{"uri": {"exact": "/moved"}}], "redirect": {"uri": "/there"}},
    ], hosts=["example.com"]))
    routed(gw, "/moved", 301, headers={"Host": "example.com"})
    rows = gw.cli("routes", "list")
    assert rows.returncode == 0, rows.stderr
    text = rows.stdout
    # Match order: reserved platform routes, then VirtualServices, then model serving.
    assert text.index("healthz") < text.index("to-upstream") < text.index("serving")
    assert "VirtualService default/explained" in text
    listed = json.loads(gw.cli("routes", "list", "-o", "json").stdout)["routes"]
    assert [r["order"] for r in listed] == sorted(r["order"] for r in listed)

    def explain(*args):
        r = gw.cli("routes", "explain", *args)
        return r.returncode, r.stdout, r.stderr

    cases = [
        # (args, substrings expected in the text output)
        (["GET", "/healthz"], ["public", "service health"]),
        (["GET", "/api/v1/namespaces"],
         ["service api", "allow (rule bootstrap token)", 'list" namespaces in all namespaces']),
        (["GET", "http://example.com/up/x", "-H", "x-env: test"],
         ["to-upstream", f"upstream 127.0.0.1:{upstream.port}"]),
        (["GET", "http://example.com/up/x"], ["x-env"]),  # why the header match failed
        (["GET", "http://other.example/up/x", "-H", "x-env: test"], ["none: 404"]),
        (["GET", "http://example.com/moved"], ["redirect 301", "/there"]),
        (["GET", "/a/../../etc/passwd"], ["refused: 400"]),
        (["GET", "/nothing/here"], ["none: 404"]),
        (["GET", "/api/v1/namespaces", "--token", "not-a-valid-token"],
         ["refused", "401", "not a known token and not a JWT"]),
        (["GET", "/healthz", "--token", "not-a-valid-token"], ["public route"]),
        (["GET", "/api/v1/namespaces", "--as", "bob@example.com"],
         ["bob@example.com", "impersonation", "deny"]),
        # RBAC: a user with no role in "default" may not take its VirtualService's routes, and
        # may not call a model there; the check that decided is named.
        (["GET", "http://example.com/up/x", "-H", "x-env: test", "--as", "carol@example.com"],
         ["deny", "route of VirtualService default/explained"]),
        (["POST", "/serving/default/m/v1/models/m:predict", "--as", "carol@example.com"],
         ["service serving"]),
        (["POST", "/v1/models/absent:predict"], ["serving"]),
    ]
    for args, expected in cases:
        code, out, err = explain(*args)
        assert code == 0, (args, err)
        for e in expected:
            assert e in out, (args, e, out)
    # Bad input: a clear error and a non-zero exit.
    code, out, err = explain("GET", "no-slash")
    assert code != 0 and "url" in err


def trusted_header_skiff(tmpdir_path):
    """A started skiff that believes X-Forwarded-Email from loopback: tests act as any user."""
    cfg = os.path.join(tmpdir_path, "skiff.yaml")
    with open(cfg, "w") as f:
        f.write(textwrap.dedent("""\
            auth:
              trustedHeader:
                header: X-Forwarded-Email
                sources: [127.0.0.1/32]
            """))
    return Skiff(os.path.join(tmpdir_path, "data"), config=cfg).start()


def test_explain_as_another_user_is_for_admins(tmpdir_path):
    s = trusted_header_skiff(tmpdir_path)
    try:
        h = {"X-Forwarded-Email": "bob@example.com"}
        r = s.request("GET", "/api/skiff/explain?method=GET&url=/healthz&as=alice@example.com",
                      auth=False, headers=h)
        assert r.status_code == 403, r.text
        r = s.request("GET", "/api/skiff/explain?method=GET&url=/api/v1/namespaces", auth=False, headers=h)
        assert r.status_code == 200, r.text
        e = r.json()
        assert e["identity"]["principal"]["user"] == "bob@example.com"
        # RBAC: listing every namespace is cluster scope, which bob has no role for.
        assert e["authorization"]["result"] == "deny", e["authorization"]
        assert "list namespaces" in e["authorization"]["checks"][0]["attributes"]
    finally:
        s.stop()


def test_virtualservice_routes_follow_the_namespaces_rbac(tmpdir_path, upstream):
    """A VirtualService's routes may be taken by those who hold a role in its namespace (as
    Kubeflow's AuthorizationPolicies let a namespace's contributors reach its workloads): a user
    without one gets 403 naming the VirtualService; a view RoleBinding lets the next request
    through, and deleting it refuses the next request again."""
    s = trusted_header_skiff(tmpdir_path)
    try:
        r = s.request("POST", "/api/v1/namespaces",
                      json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-x"}})
        assert r.status_code == 201, r.text
        put_vs(s, vs("app", "team-x", [
            {"match": [{"uri": {"prefix": "/team-x/"}}],
             "route": [{"destination": {"host": "127.0.0.1", "port": {"number": upstream.port}}}]}]))
        routed(s, "/team-x/hello", 200)  # the admin (bootstrap token) may
        carol = {"X-Forwarded-Email": "carol@example.com"}
        r = s.request("GET", "/team-x/hello", auth=False, headers=carol)
        assert r.status_code == 403, r.text
        assert "VirtualService team-x/app" in r.json()["message"], r.text
        seen = len(upstream.requests)
        binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                   "metadata": {"name": "carol-view", "namespace": "team-x"},
                   "subjects": [{"kind": "User", "name": "carol@example.com"}],
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                               "name": "kubeflow-view"}}
        base = "/apis/rbac.authorization.k8s.io/v1/namespaces/team-x/rolebindings"
        r = s.request("POST", base, json=binding)
        assert r.status_code == 201, r.text
        r = s.request("GET", "/team-x/hello", auth=False, headers=carol)
        assert r.status_code == 200, r.text
        assert len(upstream.requests) == seen + 1
        r = s.request("DELETE", f"{base}/carol-view")
        assert r.status_code == 200, r.text
        r = s.request("GET", "/team-x/hello", auth=False, headers=carol)
        assert r.status_code == 403, r.text
        # Nor does anyone else without a role there get through.
        r = s.request("GET", "/team-x/hello", auth=False, headers={"X-Forwarded-Email": "dave@example.com"})
        assert r.status_code == 403, r.text
    finally:
        s.stop()


class WebSocketEcho:
    """A loopback upstream that accepts a WebSocket upgrade (RFC 6455 handshake) and then echoes
    every byte it receives (frames pass through the proxy untouched, so raw echo suffices)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.seen = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        import base64
        import hashlib
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(10)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                head += chunk
            self.seen.append(head)
            key = re.search(rb"(?i)sec-websocket-key:\s*(\S+)", head).group(1)
            accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
            rest = head.split(b"\r\n\r\n", 1)[1]
            if rest:
                conn.sendall(rest)
            try:
                while True:
                    data = conn.recv(65536)
                    if not data:
                        break
                    conn.sendall(data)
            except OSError:
                pass
            conn.close()

    def stop(self):
        self.sock.close()


def test_websocket_upgrade_passes_through(gw):
    echo = WebSocketEcho()
    try:
        put_vs(gw, vs("ws", "default", [{
            "match": [{"uri": {"prefix": "/ws"}}],
            "route": [{"destination": {"host": "127.0.0.1", "port": {"number": echo.port}}}]}]))
        port = int(gw.url.rsplit(":", 1)[1])

        def upgrade():
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /ws/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                      b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                      b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      b"Authorization: Bearer " + gw.token.encode() + b"\r\n\r\n")
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = s.recv(4096)
                if not chunk:
                    break
                head += chunk
            return s, head
        # The routing table picks the VirtualService up asynchronously.
        state = {}

        def switched():
            s, head = upgrade()
            if head.startswith(b"HTTP/1.1 101"):
                state["s"], state["head"] = s, head
                return True
            s.close()
            return False
        wait_until(switched, what="101 through the gateway")
        s, head = state["s"], state["head"]
        assert b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head  # the upstream's Sec-WebSocket-Accept
        # A masked text frame "hello" (client frames are masked), echoed byte for byte.
        frame = bytes([0x81, 0x85, 1, 2, 3, 4]) + bytes(b ^ m for b, m in zip(b"hello", [1, 2, 3, 4, 1]))
        for _ in range(3):
            s.sendall(frame)
            got = b""
            while len(got) < len(frame):
                got += s.recv(4096)
            assert got == frame
        s.close()
        assert b"upgrade" in echo.seen[-1].lower()
    finally:
        echo.stop()


def _peer_cert_der(port, ca):
    import ssl
    ctx = ssl.create_default_context(cafile=ca)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return s.getpeercert(binary_form=True)


def test_sighup_reloads_the_tls_certificate_without_dropping_connections(tmpdir_path):
    import shutil
    import ssl
    from conftest import make_test_ca
    first = make_test_ca(os.path.join(tmpdir_path, "first"))
    live = os.path.join(tmpdir_path, "live")
    os.makedirs(live)
    cert, key = os.path.join(live, "tls.crt"), os.path.join(live, "tls.key")
    shutil.copy(first[1], cert)
    shutil.copy(first[2], key)
    s = Skiff(os.path.join(tmpdir_path, "data"),
              env={"SKIFF_TLS_MODE": "files", "SKIFF_TLS_CERT_FILE": cert, "SKIFF_TLS_KEY_FILE": key}).start()
    try:
        port = int(s.url.rsplit(":", 1)[1])
        before = _peer_cert_der(port, first[0])
        # A keep-alive HTTPS connection opened before the reload.
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=5,
                                           context=ssl.create_default_context(cafile=first[0]))
        conn.request("GET", "/healthz")
        assert conn.getresponse().read() == b"ok\n"
        second = make_test_ca(os.path.join(tmpdir_path, "second"))
        shutil.copy(second[1], cert)
        shutil.copy(second[2], key)
        s.proc.send_signal(signal.SIGHUP)
        s.err.wait_for("TLS certificate reloaded", timeout=10)
        after = _peer_cert_der(port, second[0])
        assert after != before
        # The old connection still works, on its old certificate.
        conn.request("GET", "/healthz")
        assert conn.getresponse().read() == b"ok\n"
        conn.close()
        # A broken pair is refused and the current certificate stays.
        with open(key, "w") as f:
            f.write("not a key\n")
        s.proc.send_signal(signal.SIGHUP)
        s.err.wait_for("TLS certificate not reloaded", timeout=10)
        assert _peer_cert_der(port, second[0]) == after
        assert s.proc.poll() is None
    finally:
        s.stop()


def test_large_bodies_stream_to_upstreams_and_are_limited_in_process(gw, upstream):
    put_vs(gw, vs("upload", "default", [{
        "match": [{"uri": {"prefix": "/upload"}}],
        "route": [{"destination": {"host": "127.0.0.1", "port": {"number": upstream.port}}}]}]))
    routed(gw, "/upload", 200)
    body = b"x" * (20 * 1024 * 1024)  # more than http.maxBodyBytes (8 MiB)
    r = gw.request("PUT", "/upload", data=body, timeout=60)
    assert r.status_code == 200, r.text[:200]
    assert r.json()["body_len"] == len(body)

    def chunks():
        for _ in range(20):
            yield b"y" * (1024 * 1024)
    r = gw.request("POST", "/upload", data=chunks(), timeout=60)  # chunked upload
    assert r.status_code == 200, r.text[:200]
    assert r.json()["body_len"] == 20 * 1024 * 1024
    assert r.json()["headers"]["transfer-encoding"] == "chunked"  # streamed, not buffered
    # In-process services keep the listener's body limit: refused from the header alone.
    port = int(gw.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"POST /api/v1/namespaces HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
                  b"Authorization: Bearer " + gw.token.encode() + b"\r\n"
                  b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 413")


def test_http_listener_redirects_to_https(tmpdir_path):
    from conftest import make_test_ca
    ca, cert, key = make_test_ca(os.path.join(tmpdir_path, "tls"))
    s = Skiff(os.path.join(tmpdir_path, "data"),
              env={"SKIFF_TLS_MODE": "files", "SKIFF_TLS_CERT_FILE": cert, "SKIFF_TLS_KEY_FILE": key,
                   "SKIFF_TLS_REDIRECT_ADDR": "127.0.0.1:0"}).start()
    try:
        port = int(s.url.rsplit(":", 1)[1])
        redirect_port = int(s.out.wait_for(r"HTTP redirect listener on port (\d+)").group(1))
        r = requests.post(f"http://127.0.0.1:{redirect_port}/v1/models/iris:predict?x=1",
                          allow_redirects=False, timeout=5)
        assert r.status_code == 308
        assert r.headers["Location"] == f"https://127.0.0.1:{port}/v1/models/iris:predict?x=1"
        r = requests.get(f"http://127.0.0.1:{redirect_port}/healthz", allow_redirects=True, timeout=5,
                         verify=ca)
        assert r.status_code == 200 and r.url.startswith("https://")
    finally:
        s.stop()
