"""Runbooks and the runs requested from them."""

from datetime import datetime
from typing import Annotated, Any

import pydantic
from pydantic import PlainSerializer, StringConstraints, computed_field, field_validator
from sqlalchemy import JSON, Column, ForeignKey, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.core.json_input import escape_lone_surrogates
from app.core.timeutil import UTCDateTime as ApiDateTime
from app.core.validators import OneLine, SafeId, SafeName, SafeText, omittable
from app.models.base import ApiModel
from app.models.inputs_schema import InputsSchema
from app.models.types import TagList, UTCDateTime


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
        # Clients look runs up by the gateway's id, which execute answers (SPEC appendix A).
        Index("ix_runbookrun_runbook_id_gateway_run_id", "runbook_id", "gateway_run_id"),
    )

    id: str = Field(primary_key=True, max_length=64)
    runbook_id: str = Field(
        sa_column=Column(String(128), ForeignKey("runbook.id", ondelete="CASCADE"), nullable=False)
    )
    idempotency_key: str | None = Field(default=None, max_length=200)
    input: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    status: str = Field(default="queued", max_length=16)  # queued | accepted | rejected | failed
    accepted: bool = True
    workflow_name: str = Field(default="", max_length=200)
    gateway_run_id: str | None = Field(default=None, max_length=200)
    gateway_status_code: int | None = None
    error: str | None = None
    request_id: str | None = Field(default=None, max_length=200)
    requested_by: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


# --- API schemas -------------------------------------------------------------------------

# Free-form JSON read back from the database: rows stored before lone surrogates were
# refused (app/core/json_input.py) are answered with them escaped, not with a 500 for everyone.
StoredJson = Annotated[dict[str, Any], PlainSerializer(escape_lone_surrogates)]


# Lengths are the column sizes; no NUL or control characters (PostgreSQL refuses NUL in text).
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), OneLine]
RunbookTitle = Annotated[str, StringConstraints(min_length=1, max_length=200), OneLine]


def _unique_tags(tags: list[str] | None) -> list[str] | None:
    return None if tags is None else list(dict.fromkeys(tags))


class RunbookPublic(ApiModel):
    """A runbook as the API shows it (SPEC §5.1: exactly these keys)."""

    id: str
    title: str
    description: str
    tags: list[str]
    inputs_schema: StoredJson
    linked_workflow: str


class RunbookCreate(ApiModel):
    """A new runbook; `inputsSchema` must be a valid, self-contained JSON Schema (2020-12)."""

    id: SafeId
    title: RunbookTitle
    description: SafeText = ""
    tags: list[Tag] = pydantic.Field(default_factory=list)
    inputs_schema: InputsSchema = pydantic.Field(default_factory=dict)
    linked_workflow: SafeName = ""

    _dedupe_tags = field_validator("tags")(_unique_tags)


class RunbookUpdate(ApiModel):
    """A partial update: only the keys sent change; none of them may be null."""

    title: RunbookTitle | None = omittable()
    description: SafeText | None = omittable()
    tags: list[Tag] | None = omittable()
    inputs_schema: InputsSchema | None = omittable()
    linked_workflow: SafeName | None = omittable()

    _dedupe_tags = field_validator("tags")(_unique_tags)

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Absent means "keep"; an explicit null would blank a required column.
        if value is None:
            raise ValueError("must not be null (leave the key out to keep the current value)")
        return value


class RunbookPage(ApiModel):
    items: list[RunbookPublic]
    next_cursor: str | None = None


class RunbookEnvelope(ApiModel):
    runbook: RunbookPublic


class ExecuteRequest(ApiModel):
    """Body of POST /api/runbooks/{id}/execute; unknown keys are ignored (earlier contract)."""

    input: dict[str, Any] | None = None
    idempotency_key: SafeName | None = None


class ExecuteResponse(ApiModel):
    run_id: str
    accepted: bool


class RunPublic(ApiModel):
    """One recorded execute request and the gateway's outcome.

    `runId` is the id execute answered: the gateway's when it gave one, else `id` (the
    console's); either finds the run again.
    """

    id: str
    runbook_id: str
    status: str
    accepted: bool
    input: StoredJson | None
    idempotency_key: str | None
    workflow_name: str
    gateway_run_id: str | None
    gateway_status_code: int | None
    error: str | None
    request_id: str | None
    requested_by: str | None
    created_at: ApiDateTime
    updated_at: ApiDateTime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def run_id(self) -> str:
        return self.gateway_run_id or self.id


class RunPage(ApiModel):
    items: list[RunPublic]
    next_cursor: str | None = None
