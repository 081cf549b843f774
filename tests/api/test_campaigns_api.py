"""/campaigns and /settings/mail over HTTP: CRUD, previews, runs, recipients, roles, tenants,
and the public tracking links, on both databases with a real SMTP server."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy.engine import Engine

from segmint.campaigns.sender import Sender, run_campaigns_due
from segmint.worker.loop import Worker
from tests.api.conftest import Api, error_of
from tests.smtp import SmtpServer


@pytest.fixture
def smtp() -> Any:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def ready(api: Api, smtp: SmtpServer) -> dict[str, int]:
    """Mail settings, three leads and a segment of two of them."""
    settings = {
        "host": "127.0.0.1",
        "port": smtp.port,
        "security": "none",
        "from_email": "news@acme.test",
        "public_url": "http://testserver",
    }
    assert api.put("settings/mail", json=settings).status_code == 200
    leads = [
        {"email": "ann@a.test", "first_name": "Ann", "status": "new"},
        {"email": "bob@b.test", "first_name": "Bob", "status": "new"},
        {"email": "cy@c.test", "first_name": "Cy", "status": "lost"},
    ]
    assert api.post("leads/bulk", json={"leads": leads}).status_code == 200
    segment = api.post(
        "segments", json={"name": "New", "filter": {"field": "status", "op": "eq", "value": "new"}}
    ).json()
    return {"segment": segment["id"]}


def _campaign(api: Api, segment: int, as_: str = "owner", **fields: Any) -> Any:
    body = {
        "name": "Welcome",
        "targeting": {"include_segments": [segment]},
        "subject": "Hi {{ lead.first_name }}",
        "body": 'Hello {{ lead.first_name }}, see <a href="https://acme.test/x">this</a>.',
        **fields,
    }
    return api.post("campaigns", as_, json=body)


def test_mail_settings_never_show_the_password(api: Api, ready: dict[str, int]) -> None:
    api.put("settings/mail", json={"username": "mailer", "password": "s3cret-pass"})
    settings = api.get("settings/mail").json()
    assert settings["password_set"] is True and "password" not in settings
    assert api.get("settings/mail", "member").status_code == 403
    bad = api.put("settings/mail", json={"port": 70000})
    assert error_of(bad)["path"] == "port"
    bad = api.put("settings/mail", json={"from_email": "not-an-address"})
    assert error_of(bad) == {
        "code": "invalid",
        "message": "'not-an-address' is not an email address",
        "path": "from_email",
    }
    kept = api.put("settings/mail", json={"from_name": "Acme", "password": ""}).json()
    assert kept["password_set"] is True and kept["from_name"] == "Acme"
    cleared = api.put("settings/mail", json={"clear_password": True}).json()
    assert cleared["password_set"] is False


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("from_name", "Acme\r\nBcc: everyone@evil.test"),
        ("from_name", "Acme\x07"),  # NUL is refused earlier, as text no database stores
        ("reply_to", "help@acme.test\r\nBcc: everyone@evil.test"),
        ("host", "smtp.acme.test\n"),
        ("username", "mailer\tx"),
    ],
)
def test_mail_settings_refuse_control_characters(
    api: Api, ready: dict[str, int], field: str, value: str
) -> None:
    """A line break in a header field would add headers of its own (and, stored, it broke
    every mail of the project)."""
    before = api.get("settings/mail").json()
    refused = api.put("settings/mail", json={"from_name": "Acme", field: value})
    assert refused.status_code == 422
    assert error_of(refused) == {
        "code": "invalid",
        "message": "must not contain control characters (line breaks, tabs, ...): it goes into "
        "mail headers",
        "path": field,
    }
    assert api.get("settings/mail").json() == before


def test_campaign_crud_preview_and_render(api: Api, ready: dict[str, int]) -> None:
    created = _campaign(api, ready["segment"])
    assert created.status_code == 201, created.text
    campaign = created.json()
    assert campaign["status"] == "draft" and campaign["problems"] == []
    assert campaign["webhook_secret"].startswith("whsec_")
    assert campaign["schedule"]["kind"] == "manual" and campaign["resend"]["policy"] == "never"
    listed = api.get("campaigns").json()["items"]
    assert [c["id"] for c in listed] == [campaign["id"]]
    changed = api.patch(
        f"campaigns/{campaign['id']}",
        json={"schedule": {"kind": "cron", "cron": "0 10 * * 1-5"}, "state": "scheduled"},
    ).json()
    assert changed["state"] == "scheduled" and changed["next_run_at"] is not None
    bad = api.patch(f"campaigns/{campaign['id']}", json={"body": "{% if %}"})
    assert bad.status_code == 422 and error_of(bad)["path"] == "body"
    bad = _campaign(api, 9999)
    assert error_of(bad)["path"] == "targeting.include_segments[0]"

    audience = api.get(f"campaigns/{campaign['id']}/audience").json()
    assert audience["count"] == 2 and audience["matching"] == 2
    preview = api.post(
        "campaigns/preview",
        json={
            "targeting": {
                "include_segments": [ready["segment"]],
                "filter": {"field": "first_name", "op": "eq", "value": "ann"},
            }
        },
    ).json()
    assert preview["count"] == 1 and preview["sample"][0]["email"] == "ann@a.test"

    rendered = api.post(
        "campaigns/render",
        json={"subject": "Hi {{ lead.first_name }}", "body": "Yo <b>{{ lead.email }}</b>"},
    ).json()
    assert rendered["subject"].startswith("Hi ") and "Unsubscribe" in rendered["text"]
    assert api.delete(f"campaigns/{campaign['id']}").status_code == 204
    assert api.get(f"campaigns/{campaign['id']}").status_code == 404


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (
            "{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}",
            "rendering took over 2 seconds, the limit for one message (a loop that runs too long?)",
        ),
        (
            "{% for a in range(100000) %}{{ 'x' * 1000 }}{% endfor %}",
            "the rendered {path} is over 1,000,000 characters, the limit for one message",
        ),
    ],
    ids=["time", "size"],
)
@pytest.mark.parametrize("path", ["subject", "body"])
def test_a_render_preview_over_the_limits_is_a_422_naming_them(
    api: Api, ready: dict[str, int], template: str, message: str, path: str
) -> None:
    """The issue's templates: 1e8 loop steps took 6.2 s, and one answer was 100 MB."""
    fields = {"subject": "Hi", "body": "Hello", path: template}
    started = time.monotonic()
    refused = api.post("campaigns/render", json=fields)
    assert time.monotonic() - started < 10
    assert refused.status_code == 422
    expected = {"code": "invalid", "message": message.format(path=path), "path": path}
    assert error_of(refused) == expected


