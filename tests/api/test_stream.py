"""/api/stream/ops over a real uvicorn server: unnamed SSE messages, heartbeats, slow clients,
and streams that end when their token is revoked or their session ends."""

import asyncio
import json
import time
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from app.core.config import Settings
from app.core.timeutil import parse_datetime
from app.live.broadcaster import Broadcaster, Message
from app.live.sse import EventStreamResponse
from app.main import create_app
from tests.conftest import ADMIN_TOKEN, AUTH
from tests.support.servers import running_server
from tests.support.signin import post_login
from tests.support.waits import HTTP_TIMEOUT, WAIT, wait_until

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
    with httpx.Client(base_url=base_url, headers=AUTH, timeout=HTTP_TIMEOUT) as client:
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
    app_settings: Settings, token_for: Callable[[str], dict[str, str]]
) -> None:
    # No heartbeat (and so no credential check) falls within the test.
    quiet_app = create_app(app_settings.model_copy(update={"stream_heartbeat_seconds": 3600}))
    headers = token_for("read")
    with (
        running_server(quiet_app) as url,
        httpx.Client(base_url=url, headers=headers, timeout=HTTP_TIMEOUT) as reader,
    ):
        # First use records last_used_at and commits; the next check only reads.
        assert reader.get("/api/agents").status_code == 200
        with reader.stream("GET", "/api/stream/ops") as response:
            messages = blocks(response)
            next(messages)
            assert quiet_app.state.engine.pool.checkedout() == 0
            assert quiet_app.state.broadcaster.subscriber_count == 1


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


# --- a stream lives no longer than its credential -------------------------------------------

ASGI_SCOPE = {"type": "http", "asgi": {"spec_version": "2.3"}}


async def _never_disconnects() -> dict[str, Any]:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


def _run_stream(
    answers: list[bool], *, heartbeat_seconds: float, busy: bool = False
) -> tuple[list[MutableMapping[str, Any]], int]:
    """Serve one stream whose credential checks answer `answers` in turn (each check waits
    for its answer, so no heartbeat can slip past one); returns what it sent and the number
    of checks. `busy` publishes without a pause for as long as the stream lasts."""
    sent: list[MutableMapping[str, Any]] = []
    asked = 0

    async def main() -> None:
        nonlocal asked
        broadcaster = Broadcaster(1_000_000)
        broadcaster.bind(asyncio.get_running_loop())
        pending: asyncio.Queue[bool] = asyncio.Queue()
        for answer in answers:
            pending.put_nowait(answer)

        async def still_allowed() -> bool:
            nonlocal asked
            asked += 1
            return await pending.get()

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        def beat() -> Message:
            return {"type": "heartbeat"}

        response = EventStreamResponse(
            broadcaster,
            heartbeat=beat,
            heartbeat_seconds=heartbeat_seconds,
            still_allowed=still_allowed,
        )
        stream = asyncio.ensure_future(response(ASGI_SCOPE, _never_disconnects, send))
        while busy and not stream.done():
            broadcaster.publish({"type": "agent_event"})
            await asyncio.sleep(0)
        await asyncio.wait_for(stream, timeout=WAIT)  # ends by itself
        assert broadcaster.subscriber_count == 0

    asyncio.run(main())
    return sent, asked


def _texts(sent: list[MutableMapping[str, Any]]) -> list[str]:
    return [m["body"].decode() for m in sent if m["type"] == "http.response.body" and m["body"]]


def test_each_heartbeat_first_asks_whether_the_credential_still_holds() -> None:
    sent, asked = _run_stream([True, True, False], heartbeat_seconds=0.001)
    assert asked == 3
    beats = [text for text in _texts(sent) if '"heartbeat"' in text]
    assert len(beats) == 3  # on connect, then one after each "yes"; none after the "no"
    assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}


def test_a_busy_stream_still_checks_its_credential_every_heartbeat() -> None:
    # Messages never stop, so the stream is never silent for a heartbeat's length.
    sent, asked = _run_stream([False], heartbeat_seconds=0.01, busy=True)
    assert asked == 1
    assert sent[-1]["more_body"] is False


def _through_marker(messages: Iterator[list[str]]) -> None:
    """Read up to the marker the test published once the credential had ended, or to the
    stream's end: a heartbeat check may close it before the marker arrives."""
    for block in messages:
        if data_of(block)["type"] == "marker":
            return


def _ends_without_a_heartbeat(messages: Iterator[list[str]]) -> None:
    """The stream ends; before it does, only audit notifications may still come: the ending
    wrote an audit row on the other replica, whose notice travels through the database's
    relay and can arrive after the marker published here (SPEC §12)."""
    assert {data_of(block)["type"] for block in messages} <= {"audit"}


def test_revoking_the_token_on_another_replica_closes_its_open_stream(
    client: TestClient,
    base_url: str,
    stream_app: FastAPI,
    token_for: Callable[[str], dict[str, str]],
) -> None:
    headers = token_for("read")
    [token] = client.get("/api/tokens").json()["items"]
    with httpx.Client(base_url=base_url, headers=headers, timeout=HTTP_TIMEOUT) as reader:
        with reader.stream("GET", "/api/stream/ops") as response:
            messages = blocks(response)
            assert data_of(next(messages))["type"] == "heartbeat"
            # `client` is another app on the same database: another replica.
            assert client.delete(f"/api/tokens/{token['id']}").status_code == 200
            broadcaster_of(stream_app).publish({"type": "marker"})
            _through_marker(messages)
            # Every check from here on sees the revocation: the next heartbeat is never sent.
            _ends_without_a_heartbeat(messages)
        assert reader.get("/api/stream/ops").status_code == 401


def test_signing_out_on_another_replica_closes_the_browsers_stream(
    app_settings: Settings, make_client: Callable[..., TestClient]
) -> None:
    key = SecretStr("a-secret-key-both-replicas-share-0001")
    other = make_client(secret_key=key)
    other.headers.clear()
    streaming = create_app(
        app_settings.model_copy(update={"secret_key": key, "stream_heartbeat_seconds": 0.2})
    )
    with (
        running_server(streaming) as url,
        httpx.Client(base_url=url, timeout=HTTP_TIMEOUT) as browser,
    ):
        assert post_login(browser, ADMIN_TOKEN).status_code == 303
        cookie = browser.cookies["prism_session"]
        with browser.stream("GET", "/api/stream/ops") as response:
            messages = blocks(response)
            assert data_of(next(messages))["type"] == "heartbeat"
            codec = other.app.state.session_codec  # type: ignore[attr-defined]
            other.cookies.set("prism_session", cookie)
            signed_out = other.post("/logout", data={"csrf_token": codec.read(cookie).csrf})
            assert signed_out.history[0].headers["location"] == "/login"  # not "?next="
            broadcaster_of(streaming).publish({"type": "marker"})
            _through_marker(messages)
            _ends_without_a_heartbeat(messages)
        assert browser.get("/api/stream/ops").status_code == 401
