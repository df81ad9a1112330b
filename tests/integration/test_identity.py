"""The built-in identity provider (/dex) of the real `skiff up`, driven by real relying parties.

npm openid-client 6 runs discovery, the code + PKCE flow (submitting the HTML login form like a
browser), refresh and userinfo; npm jose verifies the ID token against the JWKS. Both trust
skiff's TLS through NODE_EXTRA_CA_CERTS=DATA_DIR/tls/ca.crt. Python `requests` checks the
refusals (unregistered redirect_uri, back-off, replay) over the same HTTPS listener.
"""
import json
import os
import shutil
import subprocess
import urllib.parse

import pytest
import requests

from conftest import NODE, PEERS_DIR, Skiff

HERE = os.path.dirname(os.path.abspath(__file__))
# Dex's documented example: admin@example.com / "password".
DEX_HASH = "$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W"
PUBLIC_CB = "http://127.0.0.1:1/callback"
APP_CB = "https://app.example.com/oauth2/callback"
APP_SECRET = "integration-secret-0123456789"

CONFIG = f"""
identity:
  staticPasswords:
    - email: admin@example.com
      hash: "{DEX_HASH}"
      username: admin
      userID: 08a8684b-db88-4b73-90a9-3cd1661f5466
      groups: [admins, datascience]
  staticClients:
    - id: rp-public
      public: true
      redirectURIs: ["{PUBLIC_CB}"]
    - id: rp-app
      secret: {APP_SECRET}
      redirectURIs: ["{APP_CB}"]
"""


