"""`prism db doctor` (registered on the `db` group in db.py): diagnose, never change."""

import json
from typing import Annotated

import typer

from app.cli.support import database_target, load_settings, one_line_errors, say
from app.core.timeutil import utcnow
from app.maindb import create_main_database
from app.ops import doctor

_MARK = {"pass": "ok  ", "warn": "WARN", "fail": "FAIL"}


@one_line_errors
def doctor_command(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print {checks: [...], ok} as JSON for machines.")
    ] = False,
) -> None:
    """Check the databases: pragmas, legacy tables, migrations, indexes, disk, backups, main DB.

    Each check passes, warns or fails with one line of advice; nothing is changed.
    Exit status 1 when any check fails, 0 otherwise (warnings included).
    """
    settings = load_settings()
    database_target(settings)  # a bad PRISM_API_DB_URL is one error line, as elsewhere
    main_db = create_main_database(settings)
    try:
        report = doctor.diagnose(settings, main_db=main_db, now=utcnow())
    finally:
        if main_db is not None:
            main_db.dispose()
    if as_json:
        say(json.dumps(report.as_json(), indent=2))
    else:
        _print(report)
    if not report.ok:
        raise typer.Exit(1)


def _print(report: doctor.Report) -> None:
    width = max(len(check.name) for check in report.checks)
    for check in report.checks:
        say(f"{_MARK[check.status]}  {check.name.ljust(width)}  {check.detail}")
        if check.advice:
            say(f"      {' ' * width}  → {check.advice}")
    counts = report.counts()
    verdict = "healthy" if report.ok and not counts["warn"] else "ok" if report.ok else "failing"
    say(
        f"doctor: {verdict} ({counts['pass']} ok, {counts['warn']} warning"
        f"{'s' if counts['warn'] != 1 else ''}, {counts['fail']} failing)"
    )
