"""Miner telemetry samples, and one row per miner pointing at its newest sample."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Strict, model_validator
from pydantic import Field as PydanticField
from pydantic_core import PydanticCustomError
from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from app.core.downsampling import SeriesStats
from app.core.timeutil import UTCDateTime as ApiDateTime
from app.core.validators import NumberAsText, SafeId, SafeName
from app.models.alerts import HealthName
from app.models.base import ApiModel
from app.models.types import BigIntPK, UTCDateTime


class MinerSample(SQLModel, table=True):
    __tablename__ = "minersample"
    __table_args__ = (
        Index("ix_minersample_miner_id_recorded_at", "miner_id", "recorded_at"),
        # A miner's samples not yet folded into the rollup (id past the watermark) as one
        # index range: what a chart merges with the rollup (migration 0012).
        Index("ix_minersample_miner_id_id", "miner_id", "id"),
    )

    id: int | None = Field(default=None, sa_type=BigIntPK, primary_key=True)
    miner_id: str = Field(max_length=128)
    recorded_at: datetime = Field(sa_type=UTCDateTime)
    pool: str | None = Field(default=None, max_length=200)
    profile: str | None = Field(default=None, max_length=200)
    hashrate_1m: float | None = None
    hashrate_15m: float | None = None
    shares_accepted: int = 0
    shares_rejected: int = 0
    shares_stale: int = 0
    latency_ms: float | None = None
    temperature_c: float | None = None
    last_share_difficulty: float | None = None
    last_share_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # SPEC §14; NULL in samples of miners (and of the earlier service) that report neither.
    power_w: float | None = None
    fan_rpm: int | None = None


class Miner(SQLModel, table=True):
    """Kept by ingest so "latest per miner" is a primary-key join, not a scan of samples."""

    __tablename__ = "miner"

    miner_id: str = Field(primary_key=True, max_length=128)
    first_seen_at: datetime = Field(sa_type=UTCDateTime)
    last_recorded_at: datetime = Field(sa_type=UTCDateTime)
    last_sample_id: int | None = Field(default=None, sa_type=BigIntPK)
    # Set by an admin (SPEC §14); the hashrate rule compares against expected_hashrate
    # when it is set, else against the miner's own median.
    expected_hashrate: float | None = None
    name: str | None = Field(default=None, max_length=200)
    location: str | None = Field(default=None, max_length=200)


# API schemas. The compatible miner endpoints speak snake_case (SPEC Appendix A), so these
# derive from plain BaseModel; only the newer miner list and series use camelCase (ApiModel).

MAX_SHARE_COUNT = 2_147_483_647  # the share columns are 32-bit INTEGER on PostgreSQL
# Numbers may come as text, as the earlier service read them (appendix A: "100" is a share
# count, 1.5 is not); each pattern is the text form the schema promises, within the bounds.
_FRACTION = r"(?:\.\d{1,6})?"
ShareCount = Annotated[
    int, Strict(), PydanticField(ge=0, le=MAX_SHARE_COUNT), NumberAsText(r"^\d{1,9}$")
]
NonNegative = Annotated[
    float, Strict(), PydanticField(ge=0), NumberAsText(rf"^\d{{1,15}}{_FRACTION}$")
]
# Bounds past which a reading is a unit or firmware bug, not a measurement. They also keep
# the per-minute rollup's sums finite (PostgreSQL refuses a float overflow).
MAX_HASHRATE = 1e21  # H/s: a zettahash, far beyond any single miner or even pool
MIN_TEMPERATURE_C, MAX_TEMPERATURE_C = -50.0, 150.0
MAX_LATENCY_MS = 86_400_000.0  # a day
MAX_POWER_W = 1_000_000.0  # a megawatt: a whole container of rigs, never one device
MAX_FAN_RPM = 100_000  # server fans spin at up to ~30,000 rpm
Hashrate = Annotated[
    float,
    Strict(),
    PydanticField(ge=0, le=MAX_HASHRATE),
    NumberAsText(rf"^\d{{1,15}}{_FRACTION}$"),
]
Temperature = Annotated[
    float,
    Strict(),
    PydanticField(ge=MIN_TEMPERATURE_C, le=MAX_TEMPERATURE_C),
    NumberAsText(rf"^(?:-?[1-4]?\d|1[0-4]\d){_FRACTION}$"),  # -49.99... to 149.99...
]
Latency = Annotated[
    float,
    Strict(),
    PydanticField(ge=0, le=MAX_LATENCY_MS),
    NumberAsText(rf"^\d{{1,7}}{_FRACTION}$"),
]
Power = Annotated[
    float,
    Strict(),
    PydanticField(ge=0, le=MAX_POWER_W, description="Watts drawn by the miner."),
    # 0 to 999,999.999999, or 1,000,000 itself: the text form stays within the bound.
    NumberAsText(rf"^(?:\d{{1,6}}{_FRACTION}|1000000(?:\.0{{1,6}})?)$"),
]
FanSpeed = Annotated[
    int,
    Strict(),
    PydanticField(ge=0, le=MAX_FAN_RPM, description="Fan speed in rpm (the fastest fan)."),
    NumberAsText(r"^(?:\d{1,5}|100000)$"),  # 0 to 100,000
]
_FUTURE_RULE = "At most PRISM_MAX_CLOCK_SKEW_SECONDS ahead of the server's clock."
TileIntent = Literal["good", "warning", "critical"]
MinerState = Literal["ok", "warning", "critical", "stale"]


class SampleMeasurements(BaseModel):
    """What a miner reports, shared by the REST sample and the miner bridge's sample."""

    # NaN and Infinity would poison every average and chart: refuse them at the door.
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    pool: SafeName | None = None
    profile: SafeName | None = None
    hashrate_1m: Hashrate | None = None
    hashrate_15m: Hashrate | None = None
    shares_accepted: ShareCount = 0
    shares_rejected: ShareCount = 0
    shares_stale: ShareCount | None = PydanticField(
        default=None, description="Missing or null: the value of shares_rejected."
    )
    latency_ms: Latency | None = None
    temperature_c: Temperature | None = None
    last_share_difficulty: NonNegative | None = None
    last_share_at: ApiDateTime | None = PydanticField(default=None, description=_FUTURE_RULE)
    power_w: Power | None = None
    fan_rpm: FanSpeed | None = None

    def reported_times(self, prefix: str = "") -> list[tuple[str, datetime | None]]:
        """(field path, value) of each reported time, for the clock-skew check."""
        return [(f"{prefix}last_share_at", self.last_share_at)]

    def columns(self, miner_id: str, recorded_at: datetime) -> dict[str, Any]:
        """The minersample column values of this sample (the input of record_samples)."""
        return {
            "miner_id": miner_id,
            "recorded_at": recorded_at,
            "pool": self.pool,
            "profile": self.profile,
            "hashrate_1m": self.hashrate_1m,
            "hashrate_15m": self.hashrate_15m,
            "shares_accepted": self.shares_accepted,
            "shares_rejected": self.shares_rejected,
            "shares_stale": (
                self.shares_rejected if self.shares_stale is None else self.shares_stale
            ),
            "latency_ms": self.latency_ms,
            "temperature_c": self.temperature_c,
            "last_share_difficulty": self.last_share_difficulty,
            "last_share_at": self.last_share_at,
            "power_w": self.power_w,
            "fan_rpm": self.fan_rpm,
        }


