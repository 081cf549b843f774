"""Segment analytics over HTTP, on both databases: membership driven by the worker across days
of the project's zone, then exact numbers for the trend, entries and exits, events, conversion."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from segmint.app import create_app
from segmint.clock import FrozenClock
from segmint.store.tables import projects
from segmint.worker.loop import Worker
from tests.api.conftest import Api, error_of

NEW_OR_QUALIFIED = {"field": "status", "op": "in", "value": ["new", "qualified"]}
# 21:00 in Tokyo (UTC+9, no DST): six hours later it is the next local day, though not in UTC.
START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def timed(api: Api, db: Engine, clock: FrozenClock) -> Iterator[Api]:
    """The same users over an app whose clock the test moves, in a project on Tokyo time."""
    with db.begin() as conn:
        conn.execute(
            projects.update().where(projects.c.id == api.project.id).values(timezone="Asia/Tokyo")
        )
    with TestClient(create_app(db, clock=clock)) as client:
        yield Api(client, api.project, api.tokens)


def _lead(api: Api, email: str, status: str, score: float) -> int:
    response = api.post("leads", json={"email": email, "status": status, "engagement_score": score})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _status(api: Api, lead_id: int, status: str) -> None:
    assert api.patch(f"leads/{lead_id}", json={"status": status}).status_code == 200


def _analytics(api: Api, segment_id: int, **params: Any) -> dict[str, Any]:
    response = api.get(f"segments/{segment_id}/analytics", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _events(api: Api, *events: tuple[int, str, str]) -> None:
    body = {"events": [{"lead_id": i, "type": t, "occurred_at": at} for i, t, at in events]}
    assert api.post("events", json=body).json()["errors"] == []


def _days(body: dict[str, Any]) -> list[tuple[str, int, float | None, int, int]]:
    return [
        (d["day"], d["member_count"], d["avg_engagement_score"], d["entered"], d["exited"])
        for d in body["daily"]
    ]


def test_trend_entries_exits_events_and_conversion_across_local_days(
    timed: Api, db: Engine, clock: FrozenClock
) -> None:
    worker = Worker(db, clock)
    a = _lead(timed, "a@x.test", "new", 10)
    b = _lead(timed, "b@x.test", "qualified", 20)
    c = _lead(timed, "c@x.test", "contacted", 30)
    d = _lead(timed, "d@x.test", "new", 40)
    response = timed.post("segments", json={"name": "Hot", "filter": NEW_OR_QUALIFIED})
    segment_id = response.json()["id"]
    worker.drain()  # Nov 1, 21:00 Tokyo: a, b and d enter

    clock.advance(timedelta(hours=6))  # Nov 2, 03:00 Tokyo (still Nov 1 in UTC)
    _status(timed, c, "new")
    _status(timed, a, "lost")
    worker.drain()

    clock.advance(timedelta(days=1))  # Nov 3
    e = _lead(timed, "e@x.test", "new", 50)
    worker.drain()

    clock.advance(timedelta(days=1))  # Nov 4, 03:00 Tokyo: now
    _status(timed, d, "contacted")
    _status(timed, a, "qualified")  # the converted status
    worker.drain()

    _events(
        timed,
        (a, "page_view", "2026-11-02T01:00:00Z"),
        (a, "page_view", "2026-11-02T02:00:00Z"),
        (a, "email_open", "2026-11-02T03:00:00Z"),
        (b, "page_view", "2026-11-01T00:00:00Z"),
        (b, "email_open", "2026-10-31T00:00:00Z"),
        (b, "page_view", "2026-10-10T00:00:00Z"),  # in the last 30 days, not the last 5
        (b, "page_view", "2026-09-01T00:00:00Z"),  # before either window
        (c, "email_open", "2026-11-03T17:00:00Z"),
        (c, "webinar", "2026-11-10T00:00:00Z"),  # after now
        (d, "page_view", "2026-11-02T00:00:00Z"),  # d is no longer a member
        (d, "page_view", "2026-11-02T00:00:01Z"),
        (e, "trial_signup", "2026-11-03T00:00:00Z"),
    )

    body = _analytics(timed, segment_id, days=5)
    assert _days(body) == [
        ("2026-10-31", 0, None, 0, 0),
        ("2026-11-01", 3, 23.33, 3, 0),  # a, b, d
        ("2026-11-02", 3, 30.0, 1, 1),  # c in, a out: b, c, d
        ("2026-11-03", 4, 35.0, 1, 0),  # e in
        ("2026-11-04", 4, 27.5, 1, 1),  # d out, a back: a, b, c, e
    ]
    assert body["member_count"] == 4 and body["avg_engagement_score"] == 27.5
    assert body["converted_status"] == "qualified"
    assert body["converted_count"] == 2 and body["conversion_rate"] == 0.5
    assert body["frozen"] is False and body["days"] == 5 and body["timezone"] == "Asia/Tokyo"
    assert body["segment_id"] == segment_id
    assert datetime.fromisoformat(body["evaluated_at"]) == clock.now()
    # Oct 30 15:00 UTC (Oct 31 00:00 in Tokyo) up to now: b's September view is out, and so
    # are c's future webinar and d's views (d is not a member now).
    assert body["top_events"] == [
        {"type": "email_open", "count": 3, "members": 3},
        {"type": "page_view", "count": 3, "members": 2},
        {"type": "trial_signup", "count": 1, "members": 1},
    ]

    narrow = _analytics(timed, segment_id, days=1)
    assert _days(narrow) == [("2026-11-04", 4, 27.5, 1, 1)]
    # Since Nov 4, 00:00 in Tokyo (Nov 3, 15:00 UTC).
    assert narrow["top_events"] == [{"type": "email_open", "count": 1, "members": 1}]

    default = _analytics(timed, segment_id)
    assert default["days"] == 30 and len(default["daily"]) == 30
    assert default["daily"][-1]["day"] == "2026-11-04"
    assert default["daily"][0] == {
        "day": "2026-10-06",
        "member_count": 0,
        "avg_engagement_score": None,
        "entered": 0,
        "exited": 0,
    }
    assert [(t["type"], t["count"], t["members"]) for t in default["top_events"]] == [
        ("page_view", 4, 2),
        ("email_open", 3, 3),
        ("trial_signup", 1, 1),
    ]


def test_inactive_segment_is_frozen(timed: Api, db: Engine, clock: FrozenClock) -> None:
    worker = Worker(db, clock)
    a = _lead(timed, "a@x.test", "new", 10)
    _lead(timed, "b@x.test", "contacted", 20)
    segment_id = timed.post("segments", json={"name": "New", "filter": NEW_OR_QUALIFIED}).json()[
        "id"
    ]
    worker.drain()
    assert timed.patch(f"segments/{segment_id}", json={"active": False}).status_code == 200
    clock.advance(timedelta(days=1))
    _status(timed, a, "lost")  # would leave an active segment
    worker.drain()

    body = _analytics(timed, segment_id, days=2)
    assert body["frozen"] is True
    assert body["member_count"] == 1 and body["avg_engagement_score"] == 10.0
    assert body["converted_count"] == 0 and body["conversion_rate"] == 0.0
    assert _days(body) == [("2026-11-01", 1, 10.0, 1, 0), ("2026-11-02", 1, 10.0, 0, 0)]


def test_empty_segment_has_no_average_or_rate(timed: Api) -> None:
    segment_id = timed.post("segments", json={"name": "None", "filter": NEW_OR_QUALIFIED}).json()[
        "id"
    ]
    body = _analytics(timed, segment_id, days=1)
    assert body["member_count"] == 0 and body["avg_engagement_score"] is None
    assert body["converted_count"] == 0 and body["conversion_rate"] is None
    assert _days(body) == [("2026-11-01", 0, None, 0, 0)] and body["top_events"] == []


def test_same_access_rules_as_other_segment_endpoints(timed: Api) -> None:
    segment_id = timed.post("segments", json={"name": "Mine", "filter": NEW_OR_QUALIFIED}).json()[
        "id"
    ]
    url = f"segments/{segment_id}/analytics"
    assert timed.get(url, as_="admin").status_code == 200
    assert timed.get(url, as_="stranger").status_code == 404  # another organization's
    assert timed.get("segments/999999/analytics").status_code == 404
    assert timed.get(url, as_="member").status_code == 403  # another user's segment
    assert timed.get(url, as_="").status_code == 401
    for bad in ("0", "366", "week"):
        refused = timed.get(url, params={"days": bad})
        assert refused.status_code == 422, bad
        assert error_of(refused)["path"] == "days"


def test_openapi_documents_the_response_with_an_example(timed: Api) -> None:
    spec = timed.client.get("/api/v1/openapi.json").json()
    operation = spec["paths"]["/api/v1/projects/{project}/segments/{segment_id}/analytics"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"days", "segment_id", "project"}
    schema = spec["components"]["schemas"]["SegmentAnalytics"]
    assert schema["examples"][0]["daily"][0]["day"] == "2026-11-21"


def test_score_trend_and_before_after_from_the_score_history(
    timed: Api, db: Engine, clock: FrozenClock
) -> None:
    from segmint.store.tables import score_history

    ann = _lead(timed, "ann@x.test", "new", 0)
    segment = timed.post("segments", json={"name": "Open", "filter": NEW_OR_QUALIFIED}).json()
    Worker(db, clock).drain()
    with db.begin() as conn:  # Ann's score as scoring records it: 10, then 40 two days later
        for at, score in ((START + timedelta(hours=1), 10.0), (START + timedelta(days=2), 40.0)):
            conn.execute(
                score_history.insert().values(
                    project_id=timed.project.id, lead_id=ann, at=at, score=score
                )
            )
    clock.advance(timedelta(days=3))
    trend = timed.get(f"segments/{segment['id']}/analytics/scores", params={"days": 4})
    assert trend.status_code == 200, trend.text
    assert trend.json()["timezone"] == "Asia/Tokyo"
    # Tokyo days: Ann entered on 1 Nov 21:00 local; 10 from 22:00; 40 from 3 Nov 21:00.
    assert [(d["day"], d["member_count"], d["avg_score"]) for d in trend.json()["days"]] == [
        ("2026-11-01", 1, 10.0),
        ("2026-11-02", 1, 10.0),
        ("2026-11-03", 1, 40.0),
        ("2026-11-04", 1, 40.0),
    ]
    url = f"segments/{segment['id']}/analytics/before-after"
    found = timed.get(url, params={"at": "2026-11-02", "after_days": 2})
    assert found.status_code == 200, found.text
    assert {k: found.json()[k] for k in ("members", "avg_before", "avg_after", "change")} == {
        "members": 1,
        "avg_before": 10.0,
        "avg_after": 40.0,
        "change": 30.0,
    }
    assert found.json()["at"].startswith("2026-11-01T15:00:00")  # Tokyo midnight, in UTC
    bad = timed.get(url, params={"at": "yesterday"})
    assert bad.status_code == 422 and error_of(bad)["path"] == "at"
    bad = timed.get(url, params={"at": "2026-11-02", "after_days": 30})
    assert bad.status_code == 422 and error_of(bad)["path"] == "at"
