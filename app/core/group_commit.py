"""Group commit: the small writes of concurrent requests share one transaction.

A request hands its item to the process's one writer thread (handed_off) and awaits it.
The writer takes everything queued (at most MAX_GROUP_ITEMS), writes it in one
transaction and hands each request its result *before* committing: the request builds and
serializes its answer, then says whether that worked, and the writer commits once every
request of the group has. So, as with a request's own session (app/core/db.py
RequestSession), no answer goes out for a write that is not committed, and a request that
fails after its work leaves nothing behind. What a route publishes runs after the commit
(GroupWrite.after_commit). Coalescing needs no timer: what arrives while one transaction
runs forms the next.

A group whose work fails is rolled back and each item redone alone, so only the failing
request gets its error. A database that is locked past its busy timeout or unreachable
(OperationalError, a pool timeout) fails every item of the group with that error instead:
each redo would wait just as long again.
"""

import asyncio
import concurrent.futures
import contextlib
import itertools
import logging
import sys
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session

from app.core.db import RequestSession
from app.core.errors import UnavailableError

logger = logging.getLogger("prism.group_commit")

# Items per transaction (an item's `size` counts: an event batch is as many as its events).
# Bounds how long one transaction holds the write lock and how much one failure redoes.
MAX_GROUP_ITEMS = 1000
# How long the writer waits for the requests of a group to serialize their answers before
# it rolls back. Only a request that never finishes (a stuck event loop) can reach it.
VOTE_TIMEOUT_SECONDS = 60.0

Value = TypeVar("Value")
Result = TypeVar("Result")


@dataclass(frozen=True, eq=False)
class GroupKind(Generic[Value, Result]):
    """One kind of grouped write.

    Both functions get a session whose commit() only flushes (RequestSession): the writer
    commits. `write_group` writes several items in a transaction other kinds may share and
    returns their results in order; an error (or a rollback(), which raises there) fails
    the group, and the writer redoes each item alone with `write_alone`, which may roll
    back and retry within its own transaction. Kinds run in ascending `order`, and each
    takes its row locks in a fixed order, so two writers (replicas, workers) never wait on
    each other in a cycle.
    """

    name: str
    order: int
    write_group: Callable[[Session, Sequence[Value]], Sequence[Result]]
    write_alone: Callable[[Session, Value], Result]


def _settle(loop: asyncio.AbstractEventLoop, future: "asyncio.Future[Any]", outcome: Any) -> None:
    """Resolve `future` on its loop from the writer thread; an exception is raised there."""

    def settle() -> None:
        if future.done():  # the request was cancelled meanwhile
            return
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)

    # RuntimeError: the loop has closed, nobody waits for this answer any more.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(settle)


