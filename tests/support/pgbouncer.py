"""A real PgBouncer in transaction pooling mode in front of the test PostgreSQL.

Debian's `pgbouncer` (installed by `make system-deps`) runs on a free loopback port with a
config written to a temporary directory; trust auth, as the test server has. It refuses to
run as root, so as root it is started with `-u postgres`, and its files are made readable
by that user (pytest's tmp_path is private to root).
"""

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from tests.support.browser import skip_or_fail
from tests.support.waits import WAIT, wait_until

BINARY = "pgbouncer"
UNPRIVILEGED_USER = "postgres"  # the Debian package's server account, present with PostgreSQL
START_ATTEMPTS = 3  # a free port can be taken by someone else before pgbouncer binds it


@dataclass(frozen=True)
class PgBouncer:
    """A running PgBouncer: `url_for` routes a direct test database URL through it."""

    host: str
    port: int
    admin_user: str

    def url_for(self, direct_url: str) -> str:
        return (
            make_url(direct_url)
            .set(host=self.host, port=self.port)
            .render_as_string(hide_password=False)
        )

    def server_pids(self) -> set[int]:
        """Backend pids of the server connections the bouncer holds (its SHOW SERVERS)."""
        # The admin console speaks only the simple query protocol: a client-side cursor.
        with psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.admin_user,
            dbname="pgbouncer",
            autocommit=True,
            cursor_factory=psycopg.ClientCursor,
            connect_timeout=int(WAIT),
        ) as conn:
            cursor = conn.execute("SHOW SERVERS")
            names = [column.name for column in cursor.description or []]
            return {int(row[names.index("remote_pid")]) for row in cursor.fetchall()}


def pgbouncer_binary() -> str:
    """The pgbouncer executable; skips loudly (fails when CI=true) when it is missing."""
    found = shutil.which(BINARY) or shutil.which(f"/usr/sbin/{BINARY}")
    if found is None:
        skip_or_fail(f"{BINARY} is not installed (make system-deps installs Debian's pgbouncer)")
        raise AssertionError("unreachable")  # skip_or_fail raises
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _config(directory: Path, server_url: str, port: int, pool_size: int) -> Path:
    server = make_url(server_url)
    user = server.username or "postgres"
    (directory / "userlist.txt").write_text(f'"{user}" ""\n')
    ini = directory / "pgbouncer.ini"
    ini.write_text(
        "\n".join(
            [
                "[databases]",
                # Any database name the client asks for, on the test server.
                f"* = host={server.host or '127.0.0.1'} port={server.port or 5432}",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {port}",
                "unix_socket_dir =",
                "auth_type = trust",
                f"admin_users = {user}",
                f"auth_file = {directory / 'userlist.txt'}",
                "pool_mode = transaction",
                "max_client_conn = 500",
                # Fewer server connections than clients: transactions really do change hands.
                f"default_pool_size = {pool_size}",
                "reserve_pool_size = 0",
                f"pidfile = {directory / 'pgbouncer.pid'}",
                "log_connections = 0",
                "log_disconnections = 0",
                "",
            ]
        )
    )
    return ini


def _accepts(port: int, server_url: str) -> bool:
    user = make_url(server_url).username or "postgres"
    try:
        with psycopg.connect(
            host="127.0.0.1", port=port, user=user, dbname="postgres", connect_timeout=5
        ) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


@contextmanager
def running_pgbouncer(server_url: str, *, pool_size: int = 10) -> Iterator[PgBouncer]:
    """PgBouncer (transaction pooling) in front of the server of `server_url`, stopped after.

    `pool_size`: server connections per database and user; with 1, every transaction of
    every client runs on the same server session.
    """
    binary = pgbouncer_binary()
    directory = Path(tempfile.mkdtemp(prefix="prism-pgbouncer-"))
    command = [binary]
    if os.geteuid() == 0:
        command += ["-u", UNPRIVILEGED_USER]
        directory.chmod(0o755)  # the dropped user reads the config and writes the pid file
        shutil.chown(directory, user=UNPRIVILEGED_USER)
    process: subprocess.Popen[bytes] | None = None
    log_path = directory / "pgbouncer.log"
    try:
        for _attempt in range(START_ATTEMPTS):
            port = _free_port()
            ini = _config(directory, server_url, port, pool_size)
            # A file, not a pipe: nobody reads a pipe while the tests run, and a full one
            # would stop pgbouncer.
            with log_path.open("wb") as log:
                process = subprocess.Popen(
                    [*command, str(ini)], stdout=log, stderr=subprocess.STDOUT
                )
            started = process

            def up(process: subprocess.Popen[bytes] = started, port: int = port) -> bool:
                return process.poll() is not None or _accepts(port, server_url)

            wait_until(up, "pgbouncer accepting connections")
            if process.poll() is None:
                break
            output = log_path.read_text(errors="replace")
            process = None
            if "Address already in use" not in output:
                raise RuntimeError(f"pgbouncer exited at start-up:\n{output}")
        if process is None:
            raise RuntimeError(f"pgbouncer found no free port in {START_ATTEMPTS} attempts")
        yield PgBouncer("127.0.0.1", port, make_url(server_url).username or "postgres")
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(directory, ignore_errors=True)
