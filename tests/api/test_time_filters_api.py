"""Random split and time in segment over HTTP: counts (the index answers both), explain and
the tree in words, 422 with a path."""

from __future__ import annotations

from typing import Any

from segmint.bucketing import bucket_of
from segmint.worker.loop import Worker
from tests.api.conftest import Api, error_of

NEW = {"field": "status", "op": "eq", "value": "new"}


def _seed(api: Api) -> list[dict[str, Any]]:
    rows = [{"email": f"l{i}@x.test", "status": "new" if i % 2 else "contacted"} for i in range(12)]
    assert api.post("leads/bulk", json={"leads": rows}).status_code == 200
    found = api.get("leads", params={"per_page": 50, "sort": "email"}).json()["items"]
    return list(found)


def test_time_in_segment_counts_explains_and_describes(api: Api) -> None:
    leads = _seed(api)
    worker = Worker(api.client.app.state.engine)  # type: ignore[attr-defined]
    source = api.post("segments", json={"name": "New", "filter": NEW}).json()
    worker.drain()  # its maintained membership, begun now
    recent = {"in_segment": source["id"], "entered_within_days": 7}
    veteran = {"in_segment": source["id"], "for_at_least_days": 7}
    assert api.post("segments/preview", json={"filter": recent}).json()["count"] == 6
    assert api.post("segments/preview", json={"filter": veteran}).json()["count"] == 0
    saved = api.post("segments", json={"name": "Recent", "filter": recent}).json()
    assert saved["member_count"] == 6

    member = next(lead for lead in leads if lead["status"] == "new")
    why = api.get(f"segments/{saved['id']}/explain/{member['id']}").json()
    assert why["type"] == "segment_time" and why["result"] is True
    assert (why["segment_id"], why["name"], why["timing"], why["days"]) == (
        source["id"],
        "New",
        "entered_within_days",
        7,
    )
    assert why["lead_value"] is not None  # when its membership began

    words = api.post("filters/text", json={"filter": veteran}).json()
    assert words["text"] == f"in segment {source['id']} for at least 7 days"
    assert words["words"]["name"] == "New" and words["words"]["timing"] == "for_at_least_days"


def test_time_in_segment_of_an_inactive_segment_is_422(api: Api) -> None:
    frozen = api.post("segments", json={"name": "F", "filter": NEW, "active": False}).json()
    tree = {"or": [NEW, {"in_segment": frozen["id"], "for_at_least_days": 3}]}
    response = api.post("segments/preview", json={"filter": tree})
    assert response.status_code == 422
    error = error_of(response)
    assert error["path"] == "filter.or[1].in_segment" and "not active" in error["message"]
    both = {"in_segment": frozen["id"], "for_at_least_days": 3, "entered_within_days": 3}
    assert error_of(api.post("segments/preview", json={"filter": both}))["path"] == "filter"


def test_a_random_split_counts_explains_and_describes(api: Api) -> None:
    leads = _seed(api)
    half = {"bucket": [0, 50], "salt": "t1"}
    expected = sum(1 for lead in leads if bucket_of("t1", lead["id"]) < 50)
    assert api.post("segments/preview", json={"filter": half}).json()["count"] == expected
    other = {"bucket": [50, 100], "salt": "t1"}
    rest = api.post("segments/preview", json={"filter": other}).json()["count"]
    assert expected + rest == len(leads)
    saved = api.post("segments", json={"name": "A", "filter": half}).json()
    why = api.get(f"segments/{saved['id']}/explain/{leads[0]['id']}").json()
    assert why["type"] == "bucket" and why["lead_value"] == bucket_of("t1", leads[0]["id"])
    assert why["result"] is (why["lead_value"] < 50)
    words = api.post("filters/text", json={"filter": half}).json()
    assert words["text"] == 'bucket 0 to 50 salt "t1"'
    assert words["words"] == {"type": "bucket", "low": 0, "high": 50, "salt": "t1"}
    bad = api.post("segments/preview", json={"filter": {"bucket": [0, 101]}})
    assert bad.status_code == 422 and error_of(bad)["path"] == "filter.bucket[1]"
