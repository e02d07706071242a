"""Schema migrations (Alembic) as plain functions for the CLI, the app start-up and tests."""

import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

import app.models  # noqa: F401  (registers every table)
from app.models import metadata

logger = logging.getLogger("prism.migrations")

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
LEGACY_TABLES = frozenset({"agent", "agentevent", "runbook", "metric", "minersample", "setting"})
# Replicas starting together on one PostgreSQL migrate one at a time.
_PG_MIGRATION_LOCK = 0x5052_4953  # "PRIS"


@dataclass(frozen=True)
class MigrationStatus:
    current: str | None
    head: str
    pending: list[str]

    @property
    def at_head(self) -> bool:
        return self.current == self.head


def alembic_config(**attributes: Any) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes.update(attributes)
    return config


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    head = script_directory().get_current_head()
    if head is None:
        raise RuntimeError("no migration revisions found")
    return head


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def is_legacy_database(connection: Connection) -> bool:
    """Tables of the earlier service are present, but no Alembic version table."""
    names = set(inspect(connection).get_table_names())
    return bool(names & LEGACY_TABLES) and "alembic_version" not in names


def _run(engine: Engine, action: Any, *args: Any, **kwargs: Any) -> None:
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
            )
        action(alembic_config(connection=connection), *args, **kwargs)


def upgrade(engine: Engine, revision: str = "head") -> None:
    with engine.connect() as connection:
        if is_legacy_database(connection):
            logger.info("adopting a database made by the earlier service (no version table)")
    _run(engine, command.upgrade, revision)


def upgrade_sql(url: str, revision: str = "head", start: str | None = None) -> str:
    """The SQL an upgrade would run, applied nowhere."""
    buffer = io.StringIO()
    config = alembic_config(url=url)
    config.output_buffer = buffer
    target = f"{start}:{revision}" if start else revision
    command.upgrade(config, target, sql=True)
    return buffer.getvalue()


def downgrade(engine: Engine, revision: str) -> None:
    _run(engine, command.downgrade, revision)


def status(engine: Engine) -> MigrationStatus:
    scripts = script_directory()
    with engine.connect() as connection:
        current = current_revision(connection)
    head = head_revision()
    pending = [
        script.revision
        for script in scripts.iterate_revisions(head, current or "base")
        if script.revision != current
    ]
    pending.reverse()
    return MigrationStatus(current=current, head=head, pending=pending)


def differences(engine: Engine) -> list[Any]:
    """What autogenerate sees between the models and the database (empty when in sync)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "target_metadata": metadata}
        )
        return list(compare_metadata(context, metadata))


def new_revision(engine: Engine, message: str) -> str:
    """Autogenerate a revision file from the model changes; returns its path."""
    with engine.begin() as connection:
        config = alembic_config(connection=connection)
        script = command.revision(config, message=message, autogenerate=True)
    if script is None or isinstance(script, list):
        raise RuntimeError("alembic did not create a revision")
    return str(script.path)
