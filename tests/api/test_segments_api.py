"""Segments and lists over HTTP, on both databases: every endpoint and error status."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from tests.api.conftest import Api, error_of
from tests.csv_formulas import FORMULA_LEADS, FORMULA_ROWS, write_untrimmed

NEW = {"field": "status", "op": "eq", "value": "new"}
ENRICHED_BIG = {"field": "enrichment.company.size", "op": "gte", "value": 50}


def _seed(api: Api) -> list[dict[str, Any]]:
    people = [
        {
            "email": "ada@x.test",
            "name": "Ada Lovelace",
            "company": "Engines, Ltd",
            "status": "new",
            "phone": "+1 555",
            "job_title": "CTO",
            "source": "apollo_search",
            "enrichment": {"company": {"size": 120}},
            "created_at": "2024-01-01",
        },
        {
            "email": "bob@x.test",
            "name": "Bob Stone",
            "company": "Quarry",
            "status": "new",
            "created_at": "2024-01-02",
        },
        {
            "email": "cy@x.test",
            "name": "Cy Young",
            "company": 'Ball "Club"',
            "status": "contacted",
            "enrichment": {"company": {"size": 80}},
            "created_at": "2024-01-03",
        },
        {
            "email": "dee@x.test",
            "first_name": "Dée",
            "company": "Ünicode GmbH",
            "status": "new",
            "enrichment": {"company": {"size": 60}},
            "created_at": "2024-01-04",
        },
    ]
    return [api.post("leads", json=p).json() for p in people]


def _segment(api: Api, tree: Any, name: str = "New", as_: str = "owner", **extra: Any) -> Any:
    response = api.post("segments", as_=as_, json={"name": name, "filter": tree, **extra})
    assert response.status_code == 201, response.text
    return response.json()


def test_create_reports_live_count_and_bumps_version_on_filter_change(api: Api) -> None:
    _seed(api)
    segment = _segment(api, NEW, description="Fresh", color="#16A34A")
    assert segment["member_count"] == 3 and segment["version"] == 1
    assert segment["color"] == "#16a34a" and segment["created_by"] == "owner@acme.test"
    renamed = api.patch(f"segments/{segment['id']}", json={"name": "Renamed"}).json()
    assert renamed["version"] == 1 and renamed["name"] == "Renamed"
    widened = api.patch(
        f"segments/{segment['id']}",
        json={"filter": {"or": [NEW, {"field": "status", "op": "eq", "value": "contacted"}]}},
    ).json()
    assert widened["version"] == 2 and widened["member_count"] == 4
    count = api.get(f"segments/{segment['id']}/count").json()
    assert count["count"] == 4 and count["evaluated_at"]
    assert api.get(f"segments/{segment['id']}").json()["last_evaluated_at"]


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"name": "", "filter": NEW}, "name"),
        ({"name": "x" * 256, "filter": NEW}, "name"),
        ({"name": "ok", "description": "d" * 501, "filter": NEW}, "description"),
        ({"name": "ok", "color": "red", "filter": NEW}, "color"),
        ({"name": "ok", "color": "#16a34a\n", "filter": NEW}, "color"),  # `$` allows a \n
        ({"name": "ok", "filter": {"and": []}}, "filter.and"),
        (
            {
                "name": "ok",
                "filter": {
                    "and": [NEW, {"field": "enrichment.company.size", "op": "gte", "value": "big"}]
                },
            },
            "filter.and[1].value",
        ),
        ({"name": "ok", "filter": {"field": "nope", "op": "eq", "value": 1}}, "filter.field"),
    ],
)
def test_invalid_segments_are_422_with_a_path(api: Api, body: Any, path: str) -> None:
    response = api.post("segments", json=body)
    assert response.status_code == 422, response.text
    assert error_of(response)["path"] == path


def test_scopes_and_roles(api: Api) -> None:
    mine = _segment(api, NEW, name="Member's", as_="member")
    owners = _segment(api, NEW, name="Owner's")
    assert [s["name"] for s in api.get("segments", as_="member").json()["items"]] == ["Member's"]
    assert api.get("segments", as_="member", params={"scope": "all"}).status_code == 403
    everyone = api.get("segments", as_="admin", params={"scope": "all"}).json()["items"]
    assert {s["name"] for s in everyone} == {"Member's", "Owner's"}
    assert api.get(f"segments/{owners['id']}", as_="member").status_code == 403
    assert api.patch(f"segments/{mine['id']}", as_="admin", json={"name": "x"}).status_code == 403
    assert api.patch(f"segments/{mine['id']}", as_="member2", json={"name": "x"}).status_code == 403
    assert api.patch(f"segments/{mine['id']}", json={"name": "By owner"}).status_code == 200
    assert api.get(f"segments/{mine['id']}", as_="stranger").status_code == 404
    assert api.delete(f"segments/{mine['id']}", as_="stranger").status_code == 404
    assert api.delete(f"segments/{mine['id']}", as_="member").status_code == 204


def test_duplicate_and_delete(api: Api) -> None:
    leads = _seed(api)
    original = _segment(api, NEW, name="Base")
    copy = api.post(f"segments/{original['id']}/duplicate")
    assert copy.status_code == 201 and copy.json()["name"] == "Base (copy)"
    user = _segment(api, {"in_segment": original["id"]}, name="Uses base")
    refused = api.delete(f"segments/{original['id']}")
    assert refused.status_code == 409 and "Uses base" in error_of(refused)["message"]
    assert api.delete(f"segments/{original['id']}", params={"force": "true"}).status_code == 204
    assert api.get(f"segments/{original['id']}").status_code == 404
    assert api.get(f"leads/{leads[0]['id']}").status_code == 200  # leads are never deleted
    assert user["member_count"] == 3


def test_preview_count_sample_and_warnings(api: Api) -> None:
    _seed(api)
    preview = api.post("segments/preview", json={"filter": {"and": [NEW, ENRICHED_BIG]}}).json()
    assert preview["count"] == 2 and preview["warnings"] == []
    assert [lead["email"] for lead in preview["sample"]] == ["dee@x.test", "ada@x.test"]
    bad = api.post("segments/preview", json={"filter": {"or": []}})
    assert bad.status_code == 422 and error_of(bad)["path"] == "filter.or"


def test_preview_reads_a_list_by_its_elements(api: Api) -> None:
    """No text operator silently matches nothing on a list: on untyped JSON `contains` reads a
    list's elements, and `tags` (a typed list) refuses it with a message naming `has any`."""
    stacks = [["Salesforce", "HubSpot"], ["Stripe"], "Salesforce Sales Cloud"]
    for number, stack in enumerate(stacks):
        lead = {"email": f"l{number}@x.test", "tags": ["Sales"],
                "enrichment": {"company": {"technologies": stack}}}  # fmt: skip
        assert api.post("leads", json=lead).status_code == 201
    technologies = {"field": "enrichment.company.technologies", "op": "contains", "value": "sales"}
    preview = api.post("segments/preview", json={"filter": technologies}).json()
    assert preview["count"] == 2
    tags = {"field": "tags", "op": "contains", "value": "sales"}
    refused = api.post("segments/preview", json={"filter": tags})
    assert refused.status_code == 422 and error_of(refused)["path"] == "filter.op"
    assert "use has any (has_any)" in error_of(refused)["message"]
    answered = api.post(
        "segments/preview", json={"filter": {**tags, "op": "has_any", "value": ["sales"]}}
    )
    assert answered.json()["count"] == 3


