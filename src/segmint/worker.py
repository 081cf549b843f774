"""`segmint worker`: does what writes leave in the outbox (membership maintenance), and beside
it time sweeps, webhook delivery and campaign runs.

Each item is processed in one transaction together with its deletion, so it takes effect once
whatever crashes. `segmint serve` runs the same loop in a thread unless `--no-worker`. Any
number of workers share a PostgreSQL database; SQLite runs one (`worker_lock`).
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.clock import SYSTEM_CLOCK, Clock
from segmint.engine import account_levels, fit, membership, outbox, scoring, time_sweep
from segmint.engine.dependencies import ReadSet
from segmint.engine.membership import Changes, Reason
from segmint.projects import Project, get_project_by_id
from segmint.store.timeouts import WorkerLimits
from segmint.worker_lock import AnotherWorkerRunning, lock_sole_worker

if TYPE_CHECKING:  # delivery and sender import this module: import them only where used
    from segmint.campaigns.sender import Sender
    from segmint.delivery import Deliverer

log = logging.getLogger("segmint.worker")
IDLE_SLEEP = 0.2  # seconds between polls when there is nothing to do
RETRY_BASE = timedelta(seconds=5)
GROUP_LEADS = 2000  # leads per grouped sync: IN lists stay well under SQLite's variable limit


NAME_LENGTH = 64  # work_items.claimed_by
SWEEP_RETRY_CAP = 6  # a failing segment's sweep is retried after 20 s, 40 s, ... at most ~11 min


def worker_name() -> str:
    """`host:pid:random`: unique to one Worker even where containers share a host name and a
    pid, and cut to fit `work_items.claimed_by` (a Kubernetes pod's host name alone may be 63
    characters; a longer name made every claim fail on PostgreSQL)."""
    tail = f":{os.getpid()}:{secrets.token_hex(4)}"
    return socket.gethostname()[: NAME_LENGTH - len(tail)] + tail


@dataclass
class Worker:
    engine: Engine
    clock: Clock = SYSTEM_CLOCK
    name: str = ""
    batch: int = outbox.BATCH
    lease: timedelta = outbox.LEASE  # a killed worker's claimed items are retaken after this
    limits: WorkerLimits = field(default_factory=WorkerLimits.from_env)
    # Segments whose last sweep failed: (failures in a row, not to be swept again before).
    _sweep_retries: dict[int, tuple[int, datetime]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.name = self.name or worker_name()
        if len(self.name) > NAME_LENGTH:
            raise ValueError(f"a worker name has at most {NAME_LENGTH} characters")

    def _transaction(self) -> AbstractContextManager[sa.Connection]:
        return self.limits.transaction(self.engine)

    def run_once(self) -> int:
        """Claim and process one batch; returns how many items were done."""
        with self._transaction() as conn:
            items = outbox.claim(conn, self.name, self.clock.now(), self.batch, self.lease)
        done = 0
        for group in _groups(items):
            done += self._process_group(group) if len(group) > 1 else self._process(group[0])
        return done

    def drain(self, limit: int = 10_000) -> int:
        """Process until the outbox is empty (tests, `worker --once`)."""
        total = 0
        while total < limit:
            done = self.run_once()
            if not done:
                return total
            total += done
        return total

    def sweep_time(self) -> Changes:
        """Apply the time-based entries and exits of every active segment that is due, the
        projects taking turns. A segment whose sweep fails (its statement cancelled by the
        timeout, a lock not had in time) is retried later with backoff, and its project's other
        segments wait for the next pass: one project's trouble delays the others by one
        timeout at most."""
        now = self.clock.now()
        with self._transaction() as conn:
            due = time_sweep.due_segments(conn, now)
        changes = Changes()
        failed_projects: set[int] = set()
        for project_id, segment_id in taking_turns(due):
            if project_id in failed_projects or not self._sweep_due(segment_id, now):
                continue
            try:
                with self._transaction() as conn:
                    project = get_project_by_id(conn, project_id)
                    changes += time_sweep.sweep_segment(conn, project, segment_id, now)
                self._sweep_retries.pop(segment_id, None)
            except Exception:  # one broken segment must not stop the others' sweeps
                log.exception("time sweep of segment %s failed", segment_id)
                failed_projects.add(project_id)
                self._sweep_later(segment_id, now)
        return changes

    def _sweep_due(self, segment_id: int, now: datetime) -> bool:
        retry = self._sweep_retries.get(segment_id)
        return retry is None or retry[1] <= now

    def _sweep_later(self, segment_id: int, now: datetime) -> None:
        failures = self._sweep_retries.get(segment_id, (0, now))[0] + 1
        wait = time_sweep.SWEEP_EVERY * 2 ** min(failures, SWEEP_RETRY_CAP)
        self._sweep_retries[segment_id] = (failures, now + wait)
        log.warning("time sweep of segment %s: retried in %s", segment_id, wait)

    def sweep_scores(self) -> int:
        """Rescore the projects whose scoring changed or decays (engine/scoring.py)."""
        now = self.clock.now()
        with self.engine.connect() as conn:
            due = scoring.due_projects(conn, now)
        changed = 0
        for project_id in due:
            try:
                changed += scoring.sweep(self.engine, project_id, now, _after_scoring_change)
            except Exception:  # one project's broken rule must not stop the others
                log.exception("score sweep of project %s failed", project_id)
        return changed

    def sweep_forever(self, stop: threading.Event) -> None:
        """Sweep every SWEEP_EVERY, in a thread of its own: a sweep catching up on minutes of
        time-based changes over millions of leads takes seconds, which write-driven syncs (the
        1 s promise) must not wait for."""
        while not stop.is_set():
            started = time.monotonic()
            try:
                self.sweep_time()
                self.sweep_scores()
            except sa.exc.OperationalError as exc:  # database restarting: wait, then go on
                log.warning("database unavailable, retrying: %s", exc.orig)
            elapsed = time.monotonic() - started
            stop.wait(max(time_sweep.SWEEP_EVERY.total_seconds() - elapsed, 1.0))

    def run_forever(self, stop: threading.Event) -> None:
        """Process the outbox until `stop` is set (time sweeps run in `sweep_forever`)."""
        poll_forever(stop, self.run_once, IDLE_SLEEP, "outbox processing")

    def _process(self, item: outbox.WorkItem) -> int:
        try:
            with self._transaction() as conn:
                if not outbox.hold(conn, [item], self.name):
                    raise LeaseLost(item.id)
                project = get_project_by_id(conn, item.project_id)
                apply(conn, project, item, self.clock)
                if not outbox.complete(conn, item, self.name):
                    raise LeaseLost(item.id)
            log.debug("work item %s done", item.id)
            return 1
        except LeaseLost:
            log.info("work item %s: lease lost, another worker has it", item.id)
            return 0
        except Exception as exc:
            log.exception("work item %s failed", item.id)
            retry_at = self.clock.now() + RETRY_BASE * (2 ** min(item.attempts, 8))
            with self._transaction() as conn:
                outbox.fail(conn, item, self.name, f"{type(exc).__name__}: {exc}", retry_at)
            return 0

    def _process_group(self, group: list[outbox.WorkItem]) -> int:
        """Lead writes of one project together: each touched segment syncs once for all their
        leads, instead of once per item (the cost of a sync is mostly per segment, not per
        lead). Any failure falls back to one item at a time, so one bad item blocks no other."""
        try:
            with self._transaction() as conn:
                if not outbox.hold(conn, group, self.name):
                    raise LeaseLost(group[0].id)  # each item alone: the others may be ours
                project = get_project_by_id(conn, group[0].project_id)
                apply_lead_writes(conn, project, group, self.clock.now())
                for item in group:
                    if not outbox.complete(conn, item, self.name):
                        raise LeaseLost(item.id)
            for item in group:
                log.debug("work item %s done", item.id)
            return len(group)
        except Exception:
            return sum(self._process(item) for item in group)


def _after_scoring_change(engine: Engine, project: Project, now: datetime) -> int:
    """Rules, bands or rollup changed: after every lead's score, every lead's fit and every
    account's levels."""
    return fit.refit_all(engine, project, now) + account_levels.refresh_all(engine, project, now)


