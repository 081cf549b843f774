"""Account segments over HTTP, on both databases, answered by the columnar index and by SQL
alike: create, count, members, export, preview, the audience fixed at creation,
`in_account_segment` from a lead segment, and the lead-only endpoints refusing an account
segment by name."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from segmint.index import Settings as IndexSettings
from segmint.index import indexes_for
from tests.api.conftest import Api, error_of

HOT = {"field": "engagement_level", "op": "eq", "value": "Hot"}
THREE_HOT = {"leads": HOT, "min_count": 3}


@pytest.fixture(params=["index", "sql"])
def api_index(request: pytest.FixtureRequest) -> IndexSettings:
    """Every test twice: the index on (built when first asked) and off (SQL answers)."""
    return IndexSettings(enabled=request.param == "index", background=False)


def _engine(api: Api) -> str:
    """Who should answer: the index when this test's app has it on."""
    return "index" if indexes_for(api.client.app.state.engine) is not None else "sql"


def _seed(api: Api) -> dict[str, int]:
    """Acme with three Hot leads and a Cold one, Globex with one Hot lead, Initech none."""
    ids = {}
    for name, domain, hot, cold in (
        ("Acme", "acme.com", 3, 1),
        ("Globex", "globex.io", 1, 0),
        ("Initech", None, 0, 0),
    ):
        account = api.post("accounts", json={"name": name, "domain": domain, "metadata": {}})
        assert account.status_code == 201, account.text
        ids[name] = account.json()["id"]
        for n, level in enumerate(["Hot"] * hot + ["Cold"] * cold):
            lead = {
                "email": f"{n}-{level}@{name.lower()}.test",
                "engagement_level": level,
                "account_id": ids[name],
            }
            assert api.post("leads", json=lead).status_code == 201
    return ids


def _account_segment(api: Api, tree: Any, name: str = "Hot accounts") -> dict[str, Any]:
    response = api.post("segments", json={"name": name, "filter": tree, "audience": "accounts"})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_create_count_members_export(api: Api) -> None:
    ids = _seed(api)
    segment = _account_segment(api, THREE_HOT)
    assert segment["audience"] == "accounts"
    assert segment["member_count"] == 1
    assert segment["words"]["type"] == "leads"
    counted = api.get(f"segments/{segment['id']}/count")
    assert counted.json()["count"] == 1
    assert counted.json()["frozen"] is False
    assert counted.headers["Segmint-Engine"] == _engine(api)
    members = api.get(f"segments/{segment['id']}/accounts")
    assert members.headers["Segmint-Engine"] == _engine(api)
    page = members.json()
    assert [(a["name"], a["lead_count"]) for a in page["items"]] == [("Acme", 4)]
    assert page["items"][0]["id"] == ids["Acme"]
    assert page["next_after"] is None
    listed = api.get("segments").json()["items"]
    assert [(s["audience"], s["member_count"]) for s in listed] == [("accounts", 1)]
    export = api.get(f"segments/{segment['id']}/accounts/export.csv")
    assert export.status_code == 200
    assert export.headers["Segmint-Engine"] == _engine(api)
    rows = list(csv.reader(io.StringIO(export.text)))
    assert rows[0][:6] == [
        "id",
        "name",
        "domain",
        "engagement_level",
        "profile_level",
        "lead_count",
    ]
    assert [row[1:3] + row[5:6] for row in rows[1:]] == [["Acme", "acme.com", "4"]]


def test_members_are_keyset_paged(api: Api) -> None:
    ids = _seed(api)
    segment = _account_segment(api, {"field": "name", "op": "is_not_null"}, "All")
    first = api.get(f"segments/{segment['id']}/accounts", params={"limit": 2}).json()
    assert [a["id"] for a in first["items"]] == sorted(ids.values())[:2]
    second = api.get(
        f"segments/{segment['id']}/accounts", params={"limit": 2, "after": first["next_after"]}
    ).json()
    assert [a["id"] for a in second["items"]] == sorted(ids.values())[2:]
    assert second["next_after"] is None


def test_preview(api: Api) -> None:
    _seed(api)
    response = api.post("segments/preview/accounts", json={"filter": {"leads": HOT}})
    assert response.status_code == 200, response.text
    assert response.json()["count"] == 2
    assert {a["name"] for a in response.json()["sample"]} == {"Acme", "Globex"}
    bad = api.post("segments/preview/accounts", json={"filter": {"and": [{"leads": {"x": 1}}]}})
    assert bad.status_code == 422
    assert error_of(bad)["path"] == "filter.and[0].leads"


