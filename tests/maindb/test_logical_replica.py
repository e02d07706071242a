"""The main database as a logical replica: real publication and subscription on the local server.

The main API's schema and seed live in a publisher database; a second database subscribes to
all of it and is what PRISM_MAIN_DB_URL points at, through a SELECT-only role. Stopping the
subscription (DISABLE) or stalling its apply worker (a lock the test holds on the subscriber)
must show in /api/main/status, `prism main check` and the cross-service pages. The lag is
read against an injected clock, so no test waits for time to pass.
"""

import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from app.cli.maindb import main_app
from app.core.config import Settings
from app.core.timeutil import utcnow
from app.main import create_app
from app.maindb import MainDatabase, WriteProbe
from app.maindb.replication import lag_seconds, replication_status
from app.maindb.schemas import MainDbReplication, ReplicaSubscription
from app.maindb.status import main_status
from app.ops.doctor_checks_maindb import main_db_checks
from tests.cli.runner import isolate_environment
from tests.maindb.conftest import open_main
from tests.support.db import migrate, pg_admin_url, require_postgres, temporary_pg_database
from tests.support.maindb_fixtures import MainTarget, build, grant_reader
from tests.support.signin import post_login
from tests.support.waits import wait_until

pytestmark = pytest.mark.postgres

ADMIN_TOKEN = "replica-admin-token-with-enough-entropy-01"
NOTE = "INSERT INTO notes (user_id, content) VALUES (1, %s)"


@dataclass(frozen=True)
class Replica:
    """A subscriber (`target`, read as a SELECT-only role) of a publisher database."""

    target: MainTarget
    publisher_url: str
    subscription: str
    publication: str


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _admin(url: str) -> psycopg.Connection:
    return psycopg.connect(_libpq(url), autocommit=True)


def _require_logical_wal() -> None:
    with _admin(require_postgres()) as conn:
        row = conn.execute("SHOW wal_level").fetchone()
    if row is None or row[0] != "logical":
        pytest.skip(
            f"LOGICAL REPLICATION TESTS SKIPPED: wal_level is {row[0] if row else '?'}, not "
            "logical. Run `ALTER SYSTEM SET wal_level = logical` as a superuser and restart "
            "PostgreSQL (e.g. pg_ctlcluster --skip-systemctl-redirect 15 main restart)."
        )


def _one(url: str, query: str, *params: object) -> object:
    with _admin(url) as conn:
        row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
    return row[0] if row else None


def _subscription_state(replica: Replica) -> tuple[object, object]:
    """(apply worker pid, last_msg_receipt_time) as the subscriber's superuser sees them."""
    with _admin(replica.target.admin_url) as conn:
        row = conn.execute(
            "SELECT pid, last_msg_receipt_time FROM pg_stat_subscription "
            "WHERE subname = %s AND relid IS NULL",
            [replica.subscription],
        ).fetchone()
    assert row is not None
    return row[0], row[1]


def _note_arrived(replica: Replica, content: str) -> bool:
    count = _one(replica.target.admin_url, "SELECT count(*) FROM notes WHERE content = %s", content)
    return count == 1


def _drop_subscription(subscriber_url: str, name: str) -> None:
    with _admin(subscriber_url) as conn:
        conn.execute(f"ALTER SUBSCRIPTION {name} DISABLE")
        # The slot lives on the publisher and is dropped there, once its sender has stopped.
        conn.execute(f"ALTER SUBSCRIPTION {name} SET (slot_name = NONE)")
        conn.execute(f"DROP SUBSCRIPTION {name}")


def _drop_slot(publisher_url: str, name: str) -> None:
    def released() -> bool:
        active = _one(
            publisher_url, "SELECT active FROM pg_replication_slots WHERE slot_name = %s", name
        )
        return active is not True

    wait_until(released, f"the walsender of slot {name} to stop")
    with _admin(publisher_url) as conn:
        conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
            "WHERE slot_name = %s",
            [name],
        )


def _drop_role(role: str) -> None:
    with _admin(pg_admin_url()) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {role}")


@dataclass(frozen=True)
class Databases:
    """A publisher of every table, and a subscriber database with the same schema and rows."""

    target: MainTarget
    publisher_url: str
    publication: str


