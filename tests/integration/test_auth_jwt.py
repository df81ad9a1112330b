"""Bearer JWTs through the real server: the good tokens work and a suite of forged ones is refused.

An external issuer's JWKS is served over HTTPS by a test server with its own CA (skiff gets it as
auth.jwt[].caFile). Tokens are built here with Debian's python3-cryptography. Every refusal is a
401 with a log line that says why and never contains the token.
"""
import base64
import hashlib
import hmac
import json
import os
import subprocess
import time

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from conftest import SKIFF, HttpsFiles, Skiff, wait_until

ISSUER = "https://issuer.test.example"
AUDIENCE = "skiff-api"


def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def int_b64u(n, length=None):
    length = length or (n.bit_length() + 7) // 8
    return b64u(n.to_bytes(length, "big"))


class Keys:
    def __init__(self):
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.rogue = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self):
        rn = self.rsa.public_key().public_numbers()
        en = self.ec.public_key().public_numbers()
        return {"keys": [
            {"kty": "RSA", "kid": "rsa1", "use": "sig", "alg": "RS256", "n": int_b64u(rn.n),
             "e": int_b64u(rn.e)},
            {"kty": "EC", "kid": "ec1", "use": "sig", "alg": "ES256", "crv": "P-256",
             "x": int_b64u(en.x, 32), "y": int_b64u(en.y, 32)},
        ]}


def claims(**over):
    now = int(time.time())
    c = {"iss": ISSUER, "aud": AUDIENCE, "sub": "u1", "email": "carol@example.com",
         "groups": ["datascience"], "iat": now, "exp": now + 300}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def sign(keys, payload, alg="RS256", kid="rsa1", header=None, raw_header=None, der=False):
    h = raw_header if raw_header is not None else json.dumps(
        header if header is not None else {"alg": alg, "typ": "JWT", "kid": kid})
    signing_input = b64u(h) + "." + b64u(json.dumps(payload))
    data = signing_input.encode()
    if alg == "RS256":
        sig = keys.rsa.sign(data, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "ES256":
        d = keys.ec.sign(data, ec.ECDSA(hashes.SHA256()))
        if der:
            sig = d
        else:
            r, s = decode_dss_signature(d)
            sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    elif alg == "HS256":
        secret = keys.rsa.public_key().public_bytes(serialization.Encoding.PEM,
                                                    serialization.PublicFormat.SubjectPublicKeyInfo)
        sig = hmac.new(secret, data, hashlib.sha256).digest()
    elif alg == "none":
        sig = b""
    else:
        raise ValueError(alg)
    return signing_input + "." + b64u(sig)


class JwksServer(HttpsFiles):
    def __init__(self, directory, keys):
        super().__init__(os.path.join(directory, "jwks-tls"),
                         {"/jwks.json": json.dumps(keys.jwks()).encode()}, "application/json")
        self.url += "/jwks.json"


class Env:
    pass


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("auth-jwt"))
    e = Env()
    e.keys = Keys()
    e.jwks = JwksServer(d, e.keys)
    cfg = os.path.join(d, "skiff.yaml")
    with open(cfg, "w") as f:
        f.write(f"""
http:
  maxHeaderBytes: 64KiB
auth:
  login: "off"
  jwt:
    - issuer: {ISSUER}
      audiences: [{AUDIENCE}]
      jwksURI: {e.jwks.url}
      caFile: {e.jwks.ca}
      algorithms: [RS256, ES256]
""")
    s = Skiff(os.path.join(d, "data"), config=cfg)
    try:
        s.start()
        e.skiff = s
        yield e
    finally:
        rc = s.stop()
        e.jwks.stop()
    assert rc == 0


def whoami(env, token, method="GET", headers=None):
    h = {"Authorization": f"Bearer {token}"}
    h.update(headers or {})
    if method == "GET":
        return requests.get(env.skiff.url + "/skiff/whoami", headers=h, timeout=30)
    return requests.post(env.skiff.url + "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                         headers=h, json={"kind": "SelfSubjectReview",
                                          "apiVersion": "authentication.k8s.io/v1"}, timeout=30)


def test_good_tokens_authenticate(env):
    for alg, kid in (("RS256", "rsa1"), ("ES256", "ec1")):
        r = whoami(env, sign(env.keys, claims(), alg=alg, kid=kid))
        assert r.status_code == 200, (alg, r.text)
        who = r.json()
        assert who["user"] == "carol@example.com" and who["method"] == "jwt"
        assert who["userIdHeader"] == "carol@example.com"
        assert who["groupsHeader"] == "datascience"
    # Bearer requests are exempt from CSRF (no cookie, no X-XSRF-TOKEN).
    r = whoami(env, sign(env.keys, claims()), method="POST")
    assert r.status_code == 201, r.text
    assert r.json()["status"]["userInfo"]["username"] == "carol@example.com"


