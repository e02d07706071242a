"""Rule pages: the list, a form per kind with its parameters and their defaults, create,
edit and delete (admin, audited); refusals shown next to their field with nothing written."""

import re
from collections.abc import Callable
from html import unescape
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from app.models import AlertRule, Channel, Incident
from tests.support.factories import count_rows
from tests.web.alerts_support import (
    T0,
    CsrfOf,
    add_rule,
    audit_actions,
    firing_incident,
    operate_client,
    table_rows,
)


def _field(html: str, name: str) -> str:
    """The form control named `name` with what follows it up to the next control."""
    start = html.index(f'name="{name}"')
    return html[html.rfind("<", 0, start) : html.find('name="', start + len(name) + 7)]


def _error(html: str, field: str) -> str:
    """The error shown next to the control of `field` (its id is FIELD-error)."""
    match = re.search(rf'id="{re.escape(field)}-error">(.*?)</p>', html, re.S)
    assert match, f"no error next to {field}"
    return unescape(match.group(1))


def _post(client: TestClient, csrf_of: CsrfOf, path: str, **fields: Any) -> Any:
    return client.post(path, data={"csrf_token": csrf_of(client), **fields}, follow_redirects=False)


def _rule(session: Session, rule_id: str) -> AlertRule | None:
    session.expire_all()
    return session.get(AlertRule, rule_id)


def test_the_list_shows_every_rule_and_admins_pick_a_kind(
    web_client: TestClient, engine: Engine
) -> None:
    add_rule(engine, "rig-hot", "miner_temperature", name="Rig too hot", params={"aboveC": 90})
    add_rule(engine, "edge-down", "agent_offline", name="Edge down", enabled=False)
    page = web_client.get("/alerts/rules").text
    rows = table_rows(page, "rules-table")
    assert ['data-rule-id="edge-down"' in rows[0], 'data-rule-id="rig-hot"' in rows[1]] == [
        True,
        True,
    ]
    assert "Disabled" in rows[0] and "Enabled" in rows[1]
    for kind in ("agent_offline", "miner_temperature", "fleet_drift"):
        assert f'href="/alerts/rules?kind={kind}#new-rule"' in page


def test_each_kind_gets_its_parameters_with_their_defaults(web_client: TestClient) -> None:
    temperature = web_client.get("/alerts/rules?kind=miner_temperature").text
    above = _field(temperature, "params.aboveC")
    assert 'type="number"' in above and 'placeholder="85"' in above
    assert 'min="-50"' in above and 'max="150"' in above
    assert "Empty: 85 (the default)." in temperature
    assert 'name="targetKind"' in temperature and '<option value="miners"' in temperature
    offline = web_client.get("/alerts/rules?kind=agent_offline").text
    assert "PRISM_AGENT_OFFLINE_AFTER" in offline
    assert '<option value="domains"' in offline and '<option value="miners"' not in offline
    status = web_client.get("/alerts/rules?kind=agent_status").text
    assert 'name="params.statuses" value="degraded" checked' in status
    assert 'name="params.statuses" value="offline">' in status


def test_an_unknown_kind_is_named(web_client: TestClient) -> None:
    page = web_client.get("/alerts/rules?kind=moon_phase")
    assert page.status_code == 422
    assert "kind: choose one of agent_offline" in page.text


def test_creating_a_rule_stores_it_as_the_api_would_and_audits_it(
    web_client: TestClient, csrf_of: CsrfOf, db_session: Session, engine: Engine
) -> None:
    with Session(engine) as session:
        session.add(Channel(id="ops", name="Ops", url="json://127.0.0.1:9/x", created_at=T0,
                            updated_at=T0))  # fmt: skip
        session.commit()
    done = _post(
        web_client, csrf_of, "/alerts/rules",
        kind="miner_temperature", id="rig-hot", name="Rig too hot", severity="warning",
        **{"params.aboveC": "82.5"}, forSeconds="60", repeatMinutes="30", channels="ops",
        targetKind="miners", targetIds="rig-1\nrig-2, rig-3", enabled="on",
        runbookInput='{"miner": "{subject}"}',
    )  # fmt: skip
    assert done.status_code == 303
    assert done.headers["location"] == "/alerts/rules?created=rig-hot"
    rule = _rule(db_session, "rig-hot")
    assert rule is not None
    assert (rule.kind, rule.severity, rule.params) == (
        "miner_temperature",
        "warning",
        {"aboveC": 82.5},
    )
    assert (rule.for_seconds, rule.repeat_minutes, rule.channels) == (60, 30, ["ops"])
    assert rule.target == {"miners": ["rig-1", "rig-2", "rig-3"]}
    assert rule.runbook_input == {"miner": "{subject}"} and rule.enabled
    assert audit_actions(db_session)[-1] == "alert_rule.create"
    assert "Rule <a" in web_client.get(done.headers["location"]).text