class MinerSampleIn(SampleMeasurements):
    """One sample as POSTed to /api/miners/sample; unknown keys are ignored."""

    miner_id: SafeId
    timestamp: ApiDateTime | None = PydanticField(
        default=None,
        description=f"When the sample was taken; missing: the time it arrives. {_FUTURE_RULE}",
    )

    def reported_times(self, prefix: str = "") -> list[tuple[str, datetime | None]]:
        return [(f"{prefix}timestamp", self.timestamp), *super().reported_times(prefix)]

    def to_row(self, now: datetime) -> dict[str, Any]:
        return self.columns(self.miner_id, self.timestamp or now)


class MinerSampleBatchIn(BaseModel):
    samples: list[MinerSampleIn] = PydanticField(
        min_length=1,
        description="1 to PRISM_MAX_BATCH_SAMPLES (10,000 by default) samples; all are stored "
        "or none.",
    )


class BridgeSample(SampleMeasurements):
    """The miner bridge's sample: `miner` and `ts` name the miner and the time.

    The bridge also sends `shares_total` and `stale_rate`; they are ignored because the
    console derives them from the share counts itself.
    """

    miner: SafeId
    ts: ApiDateTime | None = PydanticField(default=None, description=_FUTURE_RULE)

    def reported_times(self, prefix: str = "") -> list[tuple[str, datetime | None]]:
        return [(f"{prefix}ts", self.ts), *super().reported_times(prefix)]

    def to_row(self, now: datetime) -> dict[str, Any]:
        return self.columns(self.miner, self.ts or now)


class BridgePayload(ApiModel):
    type: str | None = None
    sample: BridgeSample
    org_id: str | None = None
    agent_id: str | None = None


BRIDGE_TOPICS = ("miner.sample",)


class BridgeEventIn(BaseModel):
    """The envelope the deployed miner bridge posts to /events."""

    topic: Literal["miner.sample"]
    payload: BridgePayload

    @model_validator(mode="before")
    @classmethod
    def _known_topic(cls, data: Any) -> Any:
        # Checked first so an unknown topic is reported as such, not as a bad payload.
        if isinstance(data, dict) and "topic" in data and data["topic"] not in BRIDGE_TOPICS:
            raise PydanticCustomError(
                "unknown_topic",
                "topic: unknown topic {topic}; accepted topics: {accepted}",
                {"topic": repr(data["topic"]), "accepted": ", ".join(BRIDGE_TOPICS)},
            )
        return data


