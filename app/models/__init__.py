"""Console database tables; importing this package registers them all on SQLModel.metadata."""

from sqlmodel import SQLModel

from app.models.agent import Agent, AgentEvent, AgentMemorySample, AgentStatusChange
from app.models.alerts import (
    AlertRule,
    AlertState,
    Channel,
    Incident,
    IncidentEvent,
    Notification,
    Silence,
)
from app.models.audit import AuditChain, AuditEvent
from app.models.metric import Metric
from app.models.miner import Miner, MinerSample
from app.models.rollup import MINER_SAMPLE_ROLLUP, ROLLUP_WATERMARK
from app.models.runbook import Runbook, RunbookRun
from app.models.setting import Setting
from app.models.token import ApiToken

metadata = SQLModel.metadata

__all__ = [
    "MINER_SAMPLE_ROLLUP",
    "ROLLUP_WATERMARK",
    "Agent",
    "AgentEvent",
    "AgentMemorySample",
    "AgentStatusChange",
    "AlertRule",
    "AlertState",
    "ApiToken",
    "AuditChain",
    "AuditEvent",
    "Channel",
    "Incident",
    "IncidentEvent",
    "Metric",
    "Miner",
    "MinerSample",
    "Notification",
    "Runbook",
    "RunbookRun",
    "Setting",
    "Silence",
    "metadata",
]
