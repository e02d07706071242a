"""The default rules: migration 0007 gives them to fresh and adopted databases, they are
the ones app/alerts/defaults.py describes, and they judge exactly as the miner tiles do."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.alerts.defaults import DEFAULT_RULES, default_rules
from app.alerts.evaluator import evaluate_once
from app.alerts.kinds import parse_params
from app.miners import tiles
from app.miners.derived import stale_rate
from app.models import AlertRule, AlertState
from app.ops import migrations
from tests.migrations.legacy import build_legacy_database, legacy_metadata
from tests.services.alert_fixtures import SETTINGS, add_samples, at, emptied
from tests.support.db import migrated_engine, temporary_pg_database

COMPARED = (
    "id",
    "name",
    "kind",
    "params",
    "target",
    "for_seconds",
    "severity",
    "channels",
    "repeat_minutes",
    "runbook_id",
    "runbook_input",
    "enabled",
)


def stored_rules(engine: Engine) -> list[dict[str, Any]]:
    with Session(engine) as session:
        rules = session.exec(select(AlertRule).order_by(col(AlertRule.id))).all()
        return [{name: getattr(rule, name) for name in COMPARED} for rule in rules]


def expected_rules() -> list[dict[str, Any]]:
    return sorted(
        ({name: rule[name] for name in COMPARED} for rule in DEFAULT_RULES),
        key=lambda rule: rule["id"],
    )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
    else:
        with temporary_pg_database("prism_defaults") as url:
            yield url


def test_a_fresh_database_gets_the_default_rules(fresh_url: str) -> None:
    with migrated_engine(fresh_url) as engine:
        assert stored_rules(engine) == expected_rules()


def test_an_adopted_database_gets_the_default_rules(tmp_path: Path) -> None:
    path = tmp_path / "prism.db"
    build_legacy_database(path, legacy_metadata())
    with migrated_engine(f"sqlite:///{path}") as engine:
        assert stored_rules(engine) == expected_rules()


def test_the_migration_and_the_module_agree_and_every_rule_is_valid() -> None:
    revision = migrations.script_directory().get_revision("0007_alerts")
    assert revision is not None
    written = {
        rule_id: (name, kind, severity, params)
        for rule_id, name, kind, severity, params in revision.module.DEFAULT_RULES
    }
    described = {
        rule["id"]: (rule["name"], rule["kind"], rule["severity"], rule["params"])
        for rule in DEFAULT_RULES
    }
    assert written == described
    for rule in DEFAULT_RULES:
        parse_params(rule["kind"], rule["params"])
        assert rule["channels"] == [] and rule["enabled"]


def test_the_thresholds_are_the_tiles() -> None:
    by_id = {rule["id"]: rule for rule in DEFAULT_RULES}
    assert by_id["miner-temperature-critical"]["params"]["aboveC"] == (
        tiles.TEMPERATURE_CRITICAL_FROM
    )
    assert by_id["miner-temperature-warning"]["params"]["aboveC"] == (
        tiles.TEMPERATURE_WARNING_FROM
    )
    assert by_id["miner-stale-critical"]["params"]["abovePercent"] == pytest.approx(
        tiles.STALE_CRITICAL_ABOVE * 100
    )
    assert by_id["miner-stale-warning"]["params"]["abovePercent"] == pytest.approx(
        tiles.STALE_WARNING_ABOVE * 100
    )


@pytest.fixture
def with_defaults(engine: Engine) -> Engine:
    emptied(engine)
    with Session(engine) as session:
        session.add_all(default_rules(at()))
        session.commit()
    return engine


def worst_severity(engine: Engine, miner_id: str) -> str:
    """The worst severity among the firing default rules of a miner, else "good"."""
    with Session(engine) as session:
        rows = session.exec(
            select(AlertRule.severity)
            .join(AlertState, col(AlertState.rule_id) == col(AlertRule.id))
            .where(col(AlertState.subject) == miner_id, col(AlertState.state) == "firing")
        ).all()
    return "critical" if "critical" in rows else "warning" if "warning" in rows else "good"


@pytest.mark.parametrize("temperature", [79.9, 80.0, 84.9, 85.0, 99.0])
def test_the_temperature_rules_judge_as_the_tile(with_defaults: Engine, temperature: float) -> None:
    add_samples(with_defaults, "rig", (at(-10), {"temperature_c": temperature, "hashrate_1m": 1e4}))
    evaluate_once(with_defaults, SETTINGS, now=at())
    assert worst_severity(with_defaults, "rig") == tiles.temperature_intent(temperature)


@pytest.mark.parametrize(("accepted", "stale"), [(98, 2), (97, 3), (95, 5), (94, 6)])
def test_the_stale_rules_judge_as_the_tile(
    with_defaults: Engine, accepted: int, stale: int
) -> None:
    shares = {"shares_accepted": accepted, "shares_stale": stale, "hashrate_1m": 1e4}
    add_samples(with_defaults, "rig", (at(-10), shares))
    evaluate_once(with_defaults, SETTINGS, now=at())
    assert worst_severity(with_defaults, "rig") == tiles.stale_intent(stale_rate(accepted, stale))
