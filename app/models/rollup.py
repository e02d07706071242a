"""Rollups of each miner's samples per minute and per ten minutes, for long chart windows.

One row per (miner, width, bucket) keeps, for every chart metric, the count of non-null
values and their min, max and sum, so any chart bucket made of whole rollup buckets has the
exact min and max and the exact average of the raw samples. Two widths, because reading is
proportional to the rows read: a day is 1,440 one-minute rows, thirty days are 4,320
ten-minute rows. Ingest stores only the samples; the fold job (app/miners/fold.py) adds
them to both widths behind it, and ROLLUP_WATERMARK records the id up to which it has
(migration 0012); migration 0004 backfilled them; retention prunes them with the samples.

A plain Table rather than a SQLModel class: 44 metric columns follow one pattern, nothing
reads the rows as objects, and the writers build their SQL from ROLLUP_METRICS.
"""

from typing import Any

from sqlalchemy import BigInteger, Column, Float, Integer, String, Table
from sqlmodel import SQLModel

# Bucket widths in seconds, finest first; each divides the next.
ROLLUP_WIDTHS = (60, 600)

ValueType = type[Float] | type[Integer]
# (column prefix, type of min/max): the chart series of /api/miners/{id}/series, in order.
ROLLUP_METRICS: tuple[tuple[str, ValueType], ...] = (
    ("hashrate_1m", Float),
    ("hashrate_15m", Float),
    ("effective_hashrate", Float),
    ("temperature_c", Float),
    ("shares_accepted", Integer),
    ("shares_rejected", Integer),
    ("shares_stale", Integer),
    ("latency_ms", Float),
    # SPEC §14 (migration 0010): power, fan speed and efficiency (J/TH, derived like
    # effective_hashrate: watts over the effective hashrate in TH/s).
    ("power_w", Float),
    ("fan_rpm", Integer),
    ("efficiency_j_per_th", Float),
)


def _metric_columns(prefix: str, value_type: ValueType) -> list[Column[Any]]:
    return [
        Column(f"{prefix}_count", Integer, nullable=False),
        Column(f"{prefix}_min", value_type, nullable=True),
        Column(f"{prefix}_max", value_type, nullable=True),
        # 0 when no value was seen, so merging is a plain addition.
        Column(f"{prefix}_sum", Float, nullable=False),
    ]


MINER_SAMPLE_ROLLUP = Table(
    "minersamplerollup",
    SQLModel.metadata,
    Column("miner_id", String(128), primary_key=True),
    Column("width", Integer, primary_key=True),
    # Unix seconds of the bucket's start (a multiple of width): bucketing stays integer math.
    Column("bucket_start", BigInteger, primary_key=True),
    *[column for prefix, kind in ROLLUP_METRICS for column in _metric_columns(prefix, kind)],
    # Rows are read in key order (one miner, one width, a time range): store them clustered
    # on SQLite.
    sqlite_with_rowid=False,
)


# How far each rolled-up table has been folded (migration 0012): one row per source table,
# `folded_through` the id up to which (inclusive) its rows are in the rollup, and none
# after it. Moved by the fold in the same transaction as the rollup rows it adds.
# The watermark's row of minersample (the only rolled-up table).
WATERMARK_SOURCE = "minersample"
ROLLUP_WATERMARK = Table(
    "rollupwatermark",
    SQLModel.metadata,
    Column("source", String(64), primary_key=True),
    Column("folded_through", BigInteger, nullable=False),
)
