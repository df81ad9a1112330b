"""Profiles, the registration flow and Kubeflow's access-management API against the real binary
(issue 6): a Profile applied with kubectl makes its namespace (Kubeflow's labels) and owner
RoleBinding, deleting it removes them; a user's first request makes their namespace; contributors
are added, listed and removed through /kfam/v1/bindings by the owner only; object-count quotas
refuse the InferenceService over the limit."""
import json
import os
import urllib.parse

import pytest
import requests

from conftest import Kubectl, Skiff, start_trusted_header_skiff, wait_until
from test_auth_oidc import forms

ISVC = "inferenceservices.serving.kserve.io"


@pytest.fixture
def server(tmp_path):
    s = start_trusted_header_skiff(tmp_path)
    yield s
    assert s.stop() == 0, s.err.all[-20:]


@pytest.fixture
def kube(server, tmp_path):
    r = server.cli("kubeconfig", check=True)
    path = tmp_path / "kubeconfig"
    path.write_text(r.stdout)
    return Kubectl(str(path), str(tmp_path / "kube-cache"))


def as_user(s, user, method, path, **kw):
    headers = kw.pop("headers", {})
    headers["X-Forwarded-Email"] = user
    return requests.request(method, s.url + path, headers=headers, timeout=30, **kw)


def get_json(kube, *args):
    r = kube.run("get", *args, "-o", "json", check=False)
    return json.loads(r.stdout) if r.returncode == 0 else None


def binding(user, ns, role):
    return {"user": {"kind": "User", "name": user}, "referredNamespace": ns,
            "RoleRef": {"kind": "ClusterRole", "name": role}}


def ready(kube, name):
    p = get_json(kube, "profile", name)
    for c in (p or {}).get("status", {}).get("conditions", []):
        if c["type"] == "Ready":
            return c
    return None


PROFILE = """\
apiVersion: kubeflow.org/v1
kind: Profile
metadata:
  name: team-a
spec:
  owner:
    kind: User
    name: alice@example.com
"""


def test_profile_with_kubectl_makes_and_removes_namespace_and_owner_binding(server, kube):
    r = kube.run("apply", "-f", "-", input=PROFILE)
    assert "profile.kubeflow.org/team-a created" in r.stdout

    ns = wait_until(lambda: get_json(kube, "namespace", "team-a"), what="namespace team-a")
    labels = ns["metadata"]["labels"]
    assert labels["app.kubernetes.io/part-of"] == "kubeflow-profile"
    assert labels["istio-injection"] == "enabled"
    assert labels["katib-metricscollector-injection"] == "enabled"
    assert labels["serving.kubeflow.org/inferenceservice"] == "enabled"
    assert ns["metadata"]["annotations"]["owner"] == "alice@example.com"

    rb = wait_until(lambda: get_json(kube, "rolebinding", "namespaceAdmin", "-n", "team-a"),
                    what="owner binding")
    assert rb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                             "name": "kubeflow-admin"}
    assert rb["subjects"][0]["kind"] == "User"
    assert rb["subjects"][0]["name"] == "alice@example.com"
    assert rb["metadata"]["annotations"] == {"user": "alice@example.com", "role": "admin"}

    cond = wait_until(lambda: ready(kube, "team-a"), what="Ready condition")
    assert cond["status"] == "True", cond
    table = kube.run("get", "profiles").stdout.splitlines()
    assert table[0].split()[:3] == ["NAME", "OWNER", "READY"], table
    assert table[1].split()[:3] == ["team-a", "alice@example.com", "True"], table

    # The owner may now work in the namespace: the Authorizer saw the binding.
    r = as_user(server, "alice@example.com", "GET", "/api/v1/namespaces/team-a")
    assert r.status_code == 200, r.text

    r = kube.run("delete", "profile", "team-a")
    assert 'profile.kubeflow.org "team-a" deleted' in r.stdout
    wait_until(lambda: get_json(kube, "namespace", "team-a") is None, what="namespace gone")
    assert get_json(kube, "rolebinding", "namespaceAdmin", "-n", "team-a") is None


