"""Two replicas on one PostgreSQL: live updates cross over, sessions and tokens work on both."""

import json
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.auth.session import COOKIE_NAME
from app.core.config import Settings
from app.live.pg_fanout import PgFanout
from app.main import create_app
from app.models.agent import MAX_EVENT_MESSAGE
from app.ops.scheduler import PeriodicJob
from tests.conftest import ADMIN_TOKEN, AUTH
from tests.support.db import migrate, temporary_pg_database
from tests.support.servers import running_server
from tests.support.signin import post_login
from tests.support.waits import HTTP_TIMEOUT, wait_until

pytestmark = pytest.mark.postgres

SECRET_KEY = "replicas-share-this-secret-key-0123456789"


@dataclass
class Replica:
    app: FastAPI
    url: str

    def client(self, **options: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=HTTP_TIMEOUT, **options)


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with temporary_pg_database("prism_scale") as url:
        migrate(url)
        yield url


def settings_for(url: str, **overrides: Any) -> Settings:
    options: dict[str, Any] = {
        "api_db_url": url,
        "admin_token": ADMIN_TOKEN,
        "auto_migrate": False,
        "log_level": "WARNING",
        "stream_heartbeat_seconds": 1,
        **overrides,
    }
    return Settings(**options, _env_file=None)


@contextmanager
def replicas(url: str, count: int, **overrides: Any) -> Iterator[list[Replica]]:
    """`count` real servers, each its own app, all on the database at `url`."""
    with ExitStack() as stack:
        started = []
        for _ in range(count):
            app = create_app(settings_for(url, **overrides))
            started.append(Replica(app, stack.enter_context(running_server(app))))
        for replica in started:
            fanout = replica.app.state.live_fanout
            assert isinstance(fanout, PgFanout)
            # Start-up waits a few seconds for the first LISTEN; a busy machine may need more.
            wait_until(fanout.listening.is_set, "a replica listening for live updates")
        yield started


@pytest.fixture(scope="module")
def pair(pg_url: str) -> Iterator[tuple[Replica, Replica]]:
    with replicas(pg_url, 2, secret_key=SECRET_KEY) as (a, b):
        yield a, b


class Stream:
    """An open /api/stream/ops: read messages until one matches (a lost one fails after WAIT s)."""

    def __init__(self, response: httpx.Response) -> None:
        assert response.status_code == 200, response.text
        self._lines = response.iter_lines()
        self.seen: list[dict[str, Any]] = []

    def next_message(self) -> dict[str, Any]:
        for line in self._lines:
            if line.startswith("data: "):
                message: dict[str, Any] = json.loads(line.removeprefix("data: "))
                if message["type"] != "heartbeat":
                    self.seen.append(message)
                return message
        raise AssertionError("the stream ended")

    def until(self, **wanted: Any) -> dict[str, Any]:
        found: list[dict[str, Any]] = []

        def arrived() -> bool:
            message = self.next_message()  # heartbeats keep this from blocking for long
            if all(matches(message, key, value) for key, value in wanted.items()):
                found.append(message)
            return bool(found)

        try:
            wait_until(arrived, f"a message with {wanted}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; seen: {self.seen}") from None
        return found[0]


def matches(message: dict[str, Any], key: str, value: Any) -> bool:
    if key == "miner_id":
        return message.get("type") == "miner.sample" and message.get("miner_id") == value
    if key == "event_message":
        data = message.get("data") or {}
        return message.get("type") == "agent_event" and data.get("message") == value
    return bool(message.get(key) == value)


@contextmanager
def ops_stream(client: httpx.Client) -> Iterator[Stream]:
    with client.stream("GET", "/api/stream/ops") as response:
        stream = Stream(response)
        stream.next_message()  # the opening heartbeat: subscribed from here on
        yield stream


def post_sample(client: httpx.Client, miner_id: str) -> None:
    body = {"miner_id": miner_id, "hashrate_1m": 1234.5, "shares_accepted": 3}
    response = client.post("/api/miners/sample", json=body)
    assert response.status_code == 202, response.text


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def sign_in(replica: Replica) -> str:
    """The session cookie a browser gets by signing in on `replica`."""
    with replica.client() as browser:
        response = post_login(browser, ADMIN_TOKEN)
    assert response.status_code == 303, response.text
    cookie = response.cookies.get(COOKIE_NAME)
    assert cookie
    return cookie


def test_a_sample_posted_to_one_replica_reaches_the_ops_stream_of_the_other(
    pair: tuple[Replica, Replica],
) -> None:
    a, b = pair
    miner = unique("rig")
    with a.client(headers=AUTH) as to_a, b.client(headers=AUTH) as to_b, ops_stream(to_b) as on_b:
        post_sample(to_a, miner)
        message = on_b.until(miner_id=miner)
    assert message["sample"]["hashrate_1m"] == 1234.5
    assert message["sample"]["shares_accepted"] == 3
    assert message["tiles"]


def test_an_agent_event_posted_to_one_replica_reaches_the_ops_stream_of_the_other(
    pair: tuple[Replica, Replica],
) -> None:
    message = event_crossing_over(pair)
    assert message["data"]["kind"] == "warn"


