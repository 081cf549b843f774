"""Organizations, users, passwords and API tokens.

Passwords are argon2id hashes. API tokens and web-session cookies are random (256 bits), so a
SHA-256 of them is enough to store (no slow hash needed); a token is shown once, when issued.
A session's CSRF token is derived from its cookie value, so it needs no storage of its own.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from segmint.clock import SYSTEM_CLOCK, Clock, as_utc
from segmint.errors import Conflict, Forbidden, InvalidInput, NotFound
from segmint.model import Role
from segmint.passwords import check_password
from segmint.store.tables import api_tokens, organizations, users, web_sessions

TOKEN_PREFIX = "sgm_"
SESSION_COOKIE = "segmint_session"
SESSION_LIFETIME = timedelta(days=30)  # then log in again, however active
SESSION_IDLE = timedelta(days=7)  # unused this long: ended
_SESSION_TOUCH = timedelta(minutes=5)  # last_seen_at is written at most this often
# A token's last_used_at is written at most this often, so reads with one token do not each take
# SQLite's write lock (or a PostgreSQL row lock): listings show it accurate to a minute.
TOKEN_USE_RECORDED_EVERY = timedelta(minutes=1)
_hasher = PasswordHasher()
# A user still in the organization (a removed one is kept for what names them, not let in).
ACTIVE = users.c.removed_at.is_(None)


@dataclass(frozen=True)
class Principal:
    """Who is calling: resolved from a token or a session."""

    user_id: int
    organization_id: int
    email: str
    role: Role
    project_id: int | None  # a token limited to one project

    @property
    def reads_only_own_segments(self) -> bool:
        """Members read the segments they created; owners and admins read every one."""
        return self.role == Role.MEMBER


def hash_password(password: str, email: str | None = None) -> str:
    """The argon2id hash of an acceptable password (passwords.py says which are)."""
    check_password(password, email)
    return _hasher.hash(password)


@cache
def _stand_in_hash() -> str:
    """A hash no password is known for: checked when there is no real one, so that an unknown
    email costs a log-in as much time as a wrong password (no telling which emails exist)."""
    return _hasher.hash(secrets.token_urlsafe(32))


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether the password matches; always one argon2 verification, even without a hash."""
    try:
        matches = _hasher.verify(password_hash or _stand_in_hash(), password)
    except (VerificationError, InvalidHashError):
        return False
    return matches and password_hash is not None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_organization(conn: sa.Connection, name: str, clock: Clock = SYSTEM_CLOCK) -> int:
    row = conn.execute(
        organizations.insert()
        .values(name=name, created_at=clock.now())
        .returning(organizations.c.id)
    ).one()
    return int(row.id)


def first_owner(conn: sa.Connection, organization_id: int) -> int | None:
    """The organization's earliest owner: who acts for it where no user is named (the CLI's
    default user, the creator of the demo's examples)."""
    query = (
        sa.select(users.c.id)
        .where(
            users.c.organization_id == organization_id,
            users.c.role == Role.OWNER.value,
            ACTIVE,
        )
        .order_by(users.c.id)
        .limit(1)
    )
    return conn.execute(query).scalar()


