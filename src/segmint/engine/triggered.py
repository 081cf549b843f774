"""Campaign triggers, written side: the pending send each entry or exit a live campaign's
trigger listens to makes, queued in the transaction that records the change in history.

Queueing there, not by scanning history later, is what makes it exactly once: the history row
and its pending send commit or roll back together, and (campaign, history row) is unique. What
is done with a send once it is due (checked again, then sent or skipped) is the campaigns
package's business (campaigns/triggers.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from segmint.clock import as_utc
from segmint.store import bulk
from segmint.store.tables import campaign_trigger_sends, campaigns, membership_history

# A trigger's `on` and the history change it listens to.
CHANGE_OF = {"enter": "entered", "exit": "exited"}
# Campaigns whose triggers listen: a paused one keeps its sends until it is resumed.
LISTENING_STATES = ("scheduled", "paused")


@dataclass(frozen=True)
class Trigger:
    campaign_id: int
    segment_id: int
    change: str  # entered | exited
    delay: timedelta


def live_triggers(conn: sa.Connection, project_id: int) -> tuple[Trigger, ...]:
    """The triggers of a project's listening campaigns (one query; a project has few)."""
    rows = conn.execute(
        sa.select(campaigns.c.id, campaigns.c.trigger).where(
            campaigns.c.project_id == project_id, campaigns.c.state.in_(LISTENING_STATES)
        )
    )
    return tuple(
        Trigger(
            row.id,
            int(row.trigger["segment_id"]),
            CHANGE_OF[row.trigger["on"]],
            timedelta(minutes=int(row.trigger.get("delay_minutes") or 0)),
        )
        for row in rows
        if row.trigger  # JSON null and SQL NULL alike: no trigger
    )


def queue_sends(
    conn: sa.Connection,
    project_id: int,
    triggers: tuple[Trigger, ...],
    changes: Iterable[tuple[int, int, str]],
) -> None:
    """One pending send per (history_id, segment_id, change) for each trigger listening to it."""
    wanted: dict[int, list[Trigger]] = {}
    for history_id, segment_id, change in changes:
        listening = [t for t in triggers if t.segment_id == segment_id and t.change == change]
        if listening:
            wanted[history_id] = listening
    if not wanted:
        return
    h = membership_history.c
    rows: list[dict[str, Any]] = []
    ids = sorted(wanted)
    for start in range(0, len(ids), 1000):  # the lead and moment of each change, by the thousand
        found = conn.execute(
            sa.select(h.id, h.segment_id, h.lead_id, h.change, h.at).where(
                h.project_id == project_id, h.id.in_(ids[start : start + 1000])
            )
        )
        for row in found:
            happened = as_utc(row.at)
            rows.extend(
                {
                    "project_id": project_id,
                    "campaign_id": trigger.campaign_id,
                    "history_id": row.id,
                    "segment_id": row.segment_id,
                    "lead_id": row.lead_id,
                    "change": row.change,
                    "happened_at": happened,
                    "due_at": happened + trigger.delay,
                    "state": "pending",
                }
                for trigger in wanted[row.id]
            )
    bulk.insert_rows(conn, campaign_trigger_sends, rows)
