"""A short-lived cache of rendered read answers, dropped as soon as this process writes.

Dashboards and REST clients poll the same lists (`GET /api/agents` above all) many times a
second; rendering 1,000 agents costs milliseconds each time, serving the bytes already
rendered costs microseconds. Each entry is kept for at most `ttl_seconds` and only while the
tables it was read from have not changed:

- TableRevisions counts, per watched table, the transactions that wrote it through this
  engine. The count moves when the connection goes back to the pool, i.e. after the commit:
  a reader that records the count before it queries can never keep data older than a
  commit it has not counted (it would store its answer under the old count, which the
  commit then makes stale).
- Writes made by another process (another worker or replica, a script) are not seen: for
  those the TTL (plus one render, see ReadCache) bounds how stale an answer can be.
"""

import asyncio
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event
from starlette.concurrency import run_in_threadpool

from app.core.single_flight import SharedTasks

_TOUCHED = "prism_tables_written"
# Statements that may write (a WITH may wrap an INSERT or a DELETE).
_WRITES = ("INSERT", "UPDATE", "DELETE", "TRUNCATE", "REPLACE", "WITH")


class TableRevisions:
    """Per table, how many transactions wrote it through `engine` (counted after commit)."""

    def __init__(self, engine: Engine, tables: Iterable[str]) -> None:
        self._watched = frozenset(tables)
        self._counts = dict.fromkeys(self._watched, 0)
        self._lock = threading.Lock()
        names = "|".join(re.escape(name) for name in sorted(self._watched))
        self._mentions = re.compile(rf"\b({names})\b", re.IGNORECASE)
        # The SQL as sent, so ORM flushes, Core statements and text() alike are seen.
        event.listen(engine, "after_cursor_execute", self._on_execute)
        event.listen(engine, "checkin", self._on_checkin)

    def current(self, table: str) -> int:
        return self._counts[table]

    def _on_execute(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip()[:8].upper().startswith(_WRITES):
            return
        # A table named anywhere in a write counts as written: at worst one more render.
        written = {match.lower() for match in self._mentions.findall(statement)}
        if written:
            conn.info.setdefault(_TOUCHED, set()).update(written)

    def _on_checkin(self, _dbapi_connection: Any, record: Any) -> None:
        # Committed or rolled back by now; a rollback only costs the cache one rebuild.
        written = record.info.pop(_TOUCHED, None) if record is not None else None
        if written:
            with self._lock:
                for name in written:
                    self._counts[name] += 1


@dataclass(frozen=True)
class _Entry:
    revision: int
    expires_at: float
    body: bytes


class ReadCache:
    """Rendered answers by key, each valid for `ttl_seconds` and until its table changes.

    Used from the event loop only: a hit costs a dict lookup and no thread; a miss renders
    in the thread pool, once per key and table revision however many requests are waiting
    for it. An answer whose TTL ran out while its table did not change is handed out while
    its successor renders (stale by at most the render time): without that, every request
    arriving during a render queued behind it, once per TTL (the read benchmark's p99).
    """

    def __init__(self, revisions: TableRevisions, ttl_seconds: float, max_entries: int = 64):
        self._revisions = revisions
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._rendering: SharedTasks[bytes] = SharedTasks("read cache render")

    async def get(self, key: Hashable, table: str, render: Callable[[], bytes]) -> bytes:
        """The cached answer for `key`, or that of `render()` run in the thread pool."""
        if self._ttl <= 0:
            return await run_in_threadpool(render)
        revision = self._revisions.current(table)
        entry = self._entries.get(key)
        current = entry if entry is not None and entry.revision == revision else None
        if current is not None and current.expires_at > time.monotonic():
            return current.body
        # Keyed by revision too: a request that follows a write never waits for a render
        # that started before the write.
        flight = self._rendering.start((key, revision), lambda: self._render(key, revision, render))
        if current is not None:
            return current.body
        # Shielded: a waiting client that goes away does not cancel the others' answer.
        return await asyncio.shield(flight)

    def cached(self, key: Hashable) -> bytes | None:
        """The stored answer for `key`, valid or not (for tests and diagnostics)."""
        entry = self._entries.get(key)
        return None if entry is None else entry.body

    async def _render(self, key: Hashable, revision: int, render: Callable[[], bytes]) -> bytes:
        body = await run_in_threadpool(render)
        self._entries[key] = _Entry(revision, time.monotonic() + self._ttl, body)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        return body
