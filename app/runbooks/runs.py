"""Runbook runs: execute (validated, idempotent, sent to the workflow gateway) and history."""

import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.audit.service import Actor, record
from app.core.db import commit_now
from app.core.pagination import newest_first_after
from app.core.timeutil import isoformat, utcnow
from app.models import RunbookRun
from app.runbooks.gateway import GatewayOutcome, WorkflowGateway
from app.runbooks.service import get_runbook, validate_input

RUN_NOT_FOUND = "Run not found"


def execute_runbook(
    *,
    session: Session,
    runbook_id: str,
    data: dict[str, Any] | None,
    idempotency_key: str | None,
    request_id: str | None,
    requested_by: str | None,
    gateway: WorkflowGateway | None,
    actor: Actor | None = None,
) -> RunbookRun:
    """Record a run and hand it to the gateway; a repeated idempotency key returns the first run.

    With an `actor`, the new run's audit row ("runbook.execute") is written with the run, so
    it is committed with it (before the gateway is called, when there is one); a repeated
    key starts nothing and writes no row. A caller passing no actor audits the run itself.

    With a gateway, the run is committed before the gateway is called and its outcome as soon
    as it answers (commit_now, also inside a request): no database transaction (or SQLite
    write lock) is held while the network answers, and a workflow the gateway started stays
    on record whatever happens to this request afterwards. Without one, the queued run is
    written in the request's transaction like any other write.
    """
    run, created = start_run(
        session=session,
        runbook_id=runbook_id,
        data=data,
        idempotency_key=idempotency_key,
        request_id=request_id,
        requested_by=requested_by,
        actor=actor,
    )
    if gateway is None:
        return run
    if not created:
        return _after_submission(session, run, wait_seconds=gateway.timeout + SUBMISSION_MARGIN)
    with _submitting(run):
        commit_now(session)
        if not run.workflow_name:
            outcome = GatewayOutcome(
                "rejected", False, error="runbook has no linkedWorkflow to run"
            )
        else:
            outcome = gateway.submit(
                workflow_name=run.workflow_name,
                data=run.input or {},
                correlation_id=request_id or run.id,
                # Without a caller's key the run id serves: the gateway can drop duplicates.
                idempotency_key=run.idempotency_key or run.id,
            )
        return record_outcome(session=session, run=run, outcome=outcome)


# Runs of this process on their way to the gateway, by (runbook, idempotency key). A repeat
# of the key arriving meanwhile waits for the gateway's answer, so that both answer the
# same runId (the gateway's). A repeat reaching another process answers the console's id
# of the same run instead; both find it again.
_SUBMITTING: dict[tuple[str, str], threading.Event] = {}
_SUBMITTING_LOCK = threading.Lock()
SUBMISSION_MARGIN = 5.0  # seconds past the gateway's timeout before a repeat stops waiting


@contextmanager
def _submitting(run: RunbookRun) -> Iterator[None]:
    if run.idempotency_key is None:
        yield
        return
    key = (run.runbook_id, run.idempotency_key)
    done = threading.Event()
    with _SUBMITTING_LOCK:
        _SUBMITTING[key] = done  # before the run is committed: a repeat seeing it sees this
    try:
        yield
    finally:
        with _SUBMITTING_LOCK:
            _SUBMITTING.pop(key, None)
        done.set()


def _after_submission(session: Session, run: RunbookRun, *, wait_seconds: float) -> RunbookRun:
    """The first run of a repeated key, with the gateway's outcome if it is being sent now."""
    if run.status != "queued" or run.idempotency_key is None:
        return run
    with _SUBMITTING_LOCK:
        done = _SUBMITTING.get((run.runbook_id, run.idempotency_key))
    if done is not None:
        done.wait(wait_seconds)
    # A new session, so a new snapshot: this request's own may predate the outcome.
    with Session(session.get_bind(), expire_on_commit=False) as fresh:
        current = fresh.get(RunbookRun, run.id)
    return current if current is not None else run


