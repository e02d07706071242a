"""Sign in with a token, sign out. The only HTML pages that need no session.

The sign-in form is protected like every other form: it must come from this site
(Sec-Fetch-Site / Origin) and carry the CSRF token of the form the browser was shown (a
double-submit value, also in a short-lived cookie), so no other site can sign a browser in
to an account of its choosing. Only tokens of `read` scope or above may sign in.

Failed attempts, and only those, are slowed and limited (per minute, by
PRISM_LOGIN_RATE_LIMIT), both per client address (the real one: see app/core/middleware.py) and
per attempted token hash: a correct token always signs in, even from an address others are
guessing from (behind a proxy every user can share one). Each failure is held a little
longer than the one before (up to a second, without holding a worker thread); past the
limit a failure answers 429 (an HTML page with Retry-After, like every other 429 carrying
the security headers and request id). Failures are logged with the address and at most the
token's public prefix.
"""

import asyncio
import logging
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from app.audit import service as audit
from app.audit.deps import AuditActorDep, ClientActorDep, actor_for
from app.audit.service import Actor
from app.auth import tokens
from app.auth.deps import WebSignedIn
from app.auth.session import (
    COOKIE_NAME,
    MAX_AGE_SECONDS,
    WebSession,
    admin_fingerprint,
    csrf_refusal,
    end_session,
    fingerprint_of,
    open_session,
)
from app.auth.tokens import Principal
from app.core.config import Settings
from app.core.deps import SessionDep, SettingsDep
from app.core.middleware import client_ip, is_https
from app.core.ratelimit import app_failure_delay, app_limiter
from app.core.templating import render

router = APIRouter(include_in_schema=False)
logger = logging.getLogger("prism.auth")

# The sign-in form's CSRF token, also sent back by the browser as this cookie.
LOGIN_CSRF_COOKIE = "prism_login_csrf"
LOGIN_CSRF_MAX_AGE = 3600

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
    return _login_form(request, next, None, status_code=200)


