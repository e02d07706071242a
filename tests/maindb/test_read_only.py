"""Read-only by construction: the database itself refuses every write the console could try."""

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, literal_column, select, text
from sqlalchemy.exc import DBAPIError

from app.core.config import Settings
from app.core.errors import ConfigError
from app.maindb import MainDatabase, Unavailable, create_main_database
from app.maindb.reader import MainDbReader
from tests.support.db import temporary_pg_database
from tests.support.maindb_fixtures import MainTarget, admin_engine

WRITES = {
    "insert": "INSERT INTO notes (user_id, content) VALUES (1, 'written by the console')",
    "update": "UPDATE users SET name = 'changed' WHERE id = 1",
    "delete": "DELETE FROM transactions",
    "create table": "CREATE TABLE prism_was_here (id INTEGER)",
    "drop table": "DROP TABLE commits",
}
REFUSAL = {
    "sqlite": "attempt to write a readonly database",
    "postgresql": "read-only transaction",
}


def _counts(target: MainTarget) -> tuple[int, int, int, str]:
    with admin_engine(target) as engine, engine.connect() as conn:
        notes = conn.execute(text("SELECT count(*) FROM notes")).scalar_one()
        transactions = conn.execute(text("SELECT count(*) FROM transactions")).scalar_one()
        commits = conn.execute(text("SELECT count(*) FROM commits")).scalar_one()
        name = conn.execute(text("SELECT name FROM users WHERE id = 1")).scalar_one()
    return notes, transactions, commits, name


@pytest.mark.parametrize("statement", WRITES.values(), ids=WRITES.keys())
@pytest.mark.parametrize("url", ["reader", "admin"])
def test_the_database_refuses_writes_through_the_main_engine(
    main_target: MainTarget,
    opened: Callable[..., MainDatabase],
    statement: str,
    url: str,
) -> None:
    # "admin" opens the main engine on a URL that could write (the PostgreSQL superuser, the
    # writable SQLite file): the refusal comes from how the engine connects, not from grants.
    target = (
        main_target
        if url == "reader"
        else MainTarget(main_target.dialect, main_target.admin_url, main_target.admin_url)
    )
    main_db = opened(target)
    before = _counts(main_target)
    with pytest.raises(DBAPIError) as refused, main_db._engine.begin() as conn:
        conn.execute(text(statement))
    assert REFUSAL[main_target.dialect] in str(refused.value.orig)
    assert _counts(main_target) == before


def test_the_write_probe_is_refused_by_the_database(main_db: MainDatabase, dialect: str) -> None:
    probe = main_db.probe_write()
    assert not isinstance(probe, Unavailable)
    assert probe.refused
    assert REFUSAL[dialect] in probe.message


def test_the_write_probe_notices_a_database_that_accepts_writes(main_target: MainTarget) -> None:
    # A deliberately writable engine wrapped as a MainDatabase: the probe must say so, and
    # leave nothing behind.
    with admin_engine(main_target) as engine:
        writable = MainDatabase(engine, timeout_ms=5000, display="writable")
        probe = writable.probe_write()
        assert not isinstance(probe, Unavailable)
        assert not probe.refused
    with admin_engine(main_target) as engine, engine.connect() as conn:
        if main_target.dialect == "sqlite":
            leftover = "SELECT count(*) FROM sqlite_schema WHERE name = 'prism_write_probe'"
        else:
            leftover = "SELECT count(*) FROM pg_tables WHERE tablename = 'prism_write_probe'"
        assert conn.execute(text(leftover)).scalar_one() == 0


def test_a_missing_sqlite_file_is_reported_and_never_created(tmp_path: Path) -> None:
    path = tmp_path / "absent.db"
    main_db = create_main_database(Settings(main_db_url=f"sqlite:///{path}", _env_file=None))
    assert main_db is not None
    try:
        check = main_db.check()
    finally:
        main_db.dispose()
    assert not check.ok
    assert check.error is not None and "unable to open database file" in check.error
    assert not path.exists()


@pytest.mark.parametrize(
    ("filename", "in_url"),
    [("main db#%.db", "main db#%.db"), ("what?.db", "what%3F.db")],
    ids=["space-hash-percent", "question-mark"],
)
def test_sqlite_paths_with_uri_characters_open_read_only(
    tmp_path: Path, filename: str, in_url: str
) -> None:
    with sqlite3.connect(tmp_path / filename) as conn:
        conn.execute("CREATE TABLE commits (id INTEGER PRIMARY KEY, repo TEXT)")
    conn.close()
    url = f"sqlite:///{tmp_path / in_url}"
    main_db = create_main_database(Settings(main_db_url=url, _env_file=None))
    assert main_db is not None
    try:
        check = main_db.check()
        probe = main_db.probe_write()
    finally:
        main_db.dispose()
    assert check.ok, check.error
    assert check.tables == {"commits": ["id", "repo"]}
    assert not isinstance(probe, Unavailable) and probe.refused


def test_an_unset_url_means_no_main_database() -> None:
    assert create_main_database(Settings(main_db_url="  ", _env_file=None)) is None


def test_a_bad_url_fails_with_one_line_naming_the_variable() -> None:
    with pytest.raises(ConfigError) as error:
        create_main_database(Settings(main_db_url="mysql://x@y/z", _env_file=None))
    assert error.value.detail.startswith("PRISM_MAIN_DB_URL: unsupported database")
    with pytest.raises(ConfigError) as memory:
        create_main_database(Settings(main_db_url="sqlite://", _env_file=None))
    assert "PRISM_MAIN_DB_URL" in memory.value.detail


def test_the_reader_runs_selects_only(main_db: MainDatabase) -> None:
    def write(reader: MainDbReader) -> object:
        return reader.rows(text("DELETE FROM notes"))  # type: ignore[arg-type]

    with pytest.raises(TypeError, match="SELECT statements only"):
        main_db.read(write)


def test_the_reader_refuses_to_select_a_secret_column(main_db: MainDatabase) -> None:
    def leak(reader: MainDbReader) -> object:
        return reader.rows(select(func.lower(literal_column("password_hash"))))

    with pytest.raises(ValueError, match="secret column 'password_hash'"):
        main_db.read(leak)


def test_reflected_tables_have_no_secret_columns(main_db: MainDatabase) -> None:
    def columns(reader: MainDbReader) -> dict[str, list[str]]:
        schema = reader.schema()
        return {
            name: [c.name for c in table.table.columns] for name, table in schema.tables.items()
        }

    reflected = main_db.read(columns)
    assert not isinstance(reflected, Unavailable)
    assert "password_hash" not in reflected["users"]
    assert "siwe_nonce" not in reflected["roadchain_accounts"]
    assert "sig_value" not in reflected["roadchain_receipts"]
    assert "email" in reflected["users"]


@pytest.mark.postgres
def test_postgres_urls_in_every_operator_form_connect() -> None:
    with temporary_pg_database("prism_main_url") as admin_url:
        base = admin_url.split("://", 1)[1]
        for scheme in ("postgresql", "postgres", "postgresql+asyncpg", "postgresql+psycopg2"):
            url = f"{scheme}://{base}?pool_size=2&max_overflow=1&ssl=false"
            main_db = create_main_database(Settings(main_db_url=url, _env_file=None))
            assert main_db is not None
            try:
                check = main_db.check()
            finally:
                main_db.dispose()
            assert check.ok, (scheme, check.error)
            assert main_db.display.startswith("postgresql+psycopg://")
