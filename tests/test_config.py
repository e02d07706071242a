"""Configuration: variable names, URL forms, and failing fast on a bad URL."""

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import text
from sqlmodel import Session

from app.core.config import Settings
from app.core.db import create_db_engine, parse_database_url
from app.core.errors import ConfigError
from app.core.timeutil import isoformat, parse_datetime
from app.main import create_app
from app.models import Runbook
from tests.conftest import ADMIN_TOKEN
from tests.support.fake_gateway import running_fake_gateway
from tests.support.fake_verifier import running_fake_verifier

# Read from the environment by the tests below: none may leak in from the shell.
URL_VARIABLES = (
    "PRISM_AUTH_VERIFY_URL",
    "PRISM_AUTH_BASE_URL",
    "PRISM_GATEWAY_URL",
    "PRISM_GATEWAY_BASE_URL",
    "PRISM_ROADGLITCH_BASE_URL",
    "PRISM_MOCK_MODE",
    "PRISM_AUTH_VERIFY_DEFAULT_SCOPE",
    "PRISM_DOCS_PUBLIC",
)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in URL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def app_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Records of prism.app (create_app replaces the handlers of `prism`, not of its children)."""
    logger = logging.getLogger("prism.app")
    logger.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)


def settings_from_env(db_url: str) -> Settings:
    """Settings read from the environment, on the test database."""
    return Settings(
        api_db_url=db_url,
        admin_token=ADMIN_TOKEN,
        auto_migrate=False,
        log_level="WARNING",
        retention_interval_minutes=0,
        _env_file=None,  # type: ignore[call-arg]
    )


def test_both_database_variable_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PRISM_API_DB_URL", raising=False)
    monkeypatch.setenv("PRISM_DB_URL", "sqlite:///alias.db")
    assert Settings(_env_file=None).api_db_url == "sqlite:///alias.db"  # type: ignore[call-arg]
    monkeypatch.setenv("PRISM_API_DB_URL", "sqlite:///primary.db")
    assert Settings(_env_file=None).api_db_url == "sqlite:///primary.db"  # type: ignore[call-arg]


def test_default_database_is_a_local_sqlite_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PRISM_API_DB_URL", raising=False)
    monkeypatch.delenv("PRISM_DB_URL", raising=False)
    assert Settings(_env_file=None).api_db_url == "sqlite:///prism.db"  # type: ignore[call-arg]


def test_cors_origins_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRISM_CORS_ORIGINS", "https://a.example, https://b.example")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.cors_origins == ["https://a.example", "https://b.example"]


@pytest.mark.parametrize(
    ("raw", "database"),
    [("sqlite:///prism.db", "prism.db"), ("sqlite:////abs/path.db", "/abs/path.db")],
)
def test_sqlite_urls_keep_their_path(raw: str, database: str) -> None:
    target = parse_database_url(raw)
    assert target.is_sqlite
    assert target.url.database == database


@pytest.mark.parametrize(
    "raw",
    [
        "postgresql://user:pass@host:5432/db",
        "postgres://user:pass@host:5432/db",
        "postgresql+asyncpg://user:pass@host:5432/db",
        "postgresql+psycopg2://user:pass@host:5432/db",
        "postgresql+psycopg://user:pass@host:5432/db",
    ],
)
def test_every_postgres_driver_maps_to_psycopg(raw: str) -> None:
    target = parse_database_url(raw)
    assert target.url.drivername == "postgresql+psycopg"
    assert (target.url.host, target.url.port, target.url.database) == ("host", 5432, "db")
    assert target.url.password == "pass"


def test_pool_options_configure_the_pool_not_the_driver() -> None:
    target = parse_database_url(
        "postgresql+psycopg2://u:p@h:5432/db?pool_size=20&max_overflow=10&connect_timeout=5"
    )
    assert target.engine_options == {"pool_size": 20, "max_overflow": 10}
    assert dict(target.url.query) == {"connect_timeout": "5"}
    engine = create_db_engine(target)
    assert engine.pool.size() == 20  # type: ignore[attr-defined]
    assert engine.pool._max_overflow == 10  # type: ignore[attr-defined]
    engine.dispose()


def test_asyncpg_ssl_option_becomes_libpq_sslmode() -> None:
    target = parse_database_url("postgresql+asyncpg://u:p@h/db?ssl=require")
    assert dict(target.url.query) == {"sslmode": "require"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("not a url", "cannot parse"),
        ("mysql://u:p@h/db", "unsupported database 'mysql'"),
        ("postgresql://u:p@h:5432/db?pool_size=lots", "pool_size='lots'"),
        ("postgresql://u:p@h:5432", "names no database"),
    ],
)
def test_a_bad_url_fails_with_one_clear_line(raw: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_database_url(raw)
    assert message in caught.value.detail
    assert "\n" not in caught.value.detail
    assert caught.value.detail.startswith("PRISM_API_DB_URL:")


def test_a_bad_url_stops_the_app_factory() -> None:
    with pytest.raises(ConfigError):
        create_app(Settings(api_db_url="mysql://x/y", _env_file=None))  # type: ignore[call-arg]


def test_creating_the_app_touches_no_disk(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "untouched.db"
    create_app(Settings(api_db_url=f"sqlite:///{path}", _env_file=None))  # type: ignore[call-arg]
    assert not path.exists()


def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = create_db_engine(
        parse_database_url(f"sqlite:///{tmp_path / 'p.db'}"), busy_timeout_seconds=7
    )
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 7000
    engine.dispose()


def test_slow_queries_are_logged_with_their_duration(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    engine = create_db_engine(parse_database_url(f"sqlite:///{tmp_path / 's.db'}"), slow_query_ms=0)
    with caplog.at_level("WARNING", logger="prism.db"), engine.connect() as conn:
        conn.execute(text("SELECT 42"))
    engine.dispose()
    record = next(r for r in caplog.records if "SELECT 42" in r.getMessage())
    assert record.getMessage().startswith("slow query took ")
    assert record.duration_ms >= 0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-05T10:00:00Z", datetime(2026, 1, 5, 10, tzinfo=UTC)),
        ("2026-01-05T12:00:00+02:00", datetime(2026, 1, 5, 10, tzinfo=UTC)),
        ("2026-01-05T10:00:00", datetime(2026, 1, 5, 10, tzinfo=UTC)),
        ("2026-01-05", datetime(2026, 1, 5, tzinfo=UTC)),
        (1767607200, datetime(2026, 1, 5, 10, tzinfo=UTC)),
        ("1767607200", datetime(2026, 1, 5, 10, tzinfo=UTC)),
    ],
)
def test_every_datetime_form_is_read_as_utc(value: object, expected: datetime) -> None:
    assert parse_datetime(value) == expected


def test_datetimes_are_written_in_utc_with_z() -> None:
    assert isoformat(datetime(2026, 1, 5, 10, tzinfo=UTC)) == "2026-01-05T10:00:00Z"


@pytest.mark.parametrize("value", ["yesterday", "", float("nan"), True])
def test_unreadable_datetimes_are_refused(value: object) -> None:
    with pytest.raises(ValueError):
        parse_datetime(value)


def test_a_bad_trusted_proxy_entry_fails_at_start_up_naming_it() -> None:
    with pytest.raises(ValueError, match="'nonsense' is not an IP address or CIDR"):
        Settings(trusted_proxies="10.0.0.1,nonsense", _env_file=None)  # type: ignore[call-arg]
    ok = Settings(trusted_proxies="10.0.0.0/8, ::1", _env_file=None)  # type: ignore[call-arg]
    assert ok.trusted_proxies == ["10.0.0.0/8", "::1"]


# --- the earlier service's variables (SPEC appendix A) -------------------------------------


def test_the_earlier_verifier_variable_is_an_alias(env: pytest.MonkeyPatch) -> None:
    env.setenv("PRISM_AUTH_BASE_URL", "http://auth.internal:9000/")
    assert Settings(_env_file=None).auth_verify_url == "http://auth.internal:9000"  # type: ignore[call-arg]
    env.setenv("PRISM_AUTH_VERIFY_URL", "http://verify.internal")
    assert Settings(_env_file=None).auth_verify_url == "http://verify.internal"  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"PRISM_ROADGLITCH_BASE_URL": "http://rg"}, "http://rg"),
        (
            {"PRISM_ROADGLITCH_BASE_URL": "http://rg", "PRISM_GATEWAY_BASE_URL": "http://gb"},
            "http://gb",
        ),
        (
            {
                "PRISM_ROADGLITCH_BASE_URL": "http://rg",
                "PRISM_GATEWAY_BASE_URL": "http://gb",
                "PRISM_GATEWAY_URL": "http://gw/",
            },
            "http://gw",
        ),
    ],
)
def test_the_earlier_gateway_variables_are_aliases_in_order(
    env: pytest.MonkeyPatch, variables: dict[str, str], expected: str
) -> None:
    for name, value in variables.items():
        env.setenv(name, value)
    assert Settings(_env_file=None).gateway_url == expected  # type: ignore[call-arg]


def test_the_earlier_variables_reach_the_verifier_and_the_gateway(
    env: pytest.MonkeyPatch, db_url: str, client: TestClient, db_session: Session
) -> None:
    db_session.add(Runbook(id="restart", title="Restart", inputs_schema={}, linked_workflow="wf"))
    db_session.commit()
    external = "ext-earlier-token-with-plenty-of-entropy-11"
    with (
        running_fake_verifier(valid={external: {"sub": "u-1", "scope": ["ops"]}}) as verifier,
        running_fake_gateway() as gateway,
    ):
        env.setenv("PRISM_AUTH_BASE_URL", verifier.url)
        env.setenv("PRISM_ROADGLITCH_BASE_URL", gateway.url)
        with TestClient(create_app(settings_from_env(db_url))) as earlier:
            reader = {"Authorization": f"Bearer {external}"}
            assert earlier.get("/api/agents", headers=reader).status_code == 200
            admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            response = earlier.post("/api/runbooks/restart/execute", json={}, headers=admin)
            assert response.status_code == 200
    assert verifier.calls == [external]
    assert [request.path for request in gateway.requests] == ["/runs"]


def test_mock_mode_set_is_a_loud_warning_and_tokens_are_still_checked(
    env: pytest.MonkeyPatch, db_url: str, client: TestClient, app_logs: pytest.LogCaptureFixture
) -> None:
    env.setenv("PRISM_MOCK_MODE", "true")
    app = create_app(settings_from_env(db_url))
    [warning] = [record for record in app_logs.records if "PRISM_MOCK_MODE" in record.getMessage()]
    assert warning.levelno == logging.WARNING
    assert "mock mode is gone and every token is checked" in warning.getMessage()
    with TestClient(app) as started:
        made_up = started.get("/api/agents", headers={"Authorization": "Bearer anything"})
        assert made_up.status_code == 401
        assert started.get("/api/agents").json() == {"detail": "Missing token"}


def test_without_mock_mode_nothing_is_said_about_it(
    env: pytest.MonkeyPatch, db_url: str, app_logs: pytest.LogCaptureFixture
) -> None:
    create_app(settings_from_env(db_url))
    assert not [record for record in app_logs.records if "MOCK" in record.getMessage()]


def test_the_verifier_default_scope_is_checked_at_start_up(env: pytest.MonkeyPatch) -> None:
    assert Settings(_env_file=None).auth_verify_default_scope == "read"  # type: ignore[call-arg]
    env.setenv("PRISM_AUTH_VERIFY_DEFAULT_SCOPE", "None")
    assert Settings(_env_file=None).auth_verify_default_scope == "none"  # type: ignore[call-arg]
    env.setenv("PRISM_AUTH_VERIFY_DEFAULT_SCOPE", "superuser")
    with pytest.raises(ValidationError, match="PRISM_AUTH_VERIFY_DEFAULT_SCOPE: 'superuser'"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_docs_public_is_read_from_the_environment(env: pytest.MonkeyPatch) -> None:
    assert Settings(_env_file=None).docs_public is True  # type: ignore[call-arg]
    env.setenv("PRISM_DOCS_PUBLIC", "false")
    assert Settings(_env_file=None).docs_public is False  # type: ignore[call-arg]
