"""/api/channels: admin CRUD of Apprise URLs that no answer ever shows, and the test send to a
real local receiver (json://127.0.0.1:PORT/...), its result kept on the channel."""

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.models import AlertRule, AuditEvent, Channel
from tests.support.factories import count_rows
from tests.support.receivers import receiver

# Apprise's e-mail plugin imports imghdr, deprecated since Python 3.11: its warning is the
# library's, not ours (warnings are errors in this suite).
pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")

PASSWORD = "Pl4nted-Secr3t-pw"
QUERY_SECRET = "Qu3ry-T0ken-value"


def _secret_url(host: str = "127.0.0.1:9") -> str:
    return f"json://ops:{PASSWORD}@{host}/hook?token={QUERY_SECRET}"


def _assert_no_secret(text: str) -> None:
    assert PASSWORD not in text
    assert QUERY_SECRET not in text


class Recording:
    """Every answer a test got, to search them all for the planted secrets at the end."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.bodies: list[str] = []

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.client.request(method, path, **kwargs)
        self.bodies.append(response.text)
        return response


@pytest.fixture
def api(client: TestClient) -> Iterator[Recording]:
    recording = Recording(client)
    yield recording
    for body in recording.bodies:
        _assert_no_secret(body)


def _create(api: Recording, **fields: Any) -> Any:
    body = {"id": "ops-hook", "name": "Ops hook", "url": _secret_url(), **fields}
    return api.request("POST", "/api/channels", json=body)


def test_create_answers_the_channel_with_its_url_masked(
    api: Recording, db_session: Session
) -> None:
    response = _create(api)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {
        "id",
        "name",
        "urlMasked",
        "enabled",
        "lastSentAt",
        "lastError",
        "createdAt",
        "updatedAt",
    }
    assert body["urlMasked"].startswith("json://")
    assert "127.0.0.1" in body["urlMasked"]
    assert (body["enabled"], body["lastSentAt"], body["lastError"]) == (True, None, None)
    stored = db_session.get(Channel, "ops-hook")
    assert stored is not None and stored.url == _secret_url()
    assert api.request("GET", "/api/channels/ops-hook").json() == body
    assert api.request("GET", "/api/channels").json()["items"] == [body]
    [audit] = db_session.exec(select(AuditEvent).where(AuditEvent.action == "channel.create"))
    _assert_no_secret(json.dumps(audit.detail) + audit.summary)


def test_without_an_id_one_is_made_from_the_name(api: Recording) -> None:
    body = api.request(
        "POST", "/api/channels", json={"name": "Night shift", "url": "json://127.0.0.1:9/"}
    ).json()
    assert body["id"].startswith("night-shift-")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"url": "nosuchscheme://host/path"}, "url"),
        ({"url": "not a url at all"}, "url"),
        ({"url": ""}, "url"),
        ({"url": None}, "url"),
        ({"url": "json://host/\u0007bell"}, "url"),
        ({"name": ""}, "name"),
        ({"id": "a/b"}, "id"),
        ({"enabled": "maybe"}, "enabled"),
    ],
)
def test_a_bad_channel_is_a_422_naming_the_field_and_nothing_is_written(
    api: Recording, db_session: Session, change: dict[str, Any], field: str
) -> None:
    response = _create(api, **change)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    if isinstance(detail, str):
        assert detail.startswith(f"{field}:"), detail
    else:
        assert [error["loc"][-1] for error in detail] == [field], detail
    assert count_rows(db_session, Channel) == 0
    assert count_rows(db_session, AuditEvent) == 0


def test_a_duplicate_id_is_409(api: Recording) -> None:
    assert _create(api).status_code == 201
    response = _create(api, name="Other")
    assert response.status_code == 409
    assert response.json() == {"detail": "Channel ops-hook already exists"}


def test_put_changes_what_is_sent_and_keeps_the_url_when_it_is_left_out(
    api: Recording, db_session: Session
) -> None:
    _create(api)
    response = api.request("PUT", "/api/channels/ops-hook", json={"name": "Renamed"})
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Renamed"
    db_session.expire_all()
    stored = db_session.get(Channel, "ops-hook")
    assert stored is not None and stored.url == _secret_url()
    response = api.request("PUT", "/api/channels/ops-hook", json={"enabled": False})
    assert response.json()["enabled"] is False


def test_put_with_a_bad_url_is_a_422_and_keeps_the_channel(
    api: Recording, db_session: Session
) -> None:
    before = _create(api).json()
    response = api.request("PUT", "/api/channels/ops-hook", json={"url": "bogus://x"})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("url:")
    assert api.request("GET", "/api/channels/ops-hook").json() == before
    for key in ("name", "url", "enabled"):
        response = api.request("PUT", "/api/channels/ops-hook", json={key: None})
        assert response.status_code == 422, key
    assert api.request("GET", "/api/channels/ops-hook").json() == before


def test_delete_takes_the_channel_off_every_rule(api: Recording, db_session: Session) -> None:
    _create(api)
    _create(api, id="pager")
    for rule_id, channels in (("a", ["ops-hook", "pager"]), ("b", ["ops-hook"]), ("c", [])):
        rule = {
            "id": rule_id,
            "name": rule_id,
            "kind": "miner_silent",
            "severity": "critical",
            "channels": channels,
        }
        assert api.request("POST", "/api/alerts/rules", json=rule).status_code == 201
    response = api.request("DELETE", "/api/channels/ops-hook")
    assert response.status_code == 204
    assert api.request("GET", "/api/channels/ops-hook").status_code == 404
    db_session.expire_all()
    kept = {rule.id: rule.channels for rule in db_session.exec(select(AlertRule))}
    assert kept == {"a": ["pager"], "b": [], "c": []}
    [audit] = db_session.exec(select(AuditEvent).where(AuditEvent.action == "channel.delete"))
    assert audit.detail is not None and sorted(audit.detail["removedFromRules"]) == ["a", "b"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/channels/ghost"),
        ("PUT", "/api/channels/ghost"),
        ("DELETE", "/api/channels/ghost"),
        ("POST", "/api/channels/ghost/test"),
    ],
)
def test_an_unknown_channel_is_a_404(api: Recording, method: str, path: str) -> None:
    response = api.request(method, path, json={"name": "x"} if method == "PUT" else None)
    assert response.status_code == 404
    assert response.json() == {"detail": "Channel not found"}


def test_a_test_send_reaches_the_receiver_and_is_recorded(
    api: Recording, db_session: Session
) -> None:
    with receiver() as hook:
        _create(api, url=_secret_url(f"127.0.0.1:{hook.port}"))
        response = api.request("POST", "/api/channels/ops-hook/test")
    assert response.status_code == 200, response.text
    assert response.json() == {"ok": True, "error": None}
    [received] = hook.requests
    assert received.path.startswith("/hook")
    sent = base64.b64decode(received.headers["authorization"].split()[1]).decode()
    assert sent == f"ops:{PASSWORD}"  # the receiver got the credentials, no answer shows them
    channel = api.request("GET", "/api/channels/ops-hook").json()
    assert channel["lastSentAt"] is not None and channel["lastError"] is None
    [audit] = db_session.exec(select(AuditEvent).where(AuditEvent.action == "channel.test"))
    assert audit.detail is not None and audit.detail["ok"] is True
    _assert_no_secret(json.dumps(audit.detail) + audit.summary)


def test_a_failed_test_send_answers_the_error_and_keeps_it_on_the_channel(
    api: Recording,
) -> None:
    with receiver() as hook:
        hook.fail_next(1, status=500)
        _create(api, url=_secret_url(f"127.0.0.1:{hook.port}"))
        response = api.request("POST", "/api/channels/ops-hook/test")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] is False and body["error"]
    channel = api.request("GET", "/api/channels/ops-hook").json()
    assert channel["lastError"] == body["error"]
    assert channel["lastSentAt"] is None
    listed = api.request("GET", "/api/channels").json()["items"]
    assert listed[0]["lastError"] == body["error"]


def test_a_stored_error_holding_the_url_is_answered_masked(
    api: Recording, db_session: Session
) -> None:
    """A delivery error some library built from the URL is masked on the way out."""
    _create(api)
    stored = db_session.get(Channel, "ops-hook")
    assert stored is not None
    stored.last_error = f"cannot reach {_secret_url()} (user ops password {PASSWORD})"
    db_session.add(stored)
    db_session.commit()
    body = api.request("GET", "/api/channels/ops-hook").json()
    assert "cannot reach json://" in body["lastError"]


@pytest.mark.parametrize("scope", ["read", "operate"])
def test_read_and_operate_tokens_cannot_change_or_test_channels(
    api: Recording,
    anon_client: TestClient,
    token_for: Callable[[str], dict[str, str]],
    db_session: Session,
    scope: str,
) -> None:
    _create(api)
    headers = token_for(scope)
    assert anon_client.get("/api/channels", headers=headers).status_code == 200
    writes = [
        ("POST", "/api/channels", {"id": "x", "name": "X", "url": "json://127.0.0.1:9/"}),
        ("PUT", "/api/channels/ops-hook", {"name": "Y"}),
        ("DELETE", "/api/channels/ops-hook", None),
        ("POST", "/api/channels/ops-hook/test", None),
    ]
    for method, path, body in writes:
        response = anon_client.request(method, path, json=body, headers=headers)
        assert response.status_code == 403, (method, path)
        _assert_no_secret(response.text)
    assert count_rows(db_session, Channel) == 1