def event_crossing_over(pair: tuple[Replica, Replica]) -> dict[str, Any]:
    """An agent registered and its event posted through A: the message B's stream got."""
    a, b = pair
    agent = unique("agent")
    text = unique("disk almost full")
    with a.client(headers=AUTH) as to_a, b.client(headers=AUTH) as to_b, ops_stream(to_b) as on_b:
        registered = to_a.post(
            f"/api/agents/{agent}/heartbeat", json={"name": agent, "domain": "ops"}
        )
        assert registered.status_code == 201, registered.text
        sent = to_a.post(f"/api/agents/{agent}/events", json={"kind": "warn", "message": text})
        assert sent.status_code == 202, sent.text
        message = on_b.until(event_message=text)
    assert message["data"]["agentId"] == agent
    return message


def test_the_largest_event_ingest_accepts_reaches_the_other_replica(
    pair: tuple[Replica, Replica],
) -> None:
    a, b = pair
    agent = unique("agent")
    # Astral characters: 12 bytes each in the ASCII JSON of a notification, the worst case.
    text = unique("largest")
    text += "😀" * (MAX_EVENT_MESSAGE - len(text))
    with a.client(headers=AUTH) as to_a, b.client(headers=AUTH) as to_b, ops_stream(to_b) as on_b:
        registered = to_a.post(
            f"/api/agents/{agent}/heartbeat", json={"name": agent, "domain": "ops"}
        )
        assert registered.status_code == 201, registered.text
        sent = to_a.post(f"/api/agents/{agent}/events", json={"kind": "error", "message": text})
        assert sent.status_code == 202, sent.text
        message = on_b.until(event_message=text)
    assert message["data"]["agentId"] == agent
    assert len(message["data"]["message"]) == MAX_EVENT_MESSAGE


def test_each_replica_streams_a_message_exactly_once(pair: tuple[Replica, Replica]) -> None:
    assert_each_message_streamed_once(pair)


def assert_each_message_streamed_once(pair: tuple[Replica, Replica]) -> None:
    """A sample posted to one replica reaches each replica's stream exactly once."""
    a, b = pair
    miner, marker_b, marker_a = unique("rig"), unique("marker-b"), unique("marker-a")
    with (
        a.client(headers=AUTH) as to_a,
        b.client(headers=AUTH) as to_b,
        ops_stream(to_a) as on_a,
        ops_stream(to_b) as on_b,
    ):
        post_sample(to_a, miner)
        on_b.until(miner_id=miner)
        # PostgreSQL delivers notifications in commit order: B's marker, sent after B got
        # the sample, reaches A after any copy of the sample could have come back to A.
        post_sample(to_b, marker_b)
        on_a.until(miner_id=marker_b)
        post_sample(to_a, marker_a)  # likewise for a second copy sent to B
        on_b.until(miner_id=marker_a)
    for stream in (on_a, on_b):
        copies = [m for m in stream.seen if m.get("miner_id") == miner]
        assert len(copies) == 1, stream.seen


def test_a_browser_session_from_one_replica_works_on_the_other(
    pair: tuple[Replica, Replica],
) -> None:
    a, b = pair
    cookie = sign_in(a)
    with b.client(cookies={COOKIE_NAME: cookie}) as browser_on_b:
        assert browser_on_b.get("/api/agents").status_code == 200
    with b.client() as stranger:
        assert stranger.get("/api/agents").status_code == 401


def test_the_web_stream_on_one_replica_carries_what_the_other_received(
    pair: tuple[Replica, Replica],
) -> None:
    a, b = pair
    cookie = sign_in(a)
    miner = unique("rig")
    with (
        a.client(headers=AUTH) as to_a,
        b.client(cookies={COOKIE_NAME: cookie}) as browser_on_b,
        ops_stream(browser_on_b) as on_b,
    ):
        post_sample(to_a, miner)
        assert on_b.until(miner_id=miner)["miner_id"] == miner


def test_a_token_created_on_one_replica_works_and_is_revoked_on_the_other(
    pair: tuple[Replica, Replica],
) -> None:
    a, b = pair
    with a.client(headers=AUTH) as admin_on_a:
        created = admin_on_a.post("/api/tokens", json={"name": unique("reader"), "scope": "read"})
        assert created.status_code == 201, created.text
        token = created.json()
        reader = {"Authorization": f"Bearer {token['token']}"}
        with b.client(headers=reader) as reader_on_b:
            assert reader_on_b.get("/api/agents").status_code == 200
            assert admin_on_a.delete(f"/api/tokens/{token['id']}").status_code == 200
            assert reader_on_b.get("/api/agents").status_code == 401


def test_without_a_configured_secret_key_replicas_share_the_stored_one(pg_url: str) -> None:
    with replicas(pg_url, 2) as (a, b):
        cookie = sign_in(a)
        with b.client(cookies={COOKIE_NAME: cookie}) as browser_on_b:
            assert browser_on_b.get("/api/agents").status_code == 200


def test_each_replica_runs_the_fan_out_and_the_retention_schedule(
    pair: tuple[Replica, Replica],
) -> None:
    for replica in pair:
        assert isinstance(replica.app.state.live_fanout, PgFanout)
        assert isinstance(replica.app.state.retention, PeriodicJob)
    origins = {replica.app.state.live_fanout.origin for replica in pair}
    assert len(origins) == 2
