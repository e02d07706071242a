"""Find a runbook's run by the gateway's run id, which execute answers again.

Revision ID: 0006_runbookrun_gateway_run_id
Revises: 0005_browser_sessions
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006_runbookrun_gateway_run_id"
down_revision: str | None = "0005_browser_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_runbookrun_runbook_id_gateway_run_id",
        "runbookrun",
        ["runbook_id", "gateway_run_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_runbookrun_runbook_id_gateway_run_id", table_name="runbookrun")
