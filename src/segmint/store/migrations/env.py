"""Alembic environment: the engine comes from segmint.store.migrate, never from a config file."""

from alembic import context
from sqlalchemy import Connection

from segmint.store.tables import metadata

engine = context.config.attributes["engine"]


def run(connection: Connection) -> None:
    with connection.begin():
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
            compare_type=True,
        )
        context.run_migrations()
        if connection.dialect.name == "sqlite":
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
            if broken:
                raise RuntimeError(f"a migration broke foreign keys: {broken[:5]}")


with engine.connect() as connection:
    if connection.dialect.name != "sqlite":
        run(connection)
    else:
        # SQLite changes a table by rebuilding it; with foreign keys enforced, dropping the old
        # table would cascade to every child row. Off for the migration (outside a transaction,
        # where the pragma takes effect), checked before commit, then on again.
        connection.exec_driver_sql("PRAGMA foreign_keys = OFF")
        connection.commit()
        try:
            run(connection)
        finally:
            connection.exec_driver_sql("PRAGMA foreign_keys = ON")
            connection.commit()
