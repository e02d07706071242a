"""A server killed with SIGKILL while a notification is on its way (its row written by the
evaluator's transition, its send held in the receiver): after a restart the message is
sent, carrying the same X-Prism-Notification-Id. The planted password of the channel URL is
in neither server's log."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.models.alerts import Notification
from tests.hardening.ingest_support import server_process
from tests.support.db import engine_for, migrate, temporary_pg_database
from tests.support.notify_rows import add_channel, add_silence_rules, add_silent_miners
from tests.support.receivers import receiver
from tests.support.waits import wait_until

PASSWORD = "Pl4nted-Crash-Secr3t"

# Short timeout, so the lease (3 x timeout) left by the killed server runs out quickly.
SERVER_ENV: dict[str, Any] = {
    "PRISM_AUTO_MIGRATE": "false",
    "PRISM_RETENTION_INTERVAL_MINUTES": "0",
    "PRISM_ALERT_INTERVAL_SECONDS": "0.5",
    "PRISM_ALERT_GROUP_SECONDS": "0",
    "PRISM_NOTIFY_TIMEOUT_SECONDS": "1",
    "PRISM_NOTIFY_RETRY_SECONDS": "0.5",
}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def crash_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'console.db'}"
        migrate(url)
        yield url
    else:
        with temporary_pg_database("prism_crash") as url:
            migrate(url)
            yield url


def rows(engine: Engine) -> list[Notification]:
    with Session(engine) as session:
        return list(session.exec(select(Notification)).all())


def test_a_message_whose_sender_was_killed_is_sent_after_restart(
    crash_db: str, tmp_path: Path
) -> None:
    with engine_for(crash_db) as engine, receiver() as hook:
        with Session(engine) as session:
            add_channel(session, "ops", f"json://ops:{PASSWORD}@127.0.0.1:{hook.port}/hook")
            add_silent_miners(session, ["rig-1"], silent_for=3600)
            add_silence_rules(session, ["rig-1"], "ops")
        hook.hold()

        with server_process(crash_db, tmp_path, **SERVER_ENV) as first:
            # The transition is committed, its send under way (on a slow machine the send may
            # have timed out and been retried already: the same row either way).
            held = hook.wait_for(1)[0]
            first.kill()
        hook.release()
        (row,) = rows(engine)
        assert row.id == held.notification_id
        assert row.status == "pending" and row.sent_at is None

        with server_process(crash_db, tmp_path, **SERVER_ENV) as second:
            wait_until(lambda: rows(engine)[0].status == "sent", "the message sent after restart")
        (row,) = rows(engine)

    ids = hook.ids()
    assert len(ids) >= 2
    assert set(ids) == {row.id}
    for log in (first.log_text(), second.log_text()):
        assert PASSWORD not in log
