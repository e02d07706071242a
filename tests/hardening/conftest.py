"""Fixtures for the abuse, verifier and log tests: apps with their own limits and peers."""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.core.config import Settings
from app.core.logging_setup import configure_logging
from app.core.middleware import SECURITY_HEADERS
from app.main import create_app
from tests.support.db import wipe
from tests.support.servers import running_server

PeerClientFactory = Callable[..., TestClient]


@pytest.fixture
def peer_client(app_settings: Settings, engine: Engine) -> Iterator[PeerClientFactory]:
    """A fresh app (own limiters) on the same empty database, reached from a chosen peer.

    TestClient's peer is normally 'testclient', not an address; proxy handling needs one.
    """
    started: list[TestClient] = []

    def make(
        peer: str = "testclient", *, base_url: str = "http://testserver", **overrides: Any
    ) -> TestClient:
        settings = app_settings.model_copy(update=overrides)
        client = TestClient(create_app(settings), client=(peer, 50000), base_url=base_url)
        client.__enter__()
        started.append(client)
        return client

    wipe(engine)
    yield make
    for client in started:
        client.__exit__(None, None, None)


class LogCapture(logging.Handler):
    """Keeps every record of the loggers it is attached to."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def of(self, name: str) -> list[logging.LogRecord]:
        return [record for record in self.records if record.name == name]


@pytest.fixture
def prism_logs() -> Iterator[Callable[..., LogCapture]]:
    """Attach a capture to `prism` (which does not propagate) and any other loggers, at DEBUG.

    Call it after creating the apps of the test: create_app() reconfigures `prism`.
    """
    attached: list[tuple[logging.Logger, int, LogCapture]] = []

    def attach(*names: str) -> LogCapture:
        capture = LogCapture()
        for name in ("prism", *names):
            logger = logging.getLogger(name)
            attached.append((logger, logger.level, capture))
            logger.setLevel(logging.DEBUG)
            logger.addHandler(capture)
        return capture

    yield attach
    for logger, level, capture in reversed(attached):
        logger.removeHandler(capture)
        logger.setLevel(level)
    # Leave `prism` as the shared test app configured it (text, WARNING).
    configure_logging("text", "WARNING")


def assert_security_headers(response: Any) -> None:
    """The headers SPEC §9 and appendix A put on every response."""
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (response.status_code, name)
    assert response.headers.get("X-Request-ID"), response.status_code


@contextmanager
def running_server_like_prism_serve(app: FastAPI) -> Iterator[str]:
    """A real uvicorn on a free loopback port, with proxy headers off as `prism serve` runs it.

    (uvicorn's default would believe X-Forwarded-* from 127.0.0.1 before the app sees them.)
    """
    with running_server(app, proxy_headers=False, access_log=False) as url:
        yield url
