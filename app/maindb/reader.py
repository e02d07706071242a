"""MainDbReader: the only handle services get on the main database, and it can only SELECT.

Write code takes a sqlmodel Session; this is a different type with no add/commit/execute-any
method, so the type checker refuses it wherever a Session is expected (and the reverse).
Under it the database refuses writes too (mode=ro, read-only transactions): two locks.
"""

import time
from collections.abc import Callable
from typing import Any, TypeAlias

from sqlalchemy import Connection, RowMapping, Select, literal, select
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import ColumnClause

from app.maindb.reflection import SECRET_COLUMNS, MainSchema, MainTable

# Any SELECT, whatever its row shape (SQLAlchemy 2.1's Select is variadic).
AnySelect: TypeAlias = Select[*tuple[Any, ...]]


class MainDbDeadlineError(Exception):
    """The unit of work ran past its deadline before the next statement started."""


def refuse_secret_columns(statement: AnySelect) -> None:
    """Belt and braces: a SELECT whose output names a secret column never reaches the DB."""
    for expression in statement.selected_columns:
        for element in visitors.iterate(expression):
            if isinstance(element, ColumnClause) and element.name in SECRET_COLUMNS:
                raise ValueError(f"refusing to select the secret column {element.name!r}")


class MainDbReader:
    """Read-only access to one main-DB connection for one unit of work."""

    __slots__ = ("_connection", "_deadline", "_schema", "_schema_source")

    def __init__(
        self,
        connection: Connection,
        *,
        schema_source: Callable[[Connection], MainSchema],
        deadline: float,
    ) -> None:
        self._connection = connection
        self._schema_source = schema_source
        self._schema: MainSchema | None = None
        self._deadline = deadline

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return self._connection.dialect.name

    def schema(self) -> MainSchema:
        """The reflected schema (cached across units of work for a short TTL)."""
        if self._schema is None:
            self._check_deadline()
            self._schema = self._schema_source(self._connection)
        return self._schema

    def table(self, name: str, *required: str) -> MainTable:
        """A reflected table with the columns a view needs (else PanelUnavailableError)."""
        table = self.schema().table(name)
        table.require(*required)
        return table

    def rows(self, statement: AnySelect) -> list[RowMapping]:
        """Every row of a SELECT, as mappings."""
        return list(self._run(statement).mappings().all())

    def first(self, statement: AnySelect) -> RowMapping | None:
        """The first row of a SELECT, or None."""
        return self._run(statement.limit(1)).mappings().first()

    def scalar(self, statement: AnySelect) -> Any:
        """The first column of the first row of a SELECT."""
        return self._run(statement).scalar()

    def ping(self) -> None:
        """One round trip: SELECT 1."""
        self._run(select(literal(1)))

    def _run(self, statement: AnySelect) -> Any:
        if not isinstance(statement, Select):
            raise TypeError("MainDbReader runs SELECT statements only")
        refuse_secret_columns(statement)
        self._check_deadline()
        return self._connection.execute(statement)

    def _check_deadline(self) -> None:
        if time.monotonic() > self._deadline:
            raise MainDbDeadlineError
