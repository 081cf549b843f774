"""Webhook delivery: queued membership changes POSTed in batches, signed, retried, logged.

Each webhook is delivered in order, oldest change first. A worker leases a webhook (so several
workers never send its batches side by side), POSTs up to `batch` changes, and only then, in one
transaction, logs the attempt and removes the acknowledged changes from the queue. A failure (an
error status, a refused connection, a timeout) leaves the changes queued and backs the whole
webhook off exponentially, so a receiver that is down for a while gets everything once it is
back. If a worker dies between the receiver's 2xx and the commit, the batch is sent again: each
change carries an idempotency key for the receiver to drop what it has already seen.

Signature: see `segmint.signing`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint import __version__, outbound
from segmint.clock import SYSTEM_CLOCK, Clock, as_utc
from segmint.engine.webhooks import EVENT_OF_CHANGE
from segmint.signing import SIGNATURE_HEADER, sign
from segmint.store.claims import holder_name
from segmint.store.tables import (
    account_membership_history,
    accounts,
    leads,
    membership_history,
    segments,
    webhook_attempts,
    webhook_queue,
    webhooks,
)
from segmint.store.timeouts import WorkerLimits
from segmint.worker.polling import poll_forever

log = logging.getLogger("segmint.delivery")

BATCH = 100  # changes per POST
TIMEOUT = 10.0  # seconds a receiver has to answer
LEASE = timedelta(minutes=1)  # renewed after every batch
BACKOFF_BASE = timedelta(seconds=10)  # 10 s, 20 s, 40 s ... after consecutive failures
BACKOFF_MAX = timedelta(hours=1)
IDLE_SLEEP = 0.5


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: int
    retry_after: float | None = None  # seconds the receiver asked us to wait


@dataclass
class Deliverer:
    engine: Engine
    clock: Clock = SYSTEM_CLOCK
    name: str = ""
    batch: int = BATCH
    timeout: float = TIMEOUT
    backoff_base: timedelta = BACKOFF_BASE
    backoff_max: timedelta = BACKOFF_MAX
    lease: timedelta = LEASE
    batches_per_lease: int = 20  # then the webhook goes back, so no receiver hogs a worker
    # Background statements give up instead of holding locks for minutes (store/timeouts.py).
    limits: WorkerLimits = field(default_factory=WorkerLimits.from_env)
    _client: httpx.Client | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.name = self.name or holder_name()

    def run_once(self) -> int:
        """Deliver to every webhook that is due; returns how many changes were acknowledged."""
        return sum(self._deliver(hook) for hook in self._claim())

    def drain(self, limit: int = 1000) -> int:
        """Deliver until nothing more is acknowledged (tests, `worker --once`)."""
        total = 0
        for _ in range(limit):
            delivered = self.run_once()
            if not delivered:
                break
            total += delivered
        return total

    def run_forever(self, stop: threading.Event) -> None:
        poll_forever(stop, self.run_once, IDLE_SLEEP, "webhook delivery")
        self.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- one webhook ------------------------------------------------------------------------------

    def _claim(self) -> list[Any]:
        """Lease the webhooks that have changes waiting and are not backing off."""
        now = self.clock.now()
        waiting = sa.exists().where(
            webhook_queue.c.project_id == webhooks.c.project_id,
            webhook_queue.c.webhook_id == webhooks.c.id,
        )
        query = (
            sa.select(webhooks)
            .where(
                webhooks.c.active.is_(True),
                sa.or_(webhooks.c.next_attempt_at.is_(None), webhooks.c.next_attempt_at <= now),
                sa.or_(webhooks.c.leased_until.is_(None), webhooks.c.leased_until < now),
                waiting,
            )
            .order_by(webhooks.c.id)
            .limit(10)
            .with_for_update(skip_locked=True, of=webhooks)
        )
        with self.limits.transaction(self.engine) as conn:
            hooks = list(conn.execute(query))
            if hooks:
                conn.execute(
                    webhooks.update()
                    .where(webhooks.c.id.in_([hook.id for hook in hooks]))
                    .values(leased_by=self.name, leased_until=now + self.lease)
                )
        return hooks

    def _deliver(self, hook: Any) -> int:
        delivered = 0
        try:
            for _ in range(self.batches_per_lease):
                with self.engine.connect() as conn:
                    changes = _pending(conn, hook, self.batch)
                if not changes:
                    break
                body = _body(hook, changes, self.clock.now())
                outcome = self._post(hook, body)
                self._settle(hook, changes, outcome)
                if not outcome.ok:
                    break
                delivered += len(changes)
        finally:
            self._release(hook)
        return delivered

    def _post(self, hook: Any, body: bytes) -> Outcome:
        if self._client is None:
            self._client = outbound.client(self.timeout)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"Segmint-Webhooks/{__version__}",
            "X-Segmint-Webhook-Id": str(hook.id),
            SIGNATURE_HEADER: sign(hook.secret, body),
        }
        started = time.monotonic()
        try:
            response = self._client.post(hook.url, content=body, headers=headers)
        except httpx.TimeoutException:
            return Outcome(False, None, f"timed out after {self.timeout:g} s", _ms(started))
        except httpx.HTTPError as exc:
            return Outcome(False, None, f"{type(exc).__name__}: {exc}", _ms(started))
        if response.is_success:
            return Outcome(True, response.status_code, None, _ms(started))
        # The status alone: a body could carry what an internal service answered to us.
        error = f"HTTP {response.status_code}"
        retry_after = _seconds(response.headers.get("retry-after"))
        return Outcome(False, response.status_code, error, _ms(started), retry_after)

    def _settle(self, hook: Any, changes: list[Any], outcome: Outcome) -> None:
        """Log the attempt and, on success, drop the acknowledged changes: one transaction."""
        now = self.clock.now()
        with self.limits.transaction(self.engine) as conn:
            conn.execute(
                webhook_attempts.insert().values(
                    project_id=hook.project_id,
                    webhook_id=hook.id,
                    attempted_at=now,
                    duration_ms=outcome.duration_ms,
                    succeeded=outcome.ok,
                    status_code=outcome.status_code,
                    error=outcome.error[:1000] if outcome.error else None,
                    history_ids=_history_ids(changes, "leads"),
                    account_history_ids=_history_ids(changes, "accounts"),
                )
            )
            this_hook = sa.and_(webhooks.c.project_id == hook.project_id, webhooks.c.id == hook.id)
            if outcome.ok:
                conn.execute(
                    webhook_queue.delete().where(
                        webhook_queue.c.project_id == hook.project_id,
                        webhook_queue.c.id.in_([change.queue_id for change in changes]),
                    )
                )
                conn.execute(
                    webhooks.update()
                    .where(this_hook)
                    .values(
                        consecutive_failures=0,
                        next_attempt_at=None,
                        leased_until=now + self.lease,
                    )
                )
                return
            failures = int(
                conn.execute(sa.select(webhooks.c.consecutive_failures).where(this_hook)).scalar()
                or 0
            )
            conn.execute(
                webhooks.update()
                .where(this_hook)
                .values(
                    consecutive_failures=failures + 1,
                    next_attempt_at=now + self._backoff(failures + 1, outcome.retry_after),
                )
            )
        log.warning("webhook %s: %s (attempt %s)", hook.id, outcome.error, failures + 1)

    def _backoff(self, failures: int, retry_after: float | None) -> timedelta:
        delay: timedelta = self.backoff_base * 2 ** min(failures - 1, 20)
        if retry_after is not None:
            delay = max(delay, timedelta(seconds=retry_after))
        return delay if delay < self.backoff_max else self.backoff_max

    def _release(self, hook: Any) -> None:
        with self.limits.transaction(self.engine) as conn:
            conn.execute(
                webhooks.update()
                .where(
                    webhooks.c.project_id == hook.project_id,
                    webhooks.c.id == hook.id,
                    webhooks.c.leased_by == self.name,
                )
                .values(leased_by=None, leased_until=None)
            )


def _history_ids(changes: list[Any], audience: str) -> list[int]:
    """The history rows of one audience's changes in a batch (each history numbers its own)."""
    return [change.history_id for change in changes if change.audience == audience]


