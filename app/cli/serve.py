"""`prism serve`: the uvicorn options it runs with, and what `--announce` prints.

uvicorn closes a connection that stays idle between requests (`timeout_keep_alive`), but
nothing bounds how long it waits for a request's headers: its keep-alive timer is armed
only once a response is complete and cancelled by every byte received, so a client that
connects and sends nothing, or sends its headers a byte at a time, holds a connection (and
a file descriptor) for ever. HeaderDeadline adds that bound to uvicorn's HTTP/1.1
protocols; the body's idle deadline is InputLimitsMiddleware's (app/core/limits.py).
"""

import asyncio
import functools
import ipaddress
import logging
import os
import secrets
from pathlib import Path
from typing import Any, cast

from sqlalchemy import inspect
from sqlmodel import Session
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.auth import tokens
from app.auth.tokens import TOKEN_PREFIX
from app.cli.support import sqlite_file_missing
from app.core.config import Settings
from app.core.db import api_database_target, create_db_engine

logger = logging.getLogger("prism.server")

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
    admin_token = tokens.configured_admin_token(settings)
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
    target = api_database_target(settings.api_db_url, settings.api_db_listen_url)
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


class HeaderDeadline(asyncio.Protocol):
    """Mixin for uvicorn's HTTP/1.1 protocols: a request's headers must be complete within
    `header_timeout` seconds of the connection being made, or of the previous response
    being complete; otherwise the connection is closed (with a 408 when part of a request
    had arrived). While a response is being sent (a long download, a live stream) no
    deadline runs."""

    # Provided by the uvicorn protocol this is mixed into.
    transport: asyncio.Transport
    cycle: Any
    client: tuple[str, int] | None

    def __init__(self, *args: Any, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self._header_deadline: asyncio.TimerHandle | None = None
        self._partial_request = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm_header_deadline()

    def data_received(self, data: bytes) -> None:
        before = self.cycle
        waiting = before is None or before.response_complete
        super().data_received(data)
        if self.cycle is not before:
            # A request's headers are complete: its body has its own idle deadline.
            self._partial_request = False
            self._disarm_header_deadline()
        elif waiting and data:
            self._partial_request = True

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        idle = self.cycle is None or self.cycle.response_complete
        if idle and not self.transport.is_closing():
            # The next request's headers (after uvicorn's keep-alive wait) get a deadline too;
            # a pipelined request already started has its headers.
            self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def _arm_header_deadline(self) -> None:
        self._disarm_header_deadline()
        loop = asyncio.get_running_loop()
        self._header_deadline = loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        busy = self.cycle is not None and not self.cycle.response_complete
        # After an upgrade the transport belongs to another protocol.
        if busy or self.transport.is_closing() or self.transport.get_protocol() is not self:
            return
        peer = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        logger.info(
            "closed the connection of %s: no complete request headers within %gs",
            peer,
            self.header_timeout,
        )
        if self._partial_request:
            self.transport.write(_request_timeout(self.header_timeout))
        self.transport.close()


def _request_timeout(seconds: float) -> bytes:
    body = f"Request headers not received within {seconds:g} seconds".encode()
    return (
        b"HTTP/1.1 408 Request Timeout\r\n"
        b"content-type: text/plain; charset=utf-8\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n"
        b"connection: close\r\n\r\n" + body
    )


class H11HeaderDeadline(HeaderDeadline, H11Protocol):
    """uvicorn's pure-Python h11 protocol with a header deadline."""


class HttpToolsHeaderDeadline(HeaderDeadline, HttpToolsProtocol):
    """uvicorn's httptools protocol (its default, installed by uvicorn[standard]) with a
    header deadline."""


def http_protocol(
    header_timeout: float, base: type[HeaderDeadline] = HttpToolsHeaderDeadline
) -> type[asyncio.Protocol]:
    """uvicorn's `http` option: its HTTP/1.1 protocol with the header deadline (a partial
    of a module-level class, so it pickles for --workers)."""
    protocol = functools.partial(base, header_timeout=header_timeout)
    # uvicorn only ever calls the class (uvicorn.server.Server.startup): a partial does.
    return cast("type[asyncio.Protocol]", protocol)


def serve_options(settings: Settings) -> dict[str, Any]:
    """The uvicorn options of `prism serve`, besides host, port and workers."""
    return {
        "log_level": settings.log_level.lower(),
        # Open event streams never end by themselves: give them a few seconds, then close.
        "timeout_graceful_shutdown": 5,
        "access_log": False,  # the app logs one structured line per request itself
        "proxy_headers": False,  # X-Forwarded-* is trusted only where configured
        "timeout_keep_alive": settings.keep_alive_timeout_seconds,
        "http": http_protocol(settings.header_read_timeout_seconds),
    }
