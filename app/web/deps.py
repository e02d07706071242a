"""Who is signed in to the browser UI, the scope each page needs, and CSRF on every form.

Every page route declares its scope with one of WebRead, WebAdmin or WebSignedIn (signing
out needs a session, whatever its scope); tests/web/test_page_scopes.py walks the route
table to hold every page to it.
"""

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request, status

from app.api.deps import SessionDep, SettingsDep, session_principal
from app.services.tokens import Principal
from app.web.session import CSRF_FORM_FIELD, CSRF_HEADER, csrf_refusal

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class LoginRequiredError(Exception):
    """No valid session: send the browser to the login page, then back here."""

    # An answer (a redirect), not a failure: what the route wrote first is committed
    # (app/api/deps.py get_session), e.g. the revocation that ended this very session.
    keeps_writes = True

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
        sent = request.headers.get(CSRF_HEADER)
        if sent is None:
            form = await request.form()
            field = form.get(CSRF_FORM_FIELD)
            sent = field if isinstance(field, str) else None
        refusal = csrf_refusal(request, expected=request.state.web_session.csrf, sent=sent)
        if refusal is not None:
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=refusal)
    return principal


class WebScope:
    """A page's requirement: a signed-in session whose token grants `required`.

    `required` None: any session (signing out). Checked after the CSRF token, so a forged
    form learns nothing about the session's scope.
    """

    def __init__(self, required: str | None) -> None:
        self.required = required

    async def __call__(self, principal: Annotated[Principal, Depends(csrf_protected)]) -> Principal:
        if self.required is None or principal.allows(self.required):
            return principal
        if principal.allows("read"):
            detail = "Your token is read-only: ask an admin for this change"
        else:
            detail = (
                f"This token's scope ({principal.scope}) does not allow "
                f"{self.required} access to the console's pages"
            )
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=detail)


WebSignedIn = Annotated[Principal, Depends(WebScope(None))]
WebRead = Annotated[Principal, Depends(WebScope("read"))]
WebAdmin = Annotated[Principal, Depends(WebScope("admin"))]
