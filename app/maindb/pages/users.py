"""Cross-service pages: main API users, and one user's wallets, balances and transactions."""

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse

from app.auth.deps import WebRead
from app.core.errors import NotFoundError
from app.core.templating import render
from app.maindb import users
from app.maindb.deps import MainDbDep
from app.maindb.pages.common import (
    ReplicaBanner,
    cross_context,
    next_url,
    read_panel,
    url_with,
)
from app.maindb.schemas import TransactionPage, Unavailable, UserDetail

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
RECENT_TRANSACTIONS = 20
CursorParam = Annotated[str | None, Query(max_length=1000)]


@router.get("/cross/users", response_class=HTMLResponse)
def user_list(
    request: Request,
    _user: WebRead,
    main_db: MainDbDep,
    replica: ReplicaBanner,
    q: Annotated[str | None, Query(max_length=200)] = None,
    role: Annotated[str | None, Query(max_length=64)] = None,
    active: Literal["", "true", "false"] = "",
    cursor: CursorParam = None,
) -> HTMLResponse:
    """Users newest first, searchable by email or name, filtered by role and active flag."""
    query = users.UserQuery(
        q=q or None, role=role or None, active=None if not active else active == "true"
    )
    outcome = read_panel(
        lambda after: users.list_users(main_db=main_db, query=query, limit=PAGE_SIZE, cursor=after),
        cursor,
    )
    params = {"q": q, "role": role, "active": active}
    context = cross_context(
        "users",
        "Main users",
        outcome=outcome,
        replication=replica,
        params=params,
        next_url=next_url(outcome, "/cross/users", params),
        first_url=url_with("/cross/users", params) if cursor else None,
    )
    return render(
        request,
        "pages/cross/users.html",
        context,
        partials={"users-table": "partials/cross/users_table.html"},
    )


@router.get("/cross/users/{user_id}", response_class=HTMLResponse)
def user_page(
    request: Request,
    _user: WebRead,
    main_db: MainDbDep,
    replica: ReplicaBanner,
    user_id: Annotated[str, Path(max_length=128)],
    direction: Literal["", "in", "out", "internal"] = "",
    cursor: CursorParam = None,
) -> HTMLResponse:
    """The user, their wallets with exact balances, and their transactions newest first."""
    try:
        outcome = users.user_detail(main_db=main_db, user_id=user_id, recent=RECENT_TRANSACTIONS)
        transactions: TransactionPage | Unavailable | None = None
        if isinstance(outcome, UserDetail):
            transactions = outcome.transactions
            if direction or cursor:
                # A filtered or later page: the same order, read on its own.
                query = users.TransactionQuery(direction=direction or None)
                transactions = read_panel(
                    lambda after: users.user_transactions(
                        main_db=main_db,
                        user_id=user_id,
                        query=query,
                        limit=RECENT_TRANSACTIONS,
                        cursor=after,
                    ),
                    cursor,
                )
    except NotFoundError as exc:
        context = cross_context("users", "User not found", reason=exc.detail, user_id=user_id)
        return render(request, "pages/cross/user_missing.html", context, status_code=404)
    path = f"/cross/users/{user_id}"
    params = {"direction": direction}
    context = cross_context(
        "users",
        _title(outcome, user_id),
        outcome=outcome,
        replication=replica,
        transactions=transactions,
        params=params,
        path=path,
        next_url=next_url(transactions, path, params),
        first_url=url_with(path, params) if cursor else None,
    )
    return render(
        request,
        "pages/cross/user.html",
        context,
        partials={"transactions-panel": "partials/cross/transactions.html"},
    )


def _title(outcome: UserDetail | Unavailable, user_id: str) -> str:
    if isinstance(outcome, UserDetail):
        return f"User {outcome.user.name or outcome.user.email or user_id}"
    return f"User {user_id}"
