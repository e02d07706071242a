"""Cross-service pages over the main API database (read-only): landing, fleet, tasks, timeline.

Each panel shows its data or a short note with the reason it cannot (main DB not configured,
unreachable, too slow, a table or column missing); the page around it always renders.
Users and RoadChain live in users.py and roadchain.py, included below.
"""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from app.auth.deps import WebRead
from app.core.deps import SessionDep, SettingsDep
from app.core.templating import render
from app.core.timeutil import utcnow
from app.maindb import fleet, tasks, timeline
from app.maindb.deps import MainDbDep
from app.maindb.pages import roadchain as cross_roadchain
from app.maindb.pages import users as cross_users
from app.maindb.pages.common import (
    VIEWS,
    ReplicaBanner,
    check_window,
    cross_context,
    next_url,
    parse_time_filter,
    read_panel,
    url_with,
)
from app.maindb.schemas import ReconciliationRow, ReconciliationView, Unavailable
from app.maindb.status import main_status

router = APIRouter(include_in_schema=False)

PER_CATEGORY = 50
PAGE_SIZE = 50
TIMELINE_PAGE = 50
Text = Annotated[str | None, Query(max_length=200)]
Category = Literal["in_both", "console_only", "main_only"]
# Tables of a reconciliation view, in the order shown.
CATEGORY_TABLES: tuple[tuple[str, str, str], ...] = (
    ("disagreeing", "Status disagreements", "Matched agents whose statuses differ."),
    ("in_both", "In both", "Console agents matched to a main agent (by id, then slug)."),
    ("console_only", "Console only", "Console agents the main API does not know."),
    ("main_only", "Main only", "Main API agents that never reported to the console."),
)


@router.get("/cross", response_class=HTMLResponse)
def cross_home(
    request: Request, _user: WebRead, settings: SettingsDep, main_db: MainDbDep
) -> HTMLResponse:
    """The views, whether the main database and each view's tables are there, and its lag."""
    status = main_status(main_db, max_lag_seconds=settings.main_db_max_lag_seconds)
    views = [
        {
            "id": view_id,
            "title": title,
            "href": href,
            "description": description,
            "missing": [name for name in needed if status.ok and name not in status.tables],
        }
        for view_id, title, href, description, needed in VIEWS
    ]
    context = cross_context("home", "Cross-service", status=status, view_cards=views)
    return render(request, "pages/cross/index.html", context)


