"""Dashboard metric tiles (the `metric` table): list by title, create, update, delete."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.audit.service import Actor, record
from app.core.errors import ConflictError, InvalidCursorError, NotFoundError
from app.models import Metric
from app.models.metric import MetricCreate, MetricUpdate

METRIC_NOT_FOUND = "Metric not found"


def list_metrics(
    *, session: Session, limit: int | None = None, after: Sequence[Any] | None = None
) -> tuple[list[Metric], list[Any] | None]:
    """Tiles by title then metric_id; with `limit`, one page and the sort key to continue after."""
    statement = select(Metric)
    if after is not None:
        statement = statement.where(_after(after))
    statement = statement.order_by(col(Metric.title), col(Metric.metric_id))
    if limit is None:
        return list(session.exec(statement).all()), None
    rows = list(session.exec(statement.limit(limit + 1)).all())
    if len(rows) <= limit:
        return rows, None
    page = rows[:limit]
    return page, [page[-1].title, page[-1].metric_id]


def _after(cursor: Sequence[Any]) -> ColumnElement[bool]:
    if len(cursor) != 2 or not all(isinstance(value, str) for value in cursor):
        raise InvalidCursorError()
    title, metric_id = cursor
    return or_(
        col(Metric.title) > title,
        and_(col(Metric.title) == title, col(Metric.metric_id) > metric_id),
    )


def get_metric(*, session: Session, metric_id: str) -> Metric:
    """The tile named `metric_id`, or NotFoundError."""
    metric = session.exec(select(Metric).where(col(Metric.metric_id) == metric_id)).first()
    if metric is None:
        raise NotFoundError(METRIC_NOT_FOUND)
    return metric


def create_metric(*, session: Session, data: MetricCreate, actor: Actor) -> Metric:
    """Store a new tile; ConflictError when its metric_id is taken. Audited as metric.create."""
    conflict = ConflictError(f"Metric {data.id} already exists")
    if session.exec(select(Metric.id).where(col(Metric.metric_id) == data.id)).first():
        raise conflict
    metric = Metric(
        metric_id=data.id,
        title=data.title,
        value=data.value,
        caption=data.caption,
        icon=data.icon,
        status=data.status,
    )
    session.add(metric)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()  # a concurrent request took the metric_id since the check
        raise conflict from None
    _audit(
        session,
        actor,
        "metric.create",
        data.id,
        f"Created metric tile {data.id} ({data.title})",
        data.model_dump(mode="json", by_alias=True),
    )
    session.commit()
    return metric


def update_metric(*, session: Session, metric_id: str, data: MetricUpdate, actor: Actor) -> Metric:
    """Change the fields sent; the others keep their values. Audited as metric.update."""
    metric = get_metric(session=session, metric_id=metric_id)
    metric.sqlmodel_update(data.model_dump(exclude_unset=True))
    session.add(metric)
    session.flush()
    sent = data.model_dump(mode="json", by_alias=True, exclude_unset=True)
    _audit(
        session,
        actor,
        "metric.update",
        metric_id,
        f"Changed metric tile {metric_id}: {', '.join(sent) or 'nothing'}",
        sent,
    )
    session.commit()
    return metric


def delete_metric(*, session: Session, metric_id: str, actor: Actor) -> None:
    """Delete a tile; audited as metric.delete in the same transaction."""
    metric = get_metric(session=session, metric_id=metric_id)
    session.delete(metric)
    session.flush()
    _audit(session, actor, "metric.delete", metric_id, f"Deleted metric tile {metric_id}", None)
    session.commit()


def _audit(
    session: Session,
    actor: Actor,
    action: str,
    metric_id: str,
    summary: str,
    detail: dict[str, Any] | None,
) -> None:
    record(
        session,
        actor=actor,
        action=action,
        target_type="metric",
        target_id=metric_id,
        summary=summary,
        detail=detail,
    )
