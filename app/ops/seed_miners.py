"""The demo seed's miners (app/ops/seed.py): who they are, and a day of their samples.

A day of one sample a minute per miner: mean-reverting hashrate and temperature, growing
share counters, power following the hashing; one miner silent for a while, one hashing
0 H/s while it still reports, and an S19 twin running hot and inefficient.
"""

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from app.models import Miner

SAMPLES_PER_MINER = 24 * 60  # one a minute for a day (less the minutes a miner was silent)


@dataclass(frozen=True)
class DemoMiner:
    """How one demo miner behaves: its pool, algorithm and typical readings."""

    miner_id: str
    pool: str
    profile: str
    hashrate: float  # H/s
    temperature: float  # °C
    difficulty: float
    shares_per_minute: float
    power_w: float  # at `hashrate`
    fan_rpm: int
    expected_hashrate: float  # its nameplate rate (what an admin would set)
    name: str
    location: str
    # (minutes before now it started, minutes): no sample at all, or samples at 0 H/s.
    silent: tuple[int, int] | None = None
    idle: tuple[int, int] | None = None


DEMO_MINERS = (
    DemoMiner(
        "xmrig", "pool.supportxmr.com:443", "rx/0", 7_200, 66, 120_000, 3.5,
        95, 1_800, 7_300, "Office tower", "HQ / desk 12",
    ),
    DemoMiner(
        "xmrig-edge", "xmr-eu1.nanopool.org:14433", "rx/0", 3_100, 58, 60_000, 3.0,
        45, 2_100, 3_200, "Edge box", "Branch office", silent=(9 * 60, 47),
    ),
    DemoMiner(
        "gpu-rig-01", "rvn.2miners.com:6060", "kawpow", 28.5e6, 71, 1.5e6, 2.0,
        260, 2_400, 30e6, "GPU rig 1", "Rack A / shelf 1", idle=(5 * 60, 25),
    ),
    DemoMiner(
        "asic-s19", "btc.viabtc.io:3333", "sha256d", 95e12, 78.5, 65_536, 6.0,
        3_250, 5_400, 95e12, "S19 shelf 2", "Rack B / shelf 2",
    ),
    # The twin that runs hot and wastes power: clogged filters, a failing hashboard.
    DemoMiner(
        "asic-s19-hot", "btc.viabtc.io:3333", "sha256d", 76e12, 87, 65_536, 4.8,
        3_420, 6_600, 95e12, "S19 shelf 3", "Rack B / shelf 3",
    ),
)  # fmt: skip


def describe_miners(session: Session) -> None:
    """What an admin would have said of each demo miner (PUT /api/miners/{id})."""
    for demo in DEMO_MINERS:
        miner = session.get(Miner, demo.miner_id)
        if miner is not None:
            miner.expected_hashrate = demo.expected_hashrate
            miner.name = demo.name
            miner.location = demo.location
            session.add(miner)
    session.commit()


def demo_samples(rng: random.Random, miner: DemoMiner, end: datetime) -> list[dict[str, Any]]:
    """One sample a minute: mean-reverting hashrate and temperature, growing share counters."""
    rows = []
    rate = miner.hashrate
    average = miner.hashrate
    temperature = miner.temperature
    accepted = rejected = stale = 0
    last_share_at: datetime | None = None
    for minute in range(SAMPLES_PER_MINER):
        back = SAMPLES_PER_MINER - 1 - minute  # minutes before the newest sample
        at = end - timedelta(minutes=back)
        rate += 0.3 * (miner.hashrate - rate) + rng.gauss(0, 0.03 * miner.hashrate)
        rate = max(rate, 0.0)
        if _within(miner.silent, back):
            continue  # no sample at all: the miner (or its network) was down
        idle = _within(miner.idle, back)  # reporting, but its hashing has stopped
        average += (rate - average) / 15  # what a 15-minute average would show
        # Warmer in the afternoon (UTC), with the odd spike a fan slow-down causes.
        daily = 2.5 * _daily_wave(at)
        spike = 6.0 if rng.random() < 0.004 else 0.0
        temperature += 0.2 * (miner.temperature + daily - temperature) + rng.gauss(0, 0.4)
        found = 0 if idle else _poisson(rng, miner.shares_per_minute)
        accepted += found
        rejected += 1 if rng.random() < 0.01 else 0
        stale += 1 if rng.random() < 0.02 else 0
        if found:
            last_share_at = at - timedelta(seconds=rng.randint(0, 59))
        rows.append(
            {
                "miner_id": miner.miner_id,
                "recorded_at": at,
                "pool": miner.pool,
                "profile": miner.profile,
                "hashrate_1m": 0.0 if idle else round(rate, 2),
                "hashrate_15m": 0.0 if idle else round(average, 2),
                "shares_accepted": accepted,
                "shares_rejected": rejected,
                "shares_stale": stale,
                "latency_ms": round(max(5.0, rng.gauss(42, 9)), 1),
                "temperature_c": round(temperature + spike, 1),
                "last_share_difficulty": miner.difficulty if last_share_at else None,
                "last_share_at": last_share_at,
                # Power follows the hashing (idle chips still draw a fifth); fans hold.
                "power_w": round(miner.power_w * (0.2 if idle else rate / miner.hashrate), 1),
                "fan_rpm": miner.fan_rpm + rng.randint(-60, 60),
            }
        )
    return rows


def _within(span: tuple[int, int] | None, minutes_back: int) -> bool:
    """Whether `minutes_back` lies in a (minutes before now it started, minutes) span."""
    if span is None:
        return False
    start, length = span
    return start - length < minutes_back <= start


def _daily_wave(at: datetime) -> float:
    """-1 at 03:00 UTC, +1 at 15:00 UTC."""
    hour = at.hour + at.minute / 60
    return math.sin((hour - 9) / 24 * 2 * math.pi)


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method: fine for the small means a minute of shares has.
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count
