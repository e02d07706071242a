"""Miner power and fans (SPEC §14): power_w and fan_rpm on samples, and the rollup's
aggregates of power, fan speed and efficiency (J/TH).

Earlier samples reported neither, so there is nothing to backfill: the new sample columns
are NULL and the new rollup aggregates start empty (count 0, sum 0, as the rollup writes a
bucket without values). On PostgreSQL the tables are partitioned (0009): a column added to
the parent is added to every partition.

Revision ID: 0010_miner_power
Revises: 0009_partition_by_day
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_miner_power"
down_revision: str | None = "0009_partition_by_day"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of the metrics this revision adds to app/models/rollup.py.
METRICS = (
    ("power_w", sa.Float),
    ("fan_rpm", sa.Integer),
    ("efficiency_j_per_th", sa.Float),
)


def _rollup_columns() -> list[sa.Column[object]]:
    columns: list[sa.Column[object]] = []
    for name, value_type in METRICS:
        columns += [
            sa.Column(f"{name}_count", sa.Integer(), nullable=False, server_default="0"),
            sa.Column(f"{name}_min", value_type(), nullable=True),
            sa.Column(f"{name}_max", value_type(), nullable=True),
            sa.Column(f"{name}_sum", sa.Float(), nullable=False, server_default="0"),
        ]
    return columns


def upgrade() -> None:
    # Plain ADD COLUMN on both engines: SQLite adds a column in place (no table copy, which
    # matters for a samples table of millions of rows), WITHOUT ROWID tables included.
    op.add_column("minersample", sa.Column("power_w", sa.Float(), nullable=True))
    op.add_column("minersample", sa.Column("fan_rpm", sa.Integer(), nullable=True))
    for column in _rollup_columns():
        op.add_column("minersamplerollup", column)


def downgrade() -> None:
    # SQLite drops a column in place since 3.35, as PostgreSQL does: no table copy.
    for column in reversed(_rollup_columns()):
        op.drop_column("minersamplerollup", column.name)
    op.drop_column("minersample", "fan_rpm")
    op.drop_column("minersample", "power_w")
