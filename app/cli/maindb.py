"""`prism main …`: the main API database, read-only (mounted in app/cli/prism.py)."""

import typer

from app.cli.support import CliError, fail, load_settings, one_line_errors, say
from app.core.timeutil import isoformat
from app.maindb import NOT_CONFIGURED, MainDatabase, Unavailable, create_main_database
from app.maindb.replication import replication_status

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
    settings = load_settings()
    main_db = create_main_database(settings)
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
        _show_replication(main_db, settings.main_db_max_lag_seconds)
        say("ok: the console can read the main database and cannot write to it")
    finally:
        main_db.dispose()


def _show_replication(main_db: MainDatabase, max_lag_seconds: float) -> None:
    """A logical replica's subscriptions and lag (PostgreSQL); lag past the limit warns."""
    replication = replication_status(main_db, max_lag_seconds=max_lag_seconds)
    if replication is None:
        return
    if replication.error:
        say(f"warning: {replication.error}")
        return
    if not replication.subscriber:
        say("replication: not a logical-replication subscriber")
        return
    count = len(replication.subscriptions)
    say(
        f"replication: subscriber, {count} subscription{'s' if count != 1 else ''} "
        f"(max lag {max_lag_seconds:g} s, PRISM_MAIN_DB_MAX_LAG_SECONDS)"
    )
    for sub in replication.subscriptions:
        state = "enabled" if sub.enabled else "disabled"
        worker = "worker running" if sub.worker_running else "no worker"
        lag = "lag unknown" if sub.lag_seconds is None else f"lag {sub.lag_seconds:,.1f} s"
        received = isoformat(sub.last_msg_receipt_time) if sub.last_msg_receipt_time else "never"
        say(
            f"  {sub.name}: {state}, {worker}, {lag}, last message received {received}, "
            f"received LSN {sub.received_lsn or '-'}, latest end LSN {sub.latest_end_lsn or '-'}"
        )
    for sub in replication.subscriptions:
        if sub.warning:
            say(f"warning: {sub.warning}")
