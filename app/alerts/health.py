"""The health of agents and miners, judged from the evaluator's states (SPEC §11, "Health").

Health is what every page, list, count and gauge shows, so it is decided here only:

- `maintenance` while a silence without a ruleId covers the subject: the operator said it
  is being worked on, so nothing else is claimed about it. Maintenance subjects are not
  problems: they were put there on purpose, and listing them would bury the real ones.
- else the worst severity among its firing states: `critical`, `warning`;
- else `pending` when a condition holds but has not held for its rule's forSeconds yet;
- else `unknown` for an agent that never reported (no lastSeenAt) and nothing judged it;
- else `ok`.

`info` rules never make a subject unhealthy, firing or pending: info is something to know
(a version changed, a drift seen), not something wrong. Their states stay visible in
GET /api/alerts (app/alerts/current.py) and among a problem's reasons. A firing state muted
by a silence of its rule still counts: the silence stops the messages, the subject is no
better for it.

Everything is set-based: a fixed handful of queries for a whole list or the whole fleet,
whatever its size (never one per subject).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlmodel import Session, col

from app.alerts.health_schemas import Problem, ProblemReason
from app.alerts.silence_match import SilenceIndex
from app.models import Agent, AlertRule, AlertState, Miner

# HealthName is the interface's name for the vocabulary kept with the tables.
from app.models.alerts import HEALTH_NAMES, HealthName

SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}
# The order of problems: worst first.
PROBLEM_RANK: dict[str, int] = {"critical": 0, "warning": 1, "pending": 2, "unknown": 3}
# Past this many ids a filter reads every subject of the type instead of an IN list of
# thousands of bound parameters (still one query).
MAX_IN_LIST = 1000


@dataclass(frozen=True)
class StateRow:
    """One alertstate row with its rule and what the console knows of its subject."""

    rule_id: str
    rule_name: str
    kind: str
    severity: str
    subject_type: str
    subject: str
    state: str
    since: datetime
    value: float | None
    incident_id: int | None
    name: str | None
    domain: str | None
    # False only for an agent the console holds that has never reported.
    reported: bool


@dataclass
class Subject:
    subject_type: str
    subject: str
    name: str
    domain: str | None
    reported: bool
    states: list[StateRow] = field(default_factory=list)


def states_select(subject_type: str | None, subjects: Sequence[str] | None) -> Select[Any]:
    """The current states of enabled rules (a disabled rule judges nothing), with subjects."""
    columns: list[Any] = [
        col(AlertState.rule_id),
        col(AlertRule.name).label("rule_name"),
        col(AlertRule.kind),
        col(AlertRule.severity),
        col(AlertState.subject_type),
        col(AlertState.subject),
        col(AlertState.state),
        col(AlertState.since),
        col(AlertState.value),
        col(AlertState.incident_id),
        col(Agent.id).label("agent_row"),
        col(Agent.name).label("agent_name"),
        col(Agent.domain),
        col(Agent.last_seen_at),
        col(Miner.name).label("miner_name"),
    ]
    query = (
        select(*columns)
        .select_from(AlertState)
        .join(AlertRule, col(AlertRule.id) == col(AlertState.rule_id))
        .outerjoin(
            Agent,
            and_(col(AlertState.subject_type) == "agent", col(Agent.id) == col(AlertState.subject)),
        )
        .outerjoin(
            Miner,
            and_(
                col(AlertState.subject_type) == "miner",
                col(Miner.miner_id) == col(AlertState.subject),
            ),
        )
        .where(col(AlertRule.enabled).is_(True))
    )
    if subject_type is not None:
        query = query.where(col(AlertState.subject_type) == subject_type)
    if subjects is not None and len(subjects) <= MAX_IN_LIST:
        query = query.where(col(AlertState.subject).in_(list(subjects)))
    return query


def load_states(
    session: Session,
    *,
    subject_type: str | None = None,
    subjects: Sequence[str] | None = None,
) -> list[StateRow]:
    """Current states (of one subject type, of some subjects), in one query."""
    return read_states(session, states_select(subject_type, subjects), subjects)


def read_states(
    session: Session, query: Select[Any], subjects: Sequence[str] | None = None
) -> list[StateRow]:
    wanted = None if subjects is None else set(subjects)
    rows = []
    for row in session.execute(query).mappings():
        if wanted is not None and row["subject"] not in wanted:
            continue
        is_agent = row["subject_type"] == "agent"
        rows.append(
            StateRow(
                rule_id=row["rule_id"],
                rule_name=row["rule_name"],
                kind=row["kind"],
                severity=row["severity"],
                subject_type=row["subject_type"],
                subject=row["subject"],
                state=row["state"],
                since=row["since"],
                value=row["value"],
                incident_id=row["incident_id"],
                name=row["agent_name"] if is_agent else row["miner_name"],
                domain=row["domain"] if is_agent else None,
                reported=not (
                    is_agent and row["agent_row"] is not None and row["last_seen_at"] is None
                ),
            )
        )
    return rows


# --- judging one subject -----------------------------------------------------------------


def judge(states: Sequence[StateRow], *, reported: bool, maintenance: bool) -> HealthName:
    """The health of one subject from its current states (see the module docstring)."""
    if maintenance:
        return "maintenance"
    judged = [state for state in states if state.severity in ("critical", "warning")]
    firing = [state.severity for state in judged if state.state == "firing"]
    if firing:
        return "critical" if "critical" in firing else "warning"
    if judged:
        return "pending"
    return "ok" if reported else "unknown"


def _health_since(states: Sequence[StateRow], health: HealthName) -> datetime | None:
    """Since when the states that make this health hold: the oldest of them."""
    if health in ("critical", "warning"):
        making = [s for s in states if s.state == "firing" and s.severity == health]
    elif health == "pending":
        making = [s for s in states if s.severity in ("critical", "warning")]
    else:
        return None
    return min(state.since for state in making)


def _reason_order(state: StateRow) -> tuple[Any, ...]:
    return (
        state.state != "firing",
        SEVERITY_RANK.get(state.severity, 9),
        state.since,
        state.rule_id,
    )


def _problem(subject: Subject, health: HealthName, index: SilenceIndex) -> Problem:
    reasons = [
        ProblemReason(
            rule_id=state.rule_id,
            rule_name=state.rule_name,
            kind=state.kind,
            severity=state.severity,
            state=state.state,
            value=state.value,
            since=state.since,
            silenced=index.covers(
                rule_id=state.rule_id,
                subject_type=subject.subject_type,
                subject=subject.subject,
                domain=subject.domain,
            ),
        )
        for state in sorted(subject.states, key=_reason_order)
    ]
    return Problem(
        subject_type=subject.subject_type,
        subject=subject.subject,
        name=subject.name,
        health=health,
        since=_health_since(subject.states, health),
        reasons=reasons,
    )


def _subject_health(subject: Subject, index: SilenceIndex) -> HealthName:
    maintenance = index.covers(
        rule_id=None,
        subject_type=subject.subject_type,
        subject=subject.subject,
        domain=subject.domain,
    )
    return judge(subject.states, reported=subject.reported, maintenance=maintenance)


def _attach(subjects: dict[str, Subject], states: Iterable[StateRow]) -> None:
    for state in states:
        subject = subjects.get(state.subject)
        if subject is not None:
            subject.states.append(state)


# --- the fleet ---------------------------------------------------------------------------


def agent_health(
    session: Session, *, now: datetime, agent_ids: Sequence[str] | None = None
) -> dict[str, HealthName]:
    """Health of every console agent (or of the given ids; an id the console does not hold
    and nothing judged is `unknown`), in three queries."""
    query = select(col(Agent.id), col(Agent.name), col(Agent.domain), col(Agent.last_seen_at))
    if agent_ids is not None and len(agent_ids) <= MAX_IN_LIST:
        query = query.where(col(Agent.id).in_(list(agent_ids)))
    subjects = {
        agent_id: Subject("agent", agent_id, name, domain, last_seen_at is not None)
        for agent_id, name, domain, last_seen_at in session.execute(query)
    }
    if agent_ids is not None:
        subjects = {
            agent_id: subjects.get(agent_id) or Subject("agent", agent_id, agent_id, None, False)
            for agent_id in agent_ids
        }
    return _healths(session, now, "agent", subjects, agent_ids)


def miner_health(
    session: Session, *, now: datetime, miner_ids: Sequence[str] | None = None
) -> dict[str, HealthName]:
    """Health of every miner (or of the given ids; an id that never sent a sample and that
    nothing judged is `unknown`), in three queries."""
    query = select(col(Miner.miner_id), col(Miner.name))
    if miner_ids is not None and len(miner_ids) <= MAX_IN_LIST:
        query = query.where(col(Miner.miner_id).in_(list(miner_ids)))
    subjects = {
        miner_id: Subject("miner", miner_id, name or miner_id, None, True)
        for miner_id, name in session.execute(query)
    }
    if miner_ids is not None:
        subjects = {
            miner_id: subjects.get(miner_id) or Subject("miner", miner_id, miner_id, None, False)
            for miner_id in miner_ids
        }
    return _healths(session, now, "miner", subjects, miner_ids)


def _healths(
    session: Session,
    now: datetime,
    subject_type: str,
    subjects: dict[str, Subject],
    ids: Sequence[str] | None,
) -> dict[str, HealthName]:
    # An asked-for subject the console does not hold may still be judged by a rule (an
    # agent only the main registry knows): its states decide, as for any other.
    _attach(subjects, load_states(session, subject_type=subject_type, subjects=ids))
    index = SilenceIndex.load(session, now)
    return {key: _subject_health(subject, index) for key, subject in subjects.items()}


def problems(
    session: Session,
    *,
    now: datetime,
    limit: int | None = None,
    subject_type: str | None = None,
) -> list[Problem]:
    """Every agent and miner whose health is not ok or maintenance: worst first, then oldest.

    Three queries: the states (with their subjects' names), the agents that never reported,
    the silences.
    """
    subjects: dict[tuple[str, str], Subject] = {}
    for state in load_states(session, subject_type=subject_type):
        key = (state.subject_type, state.subject)
        if key not in subjects:
            subjects[key] = Subject(
                state.subject_type,
                state.subject,
                state.name or state.subject,
                state.domain,
                state.reported,
            )
        subjects[key].states.append(state)
    if subject_type in (None, "agent"):
        never = select(col(Agent.id), col(Agent.name), col(Agent.domain)).where(
            col(Agent.last_seen_at).is_(None)
        )
        for agent_id, name, domain in session.execute(never):
            subjects.setdefault(
                ("agent", agent_id), Subject("agent", agent_id, name, domain, False)
            )
    index = SilenceIndex.load(session, now)
    found = []
    for subject in subjects.values():
        health = _subject_health(subject, index)
        if health in PROBLEM_RANK:
            found.append(_problem(subject, health, index))
    found.sort(key=_problem_order)
    return found if limit is None else found[:limit]


def _problem_order(problem: Problem) -> tuple[Any, ...]:
    return (
        PROBLEM_RANK[problem.health],
        problem.since is None,
        problem.since or datetime.min,
        problem.subject_type,
        problem.subject,
    )


@dataclass(frozen=True)
class FleetHealth:
    """One consistent judgement of the whole fleet: every console agent's and miner's health,
    and the problems among them (agents only the main registry knows included)."""

    agents: dict[str, HealthName]
    miners: dict[str, HealthName]
    problems: list[Problem]

    def counts(self, subject_type: str) -> dict[HealthName, int]:
        """How many agents (or miners) have each health; every health is present."""
        healths = self.agents if subject_type == "agent" else self.miners
        counts: dict[HealthName, int] = dict.fromkeys(HEALTH_NAMES, 0)  # type: ignore[arg-type]
        for health in healths.values():
            counts[health] += 1
        return counts


def judge_fleet(session: Session, *, now: datetime) -> FleetHealth:
    """Every agent and miner judged at `now`, in four queries (agents, miners, states,
    silences) whatever the fleet's size: the mobile summary and the /metrics gauges."""
    subjects: dict[tuple[str, str], Subject] = {}
    agents = select(col(Agent.id), col(Agent.name), col(Agent.domain), col(Agent.last_seen_at))
    for agent_id, name, domain, last_seen_at in session.execute(agents):
        subjects[("agent", agent_id)] = Subject(
            "agent", agent_id, name, domain, last_seen_at is not None
        )
    for miner_id, name in session.execute(select(col(Miner.miner_id), col(Miner.name))):
        subjects[("miner", miner_id)] = Subject("miner", miner_id, name or miner_id, None, True)
    held = set(subjects)
    for state in load_states(session):
        key = (state.subject_type, state.subject)
        if key not in subjects:
            subjects[key] = Subject(
                state.subject_type, state.subject, state.subject, None, state.reported
            )
        subjects[key].states.append(state)
    index = SilenceIndex.load(session, now)
    healths: dict[str, dict[str, HealthName]] = {"agent": {}, "miner": {}}
    found = []
    for key, subject in subjects.items():
        health = _subject_health(subject, index)
        if key in held:
            healths[subject.subject_type][subject.subject] = health
        if health in PROBLEM_RANK:
            found.append(_problem(subject, health, index))
    found.sort(key=_problem_order)
    return FleetHealth(agents=healths["agent"], miners=healths["miner"], problems=found)


# How a sentence names a problem: by what is wrong where the rule kind says it plainly
# ("offline"), else by its health ("critical").
KIND_WORDS = {"agent_offline": "offline", "miner_silent": "not reporting"}
HEALTH_WORDS = {
    "critical": "critical",
    "warning": "in warning",
    "pending": "pending",
    "unknown": "never reported",
}


def problem_words(problem: Problem) -> str:
    """`offline`, `not reporting`, `critical`, `in warning`, `pending` or `never reported`."""
    for reason in problem.reasons:
        firing_at_health = reason.state == "firing" and reason.severity == problem.health
        if firing_at_health and reason.kind in KIND_WORDS:
            return KIND_WORDS[reason.kind]
    return HEALTH_WORDS[problem.health]


def firing_count(session: Session) -> int:
    """The nav's count: firing states of enabled rules that no silence mutes (as the evaluator
    last marked them)."""
    query = (
        select(func.count())
        .select_from(AlertState)
        .join(AlertRule, col(AlertRule.id) == col(AlertState.rule_id))
        .where(
            col(AlertState.state) == "firing",
            col(AlertState.silenced).is_(False),
            col(AlertRule.enabled).is_(True),
        )
    )
    return int(session.execute(query).scalar_one())
