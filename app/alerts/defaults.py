"""The default rules (SPEC §11): health works before anyone configures notifications.

Migration 0007 inserts these rows into every fresh or adopted database, with the same
values written out in the migration itself (a migration imports no app code, so later edits
here cannot rewrite history); tests/services/test_evaluator_defaults.py checks that both
agree, and that the thresholds are the tiles' (app/miners/tiles.py). They are ordinary
rules: editable, deletable, without channels. `afterSeconds` is left out, so the offline
and silent rules follow PRISM_AGENT_OFFLINE_AFTER.
"""

from datetime import datetime
from typing import Any

from app.miners.tiles import (
    STALE_CRITICAL_ABOVE,
    STALE_WARNING_ABOVE,
    TEMPERATURE_CRITICAL_FROM,
    TEMPERATURE_WARNING_FROM,
)
from app.models import AlertRule


def _rule(rule_id: str, name: str, kind: str, severity: str, **params: Any) -> dict[str, Any]:
    return {
        "id": rule_id,
        "name": name,
        "kind": kind,
        "params": params,
        "target": {},
        "for_seconds": 0,
        "severity": severity,
        "channels": [],
        "repeat_minutes": 0,
        "runbook_id": None,
        "runbook_input": None,
        "enabled": True,
    }


def _percent(rate: float) -> float:
    return round(rate * 100, 6)


DEFAULT_RULES: tuple[dict[str, Any], ...] = (
    _rule("agent-offline", "Agent offline", "agent_offline", "critical"),
    _rule("agent-degraded", "Agent degraded", "agent_status", "warning", statuses=["degraded"]),
    _rule("miner-silent", "Miner silent", "miner_silent", "critical"),
    _rule(
        "miner-hashrate-low",
        "Miner hashrate zero or low",
        "miner_hashrate",
        "critical",
        belowPercent=80,
        baselineHours=24,
    ),
    _rule(
        "miner-temperature-critical",
        f"Miner temperature ≥ {TEMPERATURE_CRITICAL_FROM:g} °C",
        "miner_temperature",
        "critical",
        aboveC=TEMPERATURE_CRITICAL_FROM,
    ),
    _rule(
        "miner-temperature-warning",
        f"Miner temperature ≥ {TEMPERATURE_WARNING_FROM:g} °C",
        "miner_temperature",
        "warning",
        aboveC=TEMPERATURE_WARNING_FROM,
    ),
    _rule(
        "miner-stale-critical",
        f"Miner stale rate > {_percent(STALE_CRITICAL_ABOVE):g} %",
        "miner_stale_rate",
        "critical",
        abovePercent=_percent(STALE_CRITICAL_ABOVE),
        windowSeconds=900,
    ),
    _rule(
        "miner-stale-warning",
        f"Miner stale rate > {_percent(STALE_WARNING_ABOVE):g} %",
        "miner_stale_rate",
        "warning",
        abovePercent=_percent(STALE_WARNING_ABOVE),
        windowSeconds=900,
    ),
)


def default_rules(now: datetime) -> list[AlertRule]:
    """The default rules as new rows (tests and benchmarks re-create them after wiping)."""
    return [AlertRule(**values, created_at=now, updated_at=now) for values in DEFAULT_RULES]
