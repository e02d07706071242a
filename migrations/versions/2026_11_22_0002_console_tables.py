"""Indexes the earlier service lacked, plus tokens, runbook runs, status history, miners.

Revision ID: 0002_console_tables
Revises: 0001_baseline
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_console_tables"
down_revision: str | None = "0001_baseline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_index("ix_agentevent_agent_id_at", "agentevent", ["agent_id", "at"])
    op.create_index("ix_agentevent_at", "agentevent", ["at"])
    op.create_index(
        "ix_minersample_miner_id_recorded_at", "minersample", ["miner_id", "recorded_at"]
    )
    op.create_index("ix_metric_metric_id", "metric", ["metric_id"], unique=True)

    op.create_table(
        "apitoken",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_used_at", TS, nullable=True),
        sa.Column("revoked_at", TS, nullable=True),
    )
    op.create_index("ix_apitoken_token_hash", "apitoken", ["token_hash"], unique=True)

    op.create_table(
        "runbookrun",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "runbook_id",
            sa.String(128),
            sa.ForeignKey("runbook.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("input", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("workflow_name", sa.String(200), nullable=False),
        sa.Column("gateway_run_id", sa.String(200), nullable=True),
        sa.Column("gateway_status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("request_id", sa.String(200), nullable=True),
        sa.Column("requested_by", sa.String(200), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("runbook_id", "idempotency_key", name="uq_runbookrun_idempotency"),
    )
    op.create_index(
        "ix_runbookrun_runbook_id_created_at", "runbookrun", ["runbook_id", "created_at"]
    )

    op.create_table(
        "agentstatuschange",
        sa.Column("id", BIGINT_PK, primary_key=True, autoincrement=True),
        sa.Column(
            "agent_id",
            sa.String(128),
            sa.ForeignKey("agent.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("at", TS, nullable=False),
    )
    op.create_index("ix_agentstatuschange_agent_id_at", "agentstatuschange", ["agent_id", "at"])

    op.create_table(
        "miner",
        sa.Column("miner_id", sa.String(128), primary_key=True),
        sa.Column("first_seen_at", TS, nullable=False),
        sa.Column("last_recorded_at", TS, nullable=False),
        sa.Column("last_sample_id", BIGINT_PK, nullable=True),
    )
    # Adopted databases already hold samples: point each miner at its newest one.
    op.execute(
        """
        INSERT INTO miner (miner_id, first_seen_at, last_recorded_at, last_sample_id)
        SELECT s.miner_id, agg.first_at, agg.last_at,
               (SELECT MAX(x.id) FROM minersample x
                 WHERE x.miner_id = s.miner_id AND x.recorded_at = agg.last_at)
          FROM (SELECT DISTINCT miner_id FROM minersample) s
          JOIN (SELECT miner_id, MIN(recorded_at) AS first_at, MAX(recorded_at) AS last_at
                  FROM minersample GROUP BY miner_id) agg ON agg.miner_id = s.miner_id
        """
    )


def downgrade() -> None:
    op.drop_table("miner")
    op.drop_index("ix_agentstatuschange_agent_id_at", table_name="agentstatuschange")
    op.drop_table("agentstatuschange")
    op.drop_index("ix_runbookrun_runbook_id_created_at", table_name="runbookrun")
    op.drop_table("runbookrun")
    op.drop_index("ix_apitoken_token_hash", table_name="apitoken")
    op.drop_table("apitoken")
    op.drop_index("ix_metric_metric_id", table_name="metric")
    op.drop_index("ix_minersample_miner_id_recorded_at", table_name="minersample")
    op.drop_index("ix_agentevent_at", table_name="agentevent")
    op.drop_index("ix_agentevent_agent_id_at", table_name="agentevent")
