"""Agents, their events and their status history."""

from datetime import datetime
from typing import Annotated, Literal, get_args

from pydantic import Field as PydanticField
from pydantic import Strict, StringConstraints, field_validator
from sqlalchemy import Column, ForeignKey, Index, String
from sqlmodel import Field, SQLModel

from app.core.downsampling import SeriesStats
from app.core.timeutil import UTCDateTime as UTCDateTimeField
from app.core.validators import (
    ID_RULE,
    MultiLine,
    NonBlankOneLine,
    OneLine,
    SafeId,
    is_valid_id,
    omittable,
)
from app.models.base import ApiModel
from app.models.types import BigIntPK, UTCDateTime

AgentStatus = Literal["online", "degraded", "offline"]
AGENT_STATUSES: tuple[str, ...] = get_args(AgentStatus)
EventKind = Literal["started", "heartbeat", "warn", "error", "completed"]
EVENT_KINDS: tuple[str, ...] = get_args(EventKind)


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
    # With the id: "the newest change before a moment, ties by id" is one index step.
    __table_args__ = (Index("ix_agentstatuschange_agent_id_at_id", "agent_id", "at", "id"),)

    id: int | None = Field(default=None, sa_type=BigIntPK, primary_key=True)
    agent_id: str = Field(
        sa_column=Column(String(128), ForeignKey("agent.id", ondelete="CASCADE"), nullable=False)
    )
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str = Field(max_length=16)
    at: datetime = Field(sa_type=UTCDateTime)


# --- API schemas (camelCase on the wire; SPEC §5.1 keys are exact) ---------------------------

# Agent list orders; a leading '-' sorts descending.
AgentSort = Literal[
    "-lastSeenAt",
    "lastSeenAt",
    "name",
    "-name",
    "id",
    "-id",
    "domain",
    "-domain",
    "memoryUsedMB",
    "-memoryUsedMB",
]

# The id is part of URLs (/api/agents/{id}): the one id rule of every caller-chosen id.
AgentId = SafeId
AGENT_ID_RULE = ID_RULE
is_valid_agent_id = is_valid_id
MAX_EVENTS_PER_REQUEST = 1000
MAX_EVENT_MESSAGE = 65_536

# Lengths are the column sizes: nothing reaches the database that it would refuse.
AgentName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NonBlankOneLine
]
AgentDomain = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), NonBlankOneLine
]
AgentVersion = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64), OneLine]
EventMessage = Annotated[str, StringConstraints(max_length=MAX_EVENT_MESSAGE), MultiLine]

# 1e12 MB is an exabyte: anything larger is a unit bug, and would overflow chart averages.
MAX_MEMORY_MB = 1e12
# Strict: a JSON number (an integer too), never text or a boolean, as the schema says.
MemoryMB = Annotated[float, Strict(), PydanticField(ge=0, le=MAX_MEMORY_MB, allow_inf_nan=False)]
# memoryUsedMB, not the generated memoryUsedMb: the earlier clients read this exact key.
MEMORY_ALIAS = "memoryUsedMB"


class AgentPublic(ApiModel):
    """An agent as the API shows it: `status` is the shown (effective) status."""

    id: str
    name: str
    domain: str
    status: str
    memory_used_mb: float = PydanticField(alias=MEMORY_ALIAS)
    last_seen_at: UTCDateTimeField | None
    version: str


class EventPublic(ApiModel):
    id: str
    agent_id: str
    kind: str
    at: UTCDateTimeField
    message: str


class StatusChangePublic(ApiModel):
    agent_id: str
    from_status: str | None
    to_status: str
    at: UTCDateTimeField


class AgentDetail(ApiModel):
    agent: AgentPublic
    recent: list[EventPublic]


class AgentPage(ApiModel):
    items: list[AgentPublic]
    next_cursor: str | None = None


class EventPage(ApiModel):
    items: list[EventPublic]
    next_cursor: str | None = None


class StatusChangePage(ApiModel):
    items: list[StatusChangePublic]
    next_cursor: str | None = None


class _NoNulls(ApiModel):
    """Partial bodies: a field may be left out, but null is refused for NOT NULL columns."""

    @field_validator("name", "domain", "status", "memory_used_mb", "version", check_fields=False)
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may be omitted but not null")
        return value


class AgentCreate(ApiModel):
    """Admin registration of an agent; the id is chosen by the caller."""

    id: AgentId
    name: AgentName
    domain: AgentDomain
    status: AgentStatus = "online"
    memory_used_mb: MemoryMB = PydanticField(default=0.0, alias=MEMORY_ALIAS)
    last_seen_at: UTCDateTimeField | None = None
    version: AgentVersion = ""


class AgentUpdate(_NoNulls):
    """Admin partial update: only the fields sent change."""

    name: AgentName | None = omittable()
    domain: AgentDomain | None = omittable()
    status: AgentStatus | None = omittable()
    memory_used_mb: MemoryMB | None = omittable(alias=MEMORY_ALIAS)
    last_seen_at: UTCDateTimeField | None = None  # null: never seen
    version: AgentVersion | None = omittable()


class Heartbeat(_NoNulls):
    """What an agent reports; name and domain also register an unknown agent."""

    status: AgentStatus | None = omittable()
    memory_used_mb: MemoryMB | None = omittable(alias=MEMORY_ALIAS)
    version: AgentVersion | None = omittable()
    name: AgentName | None = omittable()
    domain: AgentDomain | None = omittable()


class EventIn(ApiModel):
    """One agent event; `at` defaults to the time it is received."""

    kind: EventKind
    message: EventMessage
    at: UTCDateTimeField | None = PydanticField(
        default=None,
        description="Missing: the time it is received. At most PRISM_MAX_CLOCK_SKEW_SECONDS "
        "ahead of the server's clock.",
    )


class EventBatch(ApiModel):
    events: list[EventIn] = PydanticField(min_length=1, max_length=MAX_EVENTS_PER_REQUEST)


class EventsAccepted(ApiModel):
    status: Literal["accepted"] = "accepted"
    count: int
    ids: list[str]


class AgentMemorySample(SQLModel, table=True):
    """Memory an agent reported with a heartbeat: the agent page charts it over time."""

    __tablename__ = "agentmemorysample"
    __table_args__ = (
        Index("ix_agentmemorysample_agent_id_recorded_at", "agent_id", "recorded_at"),
    )

    id: int | None = Field(default=None, sa_type=BigIntPK, primary_key=True)
    agent_id: str = Field(
        sa_column=Column(String(128), ForeignKey("agent.id", ondelete="CASCADE"), nullable=False)
    )
    recorded_at: datetime = Field(sa_type=UTCDateTime)
    memory_used_mb: float


class AgentMemorySeries(ApiModel):
    """Columnar chart data (uPlot's layout): series["memoryUsedMB"].max[i] is at time t[i]."""

    agent_id: str
    since: UTCDateTimeField
    until: UTCDateTimeField
    bucket_seconds: int | None
    points: int
    t: list[float]
    series: dict[str, SeriesStats]