def test_members_sort_search_and_page(api: Api) -> None:
    _seed(api)
    segment = _segment(api, NEW)
    url = f"segments/{segment['id']}/members"
    page = api.get(url, params={"per_page": 2}).json()
    assert page["total"] == 3 and [m["email"] for m in page["items"]] == [
        "dee@x.test",
        "bob@x.test",
    ]
    second = api.get(url, params={"per_page": 2, "page": 2}).json()
    assert [m["email"] for m in second["items"]] == ["ada@x.test"]
    by_name = api.get(url, params={"sort": "name"}).json()["items"]
    assert [m["name"] for m in by_name] == ["Ada Lovelace", "Bob Stone", "Dée"]
    found = api.get(url, params={"q": "ünicode"}).json()
    assert [m["email"] for m in found["items"]] == ["dee@x.test"] and found["total"] == 1
    assert api.get(url, params={"per_page": 501}).status_code == 422


def test_export_csv_byte_for_byte(api: Api) -> None:
    _seed(api)
    segment = _segment(
        api, {"field": "email", "op": "ends_with", "value": "x.test"}, name="All / leads: 2024!"
    )
    response = api.get(f"segments/{segment['id']}/export.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == (
        'attachment; filename="All___leads__2024__export.csv"'
    )
    assert response.content.decode() == (
        "Name,Email,Phone,Company,Job Title,Source,Status\n"
        'Ada Lovelace,ada@x.test,\'+1 555,"Engines, Ltd",CTO,apollo_search,new\n'
        + "Bob Stone,bob@x.test,,Quarry,,,new\n"
        + 'Cy Young,cy@x.test,,"Ball ""Club""",,,contacted\n'
        + "Dée,dee@x.test,,Ünicode GmbH,,,new\n"
    )
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["Name", "Email", "Phone", "Company", "Job Title", "Source", "Status"]
    assert len(rows) == 5


