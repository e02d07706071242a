"""Incident history as a streamed CSV or JSON download (read scope; the list's filters)."""

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from app.alerts import incidents
from app.alerts.deps import IncidentQueryDep
from app.alerts.incidents import INCIDENT_COLUMNS
from app.alerts.schemas import IncidentPublic
from app.auth.deps import ReadPrincipal
from app.core.deps import EngineDep
from app.core.downloads import CSV_NOTE, CSVStream, JSONStream, download
from app.core.responses import errors, json_errors
from app.ops import exports

router = APIRouter(tags=["exports"])


@router.get(
    "/api/export/incidents.csv",
    response_class=CSVStream,
    responses={
        200: {
            "description": f"Columns: {', '.join(INCIDENT_COLUMNS)}.",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        **json_errors(401, 403),
    },
    summary="Incidents as CSV (same filters and order as GET /api/incidents)",
    description=CSV_NOTE,
)
def incidents_csv(
    _principal: ReadPrincipal, engine: EngineDep, query: IncidentQueryDep
) -> StreamingResponse:
    rows = incidents.export_incidents(engine=engine, query=query)
    return download(CSVStream, exports.csv_chunks(rows, INCIDENT_COLUMNS), "incidents.csv")


@router.get(
    "/api/export/incidents.json",
    response_class=JSONStream,
    responses={
        200: {"model": list[IncidentPublic], "description": "A JSON array"},
        **errors(401, 403),
    },
    summary="Incidents as JSON (same filters and order as GET /api/incidents)",
)
def incidents_json(
    _principal: ReadPrincipal, engine: EngineDep, query: IncidentQueryDep
) -> StreamingResponse:
    rows = incidents.export_incidents(engine=engine, query=query)
    return download(JSONStream, exports.json_chunks(rows), "incidents.json")
