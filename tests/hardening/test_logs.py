"""Logs: one structured line per request, JSON on request, slow queries timed, no secrets."""

import json
import logging
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from app.core.logging_setup import JsonFormatter, redact
from tests.conftest import ADMIN_TOKEN
from tests.hardening.conftest import LogCapture
from tests.support.fake_verifier import running_fake_verifier
from tests.support.signin import post_login

ACCESS_FIELDS = {"method", "route", "status", "duration_ms", "request_id", "client"}


def _everything_written(record: logging.LogRecord) -> str:
    """All a handler could write of a record: message, extras, exception, in both formats."""
    text = logging.Formatter("%(message)s").format(record)
    return text + repr(vars(record)) + JsonFormatter().format(record)


def test_one_line_per_request_with_method_route_status_duration_and_request_id(
    make_client: Callable[..., TestClient], prism_logs: Callable[..., LogCapture]
) -> None:
    client = make_client()
    logs = prism_logs()
    responses = [
        client.get("/api/agents/agent-9"),
        client.post("/api/agents", json={}),
        client.get("/livez", headers={"X-Request-ID": "probe-7"}),
    ]
    lines = logs.of("prism.access")
    assert len(lines) == 3
    expected = [
        ("GET", "/api/agents/{agent_id}", 404),
        ("POST", "/api/agents", 422),
        ("GET", "/livez", 200),
    ]
    for line, response, (method, route, status) in zip(lines, responses, expected, strict=True):
        fields = vars(line)
        assert fields.keys() >= ACCESS_FIELDS
        assert (fields["method"], fields["route"], fields["status"]) == (method, route, status)
        assert fields["request_id"] == response.headers["X-Request-ID"]
        assert isinstance(fields["duration_ms"], float)
        assert fields["duration_ms"] >= 0
        assert fields["client"] == "testclient"
        assert fields["request_id"] in line.getMessage()
    assert lines[2].request_id == "probe-7"  # type: ignore[attr-defined]


def test_json_format_writes_one_parsable_object_per_line(
    make_client: Callable[..., TestClient],
    prism_logs: Callable[..., LogCapture],
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = make_client(log_format="json", log_level="INFO")
    prism_logs()  # restores the text format afterwards
    capsys.readouterr()
    response = client.get("/api/agents", headers={"X-Request-ID": "json-probe"})
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]  # every line is one JSON object
    (access,) = [entry for entry in parsed if entry["logger"] == "prism.access"]
    assert access.keys() >= ACCESS_FIELDS
    assert access["request_id"] == "json-probe" == response.headers["X-Request-ID"]
    assert (access["method"], access["route"], access["status"]) == ("GET", "/api/agents", 200)
    assert access["level"] == "info"
    assert access["time"].endswith("Z")


def test_text_format_is_the_default(
    make_client: Callable[..., TestClient], capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_client(log_level="INFO")
    capsys.readouterr()
    client.get("/livez", headers={"X-Request-ID": "text-probe"})
    (line,) = [line for line in capsys.readouterr().err.splitlines() if "prism.access" in line]
    assert "GET /livez 200" in line
    assert "request_id=text-probe" in line
    assert not line.startswith("{")


def test_slow_queries_are_logged_with_their_duration_and_without_parameters(
    make_client: Callable[..., TestClient],
    prism_logs: Callable[..., LogCapture],
    token_for: Callable[[str], dict[str, str]],
) -> None:
    client = make_client(slow_query_ms=0)
    logs = prism_logs()
    headers = token_for("read")
    assert client.get("/api/agents", headers=headers).status_code == 200
    slow = logs.of("prism.db")
    assert slow, "every query is slower than 0 ms"
    for record in slow:
        assert isinstance(record.duration_ms, float)  # type: ignore[attr-defined]
        assert record.getMessage().startswith("slow query took ")
        assert " ms: SELECT" in record.getMessage() or " ms: UPDATE" in record.getMessage()
    token = headers["Authorization"].removeprefix("Bearer ")
    assert not any(token in _everything_written(record) for record in logs.records)


def test_tokens_never_appear_in_any_log_line(
    make_client: Callable[..., TestClient],
    prism_logs: Callable[..., LogCapture],
    token_for: Callable[[str], dict[str, str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    external = "ext-secret-token-with-plenty-of-entropy-77"
    wrong = "prism_" + "guessedguessed" * 3
    with running_fake_verifier(valid={external: {"active": True, "scope": "read"}}) as fake:
        client = make_client(
            auth_verify_url=fake.url, slow_query_ms=0, log_level="DEBUG", login_rate_limit=100
        )
        client.headers.clear()
        logs = prism_logs("sqlalchemy.engine", "httpx", "httpcore", "uvicorn", "fastapi")
        stored = token_for("ingest")["Authorization"].removeprefix("Bearer ")
        secrets = [ADMIN_TOKEN, stored, external, wrong]
        for secret in secrets:
            bearer = {"Authorization": f"Bearer {secret}"}
            client.get(f"/api/agents?token={secret}&access_token={secret}", headers=bearer)
            client.post("/api/miners/sample", json={"miner_id": "m-1"}, headers=bearer)
            post_login(client, secret)  # the form, then the sign-in
        client.get("/api/agents", headers={"Authorization": f"Token {wrong}"})
        client.get("/api/agents", headers={"Authorization": "Bearer"})
    assert len(logs.of("prism.access")) == 4 * 4 + 2
    assert logs.of("prism.auth"), "the refused sign-in is logged"
    written = "\n".join(_everything_written(record) for record in logs.records)
    written += capsys.readouterr().err
    for secret in secrets:
        assert secret not in written


def test_anything_shaped_like_a_token_is_blanked_before_writing() -> None:
    text = redact(
        "Authorization: Bearer abc.def-123 then prism_AAAAAAAAAAAAAAAAAAAAAAAA and "
        "/x?token=s3cret&access_token=other&limit=5"
    )
    assert text == (
        "Authorization: Bearer [redacted] then prism_[redacted] and "
        "/x?token=[redacted]&access_token=[redacted]&limit=5"
    )
    assert redact("prism_abcd… shows only the public prefix") == (
        "prism_abcd… shows only the public prefix"
    )
