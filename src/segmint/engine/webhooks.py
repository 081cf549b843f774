"""Webhook subscriptions to membership changes, and the queue that feeds their deliveries.

A change is queued for every active webhook listening to it in the same transaction as its
history row, so a change is never lost between the two and never queued without happening.
`segmint.worker.delivery` empties the queue over HTTP.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from segmint import outbound
from segmint.engine import triggered
from segmint.errors import InvalidInput, NotFound
from segmint.projects import Project
from segmint.store import bulk
from segmint.store.rows import WebhookRow
from segmint.store.tables import segments, webhook_attempts, webhook_queue, webhooks

EVENTS = {"segment.entered": "entered", "segment.exited": "exited"}  # event -> history change
EVENT_OF_CHANGE = {change: event for event, change in EVENTS.items()}
MAX_ATTEMPTS_PAGE = 200


# -- subscriptions --------------------------------------------------------------------------------


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def check_url(url: str, path: str = "url") -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("expected an absolute http:// or https:// URL", path)
    return url.strip()


def check_destination(url: str, path: str = "url") -> str:
    """A URL Segmint will POST to: http(s), to a host with only public addresses (unless the
    operator allows private ones). Delivery checks again at connect time: see outbound.py."""
    checked = check_url(url, path)
    problem = outbound.destination_problem(urlsplit(checked).hostname or "")
    if problem is not None:
        raise InvalidInput(problem, path)
    return checked


def check_events(events: Sequence[str]) -> list[str]:
    if not events:
        raise InvalidInput("name at least one event", "events")
    for i, event in enumerate(events):
        if event not in EVENTS:
            known = ", ".join(sorted(EVENTS))
            raise InvalidInput(f"unknown event {event!r}; expected one of {known}", f"events[{i}]")
    return sorted(set(events))


def check_segment(conn: sa.Connection, project: Project, segment_id: int | None) -> int | None:
    if segment_id is None:
        return None
    found = conn.execute(
        sa.select(segments.c.id).where(
            segments.c.project_id == project.id, segments.c.id == segment_id
        )
    ).first()
    if found is None:
        raise InvalidInput(f"no segment {segment_id} in this project", "segment_id")
    return segment_id


def get_webhook(conn: sa.Connection, project: Project, webhook_id: int) -> WebhookRow:
    row = conn.execute(
        sa.select(webhooks).where(webhooks.c.project_id == project.id, webhooks.c.id == webhook_id)
    ).first()
    if row is None:
        raise NotFound(f"no webhook {webhook_id}")
    return WebhookRow.of(row)


def all_webhooks(conn: sa.Connection, project: Project) -> list[WebhookRow]:
    query = sa.select(webhooks).where(webhooks.c.project_id == project.id).order_by(webhooks.c.id)
    return [WebhookRow.of(row) for row in conn.execute(query)]


def create_webhook(
    conn: sa.Connection,
    project: Project,
    fields: Mapping[str, Any],
    created_by: int | None,
    now: datetime,
) -> int:
    values = {
        "url": check_destination(fields["url"]),
        "events": check_events(fields.get("events") or list(EVENTS)),
        "segment_id": check_segment(conn, project, fields.get("segment_id")),
        "description": (fields.get("description") or "").strip(),
        "secret": fields.get("secret") or new_secret(),
        "active": fields.get("active", True),
    }
    result = conn.execute(
        webhooks.insert()
        .values(
            project_id=project.id,
            created_by=created_by,
            created_at=now,
            updated_at=now,
            **values,
        )
        .returning(webhooks.c.id)
    )
    return int(result.scalar_one())


def update_webhook(
    conn: sa.Connection, project: Project, webhook_id: int, fields: Mapping[str, Any], now: datetime
) -> None:
    get_webhook(conn, project, webhook_id)
    for name in ("url", "events", "active"):
        if name in fields and fields[name] is None:
            raise InvalidInput("may not be null", name)
    checks: dict[str, Callable[[Any], Any]] = {
        "url": check_destination,
        "events": check_events,
        "segment_id": lambda value: check_segment(conn, project, value),
        "description": lambda value: (value or "").strip(),
    }
    values = {name: checks.get(name, _same)(value) for name, value in fields.items()}
    if values.get("active"):  # switched back on: try at once, not at the last backoff's end
        values |= {"consecutive_failures": 0, "next_attempt_at": None}
    conn.execute(
        webhooks.update()
        .where(webhooks.c.project_id == project.id, webhooks.c.id == webhook_id)
        .values(updated_at=now, **values)
    )


def _same(value: Any) -> Any:
    return value


def rotate_secret(conn: sa.Connection, project: Project, webhook_id: int, now: datetime) -> str:
    get_webhook(conn, project, webhook_id)
    secret = new_secret()
    conn.execute(
        webhooks.update()
        .where(webhooks.c.project_id == project.id, webhooks.c.id == webhook_id)
        .values(secret=secret, updated_at=now)
    )
    return secret


def delete_webhook(conn: sa.Connection, project: Project, webhook_id: int) -> None:
    get_webhook(conn, project, webhook_id)
    for table in (webhook_queue, webhook_attempts):  # the foreign keys cascade too; be explicit
        conn.execute(
            table.delete().where(table.c.project_id == project.id, table.c.webhook_id == webhook_id)
        )
    conn.execute(
        webhooks.delete().where(webhooks.c.project_id == project.id, webhooks.c.id == webhook_id)
    )


def pending_counts(conn: sa.Connection, project: Project) -> dict[int, int]:
    """Changes waiting for each webhook of the project (one query)."""
    rows = conn.execute(
        sa.select(webhook_queue.c.webhook_id, sa.func.count())
        .where(webhook_queue.c.project_id == project.id)
        .group_by(webhook_queue.c.webhook_id)
    )
    return {int(webhook_id): int(count) for webhook_id, count in rows}


def attempts(
    conn: sa.Connection, project: Project, webhook_id: int, before: int | None, limit: int
) -> list[Any]:
    """The delivery log, newest first, keyset-paged by attempt id."""
    get_webhook(conn, project, webhook_id)
    query = (
        sa.select(webhook_attempts)
        .where(
            webhook_attempts.c.project_id == project.id,
            webhook_attempts.c.webhook_id == webhook_id,
        )
        .order_by(webhook_attempts.c.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(webhook_attempts.c.id < before)
    return list(conn.execute(query))


# -- queueing changes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Listeners:
    """A project's active webhooks, as needed to route changes: (id, segment or None, changes)."""

    hooks: tuple[tuple[int, int | None, frozenset[str]], ...] = field(default=())
    # Live campaigns' triggers: they too need the ids of the history rows they listen to.
    triggers: tuple[triggered.Trigger, ...] = field(default=())

    def of(self, segment_id: int, change: str) -> list[int]:
        return [
            hook_id
            for hook_id, hook_segment, changes in self.hooks
            if change in changes and hook_segment in (None, segment_id)
        ]

    def wants(self, segment_id: int, change: str) -> bool:
        """Whether a webhook or a campaign's trigger listens to this segment's change."""
        return bool(self.of(segment_id, change)) or any(
            t.segment_id == segment_id and t.change == change for t in self.triggers
        )

    def __bool__(self) -> bool:
        return bool(self.hooks) or bool(self.triggers)