def test_audience_is_fixed_and_checked(api: Api) -> None:
    _seed(api)
    segment = _account_segment(api, THREE_HOT)
    changed = api.patch(f"segments/{segment['id']}", json={"audience": "leads"})
    assert changed.status_code == 422
    assert error_of(changed)["path"] == "audience"
    same = api.patch(f"segments/{segment['id']}", json={"audience": "accounts", "name": "Hot"})
    assert same.status_code == 200
    edited = api.patch(f"segments/{segment['id']}", json={"filter": {"leads": HOT}})
    assert edited.json()["member_count"] == 2
    wrong = api.post("segments", json={"name": "x", "filter": HOT, "audience": "companies"})
    assert error_of(wrong)["path"] == "audience"
    lead_field = api.post(
        "segments",
        json={
            "name": "x",
            "audience": "accounts",
            "filter": {"or": [{"field": "job_title", "op": "is_null"}]},
        },
    )
    assert lead_field.status_code == 422
    assert error_of(lead_field)["path"] == "filter.or[0].field"


def test_in_account_segment(api: Api) -> None:
    _seed(api)
    accounts = _account_segment(api, THREE_HOT)
    leads = api.post(
        "segments",
        json={"name": "Leads of hot accounts", "filter": {"in_account_segment": accounts["id"]}},
    )
    assert leads.status_code == 201, leads.text
    assert leads.json()["member_count"] == 4
    counted = api.get(f"segments/{leads.json()['id']}/count")
    assert counted.json()["count"] == 4
    assert counted.headers["Segmint-Engine"] == _engine(api)  # index: an account mask per lead
    members = api.get(f"segments/{leads.json()['id']}/members").json()
    assert {m["email"].split("@")[1] for m in members["items"]} == {"acme.test"}
    crossed = api.post("segments", json={"name": "x", "filter": {"in_segment": accounts["id"]}})
    assert error_of(crossed)["path"] == "filter.in_segment"
    assert "in_account_segment" in error_of(crossed)["message"]
    unknown = api.post("segments", json={"name": "x", "filter": {"in_account_segment": 999}})
    assert error_of(unknown)["path"] == "filter.in_account_segment"


def test_lead_only_endpoints_refuse_account_segments(api: Api) -> None:
    _seed(api)
    segment = _account_segment(api, THREE_HOT)
    for path in ("members", "export.csv"):
        response = api.get(f"segments/{segment['id']}/{path}")
        assert response.status_code == 422, path
        assert "account segment" in error_of(response)["message"]
    lead_segment = api.post("segments", json={"name": "Hot", "filter": HOT}).json()
    refused = api.get(f"segments/{lead_segment['id']}/accounts")
    assert refused.status_code == 422
    added = api.post(f"segments/{segment['id']}/includes", json={"lead_ids": [1]})
    assert added.status_code == 422


def _drain(api: Api) -> None:
    from segmint.worker.loop import Worker

    Worker(api.client.app.state.engine).drain()  # type: ignore[attr-defined]


def test_history_of_an_account_segment(api: Api) -> None:
    """An active account segment's maintained membership has a history of accounts: who
    entered on creation, who left on a write, by version; paged and filtered like a lead
    segment's, and `lead_id` refused by name."""
    ids = _seed(api)
    segment = _account_segment(api, {"leads": HOT, "min_count": 1})
    _drain(api)
    path = f"segments/{segment['id']}/history"
    first = api.get(path).json()
    entered = sorted((i["account_id"], i["change"], i["reason"]) for i in first["items"])
    assert entered == [
        (ids["Acme"], "entered", "created"),
        (ids["Globex"], "entered", "created"),
    ]
    assert first["items"][0]["segment_version"] == 1
    assert {i["account_name"] for i in first["items"]} == {"Acme", "Globex"}
    assert "lead_id" not in first["items"][0]
    globex_lead = api.get("leads", params={"q": "globex"}).json()["items"][0]["id"]
    assert api.patch(f"leads/{globex_lead}", json={"engagement_level": "Cold"}).status_code == 200
    _drain(api)
    newest = api.get(path, params={"order": "desc", "limit": 1}).json()
    assert [(i["account_id"], i["change"], i["reason"]) for i in newest["items"]] == [
        (ids["Globex"], "exited", "lead_write")
    ]
    assert newest["next_after"] is not None
    rest = api.get(path, params={"order": "desc", "after": newest["next_after"]}).json()
    assert len(rest["items"]) == 2
    only = api.get(path, params={"account_id": ids["Acme"]}).json()
    assert [i["account_id"] for i in only["items"]] == [ids["Acme"]]
    refused = api.get(path, params={"lead_id": 1})
    assert error_of(refused)["path"] == "lead_id"

    analytics = api.get(f"segments/{segment['id']}/analytics", params={"days": 2}).json()
    assert analytics["audience"] == "accounts"
    assert analytics["member_count"] == 1
    assert analytics["lead_count"] == 4  # Acme's
    today = analytics["daily"][-1]
    assert (today["member_count"], today["entered"], today["exited"]) == (1, 2, 1)
    assert analytics["daily"][0]["member_count"] == 0  # yesterday: before it was created


