"""What `prism serve --announce` prints: where the console is and how to sign in."""

import ipaddress
import os
import secrets
from pathlib import Path

from sqlalchemy import inspect
from sqlmodel import Session

from app.cli_support import sqlite_file_missing
from app.config import Settings
from app.db import create_db_engine, parse_database_url
from app.services import tokens
from app.services.tokens import TOKEN_PREFIX

ENV_FILE = ".env"
_ALL_INTERFACES = {"0.0.0.0", "::", ""}  # noqa: S104  (recognised, not bound)


def console_url(host: str, port: int) -> str:
    """The address to open in a browser (a wildcard bind is reachable on loopback)."""
    if host in _ALL_INTERFACES:
        host = "127.0.0.1"
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass  # a host name
    return f"http://{host}:{port}/"


def announcement(settings: Settings, *, host: str, port: int, workdir: Path) -> list[str]:
    """The lines to print before serving; creates a first admin token when there is no way in.

    With no PRISM_ADMIN_TOKEN and no stored token, nobody could sign in: a random admin token
    is appended to `workdir/.env` (created owner-only), which the server reads at start-up.
    """
    lines = [f"Prism Console: {console_url(host, port)}"]
    if host in _ALL_INTERFACES:
        lines[0] += " (listening on every interface)"
    admin_token = settings.admin_token.get_secret_value() if settings.admin_token else ""
    if admin_token:
        lines.append("Sign in with the admin token in PRISM_ADMIN_TOKEN (environment or .env).")
    elif active_token_count(settings) == 0:
        generated = TOKEN_PREFIX + secrets.token_urlsafe(32)
        env_file = append_admin_token(workdir / ENV_FILE, generated)
        lines.append(f"Sign in with this admin token (saved in {env_file} as PRISM_ADMIN_TOKEN):")
        lines.append(f"  {generated}")
    else:
        lines.append(
            "Sign in with an API token; create one with "
            "`prism token create --name NAME --scope admin`."
        )
    return lines


def active_token_count(settings: Settings) -> int:
    """Stored tokens not revoked; 0 when the database or its token table does not exist yet."""
    target = parse_database_url(settings.api_db_url)
    if sqlite_file_missing(target) is not None:
        return 0  # serve's start-up migration creates it; do not create it here
    engine = create_db_engine(target, busy_timeout_seconds=settings.db_timeout)
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table("apitoken"):
                return 0
        with Session(engine) as session:
            return sum(1 for row in tokens.list_tokens(session=session) if row.revoked_at is None)
    finally:
        engine.dispose()


def append_admin_token(path: Path, token: str) -> Path:
    """Append PRISM_ADMIN_TOKEN=<token> to an env file, creating it readable by its owner only."""
    needs_newline = False
    if path.exists() and path.stat().st_size:
        with path.open("rb") as existing:
            existing.seek(-1, os.SEEK_END)
            needs_newline = existing.read(1) != b"\n"
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(descriptor, "a", encoding="utf-8") as env_file:
        env_file.write(("\n" if needs_newline else "") + f"PRISM_ADMIN_TOKEN={token}\n")
    return path
