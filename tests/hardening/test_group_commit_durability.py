"""Group commit keeps "202 means on disk": SIGKILL the server mid-ingest of single samples.

As tests/hardening/test_durability.py does for batches, with many clients each posting one
sample at a time, so that the server's writer groups concurrent requests in one
transaction: every sample answered 202 before the kill must be there after a restart.
"""

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.core.db import create_db_engine, parse_database_url
from tests.hardening.ingest_support import (
    AUTH,
    ServerProcess,
    server_process,
    tagged_batch,
    wait_until_ready,
)
from tests.hardening.test_durability import IngestLog, _stored_pools
from tests.support.db import temporary_pg_database
from tests.support.waits import HTTP_TIMEOUT, WAIT

CLIENTS = 16
# Enough to be mid-stream with groups forming, whatever the speed.
ACKNOWLEDGED_BEFORE_KILL = 200


def _pump_single_samples(url: str, client: int, log: IngestLog, stop: threading.Event) -> None:
    """Post one sample at a time until told to stop or the server is gone; each is tagged."""
    with httpx.Client(base_url=url, headers=AUTH, timeout=HTTP_TIMEOUT) as http:
        number = 0
        while not stop.is_set():
            tag, [sample] = tagged_batch(client, number, 1)
            try:
                response = http.post("/api/miners/sample", json=sample)
            except httpx.TransportError:
                return  # killed mid-request: this sample was never acknowledged
            with log.lock:
                if response.status_code == 202:
                    log.acknowledged.append(tag)
                    if len(log.acknowledged) >= ACKNOWLEDGED_BEFORE_KILL:
                        log.enough.set()
                else:
                    log.unexpected.append(f"{tag}: {response.status_code} {response.text}")
            number += 1


def _ingest_then_kill(server: ServerProcess) -> IngestLog:
    log = IngestLog()
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=_pump_single_samples, args=(server.url, client, log, stop), daemon=True
        )
        for client in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()
    try:
        assert log.enough.wait(timeout=WAIT), f"ingest did not get going:\n{server.log_text()}"
        server.kill()  # the clients are still posting: some samples are queued or in flight
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=WAIT)
    return log


def _assert_no_acknowledged_single_sample_was_lost(db_url: str, workdir: Path) -> None:
    with server_process(db_url, workdir) as server:
        log = _ingest_then_kill(server)
    assert log.unexpected == []
    with server_process(db_url, workdir) as restarted:
        wait_until_ready(restarted.url)
        engine = create_db_engine(parse_database_url(db_url))
        try:
            stored = _stored_pools(engine)
        finally:
            engine.dispose()
        lost = [tag for tag in log.acknowledged if stored[tag] != 1]
        assert lost == [], f"{len(lost)} acknowledged samples lost"
        assert set(stored.values()) == {1}  # nothing stored twice
        with httpx.Client(base_url=restarted.url, headers=AUTH, timeout=HTTP_TIMEOUT) as http:
            response = http.post("/api/miners/sample", json={"miner_id": "rig-after"})
            assert response.status_code == 202


def test_sigkill_mid_single_sample_ingest_loses_no_acknowledged_sample_on_sqlite(
    tmp_path: Path,
) -> None:
    _assert_no_acknowledged_single_sample_was_lost(f"sqlite:///{tmp_path / 'console.db'}", tmp_path)


@pytest.fixture
def pg_url() -> Iterator[str]:
    with temporary_pg_database("prism_group_durability") as url:
        yield url


@pytest.mark.postgres
def test_sigkill_mid_single_sample_ingest_loses_no_acknowledged_sample_on_postgresql(
    pg_url: str, tmp_path: Path
) -> None:
    _assert_no_acknowledged_single_sample_was_lost(pg_url, tmp_path)
