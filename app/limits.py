"""Input limits enforced at the door, before any route reads its input.

InputLimitsMiddleware is pure ASGI (live streams stay unbuffered). It refuses:
- a request body larger than PRISM_MAX_BODY_BYTES with a 413: at once when Content-Length
  announces it, or as soon as the streamed chunks of a chunked upload pass the limit, so an
  oversized body is never held in memory whole;
- a path or query parameter carrying a control character (NUL above all, which PostgreSQL
  refuses in text) with FastAPI's 422 shape naming the query parameter (or the path),
  instead of letting it reach a query as an id.
Registered inside RequestContextMiddleware, its answers carry the request id and the
security headers like every other answer.
"""

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.models.validators import first_control_character


def body_too_large_detail(max_body_bytes: int) -> str:
    """The 413 detail: names the limit so a client knows how to split its request."""
    return f"Request body exceeds the limit of {max_body_bytes} bytes"


class RequestBodyTooLarge(HTTPException):
    """Raised from receive() when a streamed body passes the limit.

    An HTTPException so FastAPI's body reader re-raises it as it is (it turns other
    exceptions into a 400) and the app's handler answers the 413.
    """

    def __init__(self, max_body_bytes: int) -> None:
        super().__init__(status_code=413, detail=body_too_large_detail(max_body_bytes))


class InputLimitsMiddleware:
    """413 for a body over `max_body_bytes` (announced or streamed); 422 for a control
    character in the path or the query string."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        url_errors = control_character_errors(scope)
        if url_errors:
            await _send_json(send, 422, {"detail": url_errors})
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await self._refuse(send)
            return
        received = 0
        exceeded = answered = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    exceeded = True
                    raise RequestBodyTooLarge(self.max_body_bytes)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal answered
            if not exceeded:
                await send(message)
            elif not answered and message["type"] == "http.response.start":
                # Whatever the route made of a truncated body, the answer is the 413.
                answered = True
                await self._refuse(send)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except RequestBodyTooLarge:
            if not answered:
                answered = True
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        # The rest of the body is not read: the connection cannot be reused.
        detail = {"detail": body_too_large_detail(self.max_body_bytes)}
        await _send_json(send, 413, detail, close=True)


async def _send_json(send: Send, status: int, content: Any, *, close: bool = False) -> None:
    body = json.dumps(content).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length before we see it
    return None


def control_character_errors(scope: Scope) -> list[dict[str, Any]]:
    """FastAPI-style validation errors for control characters in the path or query string."""
    candidates: list[tuple[tuple[str, ...], str]] = [(("path",), scope.get("path", ""))]
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        candidates += [(("query", name), name), (("query", name), value)]
    errors = []
    for loc, text in candidates:
        position = first_control_character(text)
        if position is not None:
            errors.append(
                {
                    "type": "string_control_character",
                    "loc": list(loc),
                    "msg": "String must not contain control characters "
                    f"(found U+{ord(text[position]):04X} at index {position})",
                    "input": text,
                }
            )
    return errors
