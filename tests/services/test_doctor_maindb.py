"""`prism db doctor`'s main-database check: reachable, refusing writes, read by a reader role.

A main database the console could write to is a fail (least privilege): opened writable
(SQLite), read as its superuser or as a role with write grants (PostgreSQL). The console
database is the shared healthy one of test_doctor.py, so only the main check may change.
"""

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.maindb import MainDatabase, create_main_database
from tests.services.test_doctor import (  # noqa: F401  (healthy is a fixture)
    ONLY_POSTGRES,
    ONLY_SQLITE,
    Console,
    by_name,
    healthy,
    only,
)
from tests.support.db import pg_admin_url
from tests.support.maindb_fixtures import MainTarget, main_database
from tests.support.waits import WAIT_MS


def _open(url: str) -> MainDatabase:
    settings = Settings(main_db_url=url, main_db_timeout_ms=WAIT_MS, _env_file=None)  # type: ignore[call-arg]
    main_db = create_main_database(settings)
    assert main_db is not None
    return main_db


@pytest.fixture
def main_target(healthy: Console, tmp_path: Path) -> Iterator[MainTarget]:  # noqa: F811
    """A seeded main database on the console's engine, read as a SELECT-only role (PostgreSQL)."""
    with main_database(healthy.kind, tmp_path) as target:  # type: ignore[arg-type]
        yield target


@pytest.fixture
def opened() -> Iterator[list[MainDatabase]]:
    databases: list[MainDatabase] = []
    yield databases
    for main_db in databases:
        main_db.dispose()


def test_a_read_only_main_database_passes(
    healthy: Console,  # noqa: F811
    main_target: MainTarget,
    opened: list[MainDatabase],
) -> None:
    main_db = _open(main_target.url)
    opened.append(main_db)
    report = healthy.diagnose(main_db=main_db)
    assert all(check.status == "pass" for check in report.checks), report
    check = by_name(report)["main_db"]
    assert "reachable (" in check.detail and "writes refused (" in check.detail
    if healthy.kind == "postgresql":
        assert check.detail.endswith(f"role {main_target.role} can only read")
        assert "reader-pw" not in check.detail


@pytest.mark.parametrize("healthy", ONLY_SQLITE, indirect=True)
def test_a_main_database_opened_writable_fails(
    healthy: Console,  # noqa: F811
    tmp_path: Path,
    opened: list[MainDatabase],
) -> None:
    # Not through create_main_database (always mode=ro): a writable engine in its place.
    url = f"sqlite:///{tmp_path / 'writable-main.db'}"
    writable = MainDatabase(create_engine(url), timeout_ms=WAIT_MS, display=url)
    opened.append(writable)
    check = only(healthy.diagnose(main_db=writable), "main_db", "fail")
    assert check.detail.endswith("and it ACCEPTED a write (the database accepted CREATE TABLE)")
    assert "SELECT-only role" in (check.advice or "")


@pytest.mark.parametrize("healthy", ONLY_POSTGRES, indirect=True)
def test_a_main_database_read_as_its_superuser_fails(
    healthy: Console,  # noqa: F811
    main_target: MainTarget,
    opened: list[MainDatabase],
) -> None:
    # The session is still read-only (the probe is refused); the role is the problem.
    superuser = _open(main_target.admin_url)
    opened.append(superuser)
    check = only(healthy.diagnose(main_db=superuser), "main_db", "fail")
    assert "writes refused by the read-only session, but role postgres could write: it is a " \
        "superuser" in check.detail  # fmt: skip
    assert (check.advice or "").startswith("read it as a SELECT-only role")


@pytest.mark.parametrize("healthy", ONLY_POSTGRES, indirect=True)
def test_a_main_role_with_write_grants_fails(
    healthy: Console,  # noqa: F811
    main_target: MainTarget,
    opened: list[MainDatabase],
) -> None:
    role = f"prism_rw_{uuid.uuid4().hex[:10]}"
    admin = make_url(main_target.admin_url).set(drivername="postgresql")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'rw-pw'")  # type: ignore[arg-type]
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")  # type: ignore[arg-type]
        conn.execute(f"GRANT INSERT ON notes, wallets TO {role}")  # type: ignore[arg-type]
    try:
        writer = _open(
            make_url(main_target.admin_url)
            .set(username=role, password="rw-pw")
            .render_as_string(hide_password=False)
        )
        opened.append(writer)
        check = only(healthy.diagnose(main_db=writer), "main_db", "fail")
        assert check.detail.endswith(
            f"but role {role} could write: INSERT/UPDATE/DELETE on notes, wallets"
        )
    finally:
        for main_db in opened:
            main_db.dispose()
        opened.clear()
        with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")  # type: ignore[arg-type]
        with psycopg.connect(
            make_url(pg_admin_url())
            .set(drivername="postgresql")
            .render_as_string(hide_password=False),
            autocommit=True,
        ) as conn:
            conn.execute(f"DROP ROLE {role}")  # type: ignore[arg-type]


def test_an_unreachable_main_database_warns(
    healthy: Console,  # noqa: F811
    opened: list[MainDatabase],
) -> None:
    absent = _open("postgresql://nobody:main-pw@127.0.0.1:1/main")
    opened.append(absent)
    check = only(healthy.diagnose(main_db=absent), "main_db", "warn")
    assert check.detail.startswith(
        "postgresql+psycopg://nobody:***@127.0.0.1:1/main is unreachable"
    )
    assert "main-pw" not in check.detail
