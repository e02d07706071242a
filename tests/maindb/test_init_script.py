"""deploy/main-db-init/01-prism-reader.sql: the SELECT-only role docker compose creates."""

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.maindb import Unavailable, create_main_database
from tests.support.db import pg_admin_url, temporary_pg_database

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "main-db-init" / "01-prism-reader.sql"
pytestmark = pytest.mark.postgres


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _psql(url: str, *variables: str, password: str | None) -> subprocess.CompletedProcess[str]:
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("psql is not installed")
    env = {key: value for key, value in os.environ.items() if key != "PRISM_READER_PASSWORD"}
    if password is not None:
        env["PRISM_READER_PASSWORD"] = password
    arguments = [psql, "-v", "ON_ERROR_STOP=1", "--no-psqlrc", "-d", _libpq(url)]
    for variable in variables:
        arguments += ["-v", variable]
    return subprocess.run(
        [*arguments, "-f", str(SCRIPT)], env=env, capture_output=True, text=True, check=False
    )


@pytest.fixture
def database() -> Iterator[tuple[str, str]]:
    """A main database with one table, and a unique role name dropped afterwards."""
    role = f"prism_reader_{uuid.uuid4().hex[:8]}"
    try:
        with temporary_pg_database("prism_init") as url:
            with psycopg.connect(_libpq(url), autocommit=True) as conn:
                conn.execute("CREATE TABLE users (id SERIAL PRIMARY KEY, email TEXT)")
                conn.execute("INSERT INTO users (email) VALUES ('a@example.com')")
            yield url, role
    finally:
        with psycopg.connect(_libpq(pg_admin_url()), autocommit=True) as conn:
            conn.execute(f"DROP ROLE IF EXISTS {role}")


def test_the_init_script_creates_a_read_only_select_only_role(
    database: tuple[str, str],
) -> None:
    url, role = database
    run = _psql(url, f"prism_reader_role={role}", password="from-the-environment")
    assert run.returncode == 0, run.stderr
    assert _psql(url, f"prism_reader_role={role}", password="again").returncode == 0
    # A table the owner creates later is readable too (default privileges).
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        conn.execute("CREATE TABLE commits (id SERIAL PRIMARY KEY, repo TEXT)")
        password_set = conn.execute(
            "SELECT rolpassword IS NOT NULL FROM pg_authid WHERE rolname = %s", [role]
        ).fetchone()
    assert password_set == (True,)
    reader = make_url(url).set(username=role, password="again")
    with psycopg.connect(_libpq(reader.render_as_string(hide_password=False))) as conn:
        assert conn.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
        assert conn.execute("SELECT count(*) FROM commits").fetchone() == (0,)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("INSERT INTO users (email) VALUES ('b@example.com')")
        conn.rollback()
        conn.execute("SET TRANSACTION READ WRITE")  # even asking for a write transaction...
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE users SET email = 'x'")  # ...the role has no right to write
    main_db = create_main_database(
        Settings(main_db_url=reader.render_as_string(hide_password=False), _env_file=None)
    )
    assert main_db is not None
    try:
        check = main_db.check()
        probe = main_db.probe_write()
    finally:
        main_db.dispose()
    assert check.ok, check.error
    assert set(check.tables) == {"users", "commits"}
    assert not isinstance(probe, Unavailable) and probe.refused


def test_the_init_script_refuses_to_run_without_a_password(database: tuple[str, str]) -> None:
    url, role = database
    run = _psql(url, f"prism_reader_role={role}", password=None)
    assert run.returncode != 0
    assert "set PRISM_READER_PASSWORD" in run.stderr


def test_the_password_may_come_from_a_psql_variable(database: tuple[str, str]) -> None:
    url, role = database
    run = _psql(url, f"prism_reader_role={role}", "prism_reader_password=from-psql", password=None)
    assert run.returncode == 0, run.stderr
