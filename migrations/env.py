"""Alembic environment: the engine comes from app.ops.migrations (or PRISM_API_DB_URL)."""

from alembic import context
from sqlalchemy import Connection

import app.models  # noqa: F401  (registers every table on the metadata)
from app.core.config import Settings
from app.core.db import create_db_engine, parse_database_url
from app.models import metadata
from app.ops.partitions import include_in_comparison

config = context.config
target_metadata = metadata


def _configure(connection: Connection | None = None, url: str | None = None) -> None:
    context.configure(
        connection=connection,
        url=url,
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=True,  # SQLite alters tables by copying them
        literal_binds=url is not None,
        # Day partitions (PostgreSQL) are made at run time, not by the models.
        include_name=include_in_comparison,
    )


def run_offline() -> None:
    url = config.attributes.get("url") or Settings().api_db_url
    _configure(url=parse_database_url(url).url.render_as_string(hide_password=False))
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection: Connection | None = config.attributes.get("connection")
    if connection is not None:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_db_engine(parse_database_url(Settings().api_db_url))
    with engine.connect() as own_connection:
        _configure(connection=own_connection)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
