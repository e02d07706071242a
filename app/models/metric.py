"""Dashboard metric tiles."""

from typing import Annotated, Any, Literal

import pydantic
from pydantic import AliasChoices, StringConstraints
from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from app.core.validators import OneLine, SafeId, SafeName, omittable
from app.models.base import ApiModel


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


# --- API schemas -------------------------------------------------------------------------

MetricStatus = Literal["good", "warning", "critical"]
# Lengths are the column sizes; one line each, so no NUL (PostgreSQL refuses it in text).
MetricTitle = Annotated[str, StringConstraints(min_length=1, max_length=200), OneLine]
MetricIcon = Annotated[str, StringConstraints(max_length=64), OneLine]


class MetricTile(ApiModel):
    """A dashboard tile as the API and the mobile dashboard show it; `id` is the metric_id."""

    id: str = pydantic.Field(validation_alias=AliasChoices("metric_id", "id"))
    title: str
    value: str
    caption: str
    icon: str
    status: str


class MetricCreate(ApiModel):
    """A new tile; `id` (also accepted as `metricId`) is its stable, caller-chosen name."""

    id: SafeId = pydantic.Field(validation_alias=AliasChoices("id", "metricId", "metric_id"))
    title: MetricTitle
    value: SafeName = ""
    caption: SafeName = ""
    icon: MetricIcon = ""
    status: MetricStatus = "good"


class MetricUpdate(ApiModel):
    """A partial update: only the keys sent change; none of them may be null."""

    title: MetricTitle | None = omittable()
    value: SafeName | None = omittable()
    caption: SafeName | None = omittable()
    icon: MetricIcon | None = omittable()
    status: MetricStatus | None = omittable()

    @pydantic.field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("must not be null (leave the key out to keep the current value)")
        return value


class MetricPage(ApiModel):
    items: list[MetricTile]
    next_cursor: str | None = None


class MetricEnvelope(ApiModel):
    metric: MetricTile
