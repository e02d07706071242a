"""The page-or-fragment decision of render(), on the sign-in page (needs no data)."""

from fastapi.testclient import TestClient

HX = {"HX-Request": "true"}


def test_a_full_page_has_the_frame(anon_client: TestClient) -> None:
    html = anon_client.get("/login").text
    assert html.startswith("<!doctype html>")
    assert '<main id="main"' in html


def test_an_htmx_request_gets_the_content_block_as_html(anon_client: TestClient) -> None:
    html = anon_client.get("/login", headers=HX).text
    assert html.startswith("<title>Sign in · Prism Console</title>")
    assert "<!doctype html>" not in html
    assert '<form method="post" action="/login"' in html  # markup, not escaped text
    assert "&lt;" not in html


def test_a_history_restore_gets_the_full_page(anon_client: TestClient) -> None:
    html = anon_client.get("/login", headers={**HX, "HX-History-Restore-Request": "true"}).text
    assert html.startswith("<!doctype html>")


def test_pages_vary_on_the_htmx_headers(anon_client: TestClient) -> None:
    vary = anon_client.get("/login").headers["Vary"]
    assert "HX-Request" in vary and "HX-Target" in vary
