"""settings_store for the service itself: get_value and the generated session secret."""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.models import Setting
from app.settings import service as settings_store


@pytest.fixture
def session(client: TestClient, engine: Engine) -> Iterator[Session]:
    """A session on the database `client` has just emptied."""
    with Session(engine, expire_on_commit=False) as session:
        yield session


def test_get_value_returns_none_for_a_missing_key(session: Session) -> None:
    assert settings_store.get_value(session=session, key="nope") is None


def test_get_value_reads_internal_keys_too(session: Session) -> None:
    settings_store.get_or_create_secret(session=session, key="_k")
    assert settings_store.get_value(session=session, key="_k")


def test_the_secret_is_generated_once_and_then_kept(session: Session, engine: Engine) -> None:
    first = settings_store.get_or_create_secret(session=session)
    assert len(first) >= 32
    with Session(engine) as other:
        assert settings_store.get_or_create_secret(session=other) == first
    stored = session.exec(select(Setting).where(Setting.key == "_secret_key")).one()
    assert stored.value == first


def test_a_blank_stored_secret_is_replaced(session: Session) -> None:
    session.add(Setting(key="_secret_key", value="", updated_at=settings_store.utcnow()))
    session.commit()
    secret = settings_store.get_or_create_secret(session=session)
    assert secret
    session.expire_all()
    assert settings_store.get_value(session=session, key="_secret_key") == secret


def test_replicas_starting_together_agree_on_one_secret(session: Session, engine: Engine) -> None:
    def start() -> str:
        with Session(engine) as own:
            return settings_store.get_or_create_secret(session=own)

    with ThreadPoolExecutor(max_workers=8) as pool:
        secrets = set(pool.map(lambda _: start(), range(8)))
    assert len(secrets) == 1
    assert session.exec(select(Setting)).one().value == secrets.pop()


def test_a_lost_insert_race_returns_the_winners_secret(
    session: Session, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    winner = "winner-secret"
    real_get = Session.get
    calls: list[int] = []

    def get_after_other_replica(self: Session, *args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 1:
            # Another replica commits its secret between this one's read and its insert.
            with Session(engine) as other:
                other.add(
                    Setting(key="_secret_key", value=winner, updated_at=settings_store.utcnow())
                )
                other.commit()
            return None
        return real_get(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Session, "get", get_after_other_replica)
    assert settings_store.get_or_create_secret(session=session) == winner
