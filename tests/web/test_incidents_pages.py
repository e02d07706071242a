"""Incident pages: the history with filters and keyset pages; one incident with its timeline,
and acknowledge, run the rule's runbook filled for the subject, silence the subject (operate),
each audited, refused with the page's reason, never written on a refusal."""

from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.alerts.pages import incidents as incident_pages
from app.models import Incident, IncidentEvent, Runbook, RunbookRun, Silence
from tests.support.factories import count_rows
from tests.web.alerts_support import (
    CsrfOf,
    at,
    attribute_values,
    audit_actions,
    clock,
    evaluate,
    firing_incident,
    hot_miner,
    operate_client,
    table_rows,
    temperature_rule,
)
from tests.web.conftest import HX

SCHEMA = {
    "type": "object",
    "required": ["miner"],
    "properties": {"miner": {"type": "string"}, "fan": {"type": "integer", "default": 80}},
}


@pytest.fixture
def operator(
    app: FastAPI, client: TestClient, token_for: Callable[[str], dict[str, str]]
) -> TestClient:
    """Signed in with an operate token, after the database was emptied (`client`)."""
    return operate_client(app, token_for)


@pytest.fixture
def incident(web_client: TestClient, engine: Engine) -> Incident:
    """rig-1 too hot: an open incident the evaluator opened at T0."""
    return firing_incident(engine, "rig-1", name="Rig too hot")


def _timeline(engine: Engine, incident_id: int) -> list[tuple[str, dict[str, object]]]:
    with Session(engine) as session:
        rows = session.exec(
            select(IncidentEvent)
            .where(col(IncidentEvent.incident_id) == incident_id)
            .order_by(col(IncidentEvent.at), col(IncidentEvent.id))
        ).all()
        return [(row.type, row.detail) for row in rows]


# --- the history ---------------------------------------------------------------------------


@pytest.fixture
def history(web_client: TestClient, engine: Engine) -> Engine:
    """Three incidents: rig-a critical (resolved), rig-b critical (open), rig-c warning (open),
    started at T0 - 2 h, T0 - 1 h and T0."""
    temperature_rule(engine, "rig-hot", name="Rig too hot")
    temperature_rule(engine, "rig-warm", name="Rig warm", severity="warning", params={"aboveC": 80})
    hot_miner(engine, "rig-a", 95, at(hours=-2))
    evaluate(engine, at(hours=-2))
    hot_miner(engine, "rig-a", 50, at(hours=-1, minutes=-30))
    hot_miner(engine, "rig-b", 95, at(hours=-1))
    evaluate(engine, at(hours=-1))
    hot_miner(engine, "rig-c", 85, at())
    evaluate(engine, at())
    return engine


def _listed(html: str) -> list[tuple[str, str]]:
    """(rule name, subject) of the incident rows, in order."""
    rows = table_rows(html, "incidents-table")
    found = []
    for row in rows:
        if "data-id" not in row:
            continue
        rule = "Rig warm" if "Rig warm" in row else "Rig too hot"
        subject = next(s for s in ("rig-a", "rig-b", "rig-c") if f">{s}</a>" in row)
        found.append((rule, subject))
    return found