def _pending(conn: sa.Connection, hook: Any, limit: int) -> list[Any]:
    """The oldest queued changes of a webhook, lead and account segments' alike, in queue
    order, with what a receiver needs to act on them (two queries, one per history)."""
    found = [*_pending_leads(conn, hook, limit), *_pending_accounts(conn, hook, limit)]
    return sorted(found, key=lambda change: change.queue_id)[:limit]


def _queued(hook: Any, audience: str) -> sa.ColumnElement[bool]:
    q = webhook_queue.c
    return sa.and_(q.project_id == hook.project_id, q.webhook_id == hook.id, q.audience == audience)


def _pending_of(
    conn: sa.Connection,
    hook: Any,
    limit: int,
    audience: str,
    history: sa.Table,
    member: sa.Table,
    member_id: str,
    member_columns: tuple[sa.ColumnElement[Any], ...],
) -> list[Any]:
    """The hook's queued changes of one audience, oldest first: each queue row with its history
    row, the segment's name and the member's columns (outer joins: either may be gone)."""
    joined = (
        webhook_queue.join(
            history,
            sa.and_(
                history.c.project_id == webhook_queue.c.project_id,
                history.c.id == webhook_queue.c.history_id,
            ),
        )
        .outerjoin(
            segments,
            sa.and_(
                segments.c.project_id == history.c.project_id,
                segments.c.id == history.c.segment_id,
            ),
        )
        .outerjoin(
            member,
            sa.and_(
                member.c.project_id == history.c.project_id,
                member.c.id == history.c[member_id],
            ),
        )
    )
    query = (
        sa.select(
            webhook_queue.c.id.label("queue_id"),
            webhook_queue.c.audience,
            history.c.id.label("history_id"),
            history.c.segment_id,
            history.c[member_id],
            history.c.change,
            history.c.at,
            history.c.segment_version,
            history.c.reason,
            history.c.detail,
            segments.c.name.label("segment_name"),
            *member_columns,
        )
        .select_from(joined)
        .where(_queued(hook, audience))
        .order_by(webhook_queue.c.id)
        .limit(limit)
    )
    return list(conn.execute(query))


