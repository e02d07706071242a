"""Signing in over HTTP like a browser: fetch the form, post it back with its CSRF token."""

import re
from typing import Any

import httpx

LOGIN_CSRF_COOKIE = "prism_login_csrf"
_CSRF_FIELD = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]+)">')


def login_form_token(client: httpx.Client, **headers: str) -> str:
    """The CSRF token of a freshly shown sign-in form (also the value of its cookie)."""
    page = client.get("/login", headers=headers)
    assert page.status_code == 200, page.text
    match = _CSRF_FIELD.search(page.text)
    assert match, "the sign-in form carries no CSRF token"
    assert page.cookies.get(LOGIN_CSRF_COOKIE) == match.group(1)
    return match.group(1)


def post_login(
    client: httpx.Client, token: str, *, data: dict[str, str] | None = None, **headers: str
) -> httpx.Response:
    """Sign in through the form (not followed: the answer is a 303 on success).

    The form's cookie goes in an explicit Cookie header: a client reaching the app over
    plain HTTP while claiming HTTPS through a proxy header would not send back the Secure
    cookie the app set for it.
    """
    csrf = login_form_token(client, **headers)
    form: dict[str, Any] = {"token": token, "csrf_token": csrf, **(data or {})}
    return client.post(
        "/login",
        data=form,
        headers={**headers, "Cookie": f"{LOGIN_CSRF_COOKIE}={csrf}"},
        follow_redirects=False,
    )
