"""The Alerts page: every rule whose condition holds now, firing first, then pending, then
silenced (SPEC §11). Live: static/js/alerts-live.js hears {"type": "alert"} on the ops
stream and asks this page for its live region again (HX-Target alerts-live), which also
brings the nav's firing count up to date."""

from typing import Annotated, Any, cast

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from app.alerts import current
from app.alerts.deps import ClockDep
from app.alerts.health_schemas import AlertItem
from app.alerts.pages.common import url
from app.auth.deps import WebRead
from app.core.deps import SessionDep
from app.core.templating import render
from app.models.alerts import SEVERITIES, SUBJECT_TYPES, SubjectType

router = APIRouter(include_in_schema=False)

LIVE_PARTIALS = {"alerts-live": "partials/alerts/live.html"}
Choice = Annotated[str, Query(max_length=32)]


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(
    request: Request,
    _: WebRead,
    session: SessionDep,
    clock: ClockDep,
    severity: Choice = "",
    subject_type: Annotated[str, Query(alias="subjectType", max_length=32)] = "",
) -> HTMLResponse:
    """Current alerts in three groups; only the live region for HX-Target "alerts-live"."""
    now = clock()
    errors: dict[str, str] = {}
    if severity and severity not in SEVERITIES:
        errors["severity"] = f"Choose one of {', '.join(SEVERITIES)}."
    if subject_type and subject_type not in SUBJECT_TYPES:
        errors["subjectType"] = f"Choose one of {', '.join(SUBJECT_TYPES)}."
    items: list[AlertItem] = []
    if not errors:
        filters = current.AlertFilters(
            severities=(severity,) if severity else (),
            subject_type=cast(SubjectType | None, subject_type or None),  # checked above
        )
        items = current.current_alerts(session, now=now, filters=filters)
    params = {"severity": severity, "subjectType": subject_type}
    context: dict[str, Any] = {
        "section": "alerts",
        "page_title": "Alerts",
        "view": "alerts",
        "now": now,
        "errors": errors,
        "values": params,
        "filtered": any(params.values()),
        "groups": _groups(items),
        "live_url": url("/alerts", params),
        "severities": SEVERITIES,
        "subject_types": SUBJECT_TYPES,
    }
    return render(
        request,
        "pages/alerts/index.html",
        context,
        partials=LIVE_PARTIALS,
        status_code=422 if errors else 200,
    )


def _groups(items: list[AlertItem]) -> list[tuple[str, str, list[AlertItem]]]:
    """(id, title, items): firing, pending, silenced; the service's order kept in each."""
    firing = [item for item in items if not item.silenced and item.state == "firing"]
    pending = [item for item in items if not item.silenced and item.state == "pending"]
    silenced = [item for item in items if item.silenced]
    return [
        ("firing", "Firing", firing),
        ("pending", "Pending", pending),
        ("silenced", "Silenced", silenced),
    ]