def test_the_history_lists_incidents_newest_first(web_client: TestClient, history: Engine) -> None:
    page = web_client.get("/incidents")
    assert page.status_code == 200
    # rig-a fired twice (hot and warm), resolved both; rig-b too; rig-c only warm.
    assert _listed(page.text) == [
        ("Rig warm", "rig-c"),
        ("Rig warm", "rig-b"),
        ("Rig too hot", "rig-b"),
        ("Rig warm", "rig-a"),
        ("Rig too hot", "rig-a"),
    ]
    assert "Resolved" in table_rows(page.text, "incidents-table")[-1]
    assert 'href="/api/export/incidents.csv"' in page.text


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("state=open", {("Rig warm", "rig-c"), ("Rig warm", "rig-b"), ("Rig too hot", "rig-b")}),
        ("state=resolved", {("Rig warm", "rig-a"), ("Rig too hot", "rig-a")}),
        ("ruleId=rig-hot", {("Rig too hot", "rig-b"), ("Rig too hot", "rig-a")}),
        ("subject=rig-b", {("Rig warm", "rig-b"), ("Rig too hot", "rig-b")}),
        ("severity=critical", {("Rig too hot", "rig-b"), ("Rig too hot", "rig-a")}),
        ("since=2026-11-30T11:30", {("Rig warm", "rig-c")}),
        ("until=2026-11-30T11:30", {("Rig warm", "rig-a"), ("Rig too hot", "rig-a"),
                                    ("Rig warm", "rig-b"), ("Rig too hot", "rig-b")}),
    ],
)  # fmt: skip
def test_filters_narrow_the_history(
    web_client: TestClient, history: Engine, query: str, expected: set[tuple[str, str]]
) -> None:
    page = web_client.get(f"/incidents?{query}")
    assert page.status_code == 200
    assert set(_listed(page.text)) == expected
    export = page.text.split('href="/api/export/incidents.csv', 1)[1].split('"', 1)[0]
    assert export.startswith("?")  # the export link keeps the filter


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("state=closed", "state", "Choose one of all, open, resolved"),
        ("severity=urgent", "severity", "Choose one of info, warning, critical"),
        ("since=yesterday-ish", "since", "must be a date and time"),
        ("since=2026-11-30T12:00&until=2026-11-30T11:00", "until", "must be later than since"),
        ("cursor=not-a-cursor", "cursor", "not a cursor"),
    ],
)
def test_bad_filters_are_named_on_the_page(
    web_client: TestClient, history: Engine, query: str, field: str, message: str
) -> None:
    page = web_client.get(f"/incidents?{query}")
    assert page.status_code == 422
    assert message in page.text
    if field != "cursor":
        assert f'id="{field}-error"' in page.text
    assert _listed(page.text) == []


