"""Browser sessions kept server-side, so signing out (or revoking a token) ends them.

Cookies signed before this revision name no session: those browsers sign in again.

Revision ID: 0005_browser_sessions
Revises: 0004_miner_sample_rollup
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_browser_sessions"
down_revision: str | None = "0004_miner_sample_rollup"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "browsersession",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("token_id", sa.String(32), nullable=False),
        sa.Column("fingerprint", sa.String(32), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
    )
    op.create_index("ix_browsersession_token_id", "browsersession", ["token_id"])


def downgrade() -> None:
    op.drop_index("ix_browsersession_token_id", table_name="browsersession")
    op.drop_table("browsersession")
