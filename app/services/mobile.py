"""The mobile dashboard: a fleet summary, every metric tile, and shortcuts into the console."""

from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.models import Miner, MinerSample
from app.models.metric import MetricTile
from app.models.mobile import FleetSummary, MobileDashboard, Shortcut
from app.services import dashboard_metrics, runbooks
from app.services.fleet import effective_status_column
from app.services.miner_derived import effective_hashrate, stale_rate

# (id, title, icon, path): the earlier service's shortcuts, in its order (SPEC appendix A).
SHORTCUTS = (
    ("runbooks", "Runbooks", "book", "/runbooks"),
    ("agents", "Agents", "cpu", "/agents"),
)


def dashboard(
    *, session: Session, now: datetime, offline_after: int, public_url: str
) -> MobileDashboard:
    """Everything the mobile dashboard shows, computed at `now`."""
    metrics, _ = dashboard_metrics.list_metrics(session=session)
    return MobileDashboard(
        summary=fleet_summary(session=session, now=now, offline_after=offline_after),
        metrics=[MetricTile.model_validate(metric) for metric in metrics],
        shortcuts=[
            Shortcut(id=key, title=title, icon=icon, url=f"{public_url.rstrip('/')}{path}")
            for key, title, icon, path in SHORTCUTS
        ],
    )


def fleet_summary(*, session: Session, now: datetime, offline_after: int) -> FleetSummary:
    """Agents by the status an operator sees, runbooks, miners and their total hashrate."""
    shown = select(effective_status_column(now, offline_after).label("shown")).subquery()
    by_status: dict[str, int] = {
        str(status): int(count)
        for status, count in session.exec(
            select(shown.c.shown, func.count()).group_by(shown.c.shown)
        )
    }
    # A miner is reporting while its samples are as fresh as a live agent's heartbeats.
    cutoff = now - timedelta(seconds=offline_after)
    miners_total = 0
    reporting = 0
    hashrate = 0.0
    latest = session.exec(
        select(Miner.last_recorded_at, MinerSample).outerjoin(
            MinerSample, col(MinerSample.id) == col(Miner.last_sample_id)
        )
    )
    for last_recorded_at, sample in latest:
        miners_total += 1
        reporting += last_recorded_at >= cutoff
        if sample is not None:
            rate = stale_rate(sample.shares_accepted, sample.shares_stale)
            hashrate += effective_hashrate(sample.hashrate_1m, sample.hashrate_15m, rate) or 0.0
    return FleetSummary(
        agents_total=sum(by_status.values()),
        agents_online=by_status.get("online", 0),
        agents_degraded=by_status.get("degraded", 0),
        agents_offline=by_status.get("offline", 0),
        runbooks=runbooks.count_runbooks(session=session),
        miners_total=miners_total,
        miners_reporting=reporting,
        fleet_hashrate=hashrate,
        generated_at=now,
    )
