"""Browser sessions: a signed, HttpOnly, SameSite cookie naming the token used to sign in.

The cookie holds the token's id and a fingerprint of its hash, never the token itself. Each
request re-checks the token, so revoking it (or rotating PRISM_ADMIN_TOKEN) ends every
session made with it. A fresh CSRF secret is minted at each sign-in (no session fixation).
"""

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlmodel import Session

from app.models import ApiToken
from app.services.tokens import ADMIN_BOOTSTRAP, Principal

COOKIE_NAME = "prism_session"
MAX_AGE_SECONDS = 12 * 3600


@dataclass(frozen=True)
class WebSession:
    token_id: str
    fingerprint: str
    csrf: str


class SessionCodec:
    """Signs and reads the session cookie with the service's secret key."""

    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="prism-session")

    def issue(self, principal: Principal, fingerprint: str) -> tuple[str, WebSession]:
        web_session = WebSession(principal.token_id, fingerprint, secrets.token_urlsafe(24))
        payload = {"t": web_session.token_id, "f": fingerprint, "c": web_session.csrf}
        return self._serializer.dumps(payload), web_session

    def read(self, cookie: str) -> WebSession | None:
        try:
            payload: Any = self._serializer.loads(cookie, max_age=MAX_AGE_SECONDS)
        except BadSignature:
            return None
        if not isinstance(payload, dict) or not all(
            isinstance(payload.get(key), str) for key in ("t", "f", "c")
        ):
            return None
        return WebSession(payload["t"], payload["f"], payload["c"])


def fingerprint_of(token_hash_or_secret: str) -> str:
    return hashlib.sha256(("session:" + token_hash_or_secret).encode()).hexdigest()[:32]


def admin_fingerprint(admin_token: str) -> str:
    return fingerprint_of(hashlib.sha256(admin_token.encode()).hexdigest())


def principal_for_session(
    web_session: WebSession, *, session: Session, admin_token: str | None
) -> Principal | None:
    """The principal a session still stands for, or None once its token is gone."""
    if web_session.token_id == ADMIN_BOOTSTRAP.token_id:
        if admin_token and secrets.compare_digest(
            web_session.fingerprint, admin_fingerprint(admin_token)
        ):
            return ADMIN_BOOTSTRAP
        return None
    token = session.get(ApiToken, web_session.token_id)
    if token is None or token.revoked_at is not None:
        return None
    if not secrets.compare_digest(web_session.fingerprint, fingerprint_of(token.token_hash)):
        return None
    return Principal(token_id=token.id, name=token.name, scope=token.scope)
