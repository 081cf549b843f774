"""The fixed suite: the segments of the "Segment Performance Optimization" help page (fast,
moderate, slow), its five common patterns, three event conditions, four conditions over time
(a window in the past, distinct days, a sum of a metadata number, distinct event types), three
sequences (one without an event in between), a company search, a tags match, a random split and
time in segment (which names another case's segment, resolved at run time). Each comes with the
statement a developer would write by hand for the same count on PostgreSQL, to show what
Segmint's generated SQL costs over it, and with the statement an analyst would write for DuckDB
over the data exported to Parquet (views `leads` and `events` of the bench project alone, so no
project_id), to show what a columnar engine makes of the question.

The DuckDB statements answer exactly the filter's question: text compares case-insensitively as
the filter language does (lower(); Segmint's fold also trims and applies NFKC, which generated
data never needs), `has_all` reads an array's string elements case-insensitively, an enriched
lead has a non-empty enrichment object, and `$now` is bound to the same instant as Segmint's
(DuckDB runs in UTC, so `INTERVAL 30 DAY` is 30 times 24 hours, like Segmint's timedelta).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from segmint.errors import InvalidInput

ENRICHED = {"field": "enrichment_status", "op": "eq", "value": "enriched"}
NEW = {"field": "status", "op": "eq", "value": "new"}
NEW_OR_CONTACTED = {"field": "status", "op": "in", "value": ["new", "contacted"]}


def _field(name: str, op: str, value: Any) -> dict[str, Any]:
    return {"field": name, "op": op, "value": value}


# In a case's filter, where a segment id goes: {"$segment": NAME} stands for the id of the
# suite's segment NAME. A case is written before any segment exists, and ensure_segments keeps
# every case as an active segment, so a case may refer to an earlier one by name; the id is
# put in at run time (`Case.filter_in`).
SEGMENT_NAMED: Final = "$segment"


def segment_named(name: str) -> dict[str, str]:
    return {SEGMENT_NAMED: name}


def _named_in(data: Any) -> Iterator[str]:
    if isinstance(data, dict):
        if set(data) == {SEGMENT_NAMED}:
            yield data[SEGMENT_NAMED]
            return
        for value in data.values():
            yield from _named_in(value)
    elif isinstance(data, list):
        for value in data:
            yield from _named_in(value)


def _resolved(data: Any, ids: Mapping[str, int]) -> Any:
    if isinstance(data, dict):
        if set(data) == {SEGMENT_NAMED}:
            return ids[data[SEGMENT_NAMED]]
        return {key: _resolved(value, ids) for key, value in data.items()}
    if isinstance(data, list):
        return [_resolved(value, ids) for value in data]
    return data


@dataclass(frozen=True)
class Case:
    name: str
    filter: dict[str, Any]  # may name the suite's segments (segment_named): see filter_in
    postgres_sql: str  # the hand-written count; binds :project_id and :now (and :segment_id)
    # The same count in DuckDB over the Parquet views; binds $now. None: the question reads
    # Segmint's own state (maintained memberships), which an analyst's export does not hold.
    duckdb_sql: str | None

    @property
    def segments_named(self) -> tuple[str, ...]:
        """The suite's segments the filter refers to, in order (their ids come at run time)."""
        return tuple(_named_in(self.filter))

    def filter_in(self, ids: Mapping[str, int]) -> dict[str, Any]:
        """The filter with each named segment's id (`ids`: the project's segments by name)."""
        resolved: dict[str, Any] = _resolved(self.filter, ids)
        return resolved

    def params(self, project_id: int, now: datetime, ids: Mapping[str, int]) -> dict[str, Any]:
        """The hand-written statement's parameters: `:segment_id` is the first named segment."""
        named = self.segments_named
        return {"project_id": project_id, "now": now} | (
            {"segment_id": ids[named[0]]} if named else {}
        )


