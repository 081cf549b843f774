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
