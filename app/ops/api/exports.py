"""Downloads: agents, events and miner samples as streamed CSV or JSON (read scope)."""

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from app.agents.deps import AgentQueryDep, EventQueryDep
from app.auth.deps import ReadPrincipal
from app.core.deps import EngineDep, SettingsDep
from app.core.downloads import CSV_NOTE, CSVStream, JSONStream, csv_answer, download
from app.core.responses import errors
from app.core.timeutil import UTCDateTime, utcnow
from app.models.agent import AgentPublic, EventPublic
from app.models.miner import MinerSampleOut
from app.ops import exports
from app.ops.exports import AGENT_COLUMNS, EVENT_COLUMNS, SAMPLE_COLUMNS, SampleQuery

router = APIRouter(tags=["exports"])


def _json_doc(model: type) -> dict[int | str, dict[str, Any]]:
    array: Any = list[model]  # type: ignore[valid-type]
    return {200: {"model": array, "description": "A JSON array"}, **errors(401, 403)}


SampleMiner = Annotated[str | None, Query(max_length=128, description="Only this miner.")]
SampleSince = Annotated[UTCDateTime | None, Query(description="Samples at or after this time.")]
SampleUntil = Annotated[UTCDateTime | None, Query(description="Samples before this time.")]


def _samples(miner_id: str | None, since: Any, until: Any, engine: EngineDep) -> Iterator[Any]:
    query = SampleQuery(miner_id=miner_id, since=since, until=until)
    return exports.export_samples(engine=engine, query=query)


@router.get(
    "/api/export/agents.csv",
    response_class=CSVStream,
    responses=csv_answer(AGENT_COLUMNS),
    summary="Agents as CSV (same filters and order as GET /api/agents)",
    description=CSV_NOTE,
)
def agents_csv(
    _: ReadPrincipal, engine: EngineDep, settings: SettingsDep, query: AgentQueryDep
) -> StreamingResponse:
    rows = exports.export_agents(
        engine=engine, query=query, offline_after=settings.agent_offline_after, now=utcnow()
    )
    return download(CSVStream, exports.csv_chunks(rows, AGENT_COLUMNS), "agents.csv")


@router.get(
    "/api/export/agents.json",
    response_class=JSONStream,
    responses=_json_doc(AgentPublic),
    summary="Agents as JSON (same filters and order as GET /api/agents)",
)
def agents_json(
    _: ReadPrincipal, engine: EngineDep, settings: SettingsDep, query: AgentQueryDep
) -> StreamingResponse:
    rows = exports.export_agents(
        engine=engine, query=query, offline_after=settings.agent_offline_after, now=utcnow()
    )
    return download(JSONStream, exports.json_chunks(rows), "agents.json")


@router.get(
    "/api/export/events.csv",
    response_class=CSVStream,
    responses=csv_answer(EVENT_COLUMNS),
    summary="Events as CSV (same filters and order as GET /api/events)",
    description=CSV_NOTE,
)
def events_csv(_: ReadPrincipal, engine: EngineDep, query: EventQueryDep) -> StreamingResponse:
    rows = exports.export_events(engine=engine, query=query)
    return download(CSVStream, exports.csv_chunks(rows, EVENT_COLUMNS), "events.csv")


@router.get(
    "/api/export/events.json",
    response_class=JSONStream,
    responses=_json_doc(EventPublic),
    summary="Events as JSON (same filters and order as GET /api/events)",
)
def events_json(_: ReadPrincipal, engine: EngineDep, query: EventQueryDep) -> StreamingResponse:
    rows = exports.export_events(engine=engine, query=query)
    return download(JSONStream, exports.json_chunks(rows), "events.json")


@router.get(
    "/api/export/samples.csv",
    response_class=CSVStream,
    responses=csv_answer(SAMPLE_COLUMNS),
    summary="Miner samples as CSV, oldest first, with stale_rate and effective_hashrate",
    description=CSV_NOTE,
)
def samples_csv(
    _: ReadPrincipal,
    engine: EngineDep,
    miner_id: SampleMiner = None,
    since: SampleSince = None,
    until: SampleUntil = None,
) -> StreamingResponse:
    rows = _samples(miner_id, since, until, engine)
    return download(CSVStream, exports.csv_chunks(rows, SAMPLE_COLUMNS), "samples.csv")


@router.get(
    "/api/export/samples.json",
    response_class=JSONStream,
    responses=_json_doc(MinerSampleOut),
    summary="Miner samples as JSON, oldest first, with stale_rate and effective_hashrate",
)
def samples_json(
    _: ReadPrincipal,
    engine: EngineDep,
    miner_id: SampleMiner = None,
    since: SampleSince = None,
    until: SampleUntil = None,
) -> StreamingResponse:
    rows = _samples(miner_id, since, until, engine)
    return download(JSONStream, exports.json_chunks(rows), "samples.json")
