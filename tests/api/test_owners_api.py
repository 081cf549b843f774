"""A lead's owner is one of the organization's users: single writes refuse anyone else, batches
keep their rows without that owner and say so, and "assigned to me" means the reader, or a
saved segment's creator."""

from __future__ import annotations

import json
from typing import Any

from tests.api.conftest import Api, error_of


def _owners(api: Api) -> dict[str, Any]:
    return {lead["email"]: lead["owner"] for lead in api.get("leads").json()["items"]}


def _emails(api: Api, as_: str = "owner", **params: Any) -> set[str]:
    listed = api.get("leads", as_=as_, params=params)
    assert listed.status_code == 200, listed.text
    return {lead["email"] for lead in listed.json()["items"]}


def test_a_single_write_assigns_only_a_user_of_the_organization(api: Api) -> None:
    made = api.post("leads", json={"email": "a@x.test", "owner": " Member@ACME.test "})
    assert made.status_code == 201 and made.json()["owner"] == "member@acme.test"
    for owner in ("stranger@x.test", "boss@globex.test"):  # another organization's user too
        refused = api.post("leads", json={"email": "b@x.test", "owner": owner})
        assert refused.status_code == 422
        assert error_of(refused)["path"] == "owner" and "not a user" in error_of(refused)["message"]
    lead = made.json()["id"]
    patched = api.patch(f"leads/{lead}", json={"owner": "nobody@x.test"})
    assert patched.status_code == 422 and error_of(patched)["path"] == "owner"
    assert api.get(f"leads/{lead}").json()["owner"] == "member@acme.test"  # unchanged
    cleared = api.patch(f"leads/{lead}", json={"owner": None})
    assert cleared.status_code == 200 and cleared.json()["owner"] is None
    assert _emails(api) == {"a@x.test"}


def test_a_bulk_upsert_keeps_rows_naming_strangers_without_that_owner(api: Api) -> None:
    api.post("leads", json={"email": "kept@x.test", "owner": "admin@acme.test"})
    rows = [
        {"email": "new@x.test", "owner": "stranger@x.test"},
        {"email": "ok@x.test", "owner": "member@acme.test"},
        {"email": "kept@x.test", "owner": "gone@x.test", "status": "lost"},
        {"email": "bad", "owner": "member@acme.test"},
    ]
    result = api.post("leads/bulk", json={"leads": rows}).json()
    assert (result["created"], result["updated"]) == (2, 1)
    assert [e["index"] for e in result["errors"]] == [3]
    [warning] = result["warnings"]
    assert "2 row(s)" in warning
    assert "index 0 (stranger@x.test)" in warning and "index 2 (gone@x.test)" in warning
    owners = _owners(api)
    assert owners == {
        "new@x.test": None,
        "ok@x.test": "member@acme.test",
        "kept@x.test": "admin@acme.test",
    }
    clean = api.post("leads/bulk", json={"leads": [{"email": "ok@x.test", "owner": None}]})
    assert clean.json()["warnings"] == [] and _owners(api)["ok@x.test"] is None


def test_a_csv_import_names_the_lines_whose_owner_it_left_out(api: Api) -> None:
    csv = "Email,Owner\na@x.test,member@acme.test\nb@x.test,someone@elsewhere.test\n"
    files = {"file": ("leads.csv", csv.encode(), "text/csv")}
    lines = [json.loads(line) for line in api.post("leads/import", files=files).text.splitlines()]
    summary = lines[-1]
    assert (summary["created"], summary["failed"]) == (2, 0)
    [warning] = summary["warnings"]
    assert "line 3 (someone@elsewhere.test)" in warning
    assert _owners(api) == {"a@x.test": "member@acme.test", "b@x.test": None}


def test_assignees_are_the_organizations_users_for_any_reader(api: Api) -> None:
    listed = api.get(f"/api/v1/projects/{api.project.slug}/assignees", as_="member")
    assert listed.status_code == 200
    body = listed.json()
    emails = [user["email"] for user in body["items"]]
    assert emails == sorted(emails) and "boss@globex.test" not in emails
    assert {"owner@acme.test", "admin@acme.test", "member@acme.test"} <= set(emails)
    assert body["me"] == "member@acme.test"
    # The same slug in another organization is its own project, with its own users.
    theirs = api.get(f"/api/v1/projects/{api.project.slug}/assignees", as_="stranger").json()
    assert [user["email"] for user in theirs["items"]] == ["boss@globex.test"]


def test_assigned_to_me_is_the_reader_in_a_listing_and_the_creator_in_a_segment(api: Api) -> None:
    for email, owner in [
        ("m@x.test", "member@acme.test"),
        ("o@x.test", "owner@acme.test"),
        ("n@x.test", None),
    ]:
        api.post("leads", json={"email": email, "owner": owner})
    mine = json.dumps({"assigned_to_me": True})
    assert _emails(api, as_="member", filter=mine) == {"m@x.test"}
    assert _emails(api, as_="owner", filter=mine) == {"o@x.test"}
    not_mine = json.dumps({"not": {"assigned_to_me": True}})
    assert _emails(api, as_="member", filter=not_mine) == {"o@x.test", "n@x.test"}

    made = api.post(
        "segments", as_="member", json={"name": "Mine", "filter": {"assigned_to_me": True}}
    )
    assert made.status_code == 201, made.text
    segment = made.json()
    assert segment["filter"] == {"field": "owner", "op": "eq", "value": "member@acme.test"}
    # The owner editing the member's segment keeps it the member's.
    edited = {"and": [{"assigned_to_me": True}, {"field": "email", "op": "is_not_null"}]}
    patched = api.patch(f"segments/{segment['id']}", json={"filter": edited})
    assert patched.status_code == 200
    assert patched.json()["filter"]["and"][0]["value"] == "member@acme.test"
    members = api.get(f"segments/{segment['id']}/members").json()["items"]
    assert [lead["email"] for lead in members] == ["m@x.test"]


def test_assigned_to_me_in_the_text_syntax_and_its_errors(api: Api) -> None:
    parsed = api.post(
        "filters/parse", as_="member", json={"text": 'assigned to me and status = "new"'}
    )
    assert parsed.status_code == 200, parsed.text
    assert parsed.json()["filter"]["and"][0] == {
        "field": "owner",
        "op": "eq",
        "value": "member@acme.test",
    }
    bad = [
        ({"assigned_to_me": False}, "filter.assigned_to_me"),
        ({"assigned_to_me": True, "x": 1}, "filter.x"),
        ({"event": "page_view", "where": {"assigned_to_me": True}}, "filter.where"),
    ]
    for tree, path in bad:
        refused = api.get("leads", params={"filter": json.dumps(tree)})
        assert refused.status_code == 422, tree
        assert error_of(refused)["path"] == path, error_of(refused)


def test_a_bulk_assignment_sets_an_owner_only_from_the_users(api: Api) -> None:
    ids = [api.post("leads", json={"email": f"l{i}@x.test"}).json()["id"] for i in range(3)]
    body = {"action": "set_owner", "params": {"owner": "x@y.test"}, "selection": {"lead_ids": ids}}
    refused = api.post("bulk-actions", json=body)
    assert refused.status_code == 422 and error_of(refused)["path"] == "params.owner"
