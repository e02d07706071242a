"""API tokens and the browser sessions signed in with them.

Only hashes are stored: a token is shown once at creation, a session id lives only in its
browser's signed cookie.
"""

from datetime import datetime
from typing import Annotated

from pydantic import StringConstraints
from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from app.core.scopes import TokenScope
from app.core.timeutil import UTCDateTime as ApiDateTime
from app.core.validators import OneLine
from app.models.base import ApiModel
from app.models.types import UTCDateTime


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


class BrowserSession(SQLModel, table=True):
    """One browser sign-in. Signing out, or revoking its token, deletes the row: the cookie,
    however many copies of it exist, stops working on every replica at its next request."""

    __tablename__ = "browsersession"
    __table_args__ = (Index("ix_browsersession_token_id", "token_id"),)

    # SHA-256 of the random session id the cookie carries.
    id: str = Field(primary_key=True, max_length=64)
    # An apitoken id, or the bootstrap admin's "admin-env" (no row): no foreign key.
    token_id: str = Field(max_length=32)
    # Which secret signed in: a rotated PRISM_ADMIN_TOKEN no longer matches its sessions.
    fingerprint: str = Field(max_length=32)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)


# --- API schemas -------------------------------------------------------------------------


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
