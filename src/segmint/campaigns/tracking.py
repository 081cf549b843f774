"""Open pixel, click redirect and unsubscribe links, each recording an event segments can use.

A link names the project and the recipient row and carries an HMAC of both under the project's
tracking secret: it cannot be forged for another recipient, and a click link signs its target
too, so it is never an open redirect. Events carry `campaign_id` and `run_id` (and `url` for
clicks): "opened campaign 7" is `performed "email_open" where campaign_id = 7`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

import sqlalchemy as sa

from segmint.campaigns.audience import UNSUBSCRIBED
from segmint.engine.events import NewEvent, record_events
from segmint.errors import NotFound
from segmint.projects import Project
from segmint.store.rows import RecipientRow, RecipientWithCampaign
from segmint.store.tables import campaign_recipients, campaigns, events

SENT = "email_sent"
OPEN = "email_open"
CLICK = "email_click"
WEBHOOK_SENT = "campaign_webhook_sent"
# A transparent 1x1 GIF.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def signature(secret: str, *parts: object) -> str:
    message = "\x1f".join(str(part) for part in parts).encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def verify(secret: str, sent: str, *parts: object) -> bool:
    return hmac.compare_digest(signature(secret, *parts), sent)


@dataclass(frozen=True)
class Links:
    """The tracking links of one recipient."""

    base: str  # the server's public URL
    project_id: int
    recipient_id: int
    secret: str

    @property
    def _prefix(self) -> str:
        sig = signature(self.secret, self.project_id, self.recipient_id)
        return f"{self.base}/t/{self.project_id}/{self.recipient_id}/{sig}"

    @property
    def open_pixel(self) -> str:
        return f"{self._prefix}/open.gif"

    @property
    def unsubscribe(self) -> str:
        return f"{self._prefix}/unsubscribe"

    def click(self, url: str) -> str:
        url_sig = signature(self.secret, self.project_id, self.recipient_id, url)
        return f"{self._prefix}/click?url={quote(url, safe='')}&s={url_sig}"


def safe_target(url: str) -> bool:
    return urlsplit(url).scheme in ("http", "https")


def recipient(
    conn: sa.Connection, project: Project, recipient_id: int, sig: str, secret: str
) -> RecipientWithCampaign:
    """The recipient a link names, if its signature is right (else NotFound: a forged or
    mangled link reveals nothing)."""
    if not verify(secret, sig, project.id, recipient_id):
        raise NotFound("unknown link")
    row = conn.execute(
        sa.select(campaign_recipients, campaigns.c.name.label("campaign_name"))
        .join(
            campaigns,
            sa.and_(
                campaigns.c.project_id == campaign_recipients.c.project_id,
                campaigns.c.id == campaign_recipients.c.campaign_id,
            ),
        )
        .where(
            campaign_recipients.c.project_id == project.id, campaign_recipients.c.id == recipient_id
        )
    ).first()
    if row is None:
        raise NotFound("unknown link")
    return RecipientWithCampaign.of(row)


def _record(
    conn: sa.Connection, project: Project, row: RecipientRow, kind: str, now: datetime, **extra: Any
) -> None:
    metadata = {"campaign_id": row.campaign_id, "run_id": row.run_id, **extra}
    record_events(conn, project, [NewEvent(row.lead_id, kind, now, metadata)], now)


def record_open(conn: sa.Connection, project: Project, row: RecipientRow, now: datetime) -> None:
    _record(conn, project, row, OPEN, now)


def record_click(
    conn: sa.Connection, project: Project, row: RecipientRow, url: str, now: datetime
) -> None:
    _record(conn, project, row, CLICK, now, url=url)


def is_unsubscribed(conn: sa.Connection, project: Project, lead_id: int) -> bool:
    query = sa.select(events.c.id).where(
        events.c.project_id == project.id,
        events.c.lead_id == lead_id,
        events.c.type == UNSUBSCRIBED,
    )
    return conn.execute(query.limit(1)).first() is not None


def unsubscribe(conn: sa.Connection, project: Project, row: RecipientRow, now: datetime) -> bool:
    """Record the lead's unsubscription once; False if it was already unsubscribed."""
    if is_unsubscribed(conn, project, row.lead_id):
        return False
    _record(conn, project, row, UNSUBSCRIBED, now)
    return True