EXTRAS = "email,name,created_at,tags,owner,country,engagement_score,engagement_level,profile_level"


def test_export_chosen_columns_in_their_order(api: Api) -> None:
    leads = _seed(api)
    extras = {
        "tags": ["=sum", "VIP", "a,b"],
        "owner": "owner@acme.test",
        "country": "Germany",
        "engagement_score": 12.5,
        "engagement_level": "Cold",
        "profile_level": "@Good Fit",
    }
    assert api.patch(f"leads/{leads[0]['id']}", json=extras).status_code == 200
    assert api.patch(f"leads/{leads[1]['id']}", json={"engagement_score": 42}).status_code == 200
    segment = _segment(api, NEW)
    url = f"segments/{segment['id']}/export.csv"
    response = api.get(url, params={"columns": EXTRAS})
    assert response.status_code == 200, response.text
    assert response.content.decode() == (
        "Email,Name,Created,Tags,Owner,Country,Engagement Score,Engagement Level,Profile Level\n"
        'ada@x.test,Ada Lovelace,2024-01-01T00:00:00Z,"\'=sum; VIP; a,b",owner@acme.test,'
        "Germany,12.5,Cold,'@Good Fit\n"
        "bob@x.test,Bob Stone,2024-01-02T00:00:00Z,,,,42,Warm,\n"  # levels follow scores
        "dee@x.test,Dée,2024-01-04T00:00:00Z,,,,0,Cold,\n"
    )
    picked = api.get(url, params={"columns": "status, email"})  # spaces around keys are fine
    assert picked.content.decode() == (
        "Status,Email\nnew,ada@x.test\nnew,bob@x.test\nnew,dee@x.test\n"
    )
    listed = api.post(f"segments/{segment['id']}/convert-to-list").json()
    list_url = f"lists/{listed['id']}/export.csv"
    assert api.get(list_url, params={"columns": EXTRAS}).content == response.content


def test_export_with_the_seven_chosen_is_the_default(api: Api) -> None:
    _seed(api)
    segment = _segment(api, NEW)
    url = f"segments/{segment['id']}/export.csv"
    seven = "name,email,phone,company,job_title,source,status"
    assert api.get(url, params={"columns": seven}).content == api.get(url).content