def test_profile_validation_names_the_field(kube):
    r = kube.run("apply", "-f", "-", check=False, input="""\
apiVersion: kubeflow.org/v1
kind: Profile
metadata:
  name: nobody
spec: {}
""")
    assert r.returncode != 0
    assert "spec.owner: Required value" in r.stderr, r.stderr


def test_profile_does_not_take_someone_elses_namespace(server, kube):
    kube.run("create", "namespace", "shared")
    kube.run("apply", "-f", "-", input=PROFILE.replace("team-a", "shared"))
    cond = wait_until(lambda: (ready(kube, "shared") or {}).get("status") == "False"
                      and ready(kube, "shared"), what="refusal")
    assert "namespace already exist, but not owned by profile creator alice@example.com" in \
        cond["message"], cond
    assert get_json(kube, "rolebinding", "namespaceAdmin", "-n", "shared") is None
    kube.run("delete", "profile", "shared")
    # The namespace was not the profile's: it stays.
    assert get_json(kube, "namespace", "shared") is not None


def test_first_request_of_a_new_user_creates_their_namespace(server, kube):
    r = as_user(server, "newbie@example.com", "GET", "/skiff/whoami")
    assert r.status_code == 200
    p = wait_until(lambda: get_json(kube, "profile", "newbie"), what="profile newbie")
    assert p["spec"]["owner"] == {"kind": "User", "name": "newbie@example.com"}
    ns = wait_until(lambda: get_json(kube, "namespace", "newbie"), what="namespace newbie")
    assert ns["metadata"]["labels"]["app.kubernetes.io/part-of"] == "kubeflow-profile"
    wait_until(lambda: get_json(kube, "rolebinding", "namespaceAdmin", "-n", "newbie"),
               what="owner binding")
    # The dashboard's view of it.
    r = as_user(server, "newbie@example.com", "GET", "/api/workgroup/exists")
    assert r.json() == {"hasAuth": True, "user": "newbie@example.com", "hasWorkgroup": True,
                        "registrationFlowAllowed": True}
    info = wait_until(lambda: as_user(server, "newbie@example.com", "GET",
                                      "/api/workgroup/env-info").json()["namespaces"],
                      what="env-info namespaces")
    assert info == [{"namespace": "newbie", "role": "owner", "user": "newbie@example.com"}]
    # A second user whose name is taken gets the next free one, never the existing namespace.
    kube.run("create", "namespace", "taken")
    as_user(server, "taken@example.com", "GET", "/skiff/whoami")
    p = wait_until(lambda: get_json(kube, "profile", "taken-2"), what="profile taken-2")
    assert p["spec"]["owner"]["name"] == "taken@example.com"
    assert get_json(kube, "profile", "taken") is None
    # Many concurrent first requests make one profile.
    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: as_user(server, "rush@example.com", "GET",
                                        "/api/workgroup/exists"), range(16)))
    profiles = get_json(kube, "profiles")["items"]
    owned = [p["metadata"]["name"] for p in profiles
             if p["spec"]["owner"]["name"] == "rush@example.com"]
    assert owned == ["rush"], owned
    # The admin token is no person: it gets no profile.
    assert get_json(kube, "profile", "admin") is None


