"""The audit log (SPEC §12): who did what, one hash-chained row per state-changing action.

Only tables and the API schemas of the reading side here; app/audit writes and verifies.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index
from sqlmodel import Field, SQLModel

from app.core.timeutil import UTCDateTime as ApiDateTime
from app.models.base import ApiModel
from app.models.types import UTCDateTime

# The prevHash of the first row ever written.
GENESIS_HASH = "0" * 64


class AuditEvent(SQLModel, table=True):
    """One audited action. Append-only: nothing in the service updates or deletes a row,
    except retention, which removes the oldest ones and keeps their last hash in AuditChain."""

    __tablename__ = "auditevent"
    __table_args__ = (
        Index("ix_auditevent_at", "at"),
        Index("ix_auditevent_actor_id", "actor", "id"),
        Index("ix_auditevent_actor_token_id", "actor_id", "id"),
        Index("ix_auditevent_action_id", "action", "id"),
        Index("ix_auditevent_target_id", "target_type", "target_id", "id"),
    )

    # Assigned by the writer while it holds the chain head (head id + 1), not by the
    # database: the id is part of the hashed row, so it must be known before the INSERT.
    id: int = Field(sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False})
    at: datetime = Field(sa_type=UTCDateTime)
    actor: str = Field(max_length=200)
    actor_id: str | None = Field(default=None, max_length=64)
    scope: str | None = Field(default=None, max_length=16)
    action: str = Field(max_length=64)
    target_type: str | None = Field(default=None, max_length=64)
    target_id: str | None = Field(default=None, max_length=256)
    summary: str = Field(max_length=500)
    detail: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    ip: str | None = Field(default=None, max_length=64)
    request_id: str | None = Field(default=None, max_length=64)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditChain(SQLModel, table=True):
    """The one row (id 1) that holds the chain's head and its retention checkpoint.

    Writers lock this row before they read the head, so concurrent actions on PostgreSQL
    append one after another (no fork); on SQLite the UPDATE takes the write lock first.
    The head also shows a row deleted at the end of the chain, which the hashes alone
    cannot; the checkpoint is the last pruned row, from which verification starts.
    """

    __tablename__ = "auditchain"

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    head_id: int = Field(default=0, sa_type=BigInteger)
    head_hash: str = Field(default=GENESIS_HASH, max_length=64)
    pruned_id: int = Field(default=0, sa_type=BigInteger)
    pruned_hash: str = Field(default=GENESIS_HASH, max_length=64)
    pruned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# --- API schemas -------------------------------------------------------------------------


class AuditEventPublic(ApiModel):
    id: int
    at: ApiDateTime
    actor: str
    actor_id: str | None
    scope: str | None
    action: str
    target_type: str | None
    target_id: str | None
    summary: str
    detail: dict[str, Any] | None
    ip: str | None
    request_id: str | None
    prev_hash: str
    hash: str


class AuditPage(ApiModel):
    items: list[AuditEventPublic]
    next_cursor: str | None = None
