"""Deleting a segment that campaigns use, over HTTP on both databases: refused until told what
to do with them; `?campaigns=detach` takes it out of their audiences (one left with none says it
cannot send, on its page and in its runs), `?campaigns=keep` leaves them showing it deleted."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.engine import Engine

from segmint.campaigns.sender import Sender
from tests.api.conftest import Api, error_of
from tests.smtp import SmtpServer

NEW = {"field": "status", "op": "eq", "value": "new"}
LOST = {"field": "status", "op": "eq", "value": "lost"}


@pytest.fixture
def smtp() -> Any:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def world(api: Api, smtp: SmtpServer) -> dict[str, Any]:
    """Mail set up, three leads, segments New and Lost, a list, and three campaigns using New:
    one only through it, one with a list too, one excluding it."""
    mail = {
        "host": "127.0.0.1",
        "port": smtp.port,
        "security": "none",
        "from_email": "news@acme.test",
        "public_url": "http://testserver",
    }
    assert api.put("settings/mail", json=mail).status_code == 200
    rows = [
        {"email": "ann@a.test", "status": "new"},
        {"email": "bob@b.test", "status": "new"},
        {"email": "cy@c.test", "status": "lost"},
    ]
    assert api.post("leads/bulk", json={"leads": rows}).status_code == 200
    new = api.post("segments", json={"name": "New", "filter": NEW}).json()
    lost = api.post("segments", json={"name": "Lost", "filter": LOST}).json()
    vip = api.post("lists", json={"name": "VIP"}).json()
    return {
        "new": new["id"],
        "lost": lost["id"],
        "list": vip["id"],
        "only": _campaign(api, "Only New", include_segments=[new["id"]]),
        "mixed": _campaign(
            api, "New and VIP", include_segments=[new["id"]], include_lists=[vip["id"]]
        ),
        "excluding": _campaign(
            api, "Lost not New", include_segments=[lost["id"]], exclude_segments=[new["id"]]
        ),
    }


def _campaign(api: Api, name: str, **targeting: Any) -> int:
    body = {"name": name, "targeting": targeting, "subject": "Hi", "body": "Hello"}
    response = api.post("campaigns", json=body)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _run_error(api: Api, db: Engine, campaign_id: int) -> tuple[str, str | None]:
    run = api.post(f"campaigns/{campaign_id}/runs")
    assert run.status_code == 201, run.text
    Sender(db).drain()
    done = api.get(f"campaigns/{campaign_id}/runs/{run.json()['id']}").json()
    return done["state"], done["error"]


def test_a_segment_campaigns_use_is_not_deleted_without_a_choice(
    api: Api, world: dict[str, Any]
) -> None:
    refused = api.delete(f"segments/{world['new']}")
    assert refused.status_code == 409
    message = error_of(refused)["message"]
    assert "campaign 'Only New'" in message and "campaign 'Lost not New'" in message
    assert "?campaigns=detach" in message and "?campaigns=keep" in message
    bad = api.delete(f"segments/{world['new']}", params={"campaigns": "drop"})
    assert bad.status_code == 422
    assert api.get(f"segments/{world['new']}").status_code == 200


def test_detach_removes_it_from_their_audiences(
    api: Api, world: dict[str, Any], db: Engine
) -> None:
    deleted = api.delete(f"segments/{world['new']}", params={"campaigns": "detach"})
    assert deleted.status_code == 204, deleted.text
    assert api.get(f"segments/{world['new']}").status_code == 404

    mixed = api.get(f"campaigns/{world['mixed']}").json()
    assert mixed["targeting"]["include_segments"] == []
    assert mixed["targeting"]["include_lists"] == [world["list"]]
    assert not [p for p in mixed["problems"] if p["path"].startswith("targeting.")]
    excluding = api.get(f"campaigns/{world['excluding']}").json()
    assert excluding["targeting"]["include_segments"] == [world["lost"]]
    assert excluding["targeting"]["exclude_segments"] == []
    assert excluding["status"] != "error"

    # Left with no audience: it cannot send, and says why on its page and in its runs.
    only = api.get(f"campaigns/{world['only']}").json()
    assert only["targeting"]["include_segments"] == []
    assert only["status"] == "error"
    assert [p["path"] for p in only["problems"]] == ["targeting.include_segments"]
    assert "no target audience" in only["problems"][0]["message"]
    state, error = _run_error(api, db, world["only"])
    assert state == "error" and error is not None and "no target audience" in error
    assert _run_error(api, db, world["excluding"])[0] != "error"


def test_keep_leaves_them_showing_the_segment_deleted(
    api: Api, world: dict[str, Any], db: Engine
) -> None:
    deleted = api.delete(f"segments/{world['new']}", params={"campaigns": "keep"})
    assert deleted.status_code == 204, deleted.text
    only = api.get(f"campaigns/{world['only']}").json()
    assert only["targeting"]["include_segments"] == [world["new"]]
    assert only["status"] == "error"
    assert "was deleted (target audience missing)" in only["problems"][0]["message"]
    state, error = _run_error(api, db, world["only"])
    assert state == "error" and error is not None and "was deleted" in error


def test_segments_that_refer_to_it_still_need_force(api: Api, world: dict[str, Any]) -> None:
    referring = {"name": "New or Lost", "filter": {"or": [{"in_segment": world["new"]}, LOST]}}
    assert api.post("segments", json=referring).status_code == 201
    refused = api.delete(f"segments/{world['new']}", params={"campaigns": "detach"})
    assert refused.status_code == 409
    message = error_of(refused)["message"]
    assert "segment 'New or Lost'" in message and "?force=true" in message
    assert "campaign" not in message  # the campaigns are settled by the choice
    forced = api.delete(f"segments/{world['new']}", params={"campaigns": "detach", "force": True})
    assert forced.status_code == 204
    assert api.get(f"campaigns/{world['only']}").json()["targeting"]["include_segments"] == []


def test_only_who_may_delete_it_detaches(api: Api, world: dict[str, Any]) -> None:
    assert api.delete(f"segments/{world['new']}?campaigns=detach", "admin").status_code == 403
    assert api.delete(f"segments/{world['new']}?campaigns=detach", "stranger").status_code == 404
    only = api.get(f"campaigns/{world['only']}").json()
    assert only["targeting"]["include_segments"] == [world["new"]]
