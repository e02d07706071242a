"""prism db prune: retention from the settings, counts printed, progress on stderr."""

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from app.core.timeutil import utcnow
from app.models import AgentEvent, Miner, MinerSample
from tests.cli.runner import engine_for, invoke
from tests.support.factories import make_agent


def test_prune_applies_the_configured_retention(
    migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRISM_RETENTION_SAMPLES_DAYS", "2")
    monkeypatch.setenv("PRISM_RETENTION_EVENTS_DAYS", "30")
    now = utcnow()
    with engine_for(migrated_url) as engine, Session(engine) as session:
        silent = MinerSample(miner_id="silent", recorded_at=now - timedelta(days=3))
        session.add_all(
            [
                make_agent("a1", name="A", domain="ops"),
                silent,
                MinerSample(miner_id="busy", recorded_at=now - timedelta(days=3)),
                MinerSample(miner_id="busy", recorded_at=now - timedelta(days=1)),
            ]
        )
        session.commit()
        session.add_all(
            [
                AgentEvent(id="old", agent_id="a1", kind="warn", at=now - timedelta(days=31)),
                AgentEvent(id="new", agent_id="a1", kind="warn", at=now - timedelta(days=29)),
                Miner(
                    miner_id="silent",
                    first_seen_at=silent.recorded_at,
                    last_recorded_at=silent.recorded_at,
                    last_sample_id=silent.id,
                ),
            ]
        )
        session.commit()

    result = invoke("db", "prune")

    assert result.exit_code == 0, result.output
    assert "Deleted 2 samples and 0 memory samples (older than 2 days), 1 events" in result.stdout
    assert "removed: 1" in result.stdout
    assert "samples: 2 deleted" in result.stderr
    with engine_for(migrated_url) as engine, Session(engine) as session:
        assert session.exec(select(AgentEvent.id)).all() == ["new"]
        assert session.exec(select(MinerSample.miner_id)).all() == ["busy"]
        assert session.get(Miner, "silent") is None
