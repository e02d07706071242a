"""The rollup folded behind ingest: rollupwatermark, and minersample indexed on (miner_id, id).

Ingest stops writing minersamplerollup in the samples' transaction; a background job folds
the samples past a watermark into it (app/miners/fold.py). Until this revision ingest kept
the rollup current itself, and migration 0004 backfilled it, so every sample stored now is
already folded: the watermark starts at the largest id. The (miner_id, id) index makes a
miner's unfolded samples (id past the watermark), which a chart merges with the rollup, one
index range.

Revision ID: 0012_rollup_watermark
Revises: 0011_status_change_index
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_rollup_watermark"
down_revision: str | None = "0011_status_change_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rollupwatermark",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("folded_through", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("source"),
    )
    op.execute(
        "INSERT INTO rollupwatermark (source, folded_through) "
        "SELECT 'minersample', COALESCE(MAX(id), 0) FROM minersample"
    )
    op.create_index("ix_minersample_miner_id_id", "minersample", ["miner_id", "id"])


def downgrade() -> None:
    # Back to ingest writing the rollup itself. Samples past the watermark (the last few
    # seconds' worth while the service ran) then stay out of the rollup: charts over
    # them read the samples only at the window's edges.
    op.drop_index("ix_minersample_miner_id_id", table_name="minersample")
    op.drop_table("rollupwatermark")
