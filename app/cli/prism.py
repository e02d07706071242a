"""The `prism` command line (Typer). Thin: each command calls a service.

Command groups live in db.py, maindb.py, token.py, audit.py and alerts.py; what they
share (settings, engine, one-line errors, progress) in support.py.
"""

from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from app import __version__
from app.cli.alerts import alerts
from app.cli.audit import audit
from app.cli.db import db
from app.cli.maindb import main_app
from app.cli.serve import announcement, serve_options
from app.cli.support import database_target, load_settings, one_line_errors, say
from app.cli.token import token

cli = typer.Typer(
    name="prism",
    help="Prism Console: operations cockpit for agents and miners.",
    no_args_is_help=True,
    # Plain click help and errors: predictable output for scripts, no boxes.
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    add_completion=False,
)
cli.add_typer(db)
cli.add_typer(token)
cli.add_typer(main_app)
cli.add_typer(audit)
cli.add_typer(alerts)


def _show_version(value: bool) -> None:
    if value:
        say(f"prism {__version__}")
        raise typer.Exit()


@cli.callback()
def root(
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit.", callback=_show_version),
    ] = False,
) -> None:
    """Prism Console: operations cockpit for agents and miners."""


@cli.command("serve")
@one_line_errors
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes (more than 1: uvicorn multi-process).")
    ] = 1,
    announce: Annotated[
        bool,
        typer.Option(
            "--announce",
            help="Print the address and how to sign in first (creates a first admin token "
            "in .env when there is no way in).",
        ),
    ] = False,
) -> None:
    """Run the web console and API (uvicorn)."""
    settings = load_settings()
    database_target(settings)  # a bad URL fails here, before uvicorn starts
    if announce:
        for line in announcement(settings, host=host, port=port, workdir=Path.cwd()):
            say(line)
    uvicorn.run(
        "app.main:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers if workers > 1 else None,
        **serve_options(settings),
    )


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="prism")


__all__ = ["cli", "main"]
