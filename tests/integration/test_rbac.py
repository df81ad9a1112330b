"""RBAC on the resource API through the real binary (issue 6): users in each role and group x
resource API CRUD per kind (Namespace, RoleBinding, InferenceService, VirtualService) x own /
shared / foreign namespace, every cell asserted allow or deny (and a denied write checked to have
changed nothing); the cross-namespace tricks; kubectl and skiff `auth can-i`; a view contributor
added and removed with kubectl, the removal counting on the very next request.

Users authenticate with Bearer JWTs of an external issuer (keys made here, JWKS served over
HTTPS, as test_auth_jwt does); their groups come from the token's `groups` claim and are mapped
by `authz.groups`. The bootstrap admin token sets the stage.
"""
import http.client
import json
import os
import subprocess
import urllib.parse

import pytest
import requests
import yaml

from conftest import KUBECTL, SKIFF, Kubectl, Skiff
from test_auth_jwt import AUDIENCE, ISSUER, JwksServer, Keys, claims, sign

ISVC = "/apis/serving.kserve.io/v1beta1/namespaces/{ns}/inferenceservices"
VS = "/apis/networking.istio.io/v1beta1/namespaces/{ns}/virtualservices"
RB = "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings"
KINDS = {"inferenceservices": ISVC, "virtualservices": VS, "rolebindings": RB}

# Who holds what where. alice owns team-a (kubeflow-admin), is a contributor of team-b
# (kubeflow-edit) and has nothing in team-c; the others come from RoleBindings or groups.
USERS = {
    "alice": {"email": "alice@example.com", "groups": []},
    "vic": {"email": "vic@example.com", "groups": []},
    "dana": {"email": "dana@example.com", "groups": ["datascience"]},
    "val": {"email": "val@example.com", "groups": ["validator"]},
    "root": {"email": "root@example.com", "groups": ["admin"]},
    "nobody": {"email": "nobody@example.com", "groups": ["unmapped"]},
}
ROLES = {
    "alice": {"team-a": "admin", "team-b": "edit"},
    "vic": {"team-a": "view"},
    "dana": {"team-a": "edit", "team-b": "edit"},
    "val": {"team-b": "view"},
    "root": {"team-a": "cluster", "team-b": "cluster", "team-c": "cluster"},
    "nobody": {},
}
NAMESPACES = ["team-a", "team-b", "team-c"]

CONFIG = """
auth:
  login: "off"
  jwt:
    - issuer: {issuer}
      audiences: [{audience}]
      jwksURI: {jwks}
      caFile: {ca}
      algorithms: [RS256]
authz:
  groups:
    admin: {{clusterAdmin: true}}
    datascience: {{role: kubeflow-edit, namespaces: [team-a, team-b]}}
    validator: {{role: kubeflow-view, namespaces: [team-b]}}
"""


def body(kind, name, labels=None, namespace=None):
    md = {"name": name, "labels": labels or {"rbac-test": "yes"}}
    if namespace:
        md["namespace"] = namespace
    if kind == "inferenceservices":
        return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
                "metadata": md,
                "spec": {"predictor": {"sklearn": {"storageUri": "file:///nonexistent/model"}}}}
    if kind == "virtualservices":
        return {"apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
                "metadata": md,
                "spec": {"hosts": ["*"], "gateways": ["kubeflow/kubeflow-gateway"],
                         "http": [{"match": [{"uri": {"prefix": f"/rbac-test/{name}/"}}],
                                   "route": [{"destination": {
                                       "host": "nowhere.example.svc.cluster.local"}}]}]}}
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": md,
            "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io",
                          "name": "somebody@example.com"}],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "kubeflow-view"}}


def binding(name, user, role):
    b = body("rolebindings", name)
    b["subjects"][0]["name"] = user
    b["roleRef"]["name"] = role
    return b


