"""Sign in with a token, sign out. The only HTML pages that need no session."""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.api.deps import SessionDep, SettingsDep
from app.services import tokens
from app.web.deps import WebUser
from app.web.session import COOKIE_NAME, MAX_AGE_SECONDS, admin_fingerprint, fingerprint_of
from app.web.templating import render

router = APIRouter(include_in_schema=False)


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
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    token: Annotated[str, Form(max_length=512)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    plaintext = token.strip()
    admin = settings.admin_token.get_secret_value() if settings.admin_token else None
    principal = (
        tokens.authenticate(session=session, plaintext=plaintext, admin_token=admin)
        if plaintext
        else None
    )
    if principal is None:
        return render(
            request,
            "pages/auth/login.html",
            {
                "page_title": "Sign in",
                "next_url": safe_next(next),
                "error": "That token is not valid (unknown, revoked or mistyped).",
            },
            status_code=401,
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
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
def logout(_user: WebUser) -> RedirectResponse:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/")
    return response
