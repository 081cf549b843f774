"""Webhooks over HTTP, on both databases: CRUD, the secret shown once, errors, roles, tenants,
and the delivery log after a real delivery."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from segmint.signing import SIGNATURE_HEADER, verify
from segmint.worker.delivery import Deliverer
from segmint.worker.loop import Worker
from tests.api.conftest import Api, error_of
from tests.receiver import Receiver

URL = "https://crm.example.com/hooks/segmint"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


def _create(api: Api, **fields: Any) -> dict[str, Any]:
    response = api.post("webhooks", json={"url": URL, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_create_shows_the_secret_once(api: Api) -> None:
    created = _create(api, description="CRM sync ")
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 40
    assert created["secret_hint"] == created["secret"][:10] + "..."
    assert created["events"] == ["segment.entered", "segment.exited"]
    assert created["segment_id"] is None and created["active"] is True
    assert created["description"] == "CRM sync"
    assert (created["pending"], created["consecutive_failures"]) == (0, 0)

    fetched = api.get(f"webhooks/{created['id']}").json()
    assert "secret" not in fetched
    assert fetched["secret_hint"] == created["secret_hint"]
    assert [w["id"] for w in api.get("webhooks").json()["items"]] == [created["id"]]

    rotated = api.post(f"webhooks/{created['id']}/rotate-secret").json()
    assert rotated["secret"] != created["secret"]


def test_update_and_delete(api: Api) -> None:
    segment = api.post(
        "segments", json={"name": "New", "filter": {"field": "status", "op": "eq", "value": "new"}}
    ).json()
    hook = _create(api, secret="my-own-secret-0123456789")
    changed = api.patch(
        f"webhooks/{hook['id']}",
        json={"events": ["segment.exited"], "segment_id": segment["id"], "active": False},
    ).json()
    assert (changed["events"], changed["segment_id"], changed["active"]) == (
        ["segment.exited"],
        segment["id"],
        False,
    )
    assert changed["secret_hint"] == "my-own-sec..."
    assert api.delete(f"webhooks/{hook['id']}").status_code == 204
    assert api.get(f"webhooks/{hook['id']}").status_code == 404


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "/relative"}, "url"),
        ({"url": URL, "events": []}, "events"),
        ({"url": URL, "events": ["segment.updated"]}, "events[0]"),
        ({"url": URL, "segment_id": 999999}, "segment_id"),
        ({"url": URL, "secret": "short"}, "secret"),
        ({"url": URL, "colour": "red"}, "colour"),
    ],
)
def test_bad_webhooks_name_the_field(api: Api, body: dict[str, Any], path: str) -> None:
    response = api.post("webhooks", json=body)
    assert response.status_code == 422, response.text
    assert error_of(response)["path"] == path


def test_null_for_a_required_field_is_refused(api: Api) -> None:
    hook = _create(api)
    response = api.patch(f"webhooks/{hook['id']}", json={"url": None})
    assert response.status_code == 422
    assert error_of(response)["path"] == "url"


def test_roles_and_tenants(api: Api) -> None:
    hook = _create(api)
    assert api.post("webhooks", as_="admin", json={"url": URL}).status_code == 201
    assert api.get("webhooks", as_="member").status_code == 403
    assert api.post("webhooks", as_="member", json={"url": URL}).status_code == 403
    assert api.get("webhooks", as_="").status_code == 401
    assert api.get(f"webhooks/{hook['id']}", as_="stranger").status_code == 404
    assert api.get("webhooks", as_="stranger").json()["items"] == []
    assert api.delete(f"webhooks/{hook['id']}", as_="stranger").status_code == 404
    assert api.get(f"webhooks/{hook['id']}").status_code == 200


def test_delivery_log_after_a_real_delivery(api: Api, receiver: Receiver) -> None:
    api.post(
        "segments", json={"name": "New", "filter": {"field": "status", "op": "eq", "value": "new"}}
    )
    hook = _create(api, url=receiver.url)
    engine = api.client.app.state.engine  # type: ignore[attr-defined]
    Worker(engine).drain()
    for i in range(3):
        api.post("leads", json={"email": f"p{i}@x.test", "status": "new"})
    Worker(engine).drain()
    assert api.get(f"webhooks/{hook['id']}").json()["pending"] == 3

    receiver.fail_with(503, 1)
    deliverer = Deliverer(engine, batch=2)
    assert deliverer.drain() == 0
    failing = api.get(f"webhooks/{hook['id']}").json()
    assert failing["consecutive_failures"] == 1 and failing["next_attempt_at"] is not None
    api.patch(f"webhooks/{hook['id']}", json={"active": True})  # retry now, not after backoff
    assert deliverer.drain() == 3

    request = receiver.received[0]
    assert verify(hook["secret"], request.body, request.headers[SIGNATURE_HEADER])
    page = api.get(f"webhooks/{hook['id']}/attempts", params={"limit": 2}).json()
    assert [(a["succeeded"], a["status_code"]) for a in page["items"]] == [(True, 200), (True, 200)]
    assert [len(a["history_ids"]) for a in page["items"]] == [1, 2]  # newest first
    assert [a["account_history_ids"] for a in page["items"]] == [[], []]  # lead segments' only
    older = api.get(
        f"webhooks/{hook['id']}/attempts", params={"limit": 2, "before": page["next_before"]}
    ).json()
    assert [(a["succeeded"], a["status_code"]) for a in older["items"]] == [(False, 503)]
    assert older["items"][0]["error"].startswith("HTTP 503")
    assert older["next_before"] is None
    assert api.get(f"webhooks/{hook['id']}").json()["pending"] == 0
