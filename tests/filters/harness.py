"""Test data for filters: insert leads (with accounts, events, lists) and compare backends."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.engine.filtering import StoredSegments, load_accounts, load_lead, with_account_leads
from segmint.filters import evaluate, explain, parse_filter, select_lead_ids
from segmint.filters.evaluate import evaluate_account
from segmint.filters.to_sql import select_account_ids
from segmint.filters.tree import Node
from segmint.index import Audience, ProjectIndex
from segmint.index.evaluate import Declined
from segmint.projects import Project
from segmint.store.tables import (
    accounts,
    events,
    leads,
    list_members,
    lists,
    segment_members,
    segments,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
_emails = itertools.count()


@dataclass
class LeadSpec:
    """One lead to insert: column values, an optional account, events and list ids."""

    values: Mapping[str, Any] = field(default_factory=dict)
    account: Mapping[str, Any] | None = None
    events: Sequence[Mapping[str, Any]] = ()
    list_ids: Sequence[int] = ()
    segments: Mapping[int, datetime] = field(default_factory=dict)  # segment id -> entered_at


def lead_row(project_id: int, values: Mapping[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "project_id": project_id,
        "tags": [],
        "custom": {},
        "created_at": T0,
        "updated_at": T0,
        "enrichment": sa.null(),
    }
    row.update(values)
    if row["enrichment"] is None:
        row["enrichment"] = sa.null()
    return row


def ensure_lists(conn: sa.Connection, project_id: int, list_ids: Iterable[int]) -> None:
    for list_id in sorted(set(list_ids)):
        exists = conn.execute(
            sa.select(lists.c.id).where(lists.c.project_id == project_id, lists.c.id == list_id)
        ).first()
        if exists is None:
            conn.execute(
                lists.insert().values(
                    id=list_id,
                    project_id=project_id,
                    name=f"list {list_id}",
                    created_at=T0,
                    updated_at=T0,
                )
            )


def add_segment(conn: sa.Connection, project_id: int, segment_id: int, data: Any) -> None:
    conn.execute(
        segments.insert().values(
            id=segment_id,
            project_id=project_id,
            name=f"segment {segment_id}",
            filter=data,
            created_at=T0,
            updated_at=T0,
        )
    )


def insert_leads(conn: sa.Connection, project_id: int, specs: Sequence[LeadSpec]) -> list[int]:
    """Insert the leads (and what hangs off them); returns their ids in order."""
    ensure_lists(conn, project_id, (i for spec in specs for i in spec.list_ids))
    ids: list[int] = []
    for spec in specs:
        values = dict(spec.values)
        if spec.account is not None:
            account = {"name": "Account", "metadata": {}, **spec.account}
            values["account_id"] = conn.execute(
                accounts.insert()
                .values(project_id=project_id, created_at=T0, updated_at=T0, **account)
                .returning(accounts.c.id)
            ).scalar_one()
        lead_id = conn.execute(
            leads.insert().values(lead_row(project_id, values)).returning(leads.c.id)
        ).scalar_one()
        ids.append(lead_id)
        event_rows = [
            {"project_id": project_id, "lead_id": lead_id, "metadata": {}, "created_at": T0, **e}
            for e in spec.events
        ]
        if event_rows:
            conn.execute(events.insert(), event_rows)
        member_rows = [
            {"project_id": project_id, "list_id": i, "lead_id": lead_id, "added_at": T0}
            for i in spec.list_ids
        ]
        if member_rows:
            conn.execute(list_members.insert(), member_rows)
        segment_rows = [
            {"project_id": project_id, "segment_id": i, "lead_id": lead_id, "entered_at": at}
            for i, at in spec.segments.items()
        ]
        if segment_rows:  # a maintained membership, as time in segment reads it
            conn.execute(segment_members.insert(), segment_rows)
    return ids


def index_matches(
    conn: sa.Connection,
    project: Project,
    node: Node,
    now: datetime,
    index: ProjectIndex | None = None,
) -> set[int]:
    """Ids the columnar index matches, built (or, given one, caught up) in `conn`'s own
    transaction, so it sees the rows the test has not committed."""
    if index is None:
        index = ProjectIndex(project.id)
        index.load(conn)
    with index.read_in(conn) as reader:
        audience, source = Audience((node,)), StoredSegments(conn, project.id)
        mask = reader.select(audience, project, now, source)
        # Answering for some rows only (the worker's few leads) gives the same answers.
        some = np.arange(0, len(mask), 2)
        assert (reader.select(audience, project, now, source, some) == mask[some]).all()
        return set(reader.ids(mask.nonzero()[0]))


def matches(
    conn: sa.Connection,
    project: Project,
    node: Node,
    now: datetime,
    lead_ids: Sequence[int],
    index: ProjectIndex | None = None,
) -> tuple[set[int], set[int]]:
    """(ids matched by SQL, ids matched by Python evaluation), among `lead_ids`; the columnar
    index must match exactly what Python does."""
    source = StoredSegments(conn, project.id)
    query = select_lead_ids(node, project, now, conn.dialect.name, source)
    sql = set(conn.execute(query).scalars()) & set(lead_ids)
    python = set()
    for lead_id in lead_ids:
        lead, lead_events = load_lead(conn, project.id, lead_id)
        matched = evaluate(node, lead, lead_events, now, project=project, segments=source)
        report = explain(node, lead, lead_events, now, project=project, segments=source)
        assert report["result"] == matched, report
        if matched:
            python.add(lead_id)
    indexed = index_matches(conn, project, node, now, index) & set(lead_ids)
    assert indexed == python, f"index {sorted(indexed)} != python {sorted(python)} for {node}"
    return sql, python


def check(
    db: Engine,
    project: Project,
    data: Any,
    specs: Sequence[LeadSpec],
    expected: Sequence[int],
    now: datetime,
) -> None:
    """Insert `specs`, then assert SQL and Python both match exactly the leads at `expected`."""
    with db.begin() as conn:
        ids = insert_leads(conn, project.id, specs)
        node = parse_filter(data, project, StoredSegments(conn, project.id))
        sql, python = matches(conn, project, node, now, ids)
    want = {ids[i] for i in expected}
    assert python == want, f"python {sorted(python)} != expected {sorted(want)} for {data}"
    assert sql == want, f"sql {sorted(sql)} != expected {sorted(want)} for {data}"


Case = tuple[str, Any, Sequence[str]]  # (op, value, labels of the leads expected to match)


def _negations() -> dict[str, str]:
    from segmint.filters import OPERATORS

    return {op.negates: op.key for op in OPERATORS.values() if op.negates}


def run_table(
    db: Engine,
    project: Project,
    field_name: str,
    leads_by_label: Mapping[str, LeadSpec],
    cases: Sequence[Case],
    now: datetime,
) -> None:
    """Each case on Python and SQL; its negated operator and `not` must give the complement."""
    labels = list(leads_by_label)
    failures: list[str] = []
    with db.begin() as conn:
        ids = dict(
            zip(labels, insert_leads(conn, project.id, list(leads_by_label.values())), strict=False)
        )
        label_of = {v: k for k, v in ids.items()}
        for op, value, expected in cases:
            for data, want in _variants(field_name, op, value, set(expected), set(labels)):
                node = parse_filter(data, project)
                sql, python = matches(conn, project, node, now, list(ids.values()))
                for backend, got in (("python", python), (conn.dialect.name, sql)):
                    got_labels = {label_of[i] for i in got}
                    if got_labels != want:
                        failures.append(
                            f"{backend}: {data} -> {sorted(got_labels)}, expected {sorted(want)}"
                        )
    assert not failures, "\n".join(failures)


def _variants(
    field_name: str, op: str, value: Any, expected: set[str], everyone: set[str]
) -> list[tuple[Any, set[str]]]:
    condition: dict[str, Any] = {"field": field_name, "op": op}
    if value is not None:
        condition["value"] = value
    out = [(condition, expected), ({"not": condition}, everyone - expected)]
    negated = _negations().get(op)
    if negated:
        out.append(({**condition, "op": negated}, everyone - expected))
    return out


@dataclass
class AccountSpec:
    """One account to insert, with its leads (their own `account` is ignored)."""

    values: Mapping[str, Any] = field(default_factory=dict)
    leads: Sequence[LeadSpec] = ()


def insert_accounts(
    conn: sa.Connection, project_id: int, specs: Sequence[AccountSpec]
) -> tuple[list[int], list[int]]:
    """Insert the accounts and their leads; returns (account ids, lead ids) in order."""
    account_ids: list[int] = []
    lead_ids: list[int] = []
    for spec in specs:
        values = {"name": "Account", "metadata": {}, "created_at": T0, **spec.values}
        account_id = conn.execute(
            accounts.insert()
            .values(project_id=project_id, updated_at=T0, **values)
            .returning(accounts.c.id)
        ).scalar_one()
        account_ids.append(account_id)
        people = [
            LeadSpec({**lead.values, "account_id": account_id}, None, lead.events, lead.list_ids)
            for lead in spec.leads
        ]
        lead_ids += insert_leads(conn, project_id, people)
    return account_ids, lead_ids


def add_account_segment(conn: sa.Connection, project_id: int, segment_id: int, data: Any) -> None:
    add_segment(conn, project_id, segment_id, data)
    conn.execute(
        segments.update()
        .where(segments.c.project_id == project_id, segments.c.id == segment_id)
        .values(audience="accounts")
    )


def account_matches(
    conn: sa.Connection, project: Project, node: Node, now: datetime, account_ids: Sequence[int]
) -> tuple[set[int], set[int]]:
    """(ids matched by SQL, ids matched by Python evaluation) among `account_ids`; the columnar
    index must match exactly what Python does, unless it declines the tree."""
    source = StoredSegments(conn, project.id)
    query = select_account_ids(node, project, now, conn.dialect.name, source)
    sql = set(conn.execute(query).scalars()) & set(account_ids)
    loaded = load_accounts(conn, project.id, account_ids)
    python = {
        i
        for i in account_ids
        if evaluate_account(node, loaded[i], now, project=project, segments=source)
    }
    index = ProjectIndex(project.id)  # built in `conn`'s transaction: the test's own rows
    index.load(conn)
    try:
        with index.read_in(conn) as reader:
            indexed = {int(i) for i in reader.account_ids(node, project, now, source)}
    except Declined:  # an account's created_at, which the index does not hold: SQL answers
        return sql, python
    indexed &= set(account_ids)
    assert indexed == python, f"index {sorted(indexed)} != python {sorted(python)} for {node}"
    return sql, python


def lead_matches_through_accounts(
    conn: sa.Connection, project: Project, node: Node, now: datetime, lead_ids: Sequence[int]
) -> tuple[set[int], set[int]]:
    """(SQL, Python) for a lead filter reaching account segments (`in_account_segment`); the
    columnar index must match what Python does, unless it declines the tree (an account
    filter on `created_at`, which it does not hold)."""
    source = StoredSegments(conn, project.id)
    query = select_lead_ids(node, project, now, conn.dialect.name, source)
    sql = set(conn.execute(query).scalars()) & set(lead_ids)
    python = set()
    for lead_id in lead_ids:
        lead, lead_events = load_lead(conn, project.id, lead_id)
        with_account_leads(conn, project.id, lead)
        if evaluate(node, lead, lead_events, now, project=project, segments=source):
            python.add(lead_id)
    try:
        indexed = index_matches(conn, project, node, now) & set(lead_ids)
    except Declined:
        return sql, python
    assert indexed == python, f"index {sorted(indexed)} != python {sorted(python)} for {node}"
    return sql, python