@pytest.mark.parametrize(
    ("columns", "named"),
    [
        ("name,salary", "'salary'"),
        ("email,name,email", "'email' is chosen twice"),
        ("", "at least one column"),
        ("Name", "'Name'"),
    ],
)
def test_export_of_bad_columns_is_422_naming_them(api: Api, columns: str, named: str) -> None:
    _seed(api)
    segment = _segment(api, NEW)
    listed = api.post(f"segments/{segment['id']}/convert-to-list").json()
    for url in (f"segments/{segment['id']}/export.csv", f"lists/{listed['id']}/export.csv"):
        response = api.get(url, params={"columns": columns})
        assert response.status_code == 422, url
        error = error_of(response)
        assert error["path"] == "columns" and named in error["message"], error
        if "twice" not in named:  # what could have been chosen
            assert "name, email, phone" in error["message"] and "profile_level" in error["message"]


def test_export_columns_are_listed(api: Api) -> None:
    items = api.get("exports/columns").json()["items"]
    assert [c["key"] for c in items if c["default"]] == [
        "name",
        "email",
        "phone",
        "company",
        "job_title",
        "source",
        "status",
    ]
    assert {"key": "created_at", "header": "Created", "default": False} in items
    assert {"tags", "owner", "country", "engagement_score", "profile_level"} <= {
        c["key"] for c in items
    }
    assert api.get("exports/columns", as_="member").status_code == 200
    assert api.get("exports/columns", as_=None).status_code == 401


@pytest.mark.parametrize(
    "tree",
    [
        {"field": "tags", "op": "has_all", "value": ["VIP", "beta"]},
        {"field": "tags", "op": "has_any", "value": ["vip", "a,b", "{x}"]},
        {"field": "tags", "op": "has_none", "value": ["vip"]},
        {"field": "enrichment.company.technologies", "op": "has_all", "value": ["Stripe"]},
        {"field": "enrichment.company.technologies", "op": "contains", "value": "STRI"},
        {"field": "enrichment.company.technologies", "op": "in", "value": ["x", "{y}"]},
        {"field": "enrichment.company.size", "op": "between", "value": [50, 100]},
        {"field": "company", "op": "contains", "value": "100%_"},
    ],
    ids=[
        "has_all",
        "has_any",
        "has_none",
        "json_has_all",
        "json_contains",
        "json_in",
        "between",
        "like_escape",
    ],
)
def test_export_rows_are_the_members(api: Api, tree: dict[str, Any]) -> None:
    """Exports bind the filter's values their own way (COPY on PostgreSQL): every kind of value
    must reach the database as it does for the members page."""
    people = [
        {"email": "a@x.test", "tags": ["vip", "Beta"], "company": "Up 100%_ Co"},
        {"email": "b@x.test", "tags": ["a,b"], "enrichment": {"company": {"size": 60}}},
        {"email": "c@x.test", "enrichment": {"company": {"technologies": ["stripe", "x"]}}},
        {"email": "d@x.test", "tags": ["{x}", "other"], "company": "100 percent"},
    ]
    for person in people:
        assert api.post("leads", json=person).status_code == 201
    segment = _segment(api, tree)
    members = api.get(f"segments/{segment['id']}/members", params={"per_page": 500}).json()
    exported = list(
        csv.DictReader(io.StringIO(api.get(f"segments/{segment['id']}/export.csv").text))
    )
    assert sorted(row["Email"] for row in exported) == sorted(m["email"] for m in members["items"])
    assert members["items"], "each case matches someone"


def test_exports_defuse_spreadsheet_formulas(api: Api) -> None:
    for lead in FORMULA_LEADS:
        assert api.post("leads", json={**lead, "status": "new"}).status_code == 201
    write_untrimmed(api.client.app.state.engine, api.project.id, "f4@x.test")  # type: ignore[attr-defined]
    segment = _segment(api, NEW)
    exported = api.get(f"segments/{segment['id']}/export.csv").content
    rows = list(csv.reader(io.StringIO(exported.decode(), newline="")))
    assert rows[0] == ["Name", "Email", "Phone", "Company", "Job Title", "Source", "Status"]
    assert rows[1:] == FORMULA_ROWS
    listed = api.post(f"segments/{segment['id']}/convert-to-list").json()
    assert api.get(f"lists/{listed['id']}/export.csv").content == exported


