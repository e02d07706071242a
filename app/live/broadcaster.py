"""In-process fan-out of live updates to server-sent-event subscribers.

Publishers (request handlers running in worker threads, or the event loop itself) call
publish(); each subscriber owns a bounded queue. A subscriber whose queue overflows is
marked and dropped: a client that cannot keep up is disconnected, never left hanging and
never allowed to grow memory without bound. Delivery only puts into queues, so a subscriber
stuck on a slow network send delays nobody else.

An attached relay (app/live/pg_fanout.py, on PostgreSQL) also carries each published message to the
other replicas, which hand it to their own subscribers through deliver().
"""

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, Protocol

from app.core.timeutil import isoformat

logger = logging.getLogger("prism.live")

Message = dict[str, Any]


class Relay(Protocol):
    """Carries published messages to other processes; send() is called on the event loop."""

    def send(self, message: Message) -> None: ...


class Subscription:
    """One listener's bounded queue; `closed` is set when it fell too far behind."""

    def __init__(self, maxsize: int) -> None:
        self.queue: asyncio.Queue[Message] = asyncio.Queue(maxsize=maxsize)
        self.closed = asyncio.Event()
        self.overflowed = False

    async def next(self, timeout: float) -> Message | None:
        """The next message, or None after `timeout` seconds or when the subscription closed."""
        if self.closed.is_set():
            return None
        try:
            return self.queue.get_nowait()
        except asyncio.QueueEmpty:
            pass
        getter = asyncio.ensure_future(self.queue.get())
        closer = asyncio.ensure_future(self.closed.wait())
        try:
            done, _ = await asyncio.wait(
                {getter, closer}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            # A getter cancelled after an item arrived leaves the item in the queue.
            for task in (getter, closer):
                if not task.done():
                    task.cancel()
        if getter in done:
            return getter.result()
        return None


class Publisher(Protocol):
    """What a writer needs of the live stream: publish, and whether anyone would hear it."""

    @property
    def has_audience(self) -> bool: ...

    def publish(self, message: Message) -> None: ...


class Broadcaster:
    """Delivers each published message to every current subscriber of this process."""

    def __init__(self, queue_size: int = 1000) -> None:
        self._queue_size = queue_size
        self._subscribers: set[Subscription] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._relay: Relay | None = None
        self._lock = threading.Lock()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the server's event loop (called from the lifespan)."""
        self._loop = loop

    def attach(self, relay: Relay | None) -> None:
        """Also hand every published message to `relay` (None detaches it)."""
        self._relay = relay

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscribers)

    @property
    def has_audience(self) -> bool:
        """Whether a published message would reach anyone: a subscriber here or a relay.

        Publishers whose messages cost work to build (a miner sample's tiles) ask first.
        """
        loop = self._loop
        if loop is None or loop.is_closed():
            return False
        return self._relay is not None or self.subscriber_count > 0

    def publish(self, message: Message) -> None:
        """Thread-safe and never raises: hand the message to the event loop, which fans it out.

        The message must be JSON (datetimes are turned into ISO strings); it is copied, so a
        publisher may reuse or change its dict afterwards.
        """
        loop = self._loop
        if loop is None or not self.has_audience:
            return
        frozen = _freeze(message)
        if frozen is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._dispatch(frozen)
            return
        # RuntimeError: the loop closed meanwhile; the server is stopping, nobody listens.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._dispatch, frozen)

    def deliver(self, message: Message) -> None:
        """Hand a message another process published to this process's subscribers.

        Call it on the event loop, with a message that is already JSON.
        """
        self._deliver(message)

    def _dispatch(self, message: Message) -> None:
        # Local subscribers first and directly: they get what this process publishes in
        # order and in full, whatever happens to the relay.
        self._deliver(message)
        relay = self._relay
        if relay is None:
            return
        try:
            relay.send(message)
        except Exception:
            logger.exception("live message of type %r not relayed", message.get("type"))

    def _deliver(self, message: Message) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for subscription in subscribers:
            try:
                subscription.queue.put_nowait(message)
            except asyncio.QueueFull:
                subscription.overflowed = True
                subscription.closed.set()
                self._remove(subscription)
                logger.warning(
                    "live subscriber fell %d messages behind; disconnected", self._queue_size
                )

    def _remove(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscribers.discard(subscription)

    @contextmanager
    def subscribe(self) -> Iterator[Subscription]:
        """A new subscription for the duration of the block (call it on the event loop)."""
        subscription = Subscription(self._queue_size)
        with self._lock:
            self._subscribers.add(subscription)
        try:
            yield subscription
        finally:
            subscription.closed.set()
            self._remove(subscription)


def _freeze(message: Message) -> Message | None:
    """A deep JSON copy of the message, or None (logged) when it is not JSON."""
    try:
        frozen: Message = json.loads(json.dumps(message, default=_json_default, allow_nan=False))
    except (TypeError, ValueError) as exc:
        logger.error("live message of type %r dropped: %s", message.get("type"), exc)
        return None
    return frozen


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return isoformat(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