def write_config(directory, text=CONFIG):
    path = os.path.join(directory, "skiff.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


@pytest.fixture
def idp(tmpdir_path):
    s = Skiff(os.path.join(tmpdir_path, "data"), config=write_config(tmpdir_path)).start()
    s.ca = os.path.join(s.data_dir, "tls", "ca.crt")
    s.https = s.url.replace("http://", "https://", 1)
    yield s
    rc = s.stop()
    assert rc == 0, f"skiff exited with {rc}; stderr: {s.err.all[-20:]}"


def discovery(idp):
    r = requests.get(idp.https + "/dex/.well-known/openid-configuration", verify=idp.ca,
                     timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def run_rp(idp, issuer, **kw):
    if not shutil.which(NODE) and not os.path.exists(NODE):
        pytest.fail("node is required")
    cfg = {"issuer": issuer, "email": "admin@example.com", "password": "password", **kw}
    env = dict(os.environ, SKIFF_PEERS_DIR=PEERS_DIR, NODE_EXTRA_CA_CERTS=idp.ca)
    r = subprocess.run([NODE, os.path.join(HERE, "identity_rp.mjs"), json.dumps(cfg)],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0, f"relying party failed:\n{r.stderr}\n{r.stdout}"
    return json.loads(r.stdout.strip().splitlines()[-1])


def check_flow(out, issuer, client_id, replayed):
    assert out["wrongStatus"] == 401
    c = out["claims"]
    assert c["iss"] == issuer
    assert c["aud"] == client_id
    assert c["email"] == "admin@example.com"
    assert c["email_verified"] is True
    assert c["name"] == "admin"
    assert sorted(c["groups"]) == ["admins", "datascience"]
    assert c["nonce"]
    assert c["exp"] > c["iat"]
    assert out["verifiedHeader"]["alg"] == "RS256"
    assert out["verifiedHeader"]["kid"]
    assert out["refreshRotated"] is True
    assert out["oldRefreshError"] == "invalid_grant"
    assert out["replayError"] == ("invalid_grant" if replayed else None)
    assert out["refreshedClaims"]["sub"] == c["sub"]
    assert out["userinfo"]["email"] == "admin@example.com"
    assert out["userinfo"]["sub"] == c["sub"]


def test_openid_client_public_client_with_pkce(idp):
    meta = discovery(idp)
    issuer = meta["issuer"]
    assert issuer == idp.https + "/dex"
    out = run_rp(idp, issuer, clientId="rp-public", redirectUri=PUBLIC_CB)
    check_flow(out, issuer, "rp-public", replayed=False)

    # The gateway authenticates the provider's tokens as Bearer tokens (kubectl sends ID
    # tokens); what the user may then do is RBAC's business, so only 401 is ruled out.
    api = idp.https + "/api/v1/namespaces"
    for token in (out["idToken"], out["accessToken"]):
        r = requests.get(api, headers={"Authorization": "Bearer " + token}, verify=idp.ca,
                         timeout=10)
        assert r.status_code != 401, r.text
    tampered = out["idToken"][:-4] + ("AAAA" if not out["idToken"].endswith("AAAA") else "BBBB")
    r = requests.get(api, headers={"Authorization": "Bearer " + tampered}, verify=idp.ca,
                     timeout=10)
    assert r.status_code == 401

    # The refresh token survives a restart of the server.
    idp.stop()
    logs = "\n".join(idp.out.all + idp.err.all)
    for secret in (out["refreshToken"], out["accessToken"], out["idToken"]):
        assert secret not in logs
    restarted = Skiff(idp.data_dir, config=idp.config).start()
    try:
        https = restarted.url.replace("http://", "https://", 1)
        r = requests.post(https + "/dex/token", verify=idp.ca, timeout=10, data={
            "grant_type": "refresh_token", "refresh_token": out["refreshToken"],
            "client_id": "rp-public"})
        assert r.status_code == 200, r.text
        assert r.json()["id_token"]
    finally:
        assert restarted.stop() == 0


def test_openid_client_confidential_client_secret_basic(idp):
    issuer = discovery(idp)["issuer"]
    out = run_rp(idp, issuer, clientId="rp-app", clientSecret=APP_SECRET, redirectUri=APP_CB,
                 replay=True)
    check_flow(out, issuer, "rp-app", replayed=True)
    # The replayed code revoked the refresh token that had been issued from it (after rotation).
    r = requests.post(idp.https + "/dex/token", verify=idp.ca, timeout=10,
                      data={"grant_type": "refresh_token", "refresh_token": out["refreshToken"]},
                      auth=("rp-app", APP_SECRET))
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_grant"


def test_keys_are_private_files_and_published(idp):
    d = os.path.join(idp.data_dir, "identity")
    assert os.stat(d).st_mode & 0o777 == 0o700
    assert os.stat(os.path.join(d, "keys.json")).st_mode & 0o777 == 0o600
    jwks = requests.get(idp.https + "/dex/keys", verify=idp.ca, timeout=10).json()
    assert len(jwks["keys"]) >= 1
    for k in jwks["keys"]:
        assert "d" not in k and "p" not in k
        assert k["use"] == "sig"


def auth_url(idp, client_id, redirect_uri, **extra):
    q = {"client_id": client_id, "redirect_uri": redirect_uri, "response_type": "code",
         "scope": "openid email", "state": "xyz", **extra}
    return idp.https + "/dex/auth?" + urllib.parse.urlencode(q)


def test_refusals_never_redirect_elsewhere(idp):
    for cb in (APP_CB + "/../evil", APP_CB + "x", "https://evil.example.com/cb"):
        r = requests.get(auth_url(idp, "rp-app", cb), verify=idp.ca, timeout=10,
                         allow_redirects=False)
        assert r.status_code == 400, cb
        assert "Location" not in r.headers
    # A public client without PKCE: the error goes back to its registered redirect_uri.
    r = requests.get(auth_url(idp, "rp-public", PUBLIC_CB), verify=idp.ca, timeout=10,
                     allow_redirects=False)
    assert r.status_code == 302
    loc = urllib.parse.urlparse(r.headers["Location"])
    assert f"{loc.scheme}://{loc.netloc}{loc.path}" == PUBLIC_CB
    q = urllib.parse.parse_qs(loc.query)
    assert q["error"] == ["invalid_request"] and q["state"] == ["xyz"]
    # Token endpoint errors are RFC 6749 JSON.
    r = requests.post(idp.https + "/dex/token", verify=idp.ca, timeout=10,
                      data={"grant_type": "authorization_code", "code": "nope"},
                      auth=("rp-app", "wrong-secret-0123456789"))
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client"


def test_failed_logins_back_off(idp):
    s = requests.Session()
    # verify per request: a Session's verify loses to REQUESTS_CA_BUNDLE from the environment.
    page = s.get(auth_url(idp, "rp-app", APP_CB), verify=idp.ca, timeout=10)
    assert page.status_code == 200
    assert '<label for="password">' in page.text

    def field(name):
        marker = f'name="{name}" value="'
        i = page.text.index(marker) + len(marker)
        return page.text[i:page.text.index('"', i)]

    form = {"req": field("req"), "csrf": field("csrf"), "login": "admin@example.com"}
    for i in range(5):
        r = s.post(idp.https + "/dex/auth/local", data={**form, "password": f"wrong{i}"},
                   verify=idp.ca, timeout=10, allow_redirects=False)
        assert r.status_code == 401
    r = s.post(idp.https + "/dex/auth/local", data={**form, "password": "password"},
               verify=idp.ca, timeout=10, allow_redirects=False)
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) >= 1
    # A form posted without the browser's cookie (login CSRF) is refused.
    r = requests.post(idp.https + "/dex/auth/local", data={**form, "password": "password"},
                      verify=idp.ca, timeout=10, allow_redirects=False)
    assert r.status_code == 403


def test_bad_hash_stops_start_up_with_the_field_named(tmpdir_path):
    bad = CONFIG.replace(DEX_HASH, DEX_HASH.replace("$10$", "$04$"))
    s = Skiff(os.path.join(tmpdir_path, "data"), config=write_config(tmpdir_path, bad))
    with pytest.raises(AssertionError):
        s.start(timeout=15)
    rc = s.proc.wait(timeout=15)
    assert rc == 2
    stderr = "\n".join(s.err.all)
    assert "identity.staticPasswords[0].hash" in stderr and "cost 4" in stderr, stderr


def test_openid_client_with_the_ldap_connector_over_starttls(tmpdir_path):
    from ldap_peer import LdapPeer

    with LdapPeer(os.path.join(tmpdir_path, "ldap"), tls=True) as ldap:
        anonymous_binds = ldap.count_binds("")  # the harness's readiness probe
        config = f"""
identity:
  connectors:
    - type: ldap
      id: ldap
      name: Corporate LDAP
      config:
        host: 127.0.0.1:{ldap.port}
        startTLS: true
        rootCA: {ldap.ca_file}
        bindDN: {ldap.bind_dn}
        bindPW: {ldap.bind_pw}
        usernamePrompt: Username
        userSearch:
          baseDN: {ldap.base_dn}
          filter: "(objectClass=inetOrgPerson)"
          username: uid
          idAttr: DN
          emailAttr: mail
          nameAttr: cn
          preferredUsernameAttr: uid
        groupSearch:
          baseDN: ou=Groups,{ldap.base_dn}
          filter: "(objectClass=groupOfNames)"
          userMatchers:
            - userAttr: DN
              groupAttr: member
          nameAttr: cn
  staticClients:
    - id: rp-public
      public: true
      redirectURIs: ["{PUBLIC_CB}"]
"""
        s = Skiff(os.path.join(tmpdir_path, "data"), config=write_config(tmpdir_path, config))
        s.start()
        try:
            s.ca = os.path.join(s.data_dir, "tls", "ca.crt")
            s.https = s.url.replace("http://", "https://", 1)
            issuer = discovery(s)["issuer"]
            out = run_rp(s, issuer, clientId="rp-public", redirectUri=PUBLIC_CB, email="alice",
                         password="alice-pw")
            assert out["wrongStatus"] == 401
            c = out["claims"]
            assert c["iss"] == issuer and c["aud"] == "rp-public"
            assert c["email"] == "alice@example.org"
            assert c["email_verified"] is True
            assert c["name"] == "Alice Smith"
            assert c["preferred_username"] == "alice"
            assert sorted(c["groups"]) == ["admins", "datascience"]
            assert out["userinfo"]["email"] == "alice@example.org"
            # The password went to slapd as alice's bind, twice (wrong, then right); the service
            # account bound for the searches. Skiff made no anonymous bind.
            assert ldap.count_binds("uid=alice,ou=People,dc=example,dc=org") == 2
            assert ldap.count_binds("") == anonymous_binds
        finally:
            assert s.stop() == 0
        logs = "\n".join(s.out.all + s.err.all)
        assert "alice-pw" not in logs and ldap.bind_pw not in logs
