"""Keyset pagination: opaque cursors carrying the sort key of the last row returned.

A cursor names a position in the sort order, not an offset, so rows inserted meanwhile
never shift a page: the next page starts strictly after the last row the client saw.
"""

import base64
import binascii
import json
from typing import Annotated, Any

from fastapi import Depends, Query
from pydantic import BaseModel

from app.errors import UnprocessableError

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class PageParams(BaseModel):
    limit: int | None
    cursor: list[Any] | None

    def limit_or(self, default: int | None = DEFAULT_LIMIT) -> int | None:
        return self.limit if self.limit is not None else default


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise UnprocessableError("cursor: not a cursor returned by this API") from None
    if not isinstance(values, list):
        raise UnprocessableError("cursor: not a cursor returned by this API")
    return values


def page_params(
    limit: Annotated[
        int | None, Query(ge=1, le=MAX_LIMIT, description="Rows per page (default 100).")
    ] = None,
    cursor: Annotated[
        str | None, Query(max_length=1000, description="nextCursor of the previous page.")
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=decode_cursor(cursor) if cursor else None)


PageDep = Annotated[PageParams, Depends(page_params)]
