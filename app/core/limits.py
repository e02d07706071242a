"""Input limits enforced at the door, before any route reads its input.

InputLimitsMiddleware is pure ASGI (live streams stay unbuffered). It refuses:
- a request body larger than PRISM_MAX_BODY_BYTES with a 413: at once when Content-Length
  announces it, or as soon as the streamed chunks of a chunked upload pass the limit, so an
  oversized body is never held in memory whole;
- a request body that stops arriving: once the headers are in, each chunk of the body
  must come within PRISM_BODY_READ_TIMEOUT_SECONDS of the previous one, or the answer is a
  408 and the connection is closed (a slow client holds no connection for long; the
  headers' own deadline is `prism serve`'s, app/cli/serve.py);
- a path or query parameter carrying a control character (NUL above all, which PostgreSQL
  refuses in text) with FastAPI's 422 shape naming the query parameter (or the path),
  instead of letting it reach a query as an id. document_url_rules() states that rule in
  the OpenAPI document, so a client following it is never refused.
Registered inside RequestContextMiddleware, its answers carry the request id and the
security headers like every other answer.
"""

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import anyio
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.validators import ONE_LINE_PATTERN, first_control_character


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


def body_timeout_detail(seconds: float) -> str:
    """The 408 detail: names the setting an operator would raise."""
    return (
        f"Request body not received: nothing arrived for {seconds:g} seconds "
        "(PRISM_BODY_READ_TIMEOUT_SECONDS)"
    )


class RequestBodyTimeout(HTTPException):
    """Raised from receive() when the next chunk of a body does not come in time."""

    def __init__(self, seconds: float) -> None:
        super().__init__(status_code=408, detail=body_timeout_detail(seconds))


class InputLimitsMiddleware:
    """413 for a body over `max_body_bytes` (announced or streamed); 408 for a body that
    pauses longer than `body_read_timeout` seconds; 422 for a control character in the path
    or the query string."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, body_read_timeout: float = 30.0) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_read_timeout = body_read_timeout

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
            await self._too_large(send)
            return
        received = 0
        body_complete = answered = False
        refusal: Callable[[Send], Awaitable[None]] | None = None

        async def limited_receive() -> Message:
            nonlocal received, body_complete, refusal
            if body_complete:
                # Only the disconnect is left to wait for (a live stream waits for it).
                return await receive()
            try:
                with anyio.fail_after(self.body_read_timeout):
                    message = await receive()
            except TimeoutError:
                refusal = self._too_slow
                raise RequestBodyTimeout(self.body_read_timeout) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_complete = True
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    refusal = self._too_large
                    raise RequestBodyTooLarge(self.max_body_bytes)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal answered
            if refusal is None:
                await send(message)
            elif not answered and message["type"] == "http.response.start":
                # Whatever the route made of a truncated body, the answer is the refusal.
                answered = True
                await refusal(send)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except (RequestBodyTooLarge, RequestBodyTimeout):
            if not answered and refusal is not None:
                answered = True
                await refusal(send)

    async def _too_large(self, send: Send) -> None:
        # The rest of the body is not read: the connection cannot be reused.
        detail = {"detail": body_too_large_detail(self.max_body_bytes)}
        await _send_json(send, 413, detail, close=True)

    async def _too_slow(self, send: Send) -> None:
        detail = {"detail": body_timeout_detail(self.body_read_timeout)}
        await _send_json(send, 408, detail, close=True)


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


_SAID_OTHERWISE = ("pattern", "enum", "const", "format")


def _state_one_line(schema: dict[str, Any]) -> None:
    for branch in schema.get("anyOf", []):
        _state_one_line(branch)
    if isinstance(schema.get("items"), dict):  # a repeated parameter (?kind=a&kind=b)
        _state_one_line(schema["items"])
    if schema.get("type") == "string" and not any(key in schema for key in _SAID_OTHERWISE):
        schema["pattern"] = ONE_LINE_PATTERN


def document_url_rules(document: dict[str, Any]) -> dict[str, Any]:
    """State the door's rule in an OpenAPI document (in place; idempotent): every string
    path and query parameter gets the one-line pattern, unless its own pattern, enum or
    format already keeps control characters out."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                if parameter.get("in") in ("path", "query") and "schema" in parameter:
                    _state_one_line(parameter["schema"])
    return document
