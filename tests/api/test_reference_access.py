"""A filter may refer only to segments its caller may read: a member, who gets 403 on another
user's segment, gets the same 403 (naming the reference's JSON path) wherever a filter or a
targeting names that segment, and cannot evaluate a segment of its own that reaches one."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.engine import Engine

from segmint.store.tables import segments
from tests.api.conftest import Api, error_of

SECRET = {"field": "email", "op": "contains", "value": "vip"}


def _made(response: Any) -> Any:
    assert response.status_code in (200, 201), response.text
    return response.json()


def _others_segment(api: Api) -> int:
    """The admin's segment of VIP leads, which a member may not read."""
    _made(api.post("leads", json={"email": "vip@acme.test", "first_name": "Hidden"}))
    _made(api.post("leads", json={"email": "plain@acme.test"}))
    segment = _made(api.post("segments", as_="admin", json={"name": "VIPs", "filter": SECRET}))
    assert api.get(f"segments/{segment['id']}", as_="member").status_code == 403
    return int(segment["id"])


def _refused(response: Any, path: str) -> None:
    assert response.status_code == 403, response.text
    error = error_of(response)
    assert error["path"] == path, error
    assert "vip@acme.test" not in response.text


def test_a_member_cannot_refer_to_another_users_segment(api: Api) -> None:
    hidden = _others_segment(api)
    ref = {"and": [{"field": "email", "op": "is_not_null"}, {"in_segment": hidden}]}
    path = "filter.and[1].in_segment"

    _refused(api.post("segments/preview", as_="member", json={"filter": ref}), path)
    _refused(api.post("segments", as_="member", json={"name": "Mine", "filter": ref}), path)
    _refused(api.get("leads", as_="member", params={"filter": json.dumps(ref)}), path)
    _refused(api.post("filters/text", as_="member", json={"filter": ref}), path)
    _refused(
        api.post("filters/parse", as_="member", json={"text": f"in segment {hidden}"}),
        "filter.in_segment",
    )
    _refused(api.post("lists", as_="member", json={"name": "L", "filter": ref}), path)
    own = _made(api.post("segments", as_="member", json={"name": "Own", "filter": SECRET}))
    _refused(api.patch(f"segments/{own['id']}", as_="member", json={"filter": ref}), path)
    targeting = {"include_segments": [own["id"]], "exclude_segments": [hidden]}
    _refused(
        api.post("campaigns", as_="member", json={"name": "C", "targeting": targeting}),
        "targeting.exclude_segments[0]",
    )
    _refused(
        api.post("campaigns/preview", as_="member", json={"targeting": targeting}),
        "targeting.exclude_segments[0]",
    )
    with_filter = {"include_segments": [own["id"]], "filter": ref}
    _refused(
        api.post("campaigns/preview", as_="member", json={"targeting": with_filter}),
        "targeting." + path,
    )
    names = [s["name"] for s in api.get("segments?scope=all").json()["items"]]
    assert sorted(names) == ["Own", "VIPs"]  # nothing was saved by the refused writes


def test_what_the_caller_may_read_can_still_be_referred_to(api: Api) -> None:
    hidden = _others_segment(api)
    own = _made(api.post("segments", as_="member", json={"name": "Own", "filter": SECRET}))
    mine = {"in_segment": own["id"]}
    preview = _made(api.post("segments/preview", as_="member", json={"filter": mine}))
    assert preview["count"] == 1
    by_admin = {"and": [{"in_segment": hidden}, {"in_segment": own["id"]}]}
    made = _made(api.post("segments", as_="admin", json={"name": "Both", "filter": by_admin}))
    assert made["member_count"] == 1
    lists = _made(api.post("lists", as_="member", json={"name": "L"}))
    listed = {"in_list": lists["id"]}  # lists are the project's: everyone in it reads them
    assert _made(api.post("segments/preview", as_="member", json={"filter": listed}))["count"] == 0


def _own_segment_reaching(api: Api, db: Engine, target: int) -> int:
    """A member's segment whose stored filter refers to `target`: saved before the rule, or
    while its creator was an admin."""
    own = _made(api.post("segments", as_="member", json={"name": "Own", "filter": SECRET}))
    with db.begin() as conn:
        conn.execute(
            segments.update()
            .where(segments.c.project_id == api.project.id, segments.c.id == own["id"])
            .values(filter={"in_segment": target})
        )
    return int(own["id"])


def test_a_member_cannot_evaluate_its_own_segment_reaching_another_users(
    api: Api, db: Engine
) -> None:
    hidden = _others_segment(api)
    own = _own_segment_reaching(api, db, hidden)
    lead = api.get("leads", params={"q": "vip"}).json()["items"][0]["id"]
    for path in ("", "/count", "/members", "/export.csv", f"/explain/{lead}", "/analytics"):
        _refused(api.get(f"segments/{own}{path}", as_="member"), "filter.in_segment")
    listed = api.get("segments", as_="member").json()["items"]
    assert [(s["id"], s.get("member_count")) for s in listed] == [(own, None)]
    assert api.get(f"leads/{lead}/segments", as_="member").json()["items"] == []
    assert {s["id"] for s in api.get(f"leads/{lead}/segments").json()["items"]} == {hidden, own}
    # Through another of its own segments, the reach is refused too, naming the chain.
    outer = _made(api.post("segments", as_="member", json={"name": "Outer", "filter": SECRET}))
    with db.begin() as conn:
        conn.execute(
            segments.update()
            .where(segments.c.project_id == api.project.id, segments.c.id == outer["id"])
            .values(filter={"not": {"in_segment": own}})
        )
    response = api.get(f"segments/{outer['id']}/members", as_="member")
    _refused(response, "filter.not.in_segment")
    assert f"{own} -> {hidden}" in error_of(response)["message"]
    # Its owner, and anyone who reads both, still evaluates it; the member may still delete it.
    assert api.get(f"segments/{own}/count", as_="admin").json()["count"] == 1
    assert api.delete(f"segments/{outer['id']}", as_="member").status_code == 204


def test_a_list_refresh_reaching_another_users_segment_is_refused(api: Api) -> None:
    hidden = _others_segment(api)
    made = _made(api.post("lists", as_="admin", json={"name": "L", "filter": SECRET}))
    _made(api.patch(f"lists/{made['id']}", as_="admin", json={"filter": {"in_segment": hidden}}))
    _refused(api.post(f"lists/{made['id']}/refresh", as_="member"), "filter.in_segment")
    assert api.get(f"lists/{made['id']}", as_="member").json()["member_count"] == 0
    assert _made(api.post(f"lists/{made['id']}/refresh", as_="admin"))["member_count"] == 1


def test_a_member_cannot_see_the_audience_of_a_campaign_targeting_another_users_segment(
    api: Api,
) -> None:
    """A saved campaign's audience and its runs' recipients are that segment's members."""
    hidden = _others_segment(api)
    body = {"name": "VIP news", "targeting": {"include_segments": [hidden]}}
    campaign = _made(api.post("campaigns", as_="admin", json=body))
    run = _made(api.post(f"campaigns/{campaign['id']}/runs", as_="admin"))
    audience = f"campaigns/{campaign['id']}/audience"
    recipients = f"campaigns/{campaign['id']}/runs/{run['id']}/recipients"
    assert api.get(audience, as_="admin").status_code == 200
    assert api.get(recipients, as_="admin").status_code == 200
    _refused(api.get(audience, as_="member"), "targeting.include_segments[0]")
    _refused(api.get(recipients, as_="member"), "targeting.include_segments[0]")