def test_roles_and_tenants(api: Api, ready: dict[str, int]) -> None:
    campaign = _campaign(api, ready["segment"]).json()
    assert (
        api.patch(f"campaigns/{campaign['id']}", "member", json={"name": "Mine"}).status_code == 403
    )
    assert api.post(f"campaigns/{campaign['id']}/runs", "member").status_code == 403
    assert api.get(f"campaigns/{campaign['id']}", "stranger").status_code == 404
    assert api.get("campaigns", "stranger").json()["items"] == []
    # A member targets only segments it may read (its own), like a filter's in_segment.
    assert _campaign(api, ready["segment"], "member").status_code == 403
    new = {"field": "status", "op": "eq", "value": "new"}
    mine = api.post("segments", "member", json={"name": "Mine", "filter": new}).json()
    own = _campaign(api, mine["id"], "member", name="Member's").json()
    assert (
        api.patch(f"campaigns/{own['id']}", "member", json={"name": "Renamed"}).status_code == 200
    )


def test_run_recipients_tracking_and_unsubscribe(
    api: Api, ready: dict[str, int], smtp: SmtpServer, db: Engine
) -> None:
    campaign = _campaign(api, ready["segment"]).json()
    run = api.post(f"campaigns/{campaign['id']}/runs")
    assert run.status_code == 201 and run.json()["state"] == "pending"
    Sender(db).drain()
    summary = api.get(f"campaigns/{campaign['id']}/runs/{run.json()['id']}").json()
    assert (summary["state"], summary["audience"], summary["sent"]) == ("done", 2, 2)
    page = api.get(f"campaigns/{campaign['id']}/runs/{summary['id']}/recipients?limit=1").json()
    assert page["items"][0]["state"] == "sent" and page["next_after"] is not None
    rest = api.get(
        f"campaigns/{campaign['id']}/runs/{summary['id']}/recipients?after={page['next_after']}"
    ).json()
    assert len(rest["items"]) == 1 and rest["next_after"] is None
    assert api.get(f"campaigns/{campaign['id']}/runs").json()["items"][0]["id"] == summary["id"]

    mail = smtp.inbox.to("ann@a.test")[0]
    html = mail.get_body(("html",)).get_content()
    pixel = html.split('<img src="')[1].split('"')[0]
    click = html.split('href="')[1].split('"')[0].replace("&amp;", "&")
    unsubscribe = str(mail["List-Unsubscribe"]).strip().strip("<>")
    client = api.client
    assert client.get(urlsplit(pixel).path).headers["content-type"] == "image/gif"
    parts = urlsplit(pixel).path.split("/")  # /t/<project>/<recipient>/<sig>/open.gif
    parts[3] = "1" if parts[3] != "1" else "2"  # another recipient, this one's signature
    assert client.get("/".join(parts)).status_code == 404  # and no event (one open below)
    redirect = client.get(_path(click), follow_redirects=False)
    assert redirect.status_code == 302 and redirect.headers["location"] == "https://acme.test/x"
    forged = _path(click).replace("acme.test", "evil.test")
    assert client.get(forged, follow_redirects=False).status_code == 404
    assert "Unsubscribe?" in client.get(_path(unsubscribe)).text  # a GET changes nothing
    assert "You are unsubscribed" in client.post(_path(unsubscribe)).text

    ann = api.get("leads?q=ann").json()["items"][0]["id"]
    types = [e["type"] for e in api.get(f"leads/{ann}/events").json()["items"]]
    assert sorted(types) == ["email_click", "email_open", "email_sent", "unsubscribed"]
    opened = api.post(
        "segments/preview",
        json={
            "filter": {
                "event": "email_open",
                "where": {"field": "campaign_id", "op": "eq", "value": campaign["id"]},
            }
        },
    ).json()
    assert opened["count"] == 1
    # Unsubscribed leads are skipped from then on.
    audience = api.get(f"campaigns/{campaign['id']}/audience").json()
    assert audience["skipped"] == {"already_sent": 1, "unsubscribed": 1, "no_email": 0}
    # The editor's preview of a saved campaign skips the same leads, under the policy it shows.
    editing = {"targeting": campaign["targeting"], "campaign_id": campaign["id"]}
    assert api.post("campaigns/preview", json=editing).json()["skipped"]["already_sent"] == 1
    editing["resend"] = {"policy": "every_run"}
    assert api.post("campaigns/preview", json=editing).json()["skipped"]["already_sent"] == 0


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def test_deleting_a_targeted_segment_needs_force(api: Api, ready: dict[str, int]) -> None:
    campaign = _campaign(api, ready["segment"]).json()
    refused = api.delete(f"segments/{ready['segment']}")
    assert refused.status_code == 409
    assert "campaign 'Welcome'" in error_of(refused)["message"]
    assert api.delete(f"segments/{ready['segment']}?force=true").status_code == 204
    broken = api.get(f"campaigns/{campaign['id']}").json()
    assert broken["status"] == "error"
    assert broken["problems"][0]["path"] == "targeting.include_segments[0]"
    assert "target audience missing" in broken["problems"][0]["message"]


