"""/openapi.json, /docs and /redoc: public by default, closable, served from our own origin."""

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from app.core.middleware import CONTENT_SECURITY_POLICY

DOC_PATHS = ["/openapi.json", "/docs", "/redoc"]


def directives(policy: str) -> dict[str, list[str]]:
    """A Content-Security-Policy as {directive: sources}."""
    parsed = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        parsed[name] = sources
    return parsed


def test_the_schema_is_served_without_a_token(anon_client: TestClient) -> None:
    response = anon_client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["info"]["title"] == "Prism Console"
    assert "/api/agents" in document["paths"]


@pytest.mark.parametrize(
    ("path", "assets"),
    [
        (
            "/docs",
            ["/static/vendor/swagger-ui/swagger-ui-bundle.js", "/static/js/swagger-init.js"],
        ),
        ("/redoc", ["/static/vendor/redoc/redoc.standalone.js", "/static/js/redoc-init.js"]),
    ],
)
def test_each_viewer_is_served_without_a_token_with_its_assets_from_our_origin(
    anon_client: TestClient, path: str, assets: list[str]
) -> None:
    page = anon_client.get(path)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'data-openapi-url="/openapi.json"' in page.text
    assert "<script>" not in page.text  # the CSP forbids inline scripts
    assert "http://" not in page.text and "https://" not in page.text  # no CDN
    for asset in assets:
        assert f'src="{asset}"' in page.text
        # `make assets` copies the npm packages there; the page is useless without them.
        assert anon_client.get(asset).status_code == 200, asset


def test_redoc_gets_only_what_it_needs_beyond_the_strict_policy(anon_client: TestClient) -> None:
    policy = directives(anon_client.get("/redoc").headers["Content-Security-Policy"])
    strict = directives(CONTENT_SECURITY_POLICY)
    # A worker from a blob: URL (its search index) and two style hashes; nothing else moves.
    assert policy.pop("worker-src") == ["'self'", "blob:"]
    styles = policy.pop("style-src")
    assert styles[0] == "'self'"
    assert styles[1:] and all(source.startswith("'sha256-") for source in styles[1:])
    assert policy == {name: sources for name, sources in strict.items() if name != "style-src"}
    assert policy["script-src"] == ["'self'"]


@pytest.mark.parametrize("path", ["/docs", "/openapi.json", "/livez"])
def test_other_pages_keep_the_strict_policy(anon_client: TestClient, path: str) -> None:
    response = anon_client.get(path)
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


@pytest.mark.parametrize("path", DOC_PATHS)
def test_docs_public_false_puts_them_behind_a_read_token(
    make_client: Callable[..., TestClient],
    token_for: Callable[[str], dict[str, str]],
    path: str,
) -> None:
    closed = make_client(docs_public=False)
    anonymous = TestClient(closed.app)
    response = anonymous.get(path)
    assert response.status_code == 401
    assert response.json() == {"detail": "Missing token"}
    assert anonymous.get(path, headers=token_for("ingest")).status_code == 403
    assert anonymous.get(path, headers=token_for("read")).status_code == 200
