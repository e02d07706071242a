"""Typed dependency aliases of the app's own state: settings, engine, session, metrics,
read cache, request id, and the page parameters of every list.

Dependencies that only read app.state are `async def`: FastAPI runs a plain `def`
dependency in the thread pool, and those hops were most of a cached answer's cost.
"""

import asyncio
import contextlib
import contextvars
import weakref
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session

from app.core.config import Settings
from app.core.db import RequestSession
from app.core.group_commit import GroupWrite, handed_off
from app.core.pagination import MAX_LIMIT, Cursor, decode_cursor
from app.core.read_cache import ReadCache
from app.core.telemetry import Metrics
from app.core.timeutil import utcnow


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


# Commits and rollbacks of request sessions run here, not in the request thread pool. A
# session that flushed holds SQLite's write lock until it commits: if its commit had to wait
# for a pool thread while every pool thread was a request waiting on that lock, no commit
# would run until the busy timeout (50 concurrent writers did exactly that). Finishing never
# waits on another request's lock, so these few threads are never held up for long.
_FINISHERS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="prism-commit")


async def _finish_off_the_pool(step: Callable[[], None]) -> None:
    context = contextvars.copy_context()  # the request id, for the slow-query log
    await asyncio.get_running_loop().run_in_executor(_FINISHERS, context.run, step)


# Requests that may write, running at once per process. A request that flushed holds its
# locks (SQLite's one write lock, PostgreSQL row locks) until its commit, after the answer
# is serialized; FastAPI serializes a plain `def` endpoint's answer in the thread pool. With
# every pool thread taken by writers waiting on that lock, the holder could never serialize
# and commit (50 concurrent writers deadlocked until the busy timeout). Few writers in
# flight leave the pool free for the holder; the others wait here, on the event loop, and a
# database serializes writes anyway.
WRITE_SLOTS = 8
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_write_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _write_slot(method: str) -> contextlib.AbstractAsyncContextManager[Any]:
    if method in _SAFE_METHODS:
        return contextlib.nullcontext()
    loop = asyncio.get_running_loop()  # a semaphore belongs to one loop (tests run several)
    slots = _write_slots.get(loop)
    if slots is None:
        slots = _write_slots[loop] = asyncio.Semaphore(WRITE_SLOTS)
    return slots


async def get_session(
    request: Request, engine: Annotated[Engine, Depends(get_engine)]
) -> AsyncIterator[Session]:
    """The request's session: committed after the answer is serialized, else rolled back.

    Scope "function" (SessionDep): the commit comes after serialization but before the
    answer is sent, so a client never sees a success that was not committed, nor an error
    that was (app/core/db.py RequestSession). An exception that is an answer rather than a
    failure (`keeps_writes`, such as the redirect to sign in) commits too. The endpoint
    uses the session in the thread pool; the commit and close run in _FINISHERS, and a
    request that may write holds one of WRITE_SLOTS until then.
    """
    async with _write_slot(request.method):
        session = RequestSession(engine, expire_on_commit=False)
        commit = False
        try:
            yield session
            commit = True
        except Exception as exc:
            commit = bool(getattr(exc, "keeps_writes", False))
            raise
        finally:
            # One hop for both: a write's commit and its session's close.
            await _finish_off_the_pool(partial(_end_session, session, commit=commit))


def _end_session(session: RequestSession, *, commit: bool) -> None:
    """Commit when asked, then close; closing what was not committed rolls it back."""
    try:
        if commit:
            session.finish()
    finally:
        session.close()


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


async def get_read_cache(request: Request) -> ReadCache:
    cache: ReadCache = request.app.state.read_cache
    return cache


async def get_request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", ""))


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
RequestIdDep = Annotated[str, Depends(get_request_id)]
ReadCacheDep = Annotated[ReadCache, Depends(get_read_cache)]


class PageParams(BaseModel):
    limit: int | None
    cursor: Cursor | None


LimitParam = Annotated[
    int | None, Query(ge=1, le=MAX_LIMIT, description="Rows per page (default 100).")
]


async def page_params(
    limit: LimitParam = None,
    cursor: Annotated[
        str | None, Query(max_length=1000, description="nextCursor of the previous page.")
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=decode_cursor(cursor) if cursor else None)


PageDep = Annotated[PageParams, Depends(page_params)]


async def get_clock() -> Callable[[], datetime]:
    """What "now" is for the routes that judge time (alerts, availability): tests override
    it to inject a clock."""
    return utcnow


ClockDep = Annotated[Callable[[], datetime], Depends(get_clock)]


async def _group_write(request: Request) -> AsyncIterator[GroupWrite]:
    async with handed_off(request.app.state.group_commit) as writes:
        yield writes


# The process's group writer (app/core/group_commit.py). Scope "function": the write
# commits after the answer is serialized, before it is sent.
GroupWriteDep = Annotated[GroupWrite, Depends(_group_write, scope="function")]
