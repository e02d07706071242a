"""Main API tasks, in either schema the main API has shipped.

assignee variant: (id, title, description, status default todo, priority, assignee_id,
due_date, ...). project variant: (id, project_id, user_id, title, status default pending,
...). The variant is detected from the reflected columns; every column shown is optional.
"""

from typing import Any, Literal

from sqlalchemy import func, select

from app.core.pagination import Cursor, encode_cursor
from app.maindb.convert import to_date_text, to_id, to_iso, to_key, to_scalar, to_text
from app.maindb.database import MainDatabase, read_main
from app.maindb.query import NewestFirst, contains, page, param
from app.maindb.reader import MainDbReader
from app.maindb.reflection import MainTable
from app.maindb.schemas import MainTask, TaskView, Unavailable

Variant = Literal["assignee", "project", "unknown"]

TASK_COLUMNS = (
    "id",
    "title",
    "status",
    "description",
    "priority",
    "assignee_id",
    "due_date",
    "project_id",
    "user_id",
    "created_at",
    "updated_at",
)
# Tasks without a status are counted under this key.
NO_STATUS = "none"


def detect_variant(tasks: MainTable) -> Variant:
    """Which of the two known tasks schemas the table follows."""
    if tasks.has("project_id"):
        return "project"
    if any(tasks.has(name) for name in ("assignee_id", "priority", "due_date", "description")):
        return "assignee"
    return "unknown"


def list_tasks(
    *,
    main_db: MainDatabase | None,
    status: str | None = None,
    q: str | None = None,
    limit: int = 100,
    cursor: Cursor | None = None,
) -> TaskView | Unavailable:
    """Counts by status over every task, and one page of tasks filtered by status and text."""

    def work(reader: MainDbReader) -> TaskView:
        tasks = reader.table("tasks", "id")
        counts: dict[str, int] = {}
        if tasks.has("status"):
            status_column = tasks.col("status")
            grouped = select(status_column, func.count().label("n")).group_by(status_column)
            for row in reader.rows(grouped):
                key = NO_STATUS if row["status"] is None else str(row["status"])
                counts[key] = counts.get(key, 0) + int(row["n"])
            total = sum(counts.values())
        else:
            total = int(reader.scalar(select(func.count()).select_from(tasks.table)) or 0)
        statement = select(*tasks.pick(TASK_COLUMNS))
        if status is not None:
            statement = statement.where(tasks.col("status") == param(status))
        if q:
            statement = statement.where(contains(tasks.col("title"), q))
        rows, next_cursor = page(
            reader, statement, NewestFirst.of(tasks), cursor=cursor, limit=limit
        )
        return TaskView(
            variant=detect_variant(tasks),
            counts=counts,
            total=total,
            items=[_task(row) for row in rows],
            next_cursor=encode_cursor(next_cursor) if next_cursor else None,
        )

    return read_main(main_db, work)


def _task(row: Any) -> MainTask:
    return MainTask(
        id=to_key(row["id"]),
        title=to_text(row.get("title")),
        status=to_text(row.get("status")),
        description=to_text(row.get("description")),
        priority=to_scalar(row.get("priority")),
        assignee_id=to_id(row.get("assignee_id")),
        due_date=to_date_text(row.get("due_date")),
        project_id=to_id(row.get("project_id")),
        user_id=to_id(row.get("user_id")),
        created_at=to_iso(row.get("created_at")),
        updated_at=to_iso(row.get("updated_at")),
    )
