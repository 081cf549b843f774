"""CSV import over HTTP: column guesses, then progress lines and a summary with line numbers."""

from __future__ import annotations

import json
from typing import Any

from tests.api.conftest import Api, error_of

CSV = (
    "\ufeffEmail Address,First Name,Company Name,Favourite colour\n"
    "ada@x.test,Ada,Analytical,blue\n"
    "not-an-email,Bob,Nowhere,red\n"
    '"grace@x.test","Grace","Navy, Inc.",green\n'
)


def _lines(response: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.text.splitlines() if line]


def test_columns_are_guessed_from_the_header(api: Api) -> None:
    files = {"file": ("leads.csv", CSV.encode(), "text/csv")}
    guess = api.post("leads/import/columns", files=files).json()
    assert [(c["name"], c["target"]) for c in guess["columns"]] == [
        ("Email Address", "email"),
        ("First Name", "first_name"),
        ("Company Name", "company"),
        ("Favourite colour", None),
    ]
    assert "job_title" in guess["targets"]


def test_import_streams_progress_and_keeps_good_rows(api: Api) -> None:
    files = {"file": ("leads.csv", CSV.encode(), "text/csv")}
    mapping = json.dumps({"Favourite colour": "-"})
    response = api.post("leads/import", files=files, data={"mapping": mapping})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = _lines(response)
    assert lines[0] == {"read_bytes": 0, "total_bytes": len(CSV.encode())}
    summary = lines[-1]
    assert summary["done"] and summary["read_bytes"] == summary["total_bytes"]
    assert (summary["created"], summary["failed"]) == (2, 1)
    assert summary["warnings"] == []
    assert summary["errors"][0]["line"] == 3 and "email" in summary["errors"][0]["message"]
    emails = {lead["email"] for lead in api.get("leads").json()["items"]}
    assert emails == {"ada@x.test", "grace@x.test"}


def test_a_file_without_email_is_imported_with_a_warning(api: Api) -> None:
    files = {"file": ("leads.csv", b"First Name,Mail\nAda,ada@x.test\n", "text/csv")}
    summary = _lines(api.post("leads/import", files=files))[-1]
    assert summary["created"] == 1 and summary["failed"] == 0
    [warning] = summary["warnings"]
    assert warning.startswith("no column maps to email") and '"Column": "email"' in warning
    mapped = {"Mail": "email"}
    files = {"file": ("leads.csv", b"First Name,Mail\nAda,ada@x.test\n", "text/csv")}
    summary = _lines(api.post("leads/import", files=files, data={"mapping": json.dumps(mapped)}))
    assert summary[-1]["warnings"] == [] and summary[-1]["created"] == 1


def test_a_file_that_cannot_be_read_says_why(api: Api) -> None:
    files = {"file": ("leads.csv", b"Favourite colour\nblue\n", "text/csv")}
    summary = _lines(api.post("leads/import", files=files))[-1]
    assert summary["done"] and "no column matches" in summary["error"]
    bad_mapping = api.post("leads/import", files=files, data={"mapping": "[1]"})
    assert bad_mapping.status_code == 422 and error_of(bad_mapping)["path"] == "mapping"


def test_importing_needs_a_token_of_the_project(api: Api) -> None:
    files = {"file": ("leads.csv", CSV.encode(), "text/csv")}
    assert api.post("leads/import", as_=None, files=files).status_code == 401


def _check(api: Api, content: bytes, **data: str) -> Any:
    return api.post(
        "leads/import/columns", files={"file": ("l.csv", content, "text/csv")}, data=data
    )


def test_columns_offer_every_target_and_show_samples(api: Api) -> None:
    api.post("custom-fields", json={"key": "plan", "label": "Plan tier", "type": "text"})
    content = (
        "Org,Sign-up date,Mobile,Plan tier,Headcount,Notes\n"
        "Engines,2024-01-02,555 1,pro,12,\n"
        "Engines,2024-01-03,,free,40," + "x" * 80 + "\n"
        "Bobco,2024-01-04,555 3,pro,7,short\n"
        "Cyco,2024-01-05,555 4,ent,9,\n"
    ).encode()
    check = _check(api, content).json()
    assert [(c["name"], c["target"]) for c in check["columns"]] == [
        ("Org", "company"),
        ("Sign-up date", "created_at"),
        ("Mobile", "phone"),
        ("Plan tier", "custom.plan"),
        ("Headcount", None),
        ("Notes", None),
    ]
    samples = {c["name"]: c["samples"] for c in check["columns"]}
    assert samples["Org"] == ["Engines", "Bobco", "Cyco"]  # distinct, first rows first
    assert samples["Mobile"] == ["555 1", "555 3", "555 4"]  # blanks skipped
    assert samples["Notes"] == ["x" * 59 + "…", "short"]
    options = {o["value"]: o for o in check["target_options"]}
    assert options["enrichment.company.size"] == {
        "value": "enrichment.company.size",
        "label": "Company size",
        "group": "Enrichment",
    }
    assert options["custom.plan"]["label"] == "Plan tier" and "custom.plan" in check["targets"]
    assert check["problems"] == [
        {"line": 1, "level": "warning", "message": check["problems"][0]["message"]}
    ]
    assert check["problems"][0]["message"].startswith("no column maps to email")


