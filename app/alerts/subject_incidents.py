"""The incidents of one agent or miner that overlap a time window: its charts' annotations."""

from datetime import datetime

from sqlalchemy import or_
from sqlmodel import Session, col, select

from app.models.alerts import Incident

# More than a chart can show apart; the newest are kept when a flapping rule opens more.
MAX_INCIDENTS = 200


def incidents_overlapping(
    *,
    session: Session,
    subject_type: str,
    subject: str,
    since: datetime,
    until: datetime,
    limit: int = MAX_INCIDENTS,
) -> list[Incident]:
    """Incidents of the subject open at some time in [since, until), oldest first.

    An incident still open (no resolved_at) lasts until now, so it overlaps every window
    that ends after its start.
    """
    statement = (
        select(Incident)
        .where(
            col(Incident.subject_type) == subject_type,
            col(Incident.subject) == subject,
            col(Incident.started_at) < until,
            or_(col(Incident.resolved_at).is_(None), col(Incident.resolved_at) > since),
        )
        .order_by(col(Incident.started_at).desc(), col(Incident.id).desc())
        .limit(limit)
    )
    return list(reversed(session.exec(statement).all()))
