"""Live updates across replicas: PostgreSQL LISTEN/NOTIFY behind the in-process Broadcaster.

Every replica NOTIFYs what it publishes on the `prism_live` channel and LISTENs there on a
connection of its own, handing what the others sent to its subscribers. Its own messages reach
its own subscribers directly (app.live.broadcaster.Broadcaster), so each notification names the
process that sent it and the listener skips its own: every subscriber of every replica gets each
message exactly once.

A NOTIFY payload must be shorter than 8000 bytes. A longer message is split into numbered
pieces, sent in order on one connection (PostgreSQL delivers one sender's notifications in
order) and joined again by the listener. Most live messages are small (a `miner.sample` with
its tiles is 1-2 KB); the largest legal one is an agent event with a text of
MAX_EVENT_MESSAGE characters, and MAX_MESSAGE_BYTES follows from that bound, so every
message an API accepts reaches every replica. Only a message over it (none that ingest
can produce) stays on this replica's subscribers (logged).

Delivery is best effort, as in-process, and never holds up a publisher: publish() only queues,
and a full queue drops (logged). While PostgreSQL is unreachable, messages between replicas are
lost; both connections come back with backoff (logged) and live updates resume.
"""

import asyncio
import contextlib
import itertools
import json
import logging
import multiprocessing
import time
import uuid
from collections.abc import Sequence

import psycopg

from app.core.db import DatabaseTarget
from app.live.broadcaster import Broadcaster, Message
from app.models.agent import MAX_EVENT_MESSAGE

logger = logging.getLogger("prism.live")

CHANNEL = "prism_live"
PAYLOAD_LIMIT = 7999  # bytes: PostgreSQL refuses a NOTIFY payload of 8000 or more
_HEADER_BYTES = 64  # "<origin>:<seq>:<index>:<count>:" stays well under this
PIECE_CHARS = PAYLOAD_LIMIT - _HEADER_BYTES
# In ASCII JSON a character takes up to 12 bytes (an astral one is a \uXXXX\uXXXX pair), so
# an event text of MAX_EVENT_MESSAGE characters can take 12 times that; every other field of
# any message is bounded far below the 64 KiB added for them.
MAX_MESSAGE_BYTES = 12 * MAX_EVENT_MESSAGE + 64 * 1024
OUTBOX_SIZE = 1000  # messages waiting to be sent to the other replicas
# ... and their bytes: a burst of the largest events cannot hold on to unbounded memory.
OUTBOX_BYTES = 32 * 1024 * 1024
SEND_BATCH = 100  # messages sent in one pipelined round trip
RETRY_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)  # seconds; the last one repeats
KEEPALIVE_SECONDS = 30.0  # an idle listener checks its connection this often
CONNECT_TIMEOUT_SECONDS = 5
APPLICATION_NAME = "prism-live"


def libpq_url(target: DatabaseTarget) -> str:
    """The console URL in the form libpq takes (psycopg.connect), password included."""
    return target.url.set(drivername="postgresql").render_as_string(hide_password=False)


def session_libpq_url(target: DatabaseTarget) -> str:
    """libpq URL for a connection that keeps its session (LISTEN, session advisory locks).

    PRISM_API_DB_LISTEN_URL when set: a transaction pooler hands each transaction to any
    server connection, so a LISTEN or a lock would stay on one the console no longer holds.
    """
    url = target.server_session_url
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def encode(origin: str, seq: int, message: Message) -> list[str] | None:
    """The NOTIFY payloads carrying `message`, or None when it is over MAX_MESSAGE_BYTES.

    ASCII-only JSON: one character is one byte whatever the server's encoding, so pieces of
    PIECE_CHARS characters always fit.
    """
    text = json.dumps(message, separators=(",", ":"), ensure_ascii=True)
    if len(text) > MAX_MESSAGE_BYTES:
        return None
    pieces = [text[start : start + PIECE_CHARS] for start in range(0, len(text), PIECE_CHARS)]
    return [f"{origin}:{seq}:{index}:{len(pieces)}:{piece}" for index, piece in enumerate(pieces)]


