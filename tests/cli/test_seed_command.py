"""prism db seed: refuses a database that holds data unless told otherwise."""

from sqlalchemy import func
from sqlmodel import Session, select

from app.models import Agent, MinerSample, Runbook
from app.ops.seed_miners import DEMO_MINERS, SAMPLES_PER_MINER
from tests.cli.runner import assert_one_line_error, engine_for, invoke
from tests.support.factories import make_agent

# A day of one sample a minute per demo miner, less the 47 minutes xmrig-edge was silent.
DEMO_SAMPLES = len(DEMO_MINERS) * SAMPLES_PER_MINER - 47


def _counts(url: str) -> tuple[int, int, int]:
    """(agents, runbooks, samples)"""
    with engine_for(url) as engine, Session(engine) as session:
        agents, runbooks, samples = (
            session.exec(select(func.count()).select_from(model)).one()
            for model in (Agent, Runbook, MinerSample)
        )
    return agents, runbooks, samples


def test_seed_fills_an_empty_database_and_reports_progress(migrated_url: str) -> None:
    result = invoke("db", "seed")
    assert result.exit_code == 0, result.output
    assert "8 agents" in result.stdout
    assert "samples" in result.stderr  # progress goes to stderr
    assert _counts(migrated_url) == (8, 6, DEMO_SAMPLES)
    with engine_for(migrated_url) as engine, Session(engine) as session:
        agent = session.get(Agent, "agent-1")
        assert agent is not None and agent.name == "Ops Agent 1"


def test_seed_refuses_a_database_that_holds_data(migrated_url: str) -> None:
    assert invoke("db", "seed").exit_code == 0
    with engine_for(migrated_url) as engine, Session(engine) as session:
        session.add(make_agent("keep-me", name="Keep", domain="ops"))
        session.commit()
    before = _counts(migrated_url)
    result = invoke("db", "seed")
    assert result.exit_code == 1
    line = assert_one_line_error(result)
    assert "not empty" in line
    assert "--force" in line
    assert _counts(migrated_url) == before


def test_seed_if_empty_leaves_data_alone_and_succeeds(migrated_url: str) -> None:
    with engine_for(migrated_url) as engine, Session(engine) as session:
        session.add(Runbook(id="mine", title="Mine"))
        session.commit()
    result = invoke("db", "seed", "--if-empty")
    assert result.exit_code == 0, result.output
    assert "not seeding" in result.stdout
    assert _counts(migrated_url) == (0, 1, 0)


def test_seed_if_empty_seeds_an_empty_database(migrated_url: str) -> None:
    assert invoke("db", "seed", "--if-empty").exit_code == 0
    assert _counts(migrated_url) == (8, 6, DEMO_SAMPLES)


def test_seed_force_replaces_the_demo_rows_only(migrated_url: str) -> None:
    assert invoke("db", "seed").exit_code == 0
    with engine_for(migrated_url) as engine, Session(engine) as session:
        session.add(make_agent("keep-me", name="Keep", domain="ops"))
        session.commit()
    result = invoke("db", "seed", "--force")
    assert result.exit_code == 0, result.output
    assert _counts(migrated_url) == (9, 6, DEMO_SAMPLES)
