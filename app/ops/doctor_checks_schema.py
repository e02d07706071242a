"""Schema checks: the earlier service's tables, pending migrations, model drift, indexes.

Seed 000's troubleshooting: tables made by `create_all` with no migration history ("Schema
mismatch after model change"), and `agent_event` where the console reads `agentevent`.
A database that still needs adopting or upgrading is not compared with the models: the
comparison would only list what `prism db upgrade` is about to add.
"""

from typing import Any

from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, Index, inspect, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import CreateIndex

from app.models import metadata
from app.ops import migrations
from app.ops.doctor_checks import Check, failed, first_line, names, passed, warned
from app.ops.doctor_checks_fold import fold_check

# Names the seeds warn about: a table named from the class with an underscore, which the
# console never reads, beside (or instead of) the one it does.
MISNAMED_TABLES = {"agent_event": "agentevent", "miner_sample": "minersample"}
# Left to the index check (missing indexes), or not the models' business (tables and
# indexes an operator added).
_NOT_DRIFT = frozenset({"add_index", "remove_index", "remove_table"})


def schema_checks(engine: Engine) -> list[Check]:
    with engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
        legacy = migrations.is_legacy_database(connection)
        misnamed = {
            name: _row_count(connection, name) for name in MISNAMED_TABLES if name in tables
        }
    checks = [_legacy_check(legacy, tables, misnamed)]
    if legacy:
        return checks  # migrations, drift and indexes are what adoption brings
    migration_check = _migrations_check(engine, tables)
    checks.append(migration_check)
    if migration_check.status == "pass":
        checks.append(_drift_check(engine))
        checks.append(_index_check(engine))
        checks.append(fold_check(engine))
    return checks


def _row_count(connection: Connection, table: str) -> int | None:
    """Its rows, or None when the console's role cannot read it (a savepoint keeps the
    connection usable after the refusal)."""
    quoted = connection.dialect.identifier_preparer.quote(table)
    try:
        with connection.begin_nested():
            return int(connection.execute(text(f"SELECT count(*) FROM {quoted}")).scalar_one())  # noqa: S608
    except DBAPIError:
        return None


def _legacy_check(legacy: bool, tables: set[str], misnamed: dict[str, int | None]) -> Check:
    found: list[str] = []
    advice: list[str] = []
    if legacy:
        earlier = sorted(tables & migrations.LEGACY_TABLES)
        found.append(
            f"tables of the earlier service ({', '.join(earlier)}) with no alembic_version "
            "table: made by create_all, never migrated"
        )
        advice.append(
            "run `prism db upgrade`: it adopts them in place and keeps every row "
            "(`prism db backup` first)"
        )
    for name, rows in misnamed.items():
        counted = "rows unknown" if rows is None else f"{rows:,} row{'s' if rows != 1 else ''}"
        found.append(
            f"table {name} ({counted}) is not read: the console's table is {MISNAMED_TABLES[name]}"
        )
        columns = "id, agent_id, kind, at, message" if name == "agent_event" else "*"
        advice.append(
            f"move its rows: INSERT INTO {MISNAMED_TABLES[name]} ({columns}) SELECT {columns} "  # noqa: S608  (advice text, never run)
            f"FROM {name}; then DROP TABLE {name}"
        )
    if not found:
        return passed("legacy_tables", "no table of the earlier service left unadopted")
    detail, hint = "; ".join(found), "; ".join(advice)
    return (
        failed("legacy_tables", detail, hint) if legacy else warned("legacy_tables", detail, hint)
    )


def _migrations_check(engine: Engine, tables: set[str]) -> Check:
    try:
        state = migrations.status(engine)
    except CommandError as exc:
        return failed(
            "migrations",
            f"the database is at a revision this version does not know ({first_line(exc)})",
            "a newer Prism Console migrated it: run that version, or restore a backup",
        )
    if state.at_head:
        return passed("migrations", f"at the head revision {state.head}")
    if state.current is None and not tables - {"alembic_version"}:
        return failed(
            "migrations", "the database is empty: no migration applied", "run `prism db upgrade`"
        )
    pending = state.pending
    return failed(
        "migrations",
        f"at {state.current or 'no revision'}, {len(pending)} migration"
        f"{'s' if len(pending) != 1 else ''} pending: {names(pending)}",
        "run `prism db upgrade` (the service does at start unless PRISM_AUTO_MIGRATE=false)",
    )


def _drift_check(engine: Engine) -> Check:
    changes = [
        change
        for difference in migrations.differences(engine)
        for change in (difference if isinstance(difference, list) else [difference])
        if change[0] not in _NOT_DRIFT
    ]
    if not changes:
        return passed("schema_drift", "tables and columns match the models")
    lines = migrations.describe_differences(changes)
    return failed(
        "schema_drift",
        f"{len(lines)} difference{'s' if len(lines) != 1 else ''} from the models: "
        f"{names(lines, 3)}",
        "someone changed the schema by hand: `prism db check` lists every difference; undo "
        "them, or restore a backup",
    )


def _index_check(engine: Engine) -> Check:
    with engine.connect() as connection:
        inspector = inspect(connection)
        present = set(inspector.get_table_names())
        missing: list[Index] = []
        for table in metadata.sorted_tables:
            if table.name not in present:
                continue  # a missing table is model drift
            live = inspector.get_indexes(table.name)
            live_names = {index["name"] for index in live}
            live_columns = {tuple(index["column_names"]) for index in live}
            for index in table.indexes:
                columns = tuple(column.name for column in index.columns)
                if index.name not in live_names and columns not in live_columns:
                    missing.append(index)
        invalid = _invalid_indexes(connection)
    expected = sum(len(table.indexes) for table in metadata.sorted_tables)
    if missing:
        described = [_describe(index) for index in missing]
        statements = "; ".join(
            str(CreateIndex(index).compile(dialect=engine.dialect)) for index in missing
        )
        return failed(
            "indexes",
            f"{len(missing)} of {expected} expected indexes missing: {names(described)}",
            f"recreate {'it' if len(missing) == 1 else 'them'}: {' '.join(statements.split())}",
        )
    if invalid:
        return failed(
            "indexes",
            f"invalid (unusable) indexes: {names(invalid)}, left by a failed CREATE INDEX "
            "CONCURRENTLY",
            "; ".join(f"REINDEX INDEX {name}" for name in invalid),
        )
    return passed("indexes", f"all {expected} indexes the models declare are present")


def _describe(index: Index) -> str:
    table: Any = index.table
    return f"{index.name} on {table.name}({', '.join(column.name for column in index.columns)})"


def _invalid_indexes(connection: Connection) -> list[str]:
    if connection.dialect.name != "postgresql":
        return []
    rows = connection.execute(
        text(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE NOT i.indisvalid AND n.nspname = current_schema() ORDER BY c.relname"
        )
    )
    return [str(row[0]) for row in rows]
