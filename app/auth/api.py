"""API tokens (admin): list, create (the secret is shown once), revoke."""

from typing import Annotated

from fastapi import APIRouter, Path, status

from app.audit.deps import AuditActorDep
from app.auth import tokens
from app.auth.deps import AdminPrincipal, AuthFirstRoute
from app.core.deps import SessionDep
from app.core.responses import errors
from app.models.token import TokenCreate, TokenCreated, TokenList, TokenPublic

router = APIRouter(tags=["tokens"], route_class=AuthFirstRoute)

TokenId = Annotated[str, Path(max_length=32, description="The token's id (not the secret).")]


@router.get(
    "/api/tokens",
    response_model=TokenList,
    responses=errors(401, 403, validation=False),
    summary="List tokens, newest first",
)
def list_tokens(_principal: AdminPrincipal, session: SessionDep) -> TokenList:
    """Every token (they are few, so the list is never cut: `nextCursor` is always null)."""
    rows = tokens.list_tokens(session=session)
    return TokenList(items=[TokenPublic.model_validate(row) for row in rows])


@router.post(
    "/api/tokens",
    response_model=TokenCreated,
    status_code=status.HTTP_201_CREATED,
    responses=errors(400, 401, 403),
    summary="Create a token; the answer carries the secret, shown this once",
)
def create_token(
    body: TokenCreate, _principal: AdminPrincipal, actor: AuditActorDep, session: SessionDep
) -> TokenCreated:
    """Audited as `token.create` (never with the secret)."""
    row, plaintext = tokens.create_token(
        session=session, name=body.name, scope=body.scope, actor=actor
    )
    return TokenCreated(**TokenPublic.model_validate(row).model_dump(), token=plaintext)


@router.delete(
    "/api/tokens/{token_id}",
    response_model=TokenPublic,
    responses=errors(401, 403, 404),
    summary="Revoke a token (it stops working at once; revoking twice changes nothing)",
)
def revoke_token(
    token_id: TokenId, _principal: AdminPrincipal, actor: AuditActorDep, session: SessionDep
) -> TokenPublic:
    """The token's browser sessions end with it. Audited as `token.revoke`."""
    revoked = tokens.revoke_token(session=session, token_id=token_id, actor=actor)
    return TokenPublic.model_validate(revoked)
