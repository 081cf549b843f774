"""Sequences through the API: the canonical text and words, a 422 naming the step's path, and
a preview counting leads whose events come in order."""

from __future__ import annotations

from tests.api.conftest import Api, error_of

SEQUENCE = {
    "sequence": [
        {"event": "signup", "where": {"field": "plan", "op": "eq", "value": "pro"}},
        {"event": "api_call"},
    ],
    "within_days": 3,
}


def test_text_and_words_of_a_sequence(api: Api) -> None:
    body = api.post("filters/text", json={"filter": SEQUENCE}).json()
    assert body["filter"] == SEQUENCE
    assert body["text"] == 'performed "signup" where (plan = "pro") then "api_call" within 3 days'
    words = body["words"]
    assert words["type"] == "sequence" and words["within_days"] == 3
    assert [step["event"] for step in words["steps"]] == ["signup", "api_call"]
    assert words["steps"][0]["where"]["field_label"] and words["steps"][1]["where"] is None


def test_a_bad_step_is_a_422_at_its_path(api: Api) -> None:
    bad = {"and": [SEQUENCE, {"sequence": [{"event": "a"}, {"event": "b", "where": {"x": 1}}]}]}
    response = api.post("segments/preview", json={"filter": bad})
    assert response.status_code == 422
    assert error_of(response)["path"] == "filter.and[1].sequence[1].where"


def test_preview_counts_leads_whose_events_come_in_order(api: Api) -> None:
    leads = [{"email": f"s{i}@x.test"} for i in range(3)]
    assert api.post("leads/bulk", json={"leads": leads}).status_code == 200
    events = [
        {"email": "s0@x.test", "type": "signup", "occurred_at": "2026-01-01T00:00:00Z"},
        {"email": "s0@x.test", "type": "api_call", "occurred_at": "2026-01-02T00:00:00Z"},
        {"email": "s1@x.test", "type": "api_call", "occurred_at": "2026-01-01T00:00:00Z"},
        {"email": "s1@x.test", "type": "signup", "occurred_at": "2026-01-02T00:00:00Z"},
        {"email": "s2@x.test", "type": "signup", "occurred_at": "2026-01-01T00:00:00Z"},
        {"email": "s2@x.test", "type": "api_call", "occurred_at": "2026-01-01T00:00:00Z"},
    ]
    assert api.post("events", json={"events": events}).json()["accepted"] == len(events)
    ordered = {"sequence": [{"event": "signup"}, {"event": "api_call"}]}
    preview = api.post("segments/preview", json={"filter": ordered}).json()
    assert preview["count"] == 1
    assert [lead["email"] for lead in preview["sample"]] == ["s0@x.test"]


def test_without_an_event_in_between_through_the_api(api: Api) -> None:
    """not_between: its text, its words (with its where), a 422 at its path, and a preview
    that drops the lead whose only chain has a cancel strictly inside it."""
    excluding = {
        **SEQUENCE,
        "not_between": {"event": "cancel", "where": {"field": "reason", "op": "eq", "value": "x"}},
    }
    body = api.post("filters/text", json={"filter": excluding}).json()
    assert body["filter"] == excluding
    assert body["text"].endswith('within 3 days without "cancel" where (reason = "x") in between')
    excluded = body["words"]["not_between"]
    assert excluded["event"] == "cancel" and excluded["where"]["field_label"]
    bad = {**SEQUENCE, "not_between": {"event": "cancel", "where": {"in_list": 1}}}
    response = api.post("segments/preview", json={"filter": bad})
    assert response.status_code == 422
    assert error_of(response)["path"] == "filter.not_between.where"

    leads = [{"email": f"n{i}@x.test"} for i in range(2)]
    assert api.post("leads/bulk", json={"leads": leads}).status_code == 200
    events = [
        {"email": f"n{i}@x.test", "type": kind, "occurred_at": f"2026-01-0{day}T00:00:00Z"}
        for i in range(2)
        for kind, day in (("signup", 1), ("api_call", 3))
    ]
    events.append({"email": "n1@x.test", "type": "cancel", "occurred_at": "2026-01-02T00:00:00Z"})
    assert api.post("events", json={"events": events}).json()["accepted"] == len(events)
    ordered = {"sequence": [{"event": "signup"}, {"event": "api_call"}]}
    preview = api.post(
        "segments/preview", json={"filter": {**ordered, "not_between": {"event": "cancel"}}}
    ).json()
    assert [lead["email"] for lead in preview["sample"]] == ["n0@x.test"]