@contextmanager
def replication_databases() -> Iterator[Databases]:
    """Publisher and subscriber databases and the reader role, unique names, dropped after."""
    _require_logical_wal()
    suffix = uuid.uuid4().hex[:10]
    role, publication = f"prism_ro_{suffix}", f"prism_pub_{suffix}"
    with ExitStack() as stack:
        # Last in, first out: the databases (and the publication in one), then the role.
        stack.callback(_drop_role, role)
        publisher_url = stack.enter_context(temporary_pg_database("prism_pub"))
        subscriber_url = stack.enter_context(temporary_pg_database("prism_replica"))
        build(MainTarget("postgresql", publisher_url, publisher_url))
        reader_url = make_url(subscriber_url).set(username=role, password="reader-pw")
        target = MainTarget(
            "postgresql", reader_url.render_as_string(hide_password=False), subscriber_url, role
        )
        # Logical replication never copies the schema; the rows are seeded on both sides too,
        # so a subscription starts without an initial copy (one worker per table, started
        # seconds apart): `copy_data = false`.
        build(target)
        grant_reader(target)
        with _admin(publisher_url) as conn:
            conn.execute(f"CREATE PUBLICATION {publication} FOR ALL TABLES")
        yield Databases(target, publisher_url, publication)


@contextmanager
def subscribed(databases: Databases) -> Iterator[Replica]:
    """A new subscription (and its slot) of the subscriber to the publisher, dropped after."""
    name = f"prism_sub_{uuid.uuid4().hex[:10]}"
    publisher_url, subscriber_url = databases.publisher_url, databases.target.admin_url
    with ExitStack() as stack:
        with _admin(publisher_url) as conn:
            # Made apart: CREATE SUBSCRIPTION cannot make a slot in its own cluster.
            conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", [name])
        stack.callback(_drop_slot, publisher_url, name)
        source = make_url(publisher_url)
        conninfo = (
            f"host={source.host} port={source.port or 5432} dbname={source.database} "
            f"user={source.username}" + (f" password={source.password}" if source.password else "")
        )
        with _admin(subscriber_url) as conn:
            conn.execute(
                f"CREATE SUBSCRIPTION {name} CONNECTION '{conninfo}' "
                f"PUBLICATION {databases.publication} "
                f"WITH (create_slot = false, slot_name = '{name}', copy_data = false)"
            )
        stack.callback(_drop_subscription, subscriber_url, name)
        replica = Replica(databases.target, publisher_url, name, databases.publication)
        wait_until(lambda: _subscription_state(replica)[0] is not None, "the apply worker")
        yield replica


@pytest.fixture(scope="module")
def databases() -> Iterator[Databases]:
    with replication_databases() as made:
        yield made


@pytest.fixture
def replica(databases: Databases) -> Iterator[Replica]:
    with subscribed(databases) as made:
        yield made


@pytest.fixture
def reader(replica: Replica) -> Iterator[MainDatabase]:
    """The console's main database: the subscriber, as the SELECT-only role."""
    main_db = open_main(replica.target)
    yield main_db
    main_db.dispose()


def _replicate(replica: Replica, content: str) -> None:
    """Write on the publisher and wait until the subscriber has applied it."""
    with _admin(replica.publisher_url) as conn:
        conn.execute(NOTE, [content])
    wait_until(lambda: _note_arrived(replica, content), f"note {content!r} on the subscriber")


def _only(replication: MainDbReplication | None) -> ReplicaSubscription:
    assert replication is not None and replication.error is None, replication
    assert replication.subscriber
    assert len(replication.subscriptions) == 1
    return replication.subscriptions[0]


def _disable(replica: Replica) -> None:
    with _admin(replica.target.admin_url) as conn:
        conn.execute(f"ALTER SUBSCRIPTION {replica.subscription} DISABLE")
    wait_until(lambda: _subscription_state(replica)[0] is None, "the apply worker to stop")


def test_a_replicating_subscription_is_shown_with_its_positions_and_lag(
    replica: Replica, reader: MainDatabase
) -> None:
    _replicate(replica, "replicated-1")
    status = main_status(reader, max_lag_seconds=60)
    assert status.ok
    sub = _only(status.replication)
    assert sub.name == replica.subscription
    assert sub.enabled and sub.worker_running
    assert sub.publications == [replica.publication]
    assert sub.received_lsn is not None and "/" in sub.received_lsn
    assert sub.latest_end_lsn is not None
    assert sub.last_msg_receipt_time is not None and sub.last_msg_send_time is not None
    assert sub.tables_syncing == 0
    assert sub.apply_errors == 0
    assert sub.lag_seconds is not None and sub.lag_seconds >= 0
    # Moving the clock is what time passing would do: pass at the limit, warn past it.
    received = sub.last_msg_receipt_time
    at_limit = _only(
        replication_status(reader, max_lag_seconds=5, now=received + timedelta(seconds=5))
    )
    # A keepalive between the two reads moves the receipt time forward, never back: the lag
    # read again is at most the limit.
    assert at_limit.lag_seconds is not None and 0 <= at_limit.lag_seconds <= 5.0
    assert (at_limit.status, at_limit.warning) == ("pass", None)