def test_parameters_left_empty_keep_their_default(
    web_client: TestClient, csrf_of: CsrfOf, db_session: Session
) -> None:
    done = _post(web_client, csrf_of, "/alerts/rules", kind="agent_offline", name="Edge down",
                 severity="critical", targetKind="all")  # fmt: skip
    assert done.status_code == 303
    rule = _rule(db_session, done.headers["location"].split("created=", 1)[1])
    assert rule is not None
    assert rule.params == {} and rule.target == {} and not rule.enabled  # box left unchecked
    assert rule.id.startswith("edge-down-")


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"params.aboveC": "500"}, "params.aboveC", "less than or equal to 150"),
        ({"params.aboveC": "hot"}, "params.aboveC", "must be a number"),
        ({"forSeconds": "-5"}, "forSeconds", "greater than or equal to 0"),
        ({"forSeconds": "1.5"}, "forSeconds", "valid integer"),
        ({"channels": "nope"}, "channels", "unknown channel nope"),
        ({"runbookId": "missing"}, "runbookId", "unknown runbook missing"),
        ({"runbookInput": "{not json"}, "runbookInput", "must be a JSON object"),
        ({"runbookInput": "[1, 2]"}, "runbookInput", "valid dictionary"),
        ({"targetKind": "agents", "targetIds": "edge-1"}, "target", "rule judges miners"),
        ({"targetKind": "miners", "targetIds": ""}, "target", "at least 1 item"),
        ({"name": ""}, "name", "at least 1 character"),
        ({"severity": "urgent"}, "severity", "'info', 'warning' or 'critical'"),
        ({"id": "has space"}, "id", ""),
    ],
)
def test_a_refused_rule_names_the_field_and_writes_nothing(
    web_client: TestClient,
    csrf_of: CsrfOf,
    db_session: Session,
    fields: dict[str, str],
    field: str,
    message: str,
) -> None:
    form = {"kind": "miner_temperature", "name": "Rig too hot", "severity": "critical",
            "targetKind": "all", "enabled": "on", **fields}  # fmt: skip
    refused = _post(web_client, csrf_of, "/alerts/rules", **form)
    assert refused.status_code == 422
    html = refused.text
    assert 'id="rule-errors"' in html
    assert message in _error(html, field)
    assert count_rows(db_session, AlertRule) == 0
    assert "alert_rule.create" not in audit_actions(db_session)
    # What was typed comes back in the form.
    if fields.get("params.aboveC"):
        assert f'value="{fields["params.aboveC"]}"' in _field(html, "params.aboveC")


def test_a_taken_id_is_named(
    web_client: TestClient, csrf_of: CsrfOf, db_session: Session, engine: Engine
) -> None:
    add_rule(engine, "rig-hot", "miner_temperature")
    refused = _post(web_client, csrf_of, "/alerts/rules", kind="miner_temperature", id="rig-hot",
                    name="Again", severity="critical")  # fmt: skip
    assert refused.status_code == 422
    assert "already exists" in _error(refused.text, "id")
    assert count_rows(db_session, AlertRule) == 1


def test_editing_a_rule_replaces_it_and_keeps_its_kind(
    web_client: TestClient, csrf_of: CsrfOf, db_session: Session, engine: Engine
) -> None:
    add_rule(engine, "rig-hot", "miner_temperature", name="Rig too hot",
             params={"aboveC": 90}, target={"miners": ["rig-1"]})  # fmt: skip
    form = web_client.get("/alerts/rules/rig-hot").text
    assert 'value="90"' in _field(form, "params.aboveC")
    assert "rig-1</textarea>" in form
    done = _post(web_client, csrf_of, "/alerts/rules/rig-hot", kind="agent_offline",
                 name="Rig very hot", severity="critical", **{"params.aboveC": "95"},
                 targetKind="all", enabled="on")  # fmt: skip
    assert done.status_code == 303
    assert done.headers["location"] == "/alerts/rules/rig-hot?saved=1"
    rule = _rule(db_session, "rig-hot")
    assert rule is not None
    assert (rule.kind, rule.name, rule.params, rule.target) == (
        "miner_temperature", "Rig very hot", {"aboveC": 95}, {},
    )  # fmt: skip
    assert audit_actions(db_session)[-1] == "alert_rule.update"
    assert "Saved" in web_client.get(done.headers["location"]).text


