"""Silence pages: active, upcoming and ended silences; creating one with matchers, a duration
or an end, and an optional weekly window; ending one early; "Maintenance…" from an agent or
miner page (operate, audited; refusals next to their field, nothing written)."""

import re
from collections.abc import Callable
from datetime import timedelta
from html import unescape
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.models import Silence
from tests.support.factories import count_rows
from tests.web.alerts_support import (
    CsrfOf,
    add_agent,
    at,
    audit_actions,
    clock,
    evaluate,
    hot_miner,
    operate_client,
    table_rows,
    temperature_rule,
)


@pytest.fixture
def operator(
    app: FastAPI, client: TestClient, token_for: Callable[[str], dict[str, str]]
) -> TestClient:
    """Signed in with an operate token, after the database was emptied (`client`)."""
    return operate_client(app, token_for)


def _post(client: TestClient, csrf_of: CsrfOf, path: str, **fields: Any) -> Any:
    return client.post(path, data={"csrf_token": csrf_of(client), **fields}, follow_redirects=False)


def _error(html: str, field: str) -> str:
    match = re.search(rf'id="{re.escape(field)}-error">(.*?)</p>', html, re.S)
    assert match, f"no error next to {field}"
    return unescape(match.group(1))


def _add(engine: Engine, silence_id: str, starts: float, ends: float, **fields: Any) -> None:
    """A silence from `starts` to `ends` hours after T0."""
    with Session(engine) as session:
        session.add(
            Silence(
                id=silence_id,
                matchers=fields.pop("matchers", {"subject": silence_id}),
                starts_at=at(hours=starts),
                ends_at=at(hours=ends),
                created_by="test",
                created_at=at(hours=min(starts, 0)),
                **fields,
            )
        )
        session.commit()


def _silences(session: Session) -> list[Silence]:
    session.expire_all()
    return list(session.exec(select(Silence)).all())


def _ids(html: str, group: str) -> list[str]:
    if f'id="silences-{group}"' not in html:
        return []
    return [
        re.search(r'data-silence-id="([^"]+)"', row).group(1)  # type: ignore[union-attr]
        for row in table_rows(html, f"silences-{group}")
    ]


def test_silences_are_listed_active_upcoming_and_ended(
    app: FastAPI, web_client: TestClient, engine: Engine
) -> None:
    _add(engine, "now", -1, 1)
    _add(engine, "later", 2, 3)
    _add(engine, "over", -3, -2)
    # A weekly window on Sundays only: within its span but outside its hours (T0 is a Monday).
    _add(
        engine,
        "sundays",
        -1,
        24 * 30,
        recurrence={"weekdays": [6], "start": "01:00", "end": "05:00"},
    )
    with clock(app, at()):
        page = web_client.get("/silences")
    assert page.status_code == 200
    assert _ids(page.text, "active") == ["now"]
    assert sorted(_ids(page.text, "upcoming")) == ["later", "sundays"]
    assert _ids(page.text, "ended") == ["over"]
    assert "Sun 01:00-05:00 UTC" in page.text
    assert 'id="silence-form"' in page.text  # admin may create


def test_a_duration_silence_is_created_and_audited(
    app: FastAPI, operator: TestClient, csrf_of: CsrfOf, db_session: Session
) -> None:
    with clock(app, at()):
        form = {"matchers.subjectType": "miner", "matchers.subject": "rig-1", "duration": "24",
                "comment": "new fans"}  # fmt: skip
        done = _post(operator, csrf_of, "/silences", **form)
    assert done.status_code == 303
    (silence,) = _silences(db_session)
    assert done.headers["location"] == f"/silences?created={silence.id}"
    assert silence.matchers == {"subjectType": "miner", "subject": "rig-1"}
    assert (silence.starts_at, silence.ends_at) == (at(), at() + timedelta(hours=24))
    assert (silence.comment, silence.created_by) == ("new fans", "test-operate")
    assert audit_actions(db_session)[-1] == "silence.create"