class Assembler:
    """Joins the pieces of each sender's messages (one sender's pieces arrive in order)."""

    MAX_PENDING = 256  # senders caught mid-message; only a crash mid-send leaves one behind

    def __init__(self) -> None:
        self._pending: dict[str, tuple[str, list[str]]] = {}

    def add(self, payload: str) -> tuple[str, str] | None:
        """(origin, JSON text) once a message is complete; None while pieces are missing."""
        try:
            origin, seq, index_text, count_text, piece = payload.split(":", 4)
            index, count = int(index_text), int(count_text)
        except ValueError:
            logger.warning("live fan-out: ignored a %s notification not sent by Prism", CHANNEL)
            return None
        if count == 1:
            self._pending.pop(origin, None)
            return origin, piece
        if index == 0:
            if len(self._pending) >= self.MAX_PENDING:
                self._pending.clear()
            parts: list[str] = []
            self._pending[origin] = (seq, parts)
        else:
            held = self._pending.get(origin)
            if held is None or held[0] != seq or len(held[1]) != index:
                # A piece went missing (a connection dropped mid-message): drop the message.
                self._pending.pop(origin, None)
                return None
            parts = held[1]
        parts.append(piece)
        if len(parts) < count:
            return None
        del self._pending[origin]
        return origin, "".join(parts)


class _Throttled:
    """A warning logged at its first occurrence, then at most once a minute with a count."""

    def __init__(self, text: str, every: float = 60.0) -> None:
        self._text = text
        self._every = every
        self._count = 0
        self._last: float | None = None

    def note(self, count: int = 1) -> None:
        self._count += count
        now = time.monotonic()
        if self._last is None or now - self._last >= self._every:
            logger.warning(self._text, self._count)
            self._count = 0
            self._last = now


