"""Baseline: the six tables of the earlier Prism Console API.

A database made by the earlier service (create_all, no version table) is adopted in place:
tables that exist are kept with every row, missing tables are created and missing columns
added. A fresh database gets the six tables here, and everything else from later revisions.

Revision ID: 0001_baseline
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0001_baseline"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def _tables() -> dict[str, list[sa.Column]]:
    """Fresh Column objects each call: a Column belongs to one table only."""
    return {
        "agent": [
            sa.Column("id", sa.String(128), primary_key=True),
            sa.Column("name", sa.String(200), nullable=False, server_default=""),
            sa.Column("domain", sa.String(100), nullable=False, server_default=""),
            sa.Column("status", sa.String(16), nullable=False, server_default="online"),
            sa.Column("memory_used_mb", sa.Float(), nullable=False, server_default="0"),
            sa.Column("last_seen_at", TS, nullable=True),
            sa.Column("version", sa.String(64), nullable=False, server_default=""),
        ],
        "agentevent": [
            sa.Column("id", sa.String(128), primary_key=True),
            sa.Column(
                "agent_id",
                sa.String(128),
                sa.ForeignKey("agent.id", ondelete="CASCADE"),
                nullable=False,
            ),
            sa.Column("kind", sa.String(16), nullable=False, server_default="heartbeat"),
            sa.Column("at", TS, nullable=False),
            sa.Column("message", sa.String(), nullable=False, server_default=""),
        ],
        "runbook": [
            sa.Column("id", sa.String(128), primary_key=True),
            sa.Column("title", sa.String(200), nullable=False, server_default=""),
            sa.Column("description", sa.String(), nullable=False, server_default=""),
            sa.Column("tags", sa.Text(), nullable=False, server_default="[]"),
            sa.Column("inputs_schema", sa.JSON(), nullable=False, server_default="{}"),
            sa.Column("linked_workflow", sa.String(200), nullable=False, server_default=""),
        ],
        "metric": [
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("metric_id", sa.String(128), nullable=False),
            sa.Column("title", sa.String(200), nullable=False, server_default=""),
            sa.Column("value", sa.String(200), nullable=False, server_default=""),
            sa.Column("caption", sa.String(200), nullable=False, server_default=""),
            sa.Column("icon", sa.String(64), nullable=False, server_default=""),
            sa.Column("status", sa.String(16), nullable=False, server_default="good"),
        ],
        "minersample": [
            sa.Column(
                "id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                primary_key=True,
                autoincrement=True,
            ),
            sa.Column("miner_id", sa.String(128), nullable=False),
            sa.Column("recorded_at", TS, nullable=False),
            sa.Column("pool", sa.String(200), nullable=True),
            sa.Column("profile", sa.String(200), nullable=True),
            sa.Column("hashrate_1m", sa.Float(), nullable=True),
            sa.Column("hashrate_15m", sa.Float(), nullable=True),
            sa.Column("shares_accepted", sa.Integer(), nullable=False, server_default="0"),
            sa.Column("shares_rejected", sa.Integer(), nullable=False, server_default="0"),
            sa.Column("shares_stale", sa.Integer(), nullable=False, server_default="0"),
            sa.Column("latency_ms", sa.Float(), nullable=True),
            sa.Column("temperature_c", sa.Float(), nullable=True),
            sa.Column("last_share_difficulty", sa.Float(), nullable=True),
            sa.Column("last_share_at", TS, nullable=True),
        ],
        "setting": [
            sa.Column("key", sa.String(128), primary_key=True),
            sa.Column("value", sa.String(), nullable=False, server_default=""),
            sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
        ],
    }


def upgrade() -> None:
    offline = context.is_offline_mode()
    inspector = None if offline else sa.inspect(op.get_bind())
    for name, columns in _tables().items():
        if inspector is None or not inspector.has_table(name):
            op.create_table(name, *columns)
            continue
        # Adoption: keep the table and its rows, add only the columns it lacks.
        present = {column["name"] for column in inspector.get_columns(name)}
        missing = [column for column in columns if column.name not in present]
        if missing:
            with op.batch_alter_table(name) as batch:
                for column in missing:
                    column.foreign_keys.clear()
                    batch.add_column(column)


def downgrade() -> None:
    for name in reversed(list(_tables())):
        op.drop_table(name)
