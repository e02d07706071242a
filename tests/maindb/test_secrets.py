"""Secrets never leave the main database: not in any response, and not in any log line."""

import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.support.maindb_fixtures import HIDDEN, SECRETS

URLS = [
    "/api/main/status",
    "/api/main/reconciliation",
    "/api/main/agents/agent-1/logs",
    "/api/main/agents/agent-2/logs",
    "/api/main/users",
    "/api/main/users?q=a",
    "/api/main/users/1",
    "/api/main/users/2",
    "/api/main/users/3",
    "/api/main/users/1/transactions",
    "/api/main/tasks",
    "/api/main/timeline",
    "/api/main/roadchain",
    "/api/main/roadchain/receipts",
    "/api/main/roadchain/receipts?user_id=1",
    "/api/main/roadchain/merkle-roots",
    "/api/main/roadchain/webhooks",
]


@pytest.fixture
def every_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Capture DEBUG from the prism loggers (which do not propagate) and SQLAlchemy."""
    prism = logging.getLogger("prism")
    prism.addHandler(caplog.handler)
    previous = prism.level
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")
    prism.setLevel(logging.DEBUG)
    yield caplog
    prism.setLevel(previous)
    prism.removeHandler(caplog.handler)


def test_no_secret_appears_in_any_response_or_log_line(
    api: TestClient, every_log: pytest.LogCaptureFixture
) -> None:
    responses = []
    for url in URLS:
        response = api.get(url)
        assert response.status_code == 200, (url, response.text)
        responses.append(response.text)
        # Every page of every list, too.
        cursor = response.json().get("nextCursor")
        while cursor:
            page = api.get(url, params={"cursor": cursor, "limit": 1})
            responses.append(page.text)
            cursor = page.json().get("nextCursor")
    for url in ("/api/main/users", "/api/main/roadchain/receipts", "/api/main/timeline"):
        response = api.get(url, params={"limit": 1})
        responses.append(response.text)
    logged = "\n".join(record.getMessage() for record in every_log.records)
    # The capture works: SQLAlchemy logged the statements and the rows it fetched.
    assert "FROM users" in logged and "alice@example.com" in logged
    assert "parameters hidden" in logged  # filter values stay out of the logs
    for secret in SECRETS:  # never selected: neither answered nor even read
        assert secret not in logged
    for secret in (*SECRETS, *HIDDEN):  # HIDDEN: read inside JSON documents, then redacted
        for text in responses:
            assert secret not in text
    status = api.get("/api/main/status").json()
    assert "password_hash" in status["tables"]["users"]  # a column name is not a secret
