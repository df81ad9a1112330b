"""The authorization matrix beyond the resource API (issue 6): the users and roles of test_rbac
(alice owns team-a and edits team-b, vic views team-a, dana edits team-a/team-b by the
`datascience` group, val views team-b by the `validator` group, root is a cluster admin by the
`admin` group, nobody has nothing) x every endpoint family that is not CRUD -- V1 predict by the
model's Host, V2 infer by path, V1 readiness by the path-based KFServing URL, a VirtualService
route re-entering to the model, `routes explain` asked by the user themself, the model list, and
the kfam API -- x own / shared / foreign namespace. Every cell is asserted allow or deny, and a
denial names the user (serving answers {"error": ...}, the gateway a metav1-like Status).

Each namespace serves a real model named "iris" (so the name alone is ambiguous and the Host or
path must say which namespace), and has a VirtualService `/rbac-ep/NS/...` that re-enters skiff
as the model's cluster-local host, the way Kubeflow's path-based setups do.
"""
import json

import pytest

from conftest import wait_until
from test_rbac import NAMESPACES, ROLES, USERS, env  # noqa: F401 (the module's fixture)
from test_serving import IRIS, apply, isvc_yaml, iris_svc, wait_ready

V2_IRIS = {"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64",
                       "data": [6.8, 2.8, 4.8, 1.4]}]}


def vs(ns):
    return {"apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
            "metadata": {"name": "iris-path", "namespace": ns},
            "spec": {"hosts": ["*"],
                     "http": [{"match": [{"uri": {"prefix": f"/rbac-ep/{ns}/iris"}}],
                               "rewrite": {"uri": "/v1/models/iris"},
                               "route": [{"destination": {
                                   "host": "cluster-local-gateway.istio-system.svc.cluster.local"},
                                   "headers": {"request": {"set": {
                                       "Host": f"iris-predictor-default.{ns}.svc.cluster.local"}}}}]}]}}


@pytest.fixture(scope="module")
def served(env, tmp_path_factory):  # noqa: F811 (pytest fixture)
    model = iris_svc(str(tmp_path_factory.mktemp("iris")))
    for ns in NAMESPACES:
        apply(env.skiff, isvc_yaml("iris", "file://" + model, ns=ns))
        r = env.admin("POST", f"/apis/networking.istio.io/v1beta1/namespaces/{ns}/virtualservices",
                      json=vs(ns))
        assert r.status_code == 201, r.text
    for ns in NAMESPACES:
        wait_ready(env.skiff, "iris", ns)
    return env


def test_model_calls_and_routes_matrix(served):
    """user x namespace x (V1 predict by Host, V2 infer by path, V1 readiness by /kfserving,
    VirtualService route to the model, explain of that route): every role of a namespace may
    call its model (view includes predict); nobody else may, whichever URL names it."""
    env = served
    wrong = []
    for user in USERS:
        email = USERS[user]["email"]
        for ns in NAMESPACES:
            want = ROLES[user].get(ns) is not None
            cell = f"{user}/{ns}"
            calls = [
                ("v1 predict by Host", "POST", "/v1/models/iris:predict",
                 {"json": IRIS, "headers": {"Host": f"iris.{ns}.example.com"}}),
                ("v2 infer by path", "POST", f"/serving/{ns}/iris/v2/models/iris/infer",
                 {"json": V2_IRIS}),
                ("v1 ready by /kfserving", "GET", f"/kfserving/{ns}/iris", {}),
                ("VirtualService route", "POST", f"/rbac-ep/{ns}/iris:predict", {"json": IRIS}),
            ]
            for what, method, path, kw in calls:
                r = env.call(user, method, path, **kw)
                if want and r.status_code != 200:
                    wrong.append(f"{cell} {what}: want 200, got {r.status_code} {r.text[:200]}")
                elif not want:
                    text = r.text
                    if r.status_code != 403:
                        wrong.append(f"{cell} {what}: want 403, got {r.status_code} {text[:200]}")
                    elif email not in text:
                        wrong.append(f"{cell} {what}: the denial does not name {email}: {text}")
            # The user asks explain about the same route, with their own token.
            r = env.call(user, "GET", "/api/skiff/explain",
                         params={"method": "POST", "url": f"/rbac-ep/{ns}/iris:predict"})
            if r.status_code != 200:
                wrong.append(f"{cell} explain: {r.status_code} {r.text[:200]}")
                continue
            a = r.json()["authorization"]
            if a["result"] != ("allow" if want else "deny"):
                wrong.append(f"{cell} explain: {a}")
            elif want and len(a.get("checks", [])) != 2:
                wrong.append(f"{cell} explain: want the route's and the model's checks: {a}")
    assert not wrong, "\n".join(wrong)


