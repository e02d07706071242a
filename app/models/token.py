"""API tokens: only a hash is stored; the token itself is shown once at creation."""

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from app.models.types import UTCDateTime

SCOPES = ("read", "ingest", "admin")


class ApiToken(SQLModel, table=True):
    __tablename__ = "apitoken"
    __table_args__ = (Index("ix_apitoken_token_hash", "token_hash", unique=True),)

    id: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=200)
    scope: str = Field(max_length=16)
    token_hash: str = Field(max_length=64)
    prefix: str = Field(max_length=16)
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