def test_campaigns_overlap_and_usage(api: Api) -> None:
    """Campaigns target lead segments only; overlap compares sets of leads; a lead segment
    reaching an account segment shows in its usage and holds off its deletion."""
    _seed(api)
    segment = _account_segment(api, THREE_HOT)
    body = {
        "name": "Welcome",
        "targeting": {"include_segments": [segment["id"]]},
        "subject": "Hi",
        "body": "Hello",
    }
    refused = api.post("campaigns", json=body)
    assert refused.status_code == 422
    assert error_of(refused)["path"] == "targeting.include_segments[0]"
    assert "lead segment" in error_of(refused)["message"]
    user = api.post(
        "segments", json={"name": "Their leads", "filter": {"in_account_segment": segment["id"]}}
    ).json()
    overlap = api.post("overlap", json={"segments": [segment["id"], user["id"]]})
    assert overlap.status_code == 422
    assert "account segment" in error_of(overlap)["message"]
    usage = api.get(f"segments/{segment['id']}/usage").json()
    assert [u["id"] for u in usage["segments"]] == [user["id"]]
    assert api.delete(f"segments/{segment['id']}").status_code == 409


def test_explain_a_lead_through_its_account(api: Api) -> None:
    _seed(api)
    segment = _account_segment(api, THREE_HOT)
    user = api.post(
        "segments", json={"name": "Their leads", "filter": {"in_account_segment": segment["id"]}}
    ).json()
    lead_id = api.get(f"segments/{user['id']}/members").json()["items"][0]["id"]
    why = api.get(f"segments/{user['id']}/explain/{lead_id}").json()
    assert why["type"] == "in_account_segment" and why["result"] is True
    assert why["child"]["type"] == "leads" and why["child"]["count"] == 3


def test_duplicate_versions_and_delete(api: Api) -> None:
    _seed(api)
    segment = _account_segment(api, THREE_HOT)
    copy = api.post(f"segments/{segment['id']}/duplicate")
    assert copy.status_code == 201
    assert copy.json()["audience"] == "accounts" and copy.json()["member_count"] == 1
    api.patch(f"segments/{segment['id']}", json={"filter": {"leads": HOT}})
    versions = api.get(f"segments/{segment['id']}/versions").json()["items"]
    assert [v["words"]["type"] for v in versions] == ["leads", "leads"]
    restored = api.post(f"segments/{segment['id']}/versions/1/restore")
    assert restored.json()["member_count"] == 1
    assert api.delete(f"segments/{segment['id']}").status_code == 204
    assert api.get(f"segments/{segment['id']}").status_code == 404


def test_the_text_syntax_of_an_account_filter(api: Api) -> None:
    text = 'leads (engagement_level = "Hot") at least 3 and domain = "acme.com"'
    parsed = api.post("filters/parse?audience=accounts", json={"text": text})
    assert parsed.status_code == 200, parsed.text
    assert parsed.json()["filter"] == {
        "and": [THREE_HOT, {"field": "domain", "op": "eq", "value": "acme.com"}]
    }
    assert parsed.json()["text"] == text
    as_leads = api.post("filters/parse", json={"text": text})  # a lead filter has no `leads`
    assert as_leads.status_code == 422
    assert error_of(as_leads)["path"].startswith("filter.")


def test_an_inactive_account_segment_is_frozen_until_refreshed(api: Api) -> None:
    """As a lead segment's: deactivated, its count, members and export are the accounts it
    had; a refresh recomputes them once (history reason `refresh`) and it stays inactive."""
    ids = _seed(api)
    segment = _account_segment(api, {"leads": HOT, "min_count": 1})
    _drain(api)
    path = f"segments/{segment['id']}"
    assert api.patch(path, json={"active": False}).status_code == 200
    globex_lead = api.get("leads", params={"q": "globex"}).json()["items"][0]["id"]
    assert api.patch(f"leads/{globex_lead}", json={"engagement_level": "Cold"}).status_code == 200
    _drain(api)

    counted = api.get(f"{path}/count")
    assert (counted.json()["count"], counted.json()["frozen"]) == (2, True)  # live: only Acme
    members = api.get(f"{path}/accounts").json()["items"]
    assert [m["id"] for m in members] == sorted([ids["Acme"], ids["Globex"]])
    exported = list(csv.reader(io.StringIO(api.get(f"{path}/accounts/export.csv").text)))
    assert sorted(row[1] for row in exported[1:]) == ["Acme", "Globex"]

    done = api.post(f"{path}/refresh")
    assert done.status_code == 200, done.text
    assert (done.json()["entered"], done.json()["exited"], done.json()["member_count"]) == (
        0,
        1,
        1,
    )
    assert api.get(f"{path}/count").json()["count"] == 1
    assert api.get(path).json()["active"] is False
    newest = api.get(f"{path}/history", params={"order": "desc", "limit": 1}).json()["items"]
    assert [(i["account_id"], i["change"], i["reason"]) for i in newest] == [
        (ids["Globex"], "exited", "refresh")
    ]
    assert api.patch(path, json={"active": True}).status_code == 200
    assert api.post(f"{path}/refresh").status_code == 409  # active: always current
