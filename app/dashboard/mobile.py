"""The mobile dashboard: a fleet summary, every metric tile, and shortcuts into the console."""

from collections import Counter
from datetime import datetime, timedelta

from sqlmodel import Session

from app.agents.status import count_by_status
from app.alerts.health import KIND_WORDS, PROBLEM_RANK, FleetHealth, judge_fleet, problem_words
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
    judgement = judge_fleet(session, now=now)
    fleet = fleet_summary(
        session=session, now=now, offline_after=offline_after, judgement=judgement
    )
    return MobileDashboard(
        summary=summary_sentence(judgement),
        fleet=fleet,
        metrics=[MetricTile.model_validate(metric) for metric in metrics],
        shortcuts=[
            Shortcut(id=key, title=title, icon=icon, url=f"{base_url.rstrip('/')}{path}")
            for key, title, icon, path in SHORTCUTS
        ],
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _both(agents: int, miners: int) -> str:
    """`8 agents and 4 miners`, leaving out a zero."""
    return " and ".join(
        _count(number, noun) for number, noun in ((agents, "agent"), (miners, "miner")) if number
    )


def summary_sentence(judgement: FleetHealth) -> str:
    """The one sentence mobile clients print: the problems by health, worst first, or that
    everything is healthy; subjects in maintenance are said apart, neither problem nor
    healthy."""
    groups: Counter[tuple[int, int, int, str, str]] = Counter()
    for problem in judgement.problems:
        words = problem_words(problem)
        # Worst health first; agents before miners; "offline" before a bare "critical".
        named = 0 if words in KIND_WORDS.values() else 1
        noun = problem.subject_type
        groups[(PROBLEM_RANK[problem.health], noun != "agent", named, noun, words)] += 1
    agents, miners = judgement.counts("agent"), judgement.counts("miner")
    maintenance = _both(agents["maintenance"], miners["maintenance"])
    aside = f"; {maintenance} in maintenance" if maintenance else ""
    if groups:
        total = sum(groups.values())
        parts = ", ".join(
            f"{_count(number, noun)} {words}"
            for (_, _, _, noun, words), number in sorted(groups.items())
        )
        return f"{_count(total, 'problem')}: {parts}{aside}."
    healthy = _both(agents["ok"], miners["ok"])
    if not healthy:
        return (
            _capital(f"{maintenance} in maintenance.")
            if maintenance
            else "No agents or miners yet."
        )
    if agents["ok"] + miners["ok"] == 1:
        return _capital(f"{healthy} healthy{aside}.")
    return f"All {healthy} healthy{aside}."


def _capital(sentence: str) -> str:
    return sentence[0].upper() + sentence[1:]


def fleet_summary(
    *,
    session: Session,
    now: datetime,
    offline_after: int,
    judgement: FleetHealth | None = None,
) -> FleetSummary:
    """Agents by the status an operator sees and by health, runbooks, miners by state and by
    health, total hashrate. Pass the `judgement` a caller also shows, so both agree."""
    if judgement is None:
        judgement = judge_fleet(session, now=now)
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
        agents_health=judgement.counts("agent"),
        miners_health=judgement.counts("miner"),
        problems=len(judgement.problems),
        generated_at=now,
    )
