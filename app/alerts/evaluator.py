"""The evaluator (SPEC §11 "States"): one cycle judges every enabled rule at `now`.

For each rule, one statement finds every subject for which its condition holds
(app/alerts/conditions.py); the transitions follow from the rule's stored states:

    no state   -> pending  (condition true; straight to firing when forSeconds is over)
    pending    -> firing   (held forSeconds since `since`): an incident opens, "fired"
    firing     -> firing   (the value, and whether a silence covers it, kept current)
    pending    -> (none)   the condition cleared first: no incident
    firing     -> (none)   the condition cleared: the incident resolves, "resolved"

A state exists only while its condition holds (no row = ok). Times are the condition's own:
a state that fires late, because the evaluator was not running, still fires at since +
forSeconds. A subject that was deleted, or left the rule's target, no longer matches, so it
resolves. While a silence covers a firing subject its state and incident are marked silenced
(and the incident gets a "silenced" entry) and nothing is sent; when the silence ends the
firing message goes out then.

Each rule's transitions, their incidents and their outbox rows (app.alerts.outbox) commit
in one transaction; a rule that fails (bad stored params, a concurrent change) is logged,
rolled back and retried next cycle while the others go on. The writes are executemany
statements whose number does not grow with the fleet. After the rules: reminders
(outbox.queue_reminders), and the derived agent status changes (went offline by silence
at lastSeenAt + offline_after, came back at lastSeenAt) written into the status history.
Live messages go out after each commit.
"""

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, event, insert, select, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session, col

from app.alerts import outbox
from app.alerts.conditions import find_matches
from app.alerts.kinds import KINDS, resolve_params
from app.alerts.silence_match import SilenceIndex
from app.alerts.status_history import record_status_changes
from app.alerts.sweep import sweep_stopped_rules
from app.alerts.targets import Match
from app.core.config import Settings
from app.core.timeutil import as_utc
from app.live.broadcaster import Message, Publisher
from app.maindb.database import MainDatabase
from app.models import AlertRule, AlertState, Incident, IncidentEvent
from app.models.alerts import NotificationEvent

logger = logging.getLogger("prism.alerts")

# Live messages one rule sends per cycle before they are coalesced into one (coalesced()).
MAX_SUBJECT_MESSAGES = 50


@dataclass
class EvaluationReport:
    """What one cycle did (counts of transitions, summed over the rules)."""

    rules: int = 0
    pending: int = 0
    fired: int = 0
    resolved: int = 0
    # Pending states whose condition cleared before they fired.
    cleared: int = 0
    # Rules that failed this cycle (logged; retried next cycle).
    failed: int = 0
    # fleet_drift rules left as they were: the main database did not answer.
    skipped: int = 0
    reminders: int = 0
    status_changes: int = 0
    # Open incidents of rules that were disabled or deleted, resolved by the sweep.
    swept: int = 0


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


def evaluate_once(
    engine: Engine,
    settings: Settings,
    *,
    now: datetime,
    publisher: Publisher | None = None,
    main_db: MainDatabase | None = None,
) -> EvaluationReport:
    """One evaluation cycle at `now` (see the module doc); returns what it did."""
    now = as_utc(now)
    report = EvaluationReport()
    with Session(engine, expire_on_commit=False) as session:
        _tune_planner(session)
        rules = list(session.scalars(select(AlertRule).order_by(col(AlertRule.id))))
        report.swept, swept_messages = sweep_stopped_rules(session, rules, now=now)
        _publish(publisher, swept_messages)
        silences = SilenceIndex.load(session, now)
        session.commit()
        # Chosen before any rule runs: a rule's rollback expires every loaded row.
        for rule_id, rule in [(rule.id, rule) for rule in rules if rule.enabled]:
            report.rules += 1
            _evaluate_rule(
                session, rule_id, rule, now, settings, silences, main_db, publisher, report
            )
        report.reminders = outbox.queue_reminders(
            session, now=now, group_seconds=settings.alert_group_seconds
        )
        session.commit()
        changes = record_status_changes(
            session, now=now, offline_after=settings.agent_offline_after
        )
        session.commit()
    report.status_changes = len(changes)
    _publish(
        publisher,
        ({"type": "agent_status", "data": {"agentId": a, "status": s}} for a, s in changes),
    )
    return report


def _tune_planner(session: Session) -> None:
    """On PostgreSQL, plan the evaluator's statements for a database that fits in memory.

    Its statements read one row per subject through primary keys and index ranges; with
    the default random_page_cost (4, a spinning disk) the planner prefers to scan and hash
    every sample, several times slower on a cached database, and JIT-compiling such
    statements costs more than running them. SET LOCAL: only the evaluator's transactions.
    """

    @event.listens_for(session, "after_begin")
    def _settings(_session: Session, _transaction: SessionTransaction, conn: Connection) -> None:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL random_page_cost = 1.1; SET LOCAL jit = off")


