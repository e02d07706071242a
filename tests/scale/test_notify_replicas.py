"""Exactly once where it matters: two servers (two processes) on one PostgreSQL, both running
their delivery workers, 50 rules firing at once: the receiver gets every notification, none
twice, while both replicas are sending at the same time."""

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.alerts.delivery import SEND_THREADS
from app.models.alerts import Notification
from tests.hardening.ingest_support import server_process
from tests.support.db import engine_for, migrate, temporary_pg_database
from tests.support.notify_rows import add_channel, add_silence_rules, add_silent_miners
from tests.support.receivers import receiver
from tests.support.waits import wait_until

pytestmark = pytest.mark.postgres

MINERS = [f"rig-{index:02d}" for index in range(50)]
SERVER_ENV: dict[str, Any] = {
    "PRISM_AUTO_MIGRATE": "false",
    "PRISM_RETENTION_INTERVAL_MINUTES": "0",
    "PRISM_ALERT_INTERVAL_SECONDS": "0.5",
    "PRISM_ALERT_GROUP_SECONDS": "0",
    # Held sends must not time out while the test waits for both replicas to hold some.
    "PRISM_NOTIFY_TIMEOUT_SECONDS": "60",
}


def sent(engine: Engine) -> list[Notification]:
    with Session(engine) as session:
        rows = session.exec(select(Notification)).all()
        return [row for row in rows if row.status == "sent"]


def test_two_replicas_send_each_of_50_notifications_exactly_once(tmp_path: Path) -> None:
    with temporary_pg_database("prism_notify") as url, receiver() as hook:
        migrate(url)
        with engine_for(url) as engine:
            with Session(engine) as session:
                add_channel(session, "ops", hook.url())
                add_silent_miners(session, MINERS, silent_for=3600)
                add_silence_rules(session, MINERS, "ops")
            hook.hold()
            with (
                server_process(url, tmp_path, **SERVER_ENV),
                server_process(url, tmp_path, **SERVER_ENV),
            ):
                # One process never has more than SEND_THREADS messages in flight: this many
                # held at once means both replicas claimed rows at the same time.
                hook.wait_for(2 * SEND_THREADS)
                hook.release()
                wait_until(lambda: len(sent(engine)) == len(MINERS), "all 50 messages sent")
            rows = sent(engine)

    counts = Counter(hook.ids())
    assert set(counts) == {row.id for row in rows}
    assert len(counts) == len(MINERS)
    assert set(counts.values()) == {1}
    assert {row.attempts for row in rows} == {1}
