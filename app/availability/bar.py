"""The 90-day status bar (SPEC §13) as HTML, built in Python.

Every row of the Agents and Miners lists carries one: 100 rows are 9,000 cells, and the Jinja
macro that drew them cost 185 ms a page (measured with 10,000 agents); this builds the same
markup in a few milliseconds. templates/macros/availability.html calls it as `uptime_bar_html`.
"""

from markupsafe import Markup, escape

from app.availability.service import Uptime


def percent_text(value: float | None) -> str:
    """99.692 %, 100 %, or — when nothing is known (the macros' `percent`)."""
    if value is None:
        return "—"
    return f"{value:.3f}".replace(".000", "") + " %"


def duration_text(seconds: float) -> str:
    """2 h 13 min, 47 min 0 s, 12 s (the macros' `duration`)."""
    whole = round(seconds)
    if whole >= 86400:
        return f"{whole // 86400} d {(whole % 86400) // 3600} h"
    if whole >= 3600:
        return f"{whole // 3600} h {(whole % 3600) // 60} min"
    if whole >= 60:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole} s"


def cell_class(value: float | None) -> str:
    if value is None:
        return "unknown"
    if value >= 99.9:
        return "up"
    return "degraded" if value >= 99 else "down"


def bar_html(uptime: Uptime, outages_url: str, compact: bool = False) -> Markup:
    """One cell a day, oldest first; a day holding an outage links to it on `outages_url`."""
    outages = len(uptime.quarter.outages)
    label = (
        f"Availability per day over the last 90 days: "
        f"{percent_text(uptime.quarter.uptime_percent)} in all, "
        f"{outages} outage{'s' if outages != 1 else ''}"
    )
    url = escape(outages_url)
    cells = []
    for part, outage in zip(uptime.bar, uptime.bar_outages, strict=True):
        figure = part.uptime_percent
        title = f"{part.window.start:%Y-%m-%d}: {percent_text(figure)}"
        kind = cell_class(figure)
        if outage is None:
            cells.append(f'<span class="uptime-cell {kind}" title="{title}"></span>')
        else:
            down = duration_text(part.downtime_seconds)
            cells.append(
                f'<a class="uptime-cell {kind}" href="{url}#outage-{outage}" '
                f'title="{title}, down {down}" aria-label="{title}"></a>'
            )
    compact_class = " compact" if compact else ""
    return Markup(  # noqa: S704 (every piece above is a number, a date or escaped)
        f'<div class="uptime-bar{compact_class}" role="img" aria-label="{label}">'
        + "".join(cells)
        + "</div>"
    )
