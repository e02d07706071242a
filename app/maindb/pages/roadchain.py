"""Cross-service page: RoadChain receipts by status and kind, receipts, merkle roots, webhooks.

Four panels, each read on its own: one missing table hides one panel. The receipts list,
the merkle roots and the webhook log page independently (`cursor`, `roots_cursor`,
`hooks_cursor`), and every link keeps the other panels where they were.
"""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from app.auth.deps import WebRead
from app.core.templating import render
from app.maindb import roadchain
from app.maindb.deps import MainDbDep
from app.maindb.pages.common import (
    ReplicaBanner,
    check_window,
    cross_context,
    next_url,
    parse_time_filter,
    read_panel,
    read_together,
    url_with,
)
from app.maindb.schemas import Unavailable

router = APIRouter(include_in_schema=False)

RECEIPTS_PAGE = 50
ROOTS_PAGE = 14
HOOKS_PAGE = 25
CursorParam = Annotated[str | None, Query(max_length=1000)]
Short = Annotated[str | None, Query(max_length=64)]


@router.get("/cross/roadchain", response_class=HTMLResponse)
def roadchain_page(
    request: Request,
    _user: WebRead,
    main_db: MainDbDep,
    replica: ReplicaBanner,
    status: Short = None,
    kind: Short = None,
    user_id: Annotated[str | None, Query(max_length=128)] = None,
    since: Short = None,
    until: Short = None,
    cursor: CursorParam = None,
    roots_cursor: CursorParam = None,
    hooks_cursor: CursorParam = None,
) -> HTMLResponse:
    """Summary counts, the filtered receipt list, daily merkle roots and the webhook log."""
    errors: dict[str, str] = {}
    since_at = parse_time_filter(since, "since", errors)
    until_at = parse_time_filter(until, "until", errors)
    check_window(since_at, until_at, errors)
    query = roadchain.ReceiptQuery(
        status=status or None,
        kind=kind or None,
        user_id=user_id or None,
        since=since_at,
        until=until_at,
    )
    panels = read_together(
        summary=lambda: roadchain.summary(main_db=main_db),
        receipts=lambda: (
            Unavailable(reason="Correct the filters above to see receipts.")
            if errors
            else read_panel(
                lambda after: roadchain.receipts(
                    main_db=main_db, query=query, limit=RECEIPTS_PAGE, cursor=after
                ),
                cursor,
            )
        ),
        roots=lambda: read_panel(
            lambda after: roadchain.merkle_roots(main_db=main_db, limit=ROOTS_PAGE, cursor=after),
            roots_cursor,
        ),
        hooks=lambda: read_panel(
            lambda after: roadchain.webhooks(
                main_db=main_db, query=roadchain.WebhookQuery(), limit=HOOKS_PAGE, cursor=after
            ),
            hooks_cursor,
        ),
    )
    receipts, roots, hooks = panels["receipts"], panels["roots"], panels["hooks"]
    filters = {
        "status": status,
        "kind": kind,
        "user_id": user_id,
        "since": since,
        "until": until,
    }
    # Every link keeps the filters and the other panels' positions.
    params = {
        **filters,
        "cursor": cursor,
        "roots_cursor": roots_cursor,
        "hooks_cursor": hooks_cursor,
    }
    path = "/cross/roadchain"
    context = cross_context(
        "roadchain",
        "RoadChain",
        replication=replica,
        summary=panels["summary"],
        receipts=receipts,
        roots=roots,
        hooks=hooks,
        params=filters,
        errors=errors,
        receipts_next=next_url(receipts, path, params),
        receipts_first=url_with(path, params, cursor=None) if cursor else None,
        roots_next=next_url(roots, path, params, key="roots_cursor"),
        roots_first=url_with(path, params, roots_cursor=None) if roots_cursor else None,
        hooks_next=next_url(hooks, path, params, key="hooks_cursor"),
        hooks_first=url_with(path, params, hooks_cursor=None) if hooks_cursor else None,
    )
    return render(
        request,
        "pages/cross/roadchain.html",
        context,
        status_code=422 if errors else 200,
        partials={"receipts-panel": "partials/cross/receipts.html"},
    )
