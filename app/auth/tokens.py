"""API tokens: create (shown once), verify, list, revoke. Only SHA-256 hashes are stored."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from app.audit.service import Actor, record
from app.core.config import Settings
from app.core.errors import NotFoundError, UnprocessableError
from app.core.scopes import SCOPES
from app.core.timeutil import utcnow
from app.models import ApiToken
from app.models.token import BrowserSession

TOKEN_PREFIX = "prism_"  # noqa: S105  (a marker, not a secret)
# Recording last use on every request would turn each read into a write; a minute is
# precise enough for "when was this token last used".
LAST_USED_RESOLUTION = timedelta(seconds=60)

# Which scopes satisfy a requirement: admin can do everything, operate also reads, the
# others only their own.
_GRANTS: dict[str, frozenset[str]] = {
    "read": frozenset({"read", "operate", "admin"}),
    "ingest": frozenset({"ingest", "admin"}),
    "operate": frozenset({"operate", "admin"}),
    "admin": frozenset({"admin"}),
}


def scopes_granting(required: str) -> list[str]:
    """The token scopes that allow `required` access, in SCOPES order."""
    return [scope for scope in SCOPES if scope in _GRANTS[required]]


@dataclass(frozen=True)
class Principal:
    """Who is calling: a stored token, the bootstrap admin token, or a browser session."""

    token_id: str
    name: str
    scope: str

    def allows(self, required: str) -> bool:
        return self.scope in _GRANTS[required]


ADMIN_BOOTSTRAP = Principal(token_id="admin-env", name="PRISM_ADMIN_TOKEN", scope="admin")  # noqa: S106


def hash_token(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is safe here (no dictionary to attack).
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    *, session: Session, name: str, scope: str, actor: Actor | None = None
) -> tuple[ApiToken, str]:
    """Store a new token; returns the row and the plaintext, which is never stored.

    With an `actor` (every route and command does) the audit row "token.create" commits
    with it; tests and benchmarks arranging tokens pass none.
    """
    name = name.strip()
    if not name:
        raise UnprocessableError("name: must not be empty")
    if scope not in SCOPES:
        raise UnprocessableError(f"scope: must be one of {', '.join(SCOPES)}")
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        id=secrets.token_hex(6),
        name=name[:200],
        scope=scope,
        token_hash=hash_token(plaintext),
        prefix=plaintext[: len(TOKEN_PREFIX) + 4],
        created_at=utcnow(),
    )
    session.add(token)
    if actor is not None:
        record(
            session,
            actor=actor,
            action="token.create",
            target_type="token",
            target_id=token.id,
            summary=f"Created token {token.name} ({scope} scope)",
            detail={"name": token.name, "scope": scope},
        )
    session.commit()
    return token, plaintext


def configured_admin_token(settings: Settings) -> str | None:
    """PRISM_ADMIN_TOKEN's value, or None when it is not set."""
    return settings.admin_token.get_secret_value() if settings.admin_token else None


def bootstrap_principal(plaintext: str, admin_token: str | None) -> Principal | None:
    """ADMIN_BOOTSTRAP when the token is PRISM_ADMIN_TOKEN (no database needed), else None."""
    if admin_token and hmac.compare_digest(plaintext.encode(), admin_token.encode()):
        return ADMIN_BOOTSTRAP
    return None


def authenticate(*, session: Session, plaintext: str, admin_token: str | None) -> Principal | None:
    """The principal a bearer token stands for, or None when it is unknown or revoked."""
    bootstrap = bootstrap_principal(plaintext, admin_token)
    if bootstrap is not None:
        return bootstrap
    # Every request with a stored token runs this: columns, not an ORM entity, and a write
    # only when the recorded last use is older than LAST_USED_RESOLUTION.
    found = session.execute(
        select(
            col(ApiToken.id),
            col(ApiToken.name),
            col(ApiToken.scope),
            col(ApiToken.last_used_at),
        ).where(
            col(ApiToken.token_hash) == hash_token(plaintext), col(ApiToken.revoked_at).is_(None)
        )
    ).first()
    if found is None:
        return None
    token_id, name, scope, last_used_at = found
    now = utcnow()
    if last_used_at is None or now - last_used_at >= LAST_USED_RESOLUTION:
        session.execute(
            update(ApiToken).where(col(ApiToken.id) == token_id).values(last_used_at=now)
        )
        session.commit()
    return Principal(token_id=token_id, name=name, scope=scope)


def list_tokens(*, session: Session) -> list[ApiToken]:
    return list(session.exec(select(ApiToken).order_by(col(ApiToken.created_at).desc())).all())


def get_token(*, session: Session, token_id: str) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFoundError("Token not found")
    return token


def revoke_token(*, session: Session, token_id: str, actor: Actor | None = None) -> ApiToken:
    """Revoke a token and, in the same transaction, end every browser session it signed in
    (and, with an `actor`, write the audit row "token.revoke"). Revoking twice changes
    nothing and is not audited again."""
    token = get_token(session=session, token_id=token_id)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.add(token)
        ended = session.exec(delete(BrowserSession).where(col(BrowserSession.token_id) == token_id))
        if actor is not None:
            record(
                session,
                actor=actor,
                action="token.revoke",
                target_type="token",
                target_id=token.id,
                summary=f"Revoked token {token.name} ({token.scope} scope)",
                detail={
                    "name": token.name,
                    "scope": token.scope,
                    "sessionsEnded": int(ended.rowcount or 0),
                },
            )
        session.commit()
    return token