def _evaluate_rule(
    session: Session,
    rule_id: str,
    rule: AlertRule,
    now: datetime,
    settings: Settings,
    silences: SilenceIndex,
    main_db: MainDatabase | None,
    publisher: Publisher | None,
    report: EvaluationReport,
) -> None:
    """Judge one rule and commit its transitions, or log why it could not be judged."""
    try:
        messages = _judge(session, rule, now, settings, silences, main_db, report)
        session.commit()
    except (OperationalError, InterfaceError):
        session.rollback()
        raise  # the database itself is unavailable: the cycle ends here
    except Exception as exc:
        session.rollback()
        report.failed += 1
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        logger.warning("alert rule %s not evaluated this cycle: %s", rule_id, reason)
        return
    _publish(publisher, coalesced(rule, messages))


def coalesced(rule: AlertRule, messages: list[Message]) -> list[Message]:
    """One rule's live messages for a cycle, at most MAX_SUBJECT_MESSAGES of them.

    A first cycle over a large fleet (or a new rule over it) moves thousands of subjects at
    once: one message per subject would flood every stream and the replicas' relay. Past
    the limit, one message names the rule, the count and the state (`changed` when mixed),
    with `subject` null; pages refresh on any `alert` message, and GET /api/alerts lists
    every subject.
    """
    if len(messages) <= MAX_SUBJECT_MESSAGES:
        return messages
    states = {message["data"]["state"] for message in messages}
    state = states.pop() if len(states) == 1 else "changed"
    data = {
        "ruleId": rule.id,
        "subject": None,
        "state": state,
        "severity": rule.severity,
        "count": len(messages),
    }
    return [{"type": "alert", "data": data}]


def _judge(
    session: Session,
    rule: AlertRule,
    now: datetime,
    settings: Settings,
    silences: SilenceIndex,
    main_db: MainDatabase | None,
    report: EvaluationReport,
) -> list[Message]:
    """One rule's transitions at `now`, written in the session (not committed)."""
    subject_type = KINDS[rule.kind].subject_type
    params = resolve_params(
        rule.kind, rule.params or {}, offline_after=settings.agent_offline_after
    )
    matches = find_matches(
        session,
        kind=rule.kind,
        params=params,
        target=rule.target or {},
        now=now,
        offline_after=settings.agent_offline_after,
        main_db=main_db,
    )
    if matches is None:
        report.skipped += 1
        return []
    states = _stored_states(session, rule.id)

    def covered(match: Match) -> bool:
        return silences.covers(
            rule_id=rule.id, subject_type=subject_type, subject=match.subject, domain=match.domain
        )

    plan = plan_transitions(rule, matches, states, now=now, covered=covered)
    messages = _write(
        session, rule, subject_type, plan, now=now, group_seconds=settings.alert_group_seconds
    )
    report.pending += sum(1 for _, _, fired_at, _ in plan.new if fired_at is None)
    report.fired += sum(1 for _, _, fired_at, _ in plan.new if fired_at is not None)
    report.fired += sum(1 for state, _, fired_at, _ in plan.kept if _promoted(state, fired_at))
    report.cleared += len(plan.cleared)
    report.resolved += len(plan.resolved)
    return messages


def _stored_states(session: Session, rule_id: str) -> dict[str, StoredState]:
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


def _promoted(state: StoredState, fired_at: datetime | None) -> bool:
    return state.state == "pending" and fired_at is not None


class _RuleWrites:
    """The rows one rule's transitions write, gathered, then sent in a few statements."""

    def __init__(self, rule: AlertRule, subject_type: str, now: datetime) -> None:
        self.rule = rule
        self.subject_type = subject_type
        self.now = now
        self.messages: list[Message] = []
        self.events: list[dict[str, Any]] = []
        self.state_updates: list[dict[str, Any]] = []
        self.incident_updates: list[dict[str, Any]] = []
        self.gone: list[int] = []
        self.notify: dict[NotificationEvent, list[int]] = {"firing": [], "resolved": []}

    def message(self, subject: str, state: str) -> None:
        rule = self.rule
        data = {"ruleId": rule.id, "subject": subject, "state": state, "severity": rule.severity}
        self.messages.append({"type": "alert", "data": data})

    def event(self, incident_id: int, at: datetime, kind: str, **detail: Any) -> None:
        self.events.append({"incident_id": incident_id, "at": at, "type": kind, "detail": detail})

    def opened(self, match: Match, fired_at: datetime, silenced: bool, incident_id: int) -> None:
        self.event(incident_id, fired_at, "fired", value=match.value)
        if silenced:
            self.event(incident_id, fired_at, "silenced")
        else:
            self.notify["firing"].append(incident_id)
        self.message(match.subject, "firing")

    def kept(
        self,
        state: StoredState,
        match: Match,
        fired_at: datetime | None,
        silenced: bool,
        incident_id: int | None,
    ) -> None:
        """A state whose condition still holds (it may fire now): value and silence kept
        current; `incident_id` is its incident, just opened if it fires now. An unchanged
        state is not rewritten (evaluated_at is when the evaluator last changed it)."""
        state_name = "pending" if fired_at is None else "firing"
        unchanged = (state_name, fired_at, match.value, silenced, incident_id) == (
            state.state,
            state.fired_at,
            state.value,
            state.silenced,
            state.incident_id,
        )
        if unchanged:
            return
        self.state_updates.append(
            {
                "id": state.id,
                "state": state_name,
                "fired_at": fired_at,
                "value": match.value,
                "silenced": silenced,
                "incident_id": incident_id,
                "evaluated_at": self.now,
            }
        )
        if state.state != "firing" or incident_id is None:
            return
        self.incident_updates.append(
            {
                "id": incident_id,
                "last_value": match.value,
                "silenced": silenced,
                "resolved_at": None,
            }
        )
        if silenced and not state.silenced:
            self.event(incident_id, self.now, "silenced")
        elif state.silenced and not silenced:
            # The silence ended while it still fires: the message it held back goes now.
            self.notify["firing"].append(incident_id)

    def ended(self, state: StoredState) -> None:
        """A state whose condition cleared: deleted, its incident (if it fired) resolved."""
        self.gone.append(state.id)
        self.message(state.subject, "ok")
        incident_id = state.incident_id
        if state.state != "firing" or incident_id is None:
            return
        self.incident_updates.append(
            {
                "id": incident_id,
                "last_value": state.value,
                "silenced": state.silenced,
                "resolved_at": self.now,
            }
        )
        self.event(incident_id, self.now, "resolved", value=state.value)
        if not state.silenced:
            self.notify["resolved"].append(incident_id)