class IngestAccepted(BaseModel):
    status: Literal["accepted"] = "accepted"


class BatchAccepted(IngestAccepted):
    count: int


class MinerSampleOut(BaseModel):
    """A stored sample with its derived rates, exactly as earlier clients read it."""

    miner_id: str
    recorded_at: ApiDateTime
    pool: str | None
    profile: str | None
    hashrate_1m: float | None
    hashrate_15m: float | None
    effective_hashrate: float | None = PydanticField(
        description="(hashrate_1m, or hashrate_15m when that is missing or 0) * (1 - stale_rate)"
    )
    stale_rate: float = PydanticField(description="stale / (accepted + stale); 0 with no shares")
    shares_accepted: int
    shares_rejected: int
    shares_stale: int
    latency_ms: float | None
    temperature_c: float | None
    last_share_difficulty: float | None
    last_share_at: ApiDateTime | None


class LatestSamples(BaseModel):
    samples: list[MinerSampleOut]
    generated_at: ApiDateTime


class Tile(BaseModel):
    id: str
    label: str
    value: str
    helper: str | None
    intent: TileIntent | None


class MinerTiles(BaseModel):
    miner_id: str
    updated_at: ApiDateTime = PydanticField(description="When the sample shown was recorded.")
    tiles: list[Tile]


class MinerFields(ApiModel):
    """What an admin says of a miner (PUT /api/miners/{id}, SPEC §14): all three replaced."""

    # A misspelt key is refused rather than read as "left out", which would clear the field.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    expected_hashrate: Annotated[float, Strict(), PydanticField(gt=0, le=MAX_HASHRATE)] | None = (
        PydanticField(
            default=None,
            description="H/s the miner should deliver (its nameplate rate); null or left out: "
            "none, and the hashrate rule compares against its own median instead.",
        )
    )
    name: SafeName | None = PydanticField(default=None, description="Shown beside the id.")
    location: SafeName | None = PydanticField(default=None, description="Site, rack, shelf.")


class MinerPublic(ApiModel):
    miner_id: str
    name: str | None = None
    location: str | None = None
    expected_hashrate: float | None = PydanticField(
        default=None, description="H/s, set by an admin (PUT /api/miners/{id})."
    )
    first_seen_at: ApiDateTime
    last_seen_at: ApiDateTime
    latest: MinerSampleOut | None = PydanticField(
        description="The newest sample (snake_case keys, as /api/miners/latest); null once "
        "retention has pruned it."
    )
    state: MinerState = PydanticField(
        description="stale when no sample arrived for PRISM_AGENT_OFFLINE_AFTER seconds; "
        "otherwise the worst tile intent: critical, warning, else ok."
    )
    power_w: float | None = PydanticField(
        default=None, description="Watts of the newest sample; null when not reported."
    )
    fan_rpm: int | None = PydanticField(default=None, description="Fan rpm of the newest sample.")
    efficiency_j_per_th: float | None = PydanticField(
        default=None,
        alias="efficiencyJPerTH",  # SPEC §14's spelling; to_camel would write JPerTh
        description="Joules per terahash of the newest sample: power_w over the effective "
        "hashrate in TH/s; null without power or at 0 H/s.",
    )
    percent_of_expected: float | None = PydanticField(
        default=None,
        description="The newest effective hashrate as a percentage of expectedHashrate; null "
        "when no expected hashrate is set.",
    )


class MinerListItem(MinerPublic):
    """A miner of GET /api/miners: its state from the tiles, and its health (SPEC §11)."""

    health: HealthName = PydanticField(
        description="The evaluator's judgement: critical or warning (worst firing rule), "
        "pending, maintenance (an active silence without ruleId covers it) or ok."
    )


class MinerPage(ApiModel):
    items: list[MinerListItem]
    next_cursor: str | None = None


class MinerSeries(ApiModel):
    """Columnar chart data: series[name].min[i] belongs to time t[i] (uPlot's layout)."""

    miner_id: str
    since: ApiDateTime
    until: ApiDateTime
    bucket_seconds: int | None = PydanticField(
        description="Width of each bucket; null when the raw samples are returned."
    )
    points: int = PydanticField(description="Length of t and of every series list.")
    t: list[float] = PydanticField(
        description="Unix seconds: the bucket start, or the sample time for raw samples."
    )
    series: dict[str, SeriesStats] = PydanticField(
        description="Per metric (hashrate1m, hashrate15m, effectiveHashrate, temperatureC, "
        "sharesAccepted, sharesRejected, sharesStale, latencyMs, powerW, fanRpm, "
        "efficiencyJPerTH, percentOfExpected): min, max and avg per point. "
        "percentOfExpected is the effective hashrate over the miner's expectedHashrate "
        "(null throughout when none is set)."
    )
