"""The Agents list's view: its query (filters, sort, order, page) read from plain strings,
each bad value named for the page rather than answered as JSON, and its sortable headers."""

from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from pydantic import TypeAdapter, ValidationError

from app.agents.deps import MAX_SEARCH, SearchFilter, StatusFilter
from app.agents.pages.list_order import API_SORTS, DEFAULT_PAGE_SORT, PAGE_SORTS, SortOrder
from app.core.deps import LimitParam
from app.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from app.models.agent import AGENT_STATUSES

# (sort key, column title) of the sortable headers, in table order.
SORT_COLUMNS = (
    ("id", "Agent"),
    ("domain", "Domain"),
    ("status", "Status"),
    ("health", "Health"),
    ("uptime", "Uptime"),
    ("memoryUsedMB", "Memory"),
    ("version", "Version"),
    ("lastSeenAt", "Last seen"),
)
# A page of the list: page numbers, not keyset cursors, because the default order (health,
# then since when) is judged in Python and has no stored column a cursor could seek on.
PAGE_SIZE = DEFAULT_LIMIT


@dataclass(frozen=True)
class ListView:
    """The list's query string, as parsed: what the links of the page carry along."""

    q: str = ""
    status: str = ""
    domain: str = ""
    sort: str = DEFAULT_PAGE_SORT
    order: SortOrder = PAGE_SORTS[DEFAULT_PAGE_SORT]
    limit: int = PAGE_SIZE
    page: int = 1

    def url(self, **changes: Any) -> str:
        """/agents with these parameters (defaults left out)."""
        view = replace(self, **changes)
        params = {
            "q": view.q,
            "status": view.status,
            "domain": view.domain,
            "sort": "" if view.sort == DEFAULT_PAGE_SORT else view.sort,
            "order": "" if view.order == PAGE_SORTS[view.sort] else view.order,
            "limit": "" if view.limit == PAGE_SIZE else str(view.limit),
            "page": "" if view.page == 1 else str(view.page),
        }
        query = urlencode({key: value for key, value in params.items() if value})
        return f"/agents?{query}" if query else "/agents"

    def export_query(self) -> str:
        """The filters for the exports, with the order when the API knows it."""
        sort = ""
        if self.sort in API_SORTS:
            sort = f"-{self.sort}" if self.order == "desc" else self.sort
        params = {"q": self.q, "status": self.status, "domain": self.domain, "sort": sort}
        return urlencode({key: value for key, value in params.items() if value})


# The page checks its query string against the API's own declarations and words each
# refusal for the form (a field named on the page, 422), where the API answers JSON.
_DECLARED: dict[str, TypeAdapter[Any]] = {
    "q": TypeAdapter(SearchFilter),
    "status": TypeAdapter(StatusFilter),
    "limit": TypeAdapter(LimitParam),
}
_REFUSALS = {
    "q": f"q: at most {MAX_SEARCH} characters",
    "status": f"status: must be one of {', '.join(AGENT_STATUSES)}",
    "limit": f"limit: a whole number from 1 to {MAX_LIMIT}",
}


def _parse_sort(sort: str, order: str, errors: dict[str, str]) -> tuple[str, SortOrder]:
    # "-key" is the API's spelling of a descending sort; links made before sort and order
    # were apart keep working.
    if sort.startswith("-") and not order:
        sort, order = sort[1:], "desc"
    sort = sort or DEFAULT_PAGE_SORT
    if sort not in PAGE_SORTS:
        errors["sort"] = f"sort: must be one of {', '.join(PAGE_SORTS)}"
        sort = DEFAULT_PAGE_SORT
    if order not in ("", "asc", "desc"):
        errors["order"] = "order: asc or desc"
        order = ""
    return sort, "asc" if order == "asc" else "desc" if order == "desc" else PAGE_SORTS[sort]


def parse_list(
    q: str, status: str, domain: str, sort: str, order: str, limit: str, page: str
) -> tuple[ListView, dict[str, str]]:
    errors: dict[str, str] = {}
    q = q.strip()
    checked: dict[str, Any] = {}
    for name, text in {"q": q, "status": status, "limit": limit}.items():
        try:
            checked[name] = _DECLARED[name].validate_python(text or None)
        except ValidationError:
            errors[name] = _REFUSALS[name]
            checked[name] = None
    page_number = 1
    if page:
        page_number = int(page) if page.isdecimal() and len(page) < 10 else 0
        if page_number < 1:
            errors["page"] = "page: a whole number from 1"
            page_number = 1
    sort_key, sort_order = _parse_sort(sort, order, errors)
    view = ListView(
        q,
        status,
        domain.strip(),
        sort_key,
        sort_order,
        checked["limit"] or PAGE_SIZE,
        page_number,
    )
    return view, errors


def sort_headers(view: ListView) -> dict[str, dict[str, Any]]:
    headers = {}
    for key, title in SORT_COLUMNS:
        current = view.sort == key
        if current:
            next_order: SortOrder = "asc" if view.order == "desc" else "desc"
        else:
            next_order = PAGE_SORTS[key]
        headers[key] = {
            "key": key,
            "title": title,
            "url": view.url(sort=key, order=next_order, page=1),
            "aria_sort": ("ascending" if view.order == "asc" else "descending")
            if current
            else None,
            "next": "ascending" if next_order == "asc" else "descending",
        }
    return headers
