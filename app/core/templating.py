"""One render() decides between a full page and an htmx fragment; routes never branch on it.

A page template extends base.html and fills `content`. For an htmx request (HX-Request
without HX-History-Restore-Request) only that block is sent, preceded by a <title> so the
tab title follows; when the request targets a registered partial (HX-Target), only that
partial is sent. Responses vary on those headers so caches never mix them up.
"""

from collections.abc import Mapping
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
    ("agents", "Agents", "/agents"),
    ("events", "Events", "/events"),
    ("runbooks", "Runbooks", "/runbooks"),
    ("miners", "Miners", "/miners"),
    ("cross", "Cross-service", "/cross"),
    ("settings", "Settings", "/settings"),
)


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
        html = env.get_template(partials[target]).render(values)
    elif is_fragment_request(request):
        template = env.get_template(template_name)
        block = template.blocks["content"]
        title = Markup("<title>{} · Prism Console</title>\n").format(values["page_title"])
        # The block output is already autoescaped; a plain str added to Markup would be
        # escaped a second time.
        html = title + Markup("".join(block(template.new_context(values))))  # noqa: S704
    else:
        html = env.get_template(template_name).render(values)
    response = HTMLResponse(html, status_code=status_code, headers=dict(headers or {}))
    response.headers["Vary"] = "HX-Request, HX-Target, HX-History-Restore-Request, Cookie"
    response.headers["Cache-Control"] = "no-store"
    return response


def base_context(request: Request) -> dict[str, Any]:
    """What every template may use: who is signed in, their CSRF token, the active section."""
    web_session = getattr(request.state, "web_session", None)
    principal = getattr(request.state, "principal", None)
    return {
        "request": request,
        "principal": principal,
        "can_write": principal is not None and principal.allows("admin"),
        # operate: execute runbooks, acknowledge incidents, create and end silences
        "can_operate": principal is not None and principal.allows("operate"),
        "csrf_token": web_session.csrf if web_session is not None else "",
        "section": "",
        "page_title": "Prism Console",
        "now": utcnow(),
    }
