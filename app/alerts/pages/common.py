"""What the alerts pages share: the posted form, errors placed next to their fields, URLs,
and the nav's firing count.

Forms are checked by the API's own schemas and services: a page builds the body the API
would get (camelCase keys), and each refusal, whether pydantic's or a service's
"field: message", is shown next to the control of that name (422, nothing written).
"""

from collections.abc import Collection, Iterable
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from sqlmodel import Session

from app.alerts import health
from app.core.errors import PrismError
from app.core.templating import render


class PostedForm:
    """A posted form's text values: the first of a name, or all of them (checkboxes)."""

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._values: dict[str, list[str]] = {}
        for key, value in items:
            self._values.setdefault(key, []).append(value)

    def get(self, name: str) -> str:
        """The first value sent for `name`, stripped; "" when none was."""
        values = self._values.get(name)
        return values[0].strip() if values else ""

    def raw(self, name: str) -> str:
        """The first value as sent (multi-line text keeps its spacing)."""
        values = self._values.get(name)
        return values[0] if values else ""

    def getlist(self, name: str) -> list[str]:
        """Every non-empty value sent for `name`, in order (checked boxes, lines)."""
        return [value.strip() for value in self._values.get(name, []) if value.strip()]

    def has(self, name: str) -> bool:
        return name in self._values

    def first_values(self) -> dict[str, str]:
        """The first value of each name, as sent (what the runbook form parser reads)."""
        return {key: values[0] for key, values in self._values.items()}


async def posted_form(request: Request) -> PostedForm:
    """The posted form's text fields (files are not read)."""
    form = await request.form()
    return PostedForm((key, value) for key, value in form.multi_items() if isinstance(value, str))


FormDep = Annotated[PostedForm, Depends(posted_form)]


class FormErrors:
    """Errors of one submitted form: by field name, and those no field owns."""

    def __init__(self, fields: Collection[str]) -> None:
        self.fields = fields
        self.by_field: dict[str, str] = {}
        self.general: list[str] = []

    def __bool__(self) -> bool:
        return bool(self.by_field or self.general)

    def add(self, location: str, message: str) -> None:
        """Put the message on the field the location names (params.aboveC, target.agents.0),
        else with the form's general errors."""
        owner = _owner(location, self.fields)
        if owner is None:
            self.general.append(f"{location}: {message}" if location else message)
        else:
            self.by_field.setdefault(owner, message)

    def add_validation(self, exc: ValidationError) -> None:
        """pydantic's errors of the body the page built (camelCase locations)."""
        for error in exc.errors():
            self.add(".".join(str(part) for part in error["loc"]), _message(error["msg"]))

    def add_service(self, exc: PrismError) -> None:
        """A service's "field: message" refusal (several joined by "; ")."""
        for problem in exc.detail.split("; "):
            location, separator, message = problem.partition(": ")
            if separator and " " not in location:
                self.add(location, message)
            else:
                self.general.append(problem)


def _owner(location: str, fields: Collection[str]) -> str | None:
    parts = location.split(".")
    for size in range(len(parts), 0, -1):
        candidate = ".".join(parts[:size])
        if candidate in fields:
            return candidate
    return None


def _message(text: str) -> str:
    # pydantic words a validator's ValueError "Value error, <ours>": ours is enough.
    return text.removeprefix("Value error, ")


def url(path: str, params: Iterable[tuple[str, str]] | dict[str, str] = ()) -> str:
    """`path` with the non-empty parameters as its query string."""
    pairs = params.items() if isinstance(params, dict) else params
    kept = [(key, value) for key, value in pairs if value]
    return f"{path}?{urlencode(kept)}" if kept else path


def quoted(value: str) -> str:
    """One path segment (ids may hold any character but '/')."""
    return quote(value, safe="")


def nav_firing_count(request: Request) -> int:
    """The nav's count (firing, unsilenced), read with a short session of its own: the frame
    is rendered after the route's work, which may hold its session in a transaction."""
    with Session(request.app.state.engine) as session:
        return health.firing_count(session)


def not_found_page(
    request: Request,
    *,
    title: str,
    what: str,
    missing_id: str,
    back_url: str,
    back_label: str,
) -> HTMLResponse:
    """The alerts pages' 404: which kind of thing is missing, and the way back to its list."""
    context = {
        "section": "alerts",
        "page_title": title,
        "what": what,
        "missing_id": missing_id,
        "back_url": back_url,
        "back_label": back_label,
    }
    return render(request, "pages/alerts/not_found.html", context, status_code=404)