class PgFanout:
    """Relays a Broadcaster's messages to, and from, the replicas sharing one database."""

    def __init__(
        self,
        broadcaster: Broadcaster,
        conninfo: str,
        *,
        outbox_size: int = OUTBOX_SIZE,
        outbox_bytes: int = OUTBOX_BYTES,
        retry_delays: Sequence[float] = RETRY_DELAYS,
        keepalive_seconds: float = KEEPALIVE_SECONDS,
    ) -> None:
        self.origin = uuid.uuid4().hex
        self.listening = asyncio.Event()
        self.listener_pid: int | None = None
        self.sender_pid: int | None = None
        self._broadcaster = broadcaster
        self._conninfo = conninfo
        self._retry_delays = tuple(retry_delays)
        self._keepalive = keepalive_seconds
        self._seq = itertools.count()
        self._outbox: asyncio.Queue[list[str]] = asyncio.Queue(maxsize=outbox_size)
        self._outbox_bytes = outbox_bytes
        self._queued_bytes = 0
        self._assembler = Assembler()
        self._first_attempt = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._oversized = _Throttled(
            f"live fan-out: %d messages over {MAX_MESSAGE_BYTES} bytes "
            "reached this replica's subscribers only"
        )
        self._full = _Throttled(
            f"live fan-out: %d messages not sent to other replicas: {outbox_size} messages "
            f"or {outbox_bytes} bytes already queued"
        )

    async def start(self, *, wait_seconds: float = 3.0) -> None:
        """Start relaying; waits up to `wait_seconds` for the first attempt to LISTEN."""
        self._tasks = [
            asyncio.create_task(self._listen_forever(), name="prism-live-listen"),
            asyncio.create_task(self._send_forever(), name="prism-live-notify"),
        ]
        self._broadcaster.attach(self)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first_attempt.wait(), wait_seconds)

    async def stop(self, *, grace_seconds: float = 5.0) -> None:
        """Stop relaying and close both connections (what is still queued is dropped).

        Waits at most `grace_seconds` for the connections to close: a close that never ends
        (a driver waiting on a connection the server no longer answers) must not hold the
        service's shutdown forever; such a task is left behind, and said so.
        """
        self._broadcaster.attach(None)
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=grace_seconds)
            if pending:
                logger.warning(
                    "live fan-out: %d connection(s) did not close within %gs at shutdown",
                    len(pending),
                    grace_seconds,
                )
        self._tasks = []
        self.listening.clear()

    def send(self, message: Message) -> None:
        """Queue a message for the other replicas (called by the Broadcaster on the loop)."""
        payloads = encode(self.origin, next(self._seq), message)
        if payloads is None:
            self._oversized.note()
            return
        size = _size(payloads)
        if self._queued_bytes + size > self._outbox_bytes:
            self._full.note()
            return
        try:
            self._outbox.put_nowait(payloads)
        except asyncio.QueueFull:
            self._full.note()
            return
        self._queued_bytes += size

    def _take(self, payloads: list[str]) -> list[str]:
        self._queued_bytes -= _size(payloads)
        return payloads

    async def _connect(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        return await psycopg.AsyncConnection.connect(
            self._conninfo,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            application_name=APPLICATION_NAME,
        )

    def _delay(self, failures: int) -> float:
        return self._retry_delays[min(failures, len(self._retry_delays) - 1)]

    async def _listen_forever(self) -> None:
        failures = 0
        while True:
            conn = None
            try:
                conn = await self._connect()
                await conn.execute(f"LISTEN {CHANNEL}")
                self.listener_pid = conn.info.backend_pid
                self.listening.set()
                self._first_attempt.set()
                if failures:
                    logger.info("live fan-out: listening again; live updates resume")
                failures = 0
                while True:
                    async for notify in conn.notifies(timeout=self._keepalive):
                        self._received(notify.payload)
                    # Idle for a while: a connection that died silently fails here.
                    await conn.execute("SELECT 1")
            except (psycopg.Error, OSError) as exc:
                reason = _first_line(exc)
            except Exception as exc:
                logger.exception("live fan-out: listener failed")
                reason = type(exc).__name__
            finally:
                if conn is not None:
                    await conn.close()
            self.listening.clear()
            self._first_attempt.set()
            delay = self._delay(failures)
            failures += 1
            logger.warning(
                "live fan-out: not listening on PostgreSQL (%s); updates from other replicas "
                "resume after a reconnect, next try in %gs",
                reason,
                delay,
            )
            await asyncio.sleep(delay)

    def _received(self, payload: str) -> None:
        complete = self._assembler.add(payload)
        if complete is None:
            return
        origin, text = complete
        if origin == self.origin or not self._broadcaster.subscriber_count:
            return
        try:
            message = json.loads(text)
        except ValueError:
            logger.warning("live fan-out: ignored a notification that is not JSON")
            return
        if isinstance(message, dict):
            self._broadcaster.deliver(message)

    async def _send_forever(self) -> None:
        conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        failures = 0
        try:
            while True:
                batch = [self._take(await self._outbox.get())]
                while len(batch) < SEND_BATCH and not self._outbox.empty():
                    batch.append(self._take(self._outbox.get_nowait()))
                rows = [(CHANNEL, payload) for payloads in batch for payload in payloads]
                # A connection that dropped since the last batch fails once: retry at once
                # on a new one, and back off only when that fails too.
                for attempt in range(2):
                    try:
                        if conn is None:
                            conn = await self._connect()
                            self.sender_pid = conn.info.backend_pid
                        async with conn.cursor() as cursor:
                            await cursor.executemany("SELECT pg_notify(%s, %s)", rows)
                        failures = 0
                        break
                    except Exception as exc:  # psycopg.Error, OSError, or a bug: never stop
                        if conn is not None:
                            await conn.close()
                            conn = None
                        if attempt == 0 and failures == 0:
                            continue
                        delay = self._delay(failures)
                        failures += 1
                        logger.warning(
                            "live fan-out: %d messages not sent to other replicas (%s); "
                            "next try in %gs",
                            len(batch),
                            _first_line(exc),
                            delay,
                        )
                        await asyncio.sleep(delay)
                        break
        finally:
            if conn is not None:
                await conn.close()


def _size(payloads: list[str]) -> int:
    return sum(len(payload) for payload in payloads)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


async def start_fanout(broadcaster: Broadcaster, target: DatabaseTarget) -> PgFanout | None:
    """On PostgreSQL, a started PgFanout; on SQLite, None (delivery stays in-process)."""
    if target.is_sqlite:
        if multiprocessing.parent_process() is not None:
            # `prism serve --workers N` runs each worker as a child process.
            logger.warning(
                "several worker processes on SQLite: live updates reach only the browsers "
                "connected to the worker that received the change; use PostgreSQL for more "
                "than one worker"
            )
        return None
    fanout = PgFanout(broadcaster, session_libpq_url(target))
    await fanout.start()
    return fanout
