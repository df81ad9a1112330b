"""Browser login against the built-in identity provider (the default `skiff up` setup): the
gateway is a client of its own /dex, logs the user in through the provider's HTML form and keeps
a server-side session."""
import json
import os
import urllib.parse

import pytest
import requests

from conftest import PASSWORD_HASH, start_with_config
from test_auth_oidc import forms

CONFIG = f"""
identity:
  staticPasswords:
    - email: admin@example.com
      hash: "{PASSWORD_HASH}"
      username: admin
      userID: 08a8684b-db88-4b73-90a9-3cd1661f5466
      groups: [admins, datascience]
auth:
  adminGroups: [admins]
  userIdPrefix: "skiff:"
"""


@pytest.fixture
def server(tmpdir_path):
    s = start_with_config(tmpdir_path, CONFIG)
    yield s
    assert s.stop() == 0


def browser_login(s, sess, password):
    r = sess.get(s.https + "/skiff/whoami?x=1", headers={"Accept": "text/html"},
                 allow_redirects=False, verify=s.ca, timeout=30)
    assert r.status_code == 302
    url = r.headers["Location"]
    assert url.startswith(s.https + "/dex/auth?")
    for _ in range(10):
        r = sess.get(url, allow_redirects=False, verify=s.ca, timeout=30)
        if r.status_code == 200:
            action, fields = forms(r.text)[0]
            fields.update({"login": "admin@example.com", "password": password})
            r = sess.post(urllib.parse.urljoin(url, action), data=fields, allow_redirects=False,
                          verify=s.ca, timeout=30)
            if r.status_code != 303 and r.status_code != 302:
                return None
        assert r.status_code in (302, 303), r.text[:300]
        url = urllib.parse.urljoin(url, r.headers["Location"])
        if urllib.parse.urlsplit(url).path == "/authservice/oidc/callback":
            return sess.get(url, allow_redirects=False, verify=s.ca, timeout=30)
    raise AssertionError("never came back to the callback")


def test_builtin_login_session_and_logout(server):
    s = server
    sess = requests.Session()
    assert browser_login(s, requests.Session(), "wrong-password") is None
    r = browser_login(s, sess, "password")
    assert r.status_code == 302, r.text
    assert r.headers["Location"] == "/skiff/whoami?x=1"
    who = sess.get(s.https + "/skiff/whoami", verify=s.ca, timeout=30).json()
    assert who["user"] == "admin@example.com" and who["method"] == "session"
    assert who["userIdHeader"] == "skiff:admin@example.com"
    assert who["groupsHeader"] == "admins,datascience"
    assert who["admin"] is True
    # kubectl-style API access with the cookie works for reads.
    r = sess.get(s.https + "/api/v1/namespaces/default", verify=s.ca, timeout=30)
    assert r.status_code == 200, r.text
    # Sessions live in the store: they survive a restart (cookies are not bound to a port).
    value = sess.cookies.get("skiff_session")
    assert s.stop() == 0
    s.start()
    s.https = s.url.replace("http://", "https://", 1)
    r = requests.get(s.https + "/skiff/whoami", cookies={"skiff_session": value}, verify=s.ca,
                     timeout=30)
    assert r.status_code == 200 and r.json()["user"] == "admin@example.com", r.text
    r = sess.get(s.https + "/logout", allow_redirects=False, verify=s.ca, timeout=30)
    assert r.status_code == 302
    r = sess.get(s.https + "/skiff/whoami", verify=s.ca, timeout=30, allow_redirects=False)
    assert r.status_code == 401
    # The bootstrap admin token keeps working next to browser login.
    r = requests.get(s.https + "/skiff/whoami", verify=s.ca, timeout=30,
                     headers={"Authorization": f"Bearer {s.token}"})
    assert r.json()["user"] == "admin" and r.json()["method"] == "token"


def test_kubectl_auth_whoami(kubectl):
    """kubectl 1.32 asks authentication.k8s.io/v1 SelfSubjectReview who it is."""
    r = kubectl.run("auth", "whoami", "-o", "json")
    info = json.loads(r.stdout)["status"]["userInfo"]
    assert info["username"] == "admin"
    assert "system:masters" in info["groups"]
