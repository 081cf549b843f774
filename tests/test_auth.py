"""Passwords, API tokens, users and `bootstrap.init`, on both backends."""

from __future__ import annotations

import hashlib
import threading
from typing import Literal

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy.engine import Engine

from segmint import auth, bootstrap
from segmint.clock import FrozenClock, as_utc
from segmint.errors import Conflict, InvalidInput, NotFound
from segmint.model import Role
from segmint.passwords import common_passwords
from segmint.projects import Project
from segmint.store.tables import api_tokens, organizations, projects, users


def user_id(db: Engine, email: str) -> int:
    with db.connect() as conn:
        return int(conn.execute(sa.select(users.c.id).where(users.c.email == email)).scalar_one())


def test_passwords_are_argon2_hashes() -> None:
    hashed = auth.hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert "correct horse battery" not in hashed
    assert auth.hash_password("correct horse battery") != hashed  # salted
    assert auth.verify_password(hashed, "correct horse battery")
    assert not auth.verify_password(hashed, "correct horse battery!")
    assert not auth.verify_password(hashed, "")
    assert not auth.verify_password(None, "anything at all")
    assert not auth.verify_password("not a hash", "anything at all")


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short", "too short (5 characters)"),
        ("nine-char", "too short (9 characters)"),
        ("password123", "one of the most common passwords"),
        ("Password2024!", "one of the most common passwords"),
        ("!!Welcome1!!", "one of the most common passwords"),
        ("1234567890", "a keyboard or number sequence"),
        ("0987654321", "a keyboard or number sequence"),
        ("QWERTYUIOP", "a keyboard or number sequence"),
        ("abcdefghijk", "a keyboard or number sequence"),
        ("aaaaaaaaaaaa", "a repeated character or short pattern"),
        ("abababababab", "a repeated character or short pattern"),
        ("annabelle.smith@acme.test", "contains your email address or its name"),
        ("annabelle.smith-2024", "contains your email address or its name"),
    ],
)
def test_weak_passwords_are_refused_saying_why(password: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        auth.hash_password(password, "Annabelle.Smith@acme.test")
    assert caught.value.path == "password"
    assert caught.value.message.startswith(reason), caught.value.message
    assert "at least 10 characters" in caught.value.message  # the rule, with the reason


def test_the_common_password_list_ships_with_the_package() -> None:
    assert {"123456", "password", "qwerty", "letmein", "iloveyou"} <= common_passwords()
    assert len(common_passwords()) >= 300
    for good in ("correct horse battery", "s3cret-enough", "segmint-demo", "Ann's 2nd pass"):
        auth.hash_password(good, "ann@acme.test")


class CountingHasher(PasswordHasher):
    """The real argon2 hasher, counting its verifications."""

    verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        CountingHasher.verified += 1
        return super().verify(hash, password)


def test_an_unknown_email_costs_a_log_in_the_same_argon2_verification(
    db: Engine, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No telling which emails exist by how long a log-in takes: every attempt verifies one
    argon2 hash, the user's or a stand-in."""
    with db.begin() as conn:
        auth.create_user(conn, project.organization_id, "ann@acme.test", "member", "s3cret-pass")
    monkeypatch.setattr(auth, "_hasher", CountingHasher())
    attempts = [
        ("ann@acme.test", "wrong-pass"),  # a known user, a wrong password
        ("nobody@acme.test", "wrong-pass"),  # an unknown email
        ("owner@acme.test", "wrong-pass"),  # a user without a password
        ("ann@acme.test", "s3cret-pass"),
    ]
    with db.connect() as conn:
        for email, password in attempts:
            before = CountingHasher.verified
            auth.authenticate_password(conn, email, password)
            assert CountingHasher.verified == before + 1, email


def test_a_users_password_is_stored_hashed(db: Engine, project: Project) -> None:
    with db.begin() as conn:
        auth.create_user(conn, project.organization_id, "ann@acme.test", "member", "s3cret-pass")
    with db.connect() as conn:
        stored = conn.execute(
            sa.select(users.c.password_hash).where(users.c.email == "ann@acme.test")
        ).scalar_one()
        assert stored.startswith("$argon2id$") and "s3cret-pass" not in stored
        principal = auth.authenticate_password(conn, " ANN@acme.test", "s3cret-pass")
        assert principal is not None
        assert (principal.email, principal.role) == ("ann@acme.test", Role.MEMBER)
        assert auth.authenticate_password(conn, "ann@acme.test", "wrong-pass") is None
        assert auth.authenticate_password(conn, "nobody@acme.test", "s3cret-pass") is None
        # The owner from the fixture has no password yet: no password logs in.
        assert auth.authenticate_password(conn, "owner@acme.test", "") is None


def test_set_password(db: Engine, project: Project) -> None:
    owner = user_id(db, "owner@acme.test")
    with db.begin() as conn:
        auth.set_password(conn, owner, "a-new-password")
    with db.connect() as conn:
        assert auth.authenticate_password(conn, "owner@acme.test", "a-new-password") is not None


def test_tokens_are_stored_only_as_a_sha256_hash(
    db: Engine, project: Project, clock: FrozenClock
) -> None:
    owner = user_id(db, "owner@acme.test")
    with db.begin() as conn:
        token = auth.issue_token(conn, owner, name="ci", clock=clock)
    assert token.startswith(auth.TOKEN_PREFIX)
    with db.connect() as conn:
        row = conn.execute(sa.select(api_tokens)).one()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in [str(value) for value in row]
    # The prefix is visible (listings), and is how the token is recognised.
    assert token.startswith(f"{auth.TOKEN_PREFIX}{row.prefix}_")
    assert len(row.prefix) == 8
    assert (row.user_id, row.name, row.project_id) == (owner, "ci", None)
    assert as_utc(row.created_at) == clock.now()
    assert row.last_used_at is None and row.revoked_at is None


def test_tokens_authenticate_until_revoked(
    db: Engine, project: Project, clock: FrozenClock
) -> None:
    owner = user_id(db, "owner@acme.test")
    with db.begin() as conn:
        token = auth.issue_token(conn, owner, project_id=project.id)
        other = auth.issue_token(conn, owner)
    assert token != other

    with db.begin() as conn:
        principal = auth.authenticate_token(conn, token, clock)
    assert principal == auth.Principal(
        owner, project.organization_id, "owner@acme.test", Role.OWNER, project.id
    )
    with db.connect() as conn:
        used = conn.execute(
            sa.select(api_tokens.c.last_used_at).where(api_tokens.c.project_id == project.id)
        ).scalar_one()
    assert as_utc(used) == clock.now()

    prefix = token.split("_")[1]
    with db.begin() as conn:
        assert auth.revoke_token(conn, prefix, clock)
        assert not auth.revoke_token(conn, prefix, clock)  # already revoked
    with db.begin() as conn:
        assert auth.authenticate_token(conn, token) is None
        assert auth.authenticate_token(conn, other) is not None  # the other one still works


@pytest.mark.parametrize(
    "candidate",
    [
        "",
        "sgm_",
        "sgm_deadbeef_not-a-real-token",
        "Bearer sgm_deadbeef_x",
        "not-even-prefixed",
    ],
)
def test_unknown_tokens_are_rejected(db: Engine, project: Project, candidate: str) -> None:
    with db.begin() as conn:
        auth.issue_token(conn, user_id(db, "owner@acme.test"))
        assert auth.authenticate_token(conn, candidate) is None


def test_a_tampered_token_is_rejected(db: Engine, project: Project) -> None:
    with db.begin() as conn:
        token = auth.issue_token(conn, user_id(db, "owner@acme.test"))
        assert (
            auth.authenticate_token(conn, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
        )
        assert auth.authenticate_token(conn, token + "x") is None
        assert auth.authenticate_token(conn, token) is not None


def test_duplicate_user_email_is_a_conflict(db: Engine, project: Project) -> None:
    with db.begin() as conn:
        with pytest.raises(Conflict) as caught:
            auth.create_user(conn, project.organization_id, " Owner@ACME.test ", "admin")
        assert caught.value.path == "email"
        assert "in this organization" in caught.value.message


def test_the_same_email_in_two_organizations_logs_each_into_its_own(
    db: Engine, project: Project
) -> None:
    """Emails are unique per organization: another organization may add the same address (it
    cannot tell it is taken), and each user logs in with its own password."""
    with db.begin() as conn:
        other_org = auth.create_organization(conn, "Globex")
        ours = auth.create_user(
            conn, project.organization_id, "ann@acme.test", "member", "acme pass one"
        )
        theirs = auth.create_user(conn, other_org, "ANN@acme.test", "owner", "globex pass two")
        assert ours != theirs
    with db.connect() as conn:
        acme = auth.authenticate_password(conn, "ann@acme.test", "acme pass one")
        globex = auth.authenticate_password(conn, "ann@acme.test", "globex pass two")
        assert acme is not None and (acme.organization_id, acme.role) == (
            project.organization_id,
            Role.MEMBER,
        )
        assert globex is not None and (globex.organization_id, globex.role) == (
            other_org,
            Role.OWNER,
        )
        assert auth.authenticate_password(conn, "ann@acme.test", "wrong pass") is None


def test_user_input_is_validated(db: Engine, project: Project) -> None:
    with db.begin() as conn:
        with pytest.raises(InvalidInput) as caught:
            auth.create_user(conn, project.organization_id, "new@acme.test", "superuser")
        assert caught.value.path == "role"
        with pytest.raises(InvalidInput) as caught:
            auth.create_user(conn, project.organization_id, "no-at-sign", "member")
        assert caught.value.path == "email"
        new_id = auth.create_user(conn, project.organization_id, " New@Acme.Test", Role.ADMIN)
        row = conn.execute(sa.select(users).where(users.c.id == new_id)).one()
    assert (row.email, row.role, row.password_hash) == ("new@acme.test", "admin", None)


def counts(db: Engine) -> tuple[int, int, int]:
    with db.connect() as conn:
        return tuple(  # type: ignore[return-value]
            int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
            for t in (organizations, projects, users)
        )


def test_bootstrap_init_is_idempotent(db: Engine) -> None:
    first = bootstrap.init(db, "Boss@Acme.test", organization_name="Acme")
    second = bootstrap.init(db, "boss@acme.test")
    third = bootstrap.init(db)

    assert counts(db) == (1, 1, 1)
    assert first.organization_id == second.organization_id == third.organization_id
    assert first.project == second.project == third.project
    assert first.project.slug == bootstrap.DEFAULT_PROJECT
    assert first.owner_id is not None and first.owner_id == second.owner_id
    assert third.owner_id is None
    with db.connect() as conn:
        owner = conn.execute(sa.select(users)).one()
        assert (owner.email, owner.role) == ("boss@acme.test", "owner")
        assert conn.execute(sa.select(organizations.c.name)).scalar_one() == "Acme"


def test_bootstrap_init_sets_the_owners_password(db: Engine) -> None:
    bootstrap.init(db, "boss@acme.test")
    bootstrap.init(db, "boss@acme.test", "first-password")
    with db.connect() as conn:
        assert auth.authenticate_password(conn, "boss@acme.test", "first-password")
    bootstrap.init(db, "boss@acme.test")  # no password given: the stored one stays
    with db.connect() as conn:
        assert auth.authenticate_password(conn, "boss@acme.test", "first-password")
    assert counts(db) == (1, 1, 1)


def test_bootstrap_init_leaves_another_organizations_user_alone(db: Engine) -> None:
    first = bootstrap.init(db, "boss@acme.test")
    with db.begin() as conn:
        other_org = auth.create_organization(conn, "Globex")
        theirs = auth.create_user(conn, other_org, "ceo@globex.test", "member")
    installed = bootstrap.init(db, "ceo@globex.test")
    assert installed.organization_id == first.organization_id
    assert installed.owner_id != theirs
    with db.connect() as conn:
        roles = conn.execute(
            sa.select(users.c.organization_id, users.c.role)
            .where(users.c.email == "ceo@globex.test")
            .order_by(users.c.id)
        ).all()
    assert [tuple(r) for r in roles] == [(other_org, "member"), (first.organization_id, "owner")]


def test_bootstrap_keeps_an_existing_organization(db: Engine, project: Project) -> None:
    installed = bootstrap.init(db, "owner@acme.test")
    assert installed.organization_id == project.organization_id
    assert installed.project.id == project.id
    assert counts(db) == (1, 1, 1)


def test_the_cli_acts_on_the_first_organization_or_the_one_named(
    db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(bootstrap.ORGANIZATION_ENV, raising=False)
    with db.connect() as conn, pytest.raises(InvalidInput, match="segmint init"):
        bootstrap.cli_organization(conn)
    installed = bootstrap.init(db)
    with db.begin() as conn:
        globex = auth.create_organization(conn, "Globex")
        # A second organization (a bench run's, another tenant's) does not stop the CLI.
        assert bootstrap.cli_organization(conn) == installed.organization_id
        monkeypatch.setenv(bootstrap.ORGANIZATION_ENV, "Globex")
        assert bootstrap.cli_organization(conn) == globex
        monkeypatch.setenv(bootstrap.ORGANIZATION_ENV, str(globex))
        assert bootstrap.cli_organization(conn) == globex
        monkeypatch.setenv(bootstrap.ORGANIZATION_ENV, "Initech")
        with pytest.raises(NotFound, match="SEGMINT_ORGANIZATION='Initech'"):
            bootstrap.cli_organization(conn)


def test_two_owners_stepping_down_at_once_leave_one_owner(db: Engine, project: Project) -> None:
    """Each demotion alone leaves an owner; the second must see the first, not the owners as they
    were when it began. The first is held uncommitted while the second starts."""
    with db.begin() as conn:
        second = auth.create_user(conn, project.organization_id, "two@acme.test", Role.OWNER)
    first = user_id(db, "owner@acme.test")
    outcome: list[BaseException | None] = []

    def step_down_second() -> None:
        try:
            with db.begin() as conn:
                auth.change_role(conn, None, second, Role.ADMIN)
            outcome.append(None)
        except BaseException as exc:  # handed to the test's thread
            outcome.append(exc)

    with db.begin() as conn:
        auth.change_role(conn, None, first, Role.ADMIN)
        racing = threading.Thread(target=step_down_second)
        racing.start()
        racing.join(timeout=0.5)  # it reads the owners and waits for this transaction's locks
    racing.join(timeout=60)
    assert len(outcome) == 1 and isinstance(outcome[0], Conflict), outcome
    with db.connect() as conn:
        owners = conn.execute(sa.select(users.c.email).where(users.c.role == "owner")).scalars()
        assert list(owners) == ["two@acme.test"]
