"""Health and alerts (SPEC §11): rules, states, incidents, silences, channels, the outbox;
and the miner fields an admin sets (expected hashrate, name, location).

Revision ID: 0007_alerts
Revises: 0006_runbookrun_gateway_run_id
Create Date: 2026-12-03
"""

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Dialect

revision: str = "0007_alerts"
down_revision: str | None = "0006_runbookrun_gateway_run_id"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
# 64-bit ids on PostgreSQL; SQLite only auto-increments an INTEGER PRIMARY KEY.
BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "alertrule",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column("for_seconds", sa.Integer(), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("repeat_minutes", sa.Integer(), nullable=False),
        sa.Column("runbook_id", sa.String(128), nullable=True),
        sa.Column("runbook_input", sa.JSON(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "channel",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("url", sa.String(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("last_sent_at", TS, nullable=True),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "incident",
        sa.Column("id", BIGINT_ID, nullable=False),
        sa.Column("rule_id", sa.String(128), nullable=False),
        sa.Column("rule_name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("subject_type", sa.String(8), nullable=False),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("resolved_at", TS, nullable=True),
        sa.Column("acknowledged_at", TS, nullable=True),
        sa.Column("acknowledged_by", sa.String(200), nullable=True),
        sa.Column("silenced", sa.Boolean(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("last_value", sa.Float(), nullable=True),
        sa.Column("runbook_id", sa.String(128), nullable=True),
        sa.Column("last_notified_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.create_index("ix_incident_resolved_at", ["resolved_at"], unique=False)
        batch_op.create_index("ix_incident_rule_id_subject", ["rule_id", "subject"], unique=False)
        batch_op.create_index("ix_incident_started_at", ["started_at"], unique=False)
        batch_op.create_index("ix_incident_subject", ["subject_type", "subject"], unique=False)

    op.create_table(
        "silence",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("matchers", sa.JSON(), nullable=False),
        sa.Column("starts_at", TS, nullable=False),
        sa.Column("ends_at", TS, nullable=False),
        sa.Column("recurrence", sa.JSON(), nullable=True),
        sa.Column("comment", sa.String(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
        sa.Column("ended_by", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("silence", schema=None) as batch_op:
        batch_op.create_index("ix_silence_ends_at", ["ends_at"], unique=False)

    op.create_table(
        "alertstate",
        sa.Column("id", BIGINT_ID, nullable=False),
        sa.Column("rule_id", sa.String(length=128), nullable=False),
        sa.Column("subject_type", sa.String(8), nullable=False),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("since", TS, nullable=False),
        sa.Column("fired_at", TS, nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("silenced", sa.Boolean(), nullable=False),
        sa.Column("incident_id", BIGINT_ID, nullable=True),
        sa.Column("evaluated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["rule_id"], ["alertrule.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("rule_id", "subject_type", "subject", name="uq_alertstate_subject"),
    )
    with op.batch_alter_table("alertstate", schema=None) as batch_op:
        batch_op.create_index("ix_alertstate_subject", ["subject_type", "subject"], unique=False)

    op.create_table(
        "incidentevent",
        sa.Column("id", BIGINT_ID, nullable=False),
        sa.Column("incident_id", BIGINT_ID, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incident.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("incidentevent", schema=None) as batch_op:
        batch_op.create_index(
            "ix_incidentevent_incident_id_at", ["incident_id", "at"], unique=False
        )

    op.create_table(
        "notification",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("channel_id", sa.String(length=128), nullable=False),
        sa.Column("rule_id", sa.String(128), nullable=True),
        sa.Column("incident_ids", sa.JSON(), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("claimed_until", TS, nullable=True),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("message", sa.String(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("sent_at", TS, nullable=True),
        sa.ForeignKeyConstraint(["channel_id"], ["channel.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notification_channel_id_created_at", ["channel_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_notification_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_notification_due", ["status", "next_attempt_at"], unique=False)

    with op.batch_alter_table("miner", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expected_hashrate", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("name", sa.String(200), nullable=True))
        batch_op.add_column(sa.Column("location", sa.String(200), nullable=True))

    _insert_default_rules()


# The default rules (SPEC §11), written out here as they were when this revision was made:
# app/alerts/defaults.py holds the same values (a test compares them), and the thresholds
# are the miner tiles'. (id, name, kind, severity, params); no target, channel or delay.
DEFAULT_RULES = (
    ("agent-offline", "Agent offline", "agent_offline", "critical", {}),
    ("agent-degraded", "Agent degraded", "agent_status", "warning", {"statuses": ["degraded"]}),
    ("miner-silent", "Miner silent", "miner_silent", "critical", {}),
    (
        "miner-hashrate-low",
        "Miner hashrate zero or low",
        "miner_hashrate",
        "critical",
        {"belowPercent": 80, "baselineHours": 24},
    ),
    (
        "miner-temperature-critical",
        "Miner temperature ≥ 85 °C",
        "miner_temperature",
        "critical",
        {"aboveC": 85.0},
    ),
    (
        "miner-temperature-warning",
        "Miner temperature ≥ 80 °C",
        "miner_temperature",
        "warning",
        {"aboveC": 80.0},
    ),
    (
        "miner-stale-critical",
        "Miner stale rate > 5 %",
        "miner_stale_rate",
        "critical",
        {"abovePercent": 5.0, "windowSeconds": 900},
    ),
    (
        "miner-stale-warning",
        "Miner stale rate > 2 %",
        "miner_stale_rate",
        "warning",
        {"abovePercent": 2.0, "windowSeconds": 900},
    ),
)


class _JSONData(sa.types.TypeDecorator[Any]):
    """JSON that `prism db upgrade --sql` can also print as a literal."""

    impl = sa.JSON
    cache_ok = True

    def process_literal_param(self, value: Any, dialect: Dialect) -> str:
        return "'" + json.dumps(value).replace("'", "''") + "'"


def _insert_default_rules() -> None:
    rules = sa.table(
        "alertrule",
        sa.column("id", sa.String),
        sa.column("name", sa.String),
        sa.column("kind", sa.String),
        sa.column("params", _JSONData),
        sa.column("target", _JSONData),
        sa.column("for_seconds", sa.Integer),
        sa.column("severity", sa.String),
        sa.column("channels", _JSONData),
        sa.column("repeat_minutes", sa.Integer),
        sa.column("runbook_id", sa.String),
        sa.column("runbook_input", _JSONData),
        sa.column("enabled", sa.Boolean),
        sa.column("created_at", TS),
        sa.column("updated_at", TS),
    )
    now = datetime.now(UTC)
    if op.get_context().dialect.name == "sqlite":
        now = now.replace(tzinfo=None)  # the console stores naive UTC text on SQLite
    op.bulk_insert(
        rules,
        [
            {
                "id": rule_id,
                "name": name,
                "kind": kind,
                "params": params,
                "target": {},
                "for_seconds": 0,
                "severity": severity,
                "channels": [],
                "repeat_minutes": 0,
                "runbook_id": None,
                "runbook_input": None,
                "enabled": True,
                "created_at": now,
                "updated_at": now,
            }
            for rule_id, name, kind, severity, params in DEFAULT_RULES
        ],
    )


def downgrade() -> None:
    with op.batch_alter_table("miner", schema=None) as batch_op:
        batch_op.drop_column("location")
        batch_op.drop_column("name")
        batch_op.drop_column("expected_hashrate")

    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_index("ix_notification_due")
        batch_op.drop_index("ix_notification_created_at")
        batch_op.drop_index("ix_notification_channel_id_created_at")

    op.drop_table("notification")
    with op.batch_alter_table("incidentevent", schema=None) as batch_op:
        batch_op.drop_index("ix_incidentevent_incident_id_at")

    op.drop_table("incidentevent")
    with op.batch_alter_table("alertstate", schema=None) as batch_op:
        batch_op.drop_index("ix_alertstate_subject")

    op.drop_table("alertstate")
    with op.batch_alter_table("silence", schema=None) as batch_op:
        batch_op.drop_index("ix_silence_ends_at")

    op.drop_table("silence")
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.drop_index("ix_incident_subject")
        batch_op.drop_index("ix_incident_started_at")
        batch_op.drop_index("ix_incident_rule_id_subject")
        batch_op.drop_index("ix_incident_resolved_at")

    op.drop_table("incident")
    op.drop_table("channel")
    op.drop_table("alertrule")
