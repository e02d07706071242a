"""Delivery inside a real server (uvicorn, its own database): a receiver that hangs holds
only the worker's send threads, never ingest or pages; and a channel URL's planted secrets
appear in no answer, no log line and no row but the channel's own URL."""

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from app.alerts import delivery
from app.auth.session import COOKIE_NAME
from app.core.config import Settings
from app.core.timeutil import utcnow
from app.main import create_app
from app.models import metadata
from app.models.alerts import AlertRule, Notification
from tests.conftest import ADMIN_TOKEN, AUTH
from tests.support.db import engine_for, migrate, temporary_pg_database, wipe
from tests.support.notify_rows import add_channel, add_rule, fire
from tests.support.receivers import receiver
from tests.support.servers import running_server
from tests.support.signin import post_login
from tests.support.waits import HTTP_TIMEOUT, wait_until

PASSWORD = "Pl4nted-Srv-Secr3t"
QUERY_SECRET = "Qu3ry-Srv-T0ken"


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def server_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database of this module's own: no other app's worker sends its rows."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('delivery') / 'console.db'}"
        migrate(url)
        yield url
    else:
        with temporary_pg_database("prism_delivery") as url:
            migrate(url)
            yield url


@pytest.fixture
def engine(server_db: str) -> Iterator[Engine]:
    with engine_for(server_db) as engine:
        wipe(engine)
        yield engine


def server_settings(url: str, **overrides: Any) -> Settings:
    options: dict[str, Any] = {
        "api_db_url": url,
        "admin_token": ADMIN_TOKEN,
        "auto_migrate": False,
        "log_level": "WARNING",
        "retention_interval_minutes": 0,
        "alert_interval_seconds": 0,  # transitions are written by the test itself
        "notify_timeout_seconds": 60,
        **overrides,
    }
    return Settings(**options, _env_file=None)


def status_of(engine: Engine, notification_id: str) -> str:
    with Session(engine) as session:
        row = session.get(Notification, notification_id)
        assert row is not None
        return row.status


def test_a_hanging_receiver_blocks_neither_ingest_nor_pages(server_db: str, engine: Engine) -> None:
    app = create_app(server_settings(server_db))
    with receiver() as hook, running_server(app) as base:
        hook.hold()
        with Session(engine, expire_on_commit=False) as session:
            add_channel(session, "ops", hook.url())
            rule = add_rule(session, "silent", ["ops"])
            rows = [
                row
                for index in range(delivery.SEND_THREADS + 1)
                for row in fire(session, rule, [f"rig-{index}"], now=utcnow())
            ]
        # Every send thread of the server is now stuck in the receiver.
        hook.wait_for(delivery.SEND_THREADS)

        with httpx.Client(base_url=base, timeout=HTTP_TIMEOUT) as http:
            ingest = http.post(
                "/api/miners/sample", json={"miner_id": "rig-9", "hashrate_1m": 1.0}, headers=AUTH
            )
            assert ingest.status_code == 202, ingest.text
            signed_in = post_login(http, ADMIN_TOKEN)
            assert signed_in.status_code == 303
            cookie = signed_in.cookies.get(COOKIE_NAME)
            page = http.get("/", headers={"Cookie": f"{COOKIE_NAME}={cookie}"})
            assert page.status_code == 200
            assert http.get("/livez").status_code == 200
            # The pool is bounded: the fifth message waits for a free thread.
            assert len(hook.requests) == delivery.SEND_THREADS

        hook.release()
        wait_until(
            lambda: all(status_of(engine, row.id) == "sent" for row in rows), "every message sent"
        )
    assert sorted(str(notification_id) for notification_id in hook.ids()) == sorted(
        row.id for row in rows
    )


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every log line at DEBUG: the service's own (prism.*) and the libraries' (apprise's,
    urllib3's request lines)."""
    prism = logging.getLogger("prism")
    previous = prism.level
    prism.addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG, logger="apprise")
    caplog.set_level(logging.DEBUG, logger="urllib3")
    try:
        yield caplog
    finally:
        prism.removeHandler(caplog.handler)
        prism.setLevel(previous)


def test_a_planted_password_is_in_no_answer_log_line_or_row(
    server_db: str, engine: Engine, logs: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    settings = server_settings(
        server_db, notify_max_attempts=2, notify_retry_seconds=0.05, public_url="https://c.example"
    )
    app = create_app(settings)
    logging.getLogger("prism").setLevel(logging.DEBUG)
    answers: list[str] = []
    with receiver() as hook, running_server(app) as base:
        hook.fail_next(1000)
        url = f"json://ops:{PASSWORD}@127.0.0.1:{hook.port}/hook?-key={QUERY_SECRET}"
        with httpx.Client(base_url=base, timeout=HTTP_TIMEOUT, headers=AUTH) as http:

            def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
                response = http.request(method, path, **kwargs)
                answers.append(response.text)
                return response

            created = call("POST", "/api/channels", json={"id": "ops", "name": "Ops", "url": url})
            assert created.status_code == 201, created.text
            rule = call(
                "POST",
                "/api/alerts/rules",
                json={
                    "id": "silent",
                    "name": "Miner silent",
                    "kind": "miner_silent",
                    "severity": "critical",
                    "channels": ["ops"],
                },
            )
            assert rule.status_code == 201, rule.text
            with Session(engine, expire_on_commit=False) as session:
                stored_rule = session.get(AlertRule, "silent")
                assert stored_rule is not None
                (row,) = fire(session, stored_rule, ["rig-1"], now=utcnow())
            wait_until(lambda: status_of(engine, row.id) == "failed", "the message failed")
            # The requests carried the query parameter: urllib3 logged its request lines.
            assert all(QUERY_SECRET in request.path for request in hook.requests)

            tested = call("POST", "/api/channels/ops/test")
            assert tested.status_code == 200 and tested.json()["ok"] is False
            incident_id = row.incident_ids[0]
            for path in (
                "/api/channels",
                "/api/channels/ops",
                "/api/notifications",
                f"/api/notifications?incident={incident_id}",
                "/api/incidents",
                f"/api/incidents/{incident_id}",
                "/api/export/incidents.json",
                "/api/export/incidents.csv",
                "/api/audit",
            ):
                response = call("GET", path)
                assert response.status_code == 200, (path, response.text)

    failed = [answer for answer in answers if '"lastError"' in answer]
    assert failed, "no answer showed the delivery error"
    assert any("500" in answer for answer in failed)
    for answer in answers:
        assert PASSWORD not in answer and QUERY_SECRET not in answer
    log_text = logs.text + "\n".join(str(record.msg) for record in logs.records)
    assert "Failed to send JSON" in log_text  # Apprise's own lines were captured, masked
    assert PASSWORD not in log_text and QUERY_SECRET not in log_text
    # In the database, only the channel's own URL holds them.
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            for stored in conn.execute(table.select()).mappings():
                values = {
                    key: value
                    for key, value in stored.items()
                    if not (table.name == "channel" and key == "url")
                }
                dumped = repr(values)
                assert PASSWORD not in dumped, table.name
                assert QUERY_SECRET not in dumped, table.name
        assert conn.execute(text("SELECT count(*) FROM notification")).scalar_one() == 1