def test_keyset_pages_follow_until_the_last(
    web_client: TestClient, history: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(incident_pages, "PAGE_SIZE", 2)
    seen: list[tuple[str, str]] = []
    url = "/incidents?state=all"
    for _ in range(5):
        page = web_client.get(url).text
        seen += _listed(page)
        links = [href for href in attribute_values(page, "href") if "cursor=" in href]
        if not links:
            break
        url = links[0].replace("&amp;", "&")
    assert len(seen) == 5 and len(set(seen)) == 5
    assert seen[0] == ("Rig warm", "rig-c")


def test_htmx_filtering_gets_only_the_results(web_client: TestClient, history: Engine) -> None:
    region = web_client.get(
        "/incidents?state=open", headers={**HX, "HX-Target": "incidents-results"}
    ).text
    assert region.lstrip().startswith('<div id="incidents-results">')
    assert "<title>" not in region
    assert len(_listed(region)) == 3


# --- one incident --------------------------------------------------------------------------


def test_an_incident_shows_what_fired_and_its_timeline(
    app: FastAPI, web_client: TestClient, incident: Incident
) -> None:
    page = web_client.get(f"/incidents/{incident.id}")
    assert page.status_code == 200
    html = page.text
    assert f"Incident #{incident.id}: Rig too hot" in html
    assert 'data-state="open"' in html
    assert 'href="/miners/rig-1"' in html and 'href="/alerts/rules/rig-hot"' in html
    timeline = html.split('id="incident-timeline"', 1)[1].split("</ul>", 1)[0]
    assert attribute_values(timeline, "data-type") == ["fired"]
    assert 'id="ack-form"' in html and 'id="silence-form"' in html  # admin may act


def test_a_read_session_sees_the_incident_and_no_action(
    read_web_client: TestClient, incident: Incident
) -> None:
    html = read_web_client.get(f"/incidents/{incident.id}").text
    assert 'id="incident-timeline"' in html
    assert 'id="ack-form"' not in html and 'id="silence-form"' not in html
    assert 'method="post"' not in html.split('id="main"', 1)[1]
    assert "read-only" in html


def test_an_unknown_incident_is_a_404_page(web_client: TestClient) -> None:
    for incident_id in ("999", "abc", "0", "99999999999999999999"):
        page = web_client.get(f"/incidents/{incident_id}")
        assert page.status_code == 404, incident_id
        assert "Incident not found" in page.text


def test_acknowledging_records_who_and_when_and_is_audited(
    app: FastAPI,
    operator: TestClient,
    csrf_of: CsrfOf,
    db_session: Session,
    engine: Engine,
    incident: Incident,
) -> None:
    with clock(app, at(minutes=5)):
        done = operator.post(
            f"/incidents/{incident.id}/ack",
            data={"csrf_token": csrf_of(operator)},
            follow_redirects=False,
        )
        assert done.status_code == 303
        assert done.headers["location"] == f"/incidents/{incident.id}?done=acknowledged"
        page = operator.get(done.headers["location"]).text
    assert "Acknowledged by test-operate" in page
    assert 'data-state="acknowledged"' in page
    assert 'id="ack-form"' not in page
    assert _timeline(engine, incident.id or 0)[-1] == ("acknowledged", {"by": "test-operate"})
    db_session.expire_all()
    stored = db_session.get(Incident, incident.id)
    assert stored is not None and stored.acknowledged_by == "test-operate"
    assert stored.acknowledged_at == at(minutes=5)
    assert audit_actions(db_session)[-1] == "incident.ack"


def test_acknowledging_twice_is_a_409_page_saying_by_whom(
    app: FastAPI, operator: TestClient, csrf_of: CsrfOf, engine: Engine, incident: Incident
) -> None:
    form = {"csrf_token": csrf_of(operator)}
    assert operator.post(f"/incidents/{incident.id}/ack", data=form).status_code == 200
    again = operator.post(f"/incidents/{incident.id}/ack", data=form, headers=HX)
    assert again.status_code == 409
    assert "already acknowledged by test-operate" in again.text
    assert [kind for kind, _ in _timeline(engine, incident.id or 0)].count("acknowledged") == 1


def test_a_read_session_cannot_acknowledge(
    read_web_client: TestClient, csrf_of: CsrfOf, db_session: Session, incident: Incident
) -> None:
    refused = read_web_client.post(
        f"/incidents/{incident.id}/ack", data={"csrf_token": csrf_of(read_web_client)}
    )
    assert refused.status_code == 403
    db_session.expire_all()
    stored = db_session.get(Incident, incident.id)
    assert stored is not None and stored.acknowledged_at is None
    assert "incident.ack" not in audit_actions(db_session)


def test_actions_without_the_csrf_token_are_refused(
    operator: TestClient, db_session: Session, incident: Incident
) -> None:
    for action, data in (("ack", {}), ("silence", {"hours": "1"})):
        refused = operator.post(f"/incidents/{incident.id}/{action}", data=data)
        assert refused.status_code == 403, action
    assert count_rows(db_session, Silence) == 0
    db_session.expire_all()
    stored = db_session.get(Incident, incident.id)
    assert stored is not None and stored.acknowledged_at is None


# --- the rule's runbook --------------------------------------------------------------------


@pytest.fixture
def with_runbook(web_client: TestClient, engine: Engine) -> Incident:
    with Session(engine) as session:
        session.add(Runbook(id="cool-rig", title="Cool the rig", inputs_schema=SCHEMA))
        session.commit()
    return firing_incident(
        engine,
        "rig-7",
        runbook_id="cool-rig",
        runbook_input={"miner": "{subject}", "fan": 100},
    )


def test_the_runbook_form_is_filled_for_the_subject(
    operator: TestClient, with_runbook: Incident
) -> None:
    page = operator.get(f"/incidents/{with_runbook.id}").text
    form = page.split('id="run-form"', 1)[1].split("</form>", 1)[0]
    assert 'name="input.miner"' in form and 'value="rig-7"' in form
    assert 'name="input.fan"' in form and 'value="100"' in form
    assert "Run Cool the rig" in form


def test_running_the_runbook_records_the_run_on_the_timeline(
    app: FastAPI,
    operator: TestClient,
    csrf_of: CsrfOf,
    db_session: Session,
    engine: Engine,
    with_runbook: Incident,
) -> None:
    form = {"csrf_token": csrf_of(operator), "input.miner": "rig-7", "input.fan": "90"}
    with clock(app, at(minutes=3)):
        done = operator.post(f"/incidents/{with_runbook.id}/run", data=form, follow_redirects=False)
    assert done.status_code == 303
    run_id = done.headers["location"].split("run=", 1)[1]
    db_session.expire_all()
    run = db_session.exec(select(RunbookRun)).one()
    assert run.id == run_id and run.input == {"miner": "rig-7", "fan": 90}
    assert run.requested_by == "test-operate"
    kind, detail = _timeline(engine, with_runbook.id or 0)[-1]
    assert kind == "runbook_run"
    assert detail == {"runId": run_id, "runbookId": "cool-rig", "by": "test-operate"}
    page = operator.get(done.headers["location"]).text
    assert f'data-run-id="{run_id}"' in page
    assert run_id in page.split('id="incident-timeline"', 1)[1]
    assert "runbook.execute" in audit_actions(db_session)


def test_a_run_with_bad_input_is_refused_next_to_its_field(
    operator: TestClient, csrf_of: CsrfOf, db_session: Session, with_runbook: Incident
) -> None:
    form = {"csrf_token": csrf_of(operator), "input.miner": "", "input.fan": "lots"}
    refused = operator.post(f"/incidents/{with_runbook.id}/run", data=form)
    assert refused.status_code == 422
    assert 'id="run-errors"' in refused.text
    run_form = refused.text.split('id="run-form"', 1)[1].split("</form>", 1)[0]
    assert run_form.count('aria-invalid="true"') == 2
    assert 'value="lots"' in run_form  # what was typed is shown again
    assert count_rows(db_session, RunbookRun) == 0


def test_an_incident_without_a_runbook_offers_none(
    operator: TestClient, csrf_of: CsrfOf, db_session: Session, incident: Incident
) -> None:
    page = operator.get(f"/incidents/{incident.id}").text
    assert 'id="run-form"' not in page and "The rule names no runbook." in page
    refused = operator.post(f"/incidents/{incident.id}/run", data={"csrf_token": csrf_of(operator)})
    assert refused.status_code == 409
    assert count_rows(db_session, RunbookRun) == 0


# --- silencing the subject -----------------------------------------------------------------


@pytest.mark.parametrize(("hours", "span"), [("1", 1), ("4", 4), ("24", 24)])
def test_silencing_the_subject_for_a_while(
    app: FastAPI,
    operator: TestClient,
    csrf_of: CsrfOf,
    db_session: Session,
    incident: Incident,
    hours: str,
    span: int,
) -> None:
    with clock(app, at(minutes=2)):
        done = operator.post(
            f"/incidents/{incident.id}/silence",
            data={"csrf_token": csrf_of(operator), "hours": hours},
            follow_redirects=False,
        )
    assert done.status_code == 303
    silence = db_session.exec(select(Silence)).one()
    assert done.headers["location"] == f"/incidents/{incident.id}?silenced={silence.id}"
    assert silence.matchers == {"subjectType": "miner", "subject": "rig-1"}
    assert silence.starts_at == at(minutes=2)
    assert silence.ends_at == at(minutes=2) + timedelta(hours=span)
    assert silence.created_by == "test-operate"
    assert audit_actions(db_session)[-1] == "silence.create"
    page = operator.get(done.headers["location"]).text
    assert f"silence {silence.id}" in page


def test_silencing_for_another_span_is_refused(
    operator: TestClient, csrf_of: CsrfOf, db_session: Session, incident: Incident
) -> None:
    refused = operator.post(
        f"/incidents/{incident.id}/silence", data={"csrf_token": csrf_of(operator), "hours": "9"}
    )
    assert refused.status_code == 422
    assert "hours: choose one of 1, 4, 24" in refused.text
    assert count_rows(db_session, Silence) == 0


def test_a_read_session_cannot_silence(
    read_web_client: TestClient, csrf_of: CsrfOf, db_session: Session, incident: Incident
) -> None:
    refused = read_web_client.post(
        f"/incidents/{incident.id}/silence",
        data={"csrf_token": csrf_of(read_web_client), "hours": "1"},
    )
    assert refused.status_code == 403
    assert count_rows(db_session, Silence) == 0
