"""A project's outgoing mail: its SMTP server, sender address, sending rate and the public URL
that tracking and unsubscribe links point to.

The password is kept (SMTP needs it in clear to log in) but never returned by the API nor
logged: reading settings answers `password_set`. The tracking secret signs every tracking link,
so a link cannot be forged for another recipient or turned into an open redirect.
"""

from __future__ import annotations

import os
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from segmint.engine.values import parse_email
from segmint.engine.webhooks import check_url
from segmint.errors import InvalidInput
from segmint.projects import Project
from segmint.store.tables import mail_settings

SECURITY = ("none", "starttls", "tls")
RATE_MAX = 100_000
PUBLIC_URL_ENV = "SEGMINT_PUBLIC_URL"


@dataclass(frozen=True)
class MailSettings:
    host: str | None = None
    port: int = 587
    username: str | None = None
    password: str | None = None
    security: str = "starttls"
    from_email: str | None = None
    from_name: str | None = None
    reply_to: str | None = None
    rate_per_minute: int = 600
    public_url: str | None = None
    tracking_secret: str = ""

    def public(self) -> dict[str, Any]:
        fields = asdict(self)
        del fields["password"], fields["tracking_secret"]
        return fields | {"password_set": bool(self.password)}

    def problems(self) -> list[str]:
        """Why email cannot be sent with these settings (empty when it can)."""
        found = []
        if not self.host:
            found.append("mail settings: no SMTP host is configured")
        if not self.from_email:
            found.append("mail settings: no sender address (from_email) is configured")
        if not self.public_url:
            found.append("mail settings: no public URL for tracking and unsubscribe links")
        return found


def load(conn: sa.Connection, project: Project) -> MailSettings:
    row = conn.execute(
        sa.select(mail_settings).where(mail_settings.c.project_id == project.id)
    ).first()
    if row is None:
        return MailSettings(public_url=os.environ.get(PUBLIC_URL_ENV))
    fields = {
        name: value
        for name, value in row._mapping.items()
        if name not in ("project_id", "updated_at")
    }
    return MailSettings(**fields)


def tracking_secret(
    conn: sa.Connection, project: Project, current: MailSettings, now: datetime
) -> str:
    """The project's link-signing secret (`current`: its settings as just loaded), created
    with its settings row on first use."""
    if current.tracking_secret:
        return current.tracking_secret
    _save(conn, project, current, now)
    return load(conn, project).tracking_secret


def update(
    conn: sa.Connection, project: Project, data: Mapping[str, Any], now: datetime
) -> MailSettings:
    """Change the fields given; a password of null or "" keeps the stored one unless
    `clear_password` is true."""
    current = load(conn, project)
    changes: dict[str, Any] = {}
    for name in ("host", "username", "from_name"):
        if name in data:
            changes[name] = _text(_no_controls(data[name], name), name, 255)
    for name in ("from_email", "reply_to"):
        if name in data:
            changes[name] = parse_email(_no_controls(data[name], name), name)
    if "port" in data:
        port = data["port"]
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise InvalidInput("expected a port number from 1 to 65535", "port")
        changes["port"] = port
    if "security" in data:
        if data["security"] not in SECURITY:
            raise InvalidInput(f"expected one of {', '.join(SECURITY)}", "security")
        changes["security"] = data["security"]
    if "rate_per_minute" in data:
        rate = data["rate_per_minute"]
        if isinstance(rate, bool) or not isinstance(rate, int) or not 1 <= rate <= RATE_MAX:
            raise InvalidInput(
                f"expected a number of messages from 1 to {RATE_MAX}", "rate_per_minute"
            )
        changes["rate_per_minute"] = rate
    if "public_url" in data:
        url = data["public_url"]
        changes["public_url"] = check_url(url).rstrip("/") if url else None
    if data.get("password"):
        changes["password"] = _text(data["password"], "password", 255)
    elif data.get("clear_password"):
        changes["password"] = None
    updated = MailSettings(**(asdict(current) | changes))
    _save(conn, project, updated, now)
    return load(conn, project)


def _save(conn: sa.Connection, project: Project, settings: MailSettings, now: datetime) -> None:
    values = asdict(settings) | {"updated_at": now}
    values["tracking_secret"] = settings.tracking_secret or secrets.token_urlsafe(32)
    exists = conn.execute(
        sa.select(mail_settings.c.project_id).where(mail_settings.c.project_id == project.id)
    ).first()
    if exists:
        conn.execute(
            mail_settings.update().where(mail_settings.c.project_id == project.id).values(values)
        )
    else:
        conn.execute(mail_settings.insert().values(project_id=project.id, **values))


def _no_controls(value: Any, path: str) -> Any:
    """These fields go into SMTP commands and mail headers, where a line break would start a
    header of the writer's choosing (a Bcc:) and stall every mail that carries it."""
    if isinstance(value, str) and any(unicodedata.category(c) == "Cc" for c in value):
        raise InvalidInput(
            "must not contain control characters (line breaks, tabs, ...): it goes into mail "
            "headers",
            path,
        )
    return value


def _text(value: Any, path: str, limit: int) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidInput(f"expected text of at most {limit} characters", path)
    return value.strip() or None
