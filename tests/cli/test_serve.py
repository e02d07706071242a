"""prism serve: uvicorn wiring, what --announce prints, and the real command with workers."""

import os
import signal
import stat
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlmodel import Session

from app.auth import tokens
from app.cli.serve import announcement, append_admin_token, console_url
from app.core.config import Settings
from tests.cli.runner import engine_for, invoke
from tests.hardening.ingest_support import AUTH, START_TIMEOUT, ServerProcess, server_process
from tests.support.waits import HTTP_TIMEOUT


def _settings(url: str, admin_token: str | None = None) -> Settings:
    return Settings(
        api_db_url=url,
        admin_token=SecretStr(admin_token) if admin_token else None,
        _env_file=None,  # type: ignore[call-arg]
    )


def _store_token(url: str, *, revoked: bool = False) -> None:
    with engine_for(url) as engine, Session(engine) as session:
        row, _ = tokens.create_token(session=session, name="someone", scope="admin")
        if revoked:
            tokens.revoke_token(session=session, token_id=row.id)


def test_with_an_admin_token_configured_it_says_to_use_it(
    migrated_url: str, tmp_path: Path
) -> None:
    lines = announcement(
        _settings(migrated_url, "configured-token"), host="127.0.0.1", port=8000, workdir=tmp_path
    )
    assert lines[0] == "Prism Console: http://127.0.0.1:8000/"
    assert "PRISM_ADMIN_TOKEN" in lines[1]
    assert "configured-token" not in "\n".join(lines)
    assert not (tmp_path / ".env").exists()


def test_with_no_way_in_it_creates_an_admin_token_in_dot_env(
    migrated_url: str, tmp_path: Path
) -> None:
    lines = announcement(_settings(migrated_url), host="127.0.0.1", port=8123, workdir=tmp_path)
    env_file = tmp_path / ".env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    generated = lines[-1].strip()
    assert generated.startswith(tokens.TOKEN_PREFIX)
    assert ".env" in lines[1]
    assert env_file.read_text() == f"PRISM_ADMIN_TOKEN={generated}\n"
    # The server reads the same file at start-up.
    from_file = Settings(_env_file=env_file)  # type: ignore[call-arg]
    assert from_file.admin_token is not None
    assert from_file.admin_token.get_secret_value() == generated


def test_only_revoked_tokens_count_as_no_way_in(migrated_url: str, tmp_path: Path) -> None:
    _store_token(migrated_url, revoked=True)
    announcement(_settings(migrated_url), host="127.0.0.1", port=8000, workdir=tmp_path)
    assert "PRISM_ADMIN_TOKEN=" in (tmp_path / ".env").read_text()


def test_with_stored_tokens_it_explains_how_to_create_one(
    migrated_url: str, tmp_path: Path
) -> None:
    _store_token(migrated_url)
    lines = announcement(_settings(migrated_url), host="127.0.0.1", port=8000, workdir=tmp_path)
    assert "prism token create" in lines[1]
    assert not (tmp_path / ".env").exists()


def test_a_database_not_created_yet_counts_as_no_tokens_and_stays_absent(tmp_path: Path) -> None:
    database = tmp_path / "later.db"
    lines = announcement(
        _settings(f"sqlite:///{database}"), host="127.0.0.1", port=8000, workdir=tmp_path
    )
    assert lines[-1].strip().startswith(tokens.TOKEN_PREFIX)
    assert not database.exists()


def test_the_token_is_appended_to_an_existing_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PRISM_LOG_FORMAT=json")  # no final newline
    append_admin_token(env_file, "prism_abc")
    assert env_file.read_text().splitlines() == [
        "PRISM_LOG_FORMAT=json",
        "PRISM_ADMIN_TOKEN=prism_abc",
    ]


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8000/"),
        ("0.0.0.0", "http://127.0.0.1:8000/"),
        ("::1", "http://[::1]:8000/"),
        ("console.internal", "http://console.internal:8000/"),
    ],
)
def test_the_announced_address_can_be_opened(host: str, url: str) -> None:
    assert console_url(host, 8000) == url


def test_serve_runs_the_app_factory_with_the_options(
    migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    monkeypatch.setattr("app.cli.prism.uvicorn.run", lambda *a, **kw: calls.append((a, kw)))
    monkeypatch.setenv("PRISM_ADMIN_TOKEN", "configured-token")
    result = invoke("serve", "--host", "0.0.0.0", "--port", "9001", "--workers", "3", "--announce")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Prism Console: http://127.0.0.1:9001/")
    [(args, kwargs)] = calls
    assert args == ("app.main:app_factory",)
    assert kwargs["factory"] is True
    assert (kwargs["host"], kwargs["port"], kwargs["workers"]) == ("0.0.0.0", 9001, 3)


def test_serve_without_announce_prints_nothing_and_uses_one_process(
    migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("app.cli.prism.uvicorn.run", lambda *a, **kw: calls.append(kw))
    result = invoke("serve")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert calls[0]["workers"] is None
    assert (calls[0]["host"], calls[0]["port"]) == ("127.0.0.1", 8000)
    assert not Path(".env").exists()  # without --announce nothing is generated


PRISM = Path(sys.executable).with_name("prism")  # the console script of this virtualenv


@contextmanager
def prism_serve(db_url: str, workdir: Path, *args: str) -> Iterator[ServerProcess]:
    """`prism serve ARGS` on a free loopback port until /livez answers; stopped afterwards."""

    def command(port: int) -> list[str]:
        return [str(PRISM), "serve", "--host", "127.0.0.1", "--port", str(port), *args]

    workers: set[int] = set()
    with server_process(db_url, workdir, command) as server:
        try:
            yield server
        finally:
            workers = _uvicorn_workers(server.process.pid)
    for worker in workers:  # a supervisor that had to be killed leaves its workers behind
        with suppress(ProcessLookupError):
            os.kill(worker, signal.SIGKILL)


def _descendants(pid: int) -> set[int]:
    """Every process below `pid` (children of any of its threads, and theirs)."""
    found: set[int] = set()
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except FileNotFoundError:
        return found
    for task in tasks:
        try:
            children = {int(child) for child in (task / "children").read_text().split()}
        except FileNotFoundError:
            continue
        for child in children:
            found |= {child} | _descendants(child)
    return found


def _uvicorn_workers(pid: int) -> set[int]:
    """The worker processes uvicorn spawned below `pid` (not multiprocessing's helpers)."""
    workers = set()
    for child in _descendants(pid):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            continue
        if b"--multiprocessing-fork" in command:
            workers.add(child)
    return workers


def test_serve_with_two_workers_runs_two_worker_processes_that_answer(
    sqlite_url: str, tmp_path: Path
) -> None:
    with prism_serve(sqlite_url, tmp_path, "--workers", "2") as server:
        deadline = time.monotonic() + START_TIMEOUT
        while len(workers := _uvicorn_workers(server.process.pid)) < 2:
            assert server.process.poll() is None, server.log_text()
            assert time.monotonic() < deadline, f"workers {workers}:\n{server.log_text()}"
            time.sleep(0.05)
        with httpx.Client(base_url=server.url, timeout=HTTP_TIMEOUT) as http:
            live = [http.get("/livez").status_code for _ in range(10)]
            agents = http.get("/api/agents", headers=AUTH)
        assert live == [200] * 10
        assert agents.status_code == 200, agents.text
        assert _uvicorn_workers(server.process.pid) == workers  # two, none of them restarted
