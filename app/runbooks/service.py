"""The runbook catalog: search, keyset pages, create / update / delete, input validation."""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from jsonschema.exceptions import best_match
from sqlalchemy import ColumnElement, Text, and_, delete, func, or_, type_coerce
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.audit.service import Actor, record
from app.core.errors import (
    ConflictError,
    InvalidCursorError,
    InvalidInputError,
    NotFoundError,
    UnprocessableError,
)
from app.models import Agent, Runbook, RunbookRun
from app.models.inputs_schema import InputValidationLimitError, input_errors, schema_problem
from app.models.runbook import RunbookCreate, RunbookUpdate

RUNBOOK_NOT_FOUND = "Runbook not found"  # the earlier service's exact text (SPEC appendix A)


def get_runbook(*, session: Session, runbook_id: str) -> Runbook:
    """The runbook, or NotFoundError("Runbook not found")."""
    runbook = session.get(Runbook, runbook_id)
    if runbook is None:
        raise NotFoundError(RUNBOOK_NOT_FOUND)
    return runbook


def list_runbooks(
    *,
    session: Session,
    q: str | None = None,
    tag: str | None = None,
    limit: int | None = None,
    after: Sequence[Any] | None = None,
) -> tuple[list[Runbook], list[Any] | None]:
    """Runbooks by title then id; with `limit`, one page and the sort key to continue after."""
    statement = select(Runbook)
    if q:
        needle = q.strip().lower()
        statement = statement.where(
            or_(
                func.lower(Runbook.title).contains(needle, autoescape=True),
                func.lower(Runbook.description).contains(needle, autoescape=True),
            )
        )
    if tag:
        # Tags are stored as text (JSON, or comma-separated in adopted rows): LIKE narrows the
        # rows in SQL, the exact comparison below removes tags that merely contain the text.
        # JSON escapes non-ASCII characters and quotes, so both spellings are looked for.
        stored_tags = type_coerce(Runbook.tags, Text)  # compare the stored text, not a list
        statement = statement.where(
            or_(
                stored_tags.contains(tag, autoescape=True),
                stored_tags.contains(json.dumps(tag)[1:-1], autoescape=True),
            )
        )
    if after is not None:
        statement = statement.where(_after(after))
    statement = statement.order_by(col(Runbook.title), col(Runbook.id))

    rows: list[Runbook] = []
    batch = 500 if limit is None else limit + 1
    page_statement = statement
    while True:
        fetched = list(session.exec(page_statement.limit(batch)).all())
        rows.extend(row for row in fetched if tag is None or tag in row.tags)
        if len(fetched) < batch or (limit is not None and len(rows) > limit):
            break
        last = fetched[-1]
        page_statement = statement.where(_after([last.title, last.id]))
    if limit is not None and len(rows) > limit:
        page = rows[:limit]
        return page, [page[-1].title, page[-1].id]
    return rows, None


def _after(cursor: Sequence[Any]) -> ColumnElement[bool]:
    if len(cursor) != 2 or not all(isinstance(value, str) for value in cursor):
        raise InvalidCursorError()
    title, runbook_id = cursor
    return or_(
        col(Runbook.title) > title,
        and_(col(Runbook.title) == title, col(Runbook.id) > runbook_id),
    )


def check_inputs_schema(schema: dict[str, Any]) -> None:
    """UnprocessableError naming `inputsSchema` unless it may be stored (models/inputs_schema)."""
    problem = schema_problem(schema)
    if problem is not None:
        raise UnprocessableError(f"inputsSchema: {problem.message}")


def validate_input(*, runbook: Runbook, data: dict[str, Any]) -> None:
    """InvalidInputError starting with the validator's message when `data` breaks the schema.

    A stored schema that breaks today's rules (stored before them, or by hand) is a 409, and
    validation that cannot finish (deadline, nesting) a 422: never a fetch, a hang or a 500.
    """
    problem = schema_problem(runbook.inputs_schema)
    if problem is not None:
        raise ConflictError(
            f"Runbook {runbook.id} has an invalid inputsSchema ({problem.message}); fix it first"
        )
    try:
        errors = input_errors(runbook.inputs_schema, data)
    except InputValidationLimitError as exc:
        raise UnprocessableError(f"input: {exc}") from None
    error = best_match(errors)
    if error is not None:
        raise InvalidInputError(_located(error.message, error.absolute_path))


