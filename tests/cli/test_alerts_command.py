"""prism alerts list / rules / test-channel, on a migrated database of each engine."""

import getpass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import Session, select

from app.models import AlertRule, AlertState, AuditEvent, Channel
from tests.cli.runner import assert_one_line_error, engine_for, invoke
from tests.support.receivers import receiver

# Apprise's e-mail plugin imports imghdr, deprecated since Python 3.11: its warning is the
# library's, not ours (warnings are errors in this suite).
pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
PASSWORD = "cli-Pl4nted-pw"


def _add(url: str, *rows: Any) -> None:
    with engine_for(url) as engine, Session(engine) as session:
        for row in rows:
            session.add(row)
            session.commit()


def _rule(rule_id: str, **fields: Any) -> AlertRule:
    values: dict[str, Any] = {
        "name": rule_id,
        "kind": "miner_silent",
        "severity": "critical",
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(fields)
    return AlertRule(id=rule_id, **values)


def _channel(port: int) -> Channel:
    return Channel(
        id="ops-hook",
        name="Ops hook",
        url=f"json://ops:{PASSWORD}@127.0.0.1:{port}/hook",
        created_at=T0,
        updated_at=T0,
    )


def test_rules_lists_each_rule_with_its_channels(migrated_url: str) -> None:
    _add(
        migrated_url,
        _rule("zz-hot", kind="miner_temperature", channels=["pager", "mail"]),
        _rule("zz-off", severity="warning", enabled=False),
    )
    result = invoke("alerts", "rules")
    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["ID", "KIND", "SEVERITY", "ENABLED", "CHANNELS"]
    by_id = {row.split()[0]: row.split() for row in rows}
    assert by_id["zz-hot"] == ["zz-hot", "miner_temperature", "critical", "yes", "pager,mail"]
    assert by_id["zz-off"] == ["zz-off", "miner_silent", "warning", "no", "-"]


def test_list_shows_current_alerts_firing_first(migrated_url: str) -> None:
    _add(
        migrated_url,
        _rule("zz-silent"),
        AlertState(
            rule_id="zz-silent",
            subject_type="miner",
            subject="rig-2",
            state="pending",
            since=T0,
            evaluated_at=T0,
        ),
        AlertState(
            rule_id="zz-silent",
            subject_type="miner",
            subject="rig-1",
            state="firing",
            since=T0,
            fired_at=T0,
            value=3600.0,
            evaluated_at=T0,
        ),
    )
    result = invoke("alerts", "list")
    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()
    assert header.split()[:4] == ["STATE", "SEVERITY", "RULE", "SUBJECT"]
    assert [row.split()[:4] for row in rows] == [
        ["firing", "critical", "zz-silent", "miner:rig-1"],
        ["pending", "critical", "zz-silent", "miner:rig-2"],
    ]
    assert "2026-12-01T10:00:00Z" in rows[0] and "3600" in rows[0]


def test_list_says_so_when_nothing_is_wrong(migrated_url: str) -> None:
    result = invoke("alerts", "list")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("No alerts")


def test_test_channel_sends_and_records_it_audited_as_the_cli_user(migrated_url: str) -> None:
    with receiver() as hook:
        _add(migrated_url, _channel(hook.port))
        result = invoke("alerts", "test-channel", "ops-hook")
    assert result.exit_code == 0, result.output
    assert "ops-hook" in result.stdout and "json://" in result.stdout
    assert PASSWORD not in result.output
    assert len(hook.requests) == 1
    with engine_for(migrated_url) as engine, Session(engine) as session:
        channel = session.get(Channel, "ops-hook")
        assert channel is not None and channel.last_sent_at is not None
        [audit] = session.exec(select(AuditEvent).where(AuditEvent.action == "channel.test"))
        assert audit.actor == f"cli:{getpass.getuser()}"


def test_a_failing_channel_is_one_masked_error_line_and_exit_1(migrated_url: str) -> None:
    with receiver() as hook:
        hook.fail_next(1, status=500)
        _add(migrated_url, _channel(hook.port))
        result = invoke("alerts", "test-channel", "ops-hook")
    assert result.exit_code == 1
    line = assert_one_line_error(result)
    assert line.startswith("error: channel ops-hook (json://")
    assert PASSWORD not in result.output
    with engine_for(migrated_url) as engine, Session(engine) as session:
        channel = session.get(Channel, "ops-hook")
        assert channel is not None and channel.last_error and channel.last_sent_at is None
        assert PASSWORD not in channel.last_error


def test_an_unknown_channel_is_one_error_line(migrated_url: str) -> None:
    line = assert_one_line_error(invoke("alerts", "test-channel", "ghost"))
    assert "not found" in line.lower()
