"""50 concurrent audited actions on two replicas of one PostgreSQL database: one chain.

Each replica serves its half of the requests at the same moment (a barrier releases them);
every request writes its change and its audit row in one transaction. Afterwards the rows
are numbered 1..N without a gap or a duplicate, each links to the one before, and the
chain verifies: the head's row lock serialized the writers, no fork.
"""

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import httpx
import pytest
from sqlmodel import Session, col, select

from app.audit.verify import verify_chain
from app.core.config import Settings
from app.main import create_app
from app.models.audit import AuditEvent
from tests.conftest import ADMIN_TOKEN, AUTH
from tests.support.db import engine_for, migrate, temporary_pg_database
from tests.support.servers import running_server
from tests.support.waits import HTTP_TIMEOUT, WAIT

pytestmark = pytest.mark.postgres

ACTIONS = 50


@pytest.fixture
def pg_url() -> Iterator[str]:
    with temporary_pg_database("prism_audit") as url:
        migrate(url)
        yield url


def test_fifty_concurrent_actions_on_two_replicas_make_one_chain(pg_url: str) -> None:
    settings = Settings(
        api_db_url=pg_url,
        admin_token=ADMIN_TOKEN,
        auto_migrate=False,
        log_level="WARNING",
        retention_interval_minutes=0,
        _env_file=None,
    )
    with ExitStack() as stack:
        urls = [stack.enter_context(running_server(create_app(settings))) for _ in range(2)]
        setup = httpx.post(
            f"{urls[0]}/api/runbooks",
            json={"id": "rb", "title": "RB"},
            headers=AUTH,
            timeout=HTTP_TIMEOUT,
        )
        assert setup.status_code == 201, setup.text
        barrier = threading.Barrier(ACTIONS, timeout=WAIT)

        def act(number: int) -> int:
            base = urls[number % 2]
            with httpx.Client(base_url=base, headers=AUTH, timeout=HTTP_TIMEOUT) as client:
                barrier.wait()
                if number % 2:
                    response = client.post("/api/runbooks/rb/execute", json={"input": {}})
                else:
                    response = client.put(f"/api/settings/key.{number}", json={"value": "v"})
                return response.status_code

        with ThreadPoolExecutor(max_workers=ACTIONS) as pool:
            statuses = list(pool.map(act, range(ACTIONS)))
    assert statuses == [200] * ACTIONS
    with engine_for(pg_url) as engine, Session(engine) as session:
        rows = session.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all()
        assert [row.id for row in rows] == list(range(1, ACTIONS + 2))
        assert [row.prev_hash for row in rows[1:]] == [row.hash for row in rows[:-1]]
        assert len({row.hash for row in rows}) == len(rows)
        actions = sorted(row.action for row in rows[1:])
        assert actions == ["runbook.execute"] * 25 + ["setting.set"] * 25
        result = verify_chain(session=session)
        assert (result.ok, result.rows) == (True, ACTIONS + 1)