def start_run(
    *,
    session: Session,
    runbook_id: str,
    data: dict[str, Any] | None,
    idempotency_key: str | None,
    request_id: str | None,
    requested_by: str | None,
    actor: Actor | None = None,
) -> tuple[RunbookRun, bool]:
    """The new `queued` run (True), or the run already holding this idempotency key (False).

    With an `actor`, the new run's audit row is written in the same transaction."""
    runbook = get_runbook(session=session, runbook_id=runbook_id)
    # A missing input is an empty object, so the schema's own message names what is required.
    data = {} if data is None else data
    validate_input(runbook=runbook, data=data)
    key = idempotency_key if idempotency_key and idempotency_key.strip() else None
    if key is not None:
        # The earlier contract: a repeated key returns the first run, whatever the repeat's
        # input; the stored run shows what was actually executed.
        existing = find_by_idempotency_key(session=session, runbook_id=runbook_id, key=key)
        if existing is not None:
            return existing, False
    now = utcnow()
    run = RunbookRun(
        id=str(uuid.uuid4()),
        runbook_id=runbook_id,
        idempotency_key=key,
        input=data,
        status="queued",
        accepted=True,
        workflow_name=runbook.linked_workflow,
        request_id=request_id or None,
        requested_by=requested_by,
        created_at=now,
        updated_at=now,
    )
    session.add(run)
    try:
        session.flush()
    except IntegrityError:
        # A concurrent request with the same key committed first: its run is the answer.
        session.rollback()
        existing = (
            find_by_idempotency_key(session=session, runbook_id=runbook_id, key=key)
            if key is not None
            else None
        )
        if existing is None:
            get_runbook(session=session, runbook_id=runbook_id)  # deleted meanwhile → 404
            raise
        return existing, False
    if actor is not None:
        record(
            session,
            actor=actor,
            action="runbook.execute",
            target_type="runbook",
            target_id=runbook_id,
            summary=f"Executed runbook {runbook_id} ({runbook.title})",
            detail={"runId": run.id, "input": data, "idempotencyKey": key},
        )
    session.commit()
    return run, True


def find_by_idempotency_key(*, session: Session, runbook_id: str, key: str) -> RunbookRun | None:
    return session.exec(
        select(RunbookRun).where(
            col(RunbookRun.runbook_id) == runbook_id, col(RunbookRun.idempotency_key) == key
        )
    ).first()


def record_outcome(*, session: Session, run: RunbookRun, outcome: GatewayOutcome) -> RunbookRun:
    """Store what the gateway answered for this run."""
    run.status = outcome.status
    run.accepted = outcome.accepted
    run.gateway_status_code = outcome.status_code
    run.gateway_run_id = outcome.gateway_run_id
    run.error = outcome.error
    run.updated_at = utcnow()
    session.add(run)
    commit_now(session)
    return run


def public_run_id(run: RunbookRun) -> str:
    """The id execute answers: the gateway's own when it gave one (as the earlier service
    answered), else the console's. Either finds the run again (get_run, list_runs)."""
    return run.gateway_run_id or run.id


def get_run(*, session: Session, runbook_id: str, run_id: str) -> RunbookRun | None:
    """One run of one runbook by its console id or its gateway id, or None.

    An id from another runbook is not found. Should a gateway id also be another run's
    console id, the console id wins; a gateway id given to several runs finds the newest.
    """
    run = session.get(RunbookRun, run_id)
    if run is not None:
        return run if run.runbook_id == runbook_id else None
    return session.exec(
        select(RunbookRun)
        .where(
            col(RunbookRun.runbook_id) == runbook_id,
            col(RunbookRun.gateway_run_id) == run_id,
        )
        .order_by(col(RunbookRun.created_at).desc(), col(RunbookRun.id).desc())
    ).first()


def list_runs(
    *,
    session: Session,
    runbook_id: str,
    limit: int,
    after: Sequence[Any] | None = None,
    run_id: str | None = None,
) -> tuple[list[RunbookRun], list[Any] | None]:
    """A runbook's runs, newest first; the cursor continues after the last one returned.

    With `run_id`, only the runs having it as their console id or their gateway id.
    """
    get_runbook(session=session, runbook_id=runbook_id)
    statement = select(RunbookRun).where(col(RunbookRun.runbook_id) == runbook_id)
    if run_id is not None:
        statement = statement.where(
            or_(col(RunbookRun.id) == run_id, col(RunbookRun.gateway_run_id) == run_id)
        )
    if after is not None:
        statement = statement.where(
            newest_first_after(RunbookRun.created_at, RunbookRun.id, list(after), str)
        )
    statement = statement.order_by(
        col(RunbookRun.created_at).desc(), col(RunbookRun.id).desc()
    ).limit(limit + 1)
    rows = list(session.exec(statement).all())
    if len(rows) <= limit:
        return rows, None
    page = rows[:limit]
    return page, [isoformat(page[-1].created_at), page[-1].id]
