"""The ops stream announces each audit row once its transaction committed, and never a row
that was rolled back; only its id, since the stream is open to read tokens."""

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from app.audit import chain
from app.models.audit import AuditEvent
from tests.conftest import lenient_client


@pytest.fixture
def heard(app: FastAPI, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, bool]]:
    """Each audit message published, and whether its row was visible to others right then."""
    messages: list[tuple[Any, bool]] = []

    def publish(message: dict[str, Any]) -> None:
        if message.get("type") == "audit":
            with Session(engine) as other:
                messages.append((message, other.get(AuditEvent, message["data"]["id"]) is not None))

    monkeypatch.setattr(app.state.broadcaster, "publish", publish)
    return messages


def test_a_committed_change_announces_its_row_after_the_commit(
    client: TestClient, heard: list[tuple[Any, bool]]
) -> None:
    assert client.put("/api/settings/site.name", json={"value": "A"}).status_code == 200
    assert client.delete("/api/settings/site.name").status_code == 204
    assert heard == [
        ({"type": "audit", "data": {"id": 1}}, True),
        ({"type": "audit", "data": {"id": 2}}, True),
    ]


def test_a_rolled_back_change_announces_nothing(
    app: FastAPI,
    client: TestClient,
    heard: list[tuple[Any, bool]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fail(*_args: Any, **_kwargs: Any) -> None:
        raise OperationalError("UPDATE auditchain", {}, RuntimeError("injected"))

    monkeypatch.setattr(chain, "advance_head", fail)
    failing = lenient_client(app)
    assert failing.put("/api/settings/site.name", json={"value": "A"}).status_code >= 500
    monkeypatch.undo()
    assert heard == []
