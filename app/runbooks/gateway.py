"""The workflow gateway that executes runbooks: one POST {url}/runs per run, outcome classified."""

from dataclasses import dataclass
from typing import Any

import httpx

# Enough of a gateway's error body to diagnose it, without storing whole HTML error pages.
MAX_ERROR_TEXT = 1000


@dataclass(frozen=True)
class GatewayOutcome:
    """What became of a submission: run status, whether it was accepted, and why not."""

    status: str  # accepted | rejected | failed (RunbookRun.status)
    accepted: bool
    status_code: int | None = None
    gateway_run_id: str | None = None
    error: str | None = None


class WorkflowGateway:
    """Client of `POST {base_url}/runs`; never raises for gateway trouble, it reports it."""

    def __init__(
        self, base_url: str, *, timeout: float, client: httpx.Client | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._client = client

    def submit(
        self,
        *,
        workflow_name: str,
        data: dict[str, Any],
        correlation_id: str,
        idempotency_key: str,
    ) -> GatewayOutcome:
        """Send one run; 2xx → accepted, 4xx → rejected, anything else → failed."""
        headers = {"x-correlation-id": correlation_id, "Idempotency-Key": idempotency_key}
        body = {"workflowName": workflow_name, "input": data}
        try:
            if self._client is not None:
                response = self._post(self._client, body, headers)
            else:
                with httpx.Client(timeout=self.timeout) as client:
                    response = self._post(client, body, headers)
        except httpx.TimeoutException:
            return GatewayOutcome("failed", False, error=f"gateway timed out after {self.timeout}s")
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return GatewayOutcome("failed", False, error=_clip(f"gateway unreachable: {exc}"))
        code = response.status_code
        if 200 <= code < 300:
            return GatewayOutcome("accepted", True, code, gateway_run_id=_run_id(response))
        detail = response.text.strip()
        error = _clip(
            f"gateway answered {code}: {detail}" if detail else f"gateway answered {code}"
        )
        return GatewayOutcome(
            "rejected" if 400 <= code < 500 else "failed", False, code, None, error
        )

    def _post(
        self, client: httpx.Client, body: dict[str, Any], headers: dict[str, str]
    ) -> httpx.Response:
        return client.post(
            f"{self.base_url}/runs",
            json=body,
            headers=headers,
            timeout=self.timeout,
            follow_redirects=False,
        )


def _run_id(response: httpx.Response) -> str | None:
    """The gateway's own id for the run (`runId` or `id`), when its answer carries one."""
    try:
        payload = response.json()
    except ValueError:  # not JSON: the run is still accepted, just without the gateway's id
        return None
    if not isinstance(payload, dict):
        return None
    for key in ("runId", "id"):
        value = payload.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)[:200]
    return None


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ERROR_TEXT else text[: MAX_ERROR_TEXT - 1] + "…"
