"""Who is signed in to the browser UI, and CSRF protection of every state-changing form."""

import secrets
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request, status

from app.api.deps import SessionDep, SettingsDep, session_principal
from app.services.tokens import Principal

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FORM_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


class LoginRequiredError(Exception):
    """No valid session: send the browser to the login page, then back here."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def login_url(next_url: str) -> str:
    return f"/login?next={quote(next_url, safe='/')}"


def web_principal(request: Request, session: SessionDep, settings: SettingsDep) -> Principal:
    principal = session_principal(request, session, settings)
    if principal is None:
        next_url = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequiredError(next_url if request.method in SAFE_METHODS else "/")
    return principal


async def csrf_protected(
    request: Request, principal: Annotated[Principal, Depends(web_principal)]
) -> Principal:
    """State-changing requests must echo the session's CSRF token (form field or header)."""
    if request.method not in SAFE_METHODS:
        expected = request.state.web_session.csrf
        sent = request.headers.get(CSRF_HEADER)
        if sent is None:
            form = await request.form()
            field = form.get(CSRF_FORM_FIELD)
            sent = field if isinstance(field, str) else None
        if not sent or not secrets.compare_digest(sent, expected):
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail="CSRF token missing or invalid")
    return principal


def require_admin(principal: Annotated[Principal, Depends(csrf_protected)]) -> Principal:
    if not principal.allows("admin"):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail="Your token is read-only: ask an admin for this change",
        )
    return principal


WebUser = Annotated[Principal, Depends(csrf_protected)]
WebAdmin = Annotated[Principal, Depends(require_admin)]