def test_model_list_shows_only_namespaces_with_a_role(served):
    env = served
    for user in USERS:
        r = env.call(user, "GET", "/v1/models")
        assert r.status_code == 200, (user, r.text)
        expected = ["iris"] if ROLES[user] else []
        assert r.json()["models"] == expected, (user, r.text)
        # A name alone is looked up among the models the user may read: ambiguous for those
        # with several namespaces, the one namespace's model for those with one, and for nobody
        # no model at all (nothing tells which namespaces have one).
        r = env.call(user, "POST", "/v1/models/iris:predict", json=IRIS)
        visible = [ns for ns in NAMESPACES if ROLES[user].get(ns)]
        if not visible:
            assert r.status_code == 404 and "team-" not in r.text, (user, r.text)
        elif len(visible) == 1:
            assert r.status_code == 200, (user, r.text)
        else:
            assert r.status_code == 400, (user, r.text)
            assert "exists in namespaces " + ", ".join(visible) + ":" in r.text, (user, r.text)


def test_kfam_contributors_matrix(served):
    """kfam: only the namespace's kubeflow-admins and cluster admins add or remove contributors;
    listing shows a namespace's bindings to those who may list RoleBindings there."""
    env = served
    wrong = []
    for ns in NAMESPACES:  # a contributor added through kfam, for the listings below
        probe = {"user": {"kind": "User", "name": f"probe-{ns}@example.com"},
                 "referredNamespace": ns, "RoleRef": {"kind": "ClusterRole", "name": "view"}}
        r = env.admin("POST", "/kfam/v1/bindings", json=probe)
        assert r.status_code == 200, r.text
    for user in USERS:
        for ns in NAMESPACES:
            role = ROLES[user].get(ns)
            guest = f"guest-{user}@example.com"
            b = {"user": {"kind": "User", "name": guest}, "referredNamespace": ns,
                 "RoleRef": {"kind": "ClusterRole", "name": "view"}}
            r = env.call(user, "POST", "/kfam/v1/bindings", json=b)
            may_manage = role in ("admin", "cluster")
            if may_manage != (r.status_code == 200):
                wrong.append(f"{user}/{ns} add: got {r.status_code} {r.text[:200]}")
            if r.status_code == 200:
                got = env.admin("GET", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/"
                                "rolebindings")
                names = [i["metadata"]["name"] for i in got.json()["items"]]
                if not any(guest.split("@")[0] in n for n in names):
                    wrong.append(f"{user}/{ns} add: no RoleBinding for {guest}: {names}")
            r = env.call(user, "GET", "/kfam/v1/bindings", params={"namespace": ns})
            if r.status_code != 200:
                wrong.append(f"{user}/{ns} list: {r.status_code} {r.text[:200]}")
            else:
                users = {bd["user"]["name"] for bd in r.json().get("bindings", [])}
                sees_all = role is not None  # every role may list RoleBindings (view reads them)
                if sees_all and f"probe-{ns}@example.com" not in users:
                    wrong.append(f"{user}/{ns} list: the probe contributor is missing: {users}")
                if not sees_all and users - {USERS[user]["email"]}:
                    wrong.append(f"{user}/{ns} list: sees {users}")
            if r.status_code == 200 and may_manage:
                r = env.call(user, "DELETE", "/kfam/v1/bindings", json=b)
                if r.status_code != 200:
                    wrong.append(f"{user}/{ns} remove: {r.status_code} {r.text[:200]}")
    assert not wrong, "\n".join(wrong)


