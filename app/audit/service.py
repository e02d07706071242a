"""Writing the audit log: record() adds one hash-chained row in the caller's transaction.

Every state-changing action calls it after its change, with the same session, so the change
and its row commit together or not at all (SPEC §12). It flushes and never commits.
"""

import getpass
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from app.audit import chain
from app.audit.redact import mask_detail, mask_text
from app.core.timeutil import as_utc, utcnow
from app.models.audit import AuditEvent

# Recorded rows of a session not yet committed, for the live stream (app/audit/deps.py).
PENDING_KEY = "prism_audit_pending"
MAX_SUMMARY = 500


@dataclass(frozen=True)
class Actor:
    """Who acts: a token (name, id, scope), "cli:<user>", "rule:<id>" or an anonymous client."""

    name: str  # token name, "cli:<user>", "rule:<id>"
    actor_id: str | None  # token id
    scope: str | None
    ip: str | None = None
    request_id: str | None = None


def cli_actor() -> Actor:
    """The operator running a `prism` command on this machine."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        user = "unknown"
    return Actor(name=f"cli:{user}", actor_id=None, scope=None)


def rule_actor(rule_id: str) -> Actor:
    """An alert rule acting on its own (the evaluator)."""
    return Actor(name=f"rule:{rule_id}", actor_id=None, scope=None)


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    target_type: str | None,
    target_id: str | None,
    summary: str,
    detail: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> AuditEvent:
    """Append one row to the chain in the caller's transaction; flushes, never commits.

    Returns the row as written (not attached to the session: it is never changed again).

    Call it after the change (so the change's locks come first); detail loses every value
    of a secret-named key, URLs keep only scheme and host (app/audit/redact.py).
    """
    head = chain.lock_head(session)
    # Taken once the head is held: rows of one chain get non-decreasing times.
    at = as_utc(now) if now is not None else utcnow()
    event = AuditEvent(
        id=head.id + 1,
        at=at,
        actor=actor.name[:200],
        actor_id=actor.actor_id,
        scope=actor.scope,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id)[:256],
        summary=mask_text(summary)[:MAX_SUMMARY],
        detail=_json_round_trip(mask_detail(detail)),
        ip=None if actor.ip is None else actor.ip[:64],
        request_id=None if actor.request_id is None else actor.request_id[:64],
        prev_hash=head.hash,
        hash="",
    )
    event.hash = chain.event_hash(event)
    chain.append(session, event)
    session.info.setdefault(PENDING_KEY, []).append(event.id)
    return event


def _json_round_trip(detail: dict[str, Any] | None) -> dict[str, Any] | None:
    """detail exactly as the JSON column gives it back, so the hash of the stored row
    is the hash computed here (tuples become lists, datetimes ISO text, keys strings)."""
    if detail is None:
        return None
    loaded: dict[str, Any] = json.loads(json.dumps(detail, default=_json_default))
    return loaded


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return chain.format_at(value)
    return str(value)
