"""The runbook page shows the run named by `?run=`, by its console id or its gateway id."""

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.models import Runbook, RunbookRun

AT = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("shown", ["console-run-1", "gw-run-12345"])
def test_the_run_is_shown_whichever_id_names_it(
    web_client: TestClient, db_session: Session, shown: str
) -> None:
    db_session.add(Runbook(id="rb", title="RB", linked_workflow="wf"))
    db_session.add(
        RunbookRun(
            id="console-run-1",
            runbook_id="rb",
            status="accepted",
            workflow_name="wf",
            gateway_run_id="gw-run-12345",
            created_at=AT,
            updated_at=AT,
        )
    )
    db_session.commit()
    page = web_client.get("/runbooks/rb", params={"run": shown})
    assert page.status_code == 200
    assert 'id="run-result" data-run-id="console-run-1"' in page.text
    assert "gateway run <code>gw-run-12345</code>" in page.text
    assert '<tr data-run-id="console-run-1" aria-current="true">' in page.text