def test_kfam_contributors_owner_only(server, kube):
    kube.run("apply", "-f", "-", input=PROFILE)
    wait_until(lambda: (ready(kube, "team-a") or {}).get("status") == "True", what="ready")

    # A non-owner cannot add contributors (not even themselves).
    r = as_user(server, "mallory@example.com", "POST", "/kfam/v1/bindings",
                json=binding("mallory@example.com", "team-a", "admin"))
    assert r.status_code == 403, r.text
    # The owner adds bob as an editor.
    r = as_user(server, "alice@example.com", "POST", "/kfam/v1/bindings",
                json=binding("bob@example.com", "team-a", "edit"))
    assert r.status_code == 200, r.text
    rb = get_json(kube, "rolebinding", "user-bob-example-com-clusterrole-edit", "-n", "team-a")
    assert rb["roleRef"]["name"] == "kubeflow-edit"
    assert rb["metadata"]["annotations"] == {"user": "bob@example.com", "role": "edit"}

    # Listing: the owner sees both bindings, bob sees his, mallory nothing.
    r = as_user(server, "alice@example.com", "GET", "/kfam/v1/bindings?namespace=team-a")
    got = sorted((b["user"]["name"], b["RoleRef"]["name"]) for b in r.json()["bindings"])
    assert got == [("alice@example.com", "admin"), ("bob@example.com", "edit")], r.text
    r = as_user(server, "bob@example.com", "GET", "/kfam/v1/bindings?user=bob@example.com")
    assert [b["referredNamespace"] for b in r.json()["bindings"]] == ["team-a"], r.text
    r = as_user(server, "mallory@example.com", "GET", "/kfam/v1/bindings?namespace=team-a")
    assert r.json()["bindings"] == [], r.text
    # bob can now read in team-a; mallory cannot.
    assert as_user(server, "bob@example.com", "GET",
                   f"/apis/serving.kserve.io/v1beta1/namespaces/team-a/inferenceservices"
                   ).status_code == 200
    assert as_user(server, "mallory@example.com", "GET",
                   f"/apis/serving.kserve.io/v1beta1/namespaces/team-a/inferenceservices"
                   ).status_code == 403
    # bob, an editor, cannot manage contributors; nor remove them.
    r = as_user(server, "bob@example.com", "POST", "/kfam/v1/bindings",
                json=binding("mallory@example.com", "team-a", "view"))
    assert r.status_code == 403, r.text
    r = as_user(server, "mallory@example.com", "DELETE", "/kfam/v1/bindings",
                json=binding("bob@example.com", "team-a", "edit"))
    assert r.status_code == 403, r.text

    # Cluster-admin query.
    r = as_user(server, "ops@example.com", "GET", "/kfam/v1/role/clusteradmin?user=ops@example.com")
    assert r.json() is True
    r = as_user(server, "alice@example.com", "GET",
                "/kfam/v1/role/clusteradmin?user=alice@example.com")
    assert r.json() is False
    r = as_user(server, "alice@example.com", "GET",
                "/kfam/v1/role/clusteradmin?user=ops@example.com")
    assert r.json() is True

    # The owner removes bob: his next request is refused.
    r = as_user(server, "alice@example.com", "DELETE", "/kfam/v1/bindings",
                json=binding("bob@example.com", "team-a", "edit"))
    assert r.status_code == 200, r.text
    assert get_json(kube, "rolebinding", "user-bob-example-com-clusterrole-edit", "-n",
                    "team-a") is None
    assert as_user(server, "bob@example.com", "GET",
                   f"/apis/serving.kserve.io/v1beta1/namespaces/team-a/inferenceservices"
                   ).status_code == 403

    # The same sharing through the resource API (what kubectl create rolebinding sends).
    rb = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
          "metadata": {"name": "user-bob-example-com-clusterrole-view", "namespace": "team-a",
                       "annotations": {"user": "bob@example.com", "role": "view"}},
          "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                      "name": "kubeflow-view"},
          "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                        "name": "bob@example.com"}]}
    path = "/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings"
    assert as_user(server, "mallory@example.com", "POST", path, json=rb).status_code == 403
    r = as_user(server, "alice@example.com", "POST", path, json=rb)
    assert r.status_code == 201, r.text
    r = as_user(server, "alice@example.com", "GET", "/kfam/v1/bindings?namespace=team-a&role=view")
    assert [b["user"]["name"] for b in r.json()["bindings"]] == ["bob@example.com"], r.text

    # Only the owner removes the profile (the dashboard's nuke-self); its namespace goes.
    assert as_user(server, "mallory@example.com", "DELETE",
                   "/kfam/v1/profiles/team-a").status_code == 403
    r = as_user(server, "alice@example.com", "DELETE", "/api/workgroup/nuke-self")
    assert r.status_code == 200 and r.json()["message"] == "Removed namespace/profile team-a"
    wait_until(lambda: get_json(kube, "namespace", "team-a") is None, what="namespace gone")


