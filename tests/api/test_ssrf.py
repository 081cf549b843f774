"""Webhook and campaign webhook URLs that point inside the network are refused when saved, on
both databases, unless the operator allows private destinations (SSRF; delivery checks again
at connect time: tests/engine/test_webhooks.py, tests/campaigns/test_delivery.py)."""

from __future__ import annotations

import pytest

from segmint.outbound import ALLOW_PRIVATE_ENV
from tests.api.conftest import Api, error_of

INSIDE = {
    "http://127.0.0.1:8080/hook": "127.0.0.1 is a loopback address",
    "http://10.0.0.1/hook": "10.0.0.1 is a private address",
    "http://169.254.169.254/latest/meta-data/": "169.254.169.254 is a link-local (cloud metadata)",
    "http://[::1]:8080/hook": "::1 is a loopback address",
    "http://[::ffff:127.0.0.1]/hook": "::ffff:127.0.0.1 is a loopback address",
    "http://localhost:8080/hook": "localhost resolves to",
    "https://0.0.0.0/hook": "0.0.0.0 is an unspecified address",
}


@pytest.fixture
def private_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOW_PRIVATE_ENV, raising=False)


def test_webhooks_to_inside_addresses_are_refused_when_saved(
    api: Api, private_refused: None
) -> None:
    for url, reason in INSIDE.items():
        response = api.post("webhooks", json={"url": url})
        assert response.status_code == 422, (url, response.text)
        error = error_of(response)
        assert error["path"] == "url"
        assert error["message"].startswith(reason), (url, error)
        assert ALLOW_PRIVATE_ENV in error["message"]
    assert api.get("webhooks").json()["items"] == []


def test_a_webhook_cannot_be_moved_inside(
    api: Api, private_refused: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "1")
    hook = api.post("webhooks", json={"url": "http://127.0.0.1:9/hook"}).json()
    monkeypatch.delenv(ALLOW_PRIVATE_ENV)
    response = api.patch(f"webhooks/{hook['id']}", json={"url": "http://10.1.2.3/hook"})
    assert response.status_code == 422 and error_of(response)["path"] == "url"
    assert api.get(f"webhooks/{hook['id']}").json()["url"] == "http://127.0.0.1:9/hook"


def test_campaign_webhooks_to_inside_addresses_are_refused_when_saved(
    api: Api, private_refused: None
) -> None:
    segment = api.post(
        "segments", json={"name": "New", "filter": {"field": "status", "op": "eq", "value": "new"}}
    ).json()
    targeting = {"include_segments": [segment["id"]]}
    for url, reason in INSIDE.items():
        body = {"name": "Push", "targeting": targeting, "channel": "webhook", "webhook_url": url}
        response = api.post("campaigns", json=body)
        assert response.status_code == 422, (url, response.text)
        error = error_of(response)
        assert error["path"] == "webhook_url"
        assert error["message"].startswith(reason), (url, error)
    assert api.get("campaigns").json()["items"] == []


def test_an_unresolvable_host_is_refused_when_saved(api: Api, private_refused: None) -> None:
    response = api.post("webhooks", json={"url": "https://no-such-host.invalid/hook"})
    assert response.status_code == 422
    assert error_of(response) == {
        "code": "invalid",
        "message": "cannot resolve the host 'no-such-host.invalid'",
        "path": "url",
    }


def test_operators_may_allow_inside_addresses(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "1")
    for url in INSIDE:
        assert api.post("webhooks", json={"url": url}).status_code == 201, url