def _located(message: str, path: Sequence[str | int]) -> str:
    return f"{message} (at /{'/'.join(str(part) for part in path)})" if path else message


def create_runbook(*, session: Session, data: RunbookCreate, actor: Actor) -> Runbook:
    """Store a new runbook; ConflictError when the id is taken. Audited as "runbook.create"."""
    check_inputs_schema(data.inputs_schema)
    if session.get(Runbook, data.id) is not None:
        raise ConflictError(f"Runbook {data.id} already exists")
    runbook = Runbook.model_validate(data.model_dump())
    session.add(runbook)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()  # created by a concurrent request since the check above
        raise ConflictError(f"Runbook {data.id} already exists") from None
    record(
        session,
        actor=actor,
        action="runbook.create",
        target_type="runbook",
        target_id=runbook.id,
        summary=f"Created runbook {runbook.id} ({runbook.title})",
        detail=data.model_dump(mode="json", by_alias=True),
    )
    session.commit()
    return runbook


def update_runbook(
    *, session: Session, runbook_id: str, data: RunbookUpdate, actor: Actor
) -> Runbook:
    """Change the fields sent; the others keep their values. Audited as "runbook.update"."""
    runbook = get_runbook(session=session, runbook_id=runbook_id)
    changes = data.model_dump(exclude_unset=True)
    if "inputs_schema" in changes:
        check_inputs_schema(changes["inputs_schema"])
    runbook.sqlmodel_update(changes)
    session.add(runbook)
    session.flush()
    sent = data.model_dump(mode="json", by_alias=True, exclude_unset=True)
    record(
        session,
        actor=actor,
        action="runbook.update",
        target_type="runbook",
        target_id=runbook_id,
        summary=f"Changed runbook {runbook_id}: {', '.join(sent) or 'nothing'}",
        detail=sent,
    )
    session.commit()
    return runbook


def delete_runbook(*, session: Session, runbook_id: str, actor: Actor) -> None:
    """Delete the runbook and its run history in one transaction (with its audit row)."""
    runbook = get_runbook(session=session, runbook_id=runbook_id)
    # Explicit, not left to ON DELETE CASCADE: adopted SQLite files lack the foreign key.
    runs_deleted = session.exec(delete(RunbookRun).where(col(RunbookRun.runbook_id) == runbook_id))
    session.delete(runbook)
    session.flush()
    record(
        session,
        actor=actor,
        action="runbook.delete",
        target_type="runbook",
        target_id=runbook_id,
        summary=f"Deleted runbook {runbook_id} ({runbook.title}) and its run history",
        detail={"runsDeleted": int(runs_deleted.rowcount or 0)},
    )
    session.commit()


def count_runbooks(*, session: Session) -> int:
    return session.exec(select(func.count()).select_from(Runbook)).one()


GENERAL_RUNBOOK_TAG = "ops"  # the runbooks an agent gets when none names its domain or id


@dataclass(frozen=True)
class ApplicableRunbooks:
    """Runbooks for an agent; `specific` is False when they are the general fallback."""

    runbooks: list[Runbook]
    specific: bool


def runbooks_for_agent(*, session: Session, agent: Agent) -> ApplicableRunbooks:
    """Runbooks tagged with the agent's domain or id; else the general `ops` runbooks.

    Tags are how runbooks name what they operate on: a tag equal to a domain (`data`) covers
    every agent of that domain, a tag equal to an agent id covers that agent alone.
    """
    found: dict[str, Runbook] = {}
    for tag in dict.fromkeys((agent.domain, agent.id)):
        for runbook in list_runbooks(session=session, tag=tag)[0]:
            found.setdefault(runbook.id, runbook)
    if found:
        ordered = sorted(found.values(), key=lambda runbook: (runbook.title, runbook.id))
        return ApplicableRunbooks(runbooks=ordered, specific=True)
    general, _ = list_runbooks(session=session, tag=GENERAL_RUNBOOK_TAG)
    return ApplicableRunbooks(runbooks=general, specific=False)
