"""A datetime that has no UTC form is a 422 naming the field, not a 500 (API fuzzer find).

`0001-01-01T00:30:00+01:00` is valid ISO-8601, but in UTC it falls in year 0, and
`9999-12-31T23:59:59-01:00` in year 10000: Python cannot represent either, and the
conversion raised OverflowError from inside validation.
"""

from typing import Any

import pytest
from fastapi.testclient import TestClient

BEFORE_YEAR_1 = "0001-01-01T00:30:00+01:00"
AFTER_YEAR_9999 = "9999-12-31T23:59:59-01:00"


@pytest.mark.parametrize("moment", [BEFORE_YEAR_1, AFTER_YEAR_9999])
@pytest.mark.parametrize("field", ["since", "until"])
def test_a_query_datetime_out_of_utc_range_is_a_422(
    client: TestClient, field: str, moment: str
) -> None:
    response = client.get("/api/events", params={field: moment})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["query", field]
    assert "out of range" in error["msg"]


@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        (
            "/api/agents/agent-1/events",
            {"kind": "warn", "message": "m", "at": BEFORE_YEAR_1},
            ["body", "event", "at"],
        ),
        (
            "/api/miners/sample",
            {"miner_id": "m1", "last_share_at": BEFORE_YEAR_1},
            ["body", "last_share_at"],
        ),
    ],
)
def test_a_body_datetime_out_of_utc_range_is_a_422(
    client: TestClient, path: str, body: dict[str, Any], loc: list[str]
) -> None:
    heartbeat = {"name": "Agent 1", "domain": "ops"}
    assert client.post("/api/agents/agent-1/heartbeat", json=heartbeat).status_code == 201
    response = client.post(path, json=body)
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [loc]


def test_the_edges_that_have_a_utc_form_are_accepted(client: TestClient) -> None:
    response = client.get(
        "/api/events", params={"since": "0001-01-01T00:30:00-01:00", "until": "9999-12-31"}
    )
    assert response.status_code == 200
    assert response.json() == {"items": [], "nextCursor": None}
