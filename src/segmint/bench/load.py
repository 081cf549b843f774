"""`segmint load`: many concurrent API clients against a real server, for a bounded time.

The server is `segmint serve` (its worker included) in a subprocess on 127.0.0.1, over the
bench's generated project; the clients are threads, each with its own HTTP connection, doing a
fixed mix of counts, previews, member pages and writes (lead updates and events) until the time
is up. What comes back is latency per kind and the count of every status: a 5xx is a failure.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine

import segmint
from segmint import auth
from segmint.bench import data, runner
from segmint.bench.suite import CASES
from segmint.clock import SYSTEM_CLOCK
from segmint.projects import Project
from segmint.store.tables import leads, segments, users

HOST = "127.0.0.1"  # load goes to this machine only
USER_EMAIL = "load@segmint.bench"
START_TIMEOUT = 60.0  # seconds for the server to answer /healthz
REQUEST_TIMEOUT = 60.0  # a request slower than this counts as failed ("timeout")
SAMPLE_LEADS = 2000  # lead ids the clients pick from for member pages and writes
# How often each kind comes up: reads dominate, as in the UI.
OK_CLASSES = ("1", "2", "3", "4")  # a 4xx is the request's fault, not the server's
MIX = {"count": 3, "preview": 2, "members": 3, "lead_write": 1, "event_write": 1}


@dataclass(frozen=True)
class Workload:
    """What the clients ask about: the bench project's segments and leads, with a token."""

    project_slug: str
    token: str
    segment_ids: list[int]
    lead_ids: list[int]
    filters: list[dict[str, Any]]  # the suite's, with the segments they name resolved


@dataclass
class KindStats:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)


@dataclass
class LoadReport:
    clients: int
    seconds: float
    kinds: dict[str, KindStats] = field(default_factory=dict)

    def record(self, kind: str, status: str, elapsed_ms: float) -> None:
        stats = self.kinds.setdefault(kind, KindStats())
        stats.latencies_ms.append(elapsed_ms)
        stats.statuses[status] += 1

    @property
    def statuses(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for stats in self.kinds.values():
            total.update(stats.statuses)
        return total

    @property
    def failures(self) -> int:
        """Server errors, and requests that got no answer at all."""
        return sum(n for status, n in self.statuses.items() if not status.startswith(OK_CLASSES))

    def summary(self) -> dict[str, Any]:
        requests = sum(self.statuses.values())
        return {
            "clients": self.clients,
            "seconds": round(self.seconds, 1),
            "requests": requests,
            "throughput_rps": round(requests / self.seconds, 1) if self.seconds else 0.0,
            "statuses": dict(sorted(self.statuses.items())),
            "kinds": {
                kind: _kind_summary(stats, self.seconds)
                for kind, stats in sorted(self.kinds.items())
            },
        }


def _kind_summary(stats: KindStats, seconds: float) -> dict[str, Any]:
    values = stats.latencies_ms
    return {
        "requests": len(values),
        "rps": round(len(values) / seconds, 1) if seconds else 0.0,
        "p50_ms": round(runner.percentile(values, 50), 1),
        "p95_ms": round(runner.percentile(values, 95), 1),
        "max_ms": round(max(values), 1),
        "statuses": dict(sorted(stats.statuses.items())),
    }


def prepare(engine: Engine, size: data.BenchSize) -> Workload:
    """The bench project with its suite's segments built, and a token for it."""
    project, _ = data.prepare(engine, size, SYSTEM_CLOCK.now())
    runner.ensure_segments(engine, project)
    runner.drain(engine)
    with engine.begin() as conn:
        token = auth.issue_token(conn, _load_user(conn, project), "load", project.id)
        segment_ids = conn.execute(
            sa.select(segments.c.id)
            .where(segments.c.project_id == project.id)
            .order_by(segments.c.id)
        ).scalars()
        lead_ids = conn.execute(
            sa.select(leads.c.id)
            .where(leads.c.project_id == project.id)
            .order_by(leads.c.id)
            .limit(SAMPLE_LEADS)
        ).scalars()
        ids = runner.segment_ids(conn, project)
        filters = [case.filter_in(ids) for case in CASES]
        return Workload(project.slug, token, list(segment_ids), list(lead_ids), filters)


def _load_user(conn: sa.Connection, project: Project) -> int:
    found = conn.execute(sa.select(users.c.id).where(users.c.email == USER_EMAIL)).scalar()
    if found is not None:
        return int(found)
    return auth.create_user(conn, project.organization_id, USER_EMAIL, "owner")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def served(database_url: str, log_path: Path) -> Iterator[str]:
    """`segmint serve` with its worker on a free port of 127.0.0.1 until the block ends. The
    rate limit is off: every client shares one token, and the point is the server's capacity."""
    port = free_port()
    source = str(Path(segmint.__file__).resolve().parents[1])
    env = {
        **os.environ,
        "SEGMINT_RATE_LIMIT": "0",
        "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")]),
    }
    command = [sys.executable, "-m", "segmint", "serve", "--host", HOST, "--port", str(port)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "--database-url", database_url],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    base_url = f"http://{HOST}:{port}"
    try:
        _wait_healthy(base_url, process, log_path)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_healthy(base_url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}: see {log_path}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server did not answer within {START_TIMEOUT:g} s: see {log_path}")


