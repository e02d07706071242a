"""The settings page: key-value editor through forms (with and without htmx), and who may write."""

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from app.models import Setting
from tests.web.conftest import HX

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


@pytest.fixture
def seeded(db_session: Session) -> Session:
    db_session.add(Setting(key="retention.days", value="30", updated_at=T0))
    db_session.add(Setting(key="theme", value="dark", updated_at=T0))
    db_session.add(Setting(key="_secret_key", value="internal-secret-value", updated_at=T0))
    db_session.commit()
    return db_session


def stored(db_session: Session, key: str) -> str | None:
    db_session.expire_all()
    setting = db_session.get(Setting, key)
    return None if setting is None else setting.value


def count(db_session: Session) -> int:
    db_session.expire_all()
    return db_session.exec(select(func.count()).select_from(Setting)).one()


def test_the_page_lists_operator_settings_and_hides_internal_keys(
    web_client: TestClient, seeded: Session
) -> None:
    response = web_client.get("/settings")
    assert response.status_code == 200
    assert 'id="setting-row-retention.days"' in response.text
    assert "dark" in response.text
    assert "_secret_key" not in response.text
    assert "internal-secret-value" not in response.text
    assert 'data-page-section="settings"' in response.text
    assert "HX-Request" in response.headers["Vary"]


