"""render()'s page-or-fragment decision on the sign-in page (needs no data), and the shared
filters: one time format, relative times with their exact time, SI numbers, preferences."""

from datetime import UTC, datetime, timedelta, timezone

from fastapi.testclient import TestClient

from app.core.templating import age_tag, format_si, format_time, short_difficulty, time_tag

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


# --- one time format, short numbers, display preferences ---------------------------------

MOMENT = datetime(2026, 12, 4, 18, 20, 27, 512_000, tzinfo=UTC)


def test_absolute_times_read_in_one_format_with_their_zone() -> None:
    assert format_time(MOMENT) == "2026-12-04 18:20:27 UTC"
    assert format_time(MOMENT, seconds=False) == "2026-12-04 18:20 UTC"
    # Another offset is shown in UTC; a naive time is UTC already.
    assert format_time(datetime(2026, 12, 4, 20, 20, 27, tzinfo=timezone(timedelta(hours=2)))) == (
        "2026-12-04 18:20:27 UTC"
    )
    assert format_time(datetime(2026, 12, 4, 18, 20, 27)) == "2026-12-04 18:20:27 UTC"
    assert format_time(None) == "—"


def test_a_time_tag_carries_the_instant_for_the_local_time_script() -> None:
    assert str(time_tag(MOMENT)) == (
        '<time datetime="2026-12-04T18:20:27.512000Z" data-time="absolute" '
        'data-precision="second">2026-12-04 18:20:27 UTC</time>'
    )
    assert 'data-precision="minute">2026-12-04 18:20 UTC<' in str(time_tag(MOMENT, seconds=False))


def test_a_relative_time_shows_the_exact_time_on_hover_and_focus() -> None:
    tag = str(age_tag(MOMENT, MOMENT + timedelta(minutes=5, seconds=3)))
    assert tag == (
        '<time datetime="2026-12-04T18:20:27.512000Z" title="2026-12-04 18:20:27 UTC" '
        'tabindex="0" data-time="relative">5m ago</time>'
    )
    assert str(age_tag(None)) == '<span class="muted">—</span>'


def test_si_numbers_keep_three_significant_digits() -> None:
    assert format_si(3_540_000_000_000_000) == "3.54 P"
    assert format_si(15_000) == "15 k"
    assert format_si(812) == "812"
    assert format_si(999.6) == "1 k"
    assert format_si(12_345_678) == "12.3 M"
    assert format_si(0) == "0"
    assert format_si(None) == "—"


def test_only_a_difficulty_helper_is_shortened() -> None:
    assert short_difficulty("diff 3,540,000,000,000,000") == "diff 3.54 P"
    assert short_difficulty("diff 15,000") == "diff 15 k"
    assert short_difficulty("12 accepted · 0 stale") == "12 accepted · 0 stale"
    assert short_difficulty(None) is None


def test_the_page_carries_the_theme_and_time_zone_cookies(anon_client: TestClient) -> None:
    anon_client.cookies.set("prism_theme", "dark")
    anon_client.cookies.set("prism_tz", "local")
    html = anon_client.get("/login").text
    assert '<html lang="en" data-time-zone="local" data-theme="dark">' in html
    assert '<meta name="color-scheme" content="dark">' in html
    assert 'data-pref-time-zone="local" aria-pressed="true">Local</button>' in html
    assert 'data-pref-theme="dark" aria-pressed="true">Dark</button>' in html
    assert '<script src="/static/js/time.js" defer></script>' in html


def test_unknown_preferences_fall_back_to_the_system_theme_and_utc(
    anon_client: TestClient,
) -> None:
    anon_client.cookies.set("prism_theme", "neon")
    anon_client.cookies.set("prism_tz", "mars")
    html = anon_client.get("/login").text
    assert '<html lang="en" data-time-zone="utc">' in html
    assert '<meta name="color-scheme" content="light dark">' in html


def test_pages_name_who_is_signed_in_by_the_token_name(read_web_client: TestClient) -> None:
    page = read_web_client.get("/").text
    assert (
        '<span class="who-name" title="Signed in with the token named test-read">'
        '<span class="visually-hidden">Signed in as </span>test-read</span>'
    ) in page