def test_convert_to_list_and_list_lifecycle(api: Api) -> None:
    leads = _seed(api)
    segment = _segment(api, NEW)
    converted = api.post(f"segments/{segment['id']}/convert-to-list")
    assert converted.status_code == 201
    frozen = converted.json()
    assert frozen["member_count"] == 3 and frozen["source_segment_id"] == segment["id"]
    # A lead that stops matching stays in the list until a refresh.
    api.patch(f"leads/{leads[0]['id']}", json={"status": "lost"})
    url = f"lists/{frozen['id']}"
    assert api.get(url).json()["member_count"] == 3
    assert api.post(f"{url}/refresh").json()["member_count"] == 2
    removed = api.request("DELETE", f"{url}/members", json={"lead_ids": [leads[1]["id"]]}).json()
    assert removed == {"changed": 1, "member_count": 1}
    added = api.post(f"{url}/members", json={"lead_ids": [leads[2]["id"], leads[3]["id"]]}).json()
    assert added == {"changed": 1, "member_count": 2}
    unknown = api.post(f"{url}/members", json={"lead_ids": [999999]})
    assert unknown.status_code == 422 and error_of(unknown)["path"] == "lead_ids"
    members = api.get(f"{url}/members", params={"sort": "email"}).json()
    assert [m["email"] for m in members["items"]] == ["cy@x.test", "dee@x.test"]
    export = api.get(f"{url}/export.csv")
    assert export.content.decode().count("\n") == 3
    assert api.get("lists").json()["items"][0]["member_count"] == 2
    assert api.get(url, as_="stranger").status_code == 404
    assert api.delete(url).status_code == 204 and api.get(url).status_code == 404


def test_manual_list_without_filter_cannot_refresh(api: Api) -> None:
    leads = _seed(api)
    created = api.post("lists", json={"name": "VIP", "lead_ids": [leads[0]["id"]]}).json()
    assert created["member_count"] == 1
    refused = api.post(f"lists/{created['id']}/refresh")
    assert refused.status_code == 422 and error_of(refused)["path"] == "filter"


def test_explain_and_lead_segments(api: Api) -> None:
    leads = _seed(api)
    segment = _segment(api, {"and": [NEW, ENRICHED_BIG]})
    _segment(api, {"field": "status", "op": "eq", "value": "contacted"}, name="Contacted")
    why = api.get(f"segments/{segment['id']}/explain/{leads[0]['id']}").json()
    assert why["result"] is True
    assert [child["result"] for child in why["children"]] == [True, True]
    assert why["children"][1]["lead_value"] == 120
    # The words a reader needs, beside the keys: never `gte` on the page.
    words = [(c["field_label"], c["op_label"]) for c in why["children"]]
    assert words == [("Status", "is"), ("Company size", "is at least")]
    why_not = api.get(f"segments/{segment['id']}/explain/{leads[1]['id']}").json()
    assert why_not["result"] is False
    in_segments = api.get(f"leads/{leads[2]['id']}/segments").json()["items"]
    assert [s["name"] for s in in_segments] == ["Contacted"]
    assert api.get(f"segments/{segment['id']}/explain/999999").status_code == 404


def test_leads_filter_and_search(api: Api) -> None:
    _seed(api)
    found = api.get("leads", params={"filter": json.dumps(ENRICHED_BIG), "sort": "email"}).json()
    assert [lead["email"] for lead in found["items"]] == ["ada@x.test", "cy@x.test", "dee@x.test"]
    assert api.get("leads", params={"q": "QUARRY"}).json()["total"] == 1
    bad = api.get("leads", params={"filter": "{not json"})
    assert bad.status_code == 422 and error_of(bad)["path"] == "filter"


