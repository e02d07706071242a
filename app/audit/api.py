"""The audit log's API (admin): the filtered list and its CSV / JSON export. Read-only:
no route edits or deletes a row (SPEC §12)."""

from typing import Any

from fastapi import APIRouter

from app.audit import queries
from app.audit.deps import AuditQueryDep
from app.auth.deps import AdminPrincipal, AuthFirstRoute
from app.core.deps import EngineDep, PageDep, SessionDep
from app.core.downloads import CSVStream, JSONStream, download
from app.core.pagination import DEFAULT_LIMIT, encode_cursor
from app.core.responses import errors, json_errors
from app.models.audit import AuditEventPublic, AuditPage
from app.ops import exports

router = APIRouter(tags=["audit"], route_class=AuthFirstRoute)


@router.get(
    "/api/audit",
    response_model=AuditPage,
    responses=errors(401, 403),
    summary="The audit log, newest first",
)
def list_audit(
    _principal: AdminPrincipal, session: SessionDep, page: PageDep, query: AuditQueryDep
) -> AuditPage:
    """Every state-changing action, newest first, keyset paginated (`nextCursor`). Each row
    carries `prevHash` and `hash` (SHA-256 of prevHash and the row's canonical JSON); secrets
    in `detail` are `***`."""
    rows, last = queries.list_events(
        session=session, query=query, limit=page.limit or DEFAULT_LIMIT, after=page.cursor
    )
    return AuditPage(
        items=[AuditEventPublic.model_validate(row) for row in rows],
        next_cursor=encode_cursor(last) if last else None,
    )


@router.get(
    "/api/export/audit.csv",
    response_class=CSVStream,
    responses={
        200: {
            "description": f"Columns: {', '.join(queries.EXPORT_COLUMNS)}.",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        **json_errors(401, 403),
    },
    summary="The audit log as CSV (same filters and order as GET /api/audit)",
)
def audit_csv(_principal: AdminPrincipal, engine: EngineDep, query: AuditQueryDep) -> Any:
    """CSV with a header row; `detail` is one JSON cell; a cell starting with = + - @ is
    prefixed with ' so spreadsheets never run it."""
    rows = (queries.csv_row(row) for row in queries.export_events(engine=engine, query=query))
    return download(CSVStream, exports.csv_chunks(rows, queries.EXPORT_COLUMNS), "audit.csv")


@router.get(
    "/api/export/audit.json",
    response_class=JSONStream,
    responses={
        200: {"model": list[AuditEventPublic], "description": "A JSON array"},
        **errors(401, 403),
    },
    summary="The audit log as JSON (same filters and order as GET /api/audit)",
)
def audit_json(_principal: AdminPrincipal, engine: EngineDep, query: AuditQueryDep) -> Any:
    rows = queries.export_events(engine=engine, query=query)
    return download(JSONStream, exports.json_chunks(rows), "audit.json")
