"""Browser login against an external OpenID provider, end to end.

The npm `oidc-provider` server (a certified OIDC implementation standing in for Cognito, Keycloak
or Dex) runs on https://127.0.0.1 with a certificate from a test CA that skiff trusts through
auth.oidc.caFile. The test plays the browser: it follows redirects by hand, fills in the
provider's login and consent forms, and carries cookies.
"""
import http.client
import os
import re
import ssl
import urllib.parse

import pytest
import requests

from conftest import OidcProviderPeer, Skiff, wait_until

ACCOUNTS = {
    "alice": {"email": "alice@example.com", "email_verified": True, "name": "Alice",
              "groups": ["datascience", "validator"]},
    "root": {"email": "root@example.com", "email_verified": True, "name": "Root",
             "groups": ["platform-admins"]},
}
CALLBACK = "/authservice/oidc/callback"


class Env:
    pass


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("auth-oidc"))
    idp = OidcProviderPeer(d, accounts=ACCOUNTS)
    e = Env()
    e.idp = idp
    cfg = os.path.join(d, "skiff.yaml")
    with open(cfg, "w") as f:
        f.write(f"""
identity:
  enabled: false
auth:
  adminGroups: [platform-admins]
  oidc:
    issuer: {idp.issuer}
    clientID: {idp.client_id}
    clientSecret: {idp.client_secret}
    caFile: {idp.ca}
    scopes: [openid, email, profile, groups]
""")
    s = Skiff(os.path.join(d, "data"), config=cfg)
    try:
        s.start()
        e.skiff = s
        e.base = s.url.replace("http://", "https://")
        idp.configure([e.base + CALLBACK], [e.base + "/"])
        # One bundle with both CAs, as a browser trusting both sites.
        e.bundle = os.path.join(d, "bundle.pem")
        with open(e.bundle, "w") as f:
            for p in (idp.ca, os.path.join(s.data_dir, "tls", "ca.crt")):
                with open(p) as src:
                    f.write(src.read())
        yield e
    finally:
        rc = s.stop()
        idp.stop()
    assert rc == 0, f"skiff exited with {rc}"


def html_get(sess, env, path, **kw):
    return sess.get(env.base + path, headers={"Accept": "text/html,application/xhtml+xml"},
                    allow_redirects=False, verify=env.bundle, timeout=30, **kw)


def forms(html):
    """(action, {hidden/input name: value}) of each <form> in the page."""
    out = []
    for m in re.finditer(r"<form([^>]*)>(.*?)</form>", html, re.S | re.I):
        attrs, body = m.group(1), m.group(2)
        action = re.search(r'action="([^"]*)"', attrs).group(1)
        fields = {}
        for inp in re.finditer(r"<input([^>]*)>", body, re.I):
            name = re.search(r'name="([^"]*)"', inp.group(1))
            value = re.search(r'value="([^"]*)"', inp.group(1))
            if name:
                fields[name.group(1)] = value.group(1) if value else ""
        out.append((action, fields))
    return out


def provider_login(sess, env, auth_url, user):
    """Drives the provider's pages from the authorization URL to skiff's callback URL."""
    url = auth_url
    for _ in range(15):
        assert url.startswith(env.idp.issuer), url
        r = sess.get(url, allow_redirects=False, verify=env.bundle, timeout=30)
        while r.status_code == 200:
            action, fields = forms(r.text)[0]
            if "login" in fields:
                fields.update({"login": user, "password": "any"})
            r = sess.post(urllib.parse.urljoin(url, action), data=fields, allow_redirects=False,
                          verify=env.bundle, timeout=30)
        assert r.status_code in (302, 303), (r.status_code, r.text[:500])
        url = urllib.parse.urljoin(url, r.headers["Location"])
        if url.startswith(env.base + CALLBACK):
            return url
    raise AssertionError("the provider never redirected back to skiff")


def start_login(sess, env, path="/skiff/whoami?from=test"):
    r = html_get(sess, env, path)
    assert r.status_code == 302, r.text
    return r


def login(sess, env, user="alice", path="/skiff/whoami?from=test"):
    """Full login; returns the callback response (not followed)."""
    r = start_login(sess, env, path)
    callback = provider_login(sess, env, r.headers["Location"], user)
    return sess.get(callback, allow_redirects=False, verify=env.bundle, timeout=30)


def set_cookies(resp):
    return resp.raw.headers.getlist("Set-Cookie")


def cookie_line(resp, name):
    lines = [c for c in set_cookies(resp) if c.startswith(name + "=")]
    assert lines, f"no Set-Cookie for {name}: {set_cookies(resp)}"
    return lines[0]


