"""Leads, events, custom fields and accounts over HTTP, on both databases."""

from __future__ import annotations

from tests.api.conftest import Api, error_of


def test_auth_is_required(api: Api) -> None:
    response = api.get("leads", as_="")
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"
    bad = api.client.get(
        "/api/v1/projects/default/leads", headers={"Authorization": "Bearer sgm_x_y"}
    )
    assert bad.status_code == 401


def test_create_get_update_delete_lead(api: Api) -> None:
    created = api.post(
        "leads",
        json={
            "email": " Ada@Example.COM ",
            "name": "Ada Lovelace",
            "status": "New",
            "tags": ["vip", "vip", "b"],
            "created_at": "2024-05-01",
        },
    )
    assert created.status_code == 201, created.text
    lead = created.json()
    assert lead["email"] == "ada@example.com"
    assert (lead["first_name"], lead["last_name"], lead["name"]) == (
        "Ada",
        "Lovelace",
        "Ada Lovelace",
    )
    assert lead["status"] == "new" and lead["tags"] == ["vip", "b"]
    assert lead["created_at"].startswith("2024-05-01T00:00:00")

    got = api.get(f"leads/{lead['id']}")
    assert got.json() == lead

    patched = api.patch(f"leads/{lead['id']}", json={"company": "Analytical", "tags": None})
    assert patched.status_code == 200
    assert patched.json()["company"] == "Analytical" and patched.json()["tags"] == []
    assert patched.json()["first_name"] == "Ada"

    assert api.delete(f"leads/{lead['id']}", as_="member").status_code == 403
    assert api.delete(f"leads/{lead['id']}").status_code == 204
    assert api.get(f"leads/{lead['id']}").status_code == 404


def test_duplicate_email_is_a_conflict(api: Api) -> None:
    assert api.post("leads", json={"email": "a@x.test"}).status_code == 201
    response = api.post("leads", json={"email": "A@X.test"})
    assert response.status_code == 409
    assert error_of(response)["path"] == "email"


def test_invalid_values_name_the_field(api: Api) -> None:
    response = api.post("leads", json={"email": "nope"})
    assert response.status_code == 422
    assert error_of(response)["path"] == "email"
    response = api.post("leads", json={"status": "won"})
    assert error_of(response)["path"] == "status"
    assert "new, contacted" in error_of(response)["message"]
    response = api.post("leads", json={"tags": "x", "bogus": 1})
    assert response.status_code == 422
    response = api.post("leads", json={"custom": {"plan": "pro"}})
    assert error_of(response)["path"] == "custom.plan"


def test_bulk_upsert_keeps_good_rows(api: Api) -> None:
    body = {
        "leads": [
            {"email": "a@x.test", "status": "new"},
            {"email": "bad"},
            {"email": "b@x.test"},
            {"email": "A@x.test", "status": "contacted"},
        ]
    }
    result = api.post("leads/bulk", json=body).json()
    assert (result["created"], result["updated"], result["skipped"]) == (2, 1, 0)
    assert [e["index"] for e in result["errors"]] == [1]
    assert "email" in result["errors"][0]["message"]
    skip = api.post("leads/bulk", json={"leads": [{"email": "b@x.test"}], "on_conflict": "skip"})
    assert skip.json()["skipped"] == 1


def test_list_sort_and_page(api: Api) -> None:
    for i in range(7):
        api.post(
            "leads",
            json={
                "email": f"l{i}@x.test",
                "company": f"C{i % 3}",
                "created_at": f"2024-01-0{i + 1}",
            },
        )
    first = api.get("leads", params={"per_page": 3}).json()
    assert first["total"] == 7 and [i["email"] for i in first["items"]] == [
        "l6@x.test",
        "l5@x.test",
        "l4@x.test",
    ]
    third = api.get("leads", params={"per_page": 3, "page": 3}).json()
    assert [i["email"] for i in third["items"]] == ["l0@x.test"]
    beyond = api.get("leads", params={"per_page": 3, "page": 9}).json()
    assert beyond["items"] == [] and beyond["total"] == 7
    by_company = api.get("leads", params={"sort": "company", "per_page": 50}).json()["items"]
    assert [i["company"] for i in by_company] == ["C0", "C0", "C0", "C1", "C1", "C2", "C2"]
    bad = api.get("leads", params={"sort": "phone"})
    assert bad.status_code == 422 and error_of(bad)["path"] == "sort"


def test_events_by_email_or_id(api: Api) -> None:
    lead = api.post("leads", json={"email": "a@x.test"}).json()
    body = {
        "events": [
            {
                "email": "a@x.test",
                "type": "page_view",
                "occurred_at": "2026-10-01T10:00:00Z",
                "metadata": {"path": "/pricing"},
            },
            {"lead_id": lead["id"], "type": "trial_signup", "occurred_at": "2026-10-02T10:00:00Z"},
            {"email": "nobody@x.test", "type": "page_view"},
            {"type": "page_view"},
        ]
    }
    result = api.post("events", json=body).json()
    assert result["accepted"] == 2
    assert [e["index"] for e in result["errors"]] == [2, 3]
    assert api.get(f"leads/{lead['id']}").json()["last_activity_at"].startswith("2026-10-02")


