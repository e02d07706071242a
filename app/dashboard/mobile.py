"""The mobile dashboard: a fleet summary, every metric tile, and shortcuts into the console."""

from collections import Counter
from datetime import datetime, timedelta

from sqlmodel import Session

from app.agents.status import count_by_status
from app.dashboard import metric_tiles as dashboard_metrics
from app.miners.queries import fleet_hashrate, miner_state, newest_per_miner
from app.models.metric import MetricTile
from app.models.mobile import FleetSummary, MobileDashboard, Shortcut
from app.runbooks import service as runbooks

# (id, title, icon, path): the earlier service's shortcuts, in its order (SPEC appendix A).
SHORTCUTS = (
    ("runbooks", "Runbooks", "book", "/runbooks"),
    ("agents", "Agents", "cpu", "/agents"),
)


def dashboard(
    *, session: Session, now: datetime, offline_after: int, base_url: str
) -> MobileDashboard:
    """Everything the mobile dashboard shows, computed at `now`; shortcuts under `base_url`."""
    metrics, _ = dashboard_metrics.list_metrics(session=session)
    fleet = fleet_summary(session=session, now=now, offline_after=offline_after)
    return MobileDashboard(
        summary=summary_sentence(fleet),
        fleet=fleet,
        metrics=[MetricTile.model_validate(metric) for metric in metrics],
        shortcuts=[
            Shortcut(id=key, title=title, icon=icon, url=f"{base_url.rstrip('/')}{path}")
            for key, title, icon, path in SHORTCUTS
        ],
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def summary_sentence(fleet: FleetSummary) -> str:
    """The one sentence mobile clients print: the problems, or that everything is healthy."""
    problems = [
        (fleet.agents_offline, "agent", "offline"),
        (fleet.agents_degraded, "agent", "degraded"),
        (fleet.miners_critical, "miner", "critical"),
        (fleet.miners_warning, "miner", "in warning"),
        (fleet.miners_stale, "miner", "not reporting"),
    ]
    found = [(number, noun, what) for number, noun, what in problems if number]
    if found:
        total = sum(number for number, _, _ in found)
        parts = ", ".join(f"{_count(number, noun)} {what}" for number, noun, what in found)
        return f"{_count(total, 'problem')}: {parts}."
    present = [
        _count(number, noun)
        for number, noun in ((fleet.agents_total, "agent"), (fleet.miners_total, "miner"))
        if number
    ]
    if not present:
        return "No agents or miners yet."
    everything = " and ".join(present)
    if fleet.agents_total + fleet.miners_total == 1:
        return f"{everything[0].upper()}{everything[1:]} healthy."
    return f"All {everything} healthy."


def fleet_summary(*, session: Session, now: datetime, offline_after: int) -> FleetSummary:
    """Agents by the status an operator sees, runbooks, miners by state, total hashrate."""
    by_status = count_by_status(session=session, now=now, offline_after_seconds=offline_after)
    # A miner is reporting while its samples are as fresh as a live agent's heartbeats.
    cutoff = now - timedelta(seconds=offline_after)
    miners = newest_per_miner(session=session)
    reporting = sum(miner.last_seen_at >= cutoff for miner in miners)
    states = Counter(
        miner_state(miner.sample, miner.last_seen_at, now, offline_after) for miner in miners
    )
    return FleetSummary(
        agents_total=sum(by_status.values()),
        agents_online=by_status.get("online", 0),
        agents_degraded=by_status.get("degraded", 0),
        agents_offline=by_status.get("offline", 0),
        runbooks=runbooks.count_runbooks(session=session),
        miners_total=len(miners),
        miners_reporting=reporting,
        miners_critical=states["critical"],
        miners_warning=states["warning"],
        miners_stale=states["stale"],
        fleet_hashrate=fleet_hashrate(miners),
        generated_at=now,
    )