def poll_forever(stop: threading.Event, step: Callable[[], int], idle: float, what: str) -> None:
    """Call `step` until `stop` is set, resting `idle` seconds whenever it found nothing to do.
    A database that is restarting is waited for and any other error logged: a background loop
    must outlive both."""
    while not stop.is_set():
        try:
            if not step():
                stop.wait(idle)
        except sa.exc.OperationalError as exc:
            log.warning("database unavailable, retrying: %s", exc.orig)
            stop.wait(1.0)
        except Exception:
            log.exception("%s failed", what)
            stop.wait(1.0)


def taking_turns(due: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(project_id, segment_id) pairs reordered so that projects take turns: each project's
    first (most overdue) segment, then each one's second, ... Projects go in the order of their
    most overdue segment; a project with hundreds of segments due no longer sweeps them all
    before the next project's first."""
    queues: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for pair in due:
        queues[pair[0]].append(pair)
    rounds = max((len(queue) for queue in queues.values()), default=0)
    return [queue[turn] for turn in range(rounds) for queue in queues.values() if turn < len(queue)]


def _groups(items: list[outbox.WorkItem]) -> Iterator[list[outbox.WorkItem]]:
    """Runs of lead-write items of one project, each up to GROUP_LEADS leads; other items
    alone."""
    group: list[outbox.WorkItem] = []
    size = 0
    for item in items:
        joins = (
            item.kind == outbox.Kind.LEADS
            and group
            and group[0].project_id == item.project_id
            and size + len(item.payload["lead_ids"]) <= GROUP_LEADS
        )
        if group and not joins:
            yield group
            group, size = [], 0
        group.append(item)
        size += len(item.payload.get("lead_ids") or ()) if item.kind == outbox.Kind.LEADS else 0
        if item.kind != outbox.Kind.LEADS:
            yield group
            group, size = [], 0
    if group:
        yield group


class LeaseLost(Exception):
    """Another worker took the item over; this one's work is rolled back."""


def apply(conn: sa.Connection, project: Project, item: outbox.WorkItem, clock: Clock) -> Changes:
    """What an outbox item means for the maintained memberships."""
    now = clock.now()
    payload = item.payload
    read_sets = membership.active_read_sets(conn, project)
    if item.kind == outbox.Kind.SEGMENT:
        segment_id = payload["segment_id"]
        dependents = sorted(d for d, reads in read_sets.items() if segment_id in reads.segments)
        # Every segment this item syncs is locked up front in id order, the order lead-write
        # syncs take them in: two workers never wait on each other's locks in a cycle.
        membership.lock_segments(conn, project, [segment_id, *dependents])
        changes = membership.sync(conn, project, segment_id, now, payload["reason"])
        for dependent in dependents:
            changes += membership.sync(
                conn, project, dependent, now, Reason.DEPENDENCY, f"segment {segment_id}"
            )
        return changes
    if item.kind == outbox.Kind.LEADS:
        return apply_lead_writes(conn, project, [item], now, read_sets)
    if item.kind != outbox.Kind.LIST:
        raise ValueError(f"unknown work item kind {item.kind!r}")
    touched = sorted(s for s, reads in read_sets.items() if payload["list_id"] in reads.lists)
    superseded = outbox.segments_awaiting_sync(conn, project.id, item.id)
    changes = Changes()
    for segment_id in (s for s in touched if s not in superseded):
        changes += membership.sync(
            conn,
            project,
            segment_id,
            now,
            Reason.DEPENDENCY,
            f"list {payload['list_id']}",
            payload.get("lead_ids"),
        )
    return changes


def apply_lead_writes(
    conn: sa.Connection,
    project: Project,
    items: list[outbox.WorkItem],
    now: datetime,
    read_sets: dict[int, ReadSet] | None = None,
) -> Changes:
    """Re-evaluate the written leads in the segments whose read sets the writes touched, one
    sync per segment and reason for all the items' leads."""
    if read_sets is None:
        read_sets = membership.active_read_sets(conn, project)
    # A segment created or edited after these writes gets a full sync of its own, later.
    superseded = outbox.segments_awaiting_sync(conn, project.id, min(i.id for i in items))
    work: dict[tuple[int, str, str | None], set[int]] = defaultdict(set)
    for item in items:
        payload = item.payload
        columns = None if payload["columns"] is None else set(payload["columns"])
        event_types = set(payload["event_types"])
        reason = Reason.EVENT if event_types else Reason.LEAD_WRITE
        detail = ", ".join(sorted(event_types)) or None
        for segment_id, reads in read_sets.items():
            if segment_id not in superseded and reads.touched_by(columns, event_types):
                work[(segment_id, reason, detail)].update(payload["lead_ids"])
    syncs = [
        membership.PartialSync(segment_id, reason, detail, frozenset(lead_ids))
        for (segment_id, reason, detail), lead_ids in work.items()
    ]
    changes = membership.sync_leads(conn, project, syncs, now)
    # Profile fit follows what was written (not its own writes of profile_level: no loop).
    written = {
        lead_id
        for item in items
        if item.payload["columns"] is None or set(item.payload["columns"]) - set(fit.FIT_COLUMNS)
        for lead_id in item.payload["lead_ids"]
    }
    fit.refit(conn, project, written, now)
    # Accounts roll up their leads' scores and fit: refreshed when those (or the account) moved.
    rolled = {
        lead_id
        for item in items
        if item.payload["columns"] is None
        or set(item.payload["columns"]) & account_levels.ROLLED_UP
        for lead_id in item.payload["lead_ids"]
    }
    account_levels.refresh(conn, project, rolled, now)
    return changes


def start_in_thread(engine: Engine) -> threading.Event:
    """Run a worker beside the web server; set the returned event to stop it. On SQLite, none
    when another worker already runs on the database (SQLite runs one)."""
    stop = threading.Event()
    worker = Worker(engine)
    try:
        lock = lock_sole_worker(engine, worker.name)
    except AnotherWorkerRunning as exc:
        log.warning("this server runs no worker: %s", exc)
        return stop

    def run() -> None:
        with lock:
            worker.run_forever(stop)

    threading.Thread(target=run, name="segmint-worker", daemon=True).start()
    for name, loop in _side_loops(worker):
        threading.Thread(target=loop, args=(stop,), name=name, daemon=True).start()
    return stop


def _side_loops(worker: Worker) -> list[tuple[str, Callable[[threading.Event], None]]]:
    """What runs beside the outbox loop, each in a thread of its own so neither a long sweep
    nor a slow webhook receiver holds up write-driven membership: time sweeps and delivery."""
    return [
        ("segmint-sweep", worker.sweep_forever),
        ("segmint-delivery", _deliverer(worker.engine).run_forever),
        ("segmint-campaigns", _sender(worker.engine, worker.lease).run_forever),
    ]


def _deliverer(engine: Engine) -> Deliverer:
    from segmint.delivery import Deliverer

    return Deliverer(engine)


def _sender(engine: Engine, lease: timedelta) -> Sender:
    """Campaign runs: created at their scheduled times and delivered (campaigns/sender.py),
    leased (runs and recipients in flight) for as long as the worker's work items."""
    from segmint.campaigns.sender import Sender

    return Sender(engine, lease=lease, inflight_lease=lease)


def main_loop(worker: Worker) -> None:
    """`segmint worker`: run until interrupted (SIGINT or SIGTERM)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    log.info("worker %s started (lease %ss)", worker.name, worker.lease.total_seconds())
    loops = [("segmint-worker", worker.run_forever), *_side_loops(worker)]
    threads = [threading.Thread(target=loop, args=(stop,), name=name) for name, loop in loops]
    for thread in threads:
        thread.daemon = True
        thread.start()
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        stop.set()
    for thread in threads:
        thread.join(timeout=15)
