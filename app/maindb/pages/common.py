"""Shared pieces of the cross-service pages: panel reads, exact amounts, times and page links.

Every panel is read through `read_panel`: the maindb services already turn a missing,
slow or absent main database into `Unavailable(reason)`; a page link whose cursor no
longer fits becomes one too, so a panel shows a note and the rest of the page renders.
"""

import re
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import Depends, Request

from app.core.deps import SettingsDep
from app.core.errors import UnprocessableError
from app.core.pagination import decode_cursor
from app.core.templating import is_fragment_request, relative_age
from app.core.timeutil import parse_datetime
from app.maindb.convert import json_text
from app.maindb.deps import MainDbDep
from app.maindb.replication import replication_status
from app.maindb.schemas import MainDbReplication, Unavailable

T = TypeVar("T")

# The cross-service views, in the order of the sub-navigation and the landing page.
VIEWS: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = (
    (
        "reconciliation",
        "Fleet reconciliation",
        "/cross/reconciliation",
        "Console agents matched to main API agents: in both, only on one side, and where "
        "their statuses disagree.",
        ("agents",),
    ),
    (
        "users",
        "Users",
        "/cross/users",
        "Main API users with their wallets, exact balances and transactions.",
        ("users", "wallets", "transactions"),
    ),
    (
        "tasks",
        "Tasks",
        "/cross/tasks",
        "Main API tasks counted by status, and the list (either tasks schema).",
        ("tasks",),
    ),
    (
        "timeline",
        "Timeline",
        "/cross/timeline",
        "Timeline events and commits, newest first.",
        ("timeline_events", "commits"),
    ),
    (
        "roadchain",
        "RoadChain",
        "/cross/roadchain",
        "Receipts by status and kind, daily merkle roots and the webhook log.",
        (
            "roadchain_receipts",
            "roadchain_merkle_roots",
            "roadchain_webhook_log",
        ),
    ),
)
_AMOUNT = re.compile(r"^([+-]?)(\d+)(\.\d+)?$")


def read_panel(fetch: Callable[[list[Any] | None], T], cursor: str | None) -> T | Unavailable:
    """Run one panel's read from its page link; a stale or foreign cursor is a note, not a 422."""
    try:
        return fetch(decode_cursor(cursor) if cursor else None)
    except UnprocessableError as exc:
        return Unavailable(reason=f"{exc.detail} (go back to the first page)")


def read_together(**loads: Callable[[], Any]) -> dict[str, Any]:
    """Run a page's independent panel reads at once: a hung main DB costs one timeout, not one
    per panel (each read is still bounded by PRISM_MAIN_DB_TIMEOUT_MS)."""
    with ThreadPoolExecutor(max_workers=len(loads), thread_name_prefix="prism-panels") as pool:
        futures = {name: pool.submit(load) for name, load in loads.items()}
        return {name: future.result() for name, future in futures.items()}


def amount(value: int | str | None) -> str:
    """An exact amount with thousands separators; never through a float.

    9007199254740993 → "9,007,199,254,740,993"; "1234.50" → "1,234.50".
    """
    if value is None or isinstance(value, bool):
        return "—"
    if isinstance(value, int):
        return f"{value:,}"
    match = _AMOUNT.match(str(value).strip())
    if match is None:
        return str(value)
    sign, whole, fraction = match.groups()
    return f"{sign}{int(whole):,}{fraction or ''}"


def moment(value: str | None) -> datetime | None:
    """An ISO text from a maindb view as a datetime (None when absent or unreadable)."""
    if not value:
        return None
    try:
        return parse_datetime(value)
    except ValueError:
        return None


def age(value: str | None) -> str:
    """'5m ago' for an ISO text; '—' when unknown."""
    return relative_age(moment(value))


def safe_link(url: str | None) -> str | None:
    """Only http(s) links from the main DB become hrefs (never javascript: or data:)."""
    if url and url.lower().startswith(("https://", "http://")):
        return url
    return None


def url_with(path: str, params: Mapping[str, Any], **changes: Any) -> str:
    """`path` with the non-empty `params`, some of them changed (None drops one)."""
    merged = {**params, **changes}
    query = {key: value for key, value in merged.items() if value not in (None, "", False)}
    return f"{path}?{urlencode(query)}" if query else path


def next_url(outcome: Any, path: str, params: Mapping[str, Any], key: str = "cursor") -> str | None:
    """The "Next page" link of a paged panel (None on the last page or without data)."""
    next_cursor = getattr(outcome, "next_cursor", None)
    return url_with(path, params, **{key: next_cursor}) if next_cursor else None


def parse_time_filter(text: str | None, field: str, errors: dict[str, str]) -> datetime | None:
    """A since/until filter value, or None; a bad one is recorded as a field error."""
    if not text:
        return None
    try:
        return parse_datetime(text)
    except ValueError:
        errors[field] = "Use a date (2026-01-05), ISO date and time, or unix seconds."
        return None


def check_window(since: datetime | None, until: datetime | None, errors: dict[str, str]) -> None:
    if since is not None and until is not None and until <= since:
        errors["until"] = "Must be later than “since”."


def replica_banner(
    request: Request, settings: SettingsDep, main_db: MainDbDep
) -> MainDbReplication | None:
    """The main database's subscriptions for a page's lag banner (subnav); none for a fragment.

    A replica that lags serves old rows: every cross-service page says so above its panels.
    """
    if main_db is None or is_fragment_request(request):
        return None
    return replication_status(main_db, max_lag_seconds=settings.main_db_max_lag_seconds)


ReplicaBanner = Annotated[MainDbReplication | None, Depends(replica_banner)]


def cross_context(view: str, page_title: str, **values: Any) -> dict[str, Any]:
    """What every cross-service page template receives."""
    return {
        "section": "cross",
        "page_title": page_title,
        "view": view,
        "views": VIEWS,
        "fmt": {
            "amount": amount,
            "age": age,
            "json_text": json_text,
            "safe_link": safe_link,
        },
        **values,
    }
