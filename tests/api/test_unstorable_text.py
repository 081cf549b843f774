"""Text no database can store (a lone surrogate, NUL) is a 422 naming the field, on both databases.

Bodies are sent as raw JSON bytes: `json.dumps` writes the escapes `"\\ud800"` and `"\\u0000"`,
which JSON allows and Python's json reads back as the bad characters.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.api.conftest import BASE, Api, error_of

BAD = ["\ud800", "\x00"]


def send(api: Api, method: str, path: str, body: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {api.tokens['owner']}", "Content-Type": "application/json"}
    raw = json.dumps(body).encode("ascii")
    return api.client.request(method, f"{BASE}/{path}", content=raw, headers=headers)


def assert_invalid(response: httpx.Response, path: str) -> None:
    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["path"] == path, error
    assert "NUL" in error["message"] or "surrogate" in error["message"]


def lead_bodies(bad: str) -> list[tuple[dict[str, Any], str]]:
    """(a lead with one bad string, the path the error names)."""
    return [
        ({"first_name": f"A{bad}"}, "first_name"),
        ({"email": f"a{bad}@x.test"}, "email"),
        ({"tags": ["ok", f"t{bad}"]}, "tags[1]"),
        ({"custom": {"plan": bad}}, "custom.plan"),
        ({"enrichment": {"company": {"name": f"Acme{bad}"}}}, "enrichment.company.name"),
        ({"enrichment": {"company": [{"k": bad}]}}, "enrichment.company[0].k"),
        ({"enrichment": {f"k{bad}": 1}}, "enrichment." + json.dumps(f"k{bad}")[1:-1]),
    ]


@pytest.mark.parametrize("bad", BAD, ids=["surrogate", "nul"])
def test_lead_create_and_patch_name_the_field(api: Api, bad: str) -> None:
    assert api.post("custom-fields", json={"key": "plan"}).status_code == 201
    lead = api.post("leads", json={"email": "a@x.test"}).json()
    for body, path in lead_bodies(bad):
        assert_invalid(send(api, "POST", "leads", {"email": "b@x.test", **body}), path)
        assert_invalid(send(api, "PATCH", f"leads/{lead['id']}", body), path)
    assert api.get("leads").json()["total"] == 1
    assert api.get(f"leads/{lead['id']}").json()["first_name"] is None


@pytest.mark.parametrize("bad", BAD, ids=["surrogate", "nul"])
def test_bulk_leads_fail_only_the_bad_rows(api: Api, bad: str) -> None:
    assert api.post("custom-fields", json={"key": "plan"}).status_code == 201
    rows: list[dict[str, Any]] = [{"email": "good0@x.test"}]
    paths = []
    for body, path in lead_bodies(bad):
        rows.append({"email": f"bad{len(rows)}@x.test", **body})
        paths.append(path)
    rows.append({"email": "good1@x.test", "enrichment": {"company": {"name": "Zoë"}}})
    response = send(api, "POST", "leads/bulk", {"leads": rows})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["created"] == 2
    assert [e["index"] for e in result["errors"]] == list(range(1, len(rows) - 1))
    for error, path in zip(result["errors"], paths, strict=True):
        assert error["message"].startswith(f"{path}: "), error
    stored = api.get("leads", params={"sort": "email"}).json()["items"]
    assert [lead["email"] for lead in stored] == ["good0@x.test", "good1@x.test"]
    assert stored[1]["enrichment"] == {"company": {"name": "Zoë"}}


@pytest.mark.parametrize("bad", BAD, ids=["surrogate", "nul"])
def test_events_fail_only_the_bad_rows(api: Api, bad: str) -> None:
    lead = api.post("leads", json={"email": "a@x.test"}).json()
    good = {"lead_id": lead["id"], "type": "view", "occurred_at": "2026-10-01T10:00:00Z"}
    events = [
        good,
        {**good, "type": f"view{bad}"},
        {**good, "metadata": {"page": {"path": f"/p{bad}"}}},
        {**good, "metadata": {f"k{bad}": 1}},
        {**good, "email": f"a{bad}@x.test", "lead_id": None},
        {**good, "metadata": {"path": "/pricing"}},
    ]
    response = send(api, "POST", "events", {"events": events})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["accepted"] == 2
    messages = {e["index"]: e["message"] for e in result["errors"]}
    assert sorted(messages) == [1, 2, 3, 4]
    assert messages[1].startswith("type: ")
    assert messages[2].startswith("metadata.page.path: ")
    assert messages[3].startswith("metadata." + json.dumps(f"k{bad}")[1:-1] + ": ")
    assert messages[4].startswith("email: ")
    stored = api.get(f"leads/{lead['id']}/events").json()["items"]
    assert sorted(json.dumps(e["metadata"]) for e in stored) == ['{"path": "/pricing"}', "{}"]


@pytest.mark.parametrize("bad", BAD, ids=["surrogate", "nul"])
def test_segment_writes_name_the_field(api: Api, bad: str) -> None:
    tree = {"field": "job_title", "op": "eq", "value": "cto"}
    created = api.post("segments", json={"name": "S", "filter": tree})
    assert created.status_code == 201, created.text
    segment_id = created.json()["id"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": f"S{bad}"}, "name"),
        ({"description": f"d{bad}"}, "description"),
        ({"filter": {**tree, "value": f"c{bad}"}}, "filter.value"),
        ({"filter": {"and": [tree, {**tree, "value": ["a", bad]}]}}, "filter.and[1].value[1]"),
        ({"filter": {"event": f"e{bad}"}}, "filter.event"),
    ]
    for body, path in cases:
        assert_invalid(send(api, "POST", "segments", {"name": "T", "filter": tree, **body}), path)
        assert_invalid(send(api, "PATCH", f"segments/{segment_id}", body), path)
    assert [s["name"] for s in api.get("segments").json()["items"]] == ["S"]


@pytest.mark.parametrize("bad", BAD, ids=["surrogate", "nul"])
def test_custom_field_definitions_name_the_field(api: Api, bad: str) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"key": f"plan{bad}"}, "key"),
        ({"key": "plan", "label": f"Plan{bad}"}, "label"),
        ({"key": "plan", "type": "select", "options": ["free", f"pro{bad}"]}, "options[1]"),
    ]
    for body, path in cases:
        assert_invalid(send(api, "POST", "custom-fields", body), path)
    assert api.get("custom-fields").json()["items"] == []


def test_custom_field_key_with_a_trailing_newline_is_refused(api: Api) -> None:
    response = api.post("custom-fields", json={"key": "plan\n"})
    assert response.status_code == 422 and error_of(response)["path"] == "key"


@pytest.mark.parametrize("bad", BAD, ids=["surrogate", "nul"])
def test_a_filter_in_a_query_names_the_value(api: Api, bad: str) -> None:
    tree = json.dumps({"field": "enrichment.a", "op": "eq", "value": bad})
    response = api.get("leads", params={"filter": tree})
    assert response.status_code == 422, response.text
    assert error_of(response)["path"] == "filter.value"
