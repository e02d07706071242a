"""Helpers of the hardening tests: a real server in a child process, row counts."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, func, select

from app.core.paths import PROJECT_ROOT
from app.models import metadata
from tests.conftest import ADMIN_TOKEN
from tests.support.waits import HTTP_TIMEOUT, WAIT, wait_until

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
START_TIMEOUT = WAIT  # a child process imports the app and migrates: slow on a busy machine
_UVICORN = [sys.executable, "-m", "uvicorn", "--factory", "app.main:app_factory"]


def tagged_batch(client: int, number: int, size: int) -> tuple[str, list[dict[str, Any]]]:
    """Batch `number` of a client: its tag, and samples whose pool names the tag and index,
    so the stored rows tell which batch, and which part of it, they came from."""
    tag = f"c{client}-b{number}"
    samples = [
        {"miner_id": f"rig-{client}", "pool": f"{tag}-s{index}", "hashrate_1m": 1000.0}
        for index in range(size)
    ]
    return tag, samples


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows in every console table: compared before and after a refused write."""
    with engine.connect() as conn:
        return {
            table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in metadata.sorted_tables
        }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    """`prism`'s app served by uvicorn in a child process that a test may SIGKILL."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def kill(self) -> None:
        """SIGKILL: no shutdown hook, no flush, no goodbye (a process crash)."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=WAIT)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def _uvicorn_command(port: int) -> list[str]:
    return [*_UVICORN, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]


@contextmanager
def server_process(
    db_url: str,
    workdir: Path,
    command: Callable[[int], list[str]] = _uvicorn_command,
    **env: str,
) -> Iterator[ServerProcess]:
    """Start `command(port)` (uvicorn serving app_factory) on a free port; wait for /livez."""
    port = free_port()
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PRISM_")}
    environment.update(
        PRISM_API_DB_URL=db_url,
        PRISM_ADMIN_TOKEN=ADMIN_TOKEN,
        PRISM_LOG_LEVEL="WARNING",
        PYTHONPATH=str(PROJECT_ROOT),
        **env,
    )
    log = workdir / f"server-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command(port),
            # Not the checkout: a developer's .env there must not change the test.
            cwd=workdir,
            env=environment,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = ServerProcess(process, f"http://127.0.0.1:{port}", log)
    try:
        wait_until_live(server)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=WAIT)


def wait_until_live(server: ServerProcess) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    # Polled: a request that times out (or finds nothing listening yet) is simply sent again.
    with httpx.Client(base_url=server.url, timeout=10) as http:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(f"the server exited at start-up:\n{server.log_text()}")
            try:
                if http.get("/livez").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    raise RuntimeError(f"the server was not live within {START_TIMEOUT} s:\n{server.log_text()}")


def wait_until_ready(url: str, timeout: float = START_TIMEOUT) -> None:
    """Poll /readyz until 200 (migrated and the database answers)."""
    with httpx.Client(base_url=url, timeout=HTTP_TIMEOUT) as http:
        wait_until(
            lambda: http.get("/readyz").status_code == 200, f"{url}/readyz answering 200", timeout
        )
