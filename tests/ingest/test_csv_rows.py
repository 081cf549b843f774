"""The CSV row reader and header guesses, without a database: quotes followed as the csv module
follows them, unclosed ones reported on the line they open, encodings named by line and byte."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from segmint.errors import InvalidInput
from segmint.ingest.csv_rows import decode_sample, read_rows, text_lines
from segmint.ingest.csv_source import (
    HEADER_ALIASES,
    check_target,
    compact_header,
    import_targets,
    map_columns,
)
from segmint.projects import CustomField, Project

PROJECT = Project(
    id=1,
    organization_id=1,
    slug="default",
    name="default",
    timezone="UTC",
    statuses=("new",),
    converted_status="new",
    custom_fields={"plan": CustomField("plan", "Plan tier", "text")},
)

# Cells of every awkward kind: separators, quotes, line ends of the three kinds, blanks.
CELL = st.lists(st.sampled_from(["a", "Z", " ", ",", '"', "\n", "\r\n", "\r", "é"]),
                max_size=6).map("".join)  # fmt: skip


def _rows(text: str, complete: bool = True) -> list[tuple[int, list[str] | None, str | None]]:
    return [(r.line, r.cells, r.problem) for r in read_rows(text_lines(text, complete), complete)]


ROWS = st.integers(1, 4).flatmap(
    lambda width: st.lists(st.lists(CELL, min_size=width, max_size=width), min_size=1)
)


@given(ROWS)
def test_any_file_the_csv_module_writes_is_read_back_as_written(rows: list[list[str]]) -> None:
    out = io.StringIO(newline="")
    csv.writer(out).writerows(rows)
    read = list(read_rows(text_lines(out.getvalue(), complete=True)))
    assert [row.problem for row in read] == [None] * len(read)
    expected = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    assert [row.cells for row in read] == expected


@given(st.text(alphabet=st.sampled_from(["a", ",", '"', "\n", "\r"]), max_size=40))
def test_rows_read_without_a_problem_are_the_csv_modules_rows(text: str) -> None:
    read = list(read_rows(text_lines(text, complete=True)))
    if all(row.problem is None for row in read):
        assert [row.cells for row in read] == list(csv.reader(io.StringIO(text, newline="")))


def test_an_unclosed_quote_is_reported_where_it_opens_and_the_lines_after_are_rows() -> None:
    text = 'email,company\na@x.test,"Acme\nb@x.test,Bobco\nc@x.test,Cyco\n'
    rows = _rows(text)
    assert [line for line, _, _ in rows] == [1, 2, 3, 4]
    assert rows[1][1] is None and str(rows[1][2]).startswith(
        "unclosed quote: the quoted field starting on this line never ends, so lines 3-4 are read"
    )
    assert rows[2][1:] == (["b@x.test", "Bobco"], None)


def test_a_value_spanning_lines_is_one_row_and_keeps_later_line_numbers() -> None:
    text = 'email,address\na@x.test,"1 Main St\r\nSpringfield, IL"\r\nb@x.test,Elm St\r\n'
    assert _rows(text) == [
        (1, ["email", "address"], None),
        (2, ["a@x.test", "1 Main St\r\nSpringfield, IL"], None),
        (4, ["b@x.test", "Elm St"], None),
    ]


def test_a_sample_ending_inside_quotes_is_cut_off_not_unclosed() -> None:
    text = 'email,notes\na@x.test,"a long note\nthat goes on\nand on, cut he'
    [_header, row] = list(read_rows(text_lines(text, complete=False), complete=False))
    assert row.cut_off and row.line == 2
    assert str(row.problem).startswith("a quoted field starting on this line is still open")


def test_a_character_cut_in_two_at_the_end_of_a_sample_is_no_error() -> None:
    data = "email\nzoë@x.test\n".encode()
    cut = data[: data.index(b"\xc3") + 1]  # the first of ë's two bytes
    assert decode_sample(cut, "utf-8", complete=False) == "email\nzo"
    with pytest.raises(InvalidInput) as caught:
        decode_sample(cut, "utf-8", complete=True)
    assert caught.value.path == "line 2"


def test_an_encoding_error_names_line_column_and_offset_after_a_bom() -> None:
    data = b"\xef\xbb\xbfemail,name\r\na@x.test,Jos\xe9\r\n"
    with pytest.raises(InvalidInput) as caught:
        decode_sample(data, "utf-8", complete=True)
    assert caught.value.path == "line 2"
    assert "byte 0xE9 at column 13 (offset 27 in the file)" in caught.value.message
    assert decode_sample(data[3:], "windows-1252", complete=True).endswith("José\r\n")


# --- header guesses and targets --------------------------------------------------------------

COMMON_HEADERS = {
    "Org": "company",
    "Organization": "company",
    "Company Name": "company",
    "company_name": "company",
    "Signup Date": "created_at",
    "Sign-up date": "created_at",
    "SIGNUP_DATE": "created_at",
    "Created": "created_at",
    "Mobile": "phone",
    "Phone Number": "phone",
    "Title": "job_title",
    "Job": "job_title",
    "Job Title": "job_title",
    "First": "first_name",
    "First Name": "first_name",
    "Last": "last_name",
    "Full Name": "name",
    "Tags": "tags",
    "Lead Source": "source",
    "Country": "country",
    "E-mail": "email",
    "Email Address": "email",
    "Company Size": "enrichment.company.size",
    "Plan": "custom.plan",
    "Plan tier": "custom.plan",  # a custom field's label
    "Favourite colour": None,
    "Mail": None,
}


@pytest.mark.parametrize(("header", "target"), COMMON_HEADERS.items())
def test_common_headers_are_guessed(header: str, target: str | None) -> None:
    assert map_columns([header], PROJECT, {}).targets == [target]


def test_every_alias_names_a_target_and_no_spelling_means_two_fields() -> None:
    seen: dict[str, str] = {}
    for target, spellings in HEADER_ALIASES.items():
        check_target(target, PROJECT)
        for spelling in spellings:
            key = compact_header(spelling)
            assert seen.setdefault(key, target) == target, f"{spelling!r} means two fields"


def test_targets_offered_are_the_ones_accepted() -> None:
    values = [target.value for target in import_targets(PROJECT)]
    assert {"email", "name", "account_id", "enrichment.company.size", "custom.plan"} <= set(values)
    for value in values:
        check_target(value, PROJECT)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("favourite_colour", "unknown field 'favourite_colour'"),
        ("custom.undeclared", "declare the custom field 'undeclared' first"),
        ("enrichment.", "bad path segment ''"),
        ("enrichment.company..size", "bad path segment ''"),
        ("enrichment.Company Size", "bad path segment 'Company Size'"),
    ],
)
def test_a_target_no_lead_can_carry_is_refused(target: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        check_target(target, PROJECT)
    with pytest.raises(InvalidInput) as caught:
        map_columns(["Col"], PROJECT, {"Col": target}, option="mapping")
    assert caught.value.path == "mapping"
    assert caught.value.message.startswith(f"Col={target}: ")


def test_a_guess_never_takes_a_field_chosen_for_another_column() -> None:
    mapping = map_columns(["Email", "Mail"], PROJECT, {"Mail": "email"}, "mapping", True)
    assert mapping.targets == [None, "email"]
    with pytest.raises(InvalidInput, match="columns 'Mail' and 'Email' both map to email"):
        map_columns(["Email", "Mail"], PROJECT, {"Mail": "email"})
    with pytest.raises(InvalidInput, match="both map to company: ignore one of them"):
        map_columns(["A", "B"], PROJECT, {"A": "company", "B": "company"}, "mapping", True)
