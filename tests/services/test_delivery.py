"""Delivery steps (deliver_due on an injected clock): json:// and mailto:// arrive, grouped
messages name every subject, failures retry with backoff and end failed, claims hold a row
for their lease and a row is sent again after a crash lets the lease run out."""

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from app.alerts import delivery
from app.alerts.delivery import claim_due, deliver_due, lease_seconds, retry_delay
from app.core.config import Settings
from app.models.alerts import Channel
from tests.support.db import wipe
from tests.support.notify_rows import (
    CLOCK,
    add_channel,
    add_rule,
    fire,
    later,
    notification,
    timeline,
)
from tests.support.receivers import Receiver, receiver
from tests.support.smtp import mail_server


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    wipe(engine)
    with Session(engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture
def settings(app_settings: Settings) -> Settings:
    return app_settings.model_copy(
        update={
            "notify_timeout_seconds": 30.0,
            "notify_retry_seconds": 10.0,
            "notify_max_attempts": 3,
            "public_url": "https://console.example.com",
        }
    )


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as state:
        yield state


def test_a_json_notification_arrives_with_its_id(
    session: Session, engine: Engine, settings: Settings, hook: Receiver
) -> None:
    add_channel(session, "ops", hook.url())
    rule = add_rule(session, "silent", ["ops"], name="Miner silent")
    (row,) = fire(session, rule, ["rig-7"])

    report = deliver_due(engine, settings, now=CLOCK)

    assert (report.claimed, report.sent) == (1, 1)
    (received,) = hook.wait_for(1)
    assert received.notification_id == row.id
    assert row.id in received.text
    assert "rig-7" in received.text and "Miner silent" in received.text
    assert f"https://console.example.com/incidents/{row.incident_ids[0]}" in received.text
    stored = notification(session, row.id)
    assert (stored.status, stored.attempts, stored.sent_at) == ("sent", 1, CLOCK)
    channel = session.get(Channel, "ops")
    assert channel is not None and channel.last_sent_at == CLOCK
    (entry,) = timeline(session, row.incident_ids[0])
    assert (entry.type, entry.detail["notificationId"]) == ("notified", row.id)


def test_twenty_silent_miners_are_one_message_naming_all_twenty(
    session: Session, engine: Engine, settings: Settings, hook: Receiver
) -> None:
    add_channel(session, "ops", hook.url("ops"))
    add_channel(session, "pager", hook.url("pager"))
    rule = add_rule(session, "silent", ["ops", "pager"])
    miners = [f"rig-{index:02d}" for index in range(20)]
    for index, miner in enumerate(miners):
        fire(session, rule, [miner], now=later(index), group_seconds=30)

    assert deliver_due(engine, settings, now=later(29)).claimed == 0  # the window is open
    report = deliver_due(engine, settings, now=later(30))

    assert report.sent == 2
    messages = hook.wait_for(2)
    assert sorted(message.path for message in messages) == ["/ops", "/pager"]
    for message in messages:
        assert all(miner in message.text for miner in miners)
        assert "20 miners" in message.body["title"]


def test_a_mailto_notification_reaches_a_plain_smtp_server(
    session: Session, engine: Engine, settings: Settings
) -> None:
    with mail_server() as smtp:
        add_channel(session, "mail", smtp.url())
        rule = add_rule(session, "hot", ["mail"], kind="miner_temperature", name="Too hot")
        (row,) = fire(session, rule, ["rig-3"])

        assert deliver_due(engine, settings, now=CLOCK).sent == 1

        (mail,) = smtp.wait_for(1)
    assert mail.recipients == ["ops@example.com"]
    assert "Too hot" in mail.subject
    assert "rig-3" in mail.text and row.id in mail.text


def test_a_mailto_notification_signs_in_when_the_url_has_credentials(
    session: Session, engine: Engine, settings: Settings
) -> None:
    with mail_server(user="alerts", password="s3cret-Mail-Pass") as smtp:
        add_channel(session, "mail", smtp.url(user="alerts", password="s3cret-Mail-Pass"))
        rule = add_rule(session, "hot", ["mail"])
        fire(session, rule, ["rig-3"])

        assert deliver_due(engine, settings, now=CLOCK).sent == 1

        smtp.wait_for(1)
        assert smtp.logins == ["alerts"]


def test_a_receiver_failing_twice_gets_the_message_on_the_third_attempt(
    session: Session, engine: Engine, settings: Settings, hook: Receiver
) -> None:
    add_channel(session, "ops", hook.url())
    rule = add_rule(session, "silent", ["ops"])
    (row,) = fire(session, rule, ["rig-1"])
    hook.fail_next(2)

    first = deliver_due(engine, settings, now=CLOCK)
    assert (first.sent, first.retried) == (0, 1)
    stored = notification(session, row.id)
    assert (stored.status, stored.attempts) == ("pending", 1)
    assert stored.last_error is not None and "500" in stored.last_error
    assert stored.next_attempt_at == later(10)

    assert deliver_due(engine, settings, now=later(9)).claimed == 0
    assert deliver_due(engine, settings, now=later(10)).retried == 1
    assert notification(session, row.id).next_attempt_at == later(10 + 20)
    assert deliver_due(engine, settings, now=later(30)).sent == 1

    assert hook.ids() == [row.id, row.id, row.id]
    stored = notification(session, row.id)
    assert (stored.status, stored.attempts, stored.sent_at) == ("sent", 3, later(30))
    assert [entry.type for entry in timeline(session, row.incident_ids[0])] == ["notified"]


def test_a_receiver_that_never_recovers_ends_failed_and_others_keep_working(
    session: Session, engine: Engine, settings: Settings, hook: Receiver
) -> None:
    with receiver() as good:
        add_channel(session, "broken", hook.url())
        add_channel(session, "good", good.url())
        rule = add_rule(session, "silent", ["broken"])
        other = add_rule(session, "hot", ["good"], kind="miner_temperature")
        (failing,) = fire(session, rule, ["rig-1"])
        hook.fail_next(100, status=503)

        moments = [CLOCK, later(10), later(30)]
        for index, moment in enumerate(moments):
            # Meanwhile another channel's messages go out at once.
            (ok,) = fire(session, other, [f"hot-{index}"], now=moment)
            report = deliver_due(engine, settings, now=moment)
            assert report.sent == 1
            assert notification(session, ok.id).status == "sent"

        assert len(good.wait_for(3)) == 3
    stored = notification(session, failing.id)
    assert (stored.status, stored.attempts) == ("failed", 3)
    assert stored.last_error is not None and "503" in stored.last_error
    channel = session.get(Channel, "broken")
    assert channel is not None and channel.last_error == stored.last_error
    entries = timeline(session, failing.incident_ids[0])
    assert [entry.type for entry in entries] == ["notify_failed"]
    assert entries[0].detail["error"] == stored.last_error
    assert deliver_due(engine, settings, now=later(86_400)).claimed == 0


def test_retries_double_up_to_an_hour_apart(settings: Settings) -> None:
    delays = [retry_delay(settings, attempts) for attempts in range(1, 12)]
    assert delays[:4] == [10, 20, 40, 80]
    assert max(delays) == 3600
    assert retry_delay(settings, 10_000) == 3600


def test_an_unreachable_receiver_is_an_error_naming_no_secret(
    session: Session, engine: Engine, settings: Settings
) -> None:
    add_channel(
        session, "ops", "json://hook-user:Pl4nted-Secret@127.0.0.1:9/T0KEN-path?key=Qu3ry-Val"
    )
    rule = add_rule(session, "silent", ["ops"])
    (row,) = fire(session, rule, ["rig-1"])

    assert deliver_due(engine, settings, now=CLOCK).retried == 1

    error = notification(session, row.id).last_error
    assert error
    for secret in ("hook-user", "Pl4nted-Secret", "T0KEN-path", "Qu3ry-Val"):
        assert secret not in error


def test_a_disabled_channel_fails_its_rows_without_sending(
    session: Session, engine: Engine, settings: Settings, hook: Receiver
) -> None:
    channel = add_channel(session, "ops", hook.url())
    rule = add_rule(session, "silent", ["ops"])
    (row,) = fire(session, rule, ["rig-1"])
    channel.enabled = False
    session.add(channel)
    session.commit()

    report = deliver_due(engine, settings, now=CLOCK)

    assert (report.claimed, report.failed) == (1, 1)
    assert hook.requests == []
    stored = notification(session, row.id)
    assert (stored.status, stored.last_error) == ("failed", "the channel is disabled")


def test_a_claimed_row_is_not_claimed_again_until_its_lease_runs_out(
    session: Session, engine: Engine, settings: Settings, hook: Receiver
) -> None:
    add_channel(session, "ops", hook.url())
    rule = add_rule(session, "silent", ["ops"])
    (row,) = fire(session, rule, ["rig-1"])
    lease = lease_seconds(settings)
    assert lease > settings.notify_timeout_seconds

    # A worker claims the row and dies before sending (nothing recorded).
    (claim,) = claim_due(engine, settings, now=CLOCK, limit=10)
    assert claim.notification_id == row.id
    assert deliver_due(engine, settings, now=later(lease - 1)).claimed == 0
    report = deliver_due(engine, settings, now=later(lease))

    assert report.sent == 1
    assert hook.ids() == [row.id]
    stored = notification(session, row.id)
    assert (stored.status, stored.attempts) == ("sent", 1)


def test_a_sender_whose_claim_was_taken_over_records_nothing(
    session: Session, engine: Engine, settings: Settings, hook: Receiver
) -> None:
    add_channel(session, "ops", hook.url())
    rule = add_rule(session, "silent", ["ops"])
    (row,) = fire(session, rule, ["rig-1"])
    (stale,) = claim_due(engine, settings, now=CLOCK, limit=10)
    lease = lease_seconds(settings)
    assert deliver_due(engine, settings, now=later(lease)).sent == 1

    # The first worker finally finishes: its failure must not undo the delivery.
    outcome = delivery.record_outcome(
        engine, settings, stale, ok=False, error="late", now=later(lease + 1)
    )

    assert outcome == "lost"
    stored = notification(session, row.id)
    assert (stored.status, stored.attempts, stored.last_error) == ("sent", 1, None)


def test_a_resolved_message_says_resolved(
    session: Session, engine: Engine, settings: Settings, hook: Receiver
) -> None:
    add_channel(session, "ops", hook.url())
    rule = add_rule(session, "silent", ["ops"], name="Miner silent")
    fire(session, rule, ["rig-1"], event="resolved")

    assert deliver_due(engine, settings, now=CLOCK).sent == 1

    (received,) = hook.wait_for(1)
    assert "resolved" in received.body["title"]
    assert received.body["type"] == "success"


def test_send_test_reports_success_and_a_masked_failure(hook: Receiver) -> None:
    assert delivery.send_test(hook.url(), timeout=30) == (True, None)
    (received,) = hook.wait_for(1)
    assert received.notification_id and received.notification_id in received.text

    hook.fail_next(1)
    ok, error = delivery.send_test(
        hook.url().replace("json://", "json://bob:T3st-Secret@"), timeout=30
    )
    assert not ok and error and "500" in error and "T3st-Secret" not in error


@pytest.mark.parametrize("scheme", ["json", "form", "xml"])
def test_every_webhook_scheme_carries_the_id_header(
    scheme: str, session: Session, engine: Engine, settings: Settings, hook: Receiver
) -> None:
    add_channel(session, "ops", hook.url(scheme=scheme) + "?+X-Team=ops")
    rule = add_rule(session, "silent", ["ops"])
    (row,) = fire(session, rule, ["rig-1"])

    assert deliver_due(engine, settings, now=CLOCK).sent == 1

    (received,) = hook.wait_for(1)
    assert received.notification_id == row.id
    assert received.headers["x-team"] == "ops"  # the channel's own headers are kept
