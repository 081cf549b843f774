"""The organization's users and each caller's API tokens."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from segmint.api.schemas.common import Strict
from segmint.model import Role


class UserPublic(BaseModel):
    id: int
    email: str
    name: str | None
    role: Role
    created_at: datetime
    last_login_at: datetime | None
    removed_at: datetime | None = Field(
        None,
        description="When the user was removed (listed with `include_removed=true` only); "
        "adding the email again restores them.",
    )


class UserList(BaseModel):
    items: list[UserPublic]


class Assignee(BaseModel):
    """A user a lead can be assigned to (its `owner`): what a picker shows."""

    id: int
    email: str
    name: str | None


class AssigneeList(BaseModel):
    items: list[Assignee]
    me: str = Field(description="The caller's email: what `assigned_to_me` stands for.")


class UserCreate(Strict):
    email: str = Field(max_length=320, examples=["ada@example.com"])
    role: Role = Role.MEMBER
    password: str | None = Field(
        None,
        max_length=200,
        description="For the web UI: at least 10 characters, not a common password, a "
        "keyboard or number sequence, a repeated pattern or the email address (else 422).",
    )


class UserUpdate(Strict):
    role: Role = Field(
        description="owner, admin or member. Only an owner makes or changes an owner; the "
        "organization's last owner keeps the role (409)."
    )


class TokenPublic(BaseModel):
    prefix: str = Field(description="Shown in listings; the token itself is never shown again.")
    name: str
    project: str | None = Field(description="The one project it is limited to, if any.")
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenList(BaseModel):
    items: list[TokenPublic]


class TokenCreate(Strict):
    name: str = Field(min_length=1, max_length=255, examples=["CRM sync"])
    project: str | None = Field(None, description="Limit the token to this project's slug.")


class TokenIssued(BaseModel):
    token: str = Field(description="Shown once: store it now.")
    prefix: str
