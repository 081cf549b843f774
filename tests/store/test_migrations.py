"""The migrations create exactly the schema the code queries, on both databases."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from segmint.store import migrate, tables
from segmint.store.db import create_engine


def _not_a_filter_index(obj: Any, name: str | None, kind: str, reflected: bool, _: Any) -> bool:
    """PostgreSQL's expression indexes for filters (migration 0006) live only in the migration."""
    return not (kind == "index" and reflected and (name or "").startswith("ix_leads_filter_"))


def test_migrated_schema_matches_the_tables(db: Engine) -> None:
    with db.connect() as conn:
        opts = {"compare_type": True, "include_object": _not_a_filter_index}
        context = MigrationContext.configure(conn, opts=opts)
        assert compare_metadata(context, tables.metadata) == []
    assert migrate.current_revision(db) == migrate.head_revision()


def test_every_tenant_table_is_scoped_by_project(db: Engine) -> None:
    inspector = sa.inspect(db)
    for table in tables.TENANT_TABLES:
        columns = {c["name"]: c for c in inspector.get_columns(table.name)}
        assert columns["project_id"]["nullable"] is False
        for index in inspector.get_indexes(table.name):
            assert index["column_names"][0] == "project_id", (table.name, index)


def test_upgrade_from_empty_and_back(db_url: str) -> None:
    engine = create_engine(db_url, poolclass=sa.NullPool)
    migrate.downgrade(engine, "base")
    assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(engine)
    assert {"leads", "events", "segments"} <= set(sa.inspect(engine).get_table_names())
    migrate.upgrade(engine)  # idempotent
    engine.dispose()


def test_lead_email_is_unique_per_project(db: Engine, project) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    row = dict(
        project_id=project.id, email="a@x.test", tags=[], custom={}, created_at=now, updated_at=now
    )
    with db.begin() as conn:
        conn.execute(tables.leads.insert().values(**row))
    try:
        with db.begin() as conn:
            conn.execute(tables.leads.insert().values(**row))
    except sa.exc.IntegrityError:
        pass
    else:
        raise AssertionError("duplicate email accepted")


def _segment(conn: sa.Connection, project_id: int, name: str) -> int:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    values = dict(project_id=project_id, name=name, filter={}, created_at=now, updated_at=now)
    return int(
        conn.execute(
            tables.segments.insert().values(**values).returning(tables.segments.c.id)
        ).scalar_one()
    )


def test_a_deleted_segments_id_is_never_given_again(db: Engine, project) -> None:  # type: ignore[no-untyped-def]
    """History and webhooks name segments by id: a new segment must not inherit a deleted one's
    (SQLite without AUTOINCREMENT reuses the largest id)."""
    with db.begin() as conn:
        _segment(conn, project.id, "kept")
        newest = _segment(conn, project.id, "deleted")
        conn.execute(tables.segments.delete().where(tables.segments.c.id == newest))
        assert _segment(conn, project.id, "new") > newest


def test_upgrading_to_never_reused_ids_keeps_every_row(db_url: str, project) -> None:  # type: ignore[no-untyped-def]
    """Migration 0014 rebuilds SQLite's tables: child rows survive (no cascade from the drop),
    and a segment deleted before the upgrade, still named by history, keeps its id to itself."""
    from datetime import UTC, datetime

    engine = create_engine(db_url, poolclass=sa.NullPool)
    migrate.downgrade(engine, "0013")
    now = datetime.now(UTC)
    with engine.begin() as conn:
        kept = _segment(conn, project.id, "kept")
        gone = _segment(conn, project.id, "gone")
        lead = conn.execute(
            tables.leads.insert()
            .values(project_id=project.id, email="a@x.test", tags=[], custom={})
            .values(created_at=now, updated_at=now)
            .returning(tables.leads.c.id)
        ).scalar_one()
        conn.execute(
            tables.segment_members.insert().values(
                project_id=project.id, segment_id=kept, lead_id=lead, entered_at=now
            )
        )
        history = dict(project_id=project.id, lead_id=lead, at=now, segment_version=1)
        conn.execute(
            tables.membership_history.insert(),
            [
                {**history, "segment_id": segment, "change": "entered", "reason": "created"}
                for segment in (kept, gone)
            ],
        )
        conn.execute(tables.segments.delete().where(tables.segments.c.id == gone))
    migrate.upgrade(engine)
    with engine.begin() as conn:
        members = conn.execute(sa.select(tables.segment_members.c.lead_id)).scalars().all()
        assert members == [lead]
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.leads)).scalar() == 1
        assert _segment(conn, project.id, "new") > gone
    engine.dispose()


def test_upgrading_gives_leads_without_a_level_one_through_a_sweep(db_url: str, project) -> None:  # type: ignore[no-untyped-def]
    """Migration 0016: a project whose leads lack an engagement level is swept by the worker
    (a settings row with the default levels added where there was none), and its leads end
    with the level their events' score gives."""
    from datetime import UTC, datetime

    from segmint.engine import scoring

    engine = create_engine(db_url, poolclass=sa.NullPool)
    migrate.downgrade(engine, "0015")
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            tables.leads.insert(),
            [
                dict(project_id=project.id, email=email, tags=[], custom={}, engagement_score=s)
                | dict(created_at=now, updated_at=now)
                for email, s in (("cold@x.test", 0), ("hot@x.test", 60))
            ],
        )
    migrate.upgrade(engine)
    with engine.begin() as conn:
        assert scoring.due_projects(conn, now) == [project.id]
    scoring.sweep(engine, project.id, now)
    with engine.begin() as conn:
        query = sa.select(tables.leads.c.email, tables.leads.c.engagement_level)
        levels = {row.email: row.engagement_level for row in conn.execute(query)}
        # The sweep scores from events, and these leads have none: both are Cold.
        assert levels == {"cold@x.test": "Cold", "hot@x.test": "Cold"}
        assert scoring.due_projects(conn, now) == []
    engine.dispose()


def test_upgrading_starts_the_history_of_active_account_segments(db_url: str, project) -> None:  # type: ignore[no-untyped-def]
    """Migration 0023: each account segment active at the upgrade gets a full sync queued
    (reason `activation`), so the worker records who is in it then; an inactive one none."""
    from datetime import UTC, datetime

    from segmint.worker.loop import Worker

    engine = create_engine(db_url, poolclass=sa.NullPool)
    migrate.downgrade(engine, "0022")
    now = datetime.now(UTC)
    named_ac = {"field": "name", "op": "contains", "value": "Ac"}
    with engine.begin() as conn:
        account = conn.execute(
            tables.accounts.insert()
            .values(project_id=project.id, name="Acme", metadata={})
            .values(created_at=now, updated_at=now)
            .returning(tables.accounts.c.id)
        ).scalar_one()
        segment_ids = {}
        for name, active in (("on", True), ("off", False)):
            segment_ids[name] = _segment(conn, project.id, name)
            conn.execute(
                tables.segments.update()
                .where(tables.segments.c.id == segment_ids[name])
                .values(audience="accounts", filter=named_ac, active=active)
            )
    migrate.upgrade(engine)
    Worker(engine).drain()
    h = tables.account_membership_history.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(h.segment_id, h.account_id, h.change, h.reason)).all()
    assert [tuple(r) for r in rows] == [(segment_ids["on"], account, "entered", "activation")]
    engine.dispose()
