"""Miner telemetry samples, and one row per miner pointing at its newest sample."""

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from app.models.types import BigIntPK, UTCDateTime


class MinerSample(SQLModel, table=True):
    __tablename__ = "minersample"
    __table_args__ = (Index("ix_minersample_miner_id_recorded_at", "miner_id", "recorded_at"),)

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


class Miner(SQLModel, table=True):
    """Kept by ingest so "latest per miner" is a primary-key join, not a scan of samples."""

    __tablename__ = "miner"

    miner_id: str = Field(primary_key=True, max_length=128)
    first_seen_at: datetime = Field(sa_type=UTCDateTime)
    last_recorded_at: datetime = Field(sa_type=UTCDateTime)
    last_sample_id: int | None = Field(default=None, sa_type=BigIntPK)