def _pending_leads(conn: sa.Connection, hook: Any, limit: int) -> list[Any]:
    person = (leads.c.email, leads.c.first_name, leads.c.last_name, leads.c.company)
    return _pending_of(conn, hook, limit, "leads", membership_history, leads, "lead_id", person)


def _pending_accounts(conn: sa.Connection, hook: Any, limit: int) -> list[Any]:
    company = (accounts.c.name.label("account_name"), accounts.c.domain.label("account_domain"))
    history = account_membership_history
    return _pending_of(conn, hook, limit, "accounts", history, accounts, "account_id", company)


def _member(change: Any) -> tuple[str, dict[str, Any]]:
    """The member a change is about: a lead, or an account (an account segment's change)."""
    if change.audience == "accounts":
        return "account", {
            "id": change.account_id,
            "name": change.account_name,
            "domain": change.account_domain,
        }
    return "lead", {
        "id": change.lead_id,
        "email": change.email,
        "first_name": change.first_name,
        "last_name": change.last_name,
        "company": change.company,
    }


def _idempotency_key(change: Any) -> str:
    # The two histories number their rows independently: an account change's key says so.
    prefix = "achg" if change.audience == "accounts" else "chg"
    return f"{prefix}_{change.history_id}"


def _change(change: Any) -> dict[str, Any]:
    kind, member = _member(change)
    return {
        "id": change.history_id,
        "idempotency_key": _idempotency_key(change),
        "event": EVENT_OF_CHANGE[change.change],
        "at": _iso(change.at),
        "reason": change.reason,
        "detail": change.detail,
        "segment": {
            "id": change.segment_id,
            "name": change.segment_name,
            "version": change.segment_version,
        },
        kind: member,
    }


def _body(hook: Any, changes: list[Any], now: datetime) -> bytes:
    payload = {
        "webhook_id": hook.id,
        "project_id": hook.project_id,
        "sent_at": _iso(now),
        "changes": [_change(change) for change in changes],
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def _iso(moment: datetime) -> str:
    return as_utc(moment).isoformat().replace("+00:00", "Z")


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _seconds(header: str | None) -> float | None:
    """A Retry-After given in seconds (the HTTP-date form is ignored: backoff applies)."""
    try:
        return max(float(header), 0.0) if header else None
    except ValueError:
        return None
