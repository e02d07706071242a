"""prism audit verify, and the audit rows of the command line (tokens, backup, prune).

verify walks the chain and names the first row changed, deleted or inserted by hand in the
database (exit 1); retention prunes from the start and leaves a checkpoint it still verifies.
"""

import getpass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session, col, select

from app.audit import chain
from app.audit.service import Actor, record
from app.core.timeutil import utcnow
from app.models.audit import AuditChain, AuditEvent
from tests.cli.runner import assert_one_line_error, engine_for, invoke

ACTOR = Actor(name="ci", actor_id="tok", scope="admin")


def _write(url: str, count: int, *, days_ago: float = 0) -> None:
    with engine_for(url) as engine, Session(engine) as session:
        for number in range(count):
            record(
                session,
                actor=ACTOR,
                action="setting.set",
                target_type="setting",
                target_id=f"k{number}",
                summary=f"row {number}",
                now=utcnow() - timedelta(days=days_ago),
            )
        session.commit()


def _sql(url: str, statement: str) -> None:
    with engine_for(url) as engine, engine.begin() as connection:
        connection.execute(text(statement))


def _rows(url: str) -> list[AuditEvent]:
    with engine_for(url) as engine, Session(engine) as session:
        return list(session.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all())


def test_an_intact_chain_verifies(migrated_url: str) -> None:
    result = invoke("audit", "verify")
    assert (result.exit_code, result.stdout) == (0, "0 rows verified.\n")
    _write(migrated_url, 5)
    result = invoke("audit", "verify")
    assert (result.exit_code, result.stdout) == (0, "5 rows verified.\n")


@pytest.mark.parametrize(
    ("tamper", "broken", "says"),
    [
        ("UPDATE auditevent SET summary = 'nothing happened' WHERE id = 3", 3, "changed"),
        ("UPDATE auditevent SET actor = 'someone else' WHERE id = 5", 5, "changed"),
        ("DELETE FROM auditevent WHERE id = 2", 3, "missing"),
        ("DELETE FROM auditevent WHERE id = 5", 5, "missing at the end"),
        (
            "INSERT INTO auditevent (id, at, actor, action, summary, prev_hash, hash) VALUES "
            "(6, '2026-01-01 00:00:00', 'x', 'token.create', 'forged', 'p', 'h')",
            6,
            "does not link",
        ),
        ("UPDATE auditevent SET id = 7 WHERE id = 5", 7, "missing"),
    ],
    ids=["summary changed", "actor changed", "deleted", "last deleted", "inserted", "renumbered"],
)
def test_a_row_tampered_with_in_the_database_is_named(
    migrated_url: str, tamper: str, broken: int, says: str
) -> None:
    _write(migrated_url, 5)
    _sql(migrated_url, tamper)
    line = assert_one_line_error(invoke("audit", "verify"))
    assert line.startswith(f"error: audit row {broken} is broken: "), line
    assert says in line


def test_the_command_line_audits_its_token_changes_as_its_user(migrated_url: str) -> None:
    invoke("token", "create", "--name", "bot", "--scope", "operate")
    token_id = invoke("token", "list").stdout.splitlines()[1].split()[0]
    assert invoke("token", "revoke", token_id).exit_code == 0
    rows = _rows(migrated_url)
    assert [(row.action, row.target_id) for row in rows] == [
        ("token.create", token_id),
        ("token.revoke", token_id),
    ]
    assert {row.actor for row in rows} == {f"cli:{getpass.getuser()}"}
    assert rows[0].detail == {"name": "bot", "scope": "operate"}
    assert invoke("audit", "verify").stdout == "2 rows verified.\n"


def test_prune_removes_old_rows_keeps_a_checkpoint_and_still_verifies(
    migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRISM_RETENTION_AUDIT_DAYS", "30")
    _write(migrated_url, 4, days_ago=40)
    _write(migrated_url, 2, days_ago=1)
    result = invoke("db", "prune")
    assert result.exit_code == 0, result.output
    assert "4 audit rows (older than 30 days)" in result.stdout
    rows = _rows(migrated_url)
    assert [row.id for row in rows] == [5, 6, 7]
    assert rows[-1].action == "db.prune"
    assert rows[-1].detail is not None and rows[-1].detail["auditRows"] == 4
    with engine_for(migrated_url) as engine, Session(engine) as session:
        checkpoint = session.get(AuditChain, 1)
        assert checkpoint is not None and checkpoint.pruned_id == 4
    result = invoke("audit", "verify")
    assert result.stdout == "3 rows verified (after the checkpoint at row 4).\n"
    # The checkpoint guards the new start: deleting the first remaining row is seen.
    _sql(migrated_url, "DELETE FROM auditevent WHERE id = 5")
    line = assert_one_line_error(invoke("audit", "verify"))
    assert line.startswith("error: audit row 6 is broken"), line


def test_prune_stops_at_a_tampered_row_and_keeps_the_evidence(
    migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRISM_RETENTION_AUDIT_DAYS", "30")
    _write(migrated_url, 5, days_ago=40)
    _sql(migrated_url, "UPDATE auditevent SET summary = 'edited' WHERE id = 3")
    result = invoke("db", "prune")
    assert result.exit_code == 0, result.output
    assert "audit log not pruned past row 3" in result.stderr
    assert [row.id for row in _rows(migrated_url)][:3] == [3, 4, 5]
    line = assert_one_line_error(invoke("audit", "verify"))
    assert line.startswith("error: audit row 3 is broken"), line


def test_a_backup_is_audited(migrated_url: str, tmp_path: Path) -> None:
    if not migrated_url.startswith("sqlite"):
        pytest.skip("pg_dump is covered by the backup tests; the audit row is the same")
    out = tmp_path / "copy.db"
    result = invoke("db", "backup", "--out", str(out))
    assert result.exit_code == 0, result.output
    [row] = _rows(migrated_url)
    assert (row.action, row.target_type) == ("db.backup", "database")
    assert row.detail is not None and row.detail["path"] == str(out)


def test_a_row_forged_with_a_correct_hash_is_still_named_by_the_head(migrated_url: str) -> None:
    """Someone who knows the algorithm appends a well-hashed row by hand: only the chain's
    head, moved by the audit service alone, tells it apart."""
    _write(migrated_url, 2)
    with engine_for(migrated_url) as engine, Session(engine) as session:
        last = _rows(migrated_url)[-1]
        forged = AuditEvent(
            id=3,
            at=utcnow(),
            actor="ci",
            action="token.create",
            summary="forged",
            prev_hash=last.hash,
            hash="",
        )
        forged.hash = chain.event_hash(forged)
        session.add(forged)
        session.commit()
    line = assert_one_line_error(invoke("audit", "verify"))
    assert line == (
        "error: audit row 3 is broken: row 3 comes after the chain's head (row 2): "
        "written without the audit service"
    )