def test_history_and_frozen_members(api: Api) -> None:
    from segmint.worker.loop import Worker

    leads = _seed(api)
    worker = Worker(api.client.app.state.engine)  # type: ignore[attr-defined]
    segment = _segment(api, NEW)
    worker.drain()
    history = api.get(f"segments/{segment['id']}/history").json()
    assert {(i["lead_id"], i["change"], i["reason"]) for i in history["items"]} == {
        (lead["id"], "entered", "created") for lead in leads if lead["status"] == "new"
    }
    assert history["next_after"] is None
    # Each row names its lead as it is now (one query for the page, not one a row).
    named = {i["lead_id"]: (i["lead_name"], i["lead_email"]) for i in history["items"]}
    assert named == {
        lead["id"]: (lead.get("name"), lead["email"]) for lead in leads if lead["status"] == "new"
    }
    first = api.get(f"segments/{segment['id']}/history", params={"limit": 2}).json()
    rest = api.get(
        f"segments/{segment['id']}/history", params={"after": first["next_after"]}
    ).json()
    assert len(first["items"]) == 2 and len(rest["items"]) == 1
    newest = api.get(f"segments/{segment['id']}/history", params={"order": "desc", "limit": 2})
    older = api.get(
        f"segments/{segment['id']}/history",
        params={"order": "desc", "after": newest.json()["next_after"]},
    )
    in_order = [i["id"] for i in history["items"]]
    assert [i["id"] for i in newest.json()["items"] + older.json()["items"]] == in_order[::-1]

    api.patch(f"segments/{segment['id']}", json={"active": False})
    api.patch(f"leads/{leads[0]['id']}", json={"status": "lost"})
    worker.drain()
    members = api.get(f"segments/{segment['id']}/members").json()
    assert members["frozen"] is True and members["total"] == 3  # kept, not updated
    assert api.get(f"segments/{segment['id']}/count").json()["frozen"] is True

    api.patch(f"segments/{segment['id']}", json={"active": True})
    worker.drain()
    lead_history = api.get(f"leads/{leads[0]['id']}/history").json()["items"]
    assert [(i["change"], i["reason"], i["segment_name"]) for i in lead_history] == [
        ("exited", "activation", "New"),
        ("entered", "created", "New"),
    ]
    assert api.get(f"segments/{segment['id']}/members").json()["frozen"] is False
    assert api.get(f"leads/{leads[0]['id']}/history", as_="stranger").status_code == 404
    # A lead deleted since keeps its rows, with nothing left to name it by.
    api.delete(f"leads/{leads[1]['id']}")
    history = api.get(f"segments/{segment['id']}/history").json()["items"]
    gone = [i for i in history if i["lead_id"] == leads[1]["id"]]
    assert gone and all(i["lead_name"] is None and i["lead_email"] is None for i in gone)


def test_each_condition_of_a_preview_is_counted_on_its_own(api: Api) -> None:
    _seed(api)
    tree = {
        "and": [
            NEW,
            {"not": ENRICHED_BIG},
            {"or": [{"field": "company", "op": "contains", "value": "quarry"}, {"in_list": 999}]},
        ]
    }
    bad = api.post("segments/preview/conditions", json={"filter": tree})
    assert bad.status_code == 422 and error_of(bad)["path"] == "filter.and[2].or[1].in_list"
    tree["and"][2]["or"][1] = {"event": "trial_signup", "within_days": 30}
    tree["and"].append({"not": {"not": NEW}})  # two NOTs cancel: not one dropped
    response = api.post("segments/preview/conditions", json={"filter": tree})
    assert response.status_code == 200, response.text
    assert response.headers["Segmint-Engine"] in ("index", "sql")
    new = len([p for p in api.get("leads").json()["items"] if p["status"] == "new"])
    counts = {item["path"]: item["count"] for item in response.json()["items"]}
    everyone = api.get("leads/count").json()["count"]
    big = api.post("segments/preview", json={"filter": ENRICHED_BIG}).json()["count"]
    assert counts == {
        "filter.and[0]": new,
        "filter.and[1].not": everyone - big,
        "filter.and[2].or[0]": 1,
        "filter.and[2].or[1]": 0,
        "filter.and[3].not.not": new,
    }