Request = Callable[[httpx.Client, random.Random], httpx.Response]


def requests_of(workload: Workload) -> dict[str, Request]:
    """One function per kind of request; each picks its segment, lead or filter at random.
    Paths are relative to the client's base URL."""
    api = f"/api/v1/projects/{workload.project_slug}"
    filters = workload.filters

    def count(client: httpx.Client, rng: random.Random) -> httpx.Response:
        return client.get(f"{api}/segments/{rng.choice(workload.segment_ids)}/count")

    def preview(client: httpx.Client, rng: random.Random) -> httpx.Response:
        return client.post(f"{api}/segments/preview", json={"filter": rng.choice(filters)})

    def members(client: httpx.Client, rng: random.Random) -> httpx.Response:
        segment = rng.choice(workload.segment_ids)
        return client.get(f"{api}/segments/{segment}/members", params={"page": rng.randint(1, 5)})

    def lead_write(client: httpx.Client, rng: random.Random) -> httpx.Response:
        title = rng.choice(["CTO", "VP Sales", "Engineer", "Founder", "Analyst"])
        return client.patch(
            f"{api}/leads/{rng.choice(workload.lead_ids)}", json={"job_title": title}
        )

    def event_write(client: httpx.Client, rng: random.Random) -> httpx.Response:
        event = {
            "lead_id": rng.choice(workload.lead_ids),
            "type": rng.choice(["page_view", "email_open"]),
        }
        return client.post(f"{api}/events", json={"events": [event]})

    return {
        "count": count,
        "preview": preview,
        "members": members,
        "lead_write": lead_write,
        "event_write": event_write,
    }


def run_clients(
    base_url: str, workload: Workload, clients: int, seconds: float, seed: int = 42
) -> LoadReport:
    """`clients` threads asking until `seconds` have passed; each request in flight then is
    let finish (at most REQUEST_TIMEOUT more)."""
    report = LoadReport(clients, seconds)
    lock = threading.Lock()
    kinds = requests_of(workload)
    deadline = time.monotonic() + seconds

    def client_loop(number: int) -> None:
        rng = random.Random(seed * 1000 + number)
        names = list(MIX)
        weights = [MIX[name] for name in names]
        headers = {"Authorization": f"Bearer {workload.token}"}
        with httpx.Client(base_url=base_url, headers=headers, timeout=REQUEST_TIMEOUT) as client:
            while time.monotonic() < deadline:
                kind = rng.choices(names, weights)[0]
                status, elapsed = _timed_request(kinds[kind], client, rng)
                with lock:
                    report.record(kind, status, elapsed)

    started = time.monotonic()
    threads = [
        threading.Thread(target=client_loop, args=(n,), name=f"load-{n}") for n in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report.seconds = time.monotonic() - started
    return report


def _timed_request(request: Request, client: httpx.Client, rng: random.Random) -> tuple[str, float]:
    """The status ("200", "503", or the transport error's name) and the time it took in ms."""
    started = time.perf_counter()
    try:
        status = str(request(client, rng).status_code)
    except httpx.TransportError as exc:
        status = type(exc).__name__
    return status, (time.perf_counter() - started) * 1000