def test_a_stalled_subscription_lags_past_the_limit_and_catches_up_after(
    replica: Replica, reader: MainDatabase
) -> None:
    _replicate(replica, "before-the-stall")
    # The apply worker blocks on the lock while applying the next change: it reads nothing
    # more from its publisher, and its last receipt time stops moving. SHARE mode stops its
    # INSERT and still lets the test read the table.
    blocker = _admin(replica.target.admin_url)
    try:
        blocker.autocommit = False
        blocker.execute("LOCK TABLE notes IN SHARE MODE")
        with _admin(replica.publisher_url) as conn:
            conn.execute(NOTE, ["during-the-stall"])
        pid = _subscription_state(replica)[0]
        wait_until(
            lambda: (
                _one(
                    replica.target.admin_url,
                    "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s",
                    pid,
                )
                == "Lock"
            ),
            "the apply worker to wait on the lock",
        )
        stalled = _only(replication_status(reader, max_lag_seconds=5))
        assert stalled.last_msg_receipt_time is not None
        later = stalled.last_msg_receipt_time + timedelta(seconds=65)
        lagging = _only(replication_status(reader, max_lag_seconds=5, now=later))
        assert lagging.worker_running and lagging.enabled
        assert lagging.lag_seconds == 65.0
        assert lagging.status == "warn"
        assert lagging.warning == (
            f"subscription {replica.subscription} lags: nothing heard from its publisher for "
            "65 s (more than PRISM_MAIN_DB_MAX_LAG_SECONDS=5)"
        )
        replication = replication_status(reader, max_lag_seconds=5, now=later)
        assert replication is not None and replication.status == "warn"
        assert not _note_arrived(replica, "during-the-stall")
    finally:
        blocker.rollback()
        blocker.close()
    wait_until(lambda: _note_arrived(replica, "during-the-stall"), "the stalled change")
    wait_until(
        lambda: _subscription_state(replica)[1] > stalled.last_msg_receipt_time,  # type: ignore[operator]
        "the receipt time to move on",
    )


def test_a_disabled_subscription_warns_and_the_changes_wait_on_the_publisher(
    replica: Replica, reader: MainDatabase
) -> None:
    _disable(replica)
    with _admin(replica.publisher_url) as conn:
        conn.execute(NOTE, ["while-disabled"])
    sub = _only(main_status(reader, max_lag_seconds=60).replication)
    assert (sub.enabled, sub.worker_running, sub.lag_seconds) == (False, False, None)
    assert sub.status == "warn"
    assert sub.warning == (
        f"subscription {replica.subscription} is disabled: the main database receives no "
        f"changes (on the subscriber: ALTER SUBSCRIPTION {replica.subscription} ENABLE)"
    )
    assert not _note_arrived(replica, "while-disabled")

    with _admin(replica.target.admin_url) as conn:
        conn.execute(f"ALTER SUBSCRIPTION {replica.subscription} ENABLE")
    wait_until(lambda: _note_arrived(replica, "while-disabled"), "the change after ENABLE")
    wait_until(lambda: _subscription_state(replica)[1] is not None, "the worker's first message")
    again = _only(main_status(reader, max_lag_seconds=60).replication)
    assert again.enabled and again.worker_running
    assert again.last_msg_receipt_time is not None
    fresh = replication_status(reader, max_lag_seconds=60, now=again.last_msg_receipt_time)
    assert _only(fresh).status == "pass"


def test_everything_stays_read_only_on_the_replica(replica: Replica, reader: MainDatabase) -> None:
    probe = reader.probe_write()
    assert isinstance(probe, WriteProbe) and probe.refused, probe
    assert "read-only transaction" in probe.message
    before = _one(replica.target.admin_url, "SELECT count(*) FROM notes")
    main_status(reader, max_lag_seconds=60)
    assert _one(replica.target.admin_url, "SELECT count(*) FROM notes") == before


def test_a_database_with_no_subscription_is_not_a_subscriber(
    main_db: MainDatabase, dialect: str
) -> None:
    replication = main_status(main_db, max_lag_seconds=60).replication
    if dialect == "sqlite":
        assert replication is None
    else:
        assert replication == MainDbReplication(subscriber=False, max_lag_seconds=60, status="pass")


def test_lag_is_never_negative_and_unknown_without_a_message() -> None:
    now = utcnow()
    assert lag_seconds(now + timedelta(seconds=3), now) == 0.0
    assert lag_seconds(now - timedelta(seconds=2.5), now) == 2.5
    assert lag_seconds(None, now) is None


