"""The builder's vocabulary and the text syntax, both ways, over HTTP."""

from __future__ import annotations

from tests.api.conftest import Api, error_of


def test_vocabulary_groups_fields_with_their_operators(api: Api) -> None:
    api.post("custom-fields", json={"key": "plan", "type": "select", "options": ["free", "pro"]})
    api.post("leads/bulk", json={"leads": [{"email": "a@x.test", "source": "webinar"}]})
    api.post("events", json={"events": [{"email": "a@x.test", "type": "page_view"}]})
    api.post("events", json={"events": [{"email": "a@x.test", "type": "api_call"}]})
    vocabulary = api.get("filters/vocabulary").json()
    groups = {g["name"]: {f["name"]: f for f in g["fields"]} for g in vocabulary["groups"]}
    assert set(groups) == {"Lead", "Enrichment", "Custom", "Account", "Scores"}
    assert groups["Scores"]["engagement_level"]["options"] == ["Cold", "Warm", "Hot", "Very Hot"]
    assert groups["Scores"]["profile_level"]["options"] == ["Poor Fit", "Good Fit", "Strong Fit"]
    status = groups["Lead"]["status"]
    assert status["type"] == "select" and status["options"] == list(api.project.statuses)
    assert {"eq", "in", "is_null"} <= {o["key"] for o in status["operators"]}
    assert "contains" not in {o["key"] for o in status["operators"]}
    assert groups["Lead"]["source"]["options"] == ["webinar"]  # values seen in the data
    assert groups["Custom"]["custom.plan"]["options"] == ["free", "pro"]
    assert "enrichment.company.size" in groups["Enrichment"]
    assert "account.name" in groups["Account"]
    assert vocabulary["event_types"] == ["api_call", "page_view"]


def test_fields_holding_lists_offer_their_element_operators_first(api: Api) -> None:
    """The builder starts a condition with a field's first operator: on a list, has any."""
    vocabulary = api.get("filters/vocabulary").json()
    fields = {f["name"]: f for g in vocabulary["groups"] for f in g["fields"]}
    for name in ("tags", "enrichment.company.technologies"):
        keys = [o["key"] for o in fields[name]["operators"]]
        assert keys[:3] == ["has_any", "has_all", "has_none"], name
    technologies = [o["key"] for o in fields["enrichment.company.technologies"]["operators"]]
    assert "contains" in technologies  # and the text operators, which read its elements too
    assert fields["enrichment.company.size"]["operators"][0]["key"] == "eq"


def test_vocabulary_is_the_projects_own(api: Api) -> None:
    api.post("leads/bulk", json={"leads": [{"email": "a@x.test"}]})
    api.post("events", json={"events": [{"email": "a@x.test", "type": "secret_type"}]})
    assert api.get("filters/vocabulary", as_="stranger").json()["event_types"] == []


def test_text_and_json_round_trip(api: Api) -> None:
    text = 'status = "new" and performed "trial_signup" within 14 days'
    parsed = api.post("filters/parse", json={"text": text})
    assert parsed.status_code == 200, parsed.text
    tree = parsed.json()["filter"]
    assert tree["and"][0] == {"field": "status", "op": "eq", "value": "new"}
    printed = api.post("filters/text", json={"filter": tree}).json()
    assert printed["filter"] == tree
    assert api.post("filters/parse", json={"text": printed["text"]}).json()["filter"] == tree


def test_syntax_errors_name_line_and_column(api: Api) -> None:
    response = api.post("filters/parse", json={"text": 'status = "new" and ('})
    assert response.status_code == 422
    assert "line 1" in error_of(response)["message"]


def test_invalid_trees_name_the_json_path(api: Api) -> None:
    response = api.post(
        "filters/text", json={"filter": {"and": [{"field": "engagement_score", "op": "gt"}]}}
    )
    assert response.status_code == 422
    assert error_of(response)["path"] == "filter.and[0].value"
