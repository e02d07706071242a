"""/api/health's backup:age check and /metrics' backup gauge (only with PRISM_BACKUP_DIR)."""

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from app.core.timeutil import utcnow
from app.ops import backup, backup_schedule
from app.ops.backup_schedule import Backups

INTERVAL_MINUTES = 60
METRIC = "prism_backup_last_success_timestamp_seconds"


@pytest.fixture(autouse=True)
def _no_round_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """The apps' own schedule waits a whole interval: only the test's rounds run."""
    monkeypatch.setattr(backup_schedule, "FIRST_ROUND_DELAY_SECONDS", 10**9)


def backup_check(client: TestClient) -> dict[str, Any] | None:
    response = client.get("/api/health")
    assert response.status_code == 200
    entries = response.json()["checks"].get("backup:age")
    if entries is None:
        return None
    [entry] = entries
    assert entry["componentType"] == "datastore"
    return dict(entry)


def gauge(client: TestClient) -> float | None:
    response = client.get("/metrics")
    assert response.status_code == 200
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == METRIC:
                return float(sample.value)
    return None


def backups_of(client: TestClient) -> Backups:
    app: FastAPI = client.app  # type: ignore[assignment]
    backups: Backups = app.state.backups
    return backups


def test_without_a_backup_directory_there_is_no_check_and_no_gauge(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    assert backup_check(client) is None
    assert gauge(client) is None
    assert client.get("/api/health").json()["status"] == "pass"


def test_a_fresh_verified_backup_passes(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    client = make_client(backup_dir=tmp_path, backup_interval_minutes=INTERVAL_MINUTES)
    taken = backups_of(client).run_round()
    assert taken.outcome == "taken", taken.error
    assert taken.backup is not None

    check = backup_check(client)
    assert check is not None
    assert check["status"] == "pass"
    assert check["observedUnit"] == "s"
    assert 0 <= check["observedValue"] < INTERVAL_MINUTES * 60
    assert "output" not in check
    assert client.get("/api/health").json()["status"] == "pass"
    assert gauge(client) == taken.backup.taken_at.timestamp()


def test_a_backup_older_than_twice_the_interval_warns(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    client = make_client(backup_dir=tmp_path, backup_interval_minutes=INTERVAL_MINUTES)
    long_ago = utcnow() - timedelta(minutes=3 * INTERVAL_MINUTES)
    old = backups_of(client).run_round(now=long_ago)
    assert old.outcome == "taken" and old.backup is not None

    check = backup_check(client)
    assert check is not None
    assert check["status"] == "warn"
    assert check["observedValue"] >= 3 * INTERVAL_MINUTES * 60
    assert check["output"].startswith("the newest verified backup is 3 h old (taken ")
    assert check["output"].endswith("one is expected every 1 h")
    body = client.get("/api/health").json()
    assert body["status"] == "warn"
    # A warning, not a failure: the service stays ready.
    assert client.get("/readyz").status_code == 200
    assert gauge(client) == old.backup.taken_at.timestamp()


def test_an_age_just_under_twice_the_interval_still_passes(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    client = make_client(backup_dir=tmp_path, backup_interval_minutes=INTERVAL_MINUTES)
    recent = utcnow() - timedelta(minutes=2 * INTERVAL_MINUTES - 10)
    assert backups_of(client).run_round(now=recent).outcome == "taken"
    check = backup_check(client)
    assert check is not None and check["status"] == "pass"


def test_no_verified_backup_yet_warns_and_the_gauge_is_zero(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    # A copy without a manifest (never verified) does not count.
    (tmp_path / "prism-20260101T000000Z.db").write_bytes(b"unverified")
    client = make_client(backup_dir=tmp_path, backup_interval_minutes=INTERVAL_MINUTES)
    check = backup_check(client)
    assert check is not None
    assert check["status"] == "warn"
    assert check["output"] == f"no verified backup in {tmp_path} yet"
    assert "observedValue" not in check
    assert gauge(client) == 0


def test_a_failing_backup_warns_keeps_the_service_up_and_the_next_round_clears_it(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    disk = tmp_path / "disk"
    disk.write_text("a regular file: the backup directory below it cannot be created")
    client = make_client(backup_dir=disk / "backups", backup_interval_minutes=INTERVAL_MINUTES)
    backups = backups_of(client)

    failed = backups.run_round()

    assert failed.outcome == "failed"
    check = backup_check(client)
    assert check is not None
    assert check["status"] == "warn"
    assert check["output"].startswith("the last backup round failed at ")
    assert "Not a directory" in check["output"]
    assert client.get("/readyz").status_code == 200
    assert client.get("/api/agents").status_code == 200

    disk.unlink()  # the operator frees the path; the next round succeeds
    assert backups.run_round().outcome == "taken"
    check = backup_check(client)
    assert check is not None and check["status"] == "pass"
    assert [info.verified for info in backup.list_backups(disk / "backups")] == [True]
