"""/api/stream/ops over a real uvicorn server: unnamed SSE messages, heartbeats, slow clients."""

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.config import Settings
from app.live import Broadcaster
from app.main import create_app
from app.timeutil import parse_datetime
from tests.conftest import AUTH
from tests.support.servers import running_server

QUEUE_SIZE = 8


@pytest.fixture
def stream_app(app_settings: Settings) -> FastAPI:
    return create_app(
        app_settings.model_copy(
            update={"stream_heartbeat_seconds": 0.2, "stream_queue_size": QUEUE_SIZE}
        )
    )


@pytest.fixture
def base_url(stream_app: FastAPI) -> Iterator[str]:
    with running_server(stream_app) as url:
        yield url


@pytest.fixture
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, headers=AUTH, timeout=10) as client:
        yield client


def blocks(response: httpx.Response) -> Iterator[list[str]]:
    """Each SSE message as its list of field lines.

    Keep the iterator while the stream should stay open: a discarded generator is closed,
    and closing it closes the connection.
    """
    lines: list[str] = []
    for line in response.iter_lines():
        if line:
            lines.append(line)
        elif lines:
            yield lines
            lines = []


def data_of(block: list[str]) -> dict[str, Any]:
    """The JSON of an unnamed message: `data:` (and on connect `retry:`), never `event:`."""
    assert not [line for line in block if line.startswith("event:")], block
    [data] = [line for line in block if line.startswith("data: ")]
    assert {line.split(":", 1)[0] for line in block} <= {"data", "retry"}
    payload: dict[str, Any] = json.loads(data.removeprefix("data: "))
    return payload


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.02)


def broadcaster_of(app: FastAPI) -> Broadcaster:
    broadcaster: Broadcaster = app.state.broadcaster
    return broadcaster


def test_the_stream_opens_with_a_heartbeat(http: httpx.Client) -> None:
    with http.stream("GET", "/api/stream/ops") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        first = next(blocks(response))
    assert first[0].startswith("retry: ")
    message = data_of(first)
    assert message["type"] == "heartbeat"
    assert message["at"].endswith("Z")
    parse_datetime(message["at"])


def test_published_messages_arrive_as_unnamed_data(http: httpx.Client, stream_app: FastAPI) -> None:
    published = [
        {"type": "agent_status", "data": {"agentId": "agent-1", "status": "degraded"}},
        {"type": "miner.sample", "miner_id": "rig-1", "sample": {"hashrate_1m": 1.5}},
        {"type": "metric_update", "data": {"metricId": "uptime"}},
    ]
    with http.stream("GET", "/api/stream/ops") as response:
        messages = blocks(response)
        assert data_of(next(messages))["type"] == "heartbeat"
        for message in published:
            broadcaster_of(stream_app).publish(message)
        received = []
        for block in messages:
            message = data_of(block)
            if message["type"] != "heartbeat":
                received.append(message)
            if len(received) == len(published):
                break
    assert received == published


def test_heartbeats_repeat_while_nothing_happens(http: httpx.Client) -> None:
    with http.stream("GET", "/api/stream/ops") as response:
        messages = blocks(response)
        beats = [data_of(next(messages)) for _ in range(3)]
    assert [beat["type"] for beat in beats] == ["heartbeat"] * 3


def test_closing_the_stream_ends_its_subscription(http: httpx.Client, stream_app: FastAPI) -> None:
    broadcaster = broadcaster_of(stream_app)
    with http.stream("GET", "/api/stream/ops") as response:
        messages = blocks(response)
        next(messages)
        assert broadcaster.subscriber_count == 1
    wait_until(lambda: broadcaster.subscriber_count == 0, "subscription released")


def test_a_client_that_stops_reading_is_disconnected(
    http: httpx.Client, stream_app: FastAPI
) -> None:
    broadcaster = broadcaster_of(stream_app)
    padding = "x" * 128_000
    with http.stream("GET", "/api/stream/ops") as response:
        messages = blocks(response)
        next(messages)
        # Paced so the server keeps up until the socket buffers are full and its send
        # blocks; then the queue fills while the stream is stuck in that send.
        published = 0
        while broadcaster.subscriber_count and published < 3000:
            broadcaster.publish({"type": "agent_event", "n": published, "padding": padding})
            published += 1
            time.sleep(0.002)
        assert broadcaster.subscriber_count == 0

        # The stream ended: reading drains what was sent, then stops instead of hanging
        # (a hang would raise httpx.ReadTimeout).
        delivered = 0
        try:
            for block in messages:
                delivered += data_of(block)["type"] == "agent_event"
        except httpx.RemoteProtocolError:
            pass  # cut mid-body: the server gave up on a client whose window stayed shut
    assert delivered < published


def test_open_streams_are_counted_in_metrics(http: httpx.Client) -> None:
    with http.stream("GET", "/api/stream/ops") as response:
        messages = blocks(response)
        next(messages)
        metrics = http.get("/metrics").text.splitlines()
    assert "prism_stream_subscribers 1.0" in metrics


def test_an_open_stream_holds_no_database_connection(
    base_url: str, stream_app: FastAPI, token_for: Callable[[str], dict[str, str]]
) -> None:
    headers = token_for("read")
    with httpx.Client(base_url=base_url, headers=headers, timeout=10) as reader:
        # First use records last_used_at and commits; the next check only reads.
        assert reader.get("/api/agents").status_code == 200
        with reader.stream("GET", "/api/stream/ops") as response:
            messages = blocks(response)
            next(messages)
            assert stream_app.state.engine.pool.checkedout() == 0
            assert stream_app.state.broadcaster.subscriber_count == 1


def test_the_stream_needs_a_read_token(
    anon_client: TestClient, token_for: Callable[[str], dict[str, str]]
) -> None:
    response = anon_client.get("/api/stream/ops")
    assert response.status_code == 401
    assert response.json() == {"detail": "Missing token"}
    assert anon_client.get("/api/stream/ops", headers=token_for("ingest")).status_code == 403


def test_the_stream_and_the_probes_are_documented(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    stream = paths["/api/stream/ops"]["get"]["responses"]
    assert "text/event-stream" in stream["200"]["content"]
    assert "application/json" in stream["401"]["content"]
    assert "application/json" in stream["403"]["content"]
    for path in ("/livez", "/healthz", "/readyz", "/health", "/api/health", "/metrics"):
        assert "get" in paths[path], path
    assert "application/health+json" in paths["/api/health"]["get"]["responses"]["200"]["content"]