def test_a_weekly_maintenance_window_is_created(
    app: FastAPI, operator: TestClient, csrf_of: CsrfOf, db_session: Session
) -> None:
    with clock(app, at()):
        done = operator.post(
            "/silences",
            data={
                "csrf_token": csrf_of(operator),
                "matchers.domain": "ops",
                "matchers.ruleId": "",
                "startsAt": "2026-12-01T00:00",
                "duration": "",
                "endsAt": "2027-01-01T00:00",
                "recurrence.weekdays": ["5", "6"],
                "recurrence.start": "22:00",
                "recurrence.end": "02:00",
            },
            follow_redirects=False,
        )
    assert done.status_code == 303
    (silence,) = _silences(db_session)
    assert silence.matchers == {"domain": "ops"}
    assert silence.recurrence == {"weekdays": [5, 6], "start": "22:00", "end": "02:00"}
    assert silence.ends_at == at(hours=24 * 32 - 12)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({}, "matchers", "give at least one of ruleId, subjectType, subject, domain"),
        ({"matchers.subject": "rig 1"}, "matchers.subject", ""),
        ({"matchers.subject": "rig-1", "duration": "", "endsAt": ""}, "endsAt",
         "choose a duration"),
        ({"matchers.subject": "rig-1", "startsAt": "2020-01-01T00:00", "duration": "",
          "endsAt": "2020-01-02T00:00"}, "endsAt", "must be in the future"),
        ({"matchers.subject": "rig-1", "duration": "", "endsAt": "soon"}, "endsAt",
         "must be a date and time"),
        ({"matchers.subject": "rig-1", "startsAt": "2026-12-05T00:00", "duration": "",
          "endsAt": "2026-12-04T00:00"}, "endsAt", "later than startsAt"),
        ({"matchers.subject": "rig-1", "duration": "3"}, "duration", "choose one of"),
        ({"matchers.subject": "rig-1", "recurrence.weekdays": "9", "recurrence.start": "22:00",
          "recurrence.end": "02:00"}, "recurrence.weekdays", "less than or equal to 6"),
        ({"matchers.subject": "rig-1", "recurrence.weekdays": "1", "recurrence.start": "25:00",
          "recurrence.end": "02:00"}, "recurrence.start", "match pattern"),
    ],
)  # fmt: skip
def test_a_refused_silence_names_the_field_and_writes_nothing(
    app: FastAPI,
    operator: TestClient,
    csrf_of: CsrfOf,
    db_session: Session,
    fields: dict[str, str],
    field: str,
    message: str,
) -> None:
    with clock(app, at()):
        refused = _post(operator, csrf_of, "/silences", **{"duration": "4", **fields})
    assert refused.status_code == 422
    assert 'id="silence-errors"' in refused.text
    assert message in _error(refused.text, field)
    assert count_rows(db_session, Silence) == 0
    assert "silence.create" not in audit_actions(db_session)


def test_ending_a_silence_early_keeps_it_as_ended(
    app: FastAPI, operator: TestClient, csrf_of: CsrfOf, db_session: Session, engine: Engine
) -> None:
    _add(engine, "now", -1, 1)
    with clock(app, at(minutes=10)):
        done = _post(operator, csrf_of, "/silences/now/end")
        assert done.status_code == 303
        assert done.headers["location"] == "/silences?ended=now"
        page = operator.get(done.headers["location"]).text
        again = _post(operator, csrf_of, "/silences/now/end")
    assert _ids(page, "ended") == ["now"] and _ids(page, "active") == []
    assert "ended early by test-operate" in page
    (silence,) = _silences(db_session)
    assert (silence.ends_at, silence.ended_by) == (at(minutes=10), "test-operate")
    assert again.status_code == 409 and "already ended" in again.text
    assert audit_actions(db_session).count("silence.end") == 1
    assert _post(operator, csrf_of, "/silences/nope/end").status_code == 404