def test_a_triggered_campaign_over_http(
    db: Engine, api: Api, ready: dict[str, int], smtp: SmtpServer
) -> None:
    Worker(db).drain()  # the segment's first members: before the trigger, so not sent
    segment = ready["segment"]
    trigger = {"on": "enter", "segment_id": segment, "delay_minutes": 0, "cap": None}
    created = api.post(
        "campaigns",
        json={"name": "On entry", "subject": "Hi", "body": "Hello", "trigger": trigger},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    name = api.get(f"segments/{segment}").json()["name"]  # shown by name, not by id alone
    assert body["trigger"] == {**trigger, "only_if_still_member": True, "segment_name": name}
    assert body["targeting"]["include_segments"] == [segment]  # the trigger's own segment
    assert body["pending_sends"] == 0
    campaign = body["id"]
    assert api.patch(f"campaigns/{campaign}", json={"state": "scheduled"}).status_code == 200
    lead = {"email": "dee@d.test", "first_name": "Dee", "status": "new"}
    assert api.post("leads/bulk", json={"leads": [lead]}).status_code == 200
    Worker(db).drain()  # the entry is recorded, and its send queued
    assert api.get(f"campaigns/{campaign}").json()["pending_sends"] == 1
    run_campaigns_due(db)
    listed = api.get(f"campaigns/{campaign}/runs").json()["items"]
    assert [(r["kind"], r["sent"], r["skipped_capped"]) for r in listed] == [("trigger", 1, 0)]
    assert smtp.inbox.addresses() == ["dee@d.test"]
    # A trigger on an inactive segment, or with a bad cap, is a 422 naming the path.
    bad = api.patch(f"campaigns/{campaign}", json={"trigger": {**trigger, "cap": {"max": 0}}})
    assert bad.status_code == 422 and error_of(bad)["path"].startswith("trigger.cap")
    api.patch(f"segments/{segment}", json={"active": False})
    shown = api.get(f"campaigns/{campaign}").json()
    assert shown["status"] == "error"
    assert "trigger.segment_id" in [p["path"] for p in shown["problems"]]
    bad = api.patch(f"campaigns/{campaign}", json={"trigger": trigger})
    assert bad.status_code == 422 and error_of(bad)["path"] == "trigger.segment_id"
    removed = api.patch(f"campaigns/{campaign}", json={"trigger": None})
    assert removed.status_code == 200 and removed.json()["trigger"] is None
