"""Health and alerts (SPEC §11): rules, their per-subject states, incidents, silences,
channels and the notification outbox.

Only tables here; the API schemas live with the alerts feature (app/alerts/schemas.py).
JSON columns hold the small structured values of the spec (params, targets, matchers,
recurrence, channel and incident id lists) exactly as the API speaks them.
"""

from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import JSON, Column, ForeignKey, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.types import BigIntPK, UTCDateTime

RuleKind = Literal[
    "agent_offline",
    "agent_status",
    "agent_errors",
    "miner_silent",
    "miner_hashrate",
    "miner_temperature",
    "miner_stale_rate",
    "fleet_drift",
]
RULE_KINDS: tuple[str, ...] = get_args(RuleKind)
Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[str, ...] = get_args(Severity)
SubjectType = Literal["agent", "miner"]
SUBJECT_TYPES: tuple[str, ...] = get_args(SubjectType)
# The health of an agent or miner (app/alerts/health.py judges it), in the order shown.
HealthName = Literal["critical", "warning", "pending", "unknown", "maintenance", "ok"]
HEALTH_NAMES: tuple[str, ...] = get_args(HealthName)
# A stored state is never "ok": a subject with no row for a rule is ok for that rule.
AlertStateName = Literal["pending", "firing"]
ALERT_STATES: tuple[str, ...] = get_args(AlertStateName)
IncidentEventType = Literal[
    "fired",
    "notified",
    "notify_failed",
    "reminder",
    "acknowledged",
    "silenced",
    "runbook_run",
    "resolved",
]
INCIDENT_EVENT_TYPES: tuple[str, ...] = get_args(IncidentEventType)
NotificationEvent = Literal["firing", "resolved", "acknowledged", "reminder", "test"]
NOTIFICATION_EVENTS: tuple[str, ...] = get_args(NotificationEvent)
NotificationStatus = Literal["pending", "sent", "failed"]
NOTIFICATION_STATUSES: tuple[str, ...] = get_args(NotificationStatus)


class AlertRule(SQLModel, table=True):
    __tablename__ = "alertrule"

    id: str = Field(primary_key=True, max_length=128)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=32)
    params: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    target: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    for_seconds: int = 0
    severity: str = Field(max_length=16)
    channels: list[str] = Field(default_factory=list, sa_type=JSON)
    repeat_minutes: int = 0
    runbook_id: str | None = Field(default=None, max_length=128)
    runbook_input: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    enabled: bool = True
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class AlertState(SQLModel, table=True):
    """One row per rule x subject whose condition holds (pending or firing)."""

    __tablename__ = "alertstate"
    __table_args__ = (
        UniqueConstraint("rule_id", "subject_type", "subject", name="uq_alertstate_subject"),
        Index("ix_alertstate_subject", "subject_type", "subject"),
    )

    id: int | None = Field(default=None, sa_type=BigIntPK, primary_key=True)
    rule_id: str = Field(
        sa_column=Column(
            String(128), ForeignKey("alertrule.id", ondelete="CASCADE"), nullable=False
        )
    )
    subject_type: str = Field(max_length=8)
    subject: str = Field(max_length=128)
    state: str = Field(max_length=16)
    # When the condition became true (its own time where known), and when it fired.
    since: datetime = Field(sa_type=UTCDateTime)
    fired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    value: float | None = None
    silenced: bool = False
    incident_id: int | None = Field(default=None, sa_type=BigIntPK)
    evaluated_at: datetime = Field(sa_type=UTCDateTime)


class Incident(SQLModel, table=True):
    """One firing episode of a rule for a subject; kept when its rule is deleted."""

    __tablename__ = "incident"
    __table_args__ = (
        Index("ix_incident_started_at", "started_at"),
        Index("ix_incident_resolved_at", "resolved_at"),
        Index("ix_incident_rule_id_subject", "rule_id", "subject"),
        Index("ix_incident_subject", "subject_type", "subject"),
    )

    id: int | None = Field(default=None, sa_type=BigIntPK, primary_key=True)
    rule_id: str = Field(max_length=128)
    rule_name: str = Field(max_length=200)
    kind: str = Field(max_length=32)
    severity: str = Field(max_length=16)
    subject_type: str = Field(max_length=8)
    subject: str = Field(max_length=128)
    started_at: datetime = Field(sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_by: str | None = Field(default=None, max_length=200)
    silenced: bool = False
    value: float | None = None
    last_value: float | None = None
    runbook_id: str | None = Field(default=None, max_length=128)
    # When the last firing or reminder message was queued: reminders count from it.
    last_notified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class IncidentEvent(SQLModel, table=True):
    __tablename__ = "incidentevent"
    __table_args__ = (Index("ix_incidentevent_incident_id_at", "incident_id", "at"),)

    id: int | None = Field(default=None, sa_type=BigIntPK, primary_key=True)
    incident_id: int = Field(
        sa_column=Column(BigIntPK, ForeignKey("incident.id", ondelete="CASCADE"), nullable=False)
    )
    at: datetime = Field(sa_type=UTCDateTime)
    type: str = Field(max_length=16)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


class Silence(SQLModel, table=True):
    """A silence or a (weekly recurring) maintenance window; ending one keeps it."""

    __tablename__ = "silence"
    __table_args__ = (Index("ix_silence_ends_at", "ends_at"),)

    id: str = Field(primary_key=True, max_length=128)
    matchers: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime)
    recurrence: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    comment: str = ""
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(sa_type=UTCDateTime)
    # Set when ended early (DELETE): ends_at then moves to that moment.
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_by: str | None = Field(default=None, max_length=200)


class Channel(SQLModel, table=True):
    """Where notifications go: an Apprise URL, write-only (it may hold a password)."""

    __tablename__ = "channel"

    id: str = Field(primary_key=True, max_length=128)
    name: str = Field(max_length=200)
    url: str
    enabled: bool = True
    last_sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = None
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class Notification(SQLModel, table=True):
    """The outbox: one message for one channel, written with the transition it announces."""

    __tablename__ = "notification"
    __table_args__ = (
        Index("ix_notification_due", "status", "next_attempt_at"),
        Index("ix_notification_channel_id_created_at", "channel_id", "created_at"),
        Index("ix_notification_created_at", "created_at"),
    )

    # A uuid: stable across retries, replicas and restores, sent as X-Prism-Notification-Id.
    id: str = Field(primary_key=True, max_length=36)
    channel_id: str = Field(
        sa_column=Column(String(128), ForeignKey("channel.id", ondelete="CASCADE"), nullable=False)
    )
    rule_id: str | None = Field(default=None, max_length=128)
    incident_ids: list[int] = Field(default_factory=list, sa_type=JSON)
    event: str = Field(max_length=16)
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    # A worker holds a row it is sending until then; a crash lets it go again after.
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = None
    # Fixed text for messages not built from incidents (a channel test).
    message: str | None = None
    created_at: datetime = Field(sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
