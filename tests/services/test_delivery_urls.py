"""Apprise URLs: which ones Apprise accepts (a one-line reason otherwise, echoing no secret),
their masked form for every shape of URL, and the masking of the libraries' log lines."""

import logging
import subprocess
import sys

import pytest

from app.alerts.apprise_urls import apprise_url_error, mask_url, scrub_text, sending
from app.core.paths import PROJECT_ROOT
from tests.support.waits import WAIT


@pytest.mark.parametrize(
    "url",
    [
        "json://127.0.0.1:8080/hook",
        "jsons://hooks.example.com/path?+X-Token=abc",
        "form://example.com/in",
        "xml://example.com/in",
        "mailto://user:pass@smtp.example.com:2525?from=prism@example.com&to=ops@example.com",
        "slack://T000A0AAA/B000B0BBB/CCCCCCCCCCCCCCCCCCCCCCCC",
        "https://hooks.slack.com/services/T000A0AAA/B000B0BBB/CCCCCCCCCCCCCCCCCCCCCCCC",
        "tgram://123456789:AAEbcdefghijklmnopqrstuvwxyz012345678/12345",
        "discord://123456789/abcdefghijklmnop",
        "ntfy://ntfy.example.com/alerts",
    ],
)
def test_apprise_urls_are_accepted(url: str) -> None:
    assert apprise_url_error(url) is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("", "must not be empty"),
        ("not a url", "without spaces"),
        ("example.com/hook", "expected scheme://"),
        ("bogus://host/path", "unknown scheme bogus://"),
        ("json://", "json:// URL is not valid"),
        ("json://a b@host", "without spaces"),
    ],
)
def test_other_urls_are_refused_with_a_reason(url: str, reason: str) -> None:
    problem = apprise_url_error(url)
    assert problem is not None and reason in problem
    assert "\n" not in problem


def test_a_refusal_quotes_no_value_of_the_url() -> None:
    url = "mailto://alice:S3cret-Pw@127.0.0.1:2525?from=a@b.c&to=ops@example.com"
    problem = apprise_url_error(url)
    assert problem is not None and problem.startswith("mailto:// URL is not valid")
    for secret in ("alice", "S3cret-Pw", "a@b.c"):
        assert secret not in problem


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("json://127.0.0.1:8080/hook", "json://127.0.0.1:8080/***"),
        (
            "json://user:pw@127.0.0.1:8080/hook?+X-Token=abc",
            "json://***@127.0.0.1:8080/***?+X-Token=***",
        ),
        (
            "mailto://user:pass@smtp.example.com:2525?from=a@example.com&to=b@example.com",
            "mailto://***@smtp.example.com:2525?from=***&to=***",
        ),
        ("slack://T000A0AAA/B000B0BBB/CCCCCCCC", "slack://***/***"),
        ("https://hooks.slack.com/services/T000/B000/XXXX", "https://hooks.slack.com/***"),
        ("tgram://123456:ABCdef/12345", "tgram://***/***"),
        ("discord://123456789/token", "discord://***/***"),
        ("pover://userkey@apptoken", "pover://***@***"),
        ("ntfy://my-secret-topic", "ntfy://***"),
        ("ntfy://ntfy.example.com/topic", "ntfy://ntfy.example.com/***"),
        ("jsons://[::1]:8443/x", "jsons://[::1]:8443/***"),
        # Unencoded specials in a password never leak a part of it.
        ("mailto://user:pa/ss@smtp.example.com", "mailto://***/***"),
        ("json://user:p?w=x@host/path", "json://***?***"),
        ("mailto://u:p@ss@smtp.example.com", "mailto://***@smtp.example.com"),
        ("json://host", "json://host"),
        ("no scheme at all", "***"),
    ],
)
def test_mask_url_keeps_the_scheme_and_a_real_host_only(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_scrub_text_masks_urls_and_the_fragments_of_known_ones() -> None:
    url = "json://bob:Secr3tPw@127.0.0.1:9/T0kenPath?-key=Qu3ryValue"
    text = f"failed {url}; POST http://127.0.0.1:9/T0kenPath?key=Qu3ryValue as bob:Secr3tPw"
    scrubbed = scrub_text(text, [url])
    for secret in ("Secr3tPw", "T0kenPath", "Qu3ryValue"):
        assert secret not in scrubbed
    assert "127.0.0.1:9" in scrubbed


def test_library_log_lines_are_masked_while_a_url_is_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = "json://bob:Secr3tPw@127.0.0.1:9/T0kenPath"
    caplog.set_level(logging.DEBUG, logger="apprise")
    caplog.set_level(logging.DEBUG, logger="urllib3.connectionpool")
    apprise_url_error(url)  # installs the filter
    with sending(url):
        logging.getLogger("apprise").warning("could not reach %s (password %s)", url, "Secr3tPw")
        logging.getLogger("urllib3.connectionpool").debug('"POST /T0kenPath HTTP/1.1" 500')
    assert "Secr3tPw" not in caplog.text and "T0kenPath" not in caplog.text
    assert "could not reach json://***@127.0.0.1:9/***" in caplog.text


def test_debug_logging_of_the_first_url_does_not_hang() -> None:
    """Apprise logs while it imports its plugins; the masking filter must not wait for
    that import (a fresh process: plugins load once per process)."""
    script = (
        "import logging; logging.basicConfig(level=logging.DEBUG); "
        "from app.alerts.apprise_urls import apprise_url_error, install_log_masking; "
        "install_log_masking(); "
        "print(apprise_url_error('json://127.0.0.1/hook'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=True,
    )
    assert done.stdout.strip() == "None"