class _Item:
    """One request's write: its result before the commit, its vote, the commit's outcome."""

    __slots__ = ("done", "kind", "loop", "size", "staged", "value", "verdict")

    def __init__(
        self, kind: GroupKind[Any, Any], value: Any, size: int, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.kind = kind
        self.value = value
        self.size = size
        self.loop = loop
        self.staged: asyncio.Future[Any] = loop.create_future()
        self.done: asyncio.Future[None] = loop.create_future()
        # True: the request's answer is ready, commit; False: it failed, roll back.
        self.verdict: concurrent.futures.Future[bool] = concurrent.futures.Future()

    def vote(self, commit: bool) -> None:
        if not self.verdict.done():
            self.verdict.set_result(commit)


class _GroupSession(RequestSession):
    """The writer's session: services' commit() flushes, the writer commits."""

    # Inside flushes_held(): a service's commit() does not even flush.
    holding_flushes = False

    def commit(self) -> None:
        if self.deferring and self.holding_flushes:
            return
        super().commit()

    def undo(self) -> None:
        """The writer's own rollback of the whole transaction."""
        super().rollback()


class _SharedSession(_GroupSession):
    """The session of a transaction several requests share."""

    def rollback(self) -> None:
        # A service rolls back to retry its own work after losing a race (an agent
        # registered meanwhile). Here that would drop the other requests' writes and carry
        # on: fail the group instead, which the writer redoes item by item, each alone.
        # Called while handling an error, it is that error that fails the group.
        handling = sys.exc_info()[1]
        if handling is not None:
            raise handling
        raise _SharedRollbackError("a write rolled back a shared transaction")


class _SharedRollbackError(Exception):
    """A service asked to roll back a transaction other requests share."""


@event.listens_for(_GroupSession, "after_begin")
def _write_lock_first(
    _session: Session, _transaction: SessionTransaction, conn: Connection
) -> None:
    # The writer always writes: take SQLite's write lock at BEGIN, through the busy handler.
    # A deferred transaction that read first could not upgrade once another process had
    # committed (SQLITE_BUSY at once, no waiting).
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _unavailable(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError | PoolTimeoutError)


@contextlib.contextmanager
def flushes_held(session: Session) -> Iterator[None]:
    """Within the block, the writer's session flushes only when a query needs it and once
    at the end, so the rows of a group's items go out together (executemany) rather than
    one flush per item. Only for work whose commit() raises nothing the service catches
    (a registration's IntegrityError does): an error at the end fails the group, which the
    writer then redoes item by item. Elsewhere (a plain session) it does nothing."""
    if not isinstance(session, _GroupSession):
        yield
        return
    session.holding_flushes = True
    try:
        yield
    finally:
        session.holding_flushes = False
    session.flush()


class GroupCommitter:
    """The writer thread of one process, fed by a queue (see the module docstring)."""

    def __init__(self, engine: Engine, *, max_items: int = MAX_GROUP_ITEMS) -> None:
        self._engine = engine
        self._max_items = max_items
        self._changed = threading.Condition()
        self._queue: deque[_Item] = deque()
        self._accepting = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        # Called in the writer thread with a group's item count before its transaction:
        # tests hold the writer there to make requests queue up.
        self.before_group: Callable[[int], None] | None = None

    @property
    def pending(self) -> int:
        """Items queued and not yet taken by the writer."""
        with self._changed:
            return len(self._queue)

    def wait_for_pending(self, count: int, timeout: float) -> bool:
        """Block until at least `count` items are queued; False after `timeout` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self._queue) >= count, timeout)

    def start(self) -> None:
        self._accepting = True
        self._thread = threading.Thread(target=self._run, name="prism-group-commit", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        """Refuse new items, write what is queued, then end the thread."""
        with self._changed:
            self._accepting = False
            self._stopping = True
            self._changed.notify_all()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)

    def submit(self, kind: GroupKind[Any, Any], value: Any, size: int = 1) -> _Item:
        """Queue one item (on the event loop); UnavailableError (503) once stopping."""
        item = _Item(kind, value, size, asyncio.get_running_loop())
        with self._changed:
            if not self._accepting:
                raise UnavailableError("Console is stopping; retry shortly")
            self._queue.append(item)
            self._changed.notify_all()
        return item

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: bool(self._queue) or self._stopping)
                if not self._queue:
                    return  # stopping, and everything queued was written
                group = self._take()
            try:
                self._write_group(group)
            except Exception as exc:  # a defect here must not leave requests waiting
                logger.exception("group commit failed unexpectedly")
                for item in group:
                    _settle(item.loop, item.staged, exc)
                    _settle(item.loop, item.done, exc)

    def _take(self) -> list[_Item]:
        group = [self._queue.popleft()]
        total = group[0].size
        while self._queue and total + self._queue[0].size <= self._max_items:
            item = self._queue.popleft()
            group.append(item)
            total += item.size
        # A request that went away before its write began needs no write.
        return [item for item in group if not item.verdict.done()]

    def _write_group(self, items: list[_Item]) -> None:
        if not items:
            return
        if self.before_group is not None:
            self.before_group(len(items))
        items = sorted(items, key=lambda item: item.kind.order)
        session_class = _SharedSession if len(items) > 1 else _GroupSession
        with session_class(self._engine, expire_on_commit=False) as session:
            try:
                results = self._work(session, items)
            except Exception as exc:
                session.undo()
                if len(items) > 1 and not _unavailable(exc):
                    session.close()
                    for item in items:
                        self._write_group([item])
                    return
                for item in items:
                    _settle(item.loop, item.staged, exc)
                return
            for item, result in zip(items, results, strict=True):
                _settle(item.loop, item.staged, result)
            self._commit_if_all_answered(session, items)

    def _work(self, session: Session, items: list[_Item]) -> list[Any]:
        if len(items) == 1:
            return [items[0].kind.write_alone(session, items[0].value)]
        results: list[Any] = []
        for kind, of_kind in itertools.groupby(items, key=lambda item: item.kind):
            values = [item.value for item in of_kind]
            written = list(kind.write_group(session, values))
            if len(written) != len(values):
                raise RuntimeError(f"{kind.name}: {len(written)} results for {len(values)} items")
            results.extend(written)
        return results

    def _commit_if_all_answered(self, session: _GroupSession, items: list[_Item]) -> None:
        _, late = concurrent.futures.wait(
            [item.verdict for item in items], timeout=VOTE_TIMEOUT_SECONDS
        )
        if late or not all(item.verdict.result() for item in items):
            session.undo()
            # Their answers are built from writes that are now undone: 503, retry.
            retry = UnavailableError("A write grouped with this one failed; retry shortly")
            for item in items:
                _settle(item.loop, item.done, retry)
            return
        try:
            session.finish()
        except Exception as exc:
            session.undo()
            for item in items:
                _settle(item.loop, item.done, exc)
            return
        for item in items:
            _settle(item.loop, item.done, None)


class GroupWrite:
    """A route's hand-off to the writer: one item, and what to do once it is committed."""

    def __init__(self, committer: GroupCommitter) -> None:
        self._committer = committer
        self._item: _Item | None = None
        self._after: list[Callable[[], None]] = []

    async def write(self, kind: GroupKind[Value, Result], value: Value, size: int = 1) -> Result:
        """Queue the item and return its result, written but not yet committed (or raise
        its error); the commit follows once the route's answer is serialized."""
        if self._item is not None:
            raise RuntimeError("one grouped write per request")
        self._item = self._committer.submit(kind, value, size)
        return cast(Result, await self._item.staged)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` on the event loop once the write is committed (live messages)."""
        self._after.append(callback)

    def abandon(self) -> None:
        if self._item is not None:
            self._item.vote(False)

    async def commit(self) -> None:
        """Let the writer commit, wait for it, then run the after-commit callbacks."""
        if self._item is None:
            return
        self._item.vote(True)
        await self._item.done
        for callback in self._after:
            callback()


@contextlib.asynccontextmanager
async def handed_off(committer: GroupCommitter) -> AsyncIterator[GroupWrite]:
    """A request's GroupWrite, committed when the block ends, abandoned when it raises.

    The body of a route's dependency (scope "function"): the block ends once the answer is
    serialized, before it is sent.
    """
    writes = GroupWrite(committer)
    try:
        yield writes
    except BaseException:
        writes.abandon()
        raise
    await writes.commit()
