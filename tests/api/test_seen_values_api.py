"""What the builder's pickers offer, over HTTP on both databases: a field's commonest values
with how many leads hold each (as the filters fold them), event types with their leads, and
the JSON paths found in enrichment, account metadata and event metadata."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api, error_of


def _seed(api: Api) -> None:
    account = api.post("accounts", json={"name": "Acme", "metadata": {"plan": "pro"}}).json()
    rows = [
        {
            "email": "a@x.test",
            "status": "new",
            "source": "Webinar",
            "tags": ["vip", "beta"],
            "enrichment": {"company": {"industry": "SaaS", "technologies": ["Salesforce"]}},
            "account_id": account["id"],
        },
        {
            "email": "b@x.test",
            "status": "new",
            "source": " webinar ",
            "tags": ["VIP"],
            "enrichment": {"company": {"industry": "saas", "founded": 1999}},
        },
        {
            "email": "c@x.test",
            "status": "lost",
            "source": "referral",
            "enrichment": {"company": {"technologies": ["HubSpot", "Salesforce", 3]}},
        },
    ]
    assert api.post("leads/bulk", json={"leads": rows}).json()["errors"] == []
    seen = [
        {"email": "a@x.test", "type": "page_view", "metadata": {"path": "/pricing"}},
        {"email": "a@x.test", "type": "page_view", "metadata": {"path": "/pricing"}},
        {"email": "b@x.test", "type": "page_view", "metadata": {"path": "/blog", "ref": "ad"}},
        {"email": "b@x.test", "type": "trial_signup"},
    ]
    assert api.post("events", json={"events": seen}).json()["errors"] == []


def _values(api: Api, **params: Any) -> list[tuple[Any, int]]:
    response = api.get("filters/values", params=params)
    assert response.status_code == 200, response.text
    return [(item["value"], item["count"]) for item in response.json()["items"]]


def test_a_fields_values_come_with_their_lead_counts(api: Api) -> None:
    _seed(api)
    assert _values(api, field="status") == [("new", 2), ("lost", 1)]
    # Folded as the filters fold them: "Webinar" and " webinar " are one value of 2 leads.
    source = _values(api, field="source")
    assert [count for _, count in source] == [2, 1]
    assert source[0][0].strip().lower() == "webinar" and source[1] == ("referral", 1)
    assert _values(api, field="source", q="REF") == [("referral", 1)]
    tags = _values(api, field="tags")
    assert [count for _, count in tags] == [2, 1] and tags[1] == ("beta", 1)
    industry = _values(api, field="enrichment.company.industry")
    assert [count for _, count in industry] == [2]
    assert _values(api, field="enrichment.company.technologies") == [
        ("Salesforce", 2),
        ("HubSpot", 1),
    ]
    assert _values(api, field="account.metadata.plan") == [("pro", 1)]
    assert _values(api, field="engagement_score") == []  # numbers are typed, not picked
    for tree_value, count in _values(api, field="source"):
        tree = {"field": "source", "op": "eq", "value": tree_value}
        assert api.post("segments/preview", json={"filter": tree}).json()["count"] == count


def test_event_types_and_their_metadata_values(api: Api) -> None:
    _seed(api)
    types = api.get("filters/event-types").json()["items"]
    assert [(t["value"], t["count"]) for t in types] == [("page_view", 2), ("trial_signup", 1)]
    # Event metadata counts events, not leads.
    assert _values(api, field="path", event="page_view") == [("/pricing", 2), ("/blog", 1)]


def test_json_paths_are_found_in_the_data(api: Api) -> None:
    _seed(api)
    found = api.get("filters/paths", params={"root": "enrichment"}).json()["items"]
    kinds = {path["name"]: path["kind"] for path in found}
    assert kinds == {
        "enrichment.company.industry": "string",
        "enrichment.company.technologies": "array",
        "enrichment.company.founded": "number",
    }
    assert found[0]["share"] == round(2 / 3, 3)
    meta = api.get("filters/paths", params={"root": "metadata", "event": "page_view"}).json()
    assert [path["name"] for path in meta["items"]] == ["path", "ref"]
    missing = api.get("filters/paths", params={"root": "metadata"})
    assert missing.status_code == 422 and error_of(missing)["path"] == "event"

    groups = {g["name"]: g["fields"] for g in api.get("filters/vocabulary").json()["groups"]}
    enrichment = {field["name"]: field["label"] for field in groups["Enrichment"]}
    assert enrichment["enrichment.company.founded"] == "Company founded"
    assert enrichment["enrichment.company.size"] == "Company size"  # the known ones stay
    assert "account.metadata.plan" in {field["name"] for field in groups["Account"]}


def test_an_unknown_field_is_a_422(api: Api) -> None:
    bad = api.get("filters/values", params={"field": "nope"})
    assert bad.status_code == 422