CASES: tuple[Case, ...] = (
    Case(
        "fast",
        {"and": [NEW, _field("source", "eq", "apollo_search"), ENRICHED]},
        """SELECT count(*) FROM leads WHERE project_id = :project_id
           AND lower(status) = 'new' AND lower(source) = 'apollo_search'
           AND jsonb_typeof(enrichment) = 'object' AND enrichment <> '{}'::jsonb""",
        """SELECT count(*) FROM leads
           WHERE lower(status) = 'new' AND lower(source) = 'apollo_search'
           AND json_type(enrichment) = 'OBJECT' AND len(json_keys(enrichment)) > 0""",
    ),
    Case(
        "moderate",
        {
            "and": [
                NEW_OR_CONTACTED,
                _field("enrichment.company.size", "gte", 50),
                _field("enrichment.company.industry", "in", ["SaaS", "Technology"]),
                _field("enrichment.person.seniority_level", "eq", "C-Suite"),
            ]
        },
        """SELECT count(*) FROM leads WHERE project_id = :project_id
           AND lower(status) IN ('new', 'contacted')
           AND (enrichment #>> '{company,size}')::numeric >= 50
           AND lower(enrichment #>> '{company,industry}') IN ('saas', 'technology')
           AND lower(enrichment #>> '{person,seniority_level}') = 'c-suite'""",
        """SELECT count(*) FROM leads
           WHERE lower(status) IN ('new', 'contacted')
           AND (enrichment ->> '$.company.size')::DOUBLE >= 50
           AND lower(enrichment ->> '$.company.industry') IN ('saas', 'technology')
           AND lower(enrichment ->> '$.person.seniority_level') = 'c-suite'""",
    ),
    Case(
        "slow",
        {
            "and": [
                NEW_OR_CONTACTED,
                _field("enrichment.company.size", "between", [50, 500]),
                _field("enrichment.company.revenue", "gte", 1_000_000),
                _field(
                    "enrichment.company.technologies",
                    "has_all",
                    ["Salesforce", "HubSpot", "Stripe"],
                ),
                _field("enrichment.person.location.country", "eq", "United States"),
                _field("enrichment.person.location.state", "in", ["CA", "NY", "TX", "FL", "IL"]),
                _field("job_title", "contains", ["CEO", "VP", "Director", "Manager"]),
            ]
        },
        """SELECT count(*) FROM leads WHERE project_id = :project_id
           AND lower(status) IN ('new', 'contacted')
           AND (enrichment #>> '{company,size}')::numeric BETWEEN 50 AND 500
           AND (enrichment #>> '{company,revenue}')::numeric >= 1000000
           AND enrichment -> 'company' -> 'technologies' @> '["Salesforce", "HubSpot", "Stripe"]'
           AND enrichment #>> '{person,location,country}' = 'United States'
           AND enrichment #>> '{person,location,state}' IN ('CA', 'NY', 'TX', 'FL', 'IL')
           AND (job_title ILIKE '%ceo%' OR job_title ILIKE '%vp%'
                OR job_title ILIKE '%director%' OR job_title ILIKE '%manager%')""",
        """SELECT count(*) FROM leads
           WHERE lower(status) IN ('new', 'contacted')
           AND (enrichment ->> '$.company.size')::DOUBLE BETWEEN 50 AND 500
           AND (enrichment ->> '$.company.revenue')::DOUBLE >= 1000000
           AND list_has_all(
               list_transform(json_extract_string(enrichment, '$.company.technologies[*]'),
                              lambda t: lower(t)),
               ['salesforce', 'hubspot', 'stripe'])
           AND lower(enrichment ->> '$.person.location.country') = 'united states'
           AND lower(enrichment ->> '$.person.location.state') IN ('ca', 'ny', 'tx', 'fl', 'il')
           AND (job_title ILIKE '%ceo%' OR job_title ILIKE '%vp%'
                OR job_title ILIKE '%director%' OR job_title ILIKE '%manager%')""",
    ),
    Case(
        "pattern 1: new enriched, ready for outreach",
        {
            "and": [
                NEW,
                ENRICHED,
                _field("enrichment.company.size", "gte", 10),
                {"field": "email", "op": "is_not_null"},
            ]
        },
        """SELECT count(*) FROM leads WHERE project_id = :project_id
           AND lower(status) = 'new' AND jsonb_typeof(enrichment) = 'object'
           AND (enrichment #>> '{company,size}')::numeric >= 10 AND email IS NOT NULL""",
        """SELECT count(*) FROM leads
           WHERE lower(status) = 'new'
           AND json_type(enrichment) = 'OBJECT' AND len(json_keys(enrichment)) > 0
           AND (enrichment ->> '$.company.size')::DOUBLE >= 10
           AND email IS NOT NULL AND trim(email) <> ''""",
    ),
    Case(
        "pattern 2: cold leads to re-engage",
        {
            "and": [
                _field("status", "eq", "contacted"),
                _field("last_contacted_at", "older_than", 30),
            ]
        },
        """SELECT count(*) FROM leads WHERE project_id = :project_id
           AND lower(status) = 'contacted'
           AND last_contacted_at < :now - interval '30 days'""",
        """SELECT count(*) FROM leads
           WHERE lower(status) = 'contacted'
           AND last_contacted_at < $now - INTERVAL 30 DAY""",
    ),
    Case(
        "pattern 3: enterprise prospects",
        {
            "and": [
                _field("job_title", "contains", ["CEO", "VP", "Director"]),
                _field("enrichment.company.size", "gte", 100),
                _field("enrichment.company.revenue", "gte", 5_000_000),
                NEW_OR_CONTACTED,
            ]
        },
        """SELECT count(*) FROM leads WHERE project_id = :project_id
           AND (job_title ILIKE '%ceo%' OR job_title ILIKE '%vp%' OR job_title ILIKE '%director%')
           AND (enrichment #>> '{company,size}')::numeric >= 100
           AND (enrichment #>> '{company,revenue}')::numeric >= 5000000
           AND lower(status) IN ('new', 'contacted')""",
        """SELECT count(*) FROM leads
           WHERE (job_title ILIKE '%ceo%' OR job_title ILIKE '%vp%'
                  OR job_title ILIKE '%director%')
           AND (enrichment ->> '$.company.size')::DOUBLE >= 100
           AND (enrichment ->> '$.company.revenue')::DOUBLE >= 5000000
           AND lower(status) IN ('new', 'contacted')""",
    ),
    Case(
        "pattern 4: technology targeting",
        {
            "and": [
                _field("enrichment.company.technologies", "has_all", ["Salesforce"]),
                _field("enrichment.company.industry", "eq", "SaaS"),
                NEW,
            ]
        },
        """SELECT count(*) FROM leads WHERE project_id = :project_id
           AND enrichment -> 'company' -> 'technologies' @> '["Salesforce"]'
           AND enrichment #>> '{company,industry}' = 'SaaS' AND lower(status) = 'new'""",
        """SELECT count(*) FROM leads
           WHERE list_contains(
               list_transform(json_extract_string(enrichment, '$.company.technologies[*]'),
                              lambda t: lower(t)),
               'salesforce')
           AND lower(enrichment ->> '$.company.industry') = 'saas' AND lower(status) = 'new'""",
    ),
    Case(
        "pattern 5: geographic targeting",
        {
            "and": [
                _field("enrichment.person.location.country", "eq", "United States"),
                _field("enrichment.person.location.state", "in", ["CA", "NY", "TX"]),
                ENRICHED,
            ]
        },
        """SELECT count(*) FROM leads WHERE project_id = :project_id
           AND enrichment #>> '{person,location,country}' = 'United States'
           AND enrichment #>> '{person,location,state}' IN ('CA', 'NY', 'TX')""",
        """SELECT count(*) FROM leads
           WHERE lower(enrichment ->> '$.person.location.country') = 'united states'
           AND lower(enrichment ->> '$.person.location.state') IN ('ca', 'ny', 'tx')
           AND json_type(enrichment) = 'OBJECT' AND len(json_keys(enrichment)) > 0""",
    ),
    Case(
        "event: 3+ pricing page views in 30 days",
        {
            "event": "page_view",
            "min_count": 3,
            "within_days": 30,
            "where": _field("path", "contains", "/pricing"),
        },
        """SELECT count(*) FROM (SELECT lead_id FROM events WHERE project_id = :project_id
           AND type = 'page_view' AND occurred_at >= :now - interval '30 days'
           AND occurred_at <= :now AND metadata ->> 'path' ILIKE '%/pricing%'
           GROUP BY lead_id HAVING count(*) >= 3) AS viewers""",
        """SELECT count(*) FROM (SELECT lead_id FROM events
           WHERE type = 'page_view' AND occurred_at BETWEEN $now - INTERVAL 30 DAY AND $now
           AND metadata ->> '$.path' ILIKE '%/pricing%'
           GROUP BY lead_id HAVING count(*) >= 3)""",
    ),
    Case(
        "event: trial sign-up, no api_call in 14 days",
        {
            "and": [
                {"event": "trial_signup", "within_days": 14},
                {"event": "api_call", "within_days": 14, "performed": False},
            ]
        },
        """SELECT count(DISTINCT t.lead_id) FROM events t WHERE t.project_id = :project_id
           AND t.type = 'trial_signup' AND t.occurred_at BETWEEN :now - interval '14 days' AND :now
           AND NOT EXISTS (SELECT 1 FROM events a WHERE a.project_id = t.project_id
               AND a.lead_id = t.lead_id AND a.type = 'api_call'
               AND a.occurred_at BETWEEN :now - interval '14 days' AND :now)""",
        """SELECT count(*) FROM (
           SELECT lead_id FROM events WHERE type = 'trial_signup'
               AND occurred_at BETWEEN $now - INTERVAL 14 DAY AND $now
           EXCEPT
           SELECT lead_id FROM events WHERE type = 'api_call'
               AND occurred_at BETWEEN $now - INTERVAL 14 DAY AND $now)""",
    ),
    Case(
        # Over all time and with no `where`: answered from the per-lead counters (0008).
        "event: 10+ page views, ever",
        {"event": "page_view", "min_count": 10},
        """SELECT count(*) FROM (SELECT lead_id FROM events WHERE project_id = :project_id
           AND type = 'page_view' GROUP BY lead_id HAVING count(*) >= 10) AS viewers""",
        """SELECT count(*) FROM (SELECT lead_id FROM events WHERE type = 'page_view'
           GROUP BY lead_id HAVING count(*) >= 10)""",
    ),
    # Conditions over time (contract 3b). The bench project's zone is UTC, so its local days
    # are UTC dates in both hand-written statements.
    Case(
        "event: viewed 30-60 days ago, not since",
        {
            "and": [
                {"event": "page_view", "within_days": 60, "older_than_days": 30},
                {"event": "page_view", "within_days": 30, "performed": False},
            ]
        },
        """SELECT count(DISTINCT b.lead_id) FROM events b WHERE b.project_id = :project_id
           AND b.type = 'page_view' AND b.occurred_at >= :now - interval '60 days'
           AND b.occurred_at < :now - interval '30 days'
           AND NOT EXISTS (SELECT 1 FROM events r WHERE r.project_id = b.project_id
               AND r.lead_id = b.lead_id AND r.type = 'page_view'
               AND r.occurred_at BETWEEN :now - interval '30 days' AND :now)""",
        """SELECT count(*) FROM (
           SELECT lead_id FROM events WHERE type = 'page_view'
               AND occurred_at >= $now - INTERVAL 60 DAY AND occurred_at < $now - INTERVAL 30 DAY
           EXCEPT
           SELECT lead_id FROM events WHERE type = 'page_view'
               AND occurred_at BETWEEN $now - INTERVAL 30 DAY AND $now)""",
    ),
    Case(
        "event: page views on 2+ days in 30 days",
        {"event": "page_view", "within_days": 30, "min_distinct_days": 2},
        """SELECT count(*) FROM (SELECT lead_id FROM events WHERE project_id = :project_id
           AND type = 'page_view' AND occurred_at BETWEEN :now - interval '30 days' AND :now
           GROUP BY lead_id
           HAVING count(DISTINCT (occurred_at AT TIME ZONE 'UTC')::date) >= 2) AS regulars""",
        """SELECT count(*) FROM (SELECT lead_id FROM events WHERE type = 'page_view'
           AND occurred_at BETWEEN $now - INTERVAL 30 DAY AND $now
           GROUP BY lead_id HAVING count(DISTINCT CAST(occurred_at AS DATE)) >= 2)""",
    ),
    Case(
        "event: 30+ minutes on pages in 30 days",
        {
            "event": "page_view",
            "within_days": 30,
            "aggregate": {"fn": "sum", "path": "duration_s", "op": "gte", "value": 1800},
        },
        """SELECT count(*) FROM (SELECT lead_id FROM events WHERE project_id = :project_id
           AND type = 'page_view' AND occurred_at BETWEEN :now - interval '30 days' AND :now
           GROUP BY lead_id
           HAVING sum((metadata ->> 'duration_s')::numeric) >= 1800) AS readers""",
        """SELECT count(*) FROM (SELECT lead_id FROM events WHERE type = 'page_view'
           AND occurred_at BETWEEN $now - INTERVAL 30 DAY AND $now
           GROUP BY lead_id HAVING sum((metadata ->> '$.duration_s')::DOUBLE) >= 1800)""",
    ),
    Case(
        "multi-touch: 3+ event types in 30 days",
        {"distinct_events": 3, "within_days": 30},
        """SELECT count(*) FROM (SELECT lead_id FROM events WHERE project_id = :project_id
           AND occurred_at BETWEEN :now - interval '30 days' AND :now
           GROUP BY lead_id HAVING count(DISTINCT type) >= 3) AS touched""",
        """SELECT count(*) FROM (SELECT lead_id FROM events
           WHERE occurred_at BETWEEN $now - INTERVAL 30 DAY AND $now
           GROUP BY lead_id HAVING count(DISTINCT type) >= 3)""",
    ),
    Case(
        # With within_days every sign-up is a start of its own; the call strictly after it.
        "sequence: trial sign-up then api_call within 3 days, starting in 30 days",
        {
            "sequence": [{"event": "trial_signup"}, {"event": "api_call"}],
            "within_days": 3,
            "since_days": 30,
        },
        """SELECT count(DISTINCT t.lead_id) FROM events t WHERE t.project_id = :project_id
           AND t.type = 'trial_signup' AND t.occurred_at BETWEEN :now - interval '30 days' AND :now
           AND EXISTS (SELECT 1 FROM events a WHERE a.project_id = t.project_id
               AND a.lead_id = t.lead_id AND a.type = 'api_call'
               AND a.occurred_at > t.occurred_at
               AND a.occurred_at <= t.occurred_at + interval '3 days')""",
        """SELECT count(DISTINCT t.lead_id) FROM events t WHERE t.type = 'trial_signup'
           AND t.occurred_at BETWEEN $now - INTERVAL 30 DAY AND $now
           AND EXISTS (SELECT 1 FROM events a WHERE a.lead_id = t.lead_id
               AND a.type = 'api_call' AND a.occurred_at > t.occurred_at
               AND a.occurred_at <= t.occurred_at + INTERVAL 3 DAY)""",
    ),
    Case(
        # not_between: every sign-up is a start; its earliest call in the window ends the chain
        # soonest, so the span to check for a click is (sign-up, that call).
        "sequence: trial sign-up then api_call within 14 days, no email click in between",
        {
            "sequence": [{"event": "trial_signup"}, {"event": "api_call"}],
            "within_days": 14,
            "since_days": 60,
            "not_between": {"event": "email_click"},
        },
        """SELECT count(DISTINCT c.lead_id) FROM (SELECT t.lead_id, t.occurred_at AS started,
               (SELECT min(a.occurred_at) FROM events a WHERE a.project_id = t.project_id
                   AND a.lead_id = t.lead_id AND a.type = 'api_call'
                   AND a.occurred_at > t.occurred_at
                   AND a.occurred_at <= t.occurred_at + interval '14 days') AS ended
               FROM events t WHERE t.project_id = :project_id AND t.type = 'trial_signup'
               AND t.occurred_at BETWEEN :now - interval '60 days' AND :now) c
           WHERE c.ended IS NOT NULL AND NOT EXISTS (SELECT 1 FROM events x
               WHERE x.project_id = :project_id AND x.lead_id = c.lead_id
               AND x.type = 'email_click' AND x.occurred_at > c.started
               AND x.occurred_at < c.ended)""",
        """SELECT count(DISTINCT c.lead_id) FROM (SELECT t.lead_id, t.occurred_at AS started,
               (SELECT min(a.occurred_at) FROM events a WHERE a.lead_id = t.lead_id
                   AND a.type = 'api_call' AND a.occurred_at > t.occurred_at
                   AND a.occurred_at <= t.occurred_at + INTERVAL 14 DAY) AS ended
               FROM events t WHERE t.type = 'trial_signup'
               AND t.occurred_at BETWEEN $now - INTERVAL 60 DAY AND $now) c
           WHERE c.ended IS NOT NULL AND NOT EXISTS (SELECT 1 FROM events x
               WHERE x.lead_id = c.lead_id AND x.type = 'email_click'
               AND x.occurred_at > c.started AND x.occurred_at < c.ended)""",
    ),
    Case(
        # No window: from each lead's first page view, a form then a sign-up, in that order.
        "sequence: page view, then form, then trial sign-up, ever",
        {
            "sequence": [
                {"event": "page_view"},
                {"event": "form_submit"},
                {"event": "trial_signup"},
            ]
        },
        """SELECT count(*) FROM (SELECT lead_id, min(occurred_at) AS at FROM events
               WHERE project_id = :project_id AND type = 'page_view' GROUP BY lead_id) v
           WHERE EXISTS (SELECT 1 FROM events f WHERE f.project_id = :project_id
               AND f.lead_id = v.lead_id AND f.type = 'form_submit' AND f.occurred_at > v.at
               AND EXISTS (SELECT 1 FROM events s WHERE s.project_id = :project_id
                   AND s.lead_id = f.lead_id AND s.type = 'trial_signup'
                   AND s.occurred_at > f.occurred_at))""",
        """SELECT count(*) FROM (SELECT lead_id, min(occurred_at) AS at FROM events
               WHERE type = 'page_view' GROUP BY lead_id) v
           WHERE EXISTS (SELECT 1 FROM events f WHERE f.lead_id = v.lead_id
               AND f.type = 'form_submit' AND f.occurred_at > v.at
               AND EXISTS (SELECT 1 FROM events s WHERE s.lead_id = f.lead_id
                   AND s.type = 'trial_signup' AND s.occurred_at > f.occurred_at))""",
    ),
    Case(
        # Faker's companies are surnames ("Johnson, Wilson and Sons"): "son" matches many.
        "company contains 'son'",
        _field("company", "contains", "son"),
        """SELECT count(*) FROM leads WHERE project_id = :project_id
           AND company ILIKE '%son%'""",
        """SELECT count(*) FROM leads WHERE company ILIKE '%son%'""",
    ),
    Case(
        "tags has all [vip, enterprise]",
        _field("tags", "has_all", ["vip", "enterprise"]),
        """SELECT count(*) FROM leads WHERE project_id = :project_id
           AND tags @> '["vip", "enterprise"]'""",
        """SELECT count(*) FROM leads
           WHERE list_has_all(list_transform(json_extract_string(tags, '$[*]'), lambda t: lower(t)),
                              ['vip', 'enterprise'])""",
    ),
    Case(
        # Half the leads by a hash of the salt and the id: one SHA-256 a lead, no index serves it.
        "random split: bucket 0-49",
        {"bucket": [0, 50], "salt": "bench"},
        """SELECT count(*) FROM leads, LATERAL (SELECT ('x' || left(encode(
               sha256(convert_to('bench:' || leads.id, 'UTF8')), 'hex'), 16))::bit(64)::bigint AS h
           ) AS hashed
           WHERE project_id = :project_id
           AND mod(h::numeric + CASE WHEN h < 0 THEN 18446744073709551616 ELSE 0 END, 100) < 50""",
        """SELECT count(*) FROM leads
           WHERE ('0x' || substr(sha256('bench:' || id), 1, 16))::UBIGINT % 100 < 50""",
    ),
    Case(
        # Time in segment: reads pattern 1's maintained members and when each entered, not
        # its filter (the bench made them all within the day, so they all match).
        "time in segment: entered pattern 1 within 30 days",
        {
            "in_segment": segment_named("pattern 1: new enriched, ready for outreach"),
            "entered_within_days": 30,
        },
        """SELECT count(*) FROM segment_members
           WHERE project_id = :project_id AND segment_id = :segment_id
           AND entered_at > :now - interval '30 days' AND entered_at <= :now""",
        None,
    ),
)


