"""Key-value settings (also holds the generated session secret)."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.models.types import UTCDateTime


class Setting(SQLModel, table=True):
    __tablename__ = "setting"

    key: str = Field(primary_key=True, max_length=128)
    value: str = ""
    updated_at: datetime = Field(sa_type=UTCDateTime)
