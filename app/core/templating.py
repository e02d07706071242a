"""One render() decides between a full page and an htmx fragment; routes never branch on it.

A page template extends base.html and fills `content`. For an htmx request (HX-Request
without HX-History-Restore-Request) only that block is sent, preceded by a <title> so the
tab title follows; when the request targets a registered partial (HX-Target), only that
partial is sent. Responses vary on those headers so caches never mix them up.
"""

from collections.abc import Callable, ItemsView, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from app import __version__
from app.core.paths import TEMPLATES_DIR
from app.core.timeutil import as_utc, isoformat, utcnow

NAVIGATION = (
    ("overview", "Overview", "/"),
    ("alerts", "Alerts", "/alerts"),
    ("agents", "Agents", "/agents"),
    ("events", "Events", "/events"),
    ("runbooks", "Runbooks", "/runbooks"),
    ("miners", "Miners", "/miners"),
    ("cross", "Cross-service", "/cross"),
    ("settings", "Settings", "/settings"),
)


@dataclass(frozen=True)
class NavCount:
    """A number the nav shows next to a section (the firing alerts next to Alerts): `read`
    gets it for a request, `label` says what it counts ("3 firing")."""

    read: Callable[[Request], int]
    label: str


# Registered by app/routers.py, which knows the features: core names none of them.
NAV_COUNTS: dict[str, NavCount] = {}
# The counts as out-of-band swaps, sent after htmx content (the nav is outside #main).
NAV_COUNTS_PARTIAL = "partials/nav_counts.html"


def add_nav_count(section: str, read: Callable[[Request], int], *, label: str) -> None:
    """Show `read(request)` next to the nav entry `section` on every signed-in page."""
    NAV_COUNTS[section] = NavCount(read, label)


class NavCounts:
    """The nav's counts of one request, read only if a template shows them (the frame of a
    full page, the out-of-band update after htmx content, a partial that includes them), and
    then only once: a partial that does not show them costs no query."""

    def __init__(self, request: Request | None) -> None:
        self._request = request
        self._values: dict[str, int] | None = None

    def _read(self) -> dict[str, int]:
        if self._values is None:
            request = self._request
            self._values = (
                {}
                if request is None
                else {section: count.read(request) for section, count in NAV_COUNTS.items()}
            )
        return self._values

    def get(self, section: str) -> int | None:
        return self._read().get(section)

    def items(self) -> ItemsView[str, int]:
        return self._read().items()

    def label(self, section: str) -> str:
        return NAV_COUNTS[section].label


def build_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["iso"] = lambda value: isoformat(value) if value else ""
    env.filters["ago"] = relative_age
    env.filters["number"] = format_number
    env.globals["navigation"] = NAVIGATION
    env.globals["version"] = __version__
    return env


def relative_age(value: datetime | None, now: datetime | None = None) -> str:
    """'42s ago', '5m ago', '3h ago', '2d ago'; '—' when unknown."""
    if value is None:
        return "—"
    seconds = max(0, int(((now or utcnow()) - as_utc(value)).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def format_number(value: float | int | None, decimals: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{decimals}f}"


def is_fragment_request(request: Request) -> bool:
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def render(
    request: Request,
    template_name: str,
    context: Mapping[str, Any],
    *,
    status_code: int = 200,
    partials: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """Render a page, its content block, or one of its partials, as the request asks."""
    env: Environment = request.app.state.jinja
    values = {**base_context(request), **context}
    target = request.headers.get("HX-Target")
    if is_fragment_request(request) and partials and target is not None and target in partials:
        # A partial refreshed alone may bring the frame's counts along (nav_counts.html).
        html = env.get_template(partials[target]).render({**values, "partial_alone": True})
    elif is_fragment_request(request):
        template = env.get_template(template_name)
        block = template.blocks["content"]
        title = Markup("<title>{} · Prism Console</title>\n").format(values["page_title"])
        # The block output is already autoescaped; a plain str added to Markup would be
        # escaped a second time.
        html = title + Markup("".join(block(template.new_context(values))))  # noqa: S704
        # The frame stays on the page: its counts follow by an out-of-band swap.
        html += Markup(env.get_template(NAV_COUNTS_PARTIAL).render(values))  # noqa: S704
    else:
        html = env.get_template(template_name).render(values)
    response = HTMLResponse(html, status_code=status_code, headers=dict(headers or {}))
    response.headers["Vary"] = "HX-Request, HX-Target, HX-History-Restore-Request, Cookie"
    response.headers["Cache-Control"] = "no-store"
    return response


def base_context(request: Request) -> dict[str, Any]:
    """What every template may use: who is signed in, their CSRF token, the active section,
    the nav's counts (read when shown)."""
    web_session = getattr(request.state, "web_session", None)
    principal = getattr(request.state, "principal", None)
    return {
        "request": request,
        "principal": principal,
        "can_write": principal is not None and principal.allows("admin"),
        # operate: execute runbooks, acknowledge incidents, create and end silences
        "can_operate": principal is not None and principal.allows("operate"),
        "csrf_token": web_session.csrf if web_session is not None else "",
        "nav_counts": NavCounts(request if principal is not None else None),
        "partial_alone": False,
        "section": "",
        "page_title": "Prism Console",
        "now": utcnow(),
    }
