"""Notification outbox: 1,000 notifications delivered to a local json:// receiver.

The outbox is filled as 1,000 transitions would fill it (group 0: one row each, all due),
then the delivery worker of app/alerts/delivery.py drains it in this process, on its own
threads (claims with FOR UPDATE SKIP LOCKED on PostgreSQL, SEND_THREADS sends in flight,
each outcome recorded). The figure is messages per second from the first claim to the last
row recorded as sent. Baselines of the same run, to the same receiver, with the same number
of threads: the Apprise sends alone (the same messages, no database), and plain httpx POSTs
of a body of the same size (no Apprise, no database).
"""

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from app.alerts import outbox
from app.alerts.delivery import SEND_THREADS, send_message
from app.alerts.delivery_worker import DeliveryWorker
from app.alerts.messages import Message
from app.core.config import Settings
from app.core.timeutil import utcnow
from app.models.alerts import AlertRule, Channel, Incident, Notification
from bench.common import (
    machine,
    migrated_database,
    print_table,
    quiet_slow_query_log,
    run_each_engine,
)

NOTIFICATIONS = 1_000


class Receiver:
    """Answers every POST with 200 and counts them."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def hit(self) -> None:
        with self._lock:
            self.count += 1


@contextmanager
def local_receiver() -> Iterator[tuple[Receiver, int]]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body are two writes: without this, a kept-alive connection waits for
        # the client's delayed ACK (40 ms) on every answer.
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state.hit()
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def fill_outbox(engine: Engine, url: str) -> None:
    """1,000 firing incidents of one rule and one outbox row each, due now."""
    now = utcnow()
    with Session(engine) as session:
        session.add(Channel(id="bench", name="Bench", url=url, created_at=now, updated_at=now))
        rule = AlertRule(
            id="bench-silent",
            name="Bench: miner silent",
            kind="miner_silent",
            severity="critical",
            channels=["bench"],
            created_at=now,
            updated_at=now,
        )
        session.add(rule)
        incidents = [
            Incident(
                rule_id=rule.id,
                rule_name=rule.name,
                kind=rule.kind,
                severity=rule.severity,
                subject_type="miner",
                subject=f"rig-{index:04d}",
                started_at=now,
                value=600.0,
            )
            for index in range(NOTIFICATIONS)
        ]
        session.add_all(incidents)
        session.flush()
        for incident in incidents:
            assert incident.id is not None
            outbox.enqueue(
                session,
                rule=rule,
                event="firing",
                incident_ids=[incident.id],
                now=now,
                group_seconds=0,
            )
        session.commit()


def sent_count(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(
            select(func.count()).select_from(Notification).where(col(Notification.status) == "sent")
        ).one()


async def drain(engine: Engine, settings: Settings) -> float:
    """Seconds the worker takes to send every row."""
    worker = DeliveryWorker(engine, settings, poll_seconds=0.2)
    started = time.perf_counter()
    worker.start()
    try:
        while await asyncio.to_thread(sent_count, engine) < NOTIFICATIONS:
            await asyncio.sleep(0.05)
    finally:
        elapsed = time.perf_counter() - started
        await worker.stop()
    return elapsed


def threaded(action: Callable[[int], object]) -> float:
    """Seconds to run action(0..N-1) on SEND_THREADS threads."""
    started = time.perf_counter()
    with ThreadPoolExecutor(SEND_THREADS) as pool:
        list(pool.map(action, range(NOTIFICATIONS)))
    return time.perf_counter() - started


def bench_engine(kind: str) -> None:
    with local_receiver() as (receiver, port), migrated_database(kind, "notify") as (url, engine):
        hook = f"json://127.0.0.1:{port}/hook"
        settings = Settings(api_db_url=url, _env_file=None)
        fill_outbox(engine, hook)
        outbox_seconds = asyncio.run(drain(engine, settings))
        assert receiver.count == NOTIFICATIONS, receiver.count

        message = Message(
            title="[CRITICAL] Bench: miner silent: firing on rig-0001",
            body="• rig-0001 — silent 10m 0s — since 2026-12-03T10:00:00Z\n"
            "Rule bench-silent (miner_silent, critical) · Notification 00000000-0000",
            notify_type="failure",
        )
        apprise_seconds = threaded(
            lambda index: send_message(hook, message, notification_id=str(index), timeout=10)
        )
        body = json.dumps({"version": "1.0", "title": message.title, "message": message.body})
        with httpx.Client(timeout=10) as http:
            httpx_seconds = threaded(
                lambda _index: http.post(
                    f"http://127.0.0.1:{port}/hook",
                    content=body,
                    headers={"Content-Type": "application/json"},
                )
            )

    def rate(seconds: float) -> str:
        return f"{NOTIFICATIONS / seconds:,.0f} msg/s"

    print(f"  {kind}:")
    print_table(
        [
            (
                "outbox worker (claim, send, record)",
                rate(outbox_seconds),
                f"{outbox_seconds:.2f} s",
            ),
            ("baseline: Apprise sends only", rate(apprise_seconds), f"{apprise_seconds:.2f} s"),
            ("baseline: plain httpx POSTs", rate(httpx_seconds), f"{httpx_seconds:.2f} s"),
        ]
    )


def run() -> None:
    quiet_slow_query_log()
    print(f"  {machine()}; {NOTIFICATIONS:,} notifications, {SEND_THREADS} send threads")
    run_each_engine(bench_engine)
