"""The rules of writing leads, whoever writes them (an import, the API, the demo): what a lead
record may hold (each field parsed and checked), how a record creates a lead or merges into the
stored one (custom fields and enrichment merged, a lead's creation time and best score kept),
and the outbox entries that tell the worker which columns moved. `segmint.ingest` reads files
and requests and batches them; this decides what a batch writes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple

import sqlalchemy as sa

from segmint.clock import as_utc
from segmint.engine import outbox, owners, scoring, values
from segmint.errors import InvalidInput
from segmint.model import LEAD_WRITABLE
from segmint.projects import Project
from segmint.storable import check_storable
from segmint.store.bulk import insert_returning_ids
from segmint.store.db import one_of
from segmint.store.tables import leads

OnConflict = Literal["update", "skip"]
# What an update needs of the stored lead to merge into it.
MERGE_COLUMNS = (
    leads.c.id,
    leads.c.email,
    leads.c.custom,
    leads.c.enrichment,
    leads.c.max_score,
    leads.c.last_activity_at,
    leads.c.account_id,  # the account a lead leaves: re-evaluated in account segments
)
ON_CONFLICT_CHOICES: tuple[OnConflict, ...] = ("update", "skip")


@dataclass
class LeadInput:
    """One validated lead record: only the fields the record provided."""

    location: int
    columns: dict[str, Any] = field(default_factory=dict)
    custom: dict[str, Any] = field(default_factory=dict)
    enrichment: dict[str, Any] | None = None  # a whole object: replaces what is stored
    enrichment_paths: dict[str, Any] = field(default_factory=dict)  # merged into what is stored

    @property
    def email(self) -> str | None:
        email = self.columns.get("email")
        return email if isinstance(email, str) else None


def prepare_lead(
    location: int, record: Mapping[str, Any], project: Project, keep_blank: bool = False
) -> LeadInput:
    """Validate a record keyed by target field (`email`, `custom.plan`, `enrichment.company.size`).

    Blank values are dropped (an empty CSV cell does not erase stored data) unless `keep_blank`,
    where they clear the field (the API's explicit null). All field errors of the record are
    reported together.
    """
    check_storable(dict(record))  # first: parsers' messages may quote the value
    lead = LeadInput(location)
    problems: list[InvalidInput] = []
    for target, raw in record.items():
        if values.is_blank(raw) and not keep_blank:
            continue
        try:
            _take(lead, target, raw, project)
        except InvalidInput as exc:
            problems.extend(exc.problems or [exc])
    _raise_all(problems)
    _split_full_name(lead)
    return lead


def _take(lead: LeadInput, target: str, raw: Any, project: Project) -> None:
    if target in LEAD_WRITABLE:
        lead.columns[target] = values.parse_column(target, raw, project)
    elif target == "name":
        lead.columns["name"] = values.parse_text(raw, "name")
    elif target == "custom":
        _take_custom(lead, values.parse_json_object(raw, "custom") or {}, project)
    elif target.startswith("custom."):
        key = target[len("custom.") :]
        definition = project.custom_fields.get(key)
        if definition is None:
            raise InvalidInput(f"no custom field {key!r}: declare it first", target)
        lead.custom[key] = values.parse_custom(raw, definition, target)
    elif target == "enrichment":
        lead.enrichment = values.parse_json_object(raw, "enrichment") or {}
    elif target.startswith("enrichment.") and len(target) > len("enrichment."):
        lead.enrichment_paths[target[len("enrichment.") :]] = values.parse_json_scalar(raw, target)
    else:
        raise InvalidInput("unknown field", target)


def _take_custom(lead: LeadInput, record: dict[str, Any], project: Project) -> None:
    """Every custom value, each bad one reported (not only the first)."""
    problems: list[InvalidInput] = []
    for key, value in record.items():
        try:
            _take(lead, f"custom.{key}", value, project)
        except InvalidInput as exc:
            problems.append(exc)
    _raise_all(problems)


def _raise_all(problems: list[InvalidInput]) -> None:
    """One problem as it is; several as one error that also keeps each, so a form can show
    each beside the field it names."""
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise InvalidInput("; ".join(str(p) for p in problems), problems=problems)


def _split_full_name(lead: LeadInput) -> None:
    full = lead.columns.pop("name", None)
    if full and "first_name" not in lead.columns and "last_name" not in lead.columns:
        lead.columns["first_name"], lead.columns["last_name"] = values.split_name(full)


class Upserted(NamedTuple):
    created: int
    updated: int
    skipped: int
    unassigned: list[tuple[int, str]]  # (location, owner) of rows written without their owner


def upsert(
    conn: sa.Connection,
    project: Project,
    batch: list[LeadInput],
    on_conflict: OnConflict,
    now: datetime,
) -> Upserted:
    """Write one batch of validated records in the caller's transaction: a record whose email
    matches a stored lead updates it (or is skipped, with `on_conflict="skip"`), any other
    creates a lead; every written lead is queued for membership maintenance. An owner who is
    not a user of the organization is left out of its record (reported, the row kept)."""
    unassigned = _drop_unknown_owners(conn, project, batch)
    stored = _stored_by_email(conn, project, [lead.email for lead in batch if lead.email])
    bands = scoring.levels(conn, project)
    inserts: list[dict[str, Any]] = []
    updates: dict[frozenset[str], list[dict[str, Any]]] = defaultdict(list)
    skipped = 0
    left: list[int | None] = []
    for lead in batch:
        existing = stored.get(lead.email) if lead.email else None
        if existing is None:
            inserts.append(insert_values(lead, project.id, now, bands))
        elif on_conflict == "skip":
            skipped += 1
        else:
            row = update_values(lead, existing, project.id, now, bands)
            updates[frozenset(row)].append(row)
            left.append(account_left(existing, row))
    if inserts:
        new_ids = insert_returning_ids(conn, leads, inserts)
        outbox.leads_written(conn, project.id, new_ids, now)
    for keys, rows in updates.items():
        conn.execute(update_statement(keys), rows)
        changed = [row["b_id"] for row in rows]
        outbox.leads_written(conn, project.id, changed, now, written_columns(keys))
    record_accounts_left(conn, project.id, left, now)
    return Upserted(len(inserts), sum(len(rows) for rows in updates.values()), skipped, unassigned)


def _drop_unknown_owners(
    conn: sa.Connection, project: Project, batch: list[LeadInput]
) -> list[tuple[int, str]]:
    named = {owner for lead in batch if isinstance(owner := lead.columns.get(owners.OWNER), str)}
    strangers = owners.unknown(conn, project, named)
    dropped = []
    for lead in batch:
        if lead.columns.get(owners.OWNER) in strangers:
            dropped.append((lead.location, lead.columns.pop(owners.OWNER)))
    return dropped


def _stored_by_email(conn: sa.Connection, project: Project, emails: list[str]) -> dict[str, Any]:
    if not emails:
        return {}
    query = sa.select(*MERGE_COLUMNS).where(
        leads.c.project_id == project.id, leads.c.email.in_(emails)
    )
    return {row.email: row for row in conn.execute(lock_for_merge(conn, query))}


def lock_for_merge(conn: sa.Connection, query: sa.Select[Any]) -> sa.Select[Any]:
    """Rows read to merge into (custom, enrichment, max_score) stay locked until the write:
    a concurrent writer waits instead of being overwritten. On SQLite, taking the database's
    write lock first does the same (its reads lock nothing)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("UPDATE projects SET id = id WHERE 0")  # a write: the lock, no change
    return query.with_for_update(of=leads)


def insert_values(
    lead: LeadInput, project_id: int, now: datetime, bands: scoring.Levels
) -> dict[str, Any]:
    """A full row for a new lead: the record's fields over the defaults, its engagement level
    the band its score falls in (a level given outright is kept: the next rescore decides)."""
    row: dict[str, Any] = dict.fromkeys(LEAD_WRITABLE)
    row.update(lead.columns)
    score = row["engagement_score"] or 0.0
    row.update(
        project_id=project_id,
        tags=row["tags"] or [],
        engagement_score=score,
        max_score=max(score, row["max_score"] or 0.0),
        engagement_level=row["engagement_level"] or scoring.level_of(score, bands),
        custom=_merged_custom(lead, None),
        enrichment=_merged_enrichment(lead, None),
        created_at=row["created_at"] or now,
        updated_at=now,
    )
    return row


def account_left(existing: Any, row: dict[str, Any]) -> int | None:
    """The account a stored lead leaves with this update (`update_values`' row), if any."""
    if "account_id" not in row or existing.account_id in (None, row["account_id"]):
        return None
    return int(existing.account_id)


def record_accounts_left(
    conn: sa.Connection, project_id: int, left: list[int | None], now: datetime
) -> None:
    """The accounts leads moved out of, for the account segments: the leads' own items see
    only the accounts they are in by then."""
    outbox.accounts_written(conn, project_id, left, now, "lead_write", "lead moved account")


def record_accounts_of_deleted(
    conn: sa.Connection, project: Project, lead_ids: list[int], now: datetime
) -> None:
    """Before leads are deleted: their accounts lose a lead, which may move them in or out
    of account segments (the lead's row, and with it its account, is gone by then)."""
    left = conn.execute(
        sa.select(leads.c.account_id)
        .where(
            leads.c.project_id == project.id,
            one_of(leads.c.id, lead_ids, conn.dialect.name),
            leads.c.account_id.is_not(None),
        )
        .distinct()
    ).scalars()
    outbox.accounts_written(conn, project.id, left, now, "lead_write", "lead deleted")


def update_values(
    lead: LeadInput, existing: Any, project_id: int, now: datetime, bands: scoring.Levels
) -> dict[str, Any]:
    """The changed columns of a stored lead, keyed for `update_statement`; a written score
    brings its level unless the record gives one."""
    row = dict(lead.columns)
    row.pop("created_at", None)  # a lead's creation time is kept from its first import
    if "tags" in row and row["tags"] is None:
        row["tags"] = []
    if "engagement_score" in row and row["engagement_score"] is None:
        row["engagement_score"] = 0.0  # an explicit null resets the score
    if lead.custom:
        row["custom"] = _merged_custom(lead, existing.custom)
    if lead.enrichment is not None or lead.enrichment_paths:
        row["enrichment"] = _merged_enrichment(lead, existing.enrichment)
    if row.get("engagement_score") is not None:
        row["max_score"] = max(existing.max_score, row["engagement_score"])
        if "engagement_level" not in row:
            row["engagement_level"] = scoring.level_of(row["engagement_score"], bands)
    if row.get("last_activity_at") and existing.last_activity_at:
        row["last_activity_at"] = max(row["last_activity_at"], as_utc(existing.last_activity_at))
    row.update(b_project_id=project_id, b_id=existing.id, updated_at=now)
    return row


def _merged_custom(lead: LeadInput, stored: dict[str, Any] | None) -> dict[str, Any]:
    """The record's custom values over the stored ones; a null removes its key, so a cleared
    field reads as never set (filters treat both as null) rather than as a stored null."""
    merged = {**(stored or {}), **lead.custom}
    return {key: value for key, value in merged.items() if value is not None}


def _merged_enrichment(lead: LeadInput, stored: dict[str, Any] | None) -> dict[str, Any] | None:
    base = lead.enrichment if lead.enrichment is not None else stored
    if not lead.enrichment_paths:
        return base
    merged = dict(base or {})
    for path, value in lead.enrichment_paths.items():
        values.set_path(merged, path, value)
    return merged


def written_columns(keys: frozenset[str]) -> set[str]:
    """The lead columns an update row (from `update_values`) writes."""
    return set(keys) - {"b_project_id", "b_id", "updated_at"}


def update_statement(keys: frozenset[str]) -> sa.Update:
    columns = sorted(keys - {"b_project_id", "b_id"})
    return (
        leads.update()
        .where(
            leads.c.project_id == sa.bindparam("b_project_id"), leads.c.id == sa.bindparam("b_id")
        )
        .values({name: sa.bindparam(name) for name in columns})
    )
