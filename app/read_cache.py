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
  those the TTL bounds how stale an answer can be.
"""

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event

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
    """Rendered answers by key, each valid for `ttl_seconds` and until its table changes."""

    def __init__(self, revisions: TableRevisions, ttl_seconds: float, max_entries: int = 64):
        self._revisions = revisions
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._building: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, table: str, render: Callable[[], bytes]) -> bytes:
        """The cached answer for `key`, or `render()` (run once at a time per key)."""
        if self._ttl <= 0:
            return render()
        hit = self._fresh(key, table)
        if hit is not None:
            return hit
        with self._lock:
            building = self._building.setdefault(key, threading.Lock())
        # Requests arriving while one renders wait for its answer instead of rendering too.
        try:
            with building:
                hit = self._fresh(key, table)
                if hit is not None:
                    return hit
                revision = self._revisions.current(table)
                body = render()
                self._store(key, _Entry(revision, time.monotonic() + self._ttl, body))
                return body
        finally:
            # Keys come from query strings: never keep a lock per key once it is done.
            with self._lock:
                if self._building.get(key) is building:
                    del self._building[key]

    def fresh(self, key: Hashable, table: str) -> bytes | None:
        """The cached answer if it is still valid, else None; never blocks.

        An answer whose TTL ran out while its table did not change is still handed out
        while another request renders its successor: without that, every request arriving
        during the render queued behind it, once per TTL (the benchmark's p99).
        """
        if self._ttl <= 0:
            return None
        return self._fresh(key, table, allow_rendering=True)

    def _fresh(self, key: Hashable, table: str, *, allow_rendering: bool = False) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None or entry.revision != self._revisions.current(table):
            return None
        if entry.expires_at > time.monotonic():
            return entry.body
        if allow_rendering and key in self._building:
            return entry.body
        return None

    def _store(self, key: Hashable, entry: _Entry) -> None:
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