def test_a_namespace_cannot_capture_another_namespaces_model_urls(served):
    """alice (admin of team-a) applies a catch-all VirtualService in team-a for every
    /kfserving/ path and every host: team-b's model URLs, by path or by the model's Host or
    in-cluster host, still reach team-b's model for val (team-b's viewer); only team-a's own
    URLs are caught."""
    env = served
    thief = {"apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
             "metadata": {"name": "catch-all", "namespace": "team-a"},
             "spec": {"hosts": ["*"],
                      "http": [{"match": [{"uri": {"prefix": "/kfserving/"}},
                                          {"uri": {"prefix": "/v1/models/"}}],
                                "directResponse": {"status": 200, "body": {"string": "stolen"}}}]}}
    path = "/apis/networking.istio.io/v1beta1/namespaces/team-a/virtualservices"
    r = env.call("alice", "POST", path, json=thief)
    assert r.status_code == 201, r.text
    try:
        def caught():
            return env.call("alice", "POST", "/kfserving/team-a/iris:predict", json=IRIS).text == "stolen"
        wait_until(caught, timeout=10, what="the catch-all in the routing table")
        for how, p, host in [("path", "/kfserving/team-b/iris:predict", None),
                             ("model Host", "/v1/models/iris:predict", "iris.team-b.example.com"),
                             ("in-cluster Host", "/v1/models/iris:predict",
                              "iris-predictor-default.team-b.svc.cluster.local")]:
            headers = {"Host": host} if host else {}
            r = env.call("val", "POST", p, json=IRIS, headers=headers)
            assert r.status_code == 200 and "predictions" in r.json(), (how, r.text)
    finally:
        env.admin("DELETE", f"{path}/catch-all")


def test_skiff_contributors_and_explain_as_a_group_member(served):
    """`skiff contributors` shares a namespace through kfam with the server's rules: the owner
    adds and removes, a viewer may not; `routes explain --as --as-group` decides with the
    group's mapped role."""
    env = served
    r = env.skiff_cli("alice", "contributors", "add", "team-a", "newbie@example.com", "--role", "view")
    assert r.returncode == 0, r.stderr
    assert "newbie@example.com is now a contributor of team-a (view)" in r.stdout
    r = env.skiff_cli("vic", "contributors", "list", "team-a")
    assert r.returncode == 0, r.stderr
    rows = [line.split() for line in r.stdout.splitlines()[1:]]
    assert ["newbie@example.com", "view"] in rows, r.stdout
    r = env.skiff_cli("vic", "contributors", "add", "team-a", "other@example.com")
    assert r.returncode == 1 and "HTTP 403" in r.stderr and "needs kubeflow-admin" in r.stderr, r.stderr
    r = env.skiff_cli("alice", "contributors", "remove", "team-a", "newbie@example.com")
    assert r.returncode == 0, r.stderr
    r = env.skiff_cli("alice", "contributors", "list", "team-a")
    assert "newbie@example.com" not in r.stdout, r.stdout
    r = env.skiff_cli("alice", "contributors", "remove", "team-a", "newbie@example.com")
    assert r.returncode == 1 and "not a contributor" in r.stderr, r.stderr
    r = env.skiff_cli("alice", "contributors", "add", "team-a", "x@example.com", "--role", "owner")
    assert r.returncode == 1 and "use view, edit or admin" in r.stderr, r.stderr
    # Explain as a member of the validator group (view in team-b only), asked by the admin.
    for ns, verdict in [("team-b", "allow"), ("team-a", "deny")]:
        r = env.skiff.cli("routes", "explain", "POST", f"/serving/{ns}/iris/v1/models/iris:predict",
                          "--as", "someone@example.com", "--as-group", "validator", "-o", "json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["authorization"]["result"] == verdict, (ns, r.stdout)
