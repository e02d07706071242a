"""Dashboard metric tiles under /api/metrics (the Prometheus endpoint is /metrics, elsewhere)."""

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from app.audit.deps import AuditActorDep
from app.auth.deps import AdminPrincipal, AuthFirstRoute, ReadPrincipal
from app.core.deps import PageDep, SessionDep
from app.core.pagination import DEFAULT_LIMIT, encode_cursor
from app.core.responses import errors
from app.core.validators import SafeId
from app.dashboard import metric_tiles as dashboard_metrics
from app.live.broadcaster import Publisher
from app.live.deps import PublisherDep
from app.models.metric import MetricCreate, MetricEnvelope, MetricPage, MetricTile, MetricUpdate

router = APIRouter(tags=["metrics"], route_class=AuthFirstRoute)

MetricId = Annotated[SafeId, Path(description="The tile's metric id.")]


def _announce(broadcaster: Publisher, metric_id: str) -> None:
    # The ops stream's compatible message (SPEC appendix A): dashboards refetch the tile.
    broadcaster.publish({"type": "metric_update", "data": {"metricId": metric_id}})


@router.get(
    "/api/metrics",
    response_model=MetricPage,
    responses=errors(401, 403),
    summary="List metric tiles by title",
)
def list_metrics(_principal: ReadPrincipal, session: SessionDep, page: PageDep) -> MetricPage:
    rows, last = dashboard_metrics.list_metrics(
        session=session, limit=page.limit or DEFAULT_LIMIT, after=page.cursor
    )
    return MetricPage(
        items=[MetricTile.model_validate(row) for row in rows],
        next_cursor=encode_cursor(last) if last else None,
    )


@router.post(
    "/api/metrics",
    response_model=MetricEnvelope,
    status_code=status.HTTP_201_CREATED,
    responses=errors(400, 401, 403, 409),
    summary="Create a metric tile",
)
def create_metric(
    body: MetricCreate,
    _principal: AdminPrincipal,
    actor: AuditActorDep,
    session: SessionDep,
    broadcaster: PublisherDep,
) -> MetricEnvelope:
    """Audited as `metric.create`."""
    metric = dashboard_metrics.create_metric(session=session, data=body, actor=actor)
    _announce(broadcaster, metric.metric_id)
    return MetricEnvelope(metric=MetricTile.model_validate(metric))


@router.get(
    "/api/metrics/{metric_id}",
    response_model=MetricEnvelope,
    responses=errors(401, 403, 404),
    summary="One metric tile",
)
def get_metric(
    metric_id: MetricId, _principal: ReadPrincipal, session: SessionDep
) -> MetricEnvelope:
    metric = dashboard_metrics.get_metric(session=session, metric_id=metric_id)
    return MetricEnvelope(metric=MetricTile.model_validate(metric))


@router.patch(
    "/api/metrics/{metric_id}",
    response_model=MetricEnvelope,
    responses=errors(400, 401, 403, 404),
    summary="Change some fields of a metric tile",
)
def update_metric(
    metric_id: MetricId,
    body: MetricUpdate,
    _principal: AdminPrincipal,
    actor: AuditActorDep,
    session: SessionDep,
    broadcaster: PublisherDep,
) -> MetricEnvelope:
    """Audited as `metric.update`."""
    metric = dashboard_metrics.update_metric(
        session=session, metric_id=metric_id, data=body, actor=actor
    )
    _announce(broadcaster, metric.metric_id)
    return MetricEnvelope(metric=MetricTile.model_validate(metric))


@router.delete(
    "/api/metrics/{metric_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(401, 403, 404),
    summary="Delete a metric tile",
)
def delete_metric(
    metric_id: MetricId,
    _principal: AdminPrincipal,
    actor: AuditActorDep,
    session: SessionDep,
    broadcaster: PublisherDep,
) -> None:
    """Audited as `metric.delete`."""
    dashboard_metrics.delete_metric(session=session, metric_id=metric_id, actor=actor)
    _announce(broadcaster, metric_id)