def test_api_clients_get_401_never_a_redirect(env):
    r = requests.get(env.base + "/api/v1/namespaces", verify=env.bundle, allow_redirects=False)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="skiff"'
    assert r.json()["kind"] == "Status"
    r = requests.get(env.base + "/skiff/whoami", headers={"Accept": "application/json"},
                     verify=env.bundle, allow_redirects=False)
    assert r.status_code == 401
    # XHR asking for HTML is still an API client.
    r = requests.get(env.base + "/skiff/whoami",
                     headers={"Accept": "text/html", "X-Requested-With": "XMLHttpRequest"},
                     verify=env.bundle, allow_redirects=False)
    assert r.status_code == 401
    r = requests.post(env.base + "/skiff/whoami", headers={"Accept": "text/html"},
                      verify=env.bundle, allow_redirects=False)
    assert r.status_code == 401


def test_browser_is_sent_to_the_provider_with_state_nonce_and_pkce(env):
    sess = requests.Session()
    r = start_login(sess, env)
    loc = urllib.parse.urlsplit(r.headers["Location"])
    assert f"{loc.scheme}://{loc.netloc}" == env.idp.issuer
    q = dict(urllib.parse.parse_qsl(loc.query))
    assert q["response_type"] == "code" and q["client_id"] == env.idp.client_id
    assert q["redirect_uri"] == env.base + CALLBACK
    assert q["code_challenge_method"] == "S256" and len(q["code_challenge"]) == 43
    assert len(q["state"]) >= 43 and len(q["nonce"]) >= 43
    pre = cookie_line(r, "skiff_login")
    assert "HttpOnly" in pre and "SameSite=Lax" in pre and "Secure" in pre


def test_login_session_csrf_and_logout(env):
    sess = requests.Session()
    r = login(sess, env, "alice")
    assert r.status_code == 302, r.text
    assert r.headers["Location"] == "/skiff/whoami?from=test"
    session_cookie = cookie_line(r, "skiff_session")
    for attr in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/"):
        assert attr in session_cookie, session_cookie
    value = session_cookie.split(";")[0].split("=", 1)[1]
    assert len(value) == 43  # 256 random bits, base64url
    xsrf = cookie_line(r, "XSRF-TOKEN")
    assert "HttpOnly" not in xsrf and "Secure" in xsrf
    # The session was minted after the login: no state or pre-login value reused as its id.
    assert value not in r.request.url

    # The session works, and the identity reaches the handler as kubeflow-userid.
    who = sess.get(env.base + "/skiff/whoami", verify=env.bundle, timeout=30).json()
    assert who["user"] == "alice@example.com" and who["method"] == "session"
    assert who["userIdHeader"] == "alice@example.com"
    assert who["groupsHeader"] == "datascience,validator"
    assert who["admin"] is False

    # A spoofed kubeflow-userid from the browser is replaced, not believed.
    who = sess.get(env.base + "/skiff/whoami", verify=env.bundle, timeout=30,
                   headers={"kubeflow-userid": "root@example.com"}).json()
    assert who["userIdHeader"] == "alice@example.com"

    # State-changing requests authenticated by the cookie need the CSRF header.
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    path = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
    r = sess.post(env.base + path, json=review, verify=env.bundle, timeout=30)
    assert r.status_code == 403, r.text
    assert r.json()["kind"] == "Status" and "CSRF" in r.json()["message"]
    token = sess.cookies.get("XSRF-TOKEN")
    r = sess.post(env.base + path, json=review, verify=env.bundle, timeout=30,
                  headers={"X-XSRF-TOKEN": "wrong"})
    assert r.status_code == 403
    r = sess.post(env.base + path, json=review, verify=env.bundle, timeout=30,
                  headers={"X-XSRF-TOKEN": token, "Origin": "https://evil.example"})
    assert r.status_code == 403
    r = sess.post(env.base + path, json=review, verify=env.bundle, timeout=30,
                  headers={"X-XSRF-TOKEN": token, "Origin": env.base})
    assert r.status_code == 201, r.text
    assert r.json()["status"]["userInfo"]["username"] == "alice@example.com"

    # Logout ends the server-side session and goes to the provider's end_session endpoint.
    r = sess.get(env.base + "/logout", verify=env.bundle, allow_redirects=False, timeout=30)
    assert r.status_code == 302
    end = urllib.parse.urlsplit(r.headers["Location"])
    assert f"{end.scheme}://{end.netloc}{end.path}" == env.idp.issuer + "/session/end"
    q = dict(urllib.parse.parse_qsl(end.query))
    assert q["post_logout_redirect_uri"] == env.base + "/"
    assert q["id_token_hint"].count(".") == 2
    assert any(c.startswith("skiff_session=;") and "Max-Age=0" in c for c in set_cookies(r))
    # The provider accepts that logout request (it shows its confirmation page).
    r2 = requests.get(r.headers["Location"], verify=env.bundle, allow_redirects=False, timeout=30)
    assert r2.status_code == 200, r2.text[:300]

    # The old cookie is dead even when replayed by hand.
    jar = {"skiff_session": value}
    r = requests.get(env.base + "/skiff/whoami", cookies=jar, verify=env.bundle,
                     allow_redirects=False, timeout=30)
    assert r.status_code == 401
    r = requests.get(env.base + "/skiff/whoami", cookies=jar, verify=env.bundle,
                     headers={"Accept": "text/html"}, allow_redirects=False, timeout=30)
    assert r.status_code == 302 and r.headers["Location"].startswith(env.idp.issuer)


