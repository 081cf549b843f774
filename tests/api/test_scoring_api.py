"""Scoring over HTTP: rules and levels by admins, counts per level, a lead's score history."""

from __future__ import annotations

from segmint.worker.loop import Worker
from tests.api.conftest import Api, error_of


def test_rules_and_levels_by_admins_seen_by_all(api: Api) -> None:
    rule = {"event_type": "page_view", "points": 10, "cap": 30}
    assert api.post("scoring/rules", as_="member", json=rule).status_code == 403
    made = api.post("scoring/rules", as_="admin", json=rule)
    assert made.status_code == 201, made.text
    rule_id = made.json()["id"]
    changed = api.patch(f"scoring/rules/{rule_id}", json={"decay": "halve", "decay_days": 30})
    assert changed.json() | {"id": 0} == {
        "id": 0,
        "event_type": "page_view",
        "points": 10,
        "where": None,
        "cap": 30,
        "decay": "halve",
        "decay_days": 30,
    }
    seen = api.get("scoring", as_="member").json()
    assert [r["id"] for r in seen["rules"]] == [rule_id]
    assert [(b["name"], b["min"]) for b in seen["levels"]] == [
        ("Cold", 0),
        ("Warm", 25),
        ("Hot", 50),
        ("Very Hot", 75),
    ]
    assert api.get("scoring", as_="stranger").json()["rules"] == []
    assert api.delete(f"scoring/rules/{rule_id}", as_="stranger").status_code == 404
    assert api.delete(f"scoring/rules/{rule_id}").status_code == 204
    assert api.delete(f"scoring/rules/{rule_id}").status_code == 404


def test_bad_rules_and_levels_name_the_field(api: Api) -> None:
    bad = api.post(
        "scoring/rules",
        json={"event_type": "x", "points": 1, "where": {"field": "path", "op": "contains"}},
    )
    assert bad.status_code == 422 and error_of(bad)["path"] == "rule.where.value"
    levels = api.put("scoring/levels", json={"levels": [{"name": "A", "min": 3}]})
    assert levels.status_code == 422 and error_of(levels)["path"] == "levels[0].min"


def test_levels_preview_and_score_history(api: Api) -> None:
    lead = api.post("leads", json={"email": "a@x.test"}).json()
    api.post("scoring/rules", json={"event_type": "demo", "points": 45})
    api.post("events", json={"events": [{"lead_id": lead["id"], "type": "demo"}]})
    assert api.get(f"leads/{lead['id']}").json()["engagement_score"] == 45
    Worker(api.client.app.state.engine).sweep_scores()  # type: ignore[attr-defined]
    proposed = {"levels": [{"name": "Low", "min": 0}, {"name": "High", "min": 40}]}
    preview = api.post("scoring/levels/preview", json=proposed).json()
    assert [(b["name"], b["count"]) for b in preview] == [("Low", 0), ("High", 1)]
    history = api.get(f"leads/{lead['id']}/score-history").json()["items"]
    assert [point["score"] for point in history] == [45]
    assert api.get(f"leads/{lead['id']}/score-history", as_="stranger").status_code == 404


def test_fit_rules_and_levels(api: Api) -> None:
    api.post("leads", json={"email": "vp@x.test", "job_title": "VP Sales"})
    rule = {"name": "Leaders", "filter": {"field": "job_title", "op": "contains", "value": "vp"}}
    assert (
        api.post("scoring/fit-rules", as_="member", json=rule | {"points": 60}).status_code == 403
    )
    made = api.post("scoring/fit-rules", json=rule | {"points": 60})
    assert made.status_code == 201, made.text
    bad = api.post("scoring/fit-rules", json=rule | {"points": 1, "filter": {"and": []}})
    assert bad.status_code == 422 and error_of(bad)["path"] == "filter.and"
    Worker(api.client.app.state.engine).sweep_scores()  # type: ignore[attr-defined]
    state = api.get("scoring").json()
    assert [r["name"] for r in state["fit_rules"]] == ["Leaders"]
    assert [(b["name"], b["count"]) for b in state["fit_levels"]] == [
        ("Poor Fit", 0),
        ("Good Fit", 0),
        ("Strong Fit", 1),
    ]
    levels = {"levels": [{"name": "No", "min": 0}, {"name": "Yes", "min": 50}]}
    assert api.put("scoring/fit-levels", json=levels).status_code == 200
    assert (
        api.patch(f"scoring/fit-rules/{made.json()['id']}", json={"points": 10}).json()["points"]
        == 10
    )
    assert api.delete(f"scoring/fit-rules/{made.json()['id']}").status_code == 204


def test_account_rollup_is_set_by_admins(api: Api) -> None:
    assert api.get("scoring").json()["account_rollup"] == "max"
    body = {"account_rollup": "sum"}
    assert api.put("scoring/account-rollup", as_="member", json=body).status_code == 403
    assert api.put("scoring/account-rollup", json=body).json() == body
    assert api.get("scoring").json()["account_rollup"] == "sum"
    bad = api.put("scoring/account-rollup", json={"account_rollup": "avg"})
    assert bad.status_code == 422 and error_of(bad)["path"] == "account_rollup"


def test_fit_levels_preview_and_the_rescoring_flag(api: Api) -> None:
    api.post("leads", json={"email": "vp@x.test", "job_title": "VP"})
    api.post("leads", json={"email": "dev@x.test", "job_title": "Dev"})
    vp = {"field": "job_title", "op": "eq", "value": "VP"}
    assert api.get("scoring").json()["rescoring"] is False
    api.post("scoring/fit-rules", json={"name": "VP", "filter": vp, "points": 40})
    assert api.get("scoring").json()["rescoring"] is True  # until the worker has swept
    proposed = {"levels": [{"name": "Out", "min": 0}, {"name": "In", "min": 30}]}
    preview = api.post("scoring/fit-levels/preview", json=proposed).json()
    assert [(b["name"], b["count"]) for b in preview] == [("Out", 1), ("In", 1)]
    Worker(api.client.app.state.engine).sweep_scores()  # type: ignore[attr-defined]
    assert api.get("scoring").json()["rescoring"] is False


def test_every_lead_holds_the_level_the_page_counts(api: Api) -> None:
    """A lead has its level from the moment it is written, so the scoring page's counts are
    what "Engagement level is …" matches (they once said Cold: 10,000 while it matched 0)."""
    rows = [
        {"email": "a@x.test"},
        {"email": "b@x.test", "engagement_score": 60},
        {"email": "c@x.test", "engagement_score": 30, "engagement_level": "Imported"},
    ]
    assert api.post("leads/bulk", json={"leads": rows}).json()["created"] == 3
    made = api.post("leads", json={"email": "d@x.test"}).json()
    assert made["engagement_level"] == "Cold"
    patched = api.patch(f"leads/{made['id']}", json={"engagement_score": 80}).json()
    assert patched["engagement_level"] == "Very Hot"

    state = api.get("scoring").json()
    counts = {band["name"]: band["count"] for band in state["levels"]}
    assert counts == {"Cold": 1, "Warm": 0, "Hot": 1, "Very Hot": 1}
    assert state["unleveled"] == 1  # "Imported": none of the bands, until it is rescored
    for name, count in counts.items():
        tree = {"field": "engagement_level", "op": "eq", "value": name}
        assert api.post("segments/preview", json={"filter": tree}).json()["count"] == count