@router.post("/login", response_model=None)
async def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    client_actor: ClientActorDep,
    token: Annotated[str, Form(max_length=512)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
    csrf_token: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    client = client_ip(request)
    refusal = csrf_refusal(
        request, expected=request.cookies.get(LOGIN_CSRF_COOKIE), sent=csrf_token
    )
    if refusal is not None:
        logger.warning(
            "sign-in form refused from %s: %s", client, refusal, extra={"client": client}
        )
        return _login_form(
            request,
            next,
            "This sign-in form expired or came from another site. Sign in again here.",
            status_code=403,
        )
    plaintext = token.strip()
    # The database work runs in the threadpool; the route is async so that the delay below
    # does not hold a worker thread.
    principal = await run_in_threadpool(_authenticate, session, settings, plaintext)
    if principal is None:
        refused = await _failed(request, settings, client, plaintext, next)
        # After the failure's delay: the row's write (SQLite's lock) is held only until the
        # answer is sent, never through the pause.
        reason = "unknown token" if plaintext else "no token"
        await run_in_threadpool(_record_failure, session, client_actor, reason)
        return refused
    if not principal.allows("read"):
        await run_in_threadpool(
            _record_failure, session, client_actor, f"{principal.scope} scope", principal
        )
        logger.warning(
            "sign-in refused from %s: token %s has %s scope",
            client,
            principal.token_id,
            principal.scope,
            extra={"client": client, "token_id": principal.token_id},
        )
        return _login_form(
            request,
            next,
            f"This token has the {principal.scope} scope: it can send telemetry but not "
            "sign in. Sign in with a read, operate or admin token.",
            status_code=403,
        )
    app_failure_delay(request.app).succeeded(client)
    logger.info(
        "signed in from %s with token %s",
        client,
        principal.token_id,
        extra={"client": client, "token_id": principal.token_id},
    )
    cookie, web_session = request.app.state.session_codec.issue()
    await run_in_threadpool(
        _open, session, web_session, principal, plaintext, actor_for(request, principal)
    )
    response = RedirectResponse(safe_next(next), status_code=303)
    _set_cookie(request, response, COOKIE_NAME, cookie, max_age=MAX_AGE_SECONDS)
    _clear_cookie(request, response, LOGIN_CSRF_COOKIE, path="/login")
    return response


async def _failed(
    request: Request, settings: Settings, client: str, plaintext: str, next_url: str
) -> HTMLResponse:
    """A wrong token: held, counted against the address and the token, logged."""
    token_key = "token:" + tokens.hash_token(plaintext)
    delays = app_failure_delay(request.app)
    failures, delay = delays.failed(client)
    delay = max(delay, delays.failed(token_key)[1])
    retry_after = max(
        app_limiter(request.app, "login", settings.login_rate_limit).hit(client),
        app_limiter(request.app, "login-token", settings.login_rate_limit).hit(token_key),
    )
    prefix = _public_prefix(plaintext)
    logger.warning(
        "sign-in refused for %s (token %s, failure %d in a row)",
        client,
        prefix,
        failures,
        extra={
            "client": client,
            "token_prefix": prefix,
            "failures": failures,
            "retry_after": retry_after,
        },
    )
    await pause(delay)
    if retry_after:
        return _login_form(
            request,
            next_url,
            f"Too many failed sign-in attempts. Try again in {retry_after} s.",
            status_code=429,
            headers={"Retry-After": str(retry_after)},
        )
    return _login_form(
        request,
        next_url,
        "That token is not valid (unknown, revoked or mistyped).",
        status_code=401,
    )


def _authenticate(session: Session, settings: Settings, plaintext: str) -> Principal | None:
    if not plaintext:
        return None
    admin = tokens.configured_admin_token(settings)
    return tokens.authenticate(session=session, plaintext=plaintext, admin_token=admin)


def _open(
    session: Session,
    web_session: WebSession,
    principal: Principal,
    plaintext: str,
    actor: Actor,
) -> None:
    fingerprint = (
        admin_fingerprint(plaintext)
        if principal.token_id == tokens.ADMIN_BOOTSTRAP.token_id
        else fingerprint_of(tokens.hash_token(plaintext))
    )
    open_session(
        session=session, web_session=web_session, principal=principal, fingerprint=fingerprint
    )
    audit.record(
        session,
        actor=actor,
        action="auth.login",
        target_type="token",
        target_id=principal.token_id,
        summary=f"Signed in with token {principal.name} ({principal.scope} scope)",
    )


def _record_failure(
    session: Session, actor: Actor, reason: str, principal: Principal | None = None
) -> None:
    """auth.login_failed with the client's address and why; never the token tried (not even
    its prefix: a mistyped secret is most of a real one)."""
    audit.record(
        session,
        actor=actor,
        action="auth.login_failed",
        target_type="token" if principal is not None else None,
        target_id=principal.token_id if principal is not None else None,
        summary=f"Sign-in refused from {actor.ip or 'an unknown address'}: {reason}",
        detail={"reason": reason},
    )


def _public_prefix(plaintext: str) -> str:
    """What may be logged of a token: the prefix the token list shows, for console tokens."""
    if plaintext.startswith(tokens.TOKEN_PREFIX):
        return plaintext[: len(tokens.TOKEN_PREFIX) + 4] + "…"
    return "(not a console token)" if plaintext else "(empty)"


def _login_form(
    request: Request,
    next_url: str,
    error: str | None,
    *,
    status_code: int,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """The sign-in page with a fresh form CSRF token, in the form and in its cookie."""
    form_token = secrets.token_urlsafe(24)
    response = render(
        request,
        "pages/auth/login.html",
        {
            "page_title": "Sign in",
            "next_url": safe_next(next_url),
            "error": error,
            "csrf_token": form_token,
        },
        status_code=status_code,
        headers=headers,
    )
    _set_cookie(
        request, response, LOGIN_CSRF_COOKIE, form_token, max_age=LOGIN_CSRF_MAX_AGE, path="/login"
    )
    return response


def _set_cookie(
    request: Request,
    response: Response,
    name: str,
    value: str,
    *,
    max_age: int,
    path: str = "/",
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        # Behind a TLS-terminating proxy the scheme comes from X-Forwarded-Proto, believed
        # only from PRISM_TRUSTED_PROXIES.
        secure=is_https(request),
        path=path,
    )


def _clear_cookie(request: Request, response: Response, name: str, *, path: str = "/") -> None:
    """Expire a cookie with the same flags it was set with (browsers match on them)."""
    response.delete_cookie(name, path=path, httponly=True, samesite="lax", secure=is_https(request))


@router.post("/logout")
def logout(
    request: Request, user: WebSignedIn, session: SessionDep, actor: AuditActorDep
) -> RedirectResponse:
    """End the session server-side: this cookie, and any copy of it, stops working."""
    end_session(session=session, web_session=request.state.web_session)
    audit.record(
        session,
        actor=actor,
        action="auth.logout",
        target_type="token",
        target_id=user.token_id,
        summary=f"Signed out (token {user.name})",
    )
    response = RedirectResponse("/login", status_code=303)
    _clear_cookie(request, response, COOKIE_NAME)
    return response
