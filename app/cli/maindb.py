"""`prism main …`: the main API database, read-only (mounted in app/cli/prism.py)."""

import typer

from app.cli.support import CliError, fail, load_settings, one_line_errors, say
from app.maindb import NOT_CONFIGURED, Unavailable, create_main_database

main_app = typer.Typer(
    name="main",
    help="The main API database, read-only (PRISM_MAIN_DB_URL).",
    no_args_is_help=True,
)


@main_app.callback()
def _group() -> None:
    """The main API database, read-only (PRISM_MAIN_DB_URL)."""


@main_app.command("check")
@one_line_errors
def check(
    columns: bool = typer.Option(True, help="List each table's columns, not only its name."),
) -> None:
    """Connect, list the tables the console can read, and prove the database refuses writes."""
    main_db = create_main_database(load_settings())
    if main_db is None:
        raise CliError(NOT_CONFIGURED)
    try:
        outcome = main_db.check()
        if not outcome.ok:
            fail(f"cannot read the main database ({main_db.display}): {outcome.error}")
        say(f"main database: {main_db.display} ({main_db.dialect})")
        say(f"latency: {outcome.latency_ms} ms (limit {main_db.timeout_ms} ms)")
        say(f"tables and views readable: {len(outcome.tables)}")
        for name, names in sorted(outcome.tables.items()):
            say(f"  {name}: {', '.join(names)}" if columns else f"  {name}")
        probe = main_db.probe_write()
        if isinstance(probe, Unavailable):
            fail(f"the write probe could not run: {probe.reason}")
        if not probe.refused:
            fail(f"the main database ACCEPTED a write ({probe.message}): it must be read-only")
        say(f"write probe: CREATE TABLE refused by the database ({probe.message})")
        say("ok: the console can read the main database and cannot write to it")
    finally:
        main_db.dispose()
