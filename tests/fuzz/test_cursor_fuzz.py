"""Fuzzing the `cursor` of every paginated list with hostile but well-formed cursors.

A cursor is opaque to clients, so the schema can only say "a string": schemathesis sends
strings that do not decode at all. Here each cursor decodes (base64 of a JSON list, like the
ones the API hands out) to values a client could forge: sort keys and timestamps mixed with
integers past 64 bits, non-finite floats, NUL in strings, nested lists and objects. Every
answer must be a page or a 422; never a 5xx.
"""

import math
import re
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from app.core.pagination import decode_cursor, encode_cursor
from tests.fuzz.conftest import AUTH, EXAMPLES, SEED
from tests.support.waits import HTTP_TIMEOUT

pytestmark = pytest.mark.fuzz

# Ids the seeded databases hold, so path-scoped lists reach their query.
PATH_VALUES = {"agent_id": "agent-1", "runbook_id": "runbook-1", "user_id": "1"}
SORTS = ["lastSeenAt", "-lastSeenAt", "name", "-name", "id", "domain", "memoryUsedMB"]

# What a forger puts in place of a real value: numbers no column holds, NUL, wrong types.
_hostile = st.one_of(
    st.integers(min_value=2**63 - 2, max_value=2**64 + 2),
    st.integers(min_value=-(2**64) - 2, max_value=-(2**63) + 2),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -0.0]),
    st.text(max_size=8).map(lambda text: f"{text}\x00"),
    st.sampled_from([None, True, "", [], {}, ["agent-1"], {"id": 1}]),
    st.datetimes().map(lambda moment: moment.isoformat() + "Z"),
    st.integers(),
    st.text(max_size=12),
)
_random_cursors = st.lists(
    st.recursive(_hostile, lambda inner: st.lists(inner, max_size=2), max_leaves=4), max_size=4
)


def _forged(real: list[Any] | None) -> st.SearchStrategy[list[Any]]:
    """A real cursor with some of its values replaced, or a cursor of random values."""
    if not real:
        return _random_cursors
    replaced = st.tuples(*(st.one_of(st.just(value), _hostile) for value in real)).map(list)
    return st.one_of(replaced, replaced, _random_cursors)


def _paginated_lists(document: dict[str, Any]) -> list[str]:
    paths = []
    for path, item in document["paths"].items():
        parameters = item.get("get", {}).get("parameters", [])
        if any(parameter["name"] == "cursor" for parameter in parameters):
            paths.append(re.sub(r"\{(\w+)\}", lambda match: PATH_VALUES[match[1]], path))
    return paths


def test_forged_cursors_get_a_page_or_a_422_on_every_list(seeded_live_url: str) -> None:
    # A generous timeout: on a busy machine a page may take seconds, and that is no failure.
    with httpx.Client(base_url=seeded_live_url, headers=AUTH, timeout=HTTP_TIMEOUT) as client:
        document = client.get("/openapi.json").json()
        paths = _paginated_lists(document)
        assert "/api/agents" in paths and "/api/main/users" in paths

        real_cursors: dict[str, list[Any] | None] = {}

        def real_cursor(path: str, params: dict[str, str]) -> list[Any] | None:
            """The decoded nextCursor of the list's first one-row page."""
            key = f"{path}?{params}"
            if key not in real_cursors:
                page = client.get(path, params={**params, "limit": "1"})
                assert page.status_code == 200, (path, page.text)
                cursor = page.json().get("nextCursor")
                real_cursors[key] = decode_cursor(cursor) if cursor else None
            return real_cursors[key]

        @seed(SEED)
        @settings(
            max_examples=EXAMPLES * len(paths),
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(path=st.sampled_from(paths), sort=st.sampled_from(SORTS), data=st.data())
        def forged_cursor(path: str, sort: str, data: st.DataObject) -> None:
            params = {"sort": sort} if path == "/api/agents" else {}
            values = data.draw(_forged(real_cursor(path, params)), label="cursor values")
            response = client.get(path, params={**params, "cursor": encode_cursor(values)})
            assert response.status_code in (200, 422), (path, values, response.text)
            if response.status_code == 422:
                assert "cursor" in response.text, (path, values, response.text)

        forged_cursor()
