"""The export encoders emit chunks as rows arrive: memory holds one chunk, not the export."""

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from app.ops.exports import CHUNK_ROWS, csv_chunks, json_chunks


class CountingRows:
    """Rows made on demand, counting how many the encoder has pulled so far."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.pulled = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for index in range(self.total):
            self.pulled += 1
            yield {"id": f"r{index}", "value": index * 0.5, "note": None, "ok": index % 2 == 0}


def test_csv_is_yielded_a_chunk_at_a_time() -> None:
    rows = CountingRows(CHUNK_ROWS * 2 + 7)
    chunks = csv_chunks(rows, ["id", "value", "note", "ok"])
    first = next(chunks)
    assert rows.pulled == CHUNK_ROWS
    text = first + "".join(chunks)
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0] == ["id", "value", "note", "ok"]
    assert parsed[1] == ["r0", "0.0", "", "true"]
    assert len(parsed) == rows.total + 1


def test_json_is_yielded_a_chunk_at_a_time_and_parses_whole() -> None:
    rows = CountingRows(CHUNK_ROWS * 2 + 7)
    chunks = json_chunks(rows)
    first = next(chunks)
    assert rows.pulled < rows.total
    parsed = json.loads(first + "".join(chunks))
    assert len(parsed) == rows.total
    assert parsed[-1]["id"] == f"r{rows.total - 1}"


def test_an_empty_export_is_valid() -> None:
    assert json.loads("".join(json_chunks([]))) == []
    assert "".join(csv_chunks([], ["a", "b"])) == "a,b\r\n"
