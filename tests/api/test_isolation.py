"""Isolation matrix: every endpoint of the OpenAPI document, called with a token of another
organization and with a member's token, on another user's objects. Nothing crosses: the
stranger sees none of our data and changes none of it, the member is refused what its role
forbids, and no answer is a 5xx."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.api.conftest import Api

MARK = "acmesecret"  # in every name and address we create, so a leak shows in any body
PARAMS = re.compile(r"\{(\w+)\}")


@pytest.fixture
def seeded(api: Api) -> dict[str, Any]:
    """One of every kind of object, made by the owner."""

    def made(response: httpx.Response) -> Any:
        assert response.status_code in (200, 201, 202), response.text
        return response.json()

    lead = made(api.post("leads", json={"email": f"{MARK}@acme.test", "first_name": MARK}))
    account = made(api.post("accounts", json={"name": f"{MARK} Inc", "domain": f"{MARK}.test"}))
    made(api.post("custom-fields", json={"key": MARK, "label": MARK, "type": "text"}))
    new = {"field": "email", "op": "contains", "value": MARK}
    segment = made(api.post("segments", json={"name": f"{MARK} segment", "filter": new}))
    listed = made(api.post("lists", json={"name": f"{MARK} list"}))
    webhook = made(api.post("webhooks", json={"url": f"https://{MARK}.test/hook"}))
    campaign = made(
        api.post(
            "campaigns",
            json={
                "name": f"{MARK} campaign",
                "targeting": {"include_segments": [segment["id"]]},
                "subject": MARK,
            },
        )
    )
    run = made(api.post(f"campaigns/{campaign['id']}/runs"))
    rule = made(api.post("scoring/rules", json={"event_type": "page_view", "points": 5}))
    fit = made(api.post("scoring/fit-rules", json={"name": MARK, "filter": new, "points": 5}))
    token = made(api.post("/api/v1/tokens", json={"name": MARK}))
    user = made(api.post("/api/v1/users", json={"email": f"{MARK}@acme.test"}))
    tagging = {"action": "add_tags", "params": {"tags": [MARK]}}
    bulk = made(api.post("bulk-actions", json={**tagging, "selection": {"lead_ids": [lead["id"]]}}))
    return {
        "project": "default",
        "lead_id": lead["id"],
        "account_id": account["id"],
        "segment_id": segment["id"],
        "list_id": listed["id"],
        "webhook_id": webhook["id"],
        "campaign_id": campaign["id"],
        "run_id": run["id"],
        "scoring_rule": rule["id"],
        "fit_rule": fit["id"],
        "prefix": token["prefix"],
        "user_id": user["id"],
        "bulk_action_id": bulk["id"],
        "number": 1,  # the segment's first saved version
    }


def _endpoints(api: Api) -> list[tuple[str, str]]:
    paths = api.client.get("/api/v1/openapi.json").json()["paths"]
    return [(method.upper(), path) for path, ops in paths.items() for method in ops]


def _fill(path: str, ids: dict[str, Any]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match[1]
        if name == "rule_id":
            name = "fit_rule" if "/fit-rules/" in path else "scoring_rule"
        return str(ids[name])

    return PARAMS.sub(value, path)


def _call(api: Api, method: str, path: str, who: str) -> httpx.Response:
    body = {"json": {}} if method in ("POST", "PATCH", "PUT") else {}
    return api.request(method, path, who, **body)


def _snapshot(api: Api, ids: dict[str, Any]) -> dict[str, Any]:
    """What role checks protect, as the owner reads it."""
    reads = [
        "segments?scope=all",
        f"segments/{ids['segment_id']}",
        "campaigns",
        f"campaigns/{ids['campaign_id']}",
        "webhooks",
        "settings",
        "settings/mail",
        "scoring",
        "/api/v1/users",
        "/api/v1/tokens",
        f"leads/{ids['lead_id']}",
        f"accounts/{ids['account_id']}",
        f"lists/{ids['list_id']}",
        "custom-fields",
        "bulk-actions",
    ]
    return {path: _steady(api.get(path).json()) for path in reads}


# Reading moves the first two; level counts (and the leads holding no level) follow leads,
# which a member may add.
VOLATILE = {"last_evaluated_at", "last_used_at", "count", "unleveled", "fit_unleveled"}


def _steady(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _steady(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_steady(item) for item in value]
    return value


def test_another_organization_reaches_nothing(api: Api, seeded: dict[str, Any]) -> None:
    before = _snapshot(api, seeded)
    for method, template in _endpoints(api):
        if "{" not in template and method != "GET":
            continue  # creating in its own project is its right
        response = _call(api, method, _fill(template, seeded), "stranger")
        where = f"{method} {template}: {response.status_code} {response.text[:200]}"
        assert response.status_code < 500, where
        if "{" in template.replace("{project}", ""):
            assert response.status_code in (404, 422), where
        assert MARK not in response.text.lower(), where
    assert _snapshot(api, seeded) == before


ADMIN_ONLY = re.compile(
    r"^(?:\w+ /api/v1/projects/\{project\}/(webhooks|settings/mail)"
    r"|PATCH /api/v1/projects/\{project\}/settings$"
    r"|(POST|PATCH|PUT|DELETE) /api/v1/projects/\{project\}/scoring/"
    r"(rules|fit-rules|levels$|fit-levels$|account-rollup)"
    r"|\w+ /api/v1/users$|(PATCH|DELETE) /api/v1/users/\{user_id\}$"
    r"|(PATCH|DELETE) /api/v1/projects/\{project\}/(segments|campaigns)/\{\w+\}$"
    r"|POST /api/v1/projects/\{project\}/campaigns/\{campaign_id\}/(runs|rotate-secret)$)"
)


def test_a_member_is_refused_what_its_role_forbids(api: Api, seeded: dict[str, Any]) -> None:
    before = _snapshot(api, seeded)
    refused = []
    for method, template in _endpoints(api):
        if method == "DELETE" and re.search(r"/(leads|lists|tokens)/", template):
            continue  # project data a member manages, and its own tokens
        key = f"{method} {template}"
        response = _call(api, method, _fill(template, seeded), "member")
        assert response.status_code < 500, f"{key}: {response.text[:200]}"
        if ADMIN_ONLY.match(key):
            assert response.status_code == 403, f"{key}: {response.status_code}"
            refused.append(key)
    assert len(refused) >= 20
    assert _protected(_snapshot(api, seeded)) == _protected(before)


def _protected(snapshot: dict[str, Any]) -> dict[str, Any]:
    """Leaves out what a member may change: leads, accounts and lists are the project's data."""
    return {
        k: v for k, v in snapshot.items() if not k.startswith(("leads/", "accounts/", "lists/"))
    }
