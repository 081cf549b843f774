"""Real `segmint worker` processes for tests that kill them, and a patient wait."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import segmint

DEADLINE = 60.0  # seconds any wait may take before a test gives up: generous, never a measure


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.005)


SRC = str(Path(segmint.__file__).resolve().parents[1])


class Spawned:
    """`segmint worker` processes this test started, with their logs; any still running at
    the end are killed (by their own pid)."""

    def __init__(self, tmp_path: Path, db_url: str) -> None:
        self.tmp_path = tmp_path
        self.db_url = db_url
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs: dict[int, Path] = {}

    def start(self, *options: str) -> subprocess.Popen[bytes]:
        log = self.tmp_path / f"worker{len(self.processes)}.log"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
        command = [sys.executable, "-m", "segmint", "worker", "--database-url", self.db_url]
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*command, "--log-level", "debug", *options],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        self.processes.append(process)
        self.logs[process.pid] = log
        return process

    def log(self, process: subprocess.Popen[bytes]) -> str:
        return self.logs[process.pid].read_text(encoding="utf-8")

    def done(self, process: subprocess.Popen[bytes]) -> list[int]:
        """The work items the process's log says it did, in order."""
        marker = "work item "
        return [
            int(line.split(marker, 1)[1].split()[0])
            for line in self.log(process).splitlines()
            if marker in line and line.endswith(" done")
        ]

    def wait_started(self, process: subprocess.Popen[bytes]) -> None:
        wait_until(
            lambda: " started (lease" in self.log(process) or process.poll() is not None,
            "the worker to start",
        )
        assert process.poll() is None, self.log(process)

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=DEADLINE) == 0, self.log(process)

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()
