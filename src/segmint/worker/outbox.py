"""The outbox, taking side: the worker claims work items for a lease, does their work and
deletes them in one transaction, so a crash anywhere leaves either nothing done or everything
done. That transaction locks the items (`hold`), so work under way is never taken over; an
expired lease lets another worker pick up an item whose work had not started. On PostgreSQL
`FOR UPDATE SKIP LOCKED` lets several workers claim disjoint items; SQLite runs one worker
(and renders no locking clause).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from segmint.engine.outbox import WorkItem
from segmint.store.tables import work_items

LEASE = timedelta(minutes=2)  # the default; `segmint worker --lease` sets a worker's own
BATCH = 50  # items a claim takes, by default (`segmint worker --batch`)


def claim(
    conn: sa.Connection,
    worker: str,
    now: datetime,
    limit: int = BATCH,
    lease: timedelta = LEASE,
) -> list[WorkItem]:
    """Lease up to `limit` unclaimed (or lease-expired) items, oldest first, until now + lease.

    Items whose work is under way are skipped however old their lease: `hold` keeps them
    locked (PostgreSQL)."""
    free = sa.or_(work_items.c.claimed_until.is_(None), work_items.c.claimed_until < now)
    pick = (
        sa.select(work_items.c.id)
        .where(free)
        .order_by(work_items.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list(conn.execute(pick).scalars())
    if not ids:
        return []
    # `free` again: on SQLite the SELECT locks nothing, and an item may have been claimed since.
    rows = conn.execute(
        work_items.update()
        .where(work_items.c.id.in_(ids), free)
        .values(
            claimed_by=worker,
            claimed_until=now + lease,
            attempts=work_items.c.attempts + 1,
        )
        .returning(*work_items.c)
    ).all()
    items = [
        WorkItem(r.id, r.project_id, r.kind, r.payload, r.created_at, r.attempts) for r in rows
    ]
    return sorted(items, key=lambda item: item.id)


def hold(conn: sa.Connection, items: list[WorkItem], worker: str) -> bool:
    """At the start of the transaction doing these items' work: whether this worker still
    holds their claims. On PostgreSQL they stay locked until that transaction ends, and claims
    skip locked items, so work under way is never taken over however long it outlasts the
    lease (taken over, it was redone elsewhere and the first worker's work rolled back; work
    longer than the lease was taken over again and again and never done). A killed worker's
    locks go with its connection; the lease then covers only items it claimed and had not
    started."""
    ids = sorted(item.id for item in items)
    query = (
        sa.select(work_items.c.id)
        .where(work_items.c.id.in_(ids), work_items.c.claimed_by == worker)
        .order_by(work_items.c.id)
        .with_for_update()
    )
    return len(conn.execute(query).all()) == len(ids)


def complete(conn: sa.Connection, item: WorkItem, worker: str) -> bool:
    """Delete a done item, if this worker still holds it (a lost lease means someone else will)."""
    result = conn.execute(
        work_items.delete().where(work_items.c.id == item.id, work_items.c.claimed_by == worker)
    )
    return bool(result.rowcount)


def fail(conn: sa.Connection, item: WorkItem, worker: str, error: str, retry_at: datetime) -> None:
    """Leave a failed item for a retry at `retry_at`, unless another worker holds it now."""
    conn.execute(
        work_items.update()
        .where(work_items.c.id == item.id, work_items.c.claimed_by == worker)
        .values(claimed_until=retry_at, last_error=error[:1000])
    )


def pending(conn: sa.Connection) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(work_items)).scalar() or 0)
