"""What every `prism` command shares: settings, the engine, progress lines, one-line errors."""

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, NoReturn, TypeVar, cast

import typer
from alembic.util.exc import CommandError
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlmodel import Session

from app.core.config import Settings
from app.core.db import DatabaseTarget, api_database_target, create_db_engine
from app.core.errors import PrismError
from app.core.logging_setup import configure_logging
from app.ops import migrations

# The database a command is using, named in its error line.
_database_display: ContextVar[str | None] = ContextVar("prism_database_display", default=None)

Command = TypeVar("Command", bound=Callable[..., Any])


class CliError(PrismError):
    """A command cannot go on; its detail is the one line the operator reads."""


def one_line_errors(command: Command) -> Command:
    """Wrap a command: any failure becomes one line on stderr and exit status 1."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        token = _database_display.set(None)
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.BadParameter):
            raise
        except Exception as exc:  # the contract: one line, never a traceback
            fail(describe_error(exc, _database_display.get()))
        finally:
            _database_display.reset(token)

    return cast(Command, run)


def describe_error(exc: BaseException, database: str | None = None) -> str:
    """The one line an operator needs to understand a failure."""
    if isinstance(exc, PrismError):
        return exc.detail
    if isinstance(exc, ValidationError):
        problems = [
            f"PRISM_{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors()
        ]
        return "invalid configuration: " + "; ".join(problems)
    if isinstance(exc, OperationalError):
        where = f" ({database})" if database else ""
        return f"cannot use the console database{where}: {_first_line(exc.orig)}"
    if isinstance(exc, SQLAlchemyError):
        original = exc.orig if isinstance(exc, DBAPIError) else exc
        return f"database error: {_first_line(original)}"
    if isinstance(exc, CommandError):
        return f"migrations: {_first_line(exc)}"
    if isinstance(exc, OSError):
        return _first_line(exc)
    return f"unexpected error: {type(exc).__name__}: {_first_line(exc)}"


def _first_line(exc: BaseException | None) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def fail(message: str, *, code: int = 1) -> NoReturn:
    """Print `error: message` on stderr and exit with `code`."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def say(message: str = "") -> None:
    """A result line, on stdout."""
    typer.echo(message)


def progress(message: str) -> None:
    """A progress line, on stderr so stdout stays parseable."""
    typer.echo(f"… {message}", err=True)


def load_settings() -> Settings:
    """Settings read now (environment and .env), never a cached copy."""
    settings = Settings()
    configure_logging(settings.log_format, "WARNING")
    return settings


def database_target(settings: Settings) -> DatabaseTarget:
    target = api_database_target(settings.api_db_url, settings.api_db_listen_url)
    _database_display.set(target.display)
    return target


def sqlite_file_missing(target: DatabaseTarget) -> Path | None:
    """The path of a file-backed SQLite database that does not exist yet, else None."""
    if not target.is_sqlite or target.url.database in (None, "", ":memory:"):
        return None
    path = Path(str(target.url.database))
    return None if path.exists() else path


@contextmanager
def open_engine(
    settings: Settings, *, must_exist: bool = True, at_head: bool = True
) -> Iterator[Engine]:
    """The console engine, disposed afterwards.

    must_exist: refuse to create a missing SQLite file (only `db upgrade` creates one).
    at_head: refuse a database whose schema is not the one this code expects.
    """
    target = database_target(settings)
    missing = sqlite_file_missing(target)
    if must_exist and missing is not None:
        raise CliError(f"no database at {missing}: run `prism db upgrade` to create it")
    engine = create_db_engine(
        target, busy_timeout_seconds=settings.db_timeout, slow_query_ms=settings.slow_query_ms
    )
    try:
        if at_head:
            require_head(engine)
        yield engine
    finally:
        engine.dispose()


def require_head(engine: Engine) -> None:
    state = migrations.status(engine)
    if not state.at_head:
        raise CliError(
            f"the database schema is at {state.current or 'no revision'}, this version needs "
            f"{state.head}: run `prism db upgrade`"
        )


@contextmanager
def open_session(settings: Settings) -> Iterator[Session]:
    """A session on a migrated console database."""
    with open_engine(settings) as engine, Session(engine, expire_on_commit=False) as session:
        yield session
