"""Sign in with a token, sign out. The only HTML pages that need no session.

Guessing tokens is slowed down per client address (the real one: see app/middleware.py):
every attempt spends one of PRISM_LOGIN_RATE_LIMIT attempts per minute, and a successful
one is given back, so only failures use the allowance up. Past it, the form answers 429 (an
HTML page with Retry-After, like every other 429 carrying the security headers and request
id). Each failure is also held a little longer than the one before (up to a second, without
holding a worker thread) and logged with the address and at most the token's public prefix.
"""

import asyncio
import logging
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from app.api.deps import SessionDep, SettingsDep
from app.config import Settings
from app.middleware import client_ip, is_https
from app.ratelimit import app_failure_delay, app_limiter
from app.services import tokens
from app.services.tokens import Principal
from app.web.deps import WebUser
from app.web.session import COOKIE_NAME, MAX_AGE_SECONDS, admin_fingerprint, fingerprint_of
from app.web.templating import render

router = APIRouter(include_in_schema=False)
logger = logging.getLogger("prism.auth")

# Where a failed attempt waits; a module attribute so tests can observe the delays.
pause = asyncio.sleep


def safe_next(next_url: str | None) -> str:
    """Only same-origin paths: never redirect to another site after sign-in."""
    if not next_url or not next_url.startswith("/") or next_url.startswith("//"):
        return "/"
    if "\\" in next_url or any(ord(char) < 32 for char in next_url):
        return "/"
    return next_url


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return render(
        request,
        "pages/auth/login.html",
        {"page_title": "Sign in", "next_url": safe_next(next), "error": None},
    )


@router.post("/login", response_model=None)
async def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    token: Annotated[str, Form(max_length=512)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    plaintext = token.strip()
    client = client_ip(request)
    limiter = app_limiter(request.app, "login", settings.login_rate_limit)
    retry_after = limiter.hit(client)
    if retry_after:
        logger.warning(
            "sign-in refused: too many attempts from %s",
            client,
            extra={"client": client, "retry_after": retry_after},
        )
        return _login_form(
            request,
            next,
            f"Too many sign-in attempts from your address. Try again in {retry_after} s.",
            status_code=429,
            headers={"Retry-After": str(retry_after)},
        )
    # The database work runs in the threadpool; the route is async so that the delay below
    # does not hold a worker thread.
    principal = await run_in_threadpool(_authenticate, session, settings, plaintext)
    delays = app_failure_delay(request.app)
    if principal is None:
        failures, delay = delays.failed(client)
        prefix = _public_prefix(plaintext)
        logger.warning(
            "sign-in refused for %s (token %s, failure %d in a row)",
            client,
            prefix,
            failures,
            extra={"client": client, "token_prefix": prefix, "failures": failures},
        )
        await pause(delay)
        return _login_form(
            request,
            next,
            "That token is not valid (unknown, revoked or mistyped).",
            status_code=401,
        )
    limiter.refund(client)
    delays.succeeded(client)
    logger.info(
        "signed in from %s with token %s",
        client,
        principal.token_id,
        extra={"client": client, "token_id": principal.token_id},
    )
    fingerprint = (
        admin_fingerprint(plaintext)
        if principal.token_id == tokens.ADMIN_BOOTSTRAP.token_id
        else fingerprint_of(tokens.hash_token(plaintext))
    )
    cookie, _ = request.app.state.session_codec.issue(principal, fingerprint)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        cookie,
        max_age=MAX_AGE_SECONDS,
        httponly=True,
        samesite="lax",
        # Behind a TLS-terminating proxy the scheme comes from X-Forwarded-Proto, believed
        # only from PRISM_TRUSTED_PROXIES.
        secure=is_https(request),
        path="/",
    )
    return response


def _authenticate(session: Session, settings: Settings, plaintext: str) -> Principal | None:
    if not plaintext:
        return None
    admin = settings.admin_token.get_secret_value() if settings.admin_token else None
    return tokens.authenticate(session=session, plaintext=plaintext, admin_token=admin)


def _public_prefix(plaintext: str) -> str:
    """What may be logged of a token: the prefix the token list shows, for console tokens."""
    if plaintext.startswith(tokens.TOKEN_PREFIX):
        return plaintext[: len(tokens.TOKEN_PREFIX) + 4] + "…"
    return "(not a console token)" if plaintext else "(empty)"


def _login_form(
    request: Request,
    next_url: str,
    error: str,
    *,
    status_code: int,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    return render(
        request,
        "pages/auth/login.html",
        {"page_title": "Sign in", "next_url": safe_next(next_url), "error": error},
        status_code=status_code,
        headers=headers,
    )


@router.post("/logout")
def logout(_user: WebUser) -> RedirectResponse:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/")
    return response