def create_user(
    conn: sa.Connection,
    organization_id: int,
    email: str,
    role: Role | str,
    password: str | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> int:
    email = normalise_user_email(email)
    try:
        role = Role(role)
    except ValueError:
        raise InvalidInput("must be one of owner, admin, member", "role") from None
    # Only this organization's users are looked at: whether another organization has the email
    # is none of the caller's business (emails are unique per organization).
    taken = conn.execute(
        sa.select(users.c.id, users.c.removed_at).where(
            users.c.organization_id == organization_id, users.c.email == email
        )
    ).first()
    if taken is not None and taken.removed_at is None:
        raise Conflict(f"a user with email {email} already exists in this organization", "email")
    if taken is not None:  # added back: the same user, so what they made is theirs again
        conn.execute(
            users.update()
            .where(users.c.id == taken.id)
            .values(
                role=role.value,
                password_hash=hash_password(password, email) if password else None,
                removed_at=None,
            )
        )
        return int(taken.id)
    row = conn.execute(
        users.insert()
        .values(
            organization_id=organization_id,
            email=email,
            role=role.value,
            password_hash=hash_password(password, email) if password else None,
            created_at=clock.now(),
        )
        .returning(users.c.id)
    ).one()
    return int(row.id)


def normalise_user_email(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or len(email) > 320:
        raise InvalidInput(f"{email!r} is not an email address", "email")
    return email


def set_password(conn: sa.Connection, user_id: int, password: str) -> None:
    email = conn.execute(sa.select(users.c.email).where(users.c.id == user_id)).scalar_one()
    conn.execute(
        users.update()
        .where(users.c.id == user_id)
        .values(password_hash=hash_password(password, email))
    )


def issue_token(
    conn: sa.Connection,
    user_id: int,
    name: str = "cli",
    project_id: int | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> str:
    """Create a token and return it in clear text: the only time it is ever visible."""
    prefix = secrets.token_hex(4)
    token = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    conn.execute(
        api_tokens.insert().values(
            user_id=user_id,
            project_id=project_id,
            name=name,
            prefix=prefix,
            token_hash=hash_token(token),
            created_at=clock.now(),
        )
    )
    return token


def authenticate_token(
    conn: sa.Connection, token: str, clock: Clock = SYSTEM_CLOCK
) -> Principal | None:
    """The principal behind a token, or None for an unknown or revoked one. Its last use is
    recorded when the stored one is a minute old or more: decided here, from the row just read,
    because on SQLite even an UPDATE that matches nothing takes the write lock."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = conn.execute(
        sa.select(
            api_tokens.c.id.label("token_id"),
            api_tokens.c.project_id,
            api_tokens.c.last_used_at,
            users.c.id,
            users.c.organization_id,
            users.c.email,
            users.c.role,
        )
        .join(users, users.c.id == api_tokens.c.user_id)
        .where(
            api_tokens.c.token_hash == hash_token(token), api_tokens.c.revoked_at.is_(None), ACTIVE
        )
    ).first()
    if row is None:
        return None
    now = clock.now()
    if row.last_used_at is None or as_utc(row.last_used_at) + TOKEN_USE_RECORDED_EVERY <= now:
        conn.execute(
            api_tokens.update().where(api_tokens.c.id == row.token_id).values(last_used_at=now)
        )
    return Principal(row.id, row.organization_id, row.email, Role(row.role), row.project_id)


def authenticate_password(conn: sa.Connection, email: str, password: str) -> Principal | None:
    """The user with this email whose password matches. The same email may be a user of several
    organizations (each with its own password); if one password opens several, the oldest."""
    rows = conn.execute(
        sa.select(users).where(users.c.email == email.strip().lower(), ACTIVE).order_by(users.c.id)
    ).all()
    if not rows:
        verify_password(None, password)  # an unknown email costs what a wrong password does
        return None
    for row in rows:
        if verify_password(row.password_hash, password):
            return Principal(row.id, row.organization_id, row.email, Role(row.role), None)
    return None


def change_role(
    conn: sa.Connection, actor: Principal | None, user_id: int, role: Role | str
) -> None:
    """Give a user of the actor's organization another role. `actor` None: the operator (the
    CLI), held to the organization's rules but not to a role's."""
    try:
        role = Role(role)
    except ValueError:
        raise InvalidInput("must be one of owner, admin, member", "role") from None
    user = _managed_user(conn, actor, user_id)
    if role is Role.OWNER and actor is not None and actor.role is not Role.OWNER:
        raise Forbidden("only an owner may make another user an owner")
    if user.role == Role.OWNER.value and role is not Role.OWNER:
        _keep_an_owner(conn, user, "made an admin or a member", "role")
    conn.execute(users.update().where(users.c.id == user.id).values(role=role.value))


def remove_user(
    conn: sa.Connection, actor: Principal | None, user_id: int, clock: Clock = SYSTEM_CLOCK
) -> str:
    """Remove a user from the organization: they can no longer log in, their tokens are revoked
    and their sessions ended at once. The row stays (segments, campaigns and history name it);
    adding the same email again brings the user back. Returns their email."""
    user = _managed_user(conn, actor, user_id)
    if user.role == Role.OWNER.value:
        _keep_an_owner(conn, user, "removed", None)
    now = clock.now()
    conn.execute(users.update().where(users.c.id == user.id).values(removed_at=now))
    conn.execute(
        api_tokens.update()
        .where(api_tokens.c.user_id == user.id, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    conn.execute(web_sessions.delete().where(web_sessions.c.user_id == user.id))
    return str(user.email)


def _managed_user(conn: sa.Connection, actor: Principal | None, user_id: int) -> sa.Row[object]:
    """The user `actor` may change: one of their organization's (else 404), and not an owner
    unless the actor is one (the CLI's operator may change anyone)."""
    query = sa.select(users).where(users.c.id == user_id, ACTIVE)
    if actor is not None:
        query = query.where(users.c.organization_id == actor.organization_id)
    user = conn.execute(query).first()
    if user is None:
        raise NotFound(f"no user {user_id} in this organization")
    if user.role == Role.OWNER.value and actor is not None and actor.role is not Role.OWNER:
        raise Forbidden("only an owner may change or remove an owner")
    return user


def _keep_an_owner(
    conn: sa.Connection, user: sa.Row[object], change: str, path: str | None
) -> None:
    """Refuse to leave the organization without an owner. Its owners' rows are locked in id
    order, so of two owners demoting each other at once the second waits, then finds itself the
    last owner. SQLite has no row locks and reads outside a write: a write first takes its one
    write lock, and the owners are read after it."""
    if conn.dialect.name == "sqlite":
        conn.execute(users.update().where(users.c.id == user.id).values(role=users.c.role))
    owners = conn.execute(
        sa.select(users.c.id)
        .where(
            users.c.organization_id == user.organization_id,
            users.c.role == Role.OWNER.value,
            ACTIVE,
        )
        .order_by(users.c.id)
        .with_for_update()
    ).scalars()
    if not set(owners) - {user.id}:
        raise Conflict(
            f"{user.email} is the organization's last owner and cannot be {change}: "
            "make another user an owner first",
            path,
        )


def revoke_token(conn: sa.Connection, prefix: str, clock: Clock = SYSTEM_CLOCK) -> bool:
    result = conn.execute(
        api_tokens.update()
        .where(api_tokens.c.prefix == prefix, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=clock.now())
    )
    return result.rowcount > 0


def start_session(conn: sa.Connection, user_id: int, clock: Clock = SYSTEM_CLOCK) -> str:
    """A new session for the user (every log-in gets a fresh one); returns the cookie value."""
    token = secrets.token_urlsafe(32)
    now = clock.now()
    conn.execute(
        web_sessions.insert().values(
            user_id=user_id,
            token_hash=hash_token(token),
            created_at=now,
            last_seen_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    conn.execute(users.update().where(users.c.id == user_id).values(last_login_at=now))
    return token


def authenticate_session(
    conn: sa.Connection, token: str, clock: Clock = SYSTEM_CLOCK
) -> Principal | None:
    """The user behind a session cookie, or None when it is unknown, expired or idle too long."""
    now = clock.now()
    row = conn.execute(
        sa.select(
            web_sessions.c.id.label("session_id"),
            web_sessions.c.last_seen_at,
            users.c.id,
            users.c.organization_id,
            users.c.email,
            users.c.role,
        )
        .join(users, users.c.id == web_sessions.c.user_id)
        .where(
            web_sessions.c.token_hash == hash_token(token), web_sessions.c.expires_at > now, ACTIVE
        )
    ).first()
    if row is None or as_utc(row.last_seen_at) + SESSION_IDLE <= now:
        return None
    if as_utc(row.last_seen_at) + _SESSION_TOUCH <= now:
        conn.execute(
            web_sessions.update()
            .where(web_sessions.c.id == row.session_id)
            .values(last_seen_at=now)
        )
    return Principal(row.id, row.organization_id, row.email, Role(row.role), None)


def end_session(conn: sa.Connection, token: str) -> None:
    conn.execute(web_sessions.delete().where(web_sessions.c.token_hash == hash_token(token)))


def csrf_token(session_token: str) -> str:
    """The CSRF token of a session: forms and the UI's API calls must send it back."""
    return hmac.new(session_token.encode(), b"segmint-csrf", hashlib.sha256).hexdigest()


def csrf_matches(session_token: str, sent: str | None) -> bool:
    return sent is not None and hmac.compare_digest(csrf_token(session_token), sent)
