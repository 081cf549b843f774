"""A project's settings, and its outgoing mail settings."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from segmint.api.schemas.common import Strict


class SettingsPublic(BaseModel):
    name: str
    slug: str
    timezone: str = Field(examples=["Europe/Paris"])
    statuses: list[str] = Field(examples=[["new", "contacted", "qualified", "unqualified"]])
    converted_status: str = Field(examples=["qualified"])


class SettingsUpdate(Strict):
    name: str | None = Field(None, min_length=1, max_length=255)
    timezone: str | None = Field(None, max_length=64)
    statuses: list[str] | None = None
    converted_status: str | None = None


class MailSettingsUpdate(Strict):
    host: str | None = None
    port: int | None = None
    username: str | None = None
    password: str | None = Field(None, description="Kept when omitted or empty.")
    clear_password: bool = False
    security: Literal["none", "starttls", "tls"] | None = None
    from_email: str | None = None
    from_name: str | None = None
    reply_to: str | None = None
    rate_per_minute: int | None = None
    public_url: str | None = Field(
        None, description="This server's address as recipients reach it (tracking links)."
    )


class MailSettingsPublic(BaseModel):
    host: str | None
    port: int
    username: str | None
    password_set: bool
    security: str
    from_email: str | None
    from_name: str | None
    reply_to: str | None
    rate_per_minute: int
    public_url: str | None
