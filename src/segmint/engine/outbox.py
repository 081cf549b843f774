"""The outbox, written side: the work a write causes, recorded in the write's own transaction,
so a write and the promise to maintain memberships after it commit or roll back together.

The worker takes items from it (`segmint.worker.outbox`) and applies them with the rules in
`engine/maintenance.py`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from segmint.store.tables import work_items


class Kind:
    LEADS = "leads"  # lead rows written or deleted; payload: lead_ids, columns, event_types
    SEGMENT = "segment"  # a segment created, edited or (re)activated; payload: segment_id, reason
    LIST = "list"  # list members changed; payload: list_id, lead_ids
    BULK = "bulk"  # a bulk action's next batch of leads; payload: bulk_action_id
    MANUAL = "manual"  # a segment's manual includes/excludes changed; segment_id, lead_ids, detail
    ACCOUNTS = (
        "accounts"  # accounts to re-evaluate in account segments; account_ids, reason, detail
    )


@dataclass(frozen=True)
class WorkItem:
    id: int
    project_id: int
    kind: str
    payload: dict[str, Any]
    created_at: datetime
    attempts: int


def enqueue(
    conn: sa.Connection, project_id: int, kind: str, payload: dict[str, Any], now: datetime
) -> None:
    conn.execute(
        work_items.insert().values(
            project_id=project_id, kind=kind, payload=payload, created_at=now
        )
    )


def leads_written(
    conn: sa.Connection,
    project_id: int,
    lead_ids: Iterable[int],
    now: datetime,
    columns: Iterable[str] | None = None,
    event_types: Iterable[str] = (),
) -> None:
    """Record that these leads changed (`columns` None: created or any column)."""
    ids = sorted(set(lead_ids))
    if not ids:
        return
    payload = {
        "lead_ids": ids,
        "columns": None if columns is None else sorted(set(columns)),
        "event_types": sorted(set(event_types)),
    }
    enqueue(conn, project_id, Kind.LEADS, payload, now)


def accounts_written(
    conn: sa.Connection,
    project_id: int,
    account_ids: Iterable[int | None],
    now: datetime,
    reason: str,
    detail: str | None = None,
) -> None:
    """Record that these accounts may have entered or left account segments: the account was
    written, or a lead left it (moved to another account, deleted), which the lead's own item
    can no longer tell once the lead row has changed."""
    ids = sorted({int(i) for i in account_ids if i is not None})
    if not ids:
        return
    payload = {"account_ids": ids, "reason": reason, "detail": detail}
    enqueue(conn, project_id, Kind.ACCOUNTS, payload, now)


def segments_awaiting_sync(conn: sa.Connection, project_id: int, after_id: int) -> set[int]:
    """Segments with a full sync queued after item `after_id`: smaller syncs can skip them."""
    rows = conn.execute(
        sa.select(work_items.c.payload).where(
            work_items.c.project_id == project_id,
            work_items.c.kind == Kind.SEGMENT,
            work_items.c.id > after_id,
        )
    )
    return {int(payload["segment_id"]) for (payload,) in rows}
