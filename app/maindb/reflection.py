"""What the main database holds right now: tables, views and columns, reflected on demand.

The main API owns its schema and changes it on its own schedule, so nothing here is assumed:
the catalogue is read at first use and again after a short TTL (or after a failed query).
Reflection reads catalogue rows only (names and declared types), never table data, and the
tables it builds live in their own MetaData with the secret columns left out entirely, so no
statement built from them can name a secret.
"""

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Column, Connection, MetaData, Table, text
from sqlalchemy.exc import DBAPIError

logger = logging.getLogger("prism.maindb")

ColumnKind = Literal["integer", "numeric", "temporal", "boolean", "text", "other"]

# Never selected, never part of a reflected table: SPEC §8 "Secrets never leave it".
SECRET_COLUMNS = frozenset({"password_hash", "siwe_nonce", "sig_value"})

# PostgreSQL: what the connected role may actually read in the current schema. Tables or
# columns it has no SELECT on are treated as absent (the column-grant hardening in
# docs/maindb.md relies on this).
_PG_CATALOG = text(
    """
    SELECT c.relname AS table_name, a.attname AS column_name,
           format_type(a.atttypid, a.atttypmod) AS declared_type
    FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
    WHERE n.nspname = current_schema()
      AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
      AND a.attnum > 0 AND NOT a.attisdropped
      AND has_column_privilege(c.oid, a.attnum, 'SELECT')
    ORDER BY c.relname, a.attnum
    """
)
# SQLite: tables and views, then each one's columns (a broken view fails alone).
_SQLITE_TABLES = text(
    """
    SELECT name FROM sqlite_master
    WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
    ORDER BY name
    """
)
_SQLITE_COLUMNS = text("SELECT name, type FROM pragma_table_info(:table) ORDER BY cid")


def column_kind(declared_type: str) -> ColumnKind:
    """Classify a declared type the way SQLite's affinity rules would, extended for PG."""
    declared = declared_type.lower()
    if "int" in declared or declared in {"serial", "bigserial", "smallserial"}:
        return "integer"
    if any(word in declared for word in ("timestamp", "date", "time")):
        return "temporal"
    if "bool" in declared:
        return "boolean"
    if any(word in declared for word in ("char", "text", "clob", "uuid", "json", "citext")):
        return "text"
    if any(word in declared for word in ("numeric", "decimal", "real", "double", "float")):
        return "numeric"
    return "other"


class PanelUnavailableError(Exception):
    """A table or column a view needs is missing; the view shows the reason instead."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class MainTable:
    """One reflected table or view: its readable, non-secret columns and their kinds."""

    name: str
    kinds: dict[str, ColumnKind]
    table: Table

    @property
    def columns(self) -> list[str]:
        return list(self.kinds)

    def has(self, *names: str) -> bool:
        return all(name in self.kinds for name in names)

    def require(self, *names: str) -> None:
        """Raise PanelUnavailableError naming the first missing column."""
        for name in names:
            if name not in self.kinds:
                raise PanelUnavailableError(
                    f"column {self.name}.{name} not found in the main database"
                )

    def col(self, name: str) -> Column[Any]:
        """The column to put in a statement; a missing one hides the panel."""
        self.require(name)
        column: Column[Any] = self.table.c[name]
        return column

    def pick(self, allowlist: Iterable[str]) -> list[Column[Any]]:
        """The allowlisted columns this table has, in allowlist order."""
        return [self.table.c[name] for name in allowlist if name in self.kinds]

    def kind(self, name: str) -> ColumnKind:
        return self.kinds.get(name, "other")


@dataclass(frozen=True)
class MainSchema:
    """Every table and view the console can read, with every column (names only)."""

    tables: dict[str, MainTable] = field(default_factory=dict)
    all_columns: dict[str, list[str]] = field(default_factory=dict)

    def table(self, name: str) -> MainTable:
        """The reflected table; a missing one hides the panel that needs it."""
        found = self.tables.get(name)
        if found is None:
            raise PanelUnavailableError(f"table {name} not found in the main database")
        return found

    def find(self, name: str) -> MainTable | None:
        return self.tables.get(name)


def reflect(connection: Connection) -> MainSchema:
    """Read the catalogue of the connected database into a fresh MetaData."""
    declared: dict[str, dict[str, str]] = {}
    if connection.dialect.name == "postgresql":
        for table_name, column_name, declared_type in connection.execute(_PG_CATALOG):
            declared.setdefault(str(table_name), {})[str(column_name)] = str(declared_type)
    else:
        for name in connection.execute(_SQLITE_TABLES).scalars().all():
            try:
                rows = connection.execute(_SQLITE_COLUMNS, {"table": name}).all()
            except DBAPIError as exc:
                # A view over a dropped table cannot be described; it is simply not there.
                logger.info("main database: skipping %s: %s", name, str(exc.orig).strip())
                continue
            declared[str(name)] = {str(column): str(kind or "") for column, kind in rows}
    metadata = MetaData()
    tables: dict[str, MainTable] = {}
    for name, columns in declared.items():
        kinds = {
            column: column_kind(type_name)
            for column, type_name in columns.items()
            if column not in SECRET_COLUMNS
        }
        # Untyped columns: values come back exactly as the driver gives them, and every
        # conversion happens in app/maindb/convert.py under the console's own rules.
        table = Table(name, metadata, *(Column(column) for column in kinds))
        tables[name] = MainTable(name=name, kinds=kinds, table=table)
    return MainSchema(
        tables=tables, all_columns={name: list(columns) for name, columns in declared.items()}
    )


class SchemaCache:
    """The last reflection, reused for `ttl_seconds`; thread-safe."""

    def __init__(self, ttl_seconds: float) -> None:
        self.ttl_seconds = ttl_seconds
        self._lock = threading.Lock()
        self._schema: MainSchema | None = None
        self._taken_at = 0.0

    def get(self, connection: Connection) -> MainSchema:
        with self._lock:
            schema = self._schema
            fresh = schema is not None and time.monotonic() - self._taken_at < self.ttl_seconds
        if fresh and schema is not None:
            return schema
        schema = reflect(connection)
        with self._lock:
            self._schema, self._taken_at = schema, time.monotonic()
        return schema

    def invalidate(self) -> None:
        with self._lock:
            self._schema = None
