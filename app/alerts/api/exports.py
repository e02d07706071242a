"""Incident history as a streamed CSV or JSON download (read scope; the list's filters)."""

from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from app.alerts import incidents
from app.alerts.deps import IncidentQueryDep
from app.alerts.incidents import INCIDENT_COLUMNS
from app.alerts.schemas import IncidentPublic
from app.auth.deps import ReadPrincipal
from app.core.deps import EngineDep
from app.core.responses import errors, json_errors
from app.ops import exports

router = APIRouter(tags=["exports"])


class CSVStream(StreamingResponse):
    media_type = "text/csv"  # Starlette appends "; charset=utf-8"


class JSONStream(StreamingResponse):
    media_type = "application/json"


_CSV_NOTE = (
    "CSV with a header row; times ISO-8601 UTC with Z; empty cell = null. A text cell starting "
    "with = + - @ is prefixed with ' so spreadsheets never run it as a formula."
)


def _download(
    response: type[StreamingResponse], chunks: Iterator[str], filename: str
) -> StreamingResponse:
    return response(chunks, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


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
    description=_CSV_NOTE,
)
def incidents_csv(
    _principal: ReadPrincipal, engine: EngineDep, query: IncidentQueryDep
) -> StreamingResponse:
    rows = incidents.export_incidents(engine=engine, query=query)
    return _download(CSVStream, exports.csv_chunks(rows, INCIDENT_COLUMNS), "incidents.csv")


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
    return _download(JSONStream, exports.json_chunks(rows), "incidents.json")
