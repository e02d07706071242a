"""The runbook page never fetches, loops on or crashes over a stored inputsSchema."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from app.models import Runbook, RunbookRun
from tests.support.counting_server import SECRET, CountingServer, counting_server

CsrfOf = Callable[[TestClient], str]
URL = "/runbooks/stored/execute"


@pytest.fixture
def internal() -> Iterator[CountingServer]:
    with counting_server() as server:
        yield server


def _store(session: Session, schema: dict[str, Any]) -> None:
    session.add(Runbook(id="stored", title="Stored", inputs_schema=schema))
    session.commit()


def _run_count(session: Session) -> int:
    session.expire_all()
    return session.exec(select(func.count()).select_from(RunbookRun)).one()


def test_a_stored_remote_reference_is_shown_and_refused_never_fetched(
    web_client: TestClient, csrf_of: CsrfOf, db_session: Session, internal: CountingServer
) -> None:
    _store(db_session, {"properties": {"service": {"$ref": f"{internal.url}/internal"}}})
    page = web_client.get("/runbooks/stored")
    assert page.status_code == 200
    assert "input schema is fixed" in page.text
    response = web_client.post(
        URL,
        data={"csrf_token": csrf_of(web_client), "input.service": "{}"},
        follow_redirects=False,
    )
    assert response.status_code == 409
    assert "does not resolve inside the schema" in response.text
    assert SECRET not in response.text
    assert internal.hits == 0
    assert _run_count(db_session) == 0


def test_a_stored_reference_loop_is_refused_not_a_500(
    web_client: TestClient, csrf_of: CsrfOf, db_session: Session
) -> None:
    _store(db_session, {"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"})
    assert "endless loop" in web_client.get("/runbooks/stored").text
    response = web_client.post(URL, data={"csrf_token": csrf_of(web_client)})
    assert response.status_code == 409
    assert _run_count(db_session) == 0


def test_a_stored_lone_surrogate_is_shown_escaped_and_refused(
    web_client: TestClient, csrf_of: CsrfOf, db_session: Session
) -> None:
    _store(db_session, {"properties": {"s": {"type": "string", "title": "S\ud800"}}})
    page = web_client.get("/runbooks/stored")
    assert page.status_code == 200
    assert "S\\\\ud800" in page.text  # the escape, shown in the JSON of the schema
    assert "lone surrogate" in page.text
    response = web_client.post(URL, data={"csrf_token": csrf_of(web_client), "input.s": "x"})
    assert response.status_code == 409
    assert _run_count(db_session) == 0
