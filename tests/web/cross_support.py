"""Main databases for the cross-service page tests (SQLite, built by maindb_fixtures)."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from app.core.config import Settings
from app.maindb import MainDatabase, create_main_database
from tests.support.maindb_fixtures import MainTarget, main_database
from tests.support.waits import WAIT_MS


def open_main(url: str, **settings_overrides: Any) -> MainDatabase:
    """The main database at `url`, with a generous deadline unless the test sets one."""
    settings_overrides.setdefault("main_db_timeout_ms", WAIT_MS)
    settings = Settings(main_db_url=url, _env_file=None, **settings_overrides)
    main_db = create_main_database(settings)
    assert main_db is not None
    return main_db


@contextmanager
def opened_main(directory: Path, **variant: Any) -> Iterator[tuple[MainTarget, MainDatabase]]:
    """A seeded main SQLite database (schema variant as maindb_fixtures.main_database)."""
    with main_database("sqlite", directory, **variant) as target:
        main_db = open_main(target.url)
        try:
            yield target, main_db
        finally:
            main_db.dispose()


@contextmanager
def serving(app: FastAPI, main_db: MainDatabase | None) -> Iterator[None]:
    """The app reads `main_db` (None: not configured) for the duration."""
    previous = getattr(app.state, "main_db", None)
    app.state.main_db = main_db
    try:
        yield
    finally:
        app.state.main_db = previous
