"""A rule's transitions, planned (SPEC §11 "States"): from what its condition found now and
the states stored for it, which subjects start pending or firing, stay, clear or resolve."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session, col

from app.alerts.targets import Match
from app.core.timeutil import as_utc
from app.models import AlertRule, AlertState


@dataclass(frozen=True)
class StoredState:
    id: int
    subject_type: str
    subject: str
    state: str
    since: datetime
    fired_at: datetime | None
    value: float | None
    silenced: bool
    incident_id: int | None


@dataclass
class Transitions:
    """What one rule's cycle changes, gathered first and written in a few statements."""

    # (match, since, fired_at or None while pending, silenced)
    new: list[tuple[Match, datetime, datetime | None, bool]] = field(default_factory=list)
    # (state, match, fired_at or None while pending, silenced)
    kept: list[tuple[StoredState, Match, datetime | None, bool]] = field(default_factory=list)
    cleared: list[StoredState] = field(default_factory=list)
    resolved: list[StoredState] = field(default_factory=list)


def stored_states(session: Session, rule_id: str) -> dict[str, StoredState]:
    rows = session.execute(
        select(
            col(AlertState.id),
            col(AlertState.subject_type),
            col(AlertState.subject),
            col(AlertState.state),
            col(AlertState.since),
            col(AlertState.fired_at),
            col(AlertState.value),
            col(AlertState.silenced),
            col(AlertState.incident_id),
        ).where(col(AlertState.rule_id) == rule_id)
    ).all()
    return {row.subject: StoredState(*row) for row in rows}


def plan_transitions(
    rule: AlertRule,
    matches: dict[str, Match],
    states: dict[str, StoredState],
    *,
    now: datetime,
    covered: Callable[[Match], bool],
) -> Transitions:
    """The transitions of one rule from its matches and stored states (no I/O but `covered`,
    which says whether a silence covers a match)."""
    hold = timedelta(seconds=rule.for_seconds)
    plan = Transitions()
    for subject, match in matches.items():
        state = states.get(subject)
        # A condition cannot have started after now (a sample a little ahead of the clock).
        since = min(as_utc(match.since), now) if state is None else state.since
        fires_at = since + hold
        fired_at = fires_at if fires_at <= now else None
        if state is not None and state.state == "firing":
            # Firing stays firing (even if forSeconds grew since), from when it fired.
            fired_at = state.fired_at or fires_at
        if state is None:
            plan.new.append((match, since, fired_at, fired_at is not None and covered(match)))
        else:
            silenced = fired_at is not None and covered(match)
            plan.kept.append((state, match, fired_at, silenced))
    for subject, state in states.items():
        if subject not in matches:
            (plan.resolved if state.state == "firing" else plan.cleared).append(state)
    return plan


def promoted(state: StoredState, fired_at: datetime | None) -> bool:
    return state.state == "pending" and fired_at is not None
