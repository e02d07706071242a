"""A forged cursor is a 422 naming the cursor, never a 500 (found by the cursor fuzzer).

Cursors decode to a JSON list the services compare with columns: an integer past 64 bits
overflowed the driver (both engines), NUL in a string made PostgreSQL refuse the query.
"""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.core.errors import UnprocessableError
from app.core.pagination import decode_cursor, encode_cursor

AT = "2026-01-05T10:00:00Z"


@pytest.fixture
def fleet(client: TestClient) -> TestClient:
    """Two agents with events and status history, so every list has a second page."""
    for agent_id in ("agent-1", "agent-2"):
        heartbeat = {"name": agent_id, "domain": "ops", "status": "online"}
        assert client.post(f"/api/agents/{agent_id}/heartbeat", json=heartbeat).status_code == 201
        degraded = client.post(f"/api/agents/{agent_id}/heartbeat", json={"status": "degraded"})
        assert degraded.status_code == 200
        events = {"events": [{"kind": "warn", "message": "a"}, {"kind": "warn", "message": "b"}]}
        assert client.post(f"/api/agents/{agent_id}/events", json=events).status_code == 202
    assert client.put("/api/settings/a", json={"value": "1"}).status_code == 200
    assert client.put("/api/settings/b", json={"value": "2"}).status_code == 200
    return client


@pytest.mark.parametrize(
    ("path", "values"),
    [
        ("/api/agents/agent-1/status-history", [AT, 2**64]),
        ("/api/agents/agent-1/status-history", [AT, -(2**63) - 1]),
        ("/api/agents/agent-1/events", [AT, "a\x00"]),
        ("/api/events", [AT, "\x00"]),
        ("/api/agents?sort=name", ["name", "a\x00", "agent-1"]),
        ("/api/settings", ["a\x00"]),
        ("/api/metrics", ["\x00"]),
        ("/api/runbooks", ["\x00", "x"]),
    ],
)
def test_a_forged_cursor_is_a_422_naming_the_cursor(
    fleet: TestClient, path: str, values: list[Any]
) -> None:
    separator = "&" if "?" in path else "?"
    response = fleet.get(f"{path}{separator}cursor={encode_cursor(values)}")
    assert response.status_code == 422, response.text
    assert response.json() == {"detail": "cursor: not a cursor returned by this API"}


def test_the_cursors_the_api_hands_out_still_page(fleet: TestClient) -> None:
    first = fleet.get("/api/agents/agent-1/status-history?limit=1").json()
    assert first["nextCursor"] is not None
    second = fleet.get(f"/api/agents/agent-1/status-history?limit=1&cursor={first['nextCursor']}")
    assert second.status_code == 200
    assert second.json()["items"] != first["items"]


@pytest.mark.parametrize(
    "values",
    [
        [2**63],
        [-(2**63) - 1],
        [float("nan")],
        [float("inf")],
        ["x\x00"],
        [{"id": 1}],
        [[1, "\x00"]],
    ],
)
def test_decoding_refuses_what_no_column_holds(values: list[Any]) -> None:
    with pytest.raises(UnprocessableError, match=r"^cursor: "):
        decode_cursor(encode_cursor(values))


def test_decoding_keeps_every_value_the_api_puts_in_cursors() -> None:
    # The main-DB timeline keeps one position (or null) per source.
    values = [AT, 2**63 - 1, -(2**63), 1.5, None, True, "agent-1", [[AT, 7], None]]
    assert decode_cursor(encode_cursor(values)) == values
