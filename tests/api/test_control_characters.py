"""Text fields refuse NUL and control characters with a 422 naming the field (API fuzzer find).

PostgreSQL refuses NUL in text, so a title with one was a 500 there (and stored as sent on
SQLite). One-line fields (titles, names, tags, keys) refuse every control character;
multi-line ones (descriptions, setting values) keep tab and newlines. Nothing is written.
"""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.models import ApiToken, Metric, Runbook, RunbookRun, Setting
from tests.support.factories import count_rows

METRIC = {"id": "uptime", "title": "Uptime", "value": "99%", "caption": "24h", "icon": "up"}
RUNBOOK = {"id": "restart", "title": "Restart", "description": "Rolling", "tags": ["ops"]}


@pytest.fixture
def arranged(client: TestClient) -> TestClient:
    """One metric, one runbook and one setting to update."""
    assert client.post("/api/metrics", json=METRIC).status_code == 201
    assert client.post("/api/runbooks", json=RUNBOOK).status_code == 201
    assert client.put("/api/settings/theme", json={"value": "dark"}).status_code == 200
    return client


def _assert_refused(response: Any, loc: list[Any], character: str) -> None:
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == loc
    assert error["type"] == "string_control_character"
    assert f"U+{ord(character):04X}" in error["msg"]


@pytest.mark.parametrize("character", ["\x00", "\n", "\x1b", "\x85"])
@pytest.mark.parametrize("field", ["title", "value", "caption", "icon"])
def test_a_new_metric_refuses_control_characters_in_its_text(
    client: TestClient, db_session: Session, field: str, character: str
) -> None:
    response = client.post("/api/metrics", json={**METRIC, field: f"a{character}b"})
    _assert_refused(response, ["body", field], character)
    assert count_rows(db_session, Metric) == 0


def test_a_metric_update_refuses_nul_and_keeps_the_tile(arranged: TestClient) -> None:
    response = arranged.patch("/api/metrics/uptime", json={"caption": "x\x00"})
    _assert_refused(response, ["body", "caption"], "\x00")
    assert arranged.get("/api/metrics/uptime").json()["metric"]["caption"] == "24h"


@pytest.mark.parametrize(
    ("body", "loc", "character"),
    [
        ({"title": "a\x00"}, ["body", "title"], "\x00"),
        ({"description": "a\x00"}, ["body", "description"], "\x00"),
        ({"tags": ["ok", "a\x07"]}, ["body", "tags", 1], "\x07"),
        ({"linkedWorkflow": "wf\n2"}, ["body", "linkedWorkflow"], "\n"),
    ],
)
def test_a_new_runbook_refuses_control_characters(
    client: TestClient, db_session: Session, body: dict[str, Any], loc: list[Any], character: str
) -> None:
    response = client.post("/api/runbooks", json={**RUNBOOK, "id": "other", **body})
    _assert_refused(response, loc, character)
    assert count_rows(db_session, Runbook) == 0


def test_a_runbook_update_refuses_nul_and_keeps_the_runbook(arranged: TestClient) -> None:
    response = arranged.patch("/api/runbooks/restart", json={"description": "x\x00y"})
    _assert_refused(response, ["body", "description"], "\x00")
    assert arranged.get("/api/runbooks/restart").json()["runbook"]["description"] == "Rolling"


def test_a_description_keeps_tabs_and_newlines(client: TestClient) -> None:
    text = "Step 1:\trestart\r\nStep 2:\tcheck"
    response = client.post("/api/runbooks", json={**RUNBOOK, "description": text})
    assert response.status_code == 201
    assert client.get("/api/runbooks/restart").json()["runbook"]["description"] == text


def test_an_idempotency_key_with_nul_records_no_run(
    arranged: TestClient, db_session: Session
) -> None:
    response = arranged.post("/api/runbooks/restart/execute", json={"idempotencyKey": "k\x00"})
    _assert_refused(response, ["body", "idempotencyKey"], "\x00")
    assert count_rows(db_session, RunbookRun) == 0


def test_a_setting_value_refuses_nul_but_keeps_newlines(arranged: TestClient) -> None:
    response = arranged.put("/api/settings/theme", json={"value": "light\x00"})
    _assert_refused(response, ["body", "value"], "\x00")
    assert arranged.get("/api/settings/theme").json()["value"] == "dark"
    written = arranged.put("/api/settings/motd", json={"value": "line 1\nline 2\tend"})
    assert written.status_code == 200
    assert written.json()["value"] == "line 1\nline 2\tend"


def test_a_setting_nul_writes_nothing(client: TestClient, db_session: Session) -> None:
    response = client.put("/api/settings/motd", json={"value": "\x00"})
    _assert_refused(response, ["body", "value"], "\x00")
    assert count_rows(db_session, Setting) == 0


@pytest.mark.parametrize("character", ["\x00", "\t", "\x7f"])
def test_a_token_name_refuses_control_characters(
    client: TestClient, db_session: Session, character: str
) -> None:
    response = client.post("/api/tokens", json={"name": f"c{character}i", "scope": "read"})
    _assert_refused(response, ["body", "name"], character)
    assert count_rows(db_session, ApiToken) == 0
