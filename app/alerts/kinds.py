"""The rule kinds of SPEC §11: what each judges, its subject, and its parameters.

One place for the vocabulary the evaluator reads and the API validates: a kind's params
model gives every parameter's type, bounds and default, and refuses unknown keys, so a rule
stored through the API always evaluates, and a default shown in a form is the one applied.

A default of None means "the service setting" (PRISM_AGENT_OFFLINE_AFTER): resolve_params()
fills it at evaluation time, so changing the setting moves every rule that did not choose.
"""

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt

from app.models.agent import AgentStatus
from app.models.alerts import RuleKind, SubjectType

# A day is the longest window a rule may look back over: rules judge the present.
MAX_WINDOW_SECONDS = 86_400
MAX_BASELINE_HOURS = 24 * 7
# Silent for more than a year is not a threshold anyone means.
MAX_AFTER_SECONDS = 365 * 86_400

Seconds = Annotated[StrictInt, Field(ge=1, le=MAX_WINDOW_SECONDS)]
AfterSeconds = Annotated[StrictInt, Field(ge=1, le=MAX_AFTER_SECONDS)]
Percent = Annotated[StrictFloat | StrictInt, Field(ge=0, le=100)]
DriftKind = Literal["console_only", "main_only", "status_disagreement"]
DRIFT_KINDS: tuple[DriftKind, ...] = ("console_only", "main_only", "status_disagreement")


class KindParams(BaseModel):
    """Base of every kind's params: camelCase keys as the API speaks them, nothing else."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class AgentOfflineParams(KindParams):
    afterSeconds: AfterSeconds | None = None  # noqa: N815 (the API's key)


def _degraded_only() -> list[AgentStatus]:
    return ["degraded"]


class AgentStatusParams(KindParams):
    statuses: Annotated[list[AgentStatus], Field(min_length=1, max_length=3)] = Field(
        default_factory=_degraded_only
    )


class AgentErrorsParams(KindParams):
    count: Annotated[StrictInt, Field(ge=1, le=1_000_000)] = 5
    windowSeconds: Seconds = 600  # noqa: N815


class MinerSilentParams(KindParams):
    afterSeconds: AfterSeconds | None = None  # noqa: N815


class MinerHashrateParams(KindParams):
    belowPercent: Percent = 80  # noqa: N815
    baselineHours: Annotated[StrictInt, Field(ge=1, le=MAX_BASELINE_HOURS)] = 24  # noqa: N815


class MinerTemperatureParams(KindParams):
    aboveC: Annotated[StrictFloat | StrictInt, Field(ge=-50, le=150)] = 85  # noqa: N815


class MinerStaleRateParams(KindParams):
    abovePercent: Percent = 5  # noqa: N815
    windowSeconds: Seconds = 900  # noqa: N815


class FleetDriftParams(KindParams):
    kinds: Annotated[list[DriftKind], Field(min_length=1, max_length=3)] = Field(
        default_factory=lambda: list(DRIFT_KINDS)
    )


@dataclass(frozen=True)
class KindSpec:
    kind: RuleKind
    subject_type: SubjectType
    params: type[KindParams]
    summary: str


KINDS: dict[str, KindSpec] = {
    spec.kind: spec
    for spec in (
        KindSpec(
            "agent_offline",
            "agent",
            AgentOfflineParams,
            "shown offline: silent longer than afterSeconds, or reported offline",
        ),
        KindSpec("agent_status", "agent", AgentStatusParams, "reported status in statuses"),
        KindSpec(
            "agent_errors",
            "agent",
            AgentErrorsParams,
            "at least count error events in the last windowSeconds",
        ),
        KindSpec(
            "miner_silent", "miner", MinerSilentParams, "no sample for longer than afterSeconds"
        ),
        KindSpec(
            "miner_hashrate",
            "miner",
            MinerHashrateParams,
            "effective hashrate below belowPercent % of expected (or of its own median over "
            "baselineHours); 0 H/s always matches",
        ),
        KindSpec(
            "miner_temperature", "miner", MinerTemperatureParams, "newest temperature ≥ aboveC"
        ),
        KindSpec(
            "miner_stale_rate",
            "miner",
            MinerStaleRateParams,
            "stale ÷ (accepted + stale) over the last windowSeconds above abovePercent",
        ),
        KindSpec(
            "fleet_drift",
            "agent",
            FleetDriftParams,
            "console and main registries disagree (console only, main only, status)",
        ),
    )
}


def parse_params(kind: str, params: dict[str, Any]) -> KindParams:
    """The kind's params model from stored or sent params (raises pydantic.ValidationError)."""
    return KINDS[kind].params.model_validate(params)


def resolve_params(kind: str, params: dict[str, Any], *, offline_after: int) -> dict[str, Any]:
    """Every parameter with its value in effect: defaults filled, the setting where None."""
    resolved = parse_params(kind, params).model_dump()
    if "afterSeconds" in resolved and resolved["afterSeconds"] is None:
        resolved["afterSeconds"] = offline_after
    return resolved
