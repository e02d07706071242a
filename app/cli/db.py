"""`prism db …`: migrations, demo seed, backup and retention of the console database."""

from pathlib import Path
from typing import Annotated

import typer

from app.audit import service as audit
from app.cli import backups as backup_commands
from app.cli import doctor as doctor_command
from app.cli.support import (
    database_target,
    describe_error,
    fail,
    load_settings,
    one_line_errors,
    open_engine,
    open_session,
    progress,
    say,
    sqlite_file_missing,
)
from app.core.config import Settings
from app.core.timeutil import utcnow
from app.ops import backup, migrations, retention, seed

db = typer.Typer(
    name="db",
    help="Console database: migrations, demo data, backup and restore, retention.",
    no_args_is_help=True,
)


@db.command("upgrade")
@one_line_errors
def upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    sql: Annotated[
        bool, typer.Option("--sql", help="Print the SQL instead of applying it; touches nothing.")
    ] = False,
) -> None:
    """Apply pending migrations (adopting a database made by the earlier service)."""
    settings = load_settings()
    if sql:
        target = database_target(settings)
        say(migrations.upgrade_sql(target.url.render_as_string(hide_password=False), revision))
        return
    with open_engine(settings, must_exist=False, at_head=False) as engine:
        with engine.connect() as connection:
            legacy = migrations.is_legacy_database(connection)
        before = migrations.status(engine).current
        migrations.upgrade(engine, revision)
        after = migrations.status(engine).current
    if legacy:
        say(f"Adopted the earlier service's database and upgraded it to {after}.")
    elif before == after:
        say(f"Already at {after}; nothing to do.")
    else:
        say(f"Upgraded from {before or 'an empty database'} to {after}.")


@db.command("downgrade", context_settings={"ignore_unknown_options": True})
@one_line_errors
def downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. -1 or base.")],
) -> None:
    """Revert migrations down to REVISION (tables added after it are dropped, with their rows)."""
    with open_engine(load_settings(), at_head=False) as engine:
        before = migrations.status(engine).current
        migrations.downgrade(engine, revision)
        after = migrations.status(engine).current
    say(f"Downgraded from {before or 'base'} to {after or 'base'}.")


@db.command("status")
@one_line_errors
def status() -> None:
    """Show the current revision, the head, and the pending migrations."""
    settings = load_settings()
    target = database_target(settings)
    if sqlite_file_missing(target) is not None:
        current, head = "none (the database file does not exist yet)", migrations.head_revision()
        pending = _all_revisions()
    else:
        with open_engine(settings, at_head=False) as engine:
            with engine.connect() as connection:
                legacy = migrations.is_legacy_database(connection)
            state = migrations.status(engine)
        current, head, pending = state.current or "none", state.head, state.pending
        if legacy:
            current += " (tables of the earlier service: `prism db upgrade` adopts them)"
    say(f"database: {target.display}")
    say(f"current:  {current}")
    say(f"head:     {head}")
    say(f"pending:  {', '.join(pending) if pending else 'none (up to date)'}")


def _all_revisions() -> list[str]:
    scripts = migrations.script_directory()
    return [script.revision for script in reversed(list(scripts.walk_revisions()))]


@db.command("check")
@one_line_errors
def check() -> None:
    """Compare the database with the models; exit 1 when they differ or migrations are pending."""
    with open_engine(load_settings(), at_head=False) as engine:
        state = migrations.status(engine)
        found = migrations.describe_differences(migrations.differences(engine))
    if not state.at_head:
        pending = ", ".join(state.pending) or "none"
        say(f"not at head: current {state.current or 'none'}, head {state.head}, pending {pending}")
    for line in found:
        say(f"differs: {line}")
    if found or not state.at_head:
        raise typer.Exit(1)
    say(f"OK: at {state.head}, and the schema matches the models.")


@db.command("revision")
@one_line_errors
def revision(
    message: Annotated[str, typer.Option("-m", "--message", help="What the revision does.")],
) -> None:
    """Write a new migration from the differences between the models and the database."""
    with open_engine(load_settings(), at_head=False) as engine:
        path = migrations.new_revision(engine, message)
    say(f"Wrote {path}; review it before committing.")


