"""Deleting many rows in short transactions: the loop every retention prune runs.

Each batch is its own transaction, so a writer (ingest needs SQLite's write lock, or row
locks on PostgreSQL) waits for one batch at most, never for the whole prune.
"""

from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, delete, select
from sqlmodel import Session


def delete_in_batches(
    session: Session,
    key: Any,
    *conditions: ColumnElement[bool],
    batch_size: int,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Delete the rows of `key`'s table matching `conditions`, `batch_size` ids at a time,
    committing each batch; `on_batch` gets the running total after each non-empty batch.
    Returns the rows deleted."""
    table = key.class_
    total = 0
    while True:
        batch = select(key).where(*conditions).limit(batch_size)
        # The conditions again outside: on a partitioned table they limit the delete to the
        # partitions that can hold such rows (partition pruning); a no-op elsewhere.
        result = session.exec(delete(table).where(*conditions, key.in_(batch)))
        session.commit()
        deleted = int(result.rowcount or 0)
        total += deleted
        if deleted and on_batch is not None:
            on_batch(total)
        if deleted < batch_size:
            return total
