"""Key-value settings (also holds the generated session secret)."""

from datetime import datetime

import pydantic
from sqlmodel import Field, SQLModel

from app.models.base import ApiModel
from app.models.types import UTCDateTime
from app.models.validators import SafeText
from app.timeutil import UTCDateTime as ApiDateTime


class Setting(SQLModel, table=True):
    __tablename__ = "setting"

    key: str = Field(primary_key=True, max_length=128)
    value: str = ""
    updated_at: datetime = Field(sa_type=UTCDateTime)


# --- API schemas -------------------------------------------------------------------------

SETTING_KEY_PATTERN = r"^[A-Za-z0-9._-]{1,128}$"
# Keys starting with "_" belong to the service itself (e.g. `_secret_key`, the generated
# session secret): the settings API neither lists, shows nor changes them.
INTERNAL_PREFIX = "_"
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
