"""No acknowledged write is lost: SIGKILL the server mid-ingest, restart it, count.

A real server runs in a child process; client threads post batches (or single samples, which
the server's group-commit writer gathers into shared transactions) continuously and note
every request answered 202. The server is killed with SIGKILL (a process crash: no shutdown,
no flush) while batches are in flight, then started again on the same database. Every
acknowledged sample must be there, and every batch must be there whole or not at all.
SQLite runs in WAL mode with synchronous=NORMAL, which is durable against a process crash
(only an OS crash or power cut could lose the last commits).
"""

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text

from app.core.db import create_db_engine, parse_database_url
from tests.hardening.ingest_support import (
    AUTH,
    ServerProcess,
    server_process,
    tagged_batch,
    wait_until_ready,
)
from tests.support.db import temporary_pg_database
from tests.support.waits import HTTP_TIMEOUT, WAIT


@dataclass(frozen=True)
class Shape:
    """How the clients post: `size` samples per request (1: `POST /api/miners/sample`), and
    how many requests are acknowledged before the kill (enough to be mid-stream, whatever
    the speed; with many clients posting single samples, groups are forming)."""

    clients: int
    size: int
    acknowledged_before_kill: int

    def post(self, http: httpx.Client, samples: list[dict[str, object]]) -> httpx.Response:
        if self.size == 1:
            return http.post("/api/miners/sample", json=samples[0])
        return http.post("/api/miners/samples", json={"samples": samples})


BATCHES = Shape(clients=4, size=50, acknowledged_before_kill=40)
SINGLE_SAMPLES = Shape(clients=16, size=1, acknowledged_before_kill=200)
SHAPES = pytest.mark.parametrize("shape", [BATCHES, SINGLE_SAMPLES], ids=["batches", "single"])


@dataclass
class IngestLog:
    """What the clients were told: batch tags answered 202, and anything unexpected."""

    acknowledged: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    enough: threading.Event = field(default_factory=threading.Event)


def _pump(url: str, client: int, log: IngestLog, stop: threading.Event, shape: Shape) -> None:
    """Post until told to stop or the server is gone; each sample's pool is unique."""
    with httpx.Client(base_url=url, headers=AUTH, timeout=HTTP_TIMEOUT) as http:
        number = 0
        while not stop.is_set():
            tag, samples = tagged_batch(client, number, shape.size)
            try:
                response = shape.post(http, samples)
            except httpx.TransportError:
                return  # killed mid-request: this request was never acknowledged
            with log.lock:
                if response.status_code == 202:
                    log.acknowledged.append(tag)
                    if len(log.acknowledged) >= shape.acknowledged_before_kill:
                        log.enough.set()
                else:
                    log.unexpected.append(f"{tag}: {response.status_code} {response.text}")
            number += 1


def _ingest_then_kill(server: ServerProcess, shape: Shape) -> IngestLog:
    log = IngestLog()
    stop = threading.Event()
    threads = [
        threading.Thread(target=_pump, args=(server.url, client, log, stop, shape), daemon=True)
        for client in range(shape.clients)
    ]
    for thread in threads:
        thread.start()
    try:
        assert log.enough.wait(timeout=WAIT), f"ingest did not get going:\n{server.log_text()}"
        server.kill()  # the clients are still posting: some batches are in flight
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=WAIT)
    return log


def _stored_pools(engine: Engine) -> Counter[str]:
    """Stored samples per batch tag (the pool without its sample suffix)."""
    with engine.connect() as conn:
        pools = conn.execute(text("SELECT pool FROM minersample")).scalars().all()
    return Counter(pool.rsplit("-s", 1)[0] for pool in pools)


def _assert_nothing_acknowledged_was_lost(db_url: str, workdir: Path, shape: Shape) -> None:
    with server_process(db_url, workdir) as server:
        log = _ingest_then_kill(server, shape)
    assert log.unexpected == []
    with server_process(db_url, workdir) as restarted:
        wait_until_ready(restarted.url)
        engine = create_db_engine(parse_database_url(db_url))
        try:
            stored = _stored_pools(engine)
        finally:
            engine.dispose()
        lost = [tag for tag in log.acknowledged if stored[tag] != shape.size]
        assert lost == [], f"{len(lost)} acknowledged requests lost or torn"
        # Requests in flight at the kill are stored whole or not at all, and only once.
        assert set(stored.values()) == {shape.size}
        # And the restarted service serves and ingests again.
        with httpx.Client(base_url=restarted.url, headers=AUTH, timeout=HTTP_TIMEOUT) as http:
            latest = http.get("/api/miners/latest").json()["samples"]
            acknowledged_miners = {f"rig-{tag.split('-')[0][1:]}" for tag in log.acknowledged}
            assert acknowledged_miners <= {sample["miner_id"] for sample in latest}
            response = http.post("/api/miners/sample", json={"miner_id": "rig-after"})
            assert response.status_code == 202


@SHAPES
def test_sigkill_mid_ingest_loses_no_acknowledged_sample_on_sqlite(
    tmp_path: Path, shape: Shape
) -> None:
    _assert_nothing_acknowledged_was_lost(f"sqlite:///{tmp_path / 'console.db'}", tmp_path, shape)


@pytest.fixture
def pg_url() -> Iterator[str]:
    with temporary_pg_database("prism_durability") as url:
        yield url


@pytest.mark.postgres
@SHAPES
def test_sigkill_mid_ingest_loses_no_acknowledged_sample_on_postgresql(
    pg_url: str, tmp_path: Path, shape: Shape
) -> None:
    _assert_nothing_acknowledged_was_lost(pg_url, tmp_path, shape)
