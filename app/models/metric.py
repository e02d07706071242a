"""Dashboard metric tiles."""

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

METRIC_STATUSES = ("good", "warning", "critical")


class Metric(SQLModel, table=True):
    __tablename__ = "metric"
    __table_args__ = (Index("ix_metric_metric_id", "metric_id", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    metric_id: str = Field(max_length=128)
    title: str = Field(max_length=200)
    value: str = Field(default="", max_length=200)
    caption: str = Field(default="", max_length=200)
    icon: str = Field(default="", max_length=64)
    status: str = Field(default="good", max_length=16)
