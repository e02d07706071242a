"""Runbooks and the runs requested from them."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.types import TagList, UTCDateTime

RUN_STATUSES = ("queued", "accepted", "rejected", "failed")


class Runbook(SQLModel, table=True):
    __tablename__ = "runbook"

    id: str = Field(primary_key=True, max_length=128)
    title: str = Field(max_length=200)
    description: str = ""
    tags: list[str] = Field(default_factory=list, sa_type=TagList)
    inputs_schema: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    linked_workflow: str = Field(default="", max_length=200)


class RunbookRun(SQLModel, table=True):
    """Every execute request, with what the workflow gateway answered."""

    __tablename__ = "runbookrun"
    __table_args__ = (
        UniqueConstraint("runbook_id", "idempotency_key", name="uq_runbookrun_idempotency"),
        Index("ix_runbookrun_runbook_id_created_at", "runbook_id", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=64)
    runbook_id: str = Field(
        sa_column=Column(String(128), ForeignKey("runbook.id", ondelete="CASCADE"), nullable=False)
    )
    idempotency_key: str | None = Field(default=None, max_length=200)
    input: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    status: str = Field(default="queued", max_length=16)
    accepted: bool = True
    workflow_name: str = Field(default="", max_length=200)
    gateway_run_id: str | None = Field(default=None, max_length=200)
    gateway_status_code: int | None = None
    error: str | None = None
    request_id: str | None = Field(default=None, max_length=200)
    requested_by: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
