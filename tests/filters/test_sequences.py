"""Sequences (contract §3b): hand-picked cases on Python, SQL and the index, and their JSON."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from segmint.errors import InvalidInput
from segmint.filters import parse_filter, to_json
from segmint.projects import Project
from tests.filters.harness import LeadSpec, check
from tests.filters.strategies import OFFLINE_PROJECT

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _event(kind: str, days_ago: float, **metadata: Any) -> dict[str, Any]:
    return {"type": kind, "occurred_at": NOW - timedelta(days=days_ago), "metadata": metadata}


LEADS = [
    # 0: signup then api_call two days later
    LeadSpec(events=[_event("signup", 10), _event("api_call", 8)]),
    # 1: both at the same moment: not strictly after
    LeadSpec(events=[_event("signup", 5), _event("api_call", 5)]),
    # 2: the wrong order
    LeadSpec(events=[_event("api_call", 9), _event("signup", 4)]),
    # 3: an early signup far from the call, a later one exactly 3 days before it
    LeadSpec(events=[_event("signup", 40), _event("signup", 13), _event("api_call", 10)]),
    # 4: signup (plan pro) long ago, then api_call, then upgrade
    LeadSpec(events=[_event("signup", 50, plan="pro"), _event("api_call", 45),
                     _event("upgrade", 44)]),
    LeadSpec(),  # 5: nothing
]  # fmt: skip

SIGNUP_THEN_CALL = [{"event": "signup"}, {"event": "api_call"}]

CASES = [
    ({"sequence": SIGNUP_THEN_CALL}, [0, 3, 4]),
    ({"sequence": SIGNUP_THEN_CALL, "within_days": 2}, [0]),
    ({"sequence": SIGNUP_THEN_CALL, "within_days": 3}, [0, 3]),  # inclusive
    ({"sequence": SIGNUP_THEN_CALL, "since_days": 12}, [0]),
    ({"sequence": SIGNUP_THEN_CALL, "since_days": 13, "within_days": 3}, [0, 3]),
    ({"sequence": [{"event": "api_call"}, {"event": "signup"}]}, [2]),
    ({"sequence": [{"event": "signup", "where": {"field": "plan", "op": "eq", "value": "PRO"}},
                   {"event": "api_call"}, {"event": "upgrade"}]}, [4]),
    ({"sequence": [*SIGNUP_THEN_CALL, {"event": "upgrade"}], "within_days": 6}, [4]),
    ({"sequence": [*SIGNUP_THEN_CALL, {"event": "upgrade"}], "within_days": 5}, []),
    ({"sequence": [{"event": "signup"}, {"event": "signup"}]}, [3]),
    ({"not": {"sequence": SIGNUP_THEN_CALL, "within_days": 2}}, [1, 2, 3, 4, 5]),
]  # fmt: skip


# "... and not X in between" (not_between): no excluded event strictly between e1 and en.
EXCLUDED_LEADS = [
    # 0: signup, cancel, api_call: the cancel is between
    LeadSpec(events=[_event("signup", 10), _event("cancel", 9), _event("api_call", 8)]),
    # 1: cancel at the very moments of the signup and the call: not strictly between
    LeadSpec(events=[_event("signup", 10), _event("cancel", 10), _event("cancel", 8),
                     _event("api_call", 8)]),
    # 2: signup, cancel, signup, api_call: the later start's span is clean (even with no window,
    # the earliest start alone would not do)
    LeadSpec(events=[_event("signup", 20), _event("cancel", 15), _event("signup", 10),
                     _event("api_call", 9)]),
    # 3: signup, api_call, cancel, api_call: the earliest call ends the chain before the cancel
    LeadSpec(events=[_event("signup", 10), _event("api_call", 9), _event("cancel", 8),
                     _event("api_call", 7)]),
    # 4: a cancel between, but of another reason (the where excludes only "price")
    LeadSpec(events=[_event("signup", 10), _event("cancel", 9, reason="bug"),
                     _event("api_call", 8)]),
    # 5: a priced cancel between
    LeadSpec(events=[_event("signup", 10), _event("cancel", 9, reason="price"),
                     _event("api_call", 8)]),
    # 6: three steps, the cancel between the second and the third
    LeadSpec(events=[_event("signup", 10), _event("api_call", 9), _event("cancel", 8),
                     _event("upgrade", 7)]),
]  # fmt: skip

NO_CANCEL = {"event": "cancel"}
PRICED = {"field": "reason", "op": "eq", "value": "price"}

EXCLUDED_CASES = [
    ({"sequence": SIGNUP_THEN_CALL}, [0, 1, 2, 3, 4, 5, 6]),
    ({"sequence": SIGNUP_THEN_CALL, "not_between": NO_CANCEL}, [1, 2, 3, 6]),
    ({"sequence": SIGNUP_THEN_CALL, "not_between": NO_CANCEL, "within_days": 1}, [2, 3, 6]),
    ({"sequence": SIGNUP_THEN_CALL, "not_between": NO_CANCEL, "since_days": 19}, [1, 2, 3, 6]),
    ({"sequence": [{"event": "signup"}, {"event": "cancel"}], "not_between": NO_CANCEL},
     [0, 1, 2, 3, 4, 5, 6]),
    ({"sequence": SIGNUP_THEN_CALL, "not_between": {"event": "cancel", "where": PRICED}},
     [0, 1, 2, 3, 4, 6]),
    ({"sequence": [*SIGNUP_THEN_CALL, {"event": "upgrade"}], "not_between": NO_CANCEL}, []),
    ({"sequence": [*SIGNUP_THEN_CALL, {"event": "upgrade"}]}, [6]),
    # the excluded type may be a step's: a signup between two signups
    ({"sequence": [{"event": "signup"}, {"event": "api_call"}],
      "not_between": {"event": "signup"}}, [0, 1, 2, 3, 4, 5, 6]),
    ({"sequence": [{"event": "signup"}, {"event": "api_call"}], "since_days": 19,
      "not_between": {"event": "signup"}}, [0, 1, 2, 3, 4, 5, 6]),
    ({"not": {"sequence": SIGNUP_THEN_CALL, "not_between": NO_CANCEL}}, [0, 4, 5]),
]  # fmt: skip


@pytest.mark.parametrize(("data", "expected"), EXCLUDED_CASES)
def test_without_an_event_in_between(
    db: Engine, project: Project, data: Any, expected: list[int]
) -> None:
    """On SQL, Python (evaluate and explain) and the columnar index (`check`)."""
    check(db, project, data, EXCLUDED_LEADS, expected, NOW)


@pytest.mark.parametrize(("data", "expected"), CASES)
def test_sequences(db: Engine, project: Project, data: Any, expected: list[int]) -> None:
    check(db, project, data, LEADS, expected, NOW)


def test_canonical_json_round_trips() -> None:
    data = {
        "sequence": [
            {"event": "signup", "where": {"field": "plan", "op": "eq", "value": "pro"}},
            {"event": "api_call"},
        ],
        "within_days": 3,
        "since_days": 30,
        "not_between": {"event": "cancel", "where": {"field": "reason", "op": "eq", "value": "x"}},
    }
    assert to_json(parse_filter(data, OFFLINE_PROJECT)) == data


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        ({"sequence": [{"event": "a"}]}, "filter.and[1].sequence", "2 to 5 steps"),
        ({"sequence": [{"event": "a"}] * 6}, "filter.and[1].sequence", "2 to 5 steps"),
        ({"sequence": {"event": "a"}}, "filter.and[1].sequence", "2 to 5 steps"),
        ({"sequence": [{"event": "a"}, {}]}, "filter.and[1].sequence[1].event", "required"),
        ({"sequence": [{"event": "a"}, "b"]}, "filter.and[1].sequence[1]", "expected an object"),
        ({"sequence": [{"event": "a"}, {"event": " "}]}, "filter.and[1].sequence[1].event",
         "event type"),
        ({"sequence": [{"event": "a"}, {"event": "b", "where": {"field": "x", "op": "nope"}}]},
         "filter.and[1].sequence[1].where.op", "unknown operator"),
        ({"sequence": [{"event": "a"}, {"event": "b", "where": {"in_list": 1}}]},
         "filter.and[1].sequence[1].where", "not allowed"),
        ({"sequence": [{"event": "a"}, {"event": "b", "min_count": 2}]},
         "filter.and[1].sequence[1].min_count", "unexpected key"),
        ({"sequence": [{"event": "a"}, {"event": "b"}], "within_days": 0},
         "filter.and[1].within_days", "whole number"),
        ({"sequence": [{"event": "a"}, {"event": "b"}], "since_days": 1.5},
         "filter.and[1].since_days", "whole number"),
        ({"sequence": [{"event": "a"}, {"event": "b"}], "not_between": "c"},
         "filter.and[1].not_between", "expected an object"),
        ({"sequence": [{"event": "a"}, {"event": "b"}], "not_between": {}},
         "filter.and[1].not_between.event", "required"),
        ({"sequence": [{"event": "a"}, {"event": "b"}], "not_between": {"event": "c", "n": 1}},
         "filter.and[1].not_between.n", "unexpected key"),
        ({"sequence": [{"event": "a"}, {"event": "b"}],
          "not_between": {"event": "c", "where": {"in_segment": 1}}},
         "filter.and[1].not_between.where", "not allowed"),
    ],
)  # fmt: skip
def test_bad_sequences_name_their_path(data: Any, path: str, message: str) -> None:
    wrapped = {"and": [{"field": "status", "op": "eq", "value": "new"}, data]}
    with pytest.raises(InvalidInput) as raised:
        parse_filter(wrapped, OFFLINE_PROJECT)
    assert raised.value.path == path
    assert message in raised.value.message


def test_a_sequence_is_not_allowed_in_an_events_where() -> None:
    inner = {"sequence": [{"event": "a"}, {"event": "b"}]}
    with pytest.raises(InvalidInput) as raised:
        parse_filter({"event": "c", "where": inner}, OFFLINE_PROJECT)
    assert raised.value.path == "filter.where"
