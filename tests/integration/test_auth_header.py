"""Trusted-header mode (behind oauth2-proxy, Istio...): the configured user header is believed
only from the configured source addresses, and never passed on as sent."""
import os

import requests

from conftest import start_trusted_header_skiff


def start(tmp_path, sources):
    return start_trusted_header_skiff(tmp_path, sources, groups_header="X-Forwarded-Groups")


def test_header_honoured_from_an_allowed_source(tmp_path):
    s = start(tmp_path, "127.0.0.1/32, ::1")
    try:
        r = requests.get(s.url + "/skiff/whoami", timeout=30, headers={
            "X-Forwarded-Email": "frank@example.com", "X-Forwarded-Groups": "ds, ml",
            "kubeflow-userid": "ops@example.com"})
        assert r.status_code == 200, r.text
        who = r.json()
        assert who["user"] == "frank@example.com" and who["method"] == "header"
        assert who["userIdHeader"] == "frank@example.com"
        assert who["groupsHeader"] == "ds,ml"
        assert "x-forwarded-email" not in who["headerNames"]
        assert who["admin"] is False
        r = requests.get(s.url + "/skiff/whoami", timeout=30,
                         headers={"X-Forwarded-Email": "ops@example.com"})
        assert r.json()["admin"] is True
        # No header: nothing to go on.
        assert requests.get(s.url + "/skiff/whoami", timeout=30).status_code == 401
    finally:
        assert s.stop() == 0


def test_header_ignored_from_other_sources(tmp_path):
    s = start(tmp_path, "10.0.0.0/8")
    try:
        r = requests.get(s.url + "/skiff/whoami", timeout=30,
                         headers={"X-Forwarded-Email": "frank@example.com"})
        assert r.status_code == 401
        # The admin token still works, and the unbelieved header does not reach the handler.
        r = requests.get(s.url + "/skiff/whoami", timeout=30, headers={
            "Authorization": f"Bearer {s.token}", "X-Forwarded-Email": "frank@example.com"})
        assert r.status_code == 200
        assert r.json()["user"] == "admin"
        assert "x-forwarded-email" not in r.json()["headerNames"]
    finally:
        assert s.stop() == 0