def test_custom_fields_need_admin_and_type_values(api: Api) -> None:
    spec = {"key": "plan", "type": "select", "options": ["free", "pro"]}
    assert api.post("custom-fields", as_="member", json=spec).status_code == 403
    assert api.post("custom-fields", as_="admin", json=spec).status_code == 201
    assert api.post("custom-fields", json=spec).status_code == 409
    listed = api.get("custom-fields").json()["items"]
    assert listed == [
        {"key": "plan", "label": "Plan", "type": "select", "options": ["free", "pro"]}
    ]
    ok = api.post("leads", json={"email": "a@x.test", "custom": {"plan": "Pro"}})
    assert ok.json()["custom"] == {"plan": "pro"}
    bad = api.post("leads", json={"email": "b@x.test", "custom": {"plan": "gold"}})
    assert error_of(bad)["path"] == "custom.plan"


def test_accounts(api: Api) -> None:
    created = api.post(
        "accounts", json={"name": "Acme", "domain": "acme.com", "metadata": {"tier": "A"}}
    )
    assert created.status_code == 201
    account = created.json()
    patched = api.patch(f"accounts/{account['id']}", json={"metadata": {"tier": "B"}}).json()
    assert patched["metadata"] == {"tier": "B"} and patched["name"] == "Acme"
    assert api.get("accounts").json()["total"] == 1
    lead = api.post("leads", json={"email": "a@acme.com", "account_id": account["id"]})
    assert lead.json()["account_id"] == account["id"]


def test_other_organizations_see_nothing(api: Api) -> None:
    lead = api.post("leads", json={"email": "a@x.test"}).json()
    account = api.post("accounts", json={"name": "Acme"}).json()
    assert api.get(f"leads/{lead['id']}", as_="stranger").status_code == 404
    assert api.get(f"accounts/{account['id']}", as_="stranger").status_code == 404
    assert api.get("leads", as_="stranger").json()["total"] == 0
    events = api.post(
        "events", as_="stranger", json={"events": [{"lead_id": lead["id"], "type": "page_view"}]}
    ).json()
    assert events["accepted"] == 0
    assert api.get("/api/v1/projects/nope/leads").status_code == 404


def test_a_leads_events_newest_first_in_pages(api: Api) -> None:
    lead = api.post("leads", json={"email": "t@x.test"}).json()
    events = [
        {"lead_id": lead["id"], "type": f"step_{i}", "occurred_at": f"2026-10-0{i + 1}T12:00:00Z"}
        for i in range(5)
    ]
    assert api.post("events", json={"events": events}).json()["accepted"] == 5
    first = api.get(f"leads/{lead['id']}/events?limit=3").json()
    assert [e["type"] for e in first["items"]] == ["step_4", "step_3", "step_2"]
    rest = api.get(f"leads/{lead['id']}/events?limit=3&before={first['next_before']}").json()
    assert [e["type"] for e in rest["items"]] == ["step_1", "step_0"]
    assert rest["next_before"] is None
    assert api.get(f"leads/{lead['id']}/events", as_="stranger").status_code == 404


def _declare_plan_and_seats(api: Api) -> None:
    plan = {"key": "plan", "type": "select", "options": ["free", "pro"]}
    assert api.post("custom-fields", json=plan).status_code == 201
    assert api.post("custom-fields", json={"key": "seats", "type": "number"}).status_code == 201


def test_patch_clears_fields_and_custom_values_with_null(api: Api) -> None:
    _declare_plan_and_seats(api)
    body = {"email": "a@x.test", "company": "Acme", "custom": {"plan": "pro", "seats": 3}}
    lead = api.post("leads", json=body).json()
    patched = api.patch(
        f"leads/{lead['id']}", json={"company": None, "email": None, "custom": {"plan": None}}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["company"] is None and patched.json()["email"] is None
    # A cleared custom field is gone, as if never set; the others are kept.
    assert patched.json()["custom"] == {"seats": 3}
    wrong = api.patch(f"leads/{lead['id']}", json={"custom": {"seats": "many"}})
    assert wrong.status_code == 422
    assert error_of(wrong)["path"] == "custom.seats"
    assert "errors" not in error_of(wrong)  # one problem: its path says it all


def test_patch_names_every_bad_field_and_changes_nothing(api: Api) -> None:
    _declare_plan_and_seats(api)
    lead = api.post("leads", json={"email": "a@x.test", "company": "Acme"}).json()
    body = {
        "email": "nope",
        "company": "Changed",
        "status": "won",
        "custom": {"plan": "gold", "seats": "many"},
    }
    response = api.patch(f"leads/{lead['id']}", json=body)
    assert response.status_code == 422
    error = error_of(response)
    assert [e["path"] for e in error["errors"]] == [
        "email",
        "status",
        "custom.plan",
        "custom.seats",
    ]
    assert "not an email address" in error["errors"][0]["message"]
    assert api.get(f"leads/{lead['id']}").json()["company"] == "Acme"

    # The request's own shape is checked first, and lists each problem the same way.
    shape = api.patch(f"leads/{lead['id']}", json={"tags": "x", "phone_type": "fax"})
    assert shape.status_code == 422
    assert [e["path"] for e in error_of(shape)["errors"]] == ["phone_type", "tags"]


def test_patch_to_another_leads_email_is_a_conflict(api: Api) -> None:
    api.post("leads", json={"email": "taken@x.test"})
    lead = api.post("leads", json={"email": "a@x.test"}).json()
    response = api.patch(f"leads/{lead['id']}", json={"email": "Taken@X.test"})
    assert response.status_code == 409
    assert error_of(response)["path"] == "email"
    assert "taken@x.test" in error_of(response)["message"]
