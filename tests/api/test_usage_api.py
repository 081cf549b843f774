"""What uses a segment or a list, over HTTP on both databases: the usage endpoints, deletes that
refuse while something uses them (and go ahead when forced), the filter in words, and the count
of all leads a share is taken of."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api, error_of

NEW = {"field": "status", "op": "eq", "value": "new"}


def _seed(api: Api) -> None:
    rows = [
        {"email": "ada@x.test", "status": "new"},
        {"email": "bob@x.test", "status": "new"},
        {"email": "cy@x.test", "status": "lost"},
    ]
    assert api.post("leads/bulk", json={"leads": rows}).status_code == 200


def _segment(api: Api, tree: Any, name: str) -> Any:
    response = api.post("segments", json={"name": name, "filter": tree})
    assert response.status_code == 201, response.text
    return response.json()


def _campaign(api: Api, name: str, **targeting: Any) -> Any:
    body = {"name": name, "targeting": targeting, "subject": "Hi", "body": "Hello"}
    response = api.post("campaigns", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def _names(usage: dict[str, Any]) -> dict[str, list[str]]:
    return {kind: [user["name"] for user in users] for kind, users in usage.items()}


def test_a_segment_names_the_segments_campaigns_and_lists_that_use_it(api: Api) -> None:
    _seed(api)
    base = _segment(api, NEW, "Base")
    unused = _segment(api, NEW, "Unused")
    _segment(api, {"not": {"in_segment": base["id"]}}, "Not base")
    _campaign(api, "Welcome", include_segments=[base["id"]])
    _campaign(api, "Skips base", include_segments=[unused["id"]], exclude_segments=[base["id"]])
    _campaign(api, "Elsewhere", include_segments=[unused["id"]])
    listed = api.post("lists", json={"name": "Refreshed", "filter": {"in_segment": base["id"]}})
    assert listed.status_code == 201, listed.text

    usage = api.get(f"segments/{base['id']}/usage")
    assert usage.status_code == 200
    assert _names(usage.json()) == {
        "segments": ["Not base"],
        "campaigns": ["Skips base", "Welcome"],
        "lists": ["Refreshed"],
    }
    assert _names(api.get(f"segments/{unused['id']}/usage").json()) == {
        "segments": [],
        "campaigns": ["Elsewhere", "Skips base"],
        "lists": [],
    }
    assert api.get("segments/99999/usage").status_code == 404


def test_a_list_in_use_is_deleted_only_when_forced(api: Api) -> None:
    _seed(api)
    vip = api.post("lists", json={"name": "VIP"}).json()
    spare = api.post("lists", json={"name": "Spare"}).json()
    _segment(api, {"and": [NEW, {"in_list": vip["id"]}]}, "New VIPs")
    _campaign(api, "VIP mail", include_lists=[vip["id"]])

    usage = api.get(f"lists/{vip['id']}/usage").json()
    assert _names(usage) == {"segments": ["New VIPs"], "campaigns": ["VIP mail"], "lists": []}
    refused = api.delete(f"lists/{vip['id']}")
    assert refused.status_code == 409
    message = error_of(refused)["message"]
    assert "segment 'New VIPs'" in message and "campaign 'VIP mail'" in message
    assert api.get(f"lists/{vip['id']}").status_code == 200  # nothing was deleted

    assert api.delete(f"lists/{spare['id']}").status_code == 204  # unused: no question asked
    assert api.delete(f"lists/{vip['id']}", params={"force": "true"}).status_code == 204
    assert api.get(f"lists/{vip['id']}").status_code == 404
    assert api.get(f"lists/{vip['id']}/usage").status_code == 404


def test_a_segment_deleted_by_force_leaves_its_users(api: Api) -> None:
    _seed(api)
    base = _segment(api, NEW, "Base")
    _campaign(api, "Welcome", include_segments=[base["id"]])
    refused = api.delete(f"segments/{base['id']}")
    assert refused.status_code == 409 and "campaign 'Welcome'" in error_of(refused)["message"]
    assert api.delete(f"segments/{base['id']}", params={"force": "true"}).status_code == 204
    assert [c["name"] for c in api.get("campaigns").json()["items"]] == ["Welcome"]


def test_a_filter_in_words_names_fields_operators_segments_and_lists(api: Api) -> None:
    _seed(api)
    base = _segment(api, NEW, "Base")
    vip = api.post("lists", json={"name": "VIP"}).json()
    tree = {
        "and": [
            {"field": "enrichment.company.size", "op": "gte", "value": 50},
            {"in_segment": base["id"]},
            {"not": {"in_list": vip["id"]}},
            {
                "event": "page_view",
                "min_count": 3,
                "within_days": 30,
                "where": {"field": "path", "op": "contains", "value": "/pricing"},
            },
        ]
    }
    words = api.post("filters/text", json={"filter": tree}).json()["words"]
    size, segment, not_list, event = words["children"]
    labels = (size["field_label"], size["op_label"], size["value"])
    assert labels == ("Company size", "is at least", 50)
    assert segment == {"type": "in_segment", "segment_id": base["id"], "name": "Base"}
    assert not_list["child"] == {"type": "in_list", "list_id": vip["id"], "name": "VIP"}
    assert event["min_count"] == 3 and event["within_days"] == 30
    assert event["where"]["op_label"] == "contains" and event["where"]["value"] == "/pricing"

    parsed = api.post("filters/parse", json={"text": f"in segment {base['id']}"}).json()
    assert parsed["words"]["name"] == "Base"


def test_why_names_the_segments_and_lists_it_refers_to(api: Api) -> None:
    _seed(api)
    base = _segment(api, NEW, "Base")
    vip = api.post("lists", json={"name": "VIP"}).json()
    lead = api.get("leads", params={"q": "ada"}).json()["items"][0]
    api.post(f"lists/{vip['id']}/members", json={"lead_ids": [lead["id"]]})
    outer = _segment(api, {"and": [{"in_segment": base["id"]}, {"in_list": vip["id"]}]}, "Outer")
    why = api.get(f"segments/{outer['id']}/explain/{lead['id']}").json()
    names = [(child["type"], child["name"], child["result"]) for child in why["children"]]
    assert names == [("in_segment", "Base", True), ("in_list", "VIP", True)]


def test_the_count_of_all_leads_and_of_a_filter(api: Api) -> None:
    _seed(api)
    everyone = api.get("leads/count")
    assert everyone.status_code == 200 and everyone.json()["count"] == 3
    assert everyone.headers["Segmint-Engine"] in ("index", "sql")
    filtered = api.get(
        "leads/count", params={"filter": '{"field": "status", "op": "eq", "value": "new"}'}
    )
    assert filtered.json()["count"] == 2
    assert api.get("leads/count", params={"q": "bob"}).json()["count"] == 1
    bad = api.get("leads/count", params={"filter": "{"})
    assert bad.status_code == 422 and error_of(bad)["path"] == "filter"
