"""A live console for the fuzzer: real uvicorn, a migrated and seeded console DB, a main DB.

The fuzzer talks to it over the network as any client would, so what it checks is what a
client gets: the ASGI stack, the middlewares, the JSON encoder and the database driver all
take part. Each engine gets one server for the schemathesis campaign (which writes) and one
for the read-only campaigns (whose seeded rows must stay).

`make test` runs a short campaign with a fixed seed (the same requests on every run);
`make fuzz` raises PRISM_FUZZ_EXAMPLES and draws a new PRISM_FUZZ_SEED each time (it prints
it: the same seed replays the same campaign).
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import schemathesis
from sqlmodel import Session

from app.core.config import Settings
from app.main import create_app
from app.ops.seed import seed_demo
from tests.support.db import migrated_engine, temporary_pg_database
from tests.support.maindb_fixtures import Dialect, main_database
from tests.support.servers import running_server
from tests.support.waits import WAIT, WAIT_MS

ADMIN_TOKEN = "fuzz-admin-token-with-enough-entropy-0001"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
EXAMPLES = int(os.environ.get("PRISM_FUZZ_EXAMPLES", "10"))
SEED = int(os.environ.get("PRISM_FUZZ_SEED", "20260105"))


def pytest_report_header() -> str:
    return f"API fuzzing: {EXAMPLES} examples per operation, PRISM_FUZZ_SEED={SEED}"


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def fuzz_dialect(request: pytest.FixtureRequest) -> Dialect:
    """The engine of both databases in this campaign."""
    value: Dialect = request.param
    return value


@contextmanager
def _console_database(dialect: Dialect, directory: Path) -> Iterator[str]:
    """A migrated console database holding the demo fleet, so `agent-1` & co. exist."""
    if dialect == "sqlite":
        url = f"sqlite:///{directory / 'console.db'}"
        _migrate_and_seed(url)
        yield url
    else:
        with temporary_pg_database("prism_fuzz") as url:
            _migrate_and_seed(url)
            yield url


def _migrate_and_seed(url: str) -> None:
    with migrated_engine(url) as engine, Session(engine) as session:
        seed_demo(session=session)


@contextmanager
def _live_console(dialect: Dialect, directory: Path) -> Iterator[str]:
    """Base URL of a real server on a seeded console DB, with a seeded main DB behind it."""
    with (
        _console_database(dialect, directory) as console_url,
        main_database(dialect, directory) as main,
    ):
        settings = Settings(
            api_db_url=console_url,
            main_db_url=main.url,
            admin_token=ADMIN_TOKEN,
            auto_migrate=False,
            log_level="WARNING",
            # One busy client: the rate limiter has its own tests, here it would only say 429.
            ingest_rate_limit=1_000_000,
            # The main database's deadline has its own tests: on a busy machine here it
            # would only turn a slow answer into a 503.
            main_db_timeout_ms=WAIT_MS,
            # A long campaign on a busy machine must not meet the first scheduled prune.
            retention_interval_minutes=0,
            _env_file=None,  # type: ignore[call-arg]
        )
        with running_server(create_app(settings)) as url:
            yield url


@pytest.fixture(scope="session")
def live_url(fuzz_dialect: Dialect, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The server schemathesis fuzzes: its campaign creates, changes and deletes rows."""
    with _live_console(fuzz_dialect, tmp_path_factory.mktemp("fuzz")) as url:
        yield url


@pytest.fixture(scope="module")
def seeded_live_url(
    fuzz_dialect: Dialect, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A server of its own for read-only campaigns: the demo rows are all still there."""
    with _live_console(fuzz_dialect, tmp_path_factory.mktemp("fuzz-seeded")) as url:
        yield url


@pytest.fixture(scope="session")
def api_schema(live_url: str) -> schemathesis.BaseSchema:
    """The live /openapi.json, read with the admin token; every request carries it too."""
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "base-url": live_url,
            "headers": AUTH,
            # Generous: a busy machine answers slowly, and a slow answer is not a failure.
            "request-timeout": WAIT,
            # The ops stream never ends: its headers and first event (the heartbeat sent on
            # connect) are read and checked, then the connection is closed.
            "max-stream-events": 1,
            "generation": {
                "max-examples": EXAMPLES,
                "deterministic": True,
                # Nothing carried over between runs: the seed alone decides the requests.
                "database": "none",
            },
            # Boundary values of every parameter, each method a path does not have (405 and
            # a complete Allow) and OPTIONS, then EXAMPLES random requests.
        }
    )
    return schemathesis.openapi.from_url(f"{live_url}/openapi.json", headers=AUTH, config=config)


@pytest.fixture(autouse=True)
def _schemathesis_node_id(request: pytest.FixtureRequest) -> None:
    # schemathesis 4.32 reads and relabels `Node._nodeid` for schemas loaded from a fixture;
    # pytest 9 no longer has that attribute, so give it one to work on.
    node = request.node
    if not hasattr(node, "_nodeid"):
        node._nodeid = node.nodeid