def test_a_refused_edit_changes_nothing(
    web_client: TestClient, csrf_of: CsrfOf, db_session: Session, engine: Engine
) -> None:
    add_rule(engine, "rig-hot", "miner_temperature", name="Rig too hot", params={"aboveC": 90})
    refused = _post(web_client, csrf_of, "/alerts/rules/rig-hot", name="Rig too hot",
                    severity="critical", **{"params.aboveC": "-99"}, enabled="on")  # fmt: skip
    assert refused.status_code == 422
    assert "greater than or equal to -50" in _error(refused.text, "params.aboveC")
    rule = _rule(db_session, "rig-hot")
    assert rule is not None and rule.params == {"aboveC": 90}


def test_deleting_a_rule_asks_first_and_keeps_its_incidents(
    web_client: TestClient, csrf_of: CsrfOf, db_session: Session, engine: Engine
) -> None:
    incident = firing_incident(engine, "rig-1")
    confirm = web_client.get("/alerts/rules/rig-hot/delete")
    assert confirm.status_code == 200 and "Delete rule" in confirm.text
    done = _post(web_client, csrf_of, "/alerts/rules/rig-hot/delete")
    assert done.status_code == 303
    assert done.headers["location"] == "/alerts/rules?deleted=rig-hot"
    assert _rule(db_session, "rig-hot") is None
    db_session.expire_all()
    kept = db_session.get(Incident, incident.id)
    assert kept is not None and kept.resolved_at is not None
    assert audit_actions(db_session)[-1] == "alert_rule.delete"
    # The incident page says its rule is gone rather than linking to nothing.
    assert "(rule deleted)" in web_client.get(f"/incidents/{incident.id}").text


def test_an_unknown_rule_is_a_404_page(web_client: TestClient, csrf_of: CsrfOf) -> None:
    assert web_client.get("/alerts/rules/nope").status_code == 404
    assert _post(web_client, csrf_of, "/alerts/rules/nope", name="x").status_code == 404
    assert _post(web_client, csrf_of, "/alerts/rules/nope/delete").status_code == 404


def test_read_and_operate_sessions_see_rules_but_no_form(
    app: FastAPI,
    read_web_client: TestClient,
    token_for: Callable[[str], dict[str, str]],
    csrf_of: CsrfOf,
    engine: Engine,
    db_session: Session,
) -> None:
    add_rule(engine, "rig-hot", "miner_temperature", name="Rig too hot")
    for browser in (read_web_client, operate_client(app, token_for)):
        listing = browser.get("/alerts/rules?kind=miner_temperature").text
        assert 'data-rule-id="rig-hot"' in listing
        assert 'id="rule-form"' not in listing and "?kind=agent_offline" not in listing
        detail = browser.get("/alerts/rules/rig-hot").text
        assert 'id="rule-facts"' in detail and 'id="rule-form"' not in detail
        assert "Delete…" not in detail
        for path in ("/alerts/rules", "/alerts/rules/rig-hot", "/alerts/rules/rig-hot/delete"):
            refused = _post(browser, csrf_of, path, kind="agent_offline", name="x",
                            severity="critical")  # fmt: skip
            assert refused.status_code == 403, path
        assert browser.get("/alerts/rules/rig-hot/delete").status_code == 403
    rule = _rule(db_session, "rig-hot")
    assert rule is not None and count_rows(db_session, AlertRule) == 1


def test_rule_forms_without_the_csrf_token_are_refused(
    web_client: TestClient, db_session: Session, engine: Engine
) -> None:
    add_rule(engine, "rig-hot", "miner_temperature")
    form = {"kind": "agent_offline", "name": "x", "severity": "critical"}
    for path in ("/alerts/rules", "/alerts/rules/rig-hot", "/alerts/rules/rig-hot/delete"):
        assert web_client.post(path, data=form).status_code == 403, path
    assert count_rows(db_session, AlertRule) == 1


def test_an_operate_session_is_told_its_scope_not_that_it_is_read_only(
    app: FastAPI, token_for: Callable[[str], dict[str, str]], csrf_of: CsrfOf
) -> None:
    browser = operate_client(app, token_for)
    page = browser.get("/alerts/rules").text
    assert "Your token&#39;s scope is operate" in page or "Your token's scope is operate" in page
    assert "read-only" not in page
    refused = _post(browser, csrf_of, "/alerts/rules", kind="agent_offline", name="x",
                    severity="critical")  # fmt: skip
    assert refused.status_code == 403
    assert "read-only" not in refused.text
    assert "(operate) does not allow this change" in refused.text