def test_inferenceservice_count_quota(server, kube):
    kube.run("apply", "-f", "-", input=PROFILE + """\
  resourceQuotaSpec:
    hard:
      count/inferenceservices.serving.kserve.io: "1"
""")
    wait_until(lambda: get_json(kube, "resourcequota", "kf-resource-quota", "-n", "team-a"),
               what="quota")
    isvc = """\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: {name}
  namespace: team-a
spec:
  predictor:
    sklearn:
      storageUri: file:///nonexistent/model
"""
    kube.run("apply", "-f", "-", input=isvc.format(name="first"))
    r = kube.run("apply", "-f", "-", input=isvc.format(name="second"), check=False)
    assert r.returncode != 0
    assert "exceeded quota: kf-resource-quota" in r.stderr, r.stderr
    assert get_json(kube, "inferenceservice", "second", "-n", "team-a") is None


# --- a real browser login through the built-in identity provider ------------------------------

DEX_HASH = "$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W"  # "password"


def test_browser_login_of_a_new_user_creates_their_namespace(tmp_path):
    cfg = tmp_path / "skiff.yaml"
    cfg.write_text(f"""
identity:
  staticPasswords:
    - email: carol@example.com
      hash: "{DEX_HASH}"
      username: carol
      userID: 5f0e2f39-7a1e-4bd6-9d53-1b1f3f1f0c01
""")
    s = Skiff(str(tmp_path / "data"), config=str(cfg)).start()
    try:
        ca = os.path.join(s.data_dir, "tls", "ca.crt")
        https = s.url.replace("http://", "https://", 1)
        sess = requests.Session()
        r = sess.get(https + "/skiff/whoami", headers={"Accept": "text/html"},
                     allow_redirects=False, verify=ca, timeout=30)
        assert r.status_code == 302
        url = r.headers["Location"]
        for _ in range(10):
            r = sess.get(url, allow_redirects=False, verify=ca, timeout=30)
            if r.status_code == 200:
                action, fields = forms(r.text)[0]
                fields.update({"login": "carol@example.com", "password": "password"})
                r = sess.post(urllib.parse.urljoin(url, action), data=fields,
                              allow_redirects=False, verify=ca, timeout=30)
            assert r.status_code in (302, 303), r.text[:300]
            url = urllib.parse.urljoin(url, r.headers["Location"])
            if urllib.parse.urlsplit(url).path == "/authservice/oidc/callback":
                sess.get(url, allow_redirects=False, verify=ca, timeout=30)
                break
        who = sess.get(https + "/skiff/whoami", verify=ca, timeout=30).json()
        assert who["user"] == "carol@example.com" and who["method"] == "session"
        admin = {"Authorization": f"Bearer {s.token}"}
        p = wait_until(lambda: requests.get(
            s.url + "/apis/kubeflow.org/v1/profiles/carol", headers=admin, timeout=30
        ).json() if requests.get(s.url + "/apis/kubeflow.org/v1/profiles/carol", headers=admin,
                                 timeout=30).status_code == 200 else None,
            what="profile carol")
        assert p["spec"]["owner"]["name"] == "carol@example.com"
        wait_until(lambda: requests.get(s.url + "/api/v1/namespaces/carol", headers=admin,
                                        timeout=30).status_code == 200, what="namespace carol")
        # carol may use her namespace with her session.
        wait_until(lambda: sess.get(https + "/api/v1/namespaces/carol/resourcequotas", verify=ca,
                                    timeout=30).status_code == 200, what="carol's access")
    finally:
        assert s.stop() == 0, s.err.all[-20:]
