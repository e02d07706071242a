"""Cross-service views over the main API database (read-only), under /api/main/.

Every view answers 200: its data with `available: true`, or `available: false` with the
reason (main DB not configured, unreachable, slower than PRISM_MAIN_DB_TIMEOUT_MS, or a
table/column missing), so a panel can hide itself with a note and never shows an error page.
Only an unknown user or agent is a 404, and a bad filter a 422.
"""

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from app.auth.deps import ReadPrincipal
from app.core.deps import PageDep, PageParams, SessionDep, SettingsDep
from app.core.errors import UnprocessableError
from app.core.pagination import DEFAULT_LIMIT
from app.core.responses import errors
from app.core.timeutil import UTCDateTime, utcnow
from app.maindb import fleet, roadchain, tasks, timeline, users
from app.maindb.deps import MainDbDep
from app.maindb.schemas import (
    AgentLogPage,
    MainDbStatus,
    MerkleRootPage,
    ReceiptPage,
    ReconciliationView,
    RoadChainSummary,
    TaskView,
    TimelinePage,
    TransactionPage,
    Unavailable,
    UserDetail,
    UserPage,
    WebhookPage,
)
from app.maindb.status import main_status

router = APIRouter(tags=["main database"])

_TIME_FORMS = "ISO-8601 (Z or offset; naive = UTC), a date, or unix seconds"
Since = Annotated[UTCDateTime | None, Query(description=f"At or after this time: {_TIME_FORMS}.")]
Until = Annotated[UTCDateTime | None, Query(description=f"Before this time: {_TIME_FORMS}.")]
_ERRORS = errors(401, 403)
_NO_INPUT_ERRORS = errors(401, 403, validation=False)
_ERRORS_404 = errors(401, 403, 404)


def _limit(page: PageParams) -> int:
    return page.limit if page.limit is not None else DEFAULT_LIMIT


def _window(since: UTCDateTime | None, until: UTCDateTime | None) -> None:
    if since is not None and until is not None and until <= since:
        raise UnprocessableError("until: must be later than since")


@router.get(
    "/api/main/status",
    response_model=MainDbStatus,
    responses=_NO_INPUT_ERRORS,
    summary="Main database: configured, reachable, latency, visible tables",
    description="On a PostgreSQL logical replica, also each subscription and its lag "
    "(warn past PRISM_MAIN_DB_MAX_LAG_SECONDS).",
)
def get_status(
    _principal: ReadPrincipal, settings: SettingsDep, main_db: MainDbDep
) -> MainDbStatus:
    return main_status(main_db, max_lag_seconds=settings.main_db_max_lag_seconds)


@router.get(
    "/api/main/reconciliation",
    response_model=ReconciliationView | Unavailable,
    responses=_ERRORS,
    summary="Console agents matched to main agents (by id, then slug)",
    description="Counts cover both fleets; items are paged by key and can be limited to one "
    "category or to status disagreements (console shown status vs mapped main status).",
)
def get_reconciliation(
    _principal: ReadPrincipal,
    session: SessionDep,
    settings: SettingsDep,
    main_db: MainDbDep,
    page: PageDep,
    category: Annotated[
        Literal["in_both", "console_only", "main_only"] | None, Query(description="One category.")
    ] = None,
    disagreeing: Annotated[
        bool, Query(description="Only agents whose console and main statuses disagree.")
    ] = False,
) -> ReconciliationView | Unavailable:
    console = fleet.console_agents(
        session=session, now=utcnow(), offline_after=settings.agent_offline_after
    )
    return fleet.reconcile(
        main_db=main_db,
        console=console,
        category=category,
        disagreeing=disagreeing,
        limit=_limit(page),
        cursor=page.cursor,
    )


@router.get(
    "/api/main/agents/{agent_id}/logs",
    response_model=AgentLogPage | Unavailable,
    responses=_ERRORS_404,
    summary="The main agent_logs of an agent, newest first",
    description="The agent is the main agent whose id, else whose slug, equals `agent_id` "
    "(the console agent id). 404 when the main database has no such agent.",
)
def get_agent_logs(
    _principal: ReadPrincipal,
    main_db: MainDbDep,
    page: PageDep,
    agent_id: Annotated[str, Path(max_length=128)],
    level: Annotated[str | None, Query(max_length=32, description="Exact level.")] = None,
    since: Since = None,
    until: Until = None,
) -> AgentLogPage | Unavailable:
    _window(since, until)
    return fleet.agent_logs(
        main_db=main_db,
        agent_id=agent_id,
        query=fleet.LogQuery(level=level, since=since, until=until),
        limit=_limit(page),
        cursor=page.cursor,
    )


@router.get(
    "/api/main/users",
    response_model=UserPage | Unavailable,
    responses=_ERRORS,
    summary="Main API users, newest first",
)
def list_users(
    _principal: ReadPrincipal,
    main_db: MainDbDep,
    page: PageDep,
    q: Annotated[str | None, Query(max_length=200, description="Text in email or name.")] = None,
    role: Annotated[str | None, Query(max_length=64, description="Exact role.")] = None,
    active: Annotated[bool | None, Query(description="Only active (or inactive) users.")] = None,
) -> UserPage | Unavailable:
    return users.list_users(
        main_db=main_db,
        query=users.UserQuery(q=q, role=role, active=active),
        limit=_limit(page),
        cursor=page.cursor,
    )


@router.get(
    "/api/main/users/{user_id}",
    response_model=UserDetail | Unavailable,
    responses=_ERRORS_404,
    summary="A main user with wallets, balances and latest transactions",
)
def get_user(
    _principal: ReadPrincipal,
    main_db: MainDbDep,
    user_id: Annotated[str, Path(max_length=128)],
) -> UserDetail | Unavailable:
    return users.user_detail(main_db=main_db, user_id=user_id)


