"""The text syntax: the reference pages' example segments, round trips, errors with positions."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segmint.errors import InvalidInput
from segmint.filters import parse_filter, parse_text, text_to_json, to_json, to_text
from segmint.filters.source import MemorySegmentSource
from segmint.filters.syntax import keywords
from tests.filters.strategies import (
    OFFLINE_PROJECT,
    STORED_ACCOUNT_SEGMENT,
    STORED_SEGMENT,
    account_filters,
    filters,
    sequences,
)

P = OFFLINE_PROJECT

# Example segments of the reference pages (000 "Common Segment Patterns" and "Segment Performance
# Optimization", 002's and 004's example segments), each in the text syntax.
REFERENCE_EXAMPLES = [
    # 000: Common Segment Patterns
    'status = "new" and enrichment_status = "enriched" and enrichment.company.size >= 10 '
    "and enrichment.person.email is not null",
    'status = "contacted" and last_contacted_at older than 30 days '
    'and did not perform "email_reply"',
    '(job_title contains ("CEO", "VP", "Director")) and enrichment.company.size >= 100 '
    'and enrichment.company.revenue >= 5000000 and status in ("new", "contacted")',
    'enrichment.company.technologies has all ("Salesforce") and '
    'enrichment.company.industry = "SaaS" and status = "new"',
    'enrichment.person.location.country = "United States" and '
    'enrichment.person.location.state in ("CA", "NY", "TX") and enrichment_status = "enriched"',
    # 000: filter types, logic modes and performance examples
    '(status = "new" or status = "contacted") and job_title = "CEO" '
    "and enrichment.company.size >= 50",
    "enrichment.company.size between 10 and 100",
    'enrichment.company.industry in ("SaaS", "Software")',
    'enrichment.company.technologies has any ("React", "Vue")',
    'status in ("new", "contacted") and enrichment.company.size between 50 and 500 '
    "and enrichment.company.revenue >= 1000000 "
    'and enrichment.company.technologies has all ("Salesforce", "HubSpot", "Stripe") '
    'and enrichment.person.location.country = "United States" '
    'and enrichment.person.location.state in ("CA", "NY", "TX", "FL", "IL") '
    'and job_title contains ("CEO", "VP", "Director", "Manager")',
    'created_at in period this_month and status = "new"',
    'status = "replied" and last_activity_at within last 7 days',
    # 002: example segments
    "engagement_score >= 50",
    "enrichment.company.size > 1000",
    'performed "trial_signup"',
    'performed "email_open" within 7 days',
    'performed "page_view" where (path contains "/pricing") and '
    'performed "page_view" where (path contains "case-study") and '
    'performed "page_view" where (path contains "/docs")',
    "last_activity_at within last 7 days",
    "engagement_score >= 30 and enrichment.company.size > 500 and "
    'enrichment.company.industry = "Technology" and '
    'performed "page_view" where (path contains "/pricing")',
    'performed "trial_signup" and last_activity_at older than 14 days '
    'and did not perform "api_call"',
    'performed "page_view" where (path contains "/pricing") and '
    '(performed "whitepaper_download" or performed "webinar_attend") and engagement_score >= 40',
    "engagement_score < 20 and max_score >= 50 and last_activity_at older than 60 days",
    "engagement_score between 25 and 49",
    'performed "page_view" at least 3 times within 30 days',
    'performed "email_open" at most 2 times within 30 days',
    "created_at within last 30 days",
    "last_activity_at older than 90 days",
    # 004: example segments
    'engagement_level = "Very Hot"',
    'profile_level = "Strong Fit" and engagement_level in ("Hot", "Very Hot")',
    'performed "form_submit" where (form_id contains "demo")',
    'performed "webinar_attend"',
    'enrichment.person.seniority in ("VP", "Director", "C-Level")',
    'job_title contains "engineer"',
    'account.engagement_level = "Hot" and account.metadata.employees >= 1000',
    # references, groups, not, null
    "in segment 12 and not in list 3",
    'not (status = "lost" or tags has any ("churned")) and phone is null',
    'tags has none ("competitor") and email ends with ".edu" and name starts with "dr"',
]


@pytest.mark.parametrize("text", REFERENCE_EXAMPLES)
def test_reference_examples(text: str) -> None:
    tree = parse_text(text, P)
    printed = to_text(tree)
    assert parse_text(printed, P) == tree
    assert to_text(parse_text(printed, P)) == printed


def test_the_contract_example() -> None:
    text = (
        'status in ("new", "contacted") and enrichment.company.size >= 50 '
        'and performed "trial_signup" within 14 days'
    )
    assert to_json(parse_text(text, P)) == {
        "and": [
            {"field": "status", "op": "in", "value": ["new", "contacted"]},
            {"field": "enrichment.company.size", "op": "gte", "value": 50},
            {"event": "trial_signup", "within_days": 14},
        ]
    }
    assert to_text(parse_text(text, P)) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("all(phone is null)", {"and": [{"field": "phone", "op": "is_null"}]}),
        ("any(phone is null)", {"or": [{"field": "phone", "op": "is_null"}]}),
        ("not not phone is null", {"not": {"not": {"field": "phone", "op": "is_null"}}}),
        ("a.b = 1 or c = 2 and d = 3",
         {"or": [{"field": "a.b", "op": "eq", "value": 1},
                 {"and": [{"field": "c", "op": "eq", "value": 2},
                          {"field": "d", "op": "eq", "value": 3}]}]}),
        ("`in.x` = true", {"field": "in.x", "op": "eq", "value": True}),
        ('x = "a\\"b\\u00e9"', {"field": "x", "op": "eq", "value": 'a"bé'}),
        ("x in [1, 2.5, -3e2,]", {"field": "x", "op": "in", "value": [1, 2.5, -300.0]}),
        ('performed "x" within last 1 day at least 0 times',
         {"event": "x", "within_days": 1, "min_count": 0}),
        ('performed "a" then "b" within 3 days',
         {"sequence": [{"event": "a"}, {"event": "b"}], "within_days": 3}),
        ('performed "a" where (p = 1) then "b" where q = 2 then "c" starting within last 7 days',
         {"sequence": [{"event": "a", "where": {"field": "p", "op": "eq", "value": 1}},
                       {"event": "b", "where": {"field": "q", "op": "eq", "value": 2}},
                       {"event": "c"}], "since_days": 7}),
        ('performed "a" then "b" starting within 7 days within 2 days and x = 1',
         {"and": [{"sequence": [{"event": "a"}, {"event": "b"}], "since_days": 7,
                   "within_days": 2}, {"field": "x", "op": "eq", "value": 1}]}),
        ('performed "trial_signup" then "api_call" within 3 days without "cancel" in between',
         {"sequence": [{"event": "trial_signup"}, {"event": "api_call"}], "within_days": 3,
          "not_between": {"event": "cancel"}}),
        ('performed "a" then "b" without "c" where reason in ("x", "y") in between and z = 1',
         {"and": [{"sequence": [{"event": "a"}, {"event": "b"}],
                   "not_between": {"event": "c", "where": {"field": "reason", "op": "in",
                                                          "value": ["x", "y"]}}},
                  {"field": "z", "op": "eq", "value": 1}]}),
        ('performed "x" where a = 1 and b = 2',
         {"and": [{"event": "x", "where": {"field": "a", "op": "eq", "value": 1}},
                  {"field": "b", "op": "eq", "value": 2}]}),
    ],
)  # fmt: skip
def test_text_to_json(text: str, expected: Any) -> None:
    assert text_to_json(text) == expected


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("status = ", "line 1, column 10"),
        ('status = "x" and\n  foo ~ 3', "line 2, column 7"),
        ('status = "x"\n)', "line 2, column 1"),
        ("status == 1", "line 1, column 9"),
        ('performed "x" within 3 days within 4 days', "within days is given twice"),
        ('performed "a" then "b" within 3 days within 4 days', "within days is given twice"),
        ('performed "a" within 3 days then "b"', "first step takes only a where"),
        ('performed "a" then', "unexpected end of input"),
        ('performed "a" then "b" without "c" in between without "d" in between', "twice"),
        ('performed "a" then "b" without "c"', "unexpected end of input"),
        ('performed "a" without "c" in between then "b"', "line 1, column 15"),
        ('x = "\\q"', "line 1, column 5: malformed string"),
        ("x = " + "9" * 5000, "line 1, column 5: number out of range"),
    ],
)
def test_syntax_errors_report_line_and_column(text: str, position: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_text(text, P)
    assert position in caught.value.message


def test_semantic_errors_name_the_json_path() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_text('status = "new" and engagement_score > "high"', P)
    assert caught.value.path == "filter.and[1].value"


def test_keywords_are_quoted_when_printed() -> None:
    assert "in" in keywords() and "where" in keywords()
    tree = parse_filter({"event": "x", "where": {"field": "where", "op": "eq", "value": 1}}, P)
    assert to_text(tree) == 'performed "x" where (`where` = 1)'
    assert parse_text(to_text(tree), P) == tree


@settings(max_examples=300, deadline=None)
@given(filters())
def test_print_parse_round_trip(data: Any) -> None:
    try:
        tree = parse_filter(data, P)
    except InvalidInput as error:
        assert "too deeply nested" in error.message
        return
    text = to_text(tree)
    assert parse_text(text, P) == tree, text
    assert to_text(parse_text(text, P)) == text


@settings(max_examples=200, deadline=None)
@given(sequences())
def test_sequences_print_and_parse_round_trip(data: Any) -> None:
    tree = parse_filter(data, P)
    text = to_text(tree)
    assert text.startswith("performed ") and " then " in text
    assert parse_text(text, P) == tree, text


# As in tests/filters/test_account_parity.py: lists 1 and 2, lead segment 1, account segment 3.
_ACCOUNT_SEGMENTS = MemorySegmentSource(
    {1: STORED_SEGMENT, 3: STORED_ACCOUNT_SEGMENT},
    list_ids=frozenset({1, 2}),
    audiences={3: "accounts"},
)


@settings(max_examples=200, deadline=None)
@given(account_filters())
def test_account_filters_print_and_parse_round_trip(data: Any) -> None:
    tree = parse_filter(data, P, _ACCOUNT_SEGMENTS, audience="accounts")
    text = to_text(tree)
    assert parse_text(text, P, _ACCOUNT_SEGMENTS, audience="accounts") == tree, text


def test_account_nodes_in_the_text_syntax() -> None:
    text = 'leads (engagement_level = "Hot") at least 3 and not (leads (status = "lost"))'
    assert text_to_json(text) == {
        "and": [
            {"leads": {"field": "engagement_level", "op": "eq", "value": "Hot"}, "min_count": 3},
            {"not": {"leads": {"field": "status", "op": "eq", "value": "lost"}}},
        ]
    }
    assert text_to_json("leads (status = 1) at least 0 at most 0") == {
        "leads": {"field": "status", "op": "eq", "value": 1},
        "min_count": 0,
        "max_count": 0,
    }
    lead_filter = parse_text('in account segment 3 and status = "new"', P, _ACCOUNT_SEGMENTS)
    assert to_text(lead_filter) == 'in account segment 3 and status = "new"'
    with pytest.raises(InvalidInput, match="min count is given twice"):
        text_to_json("leads (status = 1) at least 1 at least 2")
    with pytest.raises(InvalidInput) as lead_field:  # a lead field outside `leads`, by its path
        parse_text('job_title = "x"', P, _ACCOUNT_SEGMENTS, audience="accounts")
    assert lead_field.value.path == "filter.field"


_TOKENS = st.sampled_from(
    [*sorted(keywords()), "(", ")", "[", "]", ",", "=", "!=", ">=", "<", '"x"', '"', "`a`", "1",
     "-2.5e3", "status", "tags", "enrichment.a", "\n", " ", "all(", "any("]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=80), st.lists(_TOKENS, max_size=25).map(" ".join)))
def test_arbitrary_text_only_raises_invalid_input(text: str) -> None:
    with contextlib.suppress(InvalidInput):
        parse_text(text, P)


def test_assigned_to_me_is_the_given_reader_and_needs_one() -> None:
    tree = parse_text('assigned to me and not status = "lost"', P, me="ada@acme.test")
    assert to_json(tree)["and"][0] == {"field": "owner", "op": "eq", "value": "ada@acme.test"}
    assert parse_filter({"assigned_to_me": True}, P, me="ada@acme.test") == parse_text(
        'owner = "ada@acme.test"', P
    )
    with pytest.raises(InvalidInput) as caught:
        parse_text('status = "new" or assigned to me', P)
    assert caught.value.path == "filter.or[1]" and "signed-in user" in caught.value.message
    # The new keywords are quoted where they are names.
    tree = parse_filter({"event": "x", "where": {"field": "to", "op": "eq", "value": "me"}}, P)
    assert to_text(tree) == 'performed "x" where (`to` = "me")'
    assert parse_text(to_text(tree), P) == tree
