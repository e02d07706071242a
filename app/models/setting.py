"""Key-value settings (also holds the generated session secret)."""

from datetime import datetime
from typing import Annotated

import pydantic
from pydantic import StringConstraints
from pydantic_core import PydanticCustomError
from sqlmodel import Field, SQLModel

from app.core.timeutil import UTCDateTime as ApiDateTime
from app.core.validators import (
    DOT_SEGMENTS,
    ID_PATTERN,
    ID_REFUSED,
    MAX_ID_LENGTH,
    SafeText,
    StringRule,
    check_id,
)
from app.models.base import ApiModel
from app.models.types import UTCDateTime


class Setting(SQLModel, table=True):
    __tablename__ = "setting"

    key: str = Field(primary_key=True, max_length=128)
    value: str = ""
    updated_at: datetime = Field(sa_type=UTCDateTime)


# --- API schemas -------------------------------------------------------------------------

# Keys are ids (the one id rule); the settings editor checks them with this pattern and
# says apart why a reserved key is refused.
SETTING_KEY_PATTERN = ID_PATTERN
# Keys starting with "_" belong to the service itself (e.g. `_secret_key`, the generated
# session secret): the settings API neither lists, shows nor changes them.
INTERNAL_PREFIX = "_"
_OPERATOR_KEY_PATTERN = (
    rf"^[^{INTERNAL_PREFIX}{ID_REFUSED}][^{ID_REFUSED}]{{0,{MAX_ID_LENGTH - 1}}}$"
)


def _operator_key(value: str) -> str:
    check_id(value)
    if value.startswith(INTERNAL_PREFIX):
        raise PydanticCustomError(
            "setting_key_reserved",
            "Keys starting with '{prefix}' are reserved for the service",
            {"prefix": INTERNAL_PREFIX},
        )
    return value


SettingKey = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_ID_LENGTH),
    StringRule(_operator_key, _OPERATOR_KEY_PATTERN, excluded=DOT_SEGMENTS),
]
"""A key the settings API serves: an id that does not start with the reserved prefix."""
MAX_VALUE_LENGTH = 10_000


class SettingPublic(ApiModel):
    key: str
    value: str
    updated_at: ApiDateTime


class SettingWrite(ApiModel):
    """Body of PUT /api/settings/{key}."""

    value: SafeText = pydantic.Field(max_length=MAX_VALUE_LENGTH)


class SettingPage(ApiModel):
    items: list[SettingPublic]
    next_cursor: str | None = None
