"""AWS ALB mode through the real server: x-amzn-oidc-data built as the ALB builds it (ES256 over
base64url segments WITH padding, signer/client/iss/exp in the header, kid a UUID) and verified
against PEM keys served by kid from a local HTTPS key server (auth.alb.keyURL)."""
import base64
import json
import os
import time
import uuid

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from conftest import HttpsFiles, Skiff

REGION = "eu-central-1"
ARN = "arn:aws:elasticloadbalancing:eu-central-1:123456789012:loadbalancer/app/skiff/50dc6c495c0c9188"
CLIENT = "5k7pqm3f9ihnp8dfbqa7ue0vbc"
ISSUER = "https://cognito-idp.eu-central-1.amazonaws.com/eu-central-1_AbCdEfGhI"


def padded(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).decode()  # keeps '='


def odd_json(obj):
    """JSON whose length is not a multiple of 3, so its base64 carries padding."""
    text = json.dumps(obj)
    while len(text) % 3 == 0:
        obj = dict(obj, pad=obj.get("pad", "") + "x")
        text = json.dumps(obj)
    return text


class KeyServer(HttpsFiles):
    """The regional ALB public-key endpoint: GET /<kid> answers the PEM."""

    def __init__(self, directory):
        super().__init__(os.path.join(directory, "keys-tls"))

    def add(self, private_key):
        kid = str(uuid.uuid4())
        self.files["/" + kid] = private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        return kid


def alb_token(key, kid, header_over=None, payload_over=None, pad=True):
    now = int(time.time())
    header = {"typ": "JWT", "kid": kid, "alg": "ES256", "iss": ISSUER, "client": CLIENT,
              "signer": ARN, "exp": now + 120}
    header.update(header_over or {})
    payload = {"sub": "23d498b2-3031-70d2-8a15-49dd886a087b", "email_verified": "true",
               "email": "erin@example.com", "username": "erin", "exp": now + 120,
               "iss": ISSUER, "cognito:groups": ["datascience"]}
    payload.update(payload_over or {})
    enc = padded if pad else (lambda d: padded(d).rstrip("="))
    signing_input = enc(odd_json(header)) + "." + enc(odd_json(payload))
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return signing_input + "." + enc(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


class Env:
    pass


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("auth-alb"))
    e = Env()
    e.keys = KeyServer(d)
    e.key = ec.generate_private_key(ec.SECP256R1())
    e.kid = e.keys.add(e.key)
    cfg = os.path.join(d, "skiff.yaml")
    with open(cfg, "w") as f:
        f.write(f"""
identity:
  enabled: false
auth:
  login: "off"
  alb:
    region: {REGION}
    signer: {ARN}
    clientID: {CLIENT}
    issuer: {ISSUER}
    keyURL: {e.keys.url}
    caFile: {e.keys.ca}
""")
    s = Skiff(os.path.join(d, "data"), config=cfg)
    try:
        s.start()
        e.skiff = s
        yield e
    finally:
        rc = s.stop()
        e.keys.stop()
    assert rc == 0


def get(env, headers):
    return requests.get(env.skiff.url + "/skiff/whoami", headers=headers, timeout=30)


def test_alb_token_is_the_identity(env):
    token = alb_token(env.key, env.kid)
    assert "=" in token.split(".")[0]  # padded, as the ALB sends it
    before = env.keys.fetches
    for _ in range(3):
        r = get(env, {"x-amzn-oidc-data": token, "x-amzn-oidc-identity": "someone-else",
                      "x-amzn-oidc-accesstoken": "opaque"})
        assert r.status_code == 200, r.text
        who = r.json()
        assert who["user"] == "erin@example.com" and who["method"] == "alb"
        assert who["userIdHeader"] == "erin@example.com"
        assert who["groupsHeader"] == "datascience"
        assert not any(n.startswith("x-amzn-oidc-") for n in who["headerNames"])
    assert env.keys.fetches - before == 1  # the key is cached by kid


def test_identity_header_alone_is_not_trusted(env):
    r = get(env, {"x-amzn-oidc-identity": "erin@example.com"})
    assert r.status_code == 401
    r = get(env, {"x-amzn-oidc-accesstoken": alb_token(env.key, env.kid)})
    assert r.status_code == 401


def test_forged_alb_tokens_are_refused(env):
    rogue = ec.generate_private_key(ec.SECP256R1())
    rogue_kid = env.keys.add(rogue)
    now = int(time.time())
    bad = {
        "other signer": alb_token(env.key, env.kid, {"signer": ARN.replace("skiff", "evil")}),
        "other client": alb_token(env.key, env.kid, {"client": "someone"}),
        "other issuer": alb_token(env.key, env.kid, {"iss": "https://evil.example"}),
        "expired": alb_token(env.key, env.kid, {"exp": now - 3600}),
        "signed by another key": alb_token(rogue, env.kid),
        "kid not a UUID": alb_token(env.key, "../../etc/passwd"),
        "tampered payload": None,
    }
    good = alb_token(env.key, env.kid)
    h, p, s = good.split(".")
    bad["tampered payload"] = h + "." + padded(odd_json({"email": "root@example.com"})) + "." + s
    # Padding removed on the way (what a "fixing" proxy would do): the signed bytes differ.
    bad["padding stripped"] = ".".join(x.rstrip("=") for x in (h, p, s))
    for name, token in bad.items():
        before = len(env.skiff.err.all)
        r = get(env, {"x-amzn-oidc-data": token})
        assert r.status_code == 401, (name, r.text)
        assert r.headers["WWW-Authenticate"] == 'Bearer realm="skiff"'
    # A valid token from a key the server does publish (another kid) works: keys are by kid.
    assert get(env, {"x-amzn-oidc-data": alb_token(rogue, rogue_kid)}).status_code == 200
    text = "\n".join(env.skiff.err.all)
    assert good not in text and s not in text


def test_alb_off_strips_every_amzn_header(tmp_path):
    s = Skiff(str(tmp_path / "data")).start()
    try:
        key = ec.generate_private_key(ec.SECP256R1())
        r = requests.get(s.url + "/skiff/whoami", timeout=30, headers={
            "Authorization": f"Bearer {s.token}",
            "x-amzn-oidc-data": alb_token(key, str(uuid.uuid4())),
            "x-amzn-oidc-identity": "erin@example.com", "X-Amzn-Oidc-Accesstoken": "t"})
        assert r.status_code == 200
        who = r.json()
        assert who["user"] == "admin"
        assert not any(n.startswith("x-amzn-oidc-") for n in who["headerNames"])
        # Without ALB mode the data header is no credential at all.
        r = requests.get(s.url + "/skiff/whoami", timeout=30, headers={
            "x-amzn-oidc-data": alb_token(key, str(uuid.uuid4()))})
        assert r.status_code == 401
    finally:
        assert s.stop() == 0