class Env:
    def call(self, who, method, path, **kw):
        headers = kw.pop("headers", {})
        if who is not None:
            headers["Authorization"] = f"Bearer {self.tokens[who]}"
        if method == "PATCH":
            headers.setdefault("Content-Type", "application/merge-patch+json")
        kw.setdefault("timeout", 30)
        return requests.request(method, self.skiff.url + path, headers=headers, **kw)

    def admin(self, method, path, **kw):
        headers = kw.pop("headers", {})
        headers["Authorization"] = f"Bearer {self.skiff.token}"
        if method == "PATCH":
            headers.setdefault("Content-Type", "application/merge-patch+json")
        return requests.request(method, self.skiff.url + path, headers=headers, timeout=30, **kw)

    def kubectl(self, who):
        return self.kubectls[who]

    def skiff_cli(self, who, *args):
        token = self.tokens[who] if who != "admin" else self.skiff.token
        return subprocess.run([SKIFF, *args, "--server", self.skiff.url, "--token", token],
                              capture_output=True, text=True, timeout=60, env=self.skiff.env)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("rbac"))
    e = Env()
    e.keys = Keys()
    e.jwks = JwksServer(d, e.keys)
    cfg = os.path.join(d, "skiff.yaml")
    with open(cfg, "w") as f:
        f.write(CONFIG.format(issuer=ISSUER, audience=AUDIENCE, jwks=e.jwks.url, ca=e.jwks.ca))
    s = Skiff(os.path.join(d, "data"), config=cfg)
    try:
        s.start()
        e.skiff = s
        e.tokens = {}
        for user, u in USERS.items():
            payload = claims(email=u["email"], sub=user, groups=u["groups"])
            payload["exp"] = payload["iat"] + 3600
            e.tokens[user] = sign(e.keys, payload)
        # Namespaces and the RoleBindings of the table above.
        for ns in NAMESPACES:
            r = e.admin("POST", "/api/v1/namespaces",
                        json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
            assert r.status_code == 201, r.text
        for ns, name, user, role in [("team-a", "alice-admin", "alice@example.com", "kubeflow-admin"),
                                     ("team-b", "alice-edit", "alice@example.com", "kubeflow-edit"),
                                     ("team-a", "vic-view", "vic@example.com", "kubeflow-view")]:
            r = e.admin("POST", RB.format(ns=ns), json=binding(name, user, role))
            assert r.status_code == 201, r.text
        # One kubeconfig per user: skiff's own (https with its CA), with the user's token.
        kc = yaml.safe_load(s.cli("kubeconfig", check=True).stdout)
        e.kubectls = {}
        for user in list(USERS) + ["admin"]:
            doc = json.loads(json.dumps(kc))
            doc["users"][0]["user"] = {"token": e.tokens.get(user, s.token)}
            path = os.path.join(d, f"kubeconfig-{user}")
            with open(path, "w") as f:
                yaml.safe_dump(doc, f)
            e.kubectls[user] = Kubectl(path, os.path.join(d, f"kube-cache-{user}"))
        yield e
    finally:
        rc = s.stop()
        e.jwks.stop()
    assert rc == 0


def allowed(role, kind, op):
    if role == "cluster" or role == "admin":
        return True
    if role is None:
        return False
    if op in ("get", "list"):
        return True
    return role == "edit" and kind != "rolebindings"


def test_crud_matrix_per_kind_and_namespace(env):
    """Every user x namespaced kind x namespace x verb (get, list, patch, update, create,
    delete): allowed exactly as its role says; a denied request is a 403 Forbidden naming the
    user, and changes nothing."""
    wrong = []
    for user in USERS:
        email = USERS[user]["email"]
        for kind, path in KINDS.items():
            for ns in NAMESPACES:
                role = ROLES[user].get(ns)
                coll = path.format(ns=ns)
                pre, new = f"pre-{user}", f"new-{user}"
                r = env.admin("POST", coll, json=body(kind, pre))
                assert r.status_code == 201, r.text
                cell = f"{user}/{kind}/{ns}"

                def check(op, resp, ok_code):
                    want = allowed(role, kind, op)
                    if want and resp.status_code != ok_code:
                        wrong.append(f"{cell} {op}: want {ok_code}, got {resp.status_code} "
                                     f"{resp.text[:200]}")
                    elif not want:
                        if resp.status_code != 403:
                            wrong.append(f"{cell} {op}: want 403, got {resp.status_code}")
                        else:
                            st = resp.json()
                            if st.get("reason") != "Forbidden" or \
                                    f'User "{email}" cannot' not in st.get("message", ""):
                                wrong.append(f"{cell} {op}: bad Status {st}")
                    return want

                check("get", env.call(user, "GET", f"{coll}/{pre}"), 200)
                r = env.call(user, "GET", coll)
                if check("list", r, 200) and r.status_code == 200:
                    names = {i["metadata"]["namespace"] for i in r.json()["items"]}
                    if names - {ns}:
                        wrong.append(f"{cell} list: items of {names - {ns}}")
                r = env.call(user, "PATCH", f"{coll}/{pre}",
                             data=json.dumps({"metadata": {"labels": {"touched": user}}}))
                if not check("patch", r, 200):
                    got = env.admin("GET", f"{coll}/{pre}").json()
                    if "touched" in got["metadata"].get("labels", {}):
                        wrong.append(f"{cell} patch: denied but written")
                current = env.admin("GET", f"{coll}/{pre}").json()
                current["metadata"].pop("resourceVersion", None)  # status writes may race
                current["metadata"].setdefault("annotations", {})["put-by"] = user
                r = env.call(user, "PUT", f"{coll}/{pre}", json=current)
                if not check("update", r, 200):
                    got = env.admin("GET", f"{coll}/{pre}").json()
                    if "put-by" in got["metadata"].get("annotations", {}):
                        wrong.append(f"{cell} update: denied but written")
                r = env.call(user, "POST", coll, json=body(kind, new))
                if not check("create", r, 201):
                    if env.admin("GET", f"{coll}/{new}").status_code != 404:
                        wrong.append(f"{cell} create: denied but written")
                r = env.call(user, "DELETE", f"{coll}/{pre}")
                if not check("delete", r, 200):
                    if env.admin("GET", f"{coll}/{pre}").status_code != 200:
                        wrong.append(f"{cell} delete: denied but deleted")
    assert not wrong, "\n".join(wrong)


def test_namespaces_are_cluster_scoped(env):
    wrong = []
    for user in USERS:
        admin = user == "root"
        for ns in NAMESPACES:
            want = admin or ns in ROLES[user]
            r = env.call(user, "GET", f"/api/v1/namespaces/{ns}")
            if (r.status_code == 200) != want or r.status_code not in (200, 403):
                wrong.append(f"{user} get namespace {ns}: {r.status_code}")
            r = env.call(user, "PATCH", f"/api/v1/namespaces/{ns}",
                         data=json.dumps({"metadata": {"labels": {"by": user}}}))
            if (r.status_code == 200) != admin:
                wrong.append(f"{user} patch namespace {ns}: {r.status_code}")
        r = env.call(user, "GET", "/api/v1/namespaces")
        if (r.status_code == 200) != admin:
            wrong.append(f"{user} list namespaces: {r.status_code}")
        name = f"ns-{user}"
        r = env.call(user, "POST", "/api/v1/namespaces",
                     json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        if (r.status_code == 201) != admin:
            wrong.append(f"{user} create namespace: {r.status_code}")
        if not admin:
            assert env.admin("GET", f"/api/v1/namespaces/{name}").status_code == 404
            env.admin("POST", "/api/v1/namespaces",
                      json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        r = env.call(user, "DELETE", f"/api/v1/namespaces/{name}")
        if (r.status_code == 200) != admin:
            wrong.append(f"{user} delete namespace: {r.status_code}")
        if not admin:
            assert env.admin("GET", f"/api/v1/namespaces/{name}").status_code == 200
    assert not wrong, "\n".join(wrong)
    r = env.call("alice", "GET", "/api/v1/namespaces")
    assert r.json()["message"] == (
        'namespaces is forbidden: User "alice@example.com" cannot list resource "namespaces" in '
        'API group "" at the cluster scope: only cluster admins may list across all namespaces; '
        'name a namespace where you hold a role (-n NS)')


def test_body_namespace_must_match_the_path(env):
    b = body("inferenceservices", "smuggled", namespace="team-c")
    r = env.call("alice", "POST", ISVC.format(ns="team-a"), json=b)
    assert r.status_code == 400, r.text
    assert "does not match the namespace" in r.json()["message"]
    for ns in ("team-a", "team-c"):
        assert env.admin("GET", ISVC.format(ns=ns) + "/smuggled").status_code == 404
    # The other way round: the path decides, and team-c is not hers.
    b = body("inferenceservices", "smuggled", namespace="team-a")
    r = env.call("alice", "POST", ISVC.format(ns="team-c"), json=b)
    assert r.status_code == 403
    # An update that moves an object's namespace in the body.
    assert env.call("alice", "POST", ISVC.format(ns="team-a"),
                    json=body("inferenceservices", "mine")).status_code == 201
    got = env.call("alice", "GET", ISVC.format(ns="team-a") + "/mine").json()
    got["metadata"]["namespace"] = "team-c"
    del got["metadata"]["resourceVersion"]  # the serving controller writes status meanwhile
    r = env.call("alice", "PUT", ISVC.format(ns="team-a") + "/mine", json=got)
    assert r.status_code == 400, r.text
    assert env.admin("GET", ISVC.format(ns="team-c") + "/mine").status_code == 404
    # A RoleBinding created by team-a's admin lands in team-a only and grants nothing elsewhere.
    b = binding("sneaky", "alice@example.com", "kubeflow-admin")
    b["metadata"]["namespace"] = "team-c"
    r = env.call("alice", "POST", RB.format(ns="team-a"), json=b)
    assert r.status_code == 400
    assert env.call("alice", "GET", ISVC.format(ns="team-c")).status_code == 403


def raw_get(env, who, path):
    """GET with the path sent exactly as written (no client-side normalization)."""
    u = urllib.parse.urlsplit(env.skiff.url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        c.putrequest("GET", path, skip_accept_encoding=True)
        c.putheader("Authorization", f"Bearer {env.tokens[who]}")
        c.endheaders()
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


def test_dot_segments_and_encoded_slashes_do_not_escape(env):
    env.admin("POST", ISVC.format(ns="team-c"), json=body("inferenceservices", "secret-c"))
    paths = [
        "/apis/serving.kserve.io/v1beta1/namespaces/team-a/../team-c/inferenceservices",
        "/apis/serving.kserve.io/v1beta1/namespaces/team-a/inferenceservices/../../team-c/"
        "inferenceservices/secret-c",
        "/apis/serving.kserve.io/v1beta1/namespaces/team-a%2F..%2Fteam-c/inferenceservices",
        "/apis/serving.kserve.io/v1beta1/namespaces/team-a/%2E%2E/team-c/inferenceservices",
        "/apis/serving.kserve.io/v1beta1/namespaces/team-c%2Finferenceservices",
        "/api/v1/namespaces/team-a/../../namespaces",
        "/apis/serving.kserve.io/v1beta1/namespaces/team-a/..;/team-c/inferenceservices",
    ]
    for p in paths:
        status, text = raw_get(env, "alice", p)
        assert status in (400, 403, 404), (p, status, text[:300])
        assert '"items"' not in text and '"spec"' not in text, p
    # The same paths as the owner of team-c's data (admin) show the normalization is real: the
    # first one is team-c's list, refused to alice only because team-c is not hers.
    status, text = raw_get(env, "root", paths[0])
    assert status == 200 and "secret-c" in text


def test_selectors_and_watches_do_not_widen_scope(env):
    env.admin("POST", VS.format(ns="team-c"), json=body("virtualservices", "secret-vs"))
    for p in [
        "/apis/serving.kserve.io/v1beta1/inferenceservices?labelSelector=rbac-test%3Dyes",
        "/apis/serving.kserve.io/v1beta1/inferenceservices?fieldSelector=metadata.namespace%3Dteam-a",
        "/apis/networking.istio.io/v1beta1/virtualservices",
        "/apis/serving.kserve.io/v1beta1/inferenceservices?watch=1",
        "/apis/serving.kserve.io/v1beta1/watch/inferenceservices",
        "/apis/serving.kserve.io/v1beta1/watch/namespaces/team-c/inferenceservices",
        "/api/v1/watch/namespaces",
        "/api/v1/namespaces?watch=true",
        "/apis/rbac.authorization.k8s.io/v1/rolebindings",
    ]:
        r = env.call("alice", "GET", p, stream=True)
        try:
            assert r.status_code == 403, (p, r.status_code)
        finally:
            r.close()
    # Deleting a collection across namespaces (by selector) is refused and deletes nothing.
    r = env.call("alice", "DELETE", "/apis/networking.istio.io/v1beta1/virtualservices"
                 "?labelSelector=rbac-test%3Dyes")
    assert r.status_code == 403
    assert env.admin("GET", VS.format(ns="team-c") + "/secret-vs").status_code == 200
    # Inside her namespace, selectors that name another namespace find nothing of it.
    for q in ["labelSelector=rbac-test%3Dyes", "fieldSelector=metadata.namespace%3Dteam-c"]:
        r = env.call("alice", "GET", VS.format(ns="team-a") + "?" + q)
        assert r.status_code == 200
        assert all(i["metadata"]["namespace"] == "team-a" for i in r.json()["items"])
        assert "secret-vs" not in r.text
    # A watch of her namespace streams her namespace only.
    r = env.call("alice", "GET", VS.format(ns="team-a") + "?watch=1&timeoutSeconds=1", stream=True)
    assert r.status_code == 200
    events = [json.loads(line) for line in r.iter_lines() if line]
    assert all(e["object"]["metadata"]["namespace"] == "team-a" for e in events)
    # kubectl across all namespaces: Forbidden, in the API server's words.
    k = env.kubectl("alice").run("get", "inferenceservices", "-A", check=False)
    assert k.returncode != 0
    assert ('Error from server (Forbidden): inferenceservices.serving.kserve.io is forbidden: '
            'User "alice@example.com" cannot list resource "inferenceservices" in API group '
            '"serving.kserve.io" at the cluster scope') in k.stderr, k.stderr


def test_discovery_for_everyone_and_nothing_without_a_principal(env):
    for p in ["/api", "/api/v1", "/apis", "/apis/serving.kserve.io/v1beta1", "/version",
              "/openapi/v3", "/apis/authorization.k8s.io/v1"]:
        assert env.call("nobody", "GET", p).status_code == 200, p
        assert env.call(None, "GET", p).status_code == 401, p
    assert env.call(None, "GET", ISVC.format(ns="team-a")).status_code == 401
    r = env.call(None, "POST", ISVC.format(ns="team-a"), json=body("inferenceservices", "anon"))
    assert r.status_code == 401
    assert env.admin("GET", ISVC.format(ns="team-a") + "/anon").status_code == 404


def test_kubectl_auth_can_i(env):
    k = env.kubectl("alice")
    r = k.run("auth", "can-i", "create", "inferenceservices", "-n", "team-a", check=False)
    assert (r.returncode, r.stdout.strip()) == (0, "yes")
    r = k.run("auth", "can-i", "create", "inferenceservices", "-n", "team-c", check=False)
    assert r.returncode == 1 and r.stdout.startswith("no"), r.stdout
    r = k.run("auth", "can-i", "create", "rolebindings", "-n", "team-b", check=False)
    assert r.returncode == 1, r.stdout
    r = k.run("auth", "can-i", "create", "rolebindings", "-n", "team-a", check=False)
    assert r.returncode == 0
    r = k.run("auth", "can-i", "list", "namespaces", check=False)
    assert r.returncode == 1
    r = k.run("auth", "can-i", "get", "namespace/team-a", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    r = env.kubectl("val").run("auth", "can-i", "get", "virtualservices", "-n", "team-b",
                               check=False)
    assert r.returncode == 0
    r = env.kubectl("root").run("auth", "can-i", "delete", "namespaces", check=False)
    assert r.returncode == 0
    r = k.run("auth", "can-i", "--list", "-n", "team-b")
    assert "inferenceservices.serving.kserve.io" in r.stdout
    assert "virtualservices.networking.istio.io" in r.stdout
    r = env.kubectl("nobody").run("auth", "can-i", "--list", "-n", "team-b")
    assert "inferenceservices" not in r.stdout
    assert "selfsubjectaccessreviews.authorization.k8s.io" in r.stdout


def test_skiff_auth_can_i(env):
    r = env.skiff_cli("dana", "auth", "can-i", "delete", "isvc", "-n", "team-b")
    assert (r.returncode, r.stdout.strip()) == (0, "yes"), r.stderr
    r = env.skiff_cli("dana", "auth", "can-i", "delete", "isvc", "-n", "team-c", "-v")
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert lines[0] == "no"
    assert lines[1] == ('dana@example.com may not "delete" inferenceservices.serving.kserve.io in '
                        'namespace "team-c": needs kubeflow-edit in "team-c"; no RoleBinding or '
                        'group mapping gives dana@example.com a role there')
    r = env.skiff_cli("dana", "auth", "can-i", "create", "isvc", "-n", "team-a", "-v")
    assert r.returncode == 0
    assert "authz.groups" not in r.stdout or "kubeflow-edit" in r.stdout
    # --as: cluster admins ask about someone else; others may not.
    r = env.skiff_cli("admin", "auth", "can-i", "delete", "rolebindings", "-n", "team-a",
                      "--as", "alice@example.com")
    assert (r.returncode, r.stdout.strip()) == (0, "yes"), r.stderr
    r = env.skiff_cli("admin", "auth", "can-i", "delete", "isvc", "-n", "team-a",
                      "--as", "vic@example.com")
    assert (r.returncode, r.stdout.strip()) == (1, "no"), r.stderr
    r = env.skiff_cli("admin", "auth", "can-i", "get", "isvc", "-n", "team-b",
                      "--as", "x@example.com", "--as-group", "validator")
    assert r.returncode == 0, r.stdout + r.stderr
    r = env.skiff_cli("alice", "auth", "can-i", "get", "isvc", "-n", "team-a",
                      "--as", "vic@example.com")
    assert r.returncode == 2
    assert "Forbidden" in r.stderr and "subjectaccessreviews" in r.stderr
    r = env.skiff_cli("alice", "auth", "can-i", "get", "nosuchthings", "-n", "team-a")
    assert r.returncode == 2


def test_view_contributor_reads_not_edits_and_removal_counts_on_the_next_request(env):
    owner = env.kubectl("alice")  # kubeflow-admin of team-a: manages its contributors
    env.admin("POST", ISVC.format(ns="team-a"), json=body("inferenceservices", "shared-model"))
    env.tokens["carol"] = sign(env.keys, claims(email="carol@example.com", sub="carol", groups=[]))
    item = ISVC.format(ns="team-a") + "/shared-model"
    assert env.call("carol", "GET", item).status_code == 403
    for round_ in range(3):
        r = owner.run("create", "rolebinding", "carol-view", "--clusterrole=kubeflow-view",
                      "--user=carol@example.com", "-n", "team-a")
        assert "rolebinding.rbac.authorization.k8s.io/carol-view created" in r.stdout
        # The very next request: allowed to read, no waiting.
        assert env.call("carol", "GET", item).status_code == 200
        assert env.call("carol", "GET", ISVC.format(ns="team-a")).status_code == 200
        r = env.call("carol", "DELETE", item)
        assert r.status_code == 403
        assert r.json()["message"] == (
            'inferenceservices.serving.kserve.io "shared-model" is forbidden: User '
            '"carol@example.com" cannot delete resource "inferenceservices" in API group '
            '"serving.kserve.io" in the namespace "team-a": needs kubeflow-edit in "team-a"; '
            'holds RoleBinding team-a/carol-view (kubeflow-view)')
        r = env.call("carol", "PATCH", item, data=json.dumps({"metadata": {"labels": {"x": "y"}}}))
        assert r.status_code == 403
        # Contributors cannot widen their own role.
        r = env.call("carol", "POST", RB.format(ns="team-a"),
                     json=binding("carol-edit", "carol@example.com", "kubeflow-edit"))
        assert r.status_code == 403
        r = owner.run("delete", "rolebinding", "carol-view", "-n", "team-a")
        assert 'rolebinding.rbac.authorization.k8s.io "carol-view" deleted' in r.stdout
        # Removal counts on the next request.
        assert env.call("carol", "GET", item).status_code == 403, round_
    # roleRef is immutable, and only skiff's roles can be bound.
    owner.run("create", "rolebinding", "carol-view", "--clusterrole=kubeflow-view",
              "--user=carol@example.com", "-n", "team-a")
    r = env.call("alice", "PATCH", RB.format(ns="team-a") + "/carol-view",
                 data=json.dumps({"roleRef": {"name": "kubeflow-admin"}}))
    assert r.status_code == 422
    assert "roleRef: Invalid value" in r.json()["message"] and "cannot change roleRef" in r.text
    r = owner.run("create", "rolebinding", "x", "--clusterrole=cluster-admin",
                  "--user=carol@example.com", "-n", "team-a", check=False)
    assert r.returncode != 0
    assert 'roleRef.name: Unsupported value: "cluster-admin"' in r.stderr
    r = owner.run("get", "rolebindings", "-n", "team-a")
    header = r.stdout.splitlines()[0].split()
    assert header == ["NAME", "ROLE", "AGE"]
    assert any(l.split()[:2] == ["carol-view", "ClusterRole/kubeflow-view"]
               for l in r.stdout.splitlines())
    # A member of the mapped group reads team-b without any RoleBinding; not team-a.
    assert env.call("val", "GET", ISVC.format(ns="team-b")).status_code == 200
    assert env.call("val", "GET", ISVC.format(ns="team-a")).status_code == 403


def test_cluster_roles_are_listed_read_only(env):
    admin = env.kubectl("admin")
    r = admin.run("get", "clusterroles", "-o", "name")
    assert r.stdout.split() == ["clusterrole.rbac.authorization.k8s.io/kubeflow-admin",
                                "clusterrole.rbac.authorization.k8s.io/kubeflow-edit",
                                "clusterrole.rbac.authorization.k8s.io/kubeflow-view"]
    r = admin.run("describe", "clusterrole", "kubeflow-view")
    assert "inferenceservices.serving.kserve.io" in r.stdout and "predict" in r.stdout
    r = env.admin("PATCH", "/apis/rbac.authorization.k8s.io/v1/clusterroles/kubeflow-view",
                  data=json.dumps({"rules": []}))
    assert r.status_code == 422, r.text
    assert "built in" in r.json()["message"]
    r = env.kubectl("alice").run("get", "clusterroles", check=False)
    assert r.returncode != 0 and "(Forbidden)" in r.stderr
