"""POST /overlap: each exact region of 2 to 4 segments and lists, counted by the index and by
SQL alike, equal to what the sets' own members say, and equal to the Leads page opened with
the region's filter."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from segmint.app import create_app
from segmint.engine.answering import ENGINE_HEADER
from segmint.index import Settings
from segmint.store.db import create_engine
from tests.api.conftest import Api, error_of

# status x company: segments on each overlap in every way, the lists cut across them.
PEOPLE = [
    {"email": f"p{i}@x.test", "status": status, "company": company}
    for i, (status, company) in enumerate(
        itertools.product(["new", "contacted", "lost"], ["Acme", "Globex", "Initech", None])
    )
]


@pytest.fixture
def sql_only(db_url: str, api: Api) -> Iterator[Api]:
    """The same project and tokens, served by an app with no index: SQL answers."""
    engine = create_engine(db_url, poolclass=sa.NullPool)
    with TestClient(create_app(engine, index=Settings(enabled=False))) as client:
        yield Api(client, api.project, api.tokens)
    engine.dispose()


def _made(response: Any) -> Any:
    assert response.status_code in (200, 201), response.text
    return response.json()


@pytest.fixture
def audiences(api: Api) -> dict[str, int]:
    ids = [_made(api.post("leads", json=person))["id"] for person in PEOPLE]
    new = {"field": "status", "op": "in", "value": ["new", "contacted"]}
    acme = {"field": "company", "op": "in", "value": ["Acme", "Globex"]}
    hot = _made(api.post("segments", json={"name": "Hot", "filter": new}))["id"]
    big = _made(api.post("segments", json={"name": "Big", "filter": acme}))["id"]
    webinar = _made(api.post("lists", json={"name": "Webinar"}))["id"]
    _made(api.post(f"lists/{webinar}/members", json={"lead_ids": ids[::2]}))
    vip = _made(api.post("lists", json={"name": "VIP"}))["id"]
    _made(api.post(f"lists/{vip}/members", json={"lead_ids": ids[:7]}))
    return {"hot": hot, "big": big, "webinar": webinar, "vip": vip}


def _members(api: Api, path: str) -> set[int]:
    page = _made(api.get(f"{path}/members?per_page=500"))
    return {lead["id"] for lead in page["items"]}


def _expected(api: Api, body: dict[str, list[int]]) -> list[set[int]]:
    """Each set's members, read from its own members page (another path than the overlap's)."""
    return [_members(api, f"segments/{i}") for i in body["segments"]] + [
        _members(api, f"lists/{i}") for i in body["lists"]
    ]


def _leads_total(api: Api, tree: Any) -> int:
    query = json.dumps(tree)
    return int(_made(api.get("leads", params={"filter": query, "per_page": 1}))["total"])


BODIES = [
    ("hot", "big", None, None),
    ("hot", None, "webinar", None),
    ("hot", "big", "webinar", None),
    ("hot", "big", "webinar", "vip"),
    (None, None, "webinar", "vip"),
]


@pytest.mark.parametrize("names", BODIES)
def test_regions_are_the_sets_members_and_the_leads_page_agrees(
    api: Api, sql_only: Api, audiences: dict[str, int], names: tuple[str | None, ...]
) -> None:
    hot, big, webinar, vip = names
    body = {
        "segments": [audiences[n] for n in (hot, big) if n],
        "lists": [audiences[n] for n in (webinar, vip) if n],
    }
    members = _expected(api, body)
    keys = "ABCD"[: len(members)]
    indexed, by_sql = api.post("overlap", json=body), sql_only.post("overlap", json=body)
    assert indexed.headers[ENGINE_HEADER] == "index"
    assert by_sql.headers[ENGINE_HEADER] == "sql"
    assert indexed.json() == by_sql.json()
    result = indexed.json()
    assert [s["count"] for s in result["sets"]] == [len(m) for m in members]
    assert [s["key"] for s in result["sets"]] == list(keys)
    assert result["union"] == len(set().union(*members))
    assert len(result["regions"]) == 2 ** len(members) - 1
    everyone = set().union(*members)
    for region in result["regions"]:
        inside = [members[keys.index(k)] for k in region["sets"]]
        outside = [m for k, m in zip(keys, members, strict=True) if k not in region["sets"]]
        exact = set(everyone).intersection(*inside).difference(*outside)
        assert region["count"] == len(exact), region
        assert _leads_total(api, region["filter"]) == region["count"], region
        assert _leads_total(sql_only, region["filter"]) == region["count"], region
    for pair in result["pairs"]:
        first, second = (members[keys.index(k)] for k in pair["sets"])
        assert pair["count"] == len(first & second)
        assert _leads_total(api, pair["filter"]) == pair["count"]
    assert len(result["pairs"]) == len(members) * (len(members) - 1) // 2
    assert sum(r["count"] for r in result["regions"]) == result["union"]


def test_regions_come_one_set_first_then_in_the_sets_order(
    api: Api, audiences: dict[str, int]
) -> None:
    body = {"segments": [audiences["hot"], audiences["big"]], "lists": [audiences["webinar"]]}
    regions = _made(api.post("overlap", json=body))["regions"]
    assert [r["sets"] for r in regions] == [
        ["A"],
        ["B"],
        ["C"],
        ["A", "B"],
        ["A", "C"],
        ["B", "C"],
        ["A", "B", "C"],
    ]
    assert regions[4]["filter"] == {
        "and": [
            {"in_segment": audiences["hot"]},
            {"in_list": audiences["webinar"]},
            {"not": {"in_segment": audiences["big"]}},
        ]
    }


def _in_both(result: dict[str, Any]) -> int:
    return next(r["count"] for r in result["regions"] if r["sets"] == ["A", "B"])


def test_writes_and_deletes_show_in_the_next_answer(
    api: Api, sql_only: Api, audiences: dict[str, int]
) -> None:
    body = {"segments": [audiences["hot"]], "lists": [audiences["webinar"]]}
    before = _in_both(_made(api.post("overlap", json=body)))
    lead = _made(api.post("leads", json={"email": "late@x.test", "status": "new"}))
    _made(api.post(f"lists/{audiences['webinar']}/members", json={"lead_ids": [lead["id"]]}))
    assert _in_both(_made(api.post("overlap", json=body))) == before + 1
    assert api.delete(f"leads/{lead['id']}").status_code == 204
    for client in (api, sql_only):
        answer = client.post("overlap", json=body)
        assert _in_both(answer.json()) == before, answer.headers[ENGINE_HEADER]


def test_an_inactive_segment_is_read_as_in_segment_reads_it(
    api: Api, sql_only: Api, audiences: dict[str, int]
) -> None:
    hot = audiences["hot"]
    _made(api.patch(f"segments/{hot}", json={"active": False}))
    _made(api.post("leads", json={"email": "after@x.test", "status": "new"}))
    body = {"segments": [hot], "lists": [audiences["webinar"]]}
    for client in (api, sql_only):
        result = _made(client.post("overlap", json=body))
        assert result["sets"][0]["active"] is False
        assert result["sets"][0]["count"] == _leads_total(client, {"in_segment": hot})


@pytest.mark.parametrize(
    ("body", "path", "words"),
    [
        ({"segments": [1]}, "segments", "not 1"),
        ({"lists": [1]}, "lists", "not 1"),
        ({}, "segments", "not 0"),
        ({"segments": [1, 2, 3], "lists": [4, 5]}, "segments", "not 5"),
        ({"segments": [1, 1]}, "segments[1]", "given twice"),
        ({"segments": [1], "lists": [2, 2]}, "lists[1]", "given twice"),
    ],
)
def test_the_number_of_sets_is_checked(
    api: Api, body: dict[str, Any], path: str, words: str
) -> None:
    response = api.post("overlap", json=body)
    assert response.status_code == 422
    error = error_of(response)
    assert error["path"] == path
    assert words in error["message"]


def test_bad_ids_are_422_naming_them(api: Api) -> None:
    for body in ({"segments": ["x", 2]}, {"segments": [0, 2]}, {"lists": [2**70, 1]}):
        response = api.post("overlap", json=body)
        assert response.status_code == 422, body
        assert next(iter(body)) in error_of(response)["path"]


def test_unknown_and_other_projects_ids_are_404(api: Api, audiences: dict[str, int]) -> None:
    hot, webinar = audiences["hot"], audiences["webinar"]
    missing = api.post("overlap", json={"segments": [hot, 999_999]})
    assert missing.status_code == 404
    assert "999999" in error_of(missing)["message"]
    assert api.post("overlap", json={"segments": [hot], "lists": [999_999]}).status_code == 404
    # Another organization names our ids: they are not in its project.
    stranger = api.post("overlap", "stranger", json={"segments": [hot], "lists": [webinar]})
    assert stranger.status_code == 404
    assert "Hot" not in stranger.text


def test_a_member_compares_only_segments_it_may_read(api: Api, audiences: dict[str, int]) -> None:
    body = {"segments": [audiences["hot"]], "lists": [audiences["webinar"]]}
    assert api.post("overlap", "member", json=body).status_code == 403
    own = _made(
        api.post(
            "segments",
            "member",
            json={"name": "Mine", "filter": {"field": "status", "op": "eq", "value": "lost"}},
        )
    )
    lists_only = {"segments": [own["id"]], "lists": [audiences["webinar"], audiences["vip"]]}
    assert api.post("overlap", "member", json=lists_only).status_code == 200


def test_the_openapi_document_types_it(api: Api) -> None:
    document = api.client.get("/api/v1/openapi.json").json()
    operation = document["paths"]["/api/v1/projects/{project}/overlap"]["post"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/OverlapResult"}
    result = document["components"]["schemas"]["OverlapResult"]
    assert set(result["properties"]) == {"sets", "regions", "pairs", "union"}
