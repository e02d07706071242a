"""Rollups of miner samples per minute and per ten minutes, so long chart windows read
rollup rows, not samples.

Backfilled here from the samples already stored; from then on ingest keeps them current.

Revision ID: 0004_miner_sample_rollup
Revises: 0003_agent_memory_samples
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_miner_sample_rollup"
down_revision: str | None = "0003_agent_memory_samples"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the rollup's widths and metrics (app/models/rollup.py) and of the
# effective-hashrate rule (app/miners/derived.py) as they were at this revision.
WIDTHS = (60, 600)
METRICS = (
    ("hashrate_1m", sa.Float),
    ("hashrate_15m", sa.Float),
    ("effective_hashrate", sa.Float),
    ("temperature_c", sa.Float),
    ("shares_accepted", sa.Integer),
    ("shares_rejected", sa.Integer),
    ("shares_stale", sa.Integer),
    ("latency_ms", sa.Float),
)
EFFECTIVE_HASHRATE = (
    "(CASE WHEN hashrate_1m IS NOT NULL AND hashrate_1m <> 0 THEN hashrate_1m"
    " ELSE hashrate_15m END)"
    " * (1 - CASE WHEN CAST(shares_accepted AS FLOAT) + CAST(shares_stale AS FLOAT) > 0"
    " THEN CAST(shares_stale AS FLOAT)"
    " / (CAST(shares_accepted AS FLOAT) + CAST(shares_stale AS FLOAT)) ELSE 0 END)"
)
# Whole unix seconds of recorded_at, truncated (SQLite would round the fraction to a
# millisecond first: 10:00:59.9999 must stay in minute 10:00, as ingest files it).
EPOCH_SECONDS = {
    "sqlite": "CAST(strftime('%s', substr(recorded_at, 1, 19)) AS INTEGER)",
    "postgresql": "CAST(floor(date_part('epoch', recorded_at)) AS BIGINT)",
}


def upgrade() -> None:
    metric_columns = []
    for name, value_type in METRICS:
        metric_columns += [
            sa.Column(f"{name}_count", sa.Integer(), nullable=False),
            sa.Column(f"{name}_min", value_type(), nullable=True),
            sa.Column(f"{name}_max", value_type(), nullable=True),
            sa.Column(f"{name}_sum", sa.Float(), nullable=False),
        ]
    op.create_table(
        "minersamplerollup",
        sa.Column("miner_id", sa.String(128), primary_key=True),
        sa.Column("width", sa.Integer(), primary_key=True),
        sa.Column("bucket_start", sa.BigInteger(), primary_key=True),
        *metric_columns,
        sqlite_with_rowid=False,
    )
    seconds = EPOCH_SECONDS.get(op.get_context().dialect.name, EPOCH_SECONDS["postgresql"])
    names, aggregates = [], []
    for name, _ in METRICS:
        value = EFFECTIVE_HASHRATE if name == "effective_hashrate" else name
        names += [f"{name}_count", f"{name}_min", f"{name}_max", f"{name}_sum"]
        aggregates += [
            f"COUNT({value})",
            f"MIN({value})",
            f"MAX({value})",
            f"COALESCE(SUM(CAST({value} AS FLOAT)), 0)",
        ]
    for width in WIDTHS:
        # Floor to the width, also before 1970 (SQLite's % keeps the dividend's sign).
        start = f"({seconds} - ((({seconds}) % {width}) + {width}) % {width})"
        op.execute(
            f"INSERT INTO minersamplerollup (miner_id, width, bucket_start, {', '.join(names)}) "  # noqa: S608
            f"SELECT miner_id, {width}, {start} AS bucket, {', '.join(aggregates)} "
            f"FROM minersample GROUP BY miner_id, {start}"
        )


def downgrade() -> None:
    op.drop_table("minersamplerollup")
