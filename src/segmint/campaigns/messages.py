"""One recipient's message: the template context from the lead, the rendered email with its
headers, or the entry of a webhook batch."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any

import sqlalchemy as sa

from segmint.campaigns.mail_settings import MailSettings
from segmint.campaigns.templates import Message, render
from segmint.campaigns.tracking import Links
from segmint.clock import as_utc
from segmint.projects import Project
from segmint.store.tables import accounts, leads

ACCOUNT_FIELDS = ("name", "domain", "metadata", "engagement_level", "profile_level")
UNSUBSCRIBE_FOOTER = (
    '<p style="font-size:12px;color:#6b7280;margin-top:24px">'
    'You receive this because you are on our list. <a href="{{ unsubscribe_url }}">'
    "Unsubscribe</a></p>"
)


def lead_contexts(
    conn: sa.Connection, project: Project, lead_ids: Iterable[int]
) -> dict[int, dict[str, Any]]:
    """What templates see of each lead, `lead` and `account`, for a batch (one query)."""
    ids = sorted(set(lead_ids))
    if not ids:
        return {}
    account_columns = [accounts.c[name].label(f"account_{name}") for name in ACCOUNT_FIELDS]
    query = (
        sa.select(leads, *account_columns)
        .select_from(
            leads.outerjoin(
                accounts,
                sa.and_(
                    accounts.c.project_id == leads.c.project_id, accounts.c.id == leads.c.account_id
                ),
            )
        )
        .where(leads.c.project_id == project.id, leads.c.id.in_(ids))
    )
    contexts = {}
    for row in conn.execute(query):
        fields = dict(row._mapping)
        account = {name: fields.pop(f"account_{name}") for name in ACCOUNT_FIELDS}
        fields.pop("project_id")
        name = " ".join(part for part in (fields["first_name"], fields["last_name"]) if part)
        fields["name"] = name
        fields["custom"] = fields["custom"] or {}
        contexts[row.id] = {
            "lead": fields,
            "account": account if fields["account_id"] is not None else None,
        }
    return contexts


@dataclass(frozen=True)
class Draft:
    """The templates of a campaign (saved or being edited)."""

    campaign_id: int
    name: str
    subject: str
    body: str

    @classmethod
    def of(cls, campaign: Any) -> Draft:
        return cls(campaign.id, campaign.name, campaign.subject, campaign.body)


def render_for(draft: Draft, context: dict[str, Any], links: Links | None) -> Message:
    """The campaign's message for one lead; with tracking links when there are `links`."""
    full = {**context, "campaign": {"id": draft.campaign_id, "name": draft.name}}
    body = draft.body
    if links is None:
        full["unsubscribe_url"] = ""
        return render(draft.subject, body, full)
    full["unsubscribe_url"] = links.unsubscribe
    tracked_base = f"{links.base}/t/"

    def link(url: str) -> str:
        return url if url.startswith(tracked_base) else links.click(url)

    # Every mail can be unsubscribed from: a footer when the body has no link of its own.
    footer = UNSUBSCRIBE_FOOTER if "unsubscribe_url" not in body else ""
    return render(draft.subject, body, full, link, links.open_pixel, footer)


def email_for(
    message: Message,
    settings: MailSettings,
    to: str,
    recipient_id: int,
    campaign_id: int,
    links: Links | None,
    now: datetime,
) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = formataddr((settings.from_name or "", settings.from_email or ""))
    mail["To"] = to
    mail["Subject"] = message.subject
    mail["Date"] = format_datetime(as_utc(now))
    domain = (settings.from_email or "segmint.invalid").rpartition("@")[2]
    # The same id on every attempt: a receiver that sees a retry can tell it is one message.
    mail["Message-ID"] = f"<campaign-{campaign_id}.recipient-{recipient_id}@{domain}>"
    if settings.reply_to:
        mail["Reply-To"] = settings.reply_to
    if links is not None:
        mail["List-Unsubscribe"] = f"<{links.unsubscribe}>"
        mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    mail["X-Segmint-Campaign"] = str(campaign_id)
    mail.set_content(message.text)
    mail.add_alternative(message.html, subtype="html")
    return mail


def wire_bytes(mail: EmailMessage, utf8: bool = False) -> bytes:
    """The message as SMTP carries it: CRLF line ends (smtplib leaves bytes as they are, and a
    server reads a body of bare LFs as one over-long line); with `utf8` (sent with SMTPUTF8),
    headers in UTF-8 as they are, where otherwise an address would be mangled."""
    return mail.as_bytes(policy=email_policy.SMTPUTF8 if utf8 else email_policy.SMTP)