# --- The status endpoint, the pages and `prism main check` -----------------------------------


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """A console app (SQLite console database) whose main database each test sets."""
    url = f"sqlite:///{tmp_path_factory.mktemp('console') / 'console.db'}"
    migrate(url)
    settings = Settings(
        api_db_url=url,
        admin_token=ADMIN_TOKEN,
        auto_migrate=False,
        log_level="WARNING",
        retention_interval_minutes=0,
        main_db_max_lag_seconds=30,
        _env_file=None,  # type: ignore[call-arg]
    )
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def serving(console: TestClient, reader: MainDatabase) -> Iterator[TestClient]:
    app: FastAPI = console.app  # type: ignore[assignment]
    app.state.main_db = reader
    try:
        yield console
    finally:
        app.state.main_db = None


def test_the_status_endpoint_lists_the_subscriptions(replica: Replica, serving: TestClient) -> None:
    _replicate(replica, "for-the-api")
    answer = serving.get("/api/main/status", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert answer.status_code == 200, answer.text
    replication = answer.json()["replication"]
    assert replication["subscriber"] is True
    assert replication["maxLagSeconds"] == 30
    (sub,) = replication["subscriptions"]
    assert sub["name"] == replica.subscription
    assert sub["enabled"] is True and sub["workerRunning"] is True
    assert sub["lastMsgReceiptTime"].endswith("Z")
    assert {"receivedLsn", "latestEndLsn", "lastMsgSendTime", "latestEndTime", "lagSeconds"} <= set(
        sub
    )
    assert "reader-pw" not in answer.text and "conninfo" not in answer.text.lower()

    _disable(replica)
    stopped = serving.get("/api/main/status", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    replication = stopped.json()["replication"]
    assert replication["status"] == "warn"
    assert replication["subscriptions"][0]["enabled"] is False
    assert "is disabled" in replication["subscriptions"][0]["warning"]


def test_the_cross_pages_show_the_subscription_and_warn_when_it_stops(
    replica: Replica, serving: TestClient
) -> None:
    browser = TestClient(serving.app)
    assert post_login(browser, ADMIN_TOKEN).status_code == 303
    home = browser.get("/cross").text
    assert 'id="subscriptions"' in home
    assert f'data-subscription="{replica.subscription}"' in home
    assert "Replicating" in home
    assert 'id="replication-banner"' not in browser.get("/cross/tasks").text

    _disable(replica)
    home = browser.get("/cross").text
    assert "Disabled" in home and f"subscription {replica.subscription} is disabled" in home
    for page in ("/cross/tasks", "/cross/users", "/cross/timeline", "/cross/roadchain"):
        html = browser.get(page).text
        assert 'id="replication-banner"' in html, page
        assert f"subscription {replica.subscription} is disabled" in html, page


def test_main_check_shows_the_subscription_and_warns_when_it_is_disabled(
    replica: Replica, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("PRISM_MAIN_DB_URL", replica.target.url)
    monkeypatch.setenv("PRISM_MAIN_DB_MAX_LAG_SECONDS", "45")
    runner = CliRunner()
    result = runner.invoke(main_app, ["check", "--no-columns"], prog_name="prism main")
    assert result.exit_code == 0, result.output
    assert "replication: subscriber, 1 subscription (max lag 45 s" in result.stdout
    assert f"  {replica.subscription}: enabled, worker running, lag " in result.stdout
    assert "warning:" not in result.stdout

    _disable(replica)
    result = runner.invoke(main_app, ["check", "--no-columns"], prog_name="prism main")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert f"  {replica.subscription}: enabled, worker running" not in result.stdout
    assert any(
        line.startswith(f"  {replica.subscription}: disabled, no worker, lag unknown")
        for line in lines
    )
    assert f"warning: subscription {replica.subscription} is disabled" in result.stdout
    assert "write probe: CREATE TABLE refused by the database" in result.stdout
    assert lines[-1] == "ok: the console can read the main database and cannot write to it"


def test_the_doctor_reports_the_replica_and_warns_when_it_stops(
    replica: Replica, reader: MainDatabase
) -> None:
    settings = Settings(main_db_url=replica.target.url, _env_file=None)  # type: ignore[call-arg]
    _replicate(replica, "for-the-doctor")
    checks = {check.name: check for check in main_db_checks(reader, settings)}
    assert checks["main_db"].status == "pass"
    assert checks["main_db"].detail.endswith(f"role {replica.target.role} can only read")
    assert checks["main_db_replication"].status == "pass"
    assert checks["main_db_replication"].detail.startswith(
        "logical replica: 1 subscription replicating"
    )

    _disable(replica)
    stopped = {check.name: check for check in main_db_checks(reader, settings)}
    assert stopped["main_db"].status == "pass"
    assert stopped["main_db_replication"].status == "warn"
    assert (
        f"subscription {replica.subscription} is disabled" in stopped["main_db_replication"].detail
    )
    assert stopped["main_db_replication"].advice
