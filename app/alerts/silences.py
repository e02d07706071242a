"""Silences and maintenance windows: create, list by status, end early (kept in history).

Whether a silence applies at a moment (its weekly window included) is silence_match's
judgement, the one the evaluator and health use too; this module only stores silences.
"""

from collections.abc import Iterator
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.alerts.schemas import (
    MAX_SILENCE_DAYS,
    SilenceCreate,
    SilencePublic,
    SilenceStatusFilter,
    generated_id,
)
from app.alerts.silence_match import silence_status
from app.audit import service as audit
from app.audit.service import Actor
from app.core.errors import ConflictError, NotFoundError, UnprocessableError
from app.core.pagination import Cursor, newest_first_after
from app.core.timeutil import isoformat
from app.models.alerts import Silence

SILENCE_NOT_FOUND = "Silence not found"
FETCH_BATCH = 200


def get_silence(*, session: Session, silence_id: str) -> Silence:
    """The silence, or NotFoundError."""
    silence = session.get(Silence, silence_id)
    if silence is None:
        raise NotFoundError(SILENCE_NOT_FOUND)
    return silence


def silence_public(silence: Silence, *, now: datetime) -> SilencePublic:
    """The API shape, with its status at `now`."""
    return SilencePublic(
        id=silence.id,
        matchers=silence.matchers,
        starts_at=silence.starts_at,
        ends_at=silence.ends_at,
        recurrence=silence.recurrence,
        comment=silence.comment,
        created_by=silence.created_by,
        created_at=silence.created_at,
        ended_at=silence.ended_at,
        ended_by=silence.ended_by,
        status=silence_status(silence, now),
    )


def list_silences(
    *,
    session: Session,
    status: SilenceStatusFilter,
    now: datetime,
    limit: int,
    cursor: Cursor | None = None,
) -> tuple[list[Silence], Cursor | None]:
    """Silences with that status at `now`, newest first (created_at desc, id desc).

    Ended is a comparison the database makes; active and upcoming depend on a weekly window,
    judged here, so rows are read in batches until the page is full.
    """
    statement = select(Silence)
    if status == "ended":
        statement = statement.where(col(Silence.ends_at) <= now)
    elif status != "all":
        statement = statement.where(col(Silence.ends_at) > now)
    statement = statement.order_by(col(Silence.created_at).desc(), col(Silence.id).desc())
    rows: list[Silence] = []
    for silence in _batches(session, statement, cursor):
        if status in ("all", "ended") or silence_status(silence, now) == status:
            rows.append(silence)
            if len(rows) > limit:
                break
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], [isoformat(last.created_at), last.id]


def _batches(
    session: Session, statement: SelectOfScalar[Silence], cursor: Cursor | None
) -> Iterator[Silence]:
    while True:
        page = statement
        if cursor is not None:
            page = page.where(newest_first_after(Silence.created_at, Silence.id, cursor, str))
        fetched = list(session.exec(page.limit(FETCH_BATCH)).all())
        yield from fetched
        if len(fetched) < FETCH_BATCH:
            return
        cursor = [isoformat(fetched[-1].created_at), fetched[-1].id]


def create_silence(
    *, session: Session, data: SilenceCreate, created_by: str, actor: Actor, now: datetime
) -> Silence:
    """Store a silence (audited silence.create); its end must be later than its start and now."""
    starts_at = data.starts_at or now
    if data.ends_at <= starts_at:
        raise UnprocessableError("endsAt: must be later than startsAt")
    if data.ends_at <= now:
        raise UnprocessableError("endsAt: must be in the future")
    if data.ends_at - starts_at > timedelta(days=MAX_SILENCE_DAYS):
        raise UnprocessableError(f"endsAt: at most {MAX_SILENCE_DAYS} days after startsAt")
    matchers = data.matchers.stored()
    silence_id = data.id or generated_id(f"silence-{matchers.get('subject', '')}")
    if session.get(Silence, silence_id) is not None:
        raise ConflictError(f"Silence {silence_id} already exists")
    silence = Silence(
        id=silence_id,
        matchers=matchers,
        starts_at=starts_at,
        ends_at=data.ends_at,
        recurrence=data.recurrence.model_dump() if data.recurrence else None,
        comment=data.comment,
        created_by=created_by,
        created_at=now,
    )
    session.add(silence)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()  # created by a concurrent request since the check above
        raise ConflictError(f"Silence {silence_id} already exists") from None
    audit.record(
        session,
        actor=actor,
        action="silence.create",
        target_type="silence",
        target_id=silence.id,
        summary=f"Silenced {_describe(matchers)} until {isoformat(silence.ends_at)}",
        detail=silence_public(silence, now=now).model_dump(mode="json", by_alias=True),
        now=now,
    )
    session.commit()
    return silence


def end_silence(
    *, session: Session, silence_id: str, by: str, actor: Actor, now: datetime
) -> Silence:
    """End it now: endsAt moves to now, endedAt/endedBy are set, the row stays (history).

    One conditional UPDATE, so of two requests ending the same silence one wins and the
    other gets the 409 an already ended silence gets.
    """
    get_silence(session=session, silence_id=silence_id)
    result = session.exec(
        update(Silence)
        .where(col(Silence.id) == silence_id, col(Silence.ends_at) > now)
        .values(ends_at=now, ended_at=now, ended_by=by)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 0:
        raise ConflictError(f"Silence {silence_id} has already ended")
    silence = get_silence(session=session, silence_id=silence_id)
    session.refresh(silence)
    audit.record(
        session,
        actor=actor,
        action="silence.end",
        target_type="silence",
        target_id=silence.id,
        summary=f"Ended silence {silence.id} ({_describe(silence.matchers)})",
        detail={"matchers": silence.matchers, "endedAt": isoformat(now)},
        now=now,
    )
    session.commit()
    return silence


def _describe(matchers: dict[str, str]) -> str:
    return ", ".join(f"{key}={value}" for key, value in matchers.items())
