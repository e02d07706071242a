"""Agents, their events and their status history."""

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, String
from sqlmodel import Field, SQLModel

from app.models.types import BigIntPK, UTCDateTime

AGENT_STATUSES = ("online", "degraded", "offline")
EVENT_KINDS = ("started", "heartbeat", "warn", "error", "completed")


class Agent(SQLModel, table=True):
    __tablename__ = "agent"

    id: str = Field(primary_key=True, max_length=128)
    name: str = Field(max_length=200)
    domain: str = Field(max_length=100)
    status: str = Field(default="online", max_length=16)
    memory_used_mb: float = 0.0
    last_seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    version: str = Field(default="", max_length=64)


class AgentEvent(SQLModel, table=True):
    __tablename__ = "agentevent"
    __table_args__ = (
        Index("ix_agentevent_agent_id_at", "agent_id", "at"),
        Index("ix_agentevent_at", "at"),
    )

    id: str = Field(primary_key=True, max_length=128)
    agent_id: str = Field(
        sa_column=Column(String(128), ForeignKey("agent.id", ondelete="CASCADE"), nullable=False)
    )
    kind: str = Field(max_length=16)
    at: datetime = Field(sa_type=UTCDateTime)
    message: str = ""


class AgentStatusChange(SQLModel, table=True):
    """One row each time an agent reports a status different from its previous one."""

    __tablename__ = "agentstatuschange"
    __table_args__ = (Index("ix_agentstatuschange_agent_id_at", "agent_id", "at"),)

    id: int | None = Field(default=None, sa_type=BigIntPK, primary_key=True)
    agent_id: str = Field(
        sa_column=Column(String(128), ForeignKey("agent.id", ondelete="CASCADE"), nullable=False)
    )
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str = Field(max_length=16)
    at: datetime = Field(sa_type=UTCDateTime)
