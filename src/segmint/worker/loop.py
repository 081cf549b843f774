"""`segmint worker`: does what writes leave in the outbox (membership maintenance, by the
engine's rules), and beside it time sweeps, webhook delivery and campaign sending.

Each item is processed in one transaction together with its deletion, so it takes effect once
whatever crashes. `segmint serve` runs the same loop in a thread unless `--no-worker`. Any
number of workers share a PostgreSQL database; SQLite runs one (`worker/lock.py`).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint import index
from segmint.campaigns.sender import IDLE_SLEEP as SENDER_IDLE
from segmint.campaigns.sender import Sender
from segmint.clock import SYSTEM_CLOCK, Clock
from segmint.engine import maintenance, outbox, scoring, time_sweep
from segmint.engine.membership import Changes
from segmint.index import feed as index_feed
from segmint.projects import get_project_by_id
from segmint.store.claims import NAME_LENGTH, holder_name
from segmint.store.tables import projects
from segmint.store.timeouts import WorkerLimits
from segmint.worker import outbox as taking
from segmint.worker.delivery import Deliverer
from segmint.worker.lock import AnotherWorkerRunning, lock_sole_worker
from segmint.worker.polling import poll_forever

log = logging.getLogger("segmint.worker")
IDLE_SLEEP = 0.2  # seconds between polls when there is nothing to do
RETRY_BASE = timedelta(seconds=5)
GROUP_LEADS = 2000  # leads per grouped sync: IN lists stay well under SQLite's variable limit


SWEEP_RETRY_CAP = 6  # a failing segment's sweep is retried after 20 s, 40 s, ... at most ~11 min


@dataclass
class Worker:
    engine: Engine
    clock: Clock = SYSTEM_CLOCK
    name: str = ""
    batch: int = taking.BATCH
    lease: timedelta = taking.LEASE  # a killed worker's claimed items are retaken after this
    limits: WorkerLimits = field(default_factory=WorkerLimits.from_env)
    # Segments whose last sweep failed: (failures in a row, not to be swept again before).
    _sweep_retries: dict[int, tuple[int, datetime]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.name = self.name or holder_name()
        if len(self.name) > NAME_LENGTH:
            raise ValueError(f"a worker name has at most {NAME_LENGTH} characters")

    def _transaction(self) -> AbstractContextManager[sa.Connection]:
        return self.limits.transaction(self.engine)

    def run_once(self) -> int:
        """Claim and process one batch; returns how many items were done."""
        with self._transaction() as conn:
            items = taking.claim(conn, self.name, self.clock.now(), self.batch, self.lease)
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
                # Worked out first, then applied in a short transaction of its own under
                # the segment's lock: writes' syncs of the segment wait for that one only.
                with self._transaction() as conn:
                    project = get_project_by_id(conn, project_id)
                    planned = time_sweep.plan(conn, project, segment_id, now)
                if planned is not None:
                    with self._transaction() as conn:
                        changes += time_sweep.settle(conn, project, planned, now)
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
                changed += scoring.sweep(
                    self.engine, project_id, now, maintenance.after_scoring_change
                )
            except Exception:  # one project's broken rule must not stop the others
                log.exception("score sweep of project %s failed", project_id)
        return changed

    def sweep_changes(self) -> int:
        """Forget the index's change feed older than its retention, project by project."""
        forgotten = 0
        with self._transaction() as conn:
            project_ids = conn.execute(sa.select(projects.c.id)).scalars().all()
            for project_id in project_ids:
                forgotten += index_feed.prune(conn, project_id, self.clock.now())
        return forgotten

    def sweep_forever(self, stop: threading.Event) -> None:
        """Sweep every SWEEP_EVERY, in a thread of its own: a sweep catching up on minutes of
        time-based changes over millions of leads takes seconds, which write-driven syncs (the
        1 s promise) must not wait for."""
        while not stop.is_set():
            started = time.monotonic()
            try:
                self.sweep_time()
                self.sweep_scores()
                self.sweep_changes()
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
                if not taking.hold(conn, [item], self.name):
                    raise LeaseLost(item.id)
                project = get_project_by_id(conn, item.project_id)
                maintenance.apply(conn, project, item, self.clock)
                if not taking.complete(conn, item, self.name):
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
                taking.fail(conn, item, self.name, f"{type(exc).__name__}: {exc}", retry_at)
            return 0

    def _process_group(self, group: list[outbox.WorkItem]) -> int:
        """Lead writes of one project together: each touched segment syncs once for all their
        leads, instead of once per item (the cost of a sync is mostly per segment, not per
        lead). Any failure falls back to one item at a time, so one bad item blocks no other."""
        try:
            with self._transaction() as conn:
                if not taking.hold(conn, group, self.name):
                    raise LeaseLost(group[0].id)  # each item alone: the others may be ours
                project = get_project_by_id(conn, group[0].project_id)
                maintenance.apply_lead_writes(conn, project, group, self.clock.now())
                for item in group:
                    if not taking.complete(conn, item, self.name):
                        raise LeaseLost(item.id)
            for item in group:
                log.debug("work item %s done", item.id)
            return len(group)
        except Exception:
            return sum(self._process(item) for item in group)


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
        ("segmint-delivery", Deliverer(worker.engine).run_forever),
        (
            "segmint-campaigns",
            lambda stop: send_campaigns_forever(_sender(worker.engine, worker.lease), stop),
        ),
    ]


def _sender(engine: Engine, lease: timedelta) -> Sender:
    """Campaign runs: created at their scheduled times and delivered (campaigns/sender.py),
    leased (runs and recipients in flight) for as long as the worker's work items."""
    return Sender(engine, lease=lease, inflight_lease=lease)


def send_campaigns_forever(sender: Sender, stop: threading.Event) -> None:
    """Schedule due runs and send them until `stop` is set; pacing waits wake up on stop."""
    sender.sleep = stop.wait
    try:
        poll_forever(stop, sender.step, SENDER_IDLE, "campaign delivery")
    finally:
        sender.close()


def attach_index(engine: Engine, settings: index.Settings | None = None) -> None:
    """Give this process's membership evaluation, campaign audiences and analytics the columnar
    index (`SEGMINT_INDEX=off`: SQL only), every project's built in the background: work goes
    through SQL until a project's is ready. `segmint serve` attaches it in create_app instead,
    on the engine its worker thread shares."""
    settings = settings or index.Settings.from_env()
    indexes = index.attach(engine, settings)
    if indexes is not None and settings.background:
        indexes.build_all()


def main_loop(worker: Worker) -> None:
    """`segmint worker`: run until interrupted (SIGINT or SIGTERM)."""
    attach_index(worker.engine)
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
