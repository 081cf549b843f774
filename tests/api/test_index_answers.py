"""The API answers the same through the columnar index as through SQL, byte for byte, and says
who answered; writes show in the next answer; a failing or oversized index falls back to SQL."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from segmint.app import create_app
from segmint.engine import export
from segmint.engine.answering import ENGINE_HEADER
from segmint.index import Settings, indexes_for
from segmint.store.db import create_engine
from segmint.store.tables import leads, segment_members
from segmint.worker.loop import Worker
from tests.api.conftest import BASE, Api
from tests.csv_formulas import HOSTILE_NAMES, HOSTILE_TEXTS

SORTS = ["name", "email", "company", "job_title", "status", "source", "created_at"]
PEOPLE: list[dict[str, Any]] = [
    {
        "email": "ada@x.test",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "company": "=HYPERLINK()",
        "status": "new",
        "phone": "-5",
        "job_title": "CTO",
        "source": "apollo_search",
        "created_at": "2024-01-01",
        "tags": ["VIP"],
        "enrichment": {"size": 120},
        "owner": "owner@acme.test",
        "country": "=DE",
        "engagement_score": 30,
        "engagement_level": "Warm",
        "profile_level": "Good Fit",
    },
    {
        "email": "bob@x.test",
        "first_name": "Bob",
        "company": 'Ball, "Club"\nLtd',
        "status": "new",
        "phone": "+49 30 1234",
        "created_at": "2024-01-01",
        "source": "manual_import",
    },
    {
        "email": "cy@x.test",
        "last_name": "Young",
        "company": "Quarry",
        "status": "contacted",
        "phone": "+4930",
        "created_at": "2024-01-03",
        "enrichment": {"size": 80},
        "tags": ["b", "a"],
        "country": "Spain, Madrid",
        "engagement_score": 7.25,
    },
    {
        "email": "dee@x.test",
        "first_name": "Dée",
        "company": "Ünicode GmbH",
        "status": "new",
        "job_title": "@ceo",
        "created_at": "2024-01-04",
        "enrichment": {"size": "60"},
    },
    {
        "email": "eve@x.test",
        "first_name": " ",
        "company": "quarry",
        "status": "new",
        "created_at": "2024-01-02",
    },
    {"email": "fay@x.test", "company": None, "status": "lost", "created_at": "2024-01-05"},
]
FILTERS: list[Any] = [
    {"field": "status", "op": "in", "value": ["new", "contacted"]},
    {"field": "company", "op": "contains", "value": "QUARRY"},
    {
        "or": [
            {"field": "enrichment.size", "op": "gte", "value": 100},
            {"field": "tags", "op": "has_any", "value": ["vip"]},
        ]
    },
    {"not": {"field": "company", "op": "is_null"}},
]

# Chosen columns the index writes (text columns, any order, one alone) and some it leaves to SQL.
INDEXED_COLUMNS = [
    "status,email,name",
    "owner,country,engagement_level,profile_level,company",
    "name",
    "email",
]
SQL_COLUMNS = ["name,tags,created_at,engagement_score", "tags"]


@pytest.fixture
def sql_only(db_url: str, api: Api) -> Iterator[Api]:
    """The same project and tokens, served by an app with no index (another engine)."""
    engine = create_engine(db_url, poolclass=sa.NullPool)
    with TestClient(create_app(engine, index=Settings(enabled=False))) as client:
        yield Api(client, api.project, api.tokens)
    engine.dispose()


def _seed(api: Api) -> None:
    for person in PEOPLE:
        response = api.post("leads", json=person)
        assert response.status_code == 201, response.text


def _get(api: Api, path: str) -> httpx.Response:
    response = api.get(path)
    assert response.status_code == 200, response.text
    return response


def test_index_and_sql_answer_alike(api: Api, sql_only: Api) -> None:
    _seed(api)
    for number, tree in enumerate(FILTERS):
        segment = api.post("segments", json={"name": f"s{number}", "filter": tree}).json()
        base = f"segments/{segment['id']}"
        exports = [f"{base}/export.csv?columns={keys}" for keys in INDEXED_COLUMNS]
        paths = [f"{base}/count", f"{base}/export.csv", *exports] + [
            f"{base}/members?sort={sign}{key}&per_page=2&page={page}{search}"
            for key, sign, page, search in itertools.product(
                SORTS, ["", "-"], [1, 2, 3], ["", "&q=a"]
            )
        ]
        for path in paths:
            indexed, by_sql = _get(api, path), _get(sql_only, path)
            assert indexed.headers[ENGINE_HEADER] == "index", path
            assert by_sql.headers[ENGINE_HEADER] == "sql", path
            if path.endswith("/count"):
                assert indexed.json()["count"] == by_sql.json()["count"], path
            else:
                assert indexed.content == by_sql.content, path
        for keys in SQL_COLUMNS:  # the index has no writer for these: SQL answers both
            path = f"{base}/export.csv?columns={keys}"
            indexed, by_sql = _get(api, path), _get(sql_only, path)
            assert indexed.headers[ENGINE_HEADER] == by_sql.headers[ENGINE_HEADER] == "sql"
            assert indexed.content == by_sql.content, path
        body = {"filter": tree}
        indexed_preview = api.post("segments/preview", json=body)
        sql_preview = sql_only.post("segments/preview", json=body)
        assert indexed_preview.json() == sql_preview.json()
        assert indexed_preview.headers[ENGINE_HEADER] == "index"
    listing = "leads?filter=" + '{"field":"status","op":"eq","value":"new"}' + "&q=e&sort=-name"
    assert _get(api, listing).json() == _get(sql_only, listing).json()


def _insert_hostile(db: Engine, project_id: int, first: int, count: int) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    rows = []
    for i in range(first, first + count):
        text = HOSTILE_TEXTS[i % len(HOSTILE_TEXTS)]
        first_name, last_name = HOSTILE_NAMES[i % len(HOSTILE_NAMES)]
        email = text if i < len(HOSTILE_TEXTS) else f"{text}#{i}" if i % 3 else f"h{i}@x.test"
        rows.append(
            {
                "project_id": project_id,
                "email": email,  # unique in the project
                "first_name": first_name,
                "last_name": last_name,
                "phone": HOSTILE_TEXTS[(i + 7) % len(HOSTILE_TEXTS)] if i % 4 else None,
                "company": text if i % 2 else None,
                "job_title": HOSTILE_TEXTS[(i + 3) % len(HOSTILE_TEXTS)],
                "source": HOSTILE_TEXTS[(i + 11) % len(HOSTILE_TEXTS)],
                "status": "new" if i % 5 else "contacted",
                "owner": HOSTILE_TEXTS[(i + 5) % len(HOSTILE_TEXTS)] if i % 3 else None,
                "country": HOSTILE_TEXTS[(i + 13) % len(HOSTILE_TEXTS)],
                "engagement_level": HOSTILE_TEXTS[(i + 2) % len(HOSTILE_TEXTS)] if i % 2 else None,
                "profile_level": HOSTILE_TEXTS[(i + 17) % len(HOSTILE_TEXTS)],
                "tags": [],
                "custom": {},
                "created_at": start + timedelta(seconds=i % 17),  # ties fall to the id
                "updated_at": start,
            }
        )
    with db.begin() as conn:
        conn.execute(leads.insert(), rows)


def test_exports_of_hostile_values_are_alike(
    api: Api, sql_only: Api, db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "INDEX_CHUNK_ROWS", 7)  # rows fall across chunks
    _insert_hostile(db, api.project.id, 0, 200)
    trees = [
        {"field": "status", "op": "in", "value": ["new", "contacted"]},  # everyone
        {"field": "status", "op": "eq", "value": "contacted"},
        {"field": "email", "op": "eq", "value": "h30@x.test"},  # one row
        {"field": "phone", "op": "eq", "value": "+1-555-0100"},  # every phone gets a `'`
        {"field": "email", "op": "starts_with", "value": "@x#"},  # every email gets one
        {"field": "name", "op": "in", "value": ["=cmd", "@x y", "Zoë Ünïcödé"]},  # some names
    ]
    segments = [
        f"segments/{api.post('segments', json={'name': f'h{n}', 'filter': t}).json()['id']}"
        for n, t in enumerate(trees)
    ]
    chosen = ["", *(f"?columns={keys}" for keys in INDEXED_COLUMNS), "?columns=company"]
    exports = [f"{segment}/export.csv{keys}" for segment in segments for keys in chosen]
    for round_ in range(2):
        for path in exports:
            indexed, by_sql = _get(api, path), _get(sql_only, path)
            assert indexed.headers[ENGINE_HEADER] == "index", path
            assert indexed.content == by_sql.content, (round_, path)
        if not round_:  # new values join the dictionaries: their cached kinds are extended
            _insert_hostile(db, api.project.id, 200, 150)


def test_a_write_shows_in_the_next_answer(api: Api) -> None:
    _seed(api)
    segment = api.post("segments", json={"name": "New", "filter": FILTERS[0]}).json()
    count = f"segments/{segment['id']}/count"
    assert _get(api, count).json()["count"] == 5
    created = api.post("leads", json={"email": "new@x.test", "status": "new"}).json()
    assert _get(api, count).json()["count"] == 6
    api.patch(f"leads/{created['id']}", json={"status": "lost"})
    assert _get(api, count).json()["count"] == 5
    assert api.delete(f"leads/{_id_of(api, 'ada@x.test')}").status_code == 204
    answered = _get(api, count)
    assert answered.json()["count"] == 4 and answered.headers[ENGINE_HEADER] == "index"


def _id_of(api: Api, email: str) -> int:
    items = _get(api, f"leads?q={email}").json()["items"]
    return int(items[0]["id"])


def test_custom_field_values_and_lists_follow_writes(api: Api) -> None:
    assert (
        api.post("custom-fields", json={"key": "plan", "label": "Plan", "type": "text"}).status_code
        == 201
    )
    lead = api.post("leads", json={"email": "a@x.test", "custom": {"plan": "Pro"}}).json()
    pro = {"filter": {"field": "custom.plan", "op": "eq", "value": "pro"}}
    assert api.post("segments/preview", json=pro).json()["count"] == 1
    api.patch(f"leads/{lead['id']}", json={"custom": {"plan": "Free"}})
    assert api.post("segments/preview", json=pro).json()["count"] == 0
    listed = api.post("lists", json={"name": "L"}).json()
    in_list = {"filter": {"in_list": listed["id"]}}
    assert api.post("segments/preview", json=in_list).json()["count"] == 0
    added = api.post(f"lists/{listed['id']}/members", json={"lead_ids": [lead["id"]]})
    assert added.status_code in (200, 201), added.text
    answered = api.post("segments/preview", json=in_list)
    assert answered.json()["count"] == 1 and answered.headers[ENGINE_HEADER] == "index"


STACKS: list[dict[str, Any]] = [
    {"email": "a@x.test", "enrichment": {"company": {"technologies": ["Salesforce", "HubSpot"]}}},
    {"email": "b@x.test", "enrichment": {"company": {"technologies": "Salesforce Sales Cloud"}}},
    {"email": "c@x.test", "enrichment": {"company": {
        "technologies": [7, {"name": "Salesforce"}, [" hubspot"], "Stripe"]}}},
    {"email": "d@x.test", "enrichment": {"company": {"technologies": []}}},
    {"email": "e@x.test"},
]  # fmt: skip
STACK_COUNTS: list[tuple[dict[str, Any], int]] = [
    ({"op": "contains", "value": "sales"}, 2),  # a (an element) and b (the string)
    ({"op": "eq", "value": "hubspot"}, 1),  # c's hubspot is inside a nested array: not read
    ({"op": "in", "value": ["stripe", "salesforce"]}, 2),
    ({"op": "starts_with", "value": "HUB"}, 1),
    ({"op": "ends_with", "value": ["force", "cloud"]}, 2),
    ({"op": "not_contains", "value": "sales"}, 3),  # c, d (empty: null) and e (no value)
    ({"op": "has_any", "value": ["salesforce"]}, 1),
]


def test_text_operators_read_array_elements_alike(api: Api, sql_only: Api) -> None:
    """`technologies contains "sales"` matches a lead whose technologies are a list holding
    "Salesforce", in the preview answered by the index and by SQL alike."""
    for person in STACKS:
        assert api.post("leads", json=person).status_code == 201
    for condition, count in STACK_COUNTS:
        body = {"filter": {"field": "enrichment.company.technologies", **condition}}
        indexed = api.post("segments/preview", json=body)
        by_sql = sql_only.post("segments/preview", json=body)
        assert indexed.headers[ENGINE_HEADER] == "index"
        assert by_sql.headers[ENGINE_HEADER] == "sql"
        assert indexed.json()["count"] == by_sql.json()["count"] == count, condition
        assert indexed.json() == by_sql.json(), condition


def test_a_bad_request_is_refused_alike(api: Api) -> None:
    unknown = api.post(
        "segments/preview", json={"filter": {"field": "nope", "op": "eq", "value": 1}}
    )
    assert unknown.status_code == 422
    missing = api.post("segments/preview", json={"filter": {"in_segment": 999}})
    assert missing.status_code == 422


def test_a_failing_index_falls_back_to_sql(
    api: Api, db: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    _seed(api)
    assert _get(api, "leads").headers[ENGINE_HEADER] == "index"
    indexes = indexes_for(db)
    assert indexes is not None
    index = indexes.ready(api.project.id)
    assert index is not None
    index.leads.columns["status"].codes._size = 1  # type: ignore[union-attr]  # broken in memory
    with caplog.at_level(logging.ERROR, logger="segmint.index"):
        answered = api.post("segments/preview", json={"filter": FILTERS[0]})
    assert answered.status_code == 200
    assert answered.json()["count"] == 5 and answered.headers[ENGINE_HEADER] == "sql"
    assert "answering through SQL" in caplog.text
    rebuilt = api.post("segments/preview", json={"filter": FILTERS[0]})  # built anew
    assert rebuilt.json()["count"] == 5 and rebuilt.headers[ENGINE_HEADER] == "index"


def test_a_project_over_the_budget_is_answered_by_sql(
    db_url: str, api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    _seed(api)
    engine = create_engine(db_url, poolclass=sa.NullPool)
    settings = Settings(memory=1000, background=False)
    with (
        caplog.at_level(logging.WARNING, logger="segmint.index"),
        TestClient(create_app(engine, index=settings)) as client,
    ):
        tight = Api(client, api.project, api.tokens)
        answered = tight.post("segments/preview", json={"filter": FILTERS[0]})
        assert answered.json()["count"] == 5 and answered.headers[ENGINE_HEADER] == "sql"
        health = client.get("/healthz").json()["index"]
    assert health["projects"][str(api.project.id)]["state"] == "over_budget"
    assert "memory budget" in caplog.text
    engine.dispose()


def test_segmint_index_off_answers_through_sql(
    db_url: str, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEGMINT_INDEX", "off")
    engine = create_engine(db_url, poolclass=sa.NullPool)
    with TestClient(create_app(engine)) as client:
        response = client.get(
            f"{BASE}/leads", headers={"Authorization": f"Bearer {api.tokens['owner']}"}
        )
        assert response.headers[ENGINE_HEADER] == "sql"
        assert client.get("/healthz").json()["index"] == {"enabled": False}
    engine.dispose()


def test_deleted_leads_vanish_at_once(api: Api, db: Engine) -> None:
    _seed(api)
    assert _get(api, "leads").json()["total"] == 6
    with db.begin() as conn:  # as a script or another process would
        conn.execute(leads.delete().where(leads.c.project_id == api.project.id))
    answered = _get(api, "leads")
    assert answered.json()["total"] == 0 and answered.headers[ENGINE_HEADER] == "index"


def test_an_index_that_grows_past_the_budget_is_let_go(
    db_url: str, api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    for number in range(5):
        big = {"email": f"big{number}@x.test", "enrichment": {"bio": f"{number}" * 20_000}}
        assert api.post("leads", json=big).status_code == 201
    engine = create_engine(db_url, poolclass=sa.NullPool)
    roomy = TestClient(create_app(engine, index=Settings(background=False)))
    with roomy as client:
        assert Api(client, api.project, api.tokens).get("leads").headers[ENGINE_HEADER] == "index"
        indexes = indexes_for(engine)
        assert indexes is not None
        index = indexes.ready(api.project.id)
        assert index is not None
        built = index.nbytes()
    # A budget the build fits in, but not the 100 KB the `bio` path adds when first named.
    tight = Settings(memory=built + 50_000, background=False)
    bio = {"filter": {"field": "enrichment.bio", "op": "is_not_null"}}
    with (
        caplog.at_level(logging.WARNING, logger="segmint.index"),
        TestClient(create_app(engine, index=tight)) as client,
    ):
        grown = Api(client, api.project, api.tokens)
        first = grown.post("segments/preview", json=bio)
        assert first.json()["count"] == 5 and first.headers[ENGINE_HEADER] == "index"
        after = grown.post("segments/preview", json=bio)
        assert after.json()["count"] == 5 and after.headers[ENGINE_HEADER] == "sql"
        state = client.get("/healthz").json()["index"]["projects"][str(api.project.id)]
    assert state["state"] == "over_budget"
    assert "grew past the memory budget" in caplog.text
    engine.dispose()


def test_time_in_segment_is_answered_by_the_index_and_follows_membership_writes(
    api: Api, sql_only: Api, db: Engine
) -> None:
    """Time in segment reads the referenced segment's maintained members and when each
    entered: the index answers it as SQL does, and a membership change committed before a
    request (a sync after a write, entered_at moved back) shows in that request's answer."""
    _seed(api)
    worker = Worker(db)
    source = api.post("segments", json={"name": "New", "filter": FILTERS[0]}).json()
    worker.drain()  # its maintained membership, begun now
    recent = {"filter": {"in_segment": source["id"], "entered_within_days": 7}}
    veteran = {"filter": {"in_segment": source["id"], "for_at_least_days": 7}}

    def counts() -> tuple[int, int]:
        answers = [api.post("segments/preview", json=tree) for tree in (recent, veteran)]
        assert all(answer.headers[ENGINE_HEADER] == "index" for answer in answers)
        by_sql = [sql_only.post("segments/preview", json=tree).json() for tree in (recent, veteran)]
        assert [answer.json() for answer in answers] == by_sql
        return answers[0].json()["count"], answers[1].json()["count"]

    assert counts() == (5, 0)
    created = api.post("leads", json={"email": "new@x.test", "status": "new"}).json()
    worker.drain()  # the sync enters it
    assert counts() == (6, 0)
    with db.begin() as conn:  # ada has been in New for 8 days
        m = segment_members.c
        conn.execute(
            segment_members.update()
            .where(m.segment_id == source["id"], m.lead_id == _id_of(api, "ada@x.test"))
            .values(entered_at=datetime.now(UTC) - timedelta(days=8))
        )
    assert counts() == (5, 1)
    api.patch(f"leads/{created['id']}", json={"status": "lost"})
    worker.drain()  # the sync takes it out
    assert counts() == (4, 1)
    saved = api.post("segments", json={"name": "Veterans", **veteran}).json()
    members = _get(api, f"segments/{saved['id']}/members")
    assert members.headers[ENGINE_HEADER] == "index"
    assert [lead["email"] for lead in members.json()["items"]] == ["ada@x.test"]