def test_admin_group_becomes_cluster_admin(env):
    sess = requests.Session()
    assert login(sess, env, "root").status_code == 302
    who = sess.get(env.base + "/skiff/whoami", verify=env.bundle, timeout=30).json()
    assert who["user"] == "root@example.com" and who["admin"] is True


def test_callback_replay_and_wrong_state_are_refused(env):
    sess = requests.Session()
    r = start_login(sess, env)
    callback = provider_login(sess, env, r.headers["Location"], "alice")
    first = sess.get(callback, allow_redirects=False, verify=env.bundle, timeout=30)
    assert first.status_code == 302 and "skiff_session" in first.headers.get("Set-Cookie", "")
    # The same callback again: the state was single use.
    again = sess.get(callback, allow_redirects=False, verify=env.bundle, timeout=30)
    assert again.status_code == 401
    assert "skiff_session=" not in again.headers.get("Set-Cookie", "")
    # A made-up state.
    r = sess.get(env.base + CALLBACK + "?state=bogus&code=bogus", allow_redirects=False,
                 verify=env.bundle, timeout=30)
    assert r.status_code == 401
    # The spent code with a fresh, valid state: the provider refuses the replayed code.
    fresh = start_login(sess, env, "/login?rd=/")
    state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(fresh.headers["Location"]).query))[
        "state"]
    code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(callback).query))["code"]
    r = sess.get(env.base + CALLBACK + "?" + urllib.parse.urlencode({"state": state, "code": code}),
                 allow_redirects=False, verify=env.bundle, timeout=30)
    assert r.status_code == 401
    # The reason is logged (stderr is read by a thread: wait for the line).
    wait_until(lambda: any("login callback refused" in l and "token endpoint" in l
                           for l in env.skiff.err.all), what="the token endpoint refusal logged")


def test_state_is_bound_to_the_browser_that_started_the_login(env):
    victim = requests.Session()
    r = start_login(victim, env)
    callback = provider_login(victim, env, r.headers["Location"], "alice")
    attacker = requests.Session()  # no pre-login cookie
    r = attacker.get(callback, allow_redirects=False, verify=env.bundle, timeout=30)
    assert r.status_code == 401
    assert "skiff_session=" not in r.headers.get("Set-Cookie", "")


def test_open_redirects_are_refused(env):
    for bad in ("https://evil.example/x", "//evil.example/x", "/\\evil.example", "evil"):
        for param in ("rd", "next"):
            r = html_get(requests.Session(), env, "/login?" + urllib.parse.urlencode({param: bad}))
            assert r.status_code == 400, (param, bad, r.status_code)
    # A good rd is remembered and used after login.
    sess = requests.Session()
    r = html_get(sess, env, "/login?rd=%2Fskiff%2Fwhoami%3Fa%3D1")
    assert r.status_code == 302
    callback = provider_login(sess, env, r.headers["Location"], "alice")
    r = sess.get(callback, allow_redirects=False, verify=env.bundle, timeout=30)
    assert r.status_code == 302 and r.headers["Location"] == "/skiff/whoami?a=1"
    # A remembered request target of the form //host is replaced by "/".
    ctx = ssl.create_default_context(cafile=env.bundle)
    host, port = urllib.parse.urlsplit(env.base).netloc.split(":")
    conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=30)
    conn.request("GET", "//evil.example/x", headers={"Accept": "text/html"})
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 302
    cookie = [v for k, v in resp.getheaders() if k.lower() == "set-cookie"][0].split(";")[0]
    conn.close()
    sess = requests.Session()
    name, value = cookie.split("=", 1)
    sess.cookies.set(name, value, domain=host)
    callback = provider_login(sess, env, resp.getheader("Location"), "alice")
    r = sess.get(callback, allow_redirects=False, verify=env.bundle, timeout=30)
    assert r.status_code == 302 and r.headers["Location"] == "/"


def test_no_secrets_in_logs(env):
    text = "\n".join(env.skiff.err.all)
    assert env.idp.client_secret not in text
    assert "eyJ" not in text  # no JWT (ID token) was logged
