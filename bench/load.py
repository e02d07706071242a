"""Load from the benchmark process: an async httpx client with a pool of N connections, or
wrk (a C load generator, when installed) for reads that a Python client cannot keep up with.

Each of N workers sends requests back to back over its own keep-alive connection until the
request budget or the time budget runs out, whichever comes first, so every run ends by
itself. Also here: the bare FastAPI app that answers fixed bytes from memory (the ceiling a
real endpoint is compared with), served by its own uvicorn like the console.
"""

import asyncio
import os
import re
import shutil
import statistics
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import Body, FastAPI, Response, status

from app.models.agent import AgentId, Heartbeat
from app.models.miner import MinerSampleIn
from bench.common import percentile

BODY_FILE_VARIABLE = "PRISM_BENCH_BODY_FILE"


@dataclass(frozen=True)
class LoadResult:
    """One run: the latency of every request, the wall time, and the non-2xx answers."""

    latencies_ms: list[float]
    seconds: float
    failures: int

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms)

    @property
    def p99(self) -> float:
        return percentile(self.latencies_ms, 0.99)


def run_load(
    base_url: str,
    path: str,
    *,
    concurrency: int,
    max_requests: int,
    max_seconds: float,
    headers: dict[str, str] | None = None,
    bodies: Sequence[bytes] | None = None,
) -> LoadResult:
    """GET `path` (or POST each of `bodies` in turn) with `concurrency` connections."""
    return asyncio.run(
        _load(base_url, path, concurrency, max_requests, max_seconds, headers or {}, bodies)
    )


async def _load(
    base_url: str,
    path: str,
    concurrency: int,
    max_requests: int,
    max_seconds: float,
    headers: dict[str, str],
    bodies: Sequence[bytes] | None,
) -> LoadResult:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    failures = 0
    issued = 0
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=60
    ) as client:
        # Open every connection before the clock starts.
        await asyncio.gather(*(client.get("/livez") for _ in range(concurrency)))
        started = time.perf_counter()
        deadline = started + max_seconds

        async def worker() -> None:
            nonlocal failures, issued
            while issued < max_requests and time.perf_counter() < deadline:
                body = None if bodies is None else bodies[issued % len(bodies)]
                issued += 1
                sent = time.perf_counter()
                if body is None:
                    response = await client.get(path)
                else:
                    response = await client.post(
                        path, content=body, headers={"Content-Type": "application/json"}
                    )
                latencies.append((time.perf_counter() - sent) * 1000)
                if not response.is_success:
                    failures += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return LoadResult(latencies_ms=latencies, seconds=seconds, failures=failures)


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: throughput, latency percentiles, the answers that were not 2xx (or 3xx)
    and the socket errors (timeouts included)."""

    requests: int
    throughput: float
    p50: float
    p99: float
    rejected: int
    errors: int

    @property
    def failures(self) -> int:
        return self.rejected + self.errors

    @property
    def accepted_throughput(self) -> float:
        """Requests answered 2xx per second (wrk's own rate counts every answer)."""
        return self.throughput * (self.requests - self.rejected) / max(1, self.requests)


def wrk_available() -> bool:
    """wrk (Debian's package) loads a server far harder than a Python client can."""
    return shutil.which("wrk") is not None


_WRK_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _wrk_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match[1]) * _WRK_UNITS_MS[match[2]]


def run_wrk(
    url: str,
    *,
    concurrency: int,
    seconds: float,
    headers: dict[str, str] | None = None,
    script: Path | None = None,
    timeout_seconds: float = 2.0,
) -> WrkResult:
    """GET `url` with wrk (or what the Lua `script` sends: `-s`): one thread (the other core
    serves), `concurrency` connections. A request unanswered after `timeout_seconds` counts
    as a failure and is left out of the percentiles (wrk's rule), so ingest raises it."""
    command = ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds:.0f}s", "--latency"]
    command += [f"--timeout={timeout_seconds:.0f}s"]
    if script is not None:
        command += ["-s", str(script)]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run(
        [*command, url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + timeout_seconds + 60,
    ).stdout
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", output, re.MULTILINE))
    requests = re.search(r"^\s+(\d+) requests in", output, re.MULTILINE)
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    if requests is None or rate is None or set(percentiles) != {"50", "99"}:
        raise RuntimeError(f"could not read wrk's output:\n{output}")
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return WrkResult(
        requests=int(requests[1]),
        throughput=float(rate[1]),
        p50=_wrk_ms(percentiles["50"]),
        p99=_wrk_ms(percentiles["99"]),
        rejected=int(failed[1]) if failed else 0,
        errors=sum(int(group) for group in errors.groups()) if errors else 0,
    )


def bare_app() -> FastAPI:
    """`uvicorn --factory bench.load:bare_app`: GET /api/agents answers the bytes of the file
    named by PRISM_BENCH_BODY_FILE from memory; /livez answers too, for the warm-up."""
    body = Path(os.environ[BODY_FILE_VARIABLE]).read_bytes()
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/api/agents")
    async def agents() -> Response:
        return Response(content=body, media_type="application/json")

    @app.get("/livez")
    async def livez() -> Response:
        return Response(content=b'{"status":"ok"}', media_type="application/json")

    return app


def bare_ingest_app() -> FastAPI:
    """`uvicorn --factory bench.load:bare_ingest_app`: the single-sample and heartbeat routes
    validate their body with the console's own models (and the agent id with its type) in
    async endpoints, and answer 202 without storing anything: the ceiling of ingest."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    accepted = b'{"status":"accepted"}'

    @app.post("/api/miners/sample", status_code=status.HTTP_202_ACCEPTED)
    async def sample(body: MinerSampleIn) -> Response:
        return Response(accepted, status.HTTP_202_ACCEPTED, media_type="application/json")

    @app.post("/api/agents/{agent_id}/heartbeat", status_code=status.HTTP_202_ACCEPTED)
    async def heartbeat(agent_id: AgentId, body: Heartbeat | None = Body(None)) -> Response:
        return Response(accepted, status.HTTP_202_ACCEPTED, media_type="application/json")

    @app.get("/livez")
    async def livez() -> Response:
        return Response(content=b'{"status":"ok"}', media_type="application/json")

    return app