@router.get(
    "/api/main/users/{user_id}/transactions",
    response_model=TransactionPage | Unavailable,
    responses=_ERRORS_404,
    summary="Transactions from or to the user's wallets, newest first",
)
def list_user_transactions(
    _principal: ReadPrincipal,
    main_db: MainDbDep,
    page: PageDep,
    user_id: Annotated[str, Path(max_length=128)],
    direction: Annotated[
        Literal["in", "out", "internal"] | None,
        Query(description="in: received, out: sent, internal: between the user's wallets."),
    ] = None,
    since: Since = None,
    until: Until = None,
) -> TransactionPage | Unavailable:
    _window(since, until)
    return users.user_transactions(
        main_db=main_db,
        user_id=user_id,
        query=users.TransactionQuery(direction=direction, since=since, until=until),
        limit=_limit(page),
        cursor=page.cursor,
    )


@router.get(
    "/api/main/tasks",
    response_model=TaskView | Unavailable,
    responses=_ERRORS,
    summary="Main API tasks: counts by status and a list (either tasks schema)",
)
def list_tasks(
    _principal: ReadPrincipal,
    main_db: MainDbDep,
    page: PageDep,
    status: Annotated[str | None, Query(max_length=64, description="Exact status.")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Text in the title.")] = None,
) -> TaskView | Unavailable:
    return tasks.list_tasks(
        main_db=main_db,
        status=status,
        q=q,
        limit=_limit(page),
        cursor=page.cursor,
    )


@router.get(
    "/api/main/timeline",
    response_model=TimelinePage | Unavailable,
    responses=_ERRORS,
    summary="Main timeline events and commits merged, newest first",
)
def get_timeline(
    _principal: ReadPrincipal,
    main_db: MainDbDep,
    page: PageDep,
    source: Annotated[Literal["event", "commit"] | None, Query(description="One source.")] = None,
    type: Annotated[
        str | None, Query(max_length=64, description="Event type; `commit` for commits.")
    ] = None,
    entity_type: Annotated[
        str | None, Query(max_length=64, description="Events about this entity type.")
    ] = None,
    repo: Annotated[str | None, Query(max_length=200, description="Commits of this repo.")] = None,
    since: Since = None,
    until: Until = None,
) -> TimelinePage | Unavailable:
    _window(since, until)
    query = timeline.TimelineQuery(
        source=source, type=type, entity_type=entity_type, repo=repo, since=since, until=until
    )
    return timeline.timeline(
        main_db=main_db,
        query=query,
        limit=_limit(page),
        cursor=page.cursor,
    )


@router.get(
    "/api/main/roadchain",
    response_model=RoadChainSummary | Unavailable,
    responses=_NO_INPUT_ERRORS,
    summary="RoadChain receipts counted by status and kind",
)
def get_roadchain(_principal: ReadPrincipal, main_db: MainDbDep) -> RoadChainSummary | Unavailable:
    return roadchain.summary(main_db=main_db)


@router.get(
    "/api/main/roadchain/receipts",
    response_model=ReceiptPage | Unavailable,
    responses=_ERRORS,
    summary="RoadChain receipts, newest first (signatures are never returned)",
)
def list_receipts(
    _principal: ReadPrincipal,
    main_db: MainDbDep,
    page: PageDep,
    status: Annotated[str | None, Query(max_length=32, description="Exact status.")] = None,
    kind: Annotated[str | None, Query(max_length=32, description="Exact kind.")] = None,
    user_id: Annotated[str | None, Query(max_length=128, description="One user's.")] = None,
    since: Since = None,
    until: Until = None,
) -> ReceiptPage | Unavailable:
    _window(since, until)
    query = roadchain.ReceiptQuery(
        status=status, kind=kind, user_id=user_id, since=since, until=until
    )
    return roadchain.receipts(
        main_db=main_db,
        query=query,
        limit=_limit(page),
        cursor=page.cursor,
    )


@router.get(
    "/api/main/roadchain/merkle-roots",
    response_model=MerkleRootPage | Unavailable,
    responses=_ERRORS,
    summary="RoadChain daily merkle roots, latest day first",
)
def list_merkle_roots(
    _principal: ReadPrincipal,
    main_db: MainDbDep,
    page: PageDep,
    since: Since = None,
    until: Until = None,
) -> MerkleRootPage | Unavailable:
    _window(since, until)
    return roadchain.merkle_roots(
        main_db=main_db,
        since=since,
        until=until,
        limit=_limit(page),
        cursor=page.cursor,
    )


@router.get(
    "/api/main/roadchain/webhooks",
    response_model=WebhookPage | Unavailable,
    responses=_ERRORS,
    summary="RoadChain webhook log, newest first (payload size only, never the body)",
)
def list_webhooks(
    _principal: ReadPrincipal,
    main_db: MainDbDep,
    page: PageDep,
    provider: Annotated[str | None, Query(max_length=64, description="Exact provider.")] = None,
    event_type: Annotated[
        str | None, Query(max_length=128, description="Exact event type.")
    ] = None,
    since: Since = None,
    until: Until = None,
) -> WebhookPage | Unavailable:
    _window(since, until)
    query = roadchain.WebhookQuery(
        provider=provider, event_type=event_type, since=since, until=until
    )
    return roadchain.webhooks(
        main_db=main_db,
        query=query,
        limit=_limit(page),
        cursor=page.cursor,
    )