def forged(env):
    k = env.keys
    now = int(time.time())
    good = sign(k, claims())
    h, p, s = good.split(".")
    tampered_payload = b64u(json.dumps(claims(email="root@example.com")))
    rogue = Keys()
    rogue.rsa = k.rogue
    return {
        "alg none": (sign(k, claims(), alg="none", header={"alg": "none", "typ": "JWT"}),
                     "no signature"),
        "alg none with a signature": (
            sign(k, claims(), alg="none", header={"alg": "none", "typ": "JWT"}) + "c2ln", "none"),
        "HS256 keyed with the RSA public key": (
            sign(k, claims(), alg="HS256", header={"alg": "HS256", "kid": "rsa1"}), "HS256"),
        "unknown kid": (sign(rogue, claims(), kid="nobody"), "kid"),
        "kid with path characters": (sign(k, claims(), kid="../../../etc/passwd"), "kid"),
        "signed by another key under a known kid": (sign(rogue, claims()), "signature"),
        "expired": (sign(k, claims(exp=now - 3600, iat=now - 7200)), "expired"),
        "not yet valid": (sign(k, claims(nbf=now + 3600)), "not valid before"),
        "wrong iss": (sign(k, claims(iss="https://evil.example")), "issuer"),
        "wrong aud": (sign(k, claims(aud="someone-else")), "aud"),
        "tampered payload": (f"{h}.{tampered_payload}.{s}", "signature"),
        "truncated signature": (f"{h}.{p}.{s[:-10]}", "signature"),
        "ES256 DER signature": (sign(k, claims(), alg="ES256", kid="ec1", der=True), "signature"),
        "oversize token": (sign(k, claims(pad="x" * 20000)), "16 KiB"),
        "duplicate JSON keys in header": (
            sign(k, claims(), raw_header='{"alg":"RS256","kid":"rsa1","alg":"RS256"}'),
            "duplicate"),
        "missing exp": (sign(k, claims(exp=None)), "exp"),
    }


def refusals(env):
    return [l for l in env.skiff.err.all if "refused" in l]


def test_forged_tokens_are_refused_with_a_reason_and_never_logged(env):
    for name, (token, reason) in forged(env).items():
        # stderr is read by a thread: wait for each request's line before the next request.
        before = len(refusals(env))
        r = whoami(env, token)
        assert r.status_code == 401, (name, r.status_code, r.text)
        assert r.headers["WWW-Authenticate"] == 'Bearer realm="skiff"'
        lines = wait_until(lambda: refusals(env)[before:] or None,
                           what=f"a refusal log line for {name}")
        assert len(lines) == 1 and reason.lower() in lines[0].lower(), (name, lines)
        # State-changing requests too.
        assert whoami(env, token, method="POST").status_code == 401, name
        wait_until(lambda: len(refusals(env)) >= before + 2, what=f"the POST refusal for {name}")
        sig = token.rsplit(".", 1)[-1]
        body = token.split(".")[1] if token.count(".") >= 1 else token
        for l in env.skiff.err.all:
            assert token not in l, name
            assert len(sig) < 16 or sig not in l, name
            assert len(body) < 16 or body not in l, name


def test_unknown_kids_refetch_the_jwks_at_most_once_per_interval(env):
    base = env.jwks.fetches
    rogue = Keys()
    for i in range(10):
        assert whoami(env, sign(rogue, claims(), kid=f"random-{i}")).status_code == 401
    assert env.jwks.fetches - base <= 1


def test_spoofed_identity_headers_are_replaced(env):
    r = requests.get(env.skiff.url + "/skiff/whoami", timeout=30,
                     headers={"Authorization": f"Bearer {env.skiff.token}",
                              "kubeflow-userid": "carol@example.com",
                              "kubeflow-groups": "platform-admins",
                              "x-amzn-oidc-identity": "carol@example.com"})
    assert r.status_code == 200
    who = r.json()
    assert who["user"] == "admin" and who["userIdHeader"] == "admin"
    assert who["groupsHeader"] == "system:masters"
    # Without credentials the spoofed header alone is nothing.
    r = requests.get(env.skiff.url + "/skiff/whoami", timeout=30,
                     headers={"kubeflow-userid": "admin"})
    assert r.status_code == 401


def test_bad_auth_config_is_a_startup_error_naming_the_key(tmp_path):
    cfg = tmp_path / "skiff.yaml"
    cfg.write_text("auth:\n  jwt:\n    - issuer: https://x.example\n")
    r = subprocess.run([SKIFF, "up", "--data-dir", str(tmp_path / "data"), "--addr",
                        "127.0.0.1:0", "--config", str(cfg)], capture_output=True, text=True,
                       timeout=30, env={**os.environ, "SKIFF_DEMO_ENABLED": "false"})
    assert r.returncode == 2
    assert "auth.jwt[0].audiences" in r.stderr
    cfg.write_text("auth:\n  trustedHeader:\n    header: x-user\n    sources: [not-an-ip]\n")
    r = subprocess.run([SKIFF, "up", "--data-dir", str(tmp_path / "data"), "--addr",
                        "127.0.0.1:0", "--config", str(cfg)], capture_output=True, text=True,
                       timeout=30, env={**os.environ, "SKIFF_DEMO_ENABLED": "false"})
    assert r.returncode == 2
    assert "auth.trustedHeader.sources" in r.stderr
