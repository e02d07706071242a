"""The alerts API's bodies (SPEC §11), camelCase on the wire: rules, silences, channels and
incidents.

Each field's type says what may be stored; what depends on other rows or on another field
(a rule's params against its kind, a channel that must exist) is checked by the services,
which answer a 422 naming the field all the same.
"""

import re
import secrets
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    field_validator,
    model_validator,
)

from app.alerts.kinds import KINDS
from app.core.timeutil import UTCDateTime
from app.core.validators import MultiLine, NonBlankOneLine, OneLine, SafeId, SafeName, omittable
from app.models.alerts import RuleKind, Severity, SubjectType
from app.models.base import ApiModel
from app.models.runbook import StoredJson

# --- Shared field types --------------------------------------------------------------------

Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NonBlankOneLine
]
Domain = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), NonBlankOneLine
]
# A rule may wait at most a week before firing and repeat at most weekly: longer is no alert.
MAX_FOR_SECONDS = 7 * 86_400
MAX_REPEAT_MINUTES = 7 * 24 * 60
MAX_TARGETS = 1000
MAX_RULE_CHANNELS = 50


def integral(value: Any) -> Any:
    """1.0 as 1: JSON Schema counts it an integer, so the API takes it as one (not "1")."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


Integral = BeforeValidator(integral)
# Integral last: placed before the bounds, it would hide them from the JSON Schema.
ForSeconds = Annotated[int, Strict(), Field(ge=0, le=MAX_FOR_SECONDS), Integral]
RepeatMinutes = Annotated[int, Strict(), Field(ge=0, le=MAX_REPEAT_MINUTES), Integral]
# A JSON boolean only: 0 or "yes" is a client bug, not a choice.
Flag = Annotated[bool, Strict()]
ChannelIds = Annotated[list[SafeId], Field(max_length=MAX_RULE_CHANNELS)]
IdList = Annotated[list[SafeId], Field(min_length=1, max_length=MAX_TARGETS)]
DomainList = Annotated[list[Domain], Field(min_length=1, max_length=MAX_TARGETS)]

_SLUG_CHARACTERS = re.compile(r"[^a-z0-9]+")


def generated_id(label: str) -> str:
    """An id for a rule, silence or channel created without one: a slug of its name and a
    random suffix (readable in URLs and logs, and never the id of an existing row)."""
    slug = _SLUG_CHARACTERS.sub("-", label.lower()).strip("-")[:40].strip("-")
    return f"{slug or 'id'}-{secrets.token_hex(4)}"


def _unique(values: list[Any] | None) -> list[Any] | None:
    return None if values is None else list(dict.fromkeys(values))


class _NoNulls(ApiModel):
    """Partial bodies: a NOT NULL field may be left out, but never sent as null."""

    @field_validator(
        "name", "kind", "params", "target", "for_seconds", "severity", "channels",
        "repeat_minutes", "enabled", "url", check_fields=False, mode="before",
    )  # fmt: skip
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("must not be null (leave the key out to keep the current value)")
        return value


# --- Rules ---------------------------------------------------------------------------------


class RuleTarget(ApiModel):
    """Which subjects a rule judges: `{}` every subject of its kind, else one list."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"maxProperties": 1})

    agents: IdList | None = omittable()
    miners: IdList | None = omittable()
    domains: DomainList | None = omittable()

    _dedupe = field_validator("agents", "miners", "domains")(_unique)

    @field_validator("agents", "miners", "domains", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("must not be null (leave the key out)")
        return value

    @model_validator(mode="after")
    def _one_list(self) -> "RuleTarget":
        if len(self.stored()) > 1:
            raise ValueError("give one of agents, miners or domains (or {} for every subject)")
        return self

    def stored(self) -> dict[str, list[str]]:
        """The target as the rule stores and the API answers it: only the list given."""
        return {key: value for key, value in self.model_dump().items() if value is not None}


# Which target lists a rule of each subject type may name.
TARGET_KEYS = {"agent": ("agents", "domains"), "miner": ("miners",)}


def _standard_bounds(schema: Any) -> Any:
    """JSON Schema bounds where pydantic wrote its own keys: a `StrictFloat | StrictInt`
    with ge/le becomes an anyOf carrying `ge`/`le`, which no validator reads; each branch
    gets minimum/maximum instead, so the document states the bounds the service applies."""
    if isinstance(schema, list):
        return [_standard_bounds(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    fixed = {key: _standard_bounds(value) for key, value in schema.items()}
    bounds = {"minimum": fixed.pop("ge", None), "maximum": fixed.pop("le", None)}
    bounds = {key: value for key, value in bounds.items() if value is not None}
    if bounds and "anyOf" in fixed:
        fixed["anyOf"] = [{**branch, **bounds} for branch in fixed["anyOf"]]
    elif bounds:
        fixed.update(bounds)
    return fixed


def _kind_variants() -> list[dict[str, Any]]:
    """One schema per kind: its params and the target lists of its subject (SPEC §11)."""
    target = RuleTarget.model_json_schema()
    variants = []
    for kind, spec in KINDS.items():
        allowed = TARGET_KEYS[spec.subject_type]
        kind_target = {
            **target,
            "properties": {key: target["properties"][key] for key in allowed},
        }
        variants.append(
            {
                "properties": {
                    "kind": {"const": kind},
                    "params": _standard_bounds(spec.params.model_json_schema()),
                    "target": kind_target,
                },
                "required": ["kind"],
            }
        )
    return variants


def _per_kind(schema: dict[str, Any]) -> None:
    schema["oneOf"] = _kind_variants()


def _per_kind_when_given(schema: dict[str, Any]) -> None:
    # Without `kind`, params and target are checked against the stored rule's kind.
    schema["anyOf"] = [{"not": {"required": ["kind"]}}, *_kind_variants()]


class RuleFields(ApiModel):
    """A rule's fields as PUT replaces them (a field left out takes its default).

    `params` and `target` depend on `kind`: the document states each kind's (oneOf).
    """

    model_config = ConfigDict(json_schema_extra=_per_kind)

    name: Name
    kind: RuleKind
    params: dict[str, Any] = Field(
        default_factory=dict, description="The kind's parameters (SPEC §11); defaults fill gaps."
    )
    target: RuleTarget = Field(default_factory=RuleTarget)
    for_seconds: ForSeconds = 0
    severity: Severity
    channels: ChannelIds = Field(default_factory=list)
    repeat_minutes: RepeatMinutes = 0
    runbook_id: SafeId | None = None
    runbook_input: dict[str, Any] | None = Field(
        default=None, description="Input of the runbook; `{subject}` in a string is replaced."
    )
    enabled: Flag = True

    _dedupe = field_validator("channels")(_unique)


class RuleCreate(RuleFields):
    """A new rule; without `id`, one is made from its name."""

    id: SafeId | None = None


class RuleUpdate(_NoNulls):
    """PATCH: only the fields sent change; `runbookId` and `runbookInput` may be null."""

    model_config = ConfigDict(json_schema_extra=_per_kind_when_given)

    name: Name | None = omittable()
    kind: RuleKind | None = omittable()
    params: dict[str, Any] | None = omittable()
    target: RuleTarget | None = omittable()
    for_seconds: ForSeconds | None = omittable()
    severity: Severity | None = omittable()
    channels: ChannelIds | None = omittable()
    repeat_minutes: RepeatMinutes | None = omittable()
    runbook_id: SafeId | None = None
    runbook_input: dict[str, Any] | None = None
    enabled: Flag | None = omittable()

    _dedupe = field_validator("channels")(_unique)


class RulePublic(ApiModel):
    id: str
    name: str
    kind: str
    params: StoredJson
    target: dict[str, list[str]]
    for_seconds: int
    severity: str
    channels: list[str]
    repeat_minutes: int
    runbook_id: str | None
    runbook_input: StoredJson | None
    enabled: bool
    created_at: UTCDateTime
    updated_at: UTCDateTime


class RulePage(ApiModel):
    items: list[RulePublic]
    next_cursor: str | None = None


# --- Silences ------------------------------------------------------------------------------

SilenceStatus = Literal["active", "upcoming", "ended"]
SilenceStatusFilter = Literal["active", "upcoming", "ended", "all"]
HourMinute = Annotated[
    str, StringConstraints(pattern=r"^(?:[01]\d|2[0-3]):[0-5]\d$"), Field(examples=["02:00"])
]
Weekday = Annotated[int, Strict(), Field(ge=0, le=6), Integral]
# A silence may be planned up to five years long (a standing weekly maintenance window).
MAX_SILENCE_DAYS = 5 * 366
Comment = Annotated[str, StringConstraints(max_length=2000), MultiLine]


class Matchers(ApiModel):
    """What a silence covers: every key given must match (at least one)."""

    # The document states "at least one": the keys may be left out but offer no null there,
    # and minProperties asks for one.
    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    rule_id: SafeId | None = omittable()
    subject_type: SubjectType | None = omittable()
    subject: SafeId | None = omittable()
    domain: Domain | None = omittable()

    @model_validator(mode="after")
    def _at_least_one(self) -> "Matchers":
        if not self.stored():
            raise ValueError("give at least one of ruleId, subjectType, subject, domain")
        return self

    def stored(self) -> dict[str, str]:
        """The matchers as stored and answered: camelCase keys, only those given."""
        return self.model_dump(by_alias=True, exclude_none=True)


class Recurrence(ApiModel):
    """A weekly window in UTC: on these weekdays (Monday = 0) from start to end; an end at
    or before the start runs past midnight ("00:00"-"00:00" is the whole day)."""

    model_config = ConfigDict(extra="forbid")

    weekdays: Annotated[list[Weekday], Field(min_length=1, max_length=7)]
    start: HourMinute
    end: HourMinute

    @field_validator("weekdays")
    @classmethod
    def _sorted_days(cls, days: list[int]) -> list[int]:
        return sorted(set(days))


class SilenceCreate(ApiModel):
    """A silence or maintenance window; `startsAt` defaults to now."""

    id: SafeId | None = None
    matchers: Matchers
    starts_at: UTCDateTime | None = None
    ends_at: UTCDateTime
    recurrence: Recurrence | None = None
    comment: Comment = ""


class SilencePublic(ApiModel):
    id: str
    matchers: dict[str, str]
    starts_at: UTCDateTime
    ends_at: UTCDateTime
    recurrence: StoredJson | None
    comment: str
    created_by: str
    created_at: UTCDateTime
    ended_at: UTCDateTime | None
    ended_by: str | None
    status: SilenceStatus


class SilencePage(ApiModel):
    items: list[SilencePublic]
    next_cursor: str | None = None


# --- Channels ------------------------------------------------------------------------------

ChannelUrl = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=4000),
    OneLine,
    Field(description="An Apprise URL (write-only: answers show urlMasked)."),
]


class ChannelCreate(ApiModel):
    id: SafeId | None = None
    name: Name
    url: ChannelUrl
    enabled: Flag = True


class ChannelUpdate(_NoNulls):
    """PUT: the fields sent change; leave `url` out to keep the stored one."""

    name: Name | None = omittable()
    url: ChannelUrl | None = omittable()
    enabled: Flag | None = omittable()


class ChannelPublic(ApiModel):
    """A channel as every answer shows it: never its URL, only the masked form."""

    id: str
    name: str
    url_masked: str
    enabled: bool
    last_sent_at: UTCDateTime | None
    last_error: str | None
    created_at: UTCDateTime
    updated_at: UTCDateTime


class ChannelPage(ApiModel):
    items: list[ChannelPublic]
    next_cursor: str | None = None


class ChannelTestResult(ApiModel):
    ok: bool
    error: str | None


# --- Incidents -----------------------------------------------------------------------------

IncidentState = Literal["open", "resolved", "all"]


class IncidentPublic(ApiModel):
    id: int
    rule_id: str
    rule_name: str
    kind: str
    severity: str
    subject_type: str
    subject: str
    started_at: UTCDateTime
    resolved_at: UTCDateTime | None
    acknowledged_at: UTCDateTime | None
    acknowledged_by: str | None
    silenced: bool
    value: float | None
    last_value: float | None
    runbook_id: str | None


class TimelineEntry(ApiModel):
    at: UTCDateTime
    type: str
    detail: StoredJson


class IncidentDetail(ApiModel):
    incident: IncidentPublic
    timeline: list[TimelineEntry]


class IncidentPage(ApiModel):
    items: list[IncidentPublic]
    next_cursor: str | None = None


class IncidentRunRequest(ApiModel):
    """Run the incident's runbook: `input` replaces the rule's runbookInput when given."""

    input: dict[str, Any] | None = None
    idempotency_key: SafeName | None = None


class IncidentRunResponse(ApiModel):
    run_id: str
    accepted: bool
    runbook_id: str
    input: StoredJson
