"""agentstatuschange indexed on (agent_id, at, id), replacing (agent_id, at).

"The status an agent had when a window began" is its newest change before the window,
ties broken by id (availability, SPEC §13): with the id in the index that is one step down
the index per agent instead of a sort of its changes at that moment. Measured for the
fleet list of 10,000 agents over 90 days on PostgreSQL: 194 ms before, 178 ms after. The
new index serves every (agent_id, at) lookup the old one did.

Revision ID: 0011_status_change_index
Revises: 0010_miner_power
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011_status_change_index"
down_revision: str | None = "0010_miner_power"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_agentstatuschange_agent_id_at_id", "agentstatuschange", ["agent_id", "at", "id"]
    )
    op.drop_index("ix_agentstatuschange_agent_id_at", table_name="agentstatuschange")


def downgrade() -> None:
    op.create_index("ix_agentstatuschange_agent_id_at", "agentstatuschange", ["agent_id", "at"])
    op.drop_index("ix_agentstatuschange_agent_id_at_id", table_name="agentstatuschange")
