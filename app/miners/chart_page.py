"""A miner's charts on its page: what static/js/charts.js draws, and the words without it.

The page names the window (a preset or custom since/until); charts.js draws exactly that
window on the time axis, whatever part of it has data. Dragging across a chart zooms: the
browser asks for the same page with the dragged since/until and `reset` naming the window
it came from, so the zoomed range is a URL of its own and "Reset zoom" is a plain link.
The subject's incidents overlapping the window travel with the charts as annotations.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from sqlmodel import Session

from app.alerts.subject_incidents import incidents_overlapping
from app.core.errors import UnprocessableError
from app.core.timeutil import isoformat
from app.miners import summary as miner_summary
from app.models.alerts import Incident

# About one point per pixel of a wide chart: small answers, and a spike keeps its own bucket.
CHART_POINTS = 800
# The one island of incidents that every chart of the page annotates itself with.
INCIDENTS_ISLAND = "miner-chart-incidents"


@dataclass(frozen=True)
class ZoomReset:
    """Where a zoomed view goes back to: `value` travels in URLs, `url` is the link."""

    value: str
    url: str


def reset_value(window: miner_summary.Window) -> str:
    """The `reset` of a zoom started from this window: its preset, else `since/until`."""
    if window.preset is not None:
        return window.preset
    return f"{isoformat(window.since)}/{isoformat(window.until)}"


def resolve_reset(value: str | None, *, base_url: str, now: datetime) -> ZoomReset | None:
    """The window a zoom resets to, from `reset`: a preset key or `since/until` in ISO-8601.

    Raises UnprocessableError("reset: ...") when it names no window.
    """
    if not value:
        return None
    if value in miner_summary.RANGES:
        return ZoomReset(value=value, url=f"{base_url}?{urlencode({'range': value})}")
    since, separator, until = value.partition("/")
    if not separator or not since or not until:
        raise UnprocessableError(
            f"reset: use a range ({', '.join(miner_summary.RANGES)}) or since/until"
        )
    try:
        window = miner_summary.resolve_range(preset=None, since=since, until=until, now=now)
    except UnprocessableError as exc:
        _field, _sep, message = exc.detail.partition(": ")
        raise UnprocessableError(f"reset: {message}") from None
    query = urlencode({"since": isoformat(window.since), "until": isoformat(window.until)})
    return ZoomReset(value=value, url=f"{base_url}?{query}")


def chart_view(
    spec: miner_summary.ChartSpec,
    miner_id: str,
    window: miner_summary.Window,
    figures: miner_summary.WindowFigures,
) -> dict[str, Any]:
    """What charts.js needs for one chart, and its text for readers without JavaScript."""
    query = urlencode(
        {"since": isoformat(window.since), "until": isoformat(window.until), "points": CHART_POINTS}
    )
    series = [
        {"key": item.key, "label": item.label, "unit": item.unit}
        | ({"format": spec.value_format} if spec.value_format else {})
        | ({"hidden": True} if item.hidden else {})
        for item in spec.series
    ]
    options: dict[str, Any] = {"line": spec.line, "kind": spec.kind, "axis": spec.axis}
    if spec.thresholds:
        options["thresholds"] = [
            {"value": item.value, "label": item.label, "level": item.level}
            for item in spec.thresholds
        ]
    if spec.reject_percent:
        options["rejectPercent"] = True
    lines = miner_summary.summary_lines(spec, figures, window)
    return {
        "id": spec.id,
        "title": spec.title,
        "url": f"/api/miners/{quote(miner_id, safe='')}/series?{query}",
        "series_json": json.dumps(series, ensure_ascii=False),
        "options_json": json.dumps(options, ensure_ascii=False),
        "aria_label": f"{spec.title} chart over {window.label}. " + "; ".join(lines),
        "lines": lines,
    }


@dataclass(frozen=True)
class ChartIncident:
    """An incident as a chart annotation (unix seconds; `end` None while it is open)."""

    start: float
    end: float | None
    severity: str
    title: str
    href: str
    started_at: datetime
    resolved_at: datetime | None

    def island(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "severity": self.severity,
            "title": self.title,
            "href": self.href,
        }


def _chart_incident(incident: Incident) -> ChartIncident:
    return ChartIncident(
        start=incident.started_at.timestamp(),
        end=incident.resolved_at.timestamp() if incident.resolved_at else None,
        severity=incident.severity,
        title=incident.rule_name,
        href=f"/incidents/{incident.id}",
        started_at=incident.started_at,
        resolved_at=incident.resolved_at,
    )


def chart_incidents(
    *, session: Session, miner_id: str, window: miner_summary.Window
) -> list[ChartIncident]:
    """The miner's incidents overlapping the window, oldest first."""
    rows = incidents_overlapping(
        session=session,
        subject_type="miner",
        subject=miner_id,
        since=window.since,
        until=window.until,
    )
    return [_chart_incident(row) for row in rows]
