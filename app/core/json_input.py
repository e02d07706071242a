"""Lone surrogates refused in every JSON body, nested values and keys included, with a 422.

JSON can spell half of a UTF-16 pair (`"\\ud800"`); Python decodes it into a string that no
encoding can write. Taken in through a free-form field (a runbook's inputsSchema, an execute
`input`), it was stored and then broke every answer that included it: a 500 for every client
of `GET /api/runbooks`, for good. pydantic refuses such strings in `str` fields, but not
inside `dict[str, Any]` values, so the check is made once, here, for every JSON body.

LoneSurrogateMiddleware is pure ASGI and keeps streaming: it looks at each chunk as the route
reads it (a cheap search for a surrogate escape), and only when one was seen decodes the
whole body once more to find a lone one. The refusal is raised from receive() as an
HTTPException, which FastAPI's body reader passes on as it is: the answer is FastAPI's 422
shape, `loc` naming the place in the body.
"""

import json
import re
from collections.abc import Iterator
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# `\ud800`-`\udfff` as a JSON escape, in any case: what a surrogate needs to get in at all.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_ESCAPE_OVERLAP = 3  # an escape split between two chunks keeps at most 3 bytes in the first
_LONE = re.compile(r"[\ud800-\udfff]")
MAX_REPORTED = 20


def lone_surrogates(value: Any, loc: tuple[str | int, ...] = ()) -> Iterator[dict[str, Any]]:
    """FastAPI-style errors for each string (or key) in `value` holding a lone surrogate."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, loc)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            found = _LONE.search(item)
            if found is not None:
                yield _error(where, item, found.start())
        elif isinstance(item, dict):
            for key, child in reversed(item.items()):
                found = _LONE.search(key)
                if found is not None:
                    yield _error((*where, key), key, found.start())
                stack.append((child, (*where, key)))
        elif isinstance(item, list):
            stack.extend((child, (*where, i)) for i, child in reversed(list(enumerate(item))))


def escape_lone_surrogates(value: Any) -> Any:
    """`value` itself when it holds no lone surrogate, else a copy with each one escaped.

    For JSON stored before they were refused: answering it must not fail for every reader.
    """
    if next(lone_surrogates(value), None) is None:
        return value
    return _escaped(value)


def _escaped(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode()
    if isinstance(value, dict):
        return {_escaped(key): _escaped(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_escaped(item) for item in value]
    return value


def _error(loc: tuple[str | int, ...], text: str, index: int) -> dict[str, Any]:
    return {
        "type": "string_unicode",
        "loc": [_printable(part) for part in loc],
        "msg": "String must not contain a lone surrogate "
        f"(found U+{ord(text[index]):04X} at index {index})",
        "input": _printable(text),
    }


def _printable(part: str | int) -> str | int:
    # The error itself must be encodable: show the surrogate as its escape.
    return part if isinstance(part, int) else part.encode("utf-8", "backslashreplace").decode()


def _may_be_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return True  # no Content-Type: some compatible endpoints parse the body as JSON anyway


class LoneSurrogateMiddleware:
    """422 for a JSON body carrying a lone surrogate anywhere (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _may_be_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        tail = b""
        suspect = False

        async def checked_receive() -> Message:
            nonlocal tail, suspect
            message = await receive()
            if message["type"] != "http.request":
                return message
            body = message.get("body", b"")
            if body:
                chunks.append(body)  # the same bytes objects the reader keeps: no copy
                window = tail + body[: _ESCAPE_OVERLAP + 3]
                suspect = suspect or bool(
                    _SURROGATE_ESCAPE.search(window) or _SURROGATE_ESCAPE.search(body)
                )
                tail = body[-_ESCAPE_OVERLAP:]
            if not message.get("more_body", False):
                whole = b"".join(chunks) if suspect else b""
                chunks.clear()
                if suspect:
                    _refuse_lone_surrogates(whole)
            return message

        await self.app(scope, checked_receive, send)


def _refuse_lone_surrogates(body: bytes) -> None:
    try:
        decoded = json.loads(body)
    except (ValueError, RecursionError):
        return  # not JSON, not UTF-8, or too deep: the route's own parsing answers that
    errors = []
    for error in lone_surrogates(decoded, ("body",)):
        errors.append(error)
        if len(errors) == MAX_REPORTED:
            break
    if errors:
        raise LoneSurrogatesRefused(errors)


class LoneSurrogatesRefused(HTTPException):
    """A 422 whose detail is FastAPI's list of validation errors (Starlette's exception is
    typed for a text detail; FastAPI's handler answers whatever the detail holds)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(status_code=422)
        self.detail = errors  # type: ignore[assignment]
