"""Property-based fuzzing of every operation in the live /openapi.json (schemathesis).

Each operation gets boundary-value requests and random valid and invalid ones, all with the
admin token. Every answer must be: no 5xx, a documented status code, the documented content
type, a body and headers matching the schema documented for that status code.

The ops stream (`/api/stream/ops`) is included: it never ends, so only its headers and first
event are read (see `max-stream-events` in conftest.py).
"""

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.fuzz

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]

schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_every_operation_answers_as_documented(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=CHECKS)
