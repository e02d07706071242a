"""The audit log (SPEC §12): auditevent rows and the chain row holding head and checkpoint.

Revision ID: 0008_audit
Revises: 0007_alerts
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_audit"
down_revision: str | None = "0007_alerts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
GENESIS_HASH = "0" * 64


def upgrade() -> None:
    op.create_table(
        "auditevent",
        # Assigned by the writer (head + 1) while it holds the chain row: no sequence.
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=True),
        sa.Column("scope", sa.String(16), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target_type", sa.String(64), nullable=True),
        sa.Column("target_id", sa.String(256), nullable=True),
        sa.Column("summary", sa.String(500), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_auditevent_at", "auditevent", ["at"])
    op.create_index("ix_auditevent_actor_id", "auditevent", ["actor", "id"])
    op.create_index("ix_auditevent_actor_token_id", "auditevent", ["actor_id", "id"])
    op.create_index("ix_auditevent_action_id", "auditevent", ["action", "id"])
    op.create_index("ix_auditevent_target_id", "auditevent", ["target_type", "target_id", "id"])
    chain = op.create_table(
        "auditchain",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("head_id", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("pruned_id", sa.BigInteger(), nullable=False),
        sa.Column("pruned_hash", sa.String(64), nullable=False),
        sa.Column("pruned_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(
        chain,
        [
            {
                "id": 1,
                "head_id": 0,
                "head_hash": GENESIS_HASH,
                "pruned_id": 0,
                "pruned_hash": GENESIS_HASH,
                "pruned_at": None,
            }
        ],
    )


def downgrade() -> None:
    op.drop_table("auditchain")
    op.drop_index("ix_auditevent_target_id", table_name="auditevent")
    op.drop_index("ix_auditevent_action_id", table_name="auditevent")
    op.drop_index("ix_auditevent_actor_token_id", table_name="auditevent")
    op.drop_index("ix_auditevent_actor_id", table_name="auditevent")
    op.drop_index("ix_auditevent_at", table_name="auditevent")
    op.drop_table("auditevent")
