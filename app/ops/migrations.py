"""Schema migrations (Alembic) as plain functions for the CLI, the app start-up and tests."""

import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Dialect, Engine, MetaData, Table, inspect, text
from sqlalchemy.schema import CreateTable

import app.models  # noqa: F401  (registers every table)
from app.core.timeutil import utcnow
from app.models import metadata
from app.ops import partitions

logger = logging.getLogger("prism.migrations")

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent.parent / "migrations"
LEGACY_TABLES = frozenset({"agent", "agentevent", "runbook", "metric", "minersample", "setting"})
BASELINE_REVISION = "0001_baseline"
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
    """Run an Alembic command in one transaction: a failed migration leaves nothing behind."""
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        try:
            if sqlite:
                # Foreign keys can only be switched off outside a transaction; off, rebuilding
                # a parent table (adoption, batch migrations) cannot fire cascades. pysqlite
                # opens no transaction before DDL by itself: BEGIN explicitly, DDL is atomic.
                connection.exec_driver_sql("PRAGMA foreign_keys = OFF")
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            elif connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
                )
            action(alembic_config(connection=connection), *args, **kwargs)
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
        finally:
            if sqlite:  # the pooled connection goes back as the engine made it
                connection.exec_driver_sql("PRAGMA foreign_keys = ON")
                connection.commit()


def upgrade(engine: Engine, revision: str = "head") -> None:
    _run(engine, _adopt_and_upgrade, revision)


def _adopt_and_upgrade(config: Config, revision: str) -> None:
    connection: Connection = config.attributes["connection"]
    # Checked under the migration lock: another process may have adopted it meanwhile.
    if is_legacy_database(connection):
        logger.info("adopting a database made by the earlier service (no version table)")
        if connection.dialect.name == "sqlite":
            _rebuild_legacy_sqlite_tables(connection)
    command.upgrade(config, revision)
    # A database started after days down gets today's day partitions before any insert.
    partitions.ensure_partitions(
        connection, now=utcnow(), skew_seconds=partitions.START_UP_SKEW_SECONDS
    )


def _rebuild_legacy_sqlite_tables(connection: Connection) -> None:
    """Give the earlier service's tables the baseline's exact shape, keeping every row.

    Its create_all made columns NOT NULL that may be null here (agent.last_seen_at), typed
    tags and schemas as VARCHAR, and left agentevent without its foreign key. SQLite alters
    none of that in place, so each table is rebuilt: renamed aside, created as the baseline
    revision defines it, refilled, and the old copy dropped (its indexes with it; the next
    revision creates ours). Values are copied as stored: naive timestamps already mean UTC
    and comma-separated tags read back as lists. Runs inside the migration's transaction.
    """
    baseline = script_directory().get_revision(BASELINE_REVISION)
    if baseline is None:
        raise RuntimeError(f"migration {BASELINE_REVISION} not found")
    target = MetaData()
    for name, columns in baseline.module._tables().items():
        Table(name, target, *columns)
    present = set(inspect(connection).get_table_names())
    # Renaming a table aside must not rewrite the other tables' references to it.
    connection.exec_driver_sql("PRAGMA legacy_alter_table = ON")
    try:
        for table in target.sorted_tables:  # parents before children
            if table.name in present:
                _rebuild_sqlite_table(connection, table)
    finally:
        connection.exec_driver_sql("PRAGMA legacy_alter_table = OFF")
    orphans = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if orphans:
        # The earlier service never checked parents; such rows are kept exactly as they were.
        logger.warning("kept %d adopted rows whose parent row is missing", len(orphans))


def _rebuild_sqlite_table(connection: Connection, table: Table) -> None:
    dialect = connection.dialect
    aside = f"_prism_legacy_{table.name}"
    present = {column["name"] for column in inspect(connection).get_columns(table.name)}
    connection.exec_driver_sql(f'ALTER TABLE "{table.name}" RENAME TO "{aside}"')
    connection.execute(CreateTable(table))
    names, values = [], []
    for column in table.columns:
        if column.name not in present:
            continue  # left to the column's default
        value = f'"{column.name}"'
        default = column.server_default
        if not column.nullable and default is not None:
            value = f"COALESCE({value}, {_default_sql(default.arg, dialect)})"  # type: ignore[attr-defined]
        names.append(f'"{column.name}"')
        values.append(value)
    connection.exec_driver_sql(
        f'INSERT INTO "{table.name}" ({", ".join(names)}) '  # noqa: S608  (names from the schema)
        f'SELECT {", ".join(values)} FROM "{aside}"'
    )
    connection.exec_driver_sql(f'DROP TABLE "{aside}"')


def _default_sql(default: Any, dialect: Dialect) -> str:
    if isinstance(default, str):
        return "'" + default.replace("'", "''") + "'"
    return str(default.compile(dialect=dialect))


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
            connection,
            opts={
                "compare_type": True,
                "target_metadata": metadata,
                "include_name": partitions.include_in_comparison,
            },
        )
        return list(compare_metadata(context, metadata))


def describe_differences(found: list[Any]) -> list[str]:
    """One readable line per difference returned by differences()."""
    lines: list[str] = []
    for difference in found:
        # Column changes come grouped in a list, one tuple per changed attribute.
        for change in difference if isinstance(difference, list) else [difference]:
            lines.append(_describe(change))
    return lines


def _describe(change: tuple[Any, ...]) -> str:
    kind = change[0]
    if kind in ("add_table", "remove_table"):
        where = "missing from the database" if kind == "add_table" else "not in the models"
        return f"table {change[1].name}: {where}"
    if kind in ("add_index", "remove_index"):
        index = change[1]
        columns = ", ".join(column.name for column in index.columns)
        where = "missing from the database" if kind == "add_index" else "not in the models"
        return f"index {index.name} on {index.table.name}({columns}): {where}"
    if kind in ("add_column", "remove_column"):
        where = "missing from the database" if kind == "add_column" else "not in the models"
        return f"column {change[2]}.{change[3].name}: {where}"
    if kind.startswith("modify_"):
        attribute = kind.removeprefix("modify_")
        return (
            f"column {change[2]}.{change[3]}: {attribute} is {change[5]!r} in the database, "
            f"{change[6]!r} in the models"
        )
    if kind in ("add_fk", "remove_fk", "add_constraint", "remove_constraint"):
        constraint = change[1]
        columns = ", ".join(column.name for column in constraint.columns)
        what = "foreign key" if kind.endswith("_fk") else "constraint"
        where = "missing from the database" if kind.startswith("add") else "not in the models"
        return f"{what} on {constraint.table.name}({columns}): {where}"
    return " ".join(str(part) for part in change)


def new_revision(engine: Engine, message: str) -> str:
    """Autogenerate a revision file from the model changes; returns its path.

    Named like the others: revision id `NNNN_slug`, file `YYYY_MM_DD_NNNN_slug.py`.
    """
    slug = re.sub(r"[^a-z0-9]+", "_", message.lower()).strip("_")[:40] or "revision"
    sequence = head_revision().split("_", 1)[0]
    number = int(sequence) + 1 if sequence.isdigit() else 1
    with engine.begin() as connection:
        config = alembic_config(connection=connection)
        config.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s")
        script = command.revision(
            config, message=message, autogenerate=True, rev_id=f"{number:04d}_{slug}"
        )
    if script is None or isinstance(script, list):
        raise RuntimeError("alembic did not create a revision")
    return str(script.path)