def test_the_form_is_filled_from_the_link_of_an_agent_or_miner(operator: TestClient) -> None:
    page = operator.get("/silences?subjectType=agent&subject=edge-1").text
    assert '<option value="agent" selected>' in page
    assert 'name="matchers.subject" type="text" value="edge-1"' in page


def test_maintenance_from_an_agent_page_returns_there_in_maintenance(
    app: FastAPI, operator: TestClient, csrf_of: CsrfOf, db_session: Session, engine: Engine
) -> None:
    add_agent(engine, "edge-1", seen=at(minutes=-1))
    form = {"matchers.subjectType": "agent", "matchers.subject": "edge-1", "duration": "4",
            "comment": "disk swap", "returnTo": "/agents/edge-1"}  # fmt: skip
    done = _post(operator, csrf_of, "/silences", **form)
    assert done.status_code == 303
    assert done.headers["location"] == "/agents/edge-1"
    page = operator.get("/agents/edge-1").text
    assert 'id="subject-alerts" data-health="maintenance"' in page
    assert "Under maintenance until" in page and "disk swap" in page
    # Ending it from the agent page comes back there too.
    (silence,) = _silences(db_session)
    ended = _post(operator, csrf_of, f"/silences/{silence.id}/end", returnTo="/agents/edge-1")
    assert ended.headers["location"] == "/agents/edge-1"
    assert "Under maintenance until" not in operator.get("/agents/edge-1").text


def test_maintenance_puts_a_firing_miner_out_of_the_problems(
    app: FastAPI, operator: TestClient, csrf_of: CsrfOf, engine: Engine
) -> None:
    temperature_rule(engine)
    hot_miner(engine, "rig-1", 95, at(minutes=-1))
    evaluate(engine, at())
    assert 'data-subject="rig-1"' in operator.get("/miners").text.split('id="miner-problems"')[1]
    form = {"matchers.subjectType": "miner", "matchers.subject": "rig-1", "duration": "1",
            "returnTo": "/miners/rig-1"}  # fmt: skip
    assert _post(operator, csrf_of, "/silences", **form).status_code == 303
    fleet = operator.get("/miners").text
    assert 'id="no-miner-problems"' in fleet
    assert 'data-health="maintenance"' in fleet.split('data-miner-id="rig-1"', 1)[1]


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "javascript:x"])
def test_a_return_address_off_this_site_is_ignored(
    operator: TestClient, csrf_of: CsrfOf, target: str
) -> None:
    form = {"matchers.subject": "rig-1", "duration": "1", "returnTo": target}
    done = _post(operator, csrf_of, "/silences", **form)
    assert done.status_code == 303
    assert done.headers["location"].startswith("/silences?created=")


def test_a_read_session_sees_silences_but_cannot_make_or_end_them(
    read_web_client: TestClient, csrf_of: CsrfOf, db_session: Session, engine: Engine
) -> None:
    _add(engine, "now", -1, 1000)
    page = read_web_client.get("/silences").text
    assert 'data-silence-id="now"' in page
    assert 'id="silence-form"' not in page and "End now" not in page
    assert "read-only" in page
    form = {"matchers.subject": "rig-1", "duration": "1"}
    assert _post(read_web_client, csrf_of, "/silences", **form).status_code == 403
    assert _post(read_web_client, csrf_of, "/silences/now/end").status_code == 403
    (silence,) = _silences(db_session)
    assert silence.ended_at is None


def test_silence_forms_without_the_csrf_token_are_refused(
    operator: TestClient, db_session: Session, engine: Engine
) -> None:
    _add(engine, "now", -1, 1000)
    create = operator.post("/silences", data={"matchers.subject": "rig-1", "duration": "1"})
    assert create.status_code == 403
    assert operator.post("/silences/now/end").status_code == 403
    (silence,) = _silences(db_session)
    assert silence.ended_at is None
