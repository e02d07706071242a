"""Values derived from a stored sample: stale rate, baseline and effective hashrate,
efficiency.

Derived on read, never stored, so a fix to a formula applies to every sample at once.
"""

from collections.abc import Mapping
from typing import Any

from app.models import MinerSample
from app.models.miner import MinerSampleOut

# The stored columns of a sample, as the API shows them (no id).
SAMPLE_COLUMNS = (
    "miner_id",
    "recorded_at",
    "pool",
    "profile",
    "hashrate_1m",
    "hashrate_15m",
    "shares_accepted",
    "shares_rejected",
    "shares_stale",
    "latency_ms",
    "temperature_c",
    "last_share_difficulty",
    "last_share_at",
)
# Every stored column of a sample: the compatible ones, then those SPEC §14 added (which
# the compatible output shapes of appendix A do not carry).
STORED_COLUMNS = (*SAMPLE_COLUMNS, "power_w", "fan_rpm")
TERA = 1e12


def stale_rate(accepted: int, stale: int) -> float:
    """stale ÷ (accepted + stale); 0 when the miner has no shares yet."""
    total = accepted + stale
    return stale / total if total > 0 else 0.0


def baseline_hashrate(hashrate_1m: float | None, hashrate_15m: float | None) -> float | None:
    """The reported rate: the 1-minute average unless it is missing or 0, then the 15-minute.

    A 1-minute 0 without a 15-minute rate is no baseline (None), as in the earlier service.
    """
    return hashrate_1m if hashrate_1m else hashrate_15m


def effective_hashrate(
    hashrate_1m: float | None, hashrate_15m: float | None, rate: float
) -> float | None:
    """The baseline discounted by the stale rate; None when the miner reported no rate."""
    baseline = baseline_hashrate(hashrate_1m, hashrate_15m)
    return None if baseline is None else baseline * (1 - rate)


def efficiency_j_per_th(power_w: float | None, effective: float | None) -> float | None:
    """Joules per terahash: watts over the effective hashrate in TH/s (SPEC §14).

    None without a power reading or without hashing: at 0 H/s every watt is waste, and an
    infinite figure would poison averages; the hashrate rule reports that case instead.
    """
    if power_w is None or not effective or effective <= 0:
        return None
    return power_w * TERA / effective


def percent_of_expected(effective: float | None, expected: float | None) -> float | None:
    """The effective hashrate as a percentage of the miner's expected hashrate, if set."""
    if effective is None or not expected or expected <= 0:
        return None
    return effective / expected * 100


def sample_out(sample: MinerSample | Mapping[str, Any]) -> MinerSampleOut:
    """The compatible output shape of a stored sample or of its complete column values."""
    values = sample if isinstance(sample, Mapping) else sample.model_dump()
    rate = stale_rate(values["shares_accepted"], values["shares_stale"])
    return MinerSampleOut(
        **{name: values[name] for name in SAMPLE_COLUMNS},
        stale_rate=rate,
        effective_hashrate=effective_hashrate(values["hashrate_1m"], values["hashrate_15m"], rate),
    )
