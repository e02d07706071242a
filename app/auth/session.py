"""Browser sessions, and the one CSRF check of every request a browser makes by itself.

The session cookie is signed, HttpOnly and SameSite; it carries a random session id and the
session's CSRF secret, never the token. The session's row (BrowserSession) names the token
that signed in. Each request looks up the row together with the token, so signing out (the
row is deleted), revoking the token or rotating PRISM_ADMIN_TOKEN ends the session on every
replica, and a copy of the cookie stops working with it. Each sign-in mints a new session id
and CSRF secret (no session fixation).

csrf_refusal() is the check for the sign-in form, the page forms and cookie-authenticated API
writes: the request must come from this site (Sec-Fetch-Site, else Origin) and echo the
expected CSRF token.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete, select
from sqlmodel import Session, col
from starlette.requests import Request

from app.auth.tokens import ADMIN_BOOTSTRAP, Principal, hash_token
from app.core.middleware import is_https
from app.core.timeutil import utcnow
from app.models import ApiToken
from app.models.token import BrowserSession

COOKIE_NAME = "prism_session"
MAX_AGE_SECONDS = 12 * 3600
CSRF_FORM_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
CSRF_INVALID = "CSRF token missing or invalid"
# Sec-Fetch-Site values of a request this site's own pages made (or the user typed).
_OWN_FETCH_SITES = frozenset({"same-origin", "none"})


@dataclass(frozen=True)
class WebSession:
    """What a session cookie carries: the session's id (secret) and its CSRF token."""

    session_id: str
    csrf: str


class SessionCodec:
    """Signs and reads the session cookie with the service's secret key."""

    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="prism-session")

    def issue(self) -> tuple[str, WebSession]:
        """A new session's cookie value; open_session() stores it."""
        web_session = WebSession(secrets.token_urlsafe(32), secrets.token_urlsafe(24))
        payload = {"s": web_session.session_id, "c": web_session.csrf}
        return self._serializer.dumps(payload), web_session

    def read(self, cookie: str) -> WebSession | None:
        try:
            payload: Any = self._serializer.loads(cookie, max_age=MAX_AGE_SECONDS)
        except BadSignature:
            return None
        if not isinstance(payload, dict) or not all(
            isinstance(payload.get(key), str) for key in ("s", "c")
        ):
            return None
        return WebSession(payload["s"], payload["c"])


def fingerprint_of(token_hash_or_secret: str) -> str:
    return hashlib.sha256(("session:" + token_hash_or_secret).encode()).hexdigest()[:32]


def admin_fingerprint(admin_token: str) -> str:
    return fingerprint_of(hash_token(admin_token))


def open_session(
    *, session: Session, web_session: WebSession, principal: Principal, fingerprint: str
) -> None:
    """Store a new sign-in (and forget the sessions that expired meanwhile)."""
    now = utcnow()
    session.execute(delete(BrowserSession).where(col(BrowserSession.expires_at) <= now))
    session.add(
        BrowserSession(
            id=hash_token(web_session.session_id),
            token_id=principal.token_id,
            fingerprint=fingerprint,
            created_at=now,
            expires_at=now + timedelta(seconds=MAX_AGE_SECONDS),
        )
    )
    session.commit()


def end_session(*, session: Session, web_session: WebSession) -> None:
    """Sign out: the session, and every copy of its cookie, stops working."""
    session.execute(
        delete(BrowserSession).where(col(BrowserSession.id) == hash_token(web_session.session_id))
    )
    session.commit()


def principal_for_session(
    web_session: WebSession, *, session: Session, admin_token: str | None
) -> Principal | None:
    """The principal a session still stands for; None once it ended or its token is gone."""
    # One round trip per request: the session row and its token together (SQLAlchemy's
    # select: SQLModel's is typed for at most four columns).
    found = session.execute(
        select(
            col(BrowserSession.token_id),
            col(BrowserSession.fingerprint),
            col(BrowserSession.expires_at),
            col(ApiToken.name),
            col(ApiToken.scope),
            col(ApiToken.token_hash),
            col(ApiToken.revoked_at),
        )
        .outerjoin(ApiToken, col(ApiToken.id) == col(BrowserSession.token_id))
        .where(col(BrowserSession.id) == hash_token(web_session.session_id))
    ).first()
    if found is None:
        return None
    token_id, fingerprint, expires_at, name, scope, token_hash, revoked_at = found
    if expires_at <= utcnow():
        return None
    if token_id == ADMIN_BOOTSTRAP.token_id:
        if admin_token and secrets.compare_digest(fingerprint, admin_fingerprint(admin_token)):
            return ADMIN_BOOTSTRAP
        return None
    if token_hash is None or revoked_at is not None:
        return None
    if not secrets.compare_digest(fingerprint, fingerprint_of(token_hash)):
        return None
    return Principal(token_id=token_id, name=name, scope=scope)


def csrf_refusal(request: Request, *, expected: str | None, sent: str | None) -> str | None:
    """Why a state-changing browser request must be refused, or None when it may proceed.

    `expected` is the CSRF token the browser was given (its session's, or the sign-in form's
    cookie), `sent` what the request echoes (form field or header).
    """
    cross_site = _cross_site(request)
    if cross_site is not None:
        return cross_site
    if not expected or not sent or not secrets.compare_digest(sent, expected):
        return CSRF_INVALID
    return None


def _cross_site(request: Request) -> str | None:
    """Sec-Fetch-Site where the browser sends it (proxies cannot confuse it), else Origin.

    A request with neither comes from a client that is not a current browser; the CSRF
    token still has to match.
    """
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        if fetch_site.lower() in _OWN_FETCH_SITES:
            return None
        return f"Cross-site request refused (Sec-Fetch-Site: {fetch_site[:40]})"
    origin = request.headers.get("origin")
    if origin is None or origin.lower() in _own_origins(request):
        return None
    return f"Cross-site request refused (Origin: {origin[:100]})"


def _own_origins(request: Request) -> set[str]:
    scheme = "https" if is_https(request) else "http"
    origins = {f"{scheme}://{request.headers.get('host', '')}".lower()}
    public_url = getattr(request.app.state.settings, "public_url", "")
    if public_url:
        parts = urlsplit(public_url)
        origins.add(f"{parts.scheme}://{parts.netloc}".lower())
    return origins
