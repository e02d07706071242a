"""Every command and group answers --help, and the command set is the documented one."""

from typing import Any

import pytest
import typer

from app.cli.prism import cli
from tests.cli.runner import invoke

# SPEC §4 (`prism main check` is mounted by its own area).
DOCUMENTED = [
    (),
    ("serve",),
    ("db",),
    ("db", "upgrade"),
    ("db", "downgrade"),
    ("db", "status"),
    ("db", "check"),
    ("db", "revision"),
    ("db", "seed"),
    ("db", "backup"),
    ("db", "prune"),
    ("token",),
    ("token", "create"),
    ("token", "list"),
    ("token", "revoke"),
]


def _command_paths(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [path]
    for name, sub in getattr(command, "commands", {}).items():
        paths += _command_paths(sub, (*path, name))
    return paths


ALL_COMMANDS = sorted(_command_paths(typer.main.get_command(cli)))


def test_every_documented_command_exists() -> None:
    assert set(DOCUMENTED) <= set(ALL_COMMANDS)


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=lambda path: " ".join(path) or "prism")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = invoke(*path, "--help")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Usage: {' '.join(('prism', *path))} ")
    # A description, not only the usage line.
    assert len([line for line in result.stdout.splitlines() if line.strip()]) >= 3


def test_help_documents_the_options_operators_use() -> None:
    assert "--sql" in invoke("db", "upgrade", "--help").stdout
    assert "--force" in invoke("db", "seed", "--help").stdout
    assert "--if-empty" in invoke("db", "seed", "--help").stdout
    assert "--out" in invoke("db", "backup", "--help").stdout
    serve_help = invoke("serve", "--help").stdout
    for option in ("--host", "--port", "--workers", "--announce"):
        assert option in serve_help
    create_help = invoke("token", "create", "--help").stdout
    assert "--name" in create_help
    assert "read" in create_help
    assert "ingest" in create_help
    assert "admin" in create_help


def test_no_arguments_shows_the_commands() -> None:
    result = invoke()
    assert "db" in result.output
    assert "token" in result.output
    assert "serve" in result.output
