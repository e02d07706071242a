"""The miner tiles (Appendix A "Tiles"): pure formatting, so every rule is unit-tested.

The thresholds and formats are the earlier service's, which dashboards and operators
already read; change them only together with the compatibility contract.
"""

from datetime import datetime

from app.core.timeutil import as_utc
from app.miners.derived import baseline_hashrate
from app.models.miner import MinerSampleOut, MinerState, Tile, TileIntent

NONE = "—"
HASHRATE_UNITS = ("H/s", "kH/s", "MH/s", "GH/s", "TH/s")
STALE_CRITICAL_ABOVE = 0.05
STALE_WARNING_ABOVE = 0.02
TEMPERATURE_CRITICAL_FROM = 85.0
TEMPERATURE_WARNING_FROM = 80.0


def format_hashrate(value: float | None) -> str:
    """`1.50 kH/s`: scaled by 1000 up to TH/s; 0 decimals from 100, 1 from 10, else 2."""
    if value is None:
        return NONE
    unit = 0
    while value >= 1000 and unit < len(HASHRATE_UNITS) - 1:
        value /= 1000
        unit += 1
    decimals = 0 if value >= 100 else 1 if value >= 10 else 2
    return f"{value:.{decimals}f} {HASHRATE_UNITS[unit]}"


def format_percent(rate: float) -> str:
    """A 0..1 rate as a percentage with 2 decimals: 0.0769 → `7.69%`."""
    return f"{rate * 100:.2f}%"


def stale_intent(rate: float) -> TileIntent:
    if rate > STALE_CRITICAL_ABOVE:
        return "critical"
    if rate > STALE_WARNING_ABOVE:
        return "warning"
    return "good"


def format_temperature(celsius: float | None) -> str:
    return NONE if celsius is None else f"{celsius:.1f}°C"


def temperature_intent(celsius: float | None) -> TileIntent | None:
    if celsius is None:
        return None
    if celsius >= TEMPERATURE_CRITICAL_FROM:
        return "critical"
    if celsius >= TEMPERATURE_WARNING_FROM:
        return "warning"
    return "good"


def format_age(moment: datetime | None, now: datetime) -> str:
    """Whole seconds, minutes, hours or days ago; a moment in the future reads `0s ago`."""
    if moment is None:
        return NONE
    seconds = max(0, int((as_utc(now) - as_utc(moment)).total_seconds()))
    if seconds < 60:
        return f"{seconds}s ago"
    if seconds < 3600:
        return f"{seconds // 60}m ago"
    if seconds < 86400:
        return f"{seconds // 3600}h ago"
    return f"{seconds // 86400}d ago"


def format_difficulty(difficulty: float | None) -> str | None:
    """`diff 15,000`; None when there is no (or a zero) difficulty."""
    if not difficulty:
        return None
    return f"diff {difficulty:,.0f}"


def build_tiles(sample: MinerSampleOut, now: datetime) -> list[Tile]:
    """The four tiles of a miner's newest sample, in the order dashboards expect."""
    baseline = baseline_hashrate(sample.hashrate_1m, sample.hashrate_15m)
    return [
        Tile(
            id="effective-hashrate",
            label="Effective hashrate",
            value=format_hashrate(sample.effective_hashrate),
            helper=None if baseline is None else f"reported {format_hashrate(baseline)}",
            intent=None,
        ),
        Tile(
            id="stale-rate",
            label="Stale rate",
            value=format_percent(sample.stale_rate),
            helper=f"{sample.shares_accepted} accepted · {sample.shares_stale} stale",
            intent=stale_intent(sample.stale_rate),
        ),
        Tile(
            id="temperature",
            label="Temperature",
            value=format_temperature(sample.temperature_c),
            helper=None,
            intent=temperature_intent(sample.temperature_c),
        ),
        Tile(
            id="last-share",
            label="Last accepted share",
            value=format_age(sample.last_share_at, now),
            helper=format_difficulty(sample.last_share_difficulty),
            intent=None,
        ),
    ]


def state_from_tiles(tiles: list[Tile]) -> MinerState:
    """The worst intent among the tiles: critical, then warning, else ok."""
    intents = {tile.intent for tile in tiles}
    if "critical" in intents:
        return "critical"
    if "warning" in intents:
        return "warning"
    return "ok"
