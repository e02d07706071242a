"""`prism token …`: API tokens for REST clients, ingest agents and the browser login."""

from datetime import datetime
from typing import Annotated

import typer

from app.audit.service import cli_actor
from app.auth import tokens
from app.cli.support import load_settings, one_line_errors, open_session, say
from app.core.scopes import TokenScope
from app.core.timeutil import isoformat

token = typer.Typer(
    name="token", help="API tokens: create (shown once), list, revoke.", no_args_is_help=True
)


@token.command("create")
@one_line_errors
def create(
    name: Annotated[str, typer.Option("--name", help="Who or what uses the token.")],
    scope: Annotated[
        TokenScope,
        typer.Option(
            "--scope",
            help="read: read only; ingest: send telemetry; operate: read, execute runbooks, "
            "acknowledge incidents, silence alerts; admin: all.",
        ),
    ],
) -> None:
    """Create a token and print it once (only its hash is stored)."""
    with open_session(load_settings()) as session:
        row, plaintext = tokens.create_token(
            session=session, name=name, scope=scope, actor=cli_actor()
        )
    # The token alone on stdout, so scripts can capture it; the rest on stderr.
    typer.echo(f"Created token {row.id} ({row.name!r}, scope {row.scope}).", err=True)
    typer.echo("Copy it now: it will not be shown again.", err=True)
    say(plaintext)


@token.command("list")
@one_line_errors
def list_command() -> None:
    """List tokens, newest first (never the tokens themselves)."""
    with open_session(load_settings()) as session:
        rows = tokens.list_tokens(session=session)
    if not rows:
        say("No tokens yet; create one with `prism token create --name NAME --scope admin`.")
        return
    table = [("ID", "NAME", "SCOPE", "PREFIX", "CREATED", "LAST USED", "REVOKED")]
    table += [
        (
            row.id,
            row.name,
            row.scope,
            row.prefix + "…",
            _when(row.created_at),
            _when(row.last_used_at),
            _when(row.revoked_at),
        )
        for row in rows
    ]
    widths = [max(len(line[column]) for line in table) for column in range(len(table[0]))]
    for line in table:
        say("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())


def _when(moment: datetime | None) -> str:
    return isoformat(moment.replace(microsecond=0)) if moment else "-"


@token.command("revoke")
@one_line_errors
def revoke(token_id: Annotated[str, typer.Argument(metavar="ID", help="The token's id.")]) -> None:
    """Revoke a token: requests carrying it get 401 from now on."""
    with open_session(load_settings()) as session:
        row = tokens.revoke_token(session=session, token_id=token_id, actor=cli_actor())
    say(f"Revoked token {row.id} ({row.name!r}).")
