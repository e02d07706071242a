"""The execute form's confirmation step: the input as it will be sent, and what will happen.

A valid form is not run at once: the page shows the typed input as JSON and says whether a
gateway will receive it (and what is recorded when none is configured), with the submitted
values carried in hidden fields. Confirm posts them again with `confirm=1`; they are parsed
and validated again, and the run starts only if what would be sent is still what was shown
(the digest): a runbook edited in between shows the new confirmation instead.
"""

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

from app.audit.redact import mask_url
from app.models import Runbook, RunbookRun
from app.runbooks.gateway import WorkflowGateway
from app.runbooks.run_view import masked_input
from app.runbooks.schema_form import IDEMPOTENCY_FIELD, FormField, Submission

CONFIRM_FIELD = "confirm"  # present: run it (after checking again); the Confirm form sends it
EDIT_FIELD = "edit"  # present: back to the form with the values (wins over confirm)
DIGEST_FIELD = "confirm_digest"

Step = Literal["review", "run", "edit"]
GatewayPlan = Literal["send", "no-gateway", "no-workflow"]


@dataclass(frozen=True)
class Confirmation:
    """What the confirm view shows and the hidden fields its Confirm and Edit buttons post."""

    input_json: str  # pretty JSON, secret-named keys masked
    masked: bool  # some value is shown as ***
    hidden: list[tuple[str, str]]  # (form name, value) as submitted
    digest: str
    plan: GatewayPlan
    gateway_host: str  # scheme://host of the gateway ("" without one)
    idempotency_key: str
    repeat_of: RunbookRun | None  # the run this idempotency key already names


def step(form: dict[str, str]) -> Step:
    """Which button sent the form: the form's Execute (review), Confirm (run) or Edit."""
    if EDIT_FIELD in form:
        return "edit"
    return "run" if form.get(CONFIRM_FIELD) == "1" else "review"


def plan(runbook: Runbook, gateway: WorkflowGateway | None) -> GatewayPlan:
    """What execute does with the run (app.runbooks.runs.execute_runbook)."""
    if gateway is None:
        return "no-gateway"  # recorded as queued; nothing sends it anywhere
    return "send" if runbook.linked_workflow else "no-workflow"  # the latter: rejected


def digest(runbook: Runbook, gateway: WorkflowGateway | None, data: dict[str, Any]) -> str:
    """A fingerprint of what the confirm view promised: the input, the workflow, the plan."""
    promised = {"input": data, "workflow": runbook.linked_workflow, "plan": plan(runbook, gateway)}
    text = json.dumps(promised, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def confirmation(
    *,
    runbook: Runbook,
    gateway: WorkflowGateway | None,
    fields: list[FormField],
    submission: Submission,
    repeat_of: RunbookRun | None,
) -> Confirmation:
    shown = masked_input(submission.data)
    hidden = [
        (item.form_name, submission.values.get(item.name, ""))
        for item in fields
        if submission.values.get(item.name, "") != ""  # an unticked box sends nothing
    ]
    if submission.idempotency_key:
        hidden.append((IDEMPOTENCY_FIELD, submission.idempotency_key))
    return Confirmation(
        input_json=json.dumps(shown, indent=2, ensure_ascii=False),
        masked=shown != submission.data,
        hidden=hidden,
        digest=digest(runbook, gateway, submission.data),
        plan=plan(runbook, gateway),
        gateway_host=mask_url(gateway.base_url) if gateway is not None else "",
        idempotency_key=submission.idempotency_key,
        repeat_of=repeat_of,
    )