@router.get("/cross/reconciliation", response_class=HTMLResponse)
def reconciliation(
    request: Request,
    _user: WebRead,
    session: SessionDep,
    settings: SettingsDep,
    main_db: MainDbDep,
    replica: ReplicaBanner,
    category: Category | Literal[""] = "",
    disagreeing: bool = False,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> HTMLResponse:
    """Counts, then one table per category (or one paged table when filtered)."""
    console = fleet.console_agents(
        session=session, now=utcnow(), offline_after=settings.agent_offline_after
    )
    filtered = bool(category) or disagreeing
    # Unfiltered, every row is read once and split into the category tables below.
    limit = PAGE_SIZE if filtered else fleet.MAX_MAIN_AGENTS + len(console)
    outcome = read_panel(
        lambda after: fleet.reconcile(
            main_db=main_db,
            console=console,
            category=category or None,
            disagreeing=disagreeing,
            limit=limit,
            cursor=after,
        ),
        cursor,
    )
    params = {"category": category, "disagreeing": "true" if disagreeing else ""}
    context = cross_context(
        "reconciliation",
        "Fleet reconciliation",
        outcome=outcome,
        replication=replica,
        filtered=filtered,
        params=params,
        tables=_category_tables(outcome, filtered),
        next_url=next_url(outcome, "/cross/reconciliation", params),
        first_url=url_with("/cross/reconciliation", params) if cursor else None,
    )
    return render(
        request,
        "pages/cross/reconciliation.html",
        context,
        partials={"recon-results": "partials/cross/recon_results.html"},
    )


def _category_tables(
    outcome: ReconciliationView | Unavailable, filtered: bool
) -> list[dict[str, Any]]:
    if isinstance(outcome, Unavailable) or filtered:
        return []
    groups: dict[str, list[ReconciliationRow]] = {key: [] for key, _, _ in CATEGORY_TABLES}
    for row in outcome.items:
        groups[row.category].append(row)
        if row.status_disagrees:
            groups["disagreeing"].append(row)
    tables = []
    for key, title, help_text in CATEGORY_TABLES:
        rows = groups[key]
        query = {"disagreeing": "true"} if key == "disagreeing" else {"category": key}
        tables.append(
            {
                "id": key,
                "title": title,
                "help": help_text,
                "count": len(rows),
                "rows": rows[:PER_CATEGORY],
                "all_url": url_with("/cross/reconciliation", query)
                if len(rows) > PER_CATEGORY
                else None,
            }
        )
    return tables


@router.get("/cross/tasks", response_class=HTMLResponse)
def task_list(
    request: Request,
    _user: WebRead,
    main_db: MainDbDep,
    replica: ReplicaBanner,
    status: Annotated[str | None, Query(max_length=64)] = None,
    q: Text = None,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> HTMLResponse:
    """Counts by status over every task, and the list filtered by status and title."""
    outcome = read_panel(
        lambda after: tasks.list_tasks(
            main_db=main_db, status=status or None, q=q or None, limit=PAGE_SIZE, cursor=after
        ),
        cursor,
    )
    params = {"status": status, "q": q}
    context = cross_context(
        "tasks",
        "Main tasks",
        outcome=outcome,
        replication=replica,
        params=params,
        next_url=next_url(outcome, "/cross/tasks", params),
        first_url=url_with("/cross/tasks", params) if cursor else None,
    )
    return render(
        request,
        "pages/cross/tasks.html",
        context,
        partials={"tasks-table": "partials/cross/tasks_table.html"},
    )


@router.get("/cross/timeline", response_class=HTMLResponse)
def timeline_page(
    request: Request,
    _user: WebRead,
    main_db: MainDbDep,
    replica: ReplicaBanner,
    source: Literal["event", "commit", ""] = "",
    type: Annotated[str | None, Query(max_length=64)] = None,
    entity_type: Annotated[str | None, Query(max_length=64)] = None,
    repo: Text = None,
    since: Annotated[str | None, Query(max_length=64)] = None,
    until: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> HTMLResponse:
    """Events and commits merged newest first; older entries load as the list scrolls."""
    errors: dict[str, str] = {}
    since_at = parse_time_filter(since, "since", errors)
    until_at = parse_time_filter(until, "until", errors)
    check_window(since_at, until_at, errors)
    params = {
        "source": source,
        "type": type,
        "entity_type": entity_type,
        "repo": repo,
        "since": since,
        "until": until,
    }
    query = timeline.TimelineQuery(
        source=source or None,
        type=type or None,
        entity_type=entity_type or None,
        repo=repo or None,
        since=since_at,
        until=until_at,
    )
    outcome = (
        Unavailable(reason="Correct the filters above to see the timeline.")
        if errors
        else read_panel(
            lambda after: timeline.timeline(
                main_db=main_db, query=query, limit=TIMELINE_PAGE, cursor=after
            ),
            cursor,
        )
    )
    context = cross_context(
        "timeline",
        "Main timeline",
        outcome=outcome,
        replication=replica,
        params=params,
        errors=errors,
        next_url=next_url(outcome, "/cross/timeline", params),
        first_url=url_with("/cross/timeline", params) if cursor else None,
    )
    return render(
        request,
        "pages/cross/timeline.html",
        context,
        status_code=422 if errors else 200,
        partials={
            "timeline-results": "partials/cross/timeline_results.html",
            "timeline-more": "partials/cross/timeline_items.html",
        },
    )


router.include_router(cross_users.router)
router.include_router(cross_roadchain.router)
