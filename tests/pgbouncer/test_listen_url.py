"""PRISM_API_DB_LISTEN_URL and `prepare_threshold`: what the engine and the session-bound
connections (LISTEN, advisory locks) are given, and the start-up refusals. No server needed."""

import pytest
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.core.db import api_database_target, parse_database_url
from app.core.errors import ConfigError
from app.live.pg_fanout import libpq_url, session_libpq_url
from app.main import create_app

POOLED = "postgresql://prism:secret@pgbouncer:6432/prism"
DIRECT = "postgresql://prism:secret@postgres:5432/prism"


def settings(**values: object) -> Settings:
    return Settings(**values, _env_file=None)  # type: ignore[arg-type]


def test_without_a_listen_url_everything_uses_the_api_url_with_psycopg_defaults() -> None:
    target = api_database_target(POOLED, None)
    assert "connect_args" not in target.engine_options
    assert session_libpq_url(target) == libpq_url(target)


def test_a_listen_url_sends_session_work_direct_and_turns_prepares_off() -> None:
    target = api_database_target(POOLED, DIRECT)
    assert target.url.host == "pgbouncer"
    assert target.engine_options["connect_args"] == {"prepare_threshold": None}
    assert session_libpq_url(target) == "postgresql://prism:secret@postgres:5432/prism"
    assert make_url(libpq_url(target)).host == "pgbouncer"


def test_an_explicit_prepare_threshold_wins_over_the_listen_url_default() -> None:
    target = api_database_target(f"{POOLED}?prepare_threshold=0", DIRECT)
    assert target.engine_options["connect_args"] == {"prepare_threshold": 0}


@pytest.mark.parametrize("spelling", ["none", "None", "NONE"])
def test_prepare_threshold_none_in_the_url_goes_to_psycopg_not_libpq(spelling: str) -> None:
    target = parse_database_url(f"{POOLED}?prepare_threshold={spelling}&sslmode=require")
    assert target.engine_options["connect_args"] == {"prepare_threshold": None}
    # libpq refuses keys it does not know: the option must not reach the connection string.
    assert dict(target.url.query) == {"sslmode": "require"}
    assert "prepare_threshold" not in libpq_url(target)


@pytest.mark.parametrize("value", ["never", "-1", "1.5"])
def test_a_bad_prepare_threshold_fails_with_one_clear_line(value: str) -> None:
    with pytest.raises(ConfigError, match="PRISM_API_DB_URL: prepare_threshold="):
        parse_database_url(f"{POOLED}?prepare_threshold={value}")


def test_a_listen_url_with_a_sqlite_api_database_stops_the_app_factory() -> None:
    with pytest.raises(ConfigError, match="PRISM_API_DB_LISTEN_URL is set but PRISM_API_DB_URL"):
        create_app(settings(api_db_url="sqlite:///prism.db", api_db_listen_url=DIRECT))


@pytest.mark.parametrize(
    ("listen", "message"),
    [
        ("sqlite:///prism.db", "is not PostgreSQL"),
        ("mysql://prism@db/prism", "unsupported database"),
        ("not a url", "cannot parse"),
        ("postgresql://prism@postgres:5432", "names no database"),
    ],
)
def test_a_listen_url_that_is_not_postgresql_stops_the_app_factory(
    listen: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        create_app(settings(api_db_url=POOLED, api_db_listen_url=listen))
    assert str(caught.value).startswith("PRISM_API_DB_LISTEN_URL")


def test_a_blank_listen_url_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRISM_API_DB_LISTEN_URL", "  ")
    assert settings().api_db_listen_url is None


def test_the_listen_url_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRISM_API_DB_LISTEN_URL", DIRECT)
    assert settings().api_db_listen_url == DIRECT