def test_anonymous_visitors_are_sent_to_login(anon_client: TestClient) -> None:
    response = anon_client.get("/settings", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=/settings")


def test_htmx_navigation_gets_the_content_only(web_client: TestClient, seeded: Session) -> None:
    response = web_client.get("/settings", headers=HX)
    assert response.status_code == 200
    assert "<title>Settings · Prism Console</title>" in response.text
    assert "<html" not in response.text
    assert 'id="settings-table"' in response.text


def test_add_creates_a_key_and_redirects_to_the_saved_row(
    web_client: TestClient, csrf_of: Callable[[TestClient], str], seeded: Session
) -> None:
    response = web_client.post(
        "/settings",
        data={"key": "gateway.region", "value": "eu-west", "csrf_token": csrf_of(web_client)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/settings?saved=gateway.region"
    assert stored(seeded, "gateway.region") == "eu-west"
    page = web_client.get(response.headers["location"])
    assert "Saved gateway.region." in page.text


@pytest.mark.parametrize(
    ("key", "value", "field", "message"),
    [
        ("", "x", "key", "Enter a key."),
        ("has space", "x", "key", "no whitespace, control characters"),
        ("k" * 129, "x", "key", "1 to 128 characters"),
        ("_internal", "x", "key", "reserved for the service"),
        ("theme", "x", "key", "exists already"),
        ("fine.key", "v" * 10_001, "value", "At most 10,000 characters"),
    ],
)
def test_add_with_bad_input_shows_the_field_error_and_writes_nothing(
    web_client: TestClient,
    csrf_of: Callable[[TestClient], str],
    seeded: Session,
    key: str,
    value: str,
    field: str,
    message: str,
) -> None:
    before = count(seeded)
    response = web_client.post(
        "/settings", data={"key": key, "value": value, "csrf_token": csrf_of(web_client)}
    )
    assert response.status_code == 422
    assert f'<p class="field-error" id="{field}-error">' in response.text
    assert message in response.text
    assert 'aria-invalid="true"' in response.text
    assert count(seeded) == before
    assert stored(seeded, "theme") == "dark"


def test_edit_link_without_js_renders_the_form_in_the_row(
    web_client: TestClient, seeded: Session
) -> None:
    response = web_client.get("/settings?edit=theme")
    assert response.status_code == 200
    assert '<form method="post" action="/settings/theme"' in response.text
    assert "<html" in response.text  # the whole page, the row in edit mode


def test_edit_with_htmx_returns_only_the_row_form(web_client: TestClient, seeded: Session) -> None:
    response = web_client.get(
        "/settings?edit=theme", headers={**HX, "HX-Target": "setting-row-theme"}
    )
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<tr id="setting-row-theme">')
    assert 'name="value"' in response.text
    assert "retention.days" not in response.text


def test_saving_a_value_replaces_it_and_the_row_comes_back(
    web_client: TestClient, csrf_of: Callable[[TestClient], str], seeded: Session
) -> None:
    response = web_client.post(
        "/settings/theme",
        data={"value": "light\r\nmode", "csrf_token": csrf_of(web_client)},
        headers={**HX, "HX-Target": "setting-row-theme"},
    )
    # htmx follows the redirect with its headers, and gets the row alone.
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<tr id="setting-row-theme">')
    assert "light\nmode" in response.text
    assert "<form" not in response.text
    assert stored(seeded, "theme") == "light\nmode"


def test_saving_without_js_redirects_back_to_the_page(
    web_client: TestClient, csrf_of: Callable[[TestClient], str], seeded: Session
) -> None:
    response = web_client.post(
        "/settings/theme",
        data={"value": "light", "csrf_token": csrf_of(web_client)},
        follow_redirects=False,
    )
    assert (response.status_code, response.headers["location"]) == (303, "/settings?saved=theme")
    assert stored(seeded, "theme") == "light"


def test_saving_a_too_long_value_shows_the_row_form_with_the_error(
    web_client: TestClient, csrf_of: Callable[[TestClient], str], seeded: Session
) -> None:
    response = web_client.post(
        "/settings/theme",
        data={"value": "x" * 10_001, "csrf_token": csrf_of(web_client)},
        headers={**HX, "HX-Target": "setting-row-theme"},
    )
    assert response.status_code == 422
    assert response.text.lstrip().startswith('<tr id="setting-row-theme">')
    assert 'aria-invalid="true"' in response.text
    assert "At most 10,000 characters" in response.text
    assert stored(seeded, "theme") == "dark"


def test_saving_an_unknown_or_internal_key_is_not_found(
    web_client: TestClient, csrf_of: Callable[[TestClient], str], seeded: Session
) -> None:
    for key in ("nope", "_secret_key"):
        response = web_client.post(
            f"/settings/{key}", data={"value": "x", "csrf_token": csrf_of(web_client)}
        )
        assert response.status_code == 404
        assert "No such setting" in response.text
    assert stored(seeded, "nope") is None
    assert stored(seeded, "_secret_key") == "internal-secret-value"
    # Aimed at its row (deleted meanwhile in another tab), the answer is that row.
    gone = web_client.post(
        "/settings/nope",
        data={"value": "x", "csrf_token": csrf_of(web_client)},
        headers={**HX, "HX-Target": "setting-row-nope"},
    )
    assert gone.status_code == 404
    assert gone.text.lstrip().startswith('<tr id="setting-row-nope">')
    assert "no longer exists" in gone.text


def test_delete_asks_for_confirmation_first(web_client: TestClient, seeded: Session) -> None:
    page = web_client.get("/settings/theme/delete")
    assert page.status_code == 200
    assert '<form method="post" action="/settings/theme/delete"' in page.text
    row = web_client.get("/settings/theme/delete", headers={**HX, "HX-Target": "setting-row-theme"})
    assert row.text.lstrip().startswith('<tr id="setting-row-theme">')
    assert "for good?" in row.text
    assert stored(seeded, "theme") == "dark"


def test_confirmed_delete_removes_the_key(
    web_client: TestClient, csrf_of: Callable[[TestClient], str], seeded: Session
) -> None:
    response = web_client.post(
        "/settings/theme/delete", data={"csrf_token": csrf_of(web_client)}, follow_redirects=False
    )
    assert (response.status_code, response.headers["location"]) == (
        303,
        "/settings?deleted=theme",
    )
    assert stored(seeded, "theme") is None
    row = web_client.get(
        "/settings?deleted=theme", headers={**HX, "HX-Target": "setting-row-theme"}
    )
    assert "Deleted." in row.text


def test_posts_without_the_csrf_token_are_refused(web_client: TestClient, seeded: Session) -> None:
    before = count(seeded)
    assert web_client.post("/settings", data={"key": "a", "value": "b"}).status_code == 403
    assert web_client.post("/settings/theme", data={"value": "b"}).status_code == 403
    assert web_client.post("/settings/theme/delete").status_code == 403
    assert count(seeded) == before
    assert stored(seeded, "theme") == "dark"


def test_read_sessions_see_values_but_no_controls(
    read_web_client: TestClient, seeded: Session
) -> None:
    response = read_web_client.get("/settings?edit=theme")
    assert response.status_code == 200
    assert "dark" in response.text
    assert "read-only" in response.text
    for control in ('action="/settings"', 'action="/settings/theme"', "/delete", "?edit="):
        assert control not in response.text
    assert 'id="tokens-table"' not in response.text


def test_read_sessions_cannot_post(
    read_web_client: TestClient, csrf_of: Callable[[TestClient], str], seeded: Session
) -> None:
    csrf = csrf_of(read_web_client)
    before = count(seeded)
    attempts = [
        ("/settings", {"key": "a", "value": "b"}),
        ("/settings/theme", {"value": "b"}),
        ("/settings/theme/delete", {}),
        ("/settings/tokens/new", {"name": "x", "scope": "admin"}),
    ]
    for url, data in attempts:
        response = read_web_client.post(url, data={**data, "csrf_token": csrf})
        assert response.status_code == 403, url
    assert read_web_client.get("/settings/theme/delete").status_code == 403
    assert count(seeded) == before
    assert stored(seeded, "theme") == "dark"
