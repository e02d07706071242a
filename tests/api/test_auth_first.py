"""Protected writes check the caller before the body: no 422 tells a stranger the input rules."""

import re
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from app.auth.deps import scopes_of

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# Not JSON at all, JSON of the wrong shape, and bytes that are not even UTF-8.
BODIES = (b'{"unterminated', b'[1, "two", null]', b"\xff\xfe\x00")


def _protected_writes(app: FastAPI) -> list[tuple[str, str]]:
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not scopes_of(route.dependant):
            continue
        found.extend((method, str(context.path)) for method in sorted(route.methods & UNSAFE))
    return found


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "probe-id", path)


def _send_everywhere(
    app: FastAPI, client: TestClient, headers: dict[str, str]
) -> list[tuple[str, str, bytes, int, object]]:
    answers = []
    for method, path in _protected_writes(app):
        for body in BODIES:
            response = client.request(
                method,
                _concrete(path),
                content=body,
                headers={"Content-Type": "application/json", **headers},
            )
            answers.append((method, path, body, response.status_code, response.json()))
    return answers


def test_the_walk_covers_every_kind_of_protected_write(app: FastAPI) -> None:
    routes = _protected_writes(app)
    for expected in (
        ("POST", "/api/agents"),
        ("PATCH", "/api/runbooks/{runbook_id}"),
        ("POST", "/api/runbooks/{runbook_id}/execute"),
        ("PUT", "/api/settings/{key}"),
        ("POST", "/api/miners/sample"),
        ("POST", "/events"),
        ("POST", "/api/tokens"),
    ):
        assert expected in routes


def test_a_write_without_a_token_answers_401_whatever_its_body(
    app: FastAPI, anon_client: TestClient
) -> None:
    for method, path, body, status, detail in _send_everywhere(app, anon_client, {}):
        assert (status, detail) == (401, {"detail": "Missing token"}), (method, path, body)


def test_a_write_with_a_wrong_token_answers_401_whatever_its_body(
    app: FastAPI, anon_client: TestClient
) -> None:
    wrong = {"Authorization": "Bearer prism_not-a-token-of-this-console"}
    for method, path, body, status, detail in _send_everywhere(app, anon_client, wrong):
        assert (status, detail) == (401, {"detail": "Invalid or revoked token"}), (
            method,
            path,
            body,
        )


def test_a_write_beyond_the_tokens_scope_answers_403_whatever_its_body(
    app: FastAPI, anon_client: TestClient, token_for: Callable[[str], dict[str, str]]
) -> None:
    read = token_for("read")
    for method, path, body, status, detail in _send_everywhere(app, anon_client, read):
        assert status == 403, (method, path, body, status, detail)
        assert "does not allow" in str(detail)
