"""A server-sent-events response fed by a Broadcaster subscription.

A heartbeat goes out every `heartbeat_seconds`, whatever else flows; before each one the
stream asks `still_allowed` whether its credential still holds (the database, so a token
revoked or a session signed out through any replica is seen within one heartbeat interval).

The stream ends, and its subscription with it, in four cases:
- the client disconnects (watched concurrently, so it is noticed at once, not at the next
  heartbeat);
- its credential no longer holds (revoked token, ended session);
- the client fell more than the queue size behind (the subscription overflowed): the wait
  for the next message or for a send in progress is cancelled;
- one send stayed blocked for `stall_seconds` (the client stopped reading and its TCP window
  is shut), even when too few messages flow to overflow the queue.
A stream that ends for a slow client is closed with a final empty chunk when the connection
still accepts it; otherwise the ASGI call returns unfinished and the server drops the
connection (uvicorn logs "returned without completing response" for it).
"""

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Literal

import anyio
from starlette.responses import Response
from starlette.types import Message as ASGIMessage
from starlette.types import Receive, Scope, Send

from app.live.broadcaster import Broadcaster, Message, Subscription

logger = logging.getLogger("prism.live")

Encoder = Callable[[Message], str]
Outcome = Literal["disconnected", "overflowed", "stalled", "revoked"]

# How long the final chunk may wait for a slow client before the connection is dropped.
END_GRACE_SECONDS = 1.0


def data_only(message: Message) -> str:
    """An unnamed SSE message (`data:` line only): EventSource.onmessage receives it."""
    return f"data: {json.dumps(message, separators=(',', ':'), ensure_ascii=False)}\n\n"


class EventStreamResponse(Response):
    """`text/event-stream` of every message published while the client is connected."""

    media_type = "text/event-stream"

    def __init__(
        self,
        broadcaster: Broadcaster,
        *,
        heartbeat: Callable[[], Message],
        heartbeat_seconds: float,
        encode: Encoder = data_only,
        retry_ms: int = 3000,
        stall_seconds: float | None = None,
        still_allowed: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        self.status_code = 200
        self.background = None
        self.init_headers({"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self._broadcaster = broadcaster
        self._heartbeat = heartbeat
        self._heartbeat_seconds = heartbeat_seconds
        self._encode = encode
        self._retry_ms = retry_ms
        # A reader that cannot take one chunk in two heartbeat periods is not keeping up.
        self._stall_seconds = stall_seconds or 2 * heartbeat_seconds
        self._still_allowed = still_allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with self._broadcaster.subscribe() as subscription:
            outcome = await self._serve(subscription, receive, send)
        if outcome == "disconnected":
            return
        if outcome == "stalled":
            logger.warning(
                "live stream client read nothing for %gs; disconnected", self._stall_seconds
            )
        elif outcome == "revoked":
            logger.info("live stream closed: its token was revoked or its session ended")
        with anyio.move_on_after(END_GRACE_SECONDS):
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _serve(self, subscription: Subscription, receive: Receive, send: Send) -> Outcome:
        outcome: Outcome = "overflowed"
        try:
            await self._send(
                send,
                {"type": "http.response.start", "status": 200, "headers": self.raw_headers},
            )
            # `retry:` tells EventSource how soon to reconnect after the stream ends.
            await self._send_text(
                send, f"retry: {self._retry_ms}\n{self._encode(self._heartbeat())}"
            )
        except TimeoutError:
            return "stalled"

        async with anyio.create_task_group() as group:

            async def pump() -> None:
                nonlocal outcome
                try:
                    beat_at = anyio.current_time() + self._heartbeat_seconds
                    while True:
                        # Checked before each message: a busy stream still beats on time.
                        wait = beat_at - anyio.current_time()
                        if wait <= 0:
                            if self._still_allowed is not None and not await self._still_allowed():
                                outcome = "revoked"
                                break
                            await self._send_text(send, self._encode(self._heartbeat()))
                            beat_at = anyio.current_time() + self._heartbeat_seconds
                            continue
                        message = await subscription.next(wait)
                        if message is not None:
                            await self._send_text(send, self._encode(message))
                        elif subscription.closed.is_set():
                            break
                except TimeoutError:
                    outcome = "stalled"
                group.cancel_scope.cancel()

            async def watch_overflow() -> None:
                await subscription.closed.wait()
                group.cancel_scope.cancel()

            async def watch_disconnect() -> None:
                nonlocal outcome
                while (await receive())["type"] != "http.disconnect":
                    pass
                outcome = "disconnected"
                group.cancel_scope.cancel()

            group.start_soon(pump)
            group.start_soon(watch_overflow)
            group.start_soon(watch_disconnect)
        return outcome

    async def _send_text(self, send: Send, text: str) -> None:
        await self._send(
            send, {"type": "http.response.body", "body": text.encode(), "more_body": True}
        )

    async def _send(self, send: Send, message: ASGIMessage) -> None:
        with anyio.fail_after(self._stall_seconds):
            await send(message)