def _write(
    session: Session,
    rule: AlertRule,
    subject_type: str,
    plan: Transitions,
    *,
    now: datetime,
    group_seconds: float,
) -> list[Message]:
    """Write a rule's transitions; its outbox rows join the same transaction."""
    writes = _RuleWrites(rule, subject_type, now)
    # Incidents first: the states that fire point at theirs.
    opening = [(m, at, silenced) for m, _, at, silenced in plan.new if at is not None]
    opening += [
        (m, at, silenced)
        for state, m, at, silenced in plan.kept
        if at is not None and _promoted(state, at)
    ]
    incident_ids = _open_incidents(session, rule, subject_type, opening)
    incident_of: dict[str, int] = {}
    for (m, opened_at, silenced), incident_id in zip(opening, incident_ids, strict=True):
        incident_of[m.subject] = incident_id
        writes.opened(m, opened_at, silenced, incident_id)

    new_states = []
    for m, since, fired_at, silenced in plan.new:
        if fired_at is None:
            writes.message(m.subject, "pending")
        new_states.append(
            {
                "rule_id": rule.id,
                "subject_type": subject_type,
                "subject": m.subject,
                "state": "pending" if fired_at is None else "firing",
                "since": since,
                "fired_at": fired_at,
                "value": m.value,
                "silenced": silenced,
                "incident_id": incident_of.get(m.subject),
                "evaluated_at": now,
            }
        )
    for state, m, kept_fired_at, silenced in plan.kept:
        writes.kept(
            state, m, kept_fired_at, silenced, incident_of.get(m.subject, state.incident_id)
        )
    for state in (*plan.resolved, *plan.cleared):
        writes.ended(state)

    if new_states:
        session.execute(insert(AlertState), new_states)
    if writes.state_updates:
        session.execute(update(AlertState), writes.state_updates)
    if writes.incident_updates:
        session.execute(update(Incident), writes.incident_updates)
    if writes.gone:
        session.execute(delete(AlertState).where(col(AlertState.id).in_(writes.gone)))
    if writes.events:
        session.execute(insert(IncidentEvent), writes.events)
    for notification, ids in writes.notify.items():
        if ids:
            outbox.enqueue(
                session,
                rule=rule,
                event=notification,
                incident_ids=ids,
                now=now,
                group_seconds=group_seconds,
            )
    return writes.messages


def _open_incidents(
    session: Session,
    rule: AlertRule,
    subject_type: str,
    opening: Sequence[tuple[Match, datetime, bool]],
) -> list[int]:
    """Insert one incident per firing subject (one statement); their ids in that order."""
    if not opening:
        return []
    rows = [
        {
            "rule_id": rule.id,
            "rule_name": rule.name,
            "kind": rule.kind,
            "severity": rule.severity,
            "subject_type": subject_type,
            "subject": m.subject,
            "started_at": fired_at,
            "silenced": silenced,
            "value": m.value,
            "last_value": m.value,
            "runbook_id": rule.runbook_id,
        }
        for m, fired_at, silenced in opening
    ]
    # Matched back by subject (one per rule's batch), not by the order of RETURNING: asking
    # SQLAlchemy for the parameters' order makes it insert row by row on SQLite.
    statement = insert(Incident).returning(col(Incident.id), col(Incident.subject))
    ids = {subject: int(incident_id) for incident_id, subject in session.execute(statement, rows)}
    return [ids[m.subject] for m, _, _ in opening]


def _publish(publisher: Publisher | None, messages: Iterable[Message]) -> None:
    if publisher is None or not publisher.has_audience:
        return
    for message in messages:
        publisher.publish(message)
