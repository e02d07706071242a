"""Memory reported with each heartbeat, for the agent page's memory chart.

Revision ID: 0003_agent_memory_samples
Revises: 0002_console_tables
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_agent_memory_samples"
down_revision: str | None = "0002_console_tables"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agentmemorysample",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column(
            "agent_id",
            sa.String(128),
            sa.ForeignKey("agent.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("memory_used_mb", sa.Float(), nullable=False),
    )
    op.create_index(
        "ix_agentmemorysample_agent_id_recorded_at",
        "agentmemorysample",
        ["agent_id", "recorded_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_agentmemorysample_agent_id_recorded_at", table_name="agentmemorysample")
    op.drop_table("agentmemorysample")
