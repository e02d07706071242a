"""Live messages of a write reach the stream after its commit, and never after a rollback.

The request session commits once the answer is serialized: a message sent by the endpoint
itself would describe a row nobody else can read yet, or one a failure then rolls back.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.live.broadcaster import Broadcaster
from tests.api.test_write_rollback import INJECTIONS, WRITES, _arrange, _snapshot
from tests.conftest import lenient_client
from tests.support.db import wipe

# The writes whose success the ops stream announces (SPEC appendix A).
ANNOUNCED = [
    ("POST", "/api/agents/{agent_id}/heartbeat"),
    ("POST", "/api/agents/{agent_id}/events"),
    ("POST", "/api/miners/sample"),
    ("POST", "/api/miners/samples"),
    ("POST", "/events"),
    ("PATCH", "/api/metrics/{metric_id}"),
]


@dataclass
class Published:
    """Each message handed to the stream, with the database as another reader saw it then."""

    engine: Engine
    seen: list[tuple[dict[str, Any], dict[str, list[str]]]] = field(default_factory=list)

    def record(self, message: dict[str, Any]) -> None:
        self.seen.append((message, _snapshot(self.engine)))


@pytest.fixture
def failing_client(app: FastAPI) -> TestClient:
    return lenient_client(app)


@pytest.fixture
def published(app: FastAPI, engine: Engine) -> Iterator[Published]:
    """Every publish of the app's broadcaster, recorded instead of fanned out."""
    recorder = Published(engine)
    broadcaster: Broadcaster = app.state.broadcaster
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(Broadcaster, "has_audience", property(lambda _self: True))
        monkeypatch.setattr(broadcaster, "publish", recorder.record)
        yield recorder


@pytest.mark.parametrize("route", ANNOUNCED, ids=" ".join)
def test_a_message_goes_out_when_its_write_is_visible_to_other_readers(
    engine: Engine, failing_client: TestClient, published: Published, route: tuple[str, str]
) -> None:
    wipe(engine)
    write = WRITES[route]
    path = _arrange(failing_client, write)
    published.seen.clear()
    response = failing_client.request(route[0], path, json=write.body)
    assert response.status_code < 300, response.text
    assert published.seen, "the write announced nothing"
    after = _snapshot(engine)
    for message, database_then in published.seen:
        assert database_then == after, f"{message['type']} went out before the commit"


@pytest.mark.parametrize("route", ANNOUNCED, ids=" ".join)
def test_a_write_that_rolls_back_announces_nothing(
    engine: Engine, failing_client: TestClient, published: Published, route: tuple[str, str]
) -> None:
    write = WRITES[route]
    for injection in sorted(INJECTIONS):
        wipe(engine)
        path = _arrange(failing_client, write)
        published.seen.clear()
        with pytest.MonkeyPatch.context() as monkeypatch:
            INJECTIONS[injection](monkeypatch)
            response = failing_client.request(route[0], path, json=write.body)
        assert response.status_code >= 500, (injection, response.text)
        assert published.seen == [], injection