def test_columns_check_a_chosen_mapping_as_the_import_does(api: Api) -> None:
    content = b"Mail,Headcount\nada@x.test,12\n"
    mapping = {"Mail": "email", "Headcount": "enrichment.company.size"}
    check = _check(api, content, mapping=json.dumps(mapping)).json()
    assert [c["target"] for c in check["columns"]] == ["email", "enrichment.company.size"]
    assert check["problems"] == []
    for target, message in [
        ("enrichment.Company Size", "Headcount=enrichment.Company Size: unknown field"),
        ("custom.nope", "Headcount=custom.nope: unknown field 'custom.nope': declare"),
        ("email", "columns 'Mail' and 'Headcount' both map to email: ignore one of them"),
    ]:
        response = _check(api, content, mapping=json.dumps({**mapping, "Headcount": target}))
        assert response.status_code == 422
        assert error_of(response)["path"] == "mapping"
        assert error_of(response)["message"].startswith(message)


def test_columns_refuse_a_file_in_another_encoding_naming_line_and_byte(api: Api) -> None:
    content = "email,company\nada@x.test,Société\n".encode("cp1252")
    response = _check(api, content)
    assert response.status_code == 422
    error = error_of(response)
    assert error["path"] == "line 2"
    assert error["message"].startswith(
        "the file is not UTF-8: byte 0xE9 at column 16 (offset 29 in the file)"
    )
    check = _check(api, content, encoding="windows-1252").json()
    assert check["encoding"] == "windows-1252"
    assert check["columns"][1]["samples"] == ["Société"]
    # A BOM is fine, and so is a character cut in two by the end of a partial upload.
    head = "\ufeffemail,company\nzoë@x.test,Zoë Co\n".encode()
    check = _check(api, head[:-3], partial="true").json()
    assert check["columns"][0]["name"] == "email" and check["problems"] == []


def test_columns_report_an_unclosed_quote_and_rows_wider_than_the_header(api: Api) -> None:
    content = (
        b"email,company\n"  # 1
        b'ada@x.test,"Engines\n'  # 2: never closed
        b"bob@x.test,Bobco,extra\n"  # 3: one field too many
        b"cy@x.test,Cyco\n"  # 4
    )
    check = _check(api, content).json()
    assert [(p["line"], p["level"]) for p in check["problems"]] == [(2, "error"), (3, "warning")]
    assert check["problems"][0]["message"].startswith(
        "unclosed quote: the quoted field starting on this line never ends, so lines 3-4"
    )
    assert check["problems"][1]["message"] == "expected 2 fields as in the header, found 3"
    assert check["columns"][0]["samples"] == ["cy@x.test"]
    # The start of a longer file: a quote still open where it ends may close later.
    partial = _check(api, b'email,notes\nada@x.test,"a note\nspanning\n', partial="true").json()
    assert [(p["line"], p["level"]) for p in partial["problems"]] == [(2, "warning")]


def test_an_import_reports_an_unclosed_quote_and_keeps_the_rows_after_it(api: Api) -> None:
    content = b'email,company\nada@x.test,"Engines\nbob@x.test,Bobco\ncy@x.test,Cyco\n'
    files = {"file": ("leads.csv", content, "text/csv")}
    summary = _lines(api.post("leads/import", files=files))[-1]
    assert (summary["created"], summary["failed"]) == (2, 1)
    assert summary["errors"][0]["line"] == 2
    assert summary["errors"][0]["message"].startswith("unclosed quote:")
    emails = {lead["email"] for lead in api.get("leads").json()["items"]}
    assert emails == {"bob@x.test", "cy@x.test"}


def test_an_import_in_another_encoding_is_refused_unless_named(api: Api) -> None:
    content = "email,company\nada@x.test,Société\n".encode("cp1252")
    files = {"file": ("leads.csv", content, "text/csv")}
    summary = _lines(api.post("leads/import", files=files))[-1]
    assert summary["path"] == "line 2" and summary["error"].startswith("the file is not UTF-8")
    assert api.get("leads").json()["items"] == []
    files = {"file": ("leads.csv", content, "text/csv")}
    summary = _lines(api.post("leads/import", files=files, data={"encoding": "windows-1252"}))
    assert summary[-1]["created"] == 1
    assert api.get("leads").json()["items"][0]["company"] == "Société"
