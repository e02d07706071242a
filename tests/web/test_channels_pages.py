"""Channel pages: the list with masked URLs and last errors, create (a bad Apprise URL is a
422 naming it), send a test to a local receiver, edit, delete (admin, audited). A password
planted in a URL is never on any page, not even the one refusing it."""

import re
from collections.abc import Callable
from html import unescape
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from app.models import AlertRule, Channel
from tests.support.factories import count_rows
from tests.support.receivers import receiver
from tests.web.alerts_support import T0, CsrfOf, add_rule, audit_actions, operate_client

SECRET = "S3cretPassw0rd"
PLANTED = f"json://watcher:{SECRET}@127.0.0.1:9/hook?token={SECRET}"


def _post(client: TestClient, csrf_of: CsrfOf, path: str, **fields: Any) -> Any:
    return client.post(path, data={"csrf_token": csrf_of(client), **fields}, follow_redirects=False)


def _error(html: str, field: str) -> str:
    match = re.search(rf'id="{re.escape(field)}-error">(.*?)</p>', html, re.S)
    assert match, f"no error next to {field}"
    return unescape(match.group(1))


def _add(engine: Engine, channel_id: str, url: str = PLANTED, **fields: Any) -> None:
    with Session(engine) as session:
        session.add(
            Channel(id=channel_id, name=channel_id.title(), url=url, created_at=T0, updated_at=T0,
                    **fields)
        )  # fmt: skip
        session.commit()


def _channel(session: Session, channel_id: str) -> Channel | None:
    session.expire_all()
    return session.get(Channel, channel_id)


def test_the_list_shows_masked_urls_and_last_errors_never_the_secret(
    web_client: TestClient, engine: Engine
) -> None:
    _add(engine, "ops", last_error=f"connection refused for {PLANTED}")
    for path in ("/alerts/channels", "/alerts/channels/ops", "/alerts/channels/ops/delete"):
        page = web_client.get(path)
        assert page.status_code == 200, path
        assert SECRET not in page.text, path
        assert "json://" in page.text and "127.0.0.1" in page.text
    listing = web_client.get("/alerts/channels").text
    assert "connection refused" in listing
    # The edit form never carries the stored URL, not even masked, in its field.
    detail = web_client.get("/alerts/channels/ops").text
    assert 'name="url" type="password" value=""' in detail


def test_creating_a_channel_stores_it_and_audits_it_masked(
    web_client: TestClient, csrf_of: CsrfOf, db_session: Session
) -> None:
    done = _post(web_client, csrf_of, "/alerts/channels", id="ops", name="Ops hook",
                 url=PLANTED, enabled="on")  # fmt: skip
    assert done.status_code == 303
    assert done.headers["location"] == "/alerts/channels?created=ops"
    channel = _channel(db_session, "ops")
    assert channel is not None and channel.url == PLANTED and channel.enabled
    assert audit_actions(db_session)[-1] == "channel.create"
    page = web_client.get(done.headers["location"]).text
    assert "Channel <a" in page and SECRET not in page


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"url": f"nosuchscheme://user:{SECRET}@example.com"}, "url", "unknown scheme"),
        ({"url": ""}, "url", "at least 1 character"),
        ({"name": ""}, "name", "at least 1 character"),
        ({"id": "a/b"}, "id", ""),
    ],
)
def test_a_refused_channel_names_the_field_and_never_echoes_the_url(
    web_client: TestClient,
    csrf_of: CsrfOf,
    db_session: Session,
    fields: dict[str, str],
    field: str,
    message: str,
) -> None:
    form = {"name": "Ops", "url": PLANTED, "enabled": "on", **fields}
    refused = _post(web_client, csrf_of, "/alerts/channels", **form)
    assert refused.status_code == 422
    assert message in _error(refused.text, field)
    assert SECRET not in refused.text
    assert 'name="url" type="password" value=""' in refused.text
    assert count_rows(db_session, Channel) == 0
    assert "channel.create" not in audit_actions(db_session)


def test_a_taken_id_is_named(web_client: TestClient, csrf_of: CsrfOf, engine: Engine) -> None:
    _add(engine, "ops")
    refused = _post(web_client, csrf_of, "/alerts/channels", id="ops", name="Ops",
                    url="json://127.0.0.1:9/x")  # fmt: skip
    assert refused.status_code == 422
    assert "already exists" in _error(refused.text, "id")


def test_send_test_reaches_the_receiver_and_says_so(
    web_client: TestClient, csrf_of: CsrfOf, db_session: Session, engine: Engine
) -> None:
    with receiver() as hook:
        _add(engine, "ops", url=hook.url("prism"))
        done = _post(web_client, csrf_of, "/alerts/channels/ops/test")
        assert done.status_code == 303
        assert done.headers["location"] == "/alerts/channels?tested=sent%3Aops"
        assert len(hook.wait_for(1)) == 1
    page = web_client.get(done.headers["location"]).text
    assert 'data-test="sent"' in page
    channel = _channel(db_session, "ops")
    assert channel is not None and channel.last_sent_at is not None and channel.last_error is None
    assert audit_actions(db_session)[-1] == "channel.test"