def listeners(conn: sa.Connection, project_id: int) -> Listeners:
    rows = conn.execute(
        sa.select(webhooks.c.id, webhooks.c.segment_id, webhooks.c.events).where(
            webhooks.c.project_id == project_id, webhooks.c.active.is_(True)
        )
    )
    return Listeners(
        tuple(
            (row.id, row.segment_id, frozenset(EVENTS[e] for e in row.events if e in EVENTS))
            for row in rows
        ),
        triggered.live_triggers(conn, project_id),
    )


def queue(
    conn: sa.Connection,
    project_id: int,
    hooks: Listeners,
    changes: Iterable[tuple[int, int, str]],
    now: datetime,
) -> None:
    """Queue each (history_id, segment_id, change) for every webhook listening to it, and a
    pending send for every campaign trigger listening to it."""
    changes = list(changes)
    triggered.queue_sends(conn, project_id, hooks.triggers, changes)
    rows = [
        {
            "project_id": project_id,
            "webhook_id": hook_id,
            "history_id": history_id,
            "created_at": now,
        }
        for history_id, segment_id, change in changes
        for hook_id in hooks.of(segment_id, change)
    ]
    bulk.insert_rows(conn, webhook_queue, rows)


def queue_accounts(
    conn: sa.Connection,
    project_id: int,
    hooks: Listeners,
    changes: Iterable[tuple[int, int, str]],
    now: datetime,
) -> None:
    """Queue each (account history id, segment_id, change) of an account segment for every
    webhook listening to it (campaign triggers listen to lead segments only)."""
    rows = [
        {
            "project_id": project_id,
            "webhook_id": hook_id,
            "history_id": history_id,
            "audience": "accounts",
            "created_at": now,
        }
        for history_id, segment_id, change in changes
        for hook_id in hooks.of(segment_id, change)
    ]
    bulk.insert_rows(conn, webhook_queue, rows)
