"""API schemas of health: the current alerts (GET /api/alerts) and problems (GET /api/problems)."""

from pydantic import Field

from app.core.timeutil import UTCDateTime
from app.models.alerts import AlertStateName, HealthName, Severity, SubjectType
from app.models.base import ApiModel


class AlertItem(ApiModel):
    """A rule whose condition holds for a subject now (pending or firing)."""

    rule_id: str
    rule_name: str
    kind: str
    severity: Severity
    subject_type: SubjectType
    subject: str
    state: AlertStateName
    since: UTCDateTime = Field(description="When the condition became true (its own time).")
    value: float | None = Field(description="The measured value that met the condition.")
    silenced: bool = Field(
        description="A silence or maintenance window covers it now: recorded, not notified."
    )
    incident_id: int | None = Field(description="The incident of a firing state.")


class AlertList(ApiModel):
    items: list[AlertItem] = Field(
        description="Firing first, then pending, then silenced; each group worst severity "
        "first, then oldest."
    )


class ProblemReason(ApiModel):
    """One current state behind a subject's health."""

    rule_id: str
    rule_name: str
    kind: str
    severity: Severity
    state: AlertStateName
    value: float | None
    since: UTCDateTime
    silenced: bool = Field(description="Muted by a silence of this rule: still a reason.")


class Problem(ApiModel):
    """An agent or miner whose health is not ok (maintenance is not a problem)."""

    subject_type: SubjectType
    subject: str
    name: str = Field(description="The agent's name; the miner's name, else its id.")
    health: HealthName = Field(description="critical, warning, pending or unknown.")
    since: UTCDateTime | None = Field(
        description="Since when the states making this health hold (the oldest); null for "
        "unknown (never reported)."
    )
    reasons: list[ProblemReason] = Field(
        description="Its current states: firing before pending, worst severity first."
    )


class ProblemList(ApiModel):
    items: list[Problem] = Field(
        description="Worst first (critical, warning, pending, unknown), then oldest."
    )
