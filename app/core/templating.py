"""One render() decides between a full page and an htmx fragment; routes never branch on it.

A page template extends base.html and fills `content`. For an htmx request (HX-Request
without HX-History-Restore-Request) only that block is sent, preceded by a <title> so the
tab title follows; when the request targets a registered partial (HX-Target), only that
partial is sent. Responses vary on those headers so caches never mix them up.
"""

import re
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


# Functions templates call that live in a feature (registered by app/routers.py, which
# knows the features; core names none of them).
TEMPLATE_GLOBALS: dict[str, Callable[..., Any]] = {}


def add_template_global(name: str, function: Callable[..., Any]) -> None:
    """Make `function` callable as `name` in every template."""
    TEMPLATE_GLOBALS[name] = function


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
    env.filters["when"] = format_time
    env.filters["time_tag"] = time_tag
    env.filters["age_tag"] = age_tag
    env.filters["si"] = format_si
    env.filters["short_difficulty"] = short_difficulty
    env.globals["navigation"] = NAVIGATION
    env.globals["version"] = __version__
    env.globals.update(TEMPLATE_GLOBALS)
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


# The one absolute time format of every page: 2026-12-04 18:20:27 UTC. static/js/time.js
# rewrites it to the browser's zone when the operator chose local time (prism_tz=local).
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
TIME_ZONE_COOKIE = "prism_tz"
TIME_ZONES = ("utc", "local")
THEME_COOKIE = "prism_theme"
THEMES = ("system", "light", "dark")


def format_time(value: datetime | None, *, seconds: bool = True) -> str:
    """'2026-12-04 18:20:27 UTC' ('2026-12-04 18:20 UTC' without seconds); '—' when unknown."""
    if value is None:
        return "—"
    text = as_utc(value).strftime(TIME_FORMAT if seconds else TIME_FORMAT[:-3])
    return f"{text} UTC"


def time_tag(value: datetime | None, *, seconds: bool = True) -> Markup:
    """An absolute time as a <time> element static/js/time.js can show in local time."""
    if value is None:
        return Markup('<span class="muted">—</span>')
    precision = "second" if seconds else "minute"
    return Markup('<time datetime="{}" data-time="absolute" data-precision="{}">{}</time>').format(
        isoformat(value), precision, format_time(value, seconds=seconds)
    )


def age_tag(value: datetime | None, now: datetime | None = None) -> Markup:
    """'5m ago' whose exact time shows on hover and on keyboard focus (hence tabindex)."""
    if value is None:
        return Markup('<span class="muted">—</span>')
    return Markup(
        '<time datetime="{}" title="{}" tabindex="0" data-time="relative">{}</time>'
    ).format(isoformat(value), format_time(value), relative_age(value, now))


_SI_PREFIXES = ("", "k", "M", "G", "T", "P", "E", "Z", "Y")


def format_si(value: float | None) -> str:
    """A number with an SI prefix and three significant digits: 3.54 P, 15 k, 812."""
    if value is None:
        return "—"
    magnitude, index = abs(value), 0
    while magnitude >= 999.5 and index < len(_SI_PREFIXES) - 1:
        magnitude, index = magnitude / 1000, index + 1
    digits = 0 if magnitude >= 99.5 else 1 if magnitude >= 9.995 else 2
    shown = f"{magnitude:.{digits}f}"
    if "." in shown:
        shown = shown.rstrip("0").rstrip(".")
    sign = "-" if value < 0 and shown != "0" else ""
    return f"{sign}{shown} {_SI_PREFIXES[index]}".rstrip()


_DIFFICULTY = re.compile(r"^diff ([\d,]+(?:\.\d+)?)$")


def short_difficulty(text: str | None) -> str | None:
    """A tile helper 'diff 3,540,000,000,000,000' as 'diff 3.54 P'; other text unchanged.

    /api/miners/tiles keeps the long form (a compatibility contract, SPEC appendix A); only
    the pages shorten it."""
    if text is None:
        return None
    match = _DIFFICULTY.match(text)
    if match is None:
        return text
    return f"diff {format_si(float(match.group(1).replace(',', '')))}"


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
        # Display preferences of this browser (static/js/time.js and theme.js set them).
        "time_zone": _preference(request, TIME_ZONE_COOKIE, TIME_ZONES),
        "theme": _preference(request, THEME_COOKIE, THEMES),
    }


def _preference(request: Request, cookie: str, choices: tuple[str, ...]) -> str:
    """A display preference from its cookie; the first choice when unset or unknown."""
    value = request.cookies.get(cookie, "")
    return value if value in choices else choices[0]