@db.command("seed")
@one_line_errors
def seed_command(
    force: Annotated[
        bool, typer.Option("--force", help="Seed a database that holds data (demo ids replaced).")
    ] = False,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Do nothing (exit 0) when the database holds data.")
    ] = False,
) -> None:
    """Write the demo fleet: agents, events, runbooks, metrics, settings, a day of samples."""
    with open_session(load_settings()) as session:
        if seed.has_data(session=session):
            if if_empty:
                say("The database already holds data; not seeding.")
                return
            if not force:
                fail("the database is not empty; use --force to seed it anyway")
        summary = seed.seed_demo(session=session, progress=progress)
    say(
        f"Seeded {summary.agents} agents, {summary.events} events, "
        f"{summary.status_changes} status changes, {summary.memory_samples:,} memory "
        f"samples, {summary.runbooks} runbooks, "
        f"{summary.metrics} metrics, {summary.settings} settings, and "
        f"{summary.samples:,} samples of {summary.miners} miners."
    )


@db.command("backup")
@one_line_errors
def backup_command(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Destination file (default: backups/prism-<UTC time>.db, or .dump for "
            "PostgreSQL). Must not exist.",
        ),
    ] = None,
) -> None:
    """Copy the database while it keeps serving (SQLite backup API, or pg_dump -Fc)."""
    settings = load_settings()
    target = database_target(settings)
    destination = out or backup.default_backup_path(target, utcnow())
    result = backup.backup_database(
        target, destination, busy_timeout_seconds=settings.db_timeout, progress=progress
    )
    try:
        _audit_backup(settings, result.path, result.size_bytes)
    except Exception as exc:  # the copy is made and sound: say so, and why no row says it
        progress(f"the backup's audit row was not written: {describe_error(exc)}")
    say(f"Backup written to {result.path} ({backup_commands.format_size(result.size_bytes)}).")


def _audit_backup(settings: Settings, path: Path, size_bytes: int) -> None:
    """db.backup, written after the copy (a backup changes nothing, so no row goes in it)."""
    with open_session(settings) as session:
        audit.record(
            session,
            actor=audit.cli_actor(),
            action="db.backup",
            target_type="database",
            target_id=None,
            summary=f"Backed up the database to {path.name}",
            detail={"path": str(path), "sizeBytes": size_bytes},
        )
        session.commit()


@db.command("prune")
@one_line_errors
def prune() -> None:
    """Apply retention now: delete old samples, events, status history, resolved incidents,
    finished notifications and audit rows in small batches."""
    settings = load_settings()

    def report(label: str, count: int) -> None:
        progress(f"{label}: {count:,} deleted")

    with open_session(settings) as session:
        result = retention.prune(
            session=session,
            now=utcnow(),
            samples_days=settings.retention_samples_days,
            events_days=settings.retention_events_days,
            audit_days=settings.retention_audit_days,
            progress=report,
        )
        audit.record(
            session,
            actor=audit.cli_actor(),
            action="db.prune",
            target_type="database",
            target_id=None,
            summary="Applied retention (prism db prune)",
            detail={
                "samples": result.samples,
                "memorySamples": result.memory_samples,
                "events": result.events,
                "statusChanges": result.status_changes,
                "incidents": result.incidents,
                "notifications": result.notifications,
                "auditRows": result.audit_rows,
                "minersRemoved": result.miners_removed,
            },
        )
        session.commit()
    if result.audit_refused is not None:
        progress(f"audit log not pruned past row {result.audit_refused}: `prism audit verify`")
    say(
        f"Deleted {result.samples:,} samples and {result.memory_samples:,} memory samples "
        f"(older than {settings.retention_samples_days} days), {result.events:,} events, "
        f"{result.status_changes:,} status changes, {result.incidents:,} resolved incidents "
        f"and {result.notifications:,} notifications (older than "
        f"{settings.retention_events_days} days), {result.audit_rows:,} audit rows (older than "
        f"{settings.retention_audit_days} days); miners re-pointed: {result.miners_repointed}, "
        f"removed: {result.miners_removed}."
    )


# Bodies in app/cli/backups.py: the scheduled backups' listing, and restoring one.
db.command("backups")(backup_commands.list_command)
db.command("restore")(backup_commands.restore_command)
# Body in app/cli/doctor.py: every check of the databases, read-only.
db.command("doctor")(doctor_command.doctor_command)