def test_a_failed_test_shows_the_masked_error(
    web_client: TestClient, csrf_of: CsrfOf, db_session: Session, engine: Engine
) -> None:
    with receiver() as hook:
        hook.fail_next(1)
        url = hook.url("prism").replace("json://", f"json://watcher:{SECRET}@")
        _add(engine, "ops", url=url)
        done = _post(web_client, csrf_of, "/alerts/channels/ops/test")
        hook.wait_for(1)
    assert done.headers["location"] == "/alerts/channels?tested=failed%3Aops"
    page = web_client.get(done.headers["location"]).text
    assert 'data-test="failed"' in page
    channel = _channel(db_session, "ops")
    assert channel is not None and channel.last_error
    assert SECRET not in page


def test_editing_keeps_the_url_unless_a_new_one_is_typed(
    web_client: TestClient, csrf_of: CsrfOf, db_session: Session, engine: Engine
) -> None:
    _add(engine, "ops")
    done = _post(web_client, csrf_of, "/alerts/channels/ops", name="Ops renamed", url="")
    assert done.status_code == 303
    assert done.headers["location"] == "/alerts/channels/ops?saved=1"
    channel = _channel(db_session, "ops")
    assert channel is not None
    assert (channel.name, channel.url, channel.enabled) == ("Ops renamed", PLANTED, False)
    _post(web_client, csrf_of, "/alerts/channels/ops", name="Ops", url="json://127.0.0.1:9/new",
          enabled="on")  # fmt: skip
    channel = _channel(db_session, "ops")
    assert channel is not None and channel.url == "json://127.0.0.1:9/new" and channel.enabled
    refused = _post(web_client, csrf_of, "/alerts/channels/ops", name="Ops",
                    url=f"nosuchscheme://{SECRET}@x")  # fmt: skip
    assert refused.status_code == 422 and SECRET not in refused.text
    channel = _channel(db_session, "ops")
    assert channel is not None and channel.url == "json://127.0.0.1:9/new"
    assert audit_actions(db_session).count("channel.update") == 2


def test_deleting_a_channel_takes_it_off_its_rules(
    web_client: TestClient, csrf_of: CsrfOf, db_session: Session, engine: Engine
) -> None:
    _add(engine, "ops")
    add_rule(engine, "rig-hot", "miner_temperature", channels=["ops"])
    done = _post(web_client, csrf_of, "/alerts/channels/ops/delete")
    assert done.status_code == 303
    assert done.headers["location"] == "/alerts/channels?deleted=ops"
    assert _channel(db_session, "ops") is None
    rule = db_session.get(AlertRule, "rig-hot")
    assert rule is not None and rule.channels == []
    assert audit_actions(db_session)[-1] == "channel.delete"


def test_an_unknown_channel_is_a_404_page(web_client: TestClient, csrf_of: CsrfOf) -> None:
    assert web_client.get("/alerts/channels/nope").status_code == 404
    for path in (
        "/alerts/channels/nope",
        "/alerts/channels/nope/test",
        "/alerts/channels/nope/delete",
    ):
        assert _post(web_client, csrf_of, path, name="x").status_code == 404, path


def test_read_and_operate_sessions_see_channels_but_cannot_change_them(
    app: FastAPI,
    read_web_client: TestClient,
    token_for: Callable[[str], dict[str, str]],
    csrf_of: CsrfOf,
    db_session: Session,
    engine: Engine,
) -> None:
    _add(engine, "ops")
    for browser in (read_web_client, operate_client(app, token_for)):
        page = browser.get("/alerts/channels").text
        assert 'data-channel-id="ops"' in page and SECRET not in page
        assert 'id="channel-form"' not in page and "Send test" not in page
        for path in ("/alerts/channels", "/alerts/channels/ops", "/alerts/channels/ops/test",
                     "/alerts/channels/ops/delete"):  # fmt: skip
            refused = _post(browser, csrf_of, path, name="x", url="json://127.0.0.1:9/y")
            assert refused.status_code == 403, path
    channel = _channel(db_session, "ops")
    assert channel is not None and channel.name == "Ops" and count_rows(db_session, Channel) == 1


def test_channel_forms_without_the_csrf_token_are_refused(
    web_client: TestClient, db_session: Session, engine: Engine
) -> None:
    _add(engine, "ops")
    for path in ("/alerts/channels", "/alerts/channels/ops", "/alerts/channels/ops/test",
                 "/alerts/channels/ops/delete"):  # fmt: skip
        response = web_client.post(path, data={"name": "x", "url": "json://127.0.0.1:9/y"})
        assert response.status_code == 403, path
    assert count_rows(db_session, Channel) == 1
