"""The loop every background thread runs: step, rest when idle, outlive a restarting database."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import sqlalchemy as sa

log = logging.getLogger("segmint.worker")


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
