"""What a page says about a run: its inputs with secrets masked, and its outcome in words.

The outcome never claims more than the run's record shows. A `queued` run has no answer
from a gateway: none was configured when it ran (it was only recorded), or the answer was
never stored (on its way, or the process stopped). Its `accepted` flag is True only because
the API has always answered `accepted: true` for a recorded run (SPEC appendix A), so pages
show the status and the gateway's answer instead of that flag.
"""

import json
from dataclasses import dataclass
from typing import Any

from app.audit.redact import mask_value
from app.models import RunbookRun

MAX_INPUT_TEXT = 300  # characters of a run's input shown in the history row


@dataclass(frozen=True)
class RunView:
    run: RunbookRun
    input_text: str  # compact JSON, secrets masked, clipped; "" when there was no input
    input_full: str  # the same, unclipped (the cell's title)
    outcome: str  # what became of the run, in words
    reached_gateway: bool  # the gateway answered (accepted or an HTTP error status)


def masked_input(data: Any) -> Any:
    """The input as pages may show it: values of secret-named keys become *** (audit rules)."""
    return mask_value(data)


def run_view(run: RunbookRun) -> RunView:
    text = json.dumps(masked_input(run.input), ensure_ascii=False) if run.input else ""
    clipped = text if len(text) <= MAX_INPUT_TEXT else text[: MAX_INPUT_TEXT - 1] + "…"
    return RunView(
        run=run,
        input_text=clipped,
        input_full=text,
        outcome=outcome(run),
        reached_gateway=run.gateway_status_code is not None,
    )


def outcome(run: RunbookRun) -> str:
    """The run's outcome as its record shows it; never "accepted" unless the gateway said so."""
    code = run.gateway_status_code
    http = f" (HTTP {code})" if code is not None else ""
    if run.status == "accepted":
        return f"Accepted by the gateway{http}"
    if run.status == "rejected":
        return f"Rejected by the gateway{http}" if code is not None else "Not sent to the gateway"
    if run.status == "failed":
        if code is not None:
            return f"Failed: the gateway answered HTTP {code}"
        return "Failed: the gateway was not reached"
    if run.status == "queued":
        return "Recorded only: no gateway answer, nothing shows a workflow started"
    return f"{run.status.capitalize()}: no gateway answer recorded"
