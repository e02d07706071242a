"""Rows, clocks and sessions for the alerts page tests.

Incidents and states are made by the evaluator itself (evaluate_once at an injected `now`),
from rules and samples placed at fixed times, so the pages show what a real cycle leaves.
The alerts pages read their clock from app.alerts.deps.get_clock, overridden to the same time.
"""

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.alerts.deps import get_clock
from app.alerts.evaluator import EvaluationReport, evaluate_once
from app.models import AuditEvent, Incident
from tests.services.alert_fixtures import SETTINGS, T0, add_agent, add_rule, add_samples, at
from tests.web.conftest import sign_in

__all__ = ["T0", "add_agent", "add_rule", "add_samples", "at"]

CsrfOf = Callable[[TestClient], str]


@contextmanager
def clock(app: FastAPI, now: datetime) -> Iterator[None]:
    """The alerts pages' "now" is `now` within the block."""
    app.dependency_overrides[get_clock] = lambda: lambda: now
    try:
        yield
    finally:
        app.dependency_overrides.pop(get_clock, None)


def evaluate(engine: Engine, now: datetime) -> EvaluationReport:
    """One evaluation cycle at `now`."""
    return evaluate_once(engine, SETTINGS, now=now)


def hot_miner(engine: Engine, miner_id: str, temperature: float, when: datetime) -> None:
    """A miner whose newest sample (at `when`) reports `temperature` °C."""
    add_samples(engine, miner_id, (when, {"temperature_c": temperature, "hashrate_1m": 1e6}))


def temperature_rule(engine: Engine, rule_id: str = "rig-hot", **fields: Any) -> None:
    """A critical miner_temperature rule (at or above 90 °C unless told otherwise)."""
    fields.setdefault("params", {"aboveC": 90})
    add_rule(engine, rule_id, "miner_temperature", **fields)


def firing_incident(engine: Engine, miner_id: str = "rig-1", **rule: Any) -> Incident:
    """A rule firing for one hot miner: the incident the evaluator opened at T0."""
    temperature_rule(engine, **rule)
    hot_miner(engine, miner_id, 95, at(minutes=-1))
    evaluate(engine, at())
    with Session(engine) as session:
        incident = session.exec(select(Incident).where(col(Incident.subject) == miner_id)).one()
    return incident


def operate_client(app: FastAPI, token_for: Callable[[str], dict[str, str]]) -> TestClient:
    """A browser session signed in with an operate token (named test-operate)."""
    token = token_for("operate")["Authorization"].removeprefix("Bearer ")
    return sign_in(TestClient(app), token)


def audit_actions(session: Session) -> list[str]:
    session.expire_all()
    return [row.action for row in session.exec(select(AuditEvent).order_by(col(AuditEvent.id)))]


def table_rows(html: str, table_id: str) -> list[str]:
    """The body rows of the table with this id, as HTML."""
    match = re.search(rf'<table id="{re.escape(table_id)}"[^>]*>(.*?)</table>', html, re.S)
    assert match, f"no table #{table_id}"
    body = match.group(1).split("<tbody>", 1)[1]
    return re.findall(r"<tr\b.*?</tr>", body, re.S)


def attribute_values(html: str, attribute: str) -> list[str]:
    """Every value of `attribute` in the HTML, in order."""
    return re.findall(rf'{attribute}="([^"]*)"', html)


def nav_count(html: str) -> int:
    """The number the nav shows next to Alerts (0 when hidden)."""
    match = re.search(r'id="nav-count-alerts" data-count="(\d+)"', html)
    assert match, "no nav count"
    return int(match.group(1))
