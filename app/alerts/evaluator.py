"""The evaluator (SPEC §11 "States"): one cycle judges every enabled rule at `now`.

For each rule, one statement finds every subject for which its condition holds
(app/alerts/conditions.py); the transitions follow from the rule's stored states
(planned in app/alerts/transitions.py, written by app/alerts/transition_writes.py):

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
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, event, select
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
from app.alerts.transition_writes import write_transitions
from app.alerts.transitions import plan_transitions, promoted, stored_states
from app.core.config import Settings
from app.core.timeutil import as_utc
from app.live.broadcaster import Message, Publisher
from app.maindb.database import MainDatabase
from app.miners.fold import fold_all
from app.models import AlertRule

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
    # The stale-rate and hashrate-baseline conditions read the rollup, which lags ingest
    # (app/miners/fold.py): folding first judges them on every sample stored so far.
    fold_all(engine)
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
    states = stored_states(session, rule.id)

    def covered(match: Match) -> bool:
        return silences.covers(
            rule_id=rule.id, subject_type=subject_type, subject=match.subject, domain=match.domain
        )

    plan = plan_transitions(rule, matches, states, now=now, covered=covered)
    messages = write_transitions(
        session, rule, subject_type, plan, now=now, group_seconds=settings.alert_group_seconds
    )
    report.pending += sum(1 for _, _, fired_at, _ in plan.new if fired_at is None)
    report.fired += sum(1 for _, _, fired_at, _ in plan.new if fired_at is not None)
    report.fired += sum(1 for state, _, fired_at, _ in plan.kept if promoted(state, fired_at))
    report.cleared += len(plan.cleared)
    report.resolved += len(plan.resolved)
    return messages


def _publish(publisher: Publisher | None, messages: Iterable[Message]) -> None:
    if publisher is None or not publisher.has_audience:
        return
    for message in messages:
        publisher.publish(message)
