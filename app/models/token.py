"""API tokens: only a hash is stored; the token itself is shown once at creation."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import StringConstraints
from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from app.models.base import ApiModel
from app.models.types import UTCDateTime
from app.models.validators import OneLine
from app.timeutil import UTCDateTime as ApiDateTime

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


# --- API schemas -------------------------------------------------------------------------

TokenScope = Literal["read", "ingest", "admin"]  # SCOPES, spelled out for the schema


class TokenPublic(ApiModel):
    """A stored token as listed: never its hash, only the first characters as a reminder."""

    id: str
    name: str
    scope: str
    prefix: str
    created_at: ApiDateTime
    last_used_at: ApiDateTime | None
    revoked_at: ApiDateTime | None


class TokenCreate(ApiModel):
    name: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), OneLine
    ]
    scope: TokenScope


class TokenCreated(TokenPublic):
    """The new token; `token` is the secret itself, shown this once and never stored."""

    token: str


class TokenList(ApiModel):
    items: list[TokenPublic]
    next_cursor: str | None = None
