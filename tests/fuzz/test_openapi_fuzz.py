"""Property-based fuzzing of every operation in the live /openapi.json (schemathesis).

Each operation gets boundary-value requests and random valid and invalid ones, all with the
admin token. Every answer must be: no 5xx, a documented status code, the documented content
type, a body and headers matching the schema documented for that status code. The schema
must also say the service's real rules: a request it describes as valid is not refused, one
it describes as invalid is not accepted, and a method a path does not have answers 405 with
an `Allow` header that, like the answer to OPTIONS, lists every method of that path.

The ops stream (`/api/stream/ops`) is included: it never ends, so only its headers and first
event are read (see `max-stream-events` in conftest.py).
"""

import re

import pytest
import schemathesis
from schemathesis.checks import CheckContext, not_a_server_error
from schemathesis.core.transport import Response
from schemathesis.specs.openapi.checks import (
    RejectedPositiveData,
    allow_header_conformance,
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

pytestmark = pytest.mark.fuzz

# Rules no OpenAPI document can state, because each compares a value with something the
# schema cannot see: the server's clock (a reported time at most
# PRISM_MAX_CLOCK_SKEW_SECONDS ahead), another parameter (since before until), what the API
# handed out earlier (a cursor) or a runbook's own stored inputsSchema (execute's 400). A
# valid-looking request refused by one of these, with its own message, is no disagreement.
_UNSTATABLE_422 = re.compile(
    r"is more than [\d.]+ s in the future"
    r"|^(since|until): must be (earlier|later) than (until|since)$"
    r"|^cursor: not a cursor returned by this API$"
    # alerts: rules that depend on other rows, on what apprise accepts, or on the clock
    r"|^channels: unknown channel |^runbookId: unknown runbook |^url: "
    r"|^endsAt: must be (later than startsAt|in the future)$"
    r"|^endsAt: at most \d+ days after startsAt$"
    r"|^month: must not be in the future$"
)
_EXECUTE = "POST /api/runbooks/{runbook_id}/execute"


def _refused_by_an_unstatable_rule(response: Response, case: schemathesis.Case) -> bool:
    if response.status_code == 400 and case.operation.label == _EXECUTE:
        return True
    try:
        detail = response.json().get("detail")
    except ValueError:
        return False
    return (
        response.status_code == 422
        and isinstance(detail, str)
        and _UNSTATABLE_422.search(detail) is not None
    )


# Methods a path really has beyond its own operations, so `Allow` names them: a page (HTML,
# left out of the API document like every page) at the path of an API operation, and a
# template matching the literal path too (PUT /api/miners/{miner_id} sets a miner whose id
# is "sample"; SPEC §14 puts it there).
_OTHER_METHODS = {
    "/events": {"GET"},
    "/api/miners/sample": {"PUT"},
    "/api/miners/samples": {"PUT"},
    "/api/miners/latest": {"PUT"},
    "/api/miners/tiles": {"PUT"},
}


@schemathesis.check
def undocumented_methods_are_405(
    ctx: CheckContext, response: Response, case: schemathesis.Case
) -> bool | None:
    """schemathesis's unsupported_method, the paths' other methods aside."""
    if response.request.method in _OTHER_METHODS.get(case.operation.path, set()):
        return None
    return unsupported_method(ctx, response, case)


@schemathesis.check
def allow_lists_the_documented_methods(
    ctx: CheckContext, response: Response, case: schemathesis.Case
) -> bool | None:
    """schemathesis's allow_header_conformance, the paths' other methods aside."""
    others = _OTHER_METHODS.get(case.operation.path)
    if others is None or "allow" not in response.headers:
        return allow_header_conformance(ctx, response, case)
    advertised = ", ".join(response.headers["allow"]).split(",")
    kept = ", ".join(method.strip() for method in advertised if method.strip() not in others)
    without_page = Response(
        status_code=response.status_code,
        headers={**response.headers, "allow": [kept]},
        content=response.content,
        request=response.request,
        elapsed=response.elapsed,
        verify=response.verify,
    )
    return allow_header_conformance(ctx, without_page, case)


@schemathesis.check
def schema_valid_requests_are_accepted(
    ctx: CheckContext, response: Response, case: schemathesis.Case
) -> bool | None:
    """schemathesis's positive_data_acceptance, less the refusals named above."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        if _refused_by_an_unstatable_rule(response, case):
            return None
        raise


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    schema_valid_requests_are_accepted,
    negative_data_rejection,
    undocumented_methods_are_405,
    allow_lists_the_documented_methods,
]

schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_every_operation_answers_as_documented(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=CHECKS)
