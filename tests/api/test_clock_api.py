"""Requests that ask "now" ask the app's clock: with a clock frozen years ago, a segment about
the last week finds the leads of that week, in every route that evaluates it, and writes are
stamped with that moment."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from segmint.app import create_app
from segmint.clock import FrozenClock
from tests.api.conftest import Api

NOW = datetime(2020, 6, 1, 12, 0, tzinfo=UTC)  # long past: the system clock would find no one
LAST_WEEK = {"field": "created_at", "op": "within_last", "value": 7}


@pytest.fixture
def frozen(api: Api, db: Engine) -> Iterator[Api]:
    """The same users over an app whose clock stands at NOW, with two leads: one created two
    days before NOW, one a month before."""
    with TestClient(create_app(db, clock=FrozenClock(NOW))) as client:
        frozen = Api(client, api.project, api.tokens)
        for email, age in (("recent@example.com", 2), ("old@example.com", 30)):
            created = (NOW - timedelta(days=age)).isoformat()
            response = frozen.post("leads", json={"email": email, "created_at": created})
            assert response.status_code == 201, response.text
        yield frozen


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_segment_is_evaluated_at_the_apps_now(frozen: Api) -> None:
    body = {"name": "Last week", "filter": LAST_WEEK}
    segment = _ok(frozen.post("segments", json=body), 201)
    assert segment["member_count"] == 1
    url = f"segments/{segment['id']}"
    assert _ok(frozen.get(url))["member_count"] == 1
    assert [s["member_count"] for s in _ok(frozen.get("segments"))["items"]] == [1]
    counted = _ok(frozen.get(f"{url}/count"))
    assert counted["count"] == 1 and _when(counted["evaluated_at"]) == NOW
    members = _ok(frozen.get(f"{url}/members"))
    assert [lead["email"] for lead in members["items"]] == ["recent@example.com"]
    exported = frozen.get(f"{url}/export.csv")
    emails = [row["Email"] for row in csv.DictReader(io.StringIO(exported.text))]
    assert emails == ["recent@example.com"]
    assert _ok(frozen.patch(url, json={"name": "Renamed"}))["member_count"] == 1
    assert _ok(frozen.post(f"{url}/duplicate"), 201)["member_count"] == 1
    assert _ok(frozen.post(f"{url}/convert-to-list"), 201)["member_count"] == 1
    assert _ok(frozen.post("segments/preview", json={"filter": LAST_WEEK}))["count"] == 1


def test_a_list_refreshes_at_the_apps_now(frozen: Api) -> None:
    created = _ok(frozen.post("lists", json={"name": "Last week", "filter": LAST_WEEK}), 201)
    assert created["member_count"] == 0  # a list's filter applies only on refresh
    refreshed = _ok(frozen.post(f"lists/{created['id']}/refresh"))
    assert refreshed["member_count"] == 1
    assert _when(refreshed["updated_at"]) == NOW


def test_writes_are_stamped_with_the_apps_now(frozen: Api) -> None:
    lead = _ok(frozen.post("leads", json={"email": "new@example.com"}), 201)
    assert _when(lead["created_at"]) == _when(lead["updated_at"]) == NOW
    account = _ok(frozen.post("accounts", json={"name": "Acme"}), 201)
    assert _when(account["created_at"]) == NOW
    segment = _ok(frozen.post("segments", json={"name": "All", "filter": LAST_WEEK}), 201)
    assert _when(segment["created_at"]) == NOW


def test_lead_listing_explain_and_a_leads_segments_at_the_apps_now(frozen: Api) -> None:
    segment = _ok(frozen.post("segments", json={"name": "Last week", "filter": LAST_WEEK}), 201)
    listed = _ok(frozen.get("leads", params={"filter": json.dumps(LAST_WEEK)}))
    assert [lead["email"] for lead in listed["items"]] == ["recent@example.com"]
    recent = listed["items"][0]["id"]
    assert _ok(frozen.get(f"segments/{segment['id']}/explain/{recent}"))["result"] is True
    assert [s["id"] for s in _ok(frozen.get(f"leads/{recent}/segments"))["items"]] == [
        segment["id"]
    ]
