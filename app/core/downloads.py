"""Streamed downloads (the exports of every feature): their media types, the attachment
header, and the CSV note and OpenAPI answer each export states."""

from collections.abc import Iterator
from typing import Any

from starlette.responses import StreamingResponse

from app.core.responses import json_errors

CSV_NOTE = (
    "CSV with a header row; times ISO-8601 UTC with Z; empty cell = null. A text cell starting "
    "with = + - @ is prefixed with ' so spreadsheets never run it as a formula."
)


class CSVStream(StreamingResponse):
    media_type = "text/csv"  # Starlette appends "; charset=utf-8"


class JSONStream(StreamingResponse):
    media_type = "application/json"


def download(
    response: type[StreamingResponse], chunks: Iterator[str], filename: str
) -> StreamingResponse:
    """`chunks` streamed as an attachment named `filename`."""
    return response(chunks, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def csv_answer(columns: tuple[str, ...], *statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of a CSV export with these columns, its errors (401, 403 and
    `statuses`) answered as JSON."""
    return {
        200: {
            "description": f"Columns: {', '.join(columns)}.",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        **json_errors(401, 403, *statuses),
    }
