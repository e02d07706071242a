"""Browser-session clients for page tests: signed in through /login like a person."""

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import ADMIN_TOKEN
from tests.support.signin import post_login


def sign_in(client: TestClient, token: str) -> TestClient:
    response = post_login(client, token)
    assert response.status_code == 303, response.text
    return client


@pytest.fixture
def web_client(anon_client: TestClient) -> TestClient:
    """Signed in with the admin token; pages may change things."""
    return sign_in(anon_client, ADMIN_TOKEN)


@pytest.fixture
def read_web_client(
    app: FastAPI, anon_client: TestClient, token_for: Callable[[str], dict[str, str]]
) -> TestClient:
    """Signed in with a read-scope token: sees everything, changes nothing."""
    token = token_for("read")["Authorization"].removeprefix("Bearer ")
    return sign_in(TestClient(app), token)


@pytest.fixture
def csrf_of(app: FastAPI) -> Callable[[TestClient], str]:
    """The CSRF token of a signed-in client's session (what its pages embed in forms)."""

    def read(client: TestClient) -> str:
        web_session = app.state.session_codec.read(client.cookies["prism_session"])
        assert web_session is not None
        return str(web_session.csrf)

    return read


HX = {"HX-Request": "true"}
