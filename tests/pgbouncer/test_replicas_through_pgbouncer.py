"""Two replicas whose API URL goes through PgBouncer (transaction pooling) and whose
PRISM_API_DB_LISTEN_URL is direct: live updates still cross over, each exactly once."""

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import AUTH
from tests.scale.test_replicas import (
    Replica,
    assert_each_message_streamed_once,
    event_crossing_over,
    ops_stream,
    post_sample,
    replicas,
    unique,
)

pytestmark = pytest.mark.postgres

REPETITIONS = 8  # past psycopg's prepare threshold on each replica's ingest statements


@pytest.fixture(scope="module")
def pair(pooled_url: str, direct_url: str) -> Iterator[tuple[Replica, Replica]]:
    direct: dict[str, Any] = {"api_db_listen_url": direct_url, "retention_interval_minutes": 0}
    with replicas(pooled_url, 2, **direct) as (a, b):
        yield a, b


def test_samples_posted_to_one_replica_reach_the_other_every_time(
    pair: tuple[Replica, Replica],
) -> None:
    a, b = pair
    miners = [unique("rig") for _ in range(REPETITIONS)]
    with a.client(headers=AUTH) as to_a, b.client(headers=AUTH) as to_b, ops_stream(to_b) as on_b:
        for miner in miners:
            post_sample(to_a, miner)
            assert on_b.until(miner_id=miner)["sample"]["hashrate_1m"] == 1234.5


def test_an_agent_event_crosses_over_through_the_bouncer(pair: tuple[Replica, Replica]) -> None:
    event_crossing_over(pair)


def test_each_replica_streams_a_message_exactly_once(pair: tuple[Replica, Replica]) -> None:
    assert_each_message_streamed_once(pair)
