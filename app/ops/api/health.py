"""Probes and metrics for orchestrators: /livez, /readyz, /health, /api/health, /metrics.

None needs a token (/metrics unless PRISM_METRICS_PUBLIC=false), and each answers within a
second even when a database hangs: the checks run in worker threads with a time limit.
Probe answers are never cached.
"""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from sqlmodel import Session

from app import __version__
from app.auth.deps import Scope
from app.core.deps import EngineDep, MetricsDep, SettingsDep
from app.core.responses import json_errors
from app.models.health import ApiHealth, Checks, HealthCheck, LegacyHealth
from app.ops import health
from app.ops.backup_schedule import install_backup_gauge
from app.ops.fleet_gauges import install_fleet_gauges

router = APIRouter(tags=["health"])

NO_STORE = {"Cache-Control": "no-store"}
SERVICE_ID = "prism-console"


class HealthJSONResponse(JSONResponse):
    media_type = "application/health+json"


class PrometheusResponse(Response):
    media_type = CONTENT_TYPE_PLAIN_0_0_4


def _probe_text(lines: list[str], passed: bool, probe: str, verbose: bool) -> PlainTextResponse:
    """Kubernetes style: `ok`, or the check list when asked for or when a check failed."""
    if passed and not verbose:
        body = "ok"
    else:
        verdict = "passed" if passed else "failed"
        body = "\n".join([*lines, f"{probe} check {verdict}"])
    return PlainTextResponse(body + "\n", status_code=200 if passed else 503, headers=NO_STORE)


@router.get(
    "/livez",
    response_class=PlainTextResponse,
    summary="Liveness: the process can serve (checks nothing external)",
)
async def livez(request: Request) -> PlainTextResponse:
    return _probe_text(["[+]ping ok"], True, "livez", "verbose" in request.query_params)


router.add_api_route(
    "/healthz",
    livez,
    methods=["GET"],
    response_class=PlainTextResponse,
    summary="Alias of /livez",
)


async def _report(request: Request) -> health.HealthReport:
    state = request.app.state
    settings = state.settings
    return await health.check_health(
        engine=state.engine,
        head_revision=state.head_revision,
        migration_error=getattr(state, "migration_error", None),
        main_db_configured=settings.main_db_url is not None,
        main_db=getattr(state, "main_db", None),
        main_timeout=settings.main_db_timeout_ms / 1000,
        started_at=state.started_at,
        backups=getattr(state, "backups", None),
    )


HealthReportDep = Annotated[health.HealthReport, Depends(_report)]


@router.get(
    "/readyz",
    response_class=PlainTextResponse,
    summary="Readiness: the console DB answers and is at the migration head",
    responses={503: {"description": "Not ready; the body lists each check"}},
)
async def readyz(request: Request, report: HealthReportDep) -> PlainTextResponse:
    lines = []
    for check in report.checks:
        if check.name == health.UPTIME:
            continue
        name = check.probe_name
        if check.status == "fail":
            lines.append(f"[-]{name} failed: {check.output}")
        elif check.output:
            lines.append(f"[+]{name} ok (warning: {check.output})")
        else:
            lines.append(f"[+]{name} ok")
    return _probe_text(lines, report.ready, "readyz", "verbose" in request.query_params)


def _checks(report: health.HealthReport) -> Checks:
    return {
        check.name: [
            HealthCheck(
                component_type=check.component_type,
                observed_value=check.observed_value,
                observed_unit=check.observed_unit,
                status=check.status,
                time=check.time,
                output=check.output,
            )
        ]
        for check in report.checks
    }


def _dump(model: ApiHealth | LegacyHealth) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


@router.get(
    "/api/health",
    response_model=ApiHealth,
    response_class=HealthJSONResponse,
    summary="Health in the IETF health check format (application/health+json)",
    responses={503: {"model": ApiHealth, "description": "A critical check failed"}},
)
async def api_health(report: HealthReportDep) -> HealthJSONResponse:
    body = ApiHealth(
        status=report.status,
        version=__version__,
        release_id=__version__,
        service_id=SERVICE_ID,
        description="Prism Console: operations console for agents and miners",
        checks=_checks(report),
    )
    status = 503 if report.status == "fail" else 200
    return HealthJSONResponse(_dump(body), status_code=status, headers=NO_STORE)


_LEGACY_STATUS: dict[str, Literal["ok", "degraded", "down"]] = {
    "pass": "ok",
    "warn": "degraded",
    "fail": "down",
}


@router.get(
    "/health",
    response_model=LegacyHealth,
    summary="Health with the earlier service's keys",
    responses={503: {"model": LegacyHealth, "description": "Down"}},
)
async def legacy_health(report: HealthReportDep) -> JSONResponse:
    uptime = report.check(health.UPTIME).observed_value
    body = LegacyHealth(
        status=_LEGACY_STATUS[report.status],
        uptime=float(uptime or 0),
        version=__version__,
        db="connected" if report.console_db_connected else "disconnected",
        mocks=False,
        checks=_checks(report),
    )
    status = 503 if report.status == "fail" else 200
    return JSONResponse(_dump(body), status_code=status, headers=NO_STORE)


def metrics_access(request: Request, engine: EngineDep, settings: SettingsDep) -> None:
    """Public unless PRISM_METRICS_PUBLIC=false, then a read token is needed."""
    if settings.metrics_public:
        return
    with Session(engine, expire_on_commit=False) as session:
        Scope("read").check(request, session, settings)


@router.get(
    "/metrics",
    response_class=PrometheusResponse,
    summary="Prometheus metrics (text format 0.0.4)",
    responses=json_errors(401, 403, 503, validation=False),
    dependencies=[Depends(metrics_access)],
)
def prometheus_metrics(request: Request, metrics: MetricsDep) -> PrometheusResponse:
    # A sync route runs in a worker thread: the fleet collector's queries never block the loop.
    state = request.app.state
    install_fleet_gauges(
        metrics,
        engine=lambda: getattr(state, "engine", None),
        offline_after=state.settings.agent_offline_after,
        stream_subscribers=lambda: state.broadcaster.subscriber_count,
    )
    install_backup_gauge(metrics, lambda: getattr(state, "backups", None))
    return PrometheusResponse(generate_latest(metrics.registry), headers=NO_STORE)