def cases_named(texts: Sequence[str]) -> tuple[Case, ...]:
    """The cases whose name contains one of `texts` (any case), in the suite's order; all of
    them when `texts` is empty. A text that names no case is refused with the names."""
    wanted = [text.strip().lower() for text in texts]
    for text in wanted:
        if not any(text in case.name.lower() for case in CASES):
            names = "; ".join(case.name for case in CASES)
            raise InvalidInput(f"no suite case is named like {text!r} (cases: {names})", "--case")
    if not wanted:
        return CASES
    return tuple(case for case in CASES if any(text in case.name.lower() for text in wanted))


# Six more segments, so the segments list holds twenty or more as a working project's does:
# questions a marketer asks daily, over the same data (kept as active segments, like the cases).
LISTED: tuple[tuple[str, dict[str, Any]], ...] = (
    ("listed: contacted", _field("status", "eq", "contacted")),
    ("listed: referrals", _field("source", "eq", "referral")),
    ("listed: vip or partner", _field("tags", "has_any", ["vip", "partner"])),
    ("listed: Germany", _field("enrichment.person.location.country", "eq", "Germany")),
    ("listed: companies of 1,000+", _field("enrichment.company.size", "gte", 1000)),
    ("listed: opened an email in 30 days", {"event": "email_open", "within_days": 30}),
)
