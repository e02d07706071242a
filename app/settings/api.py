"""Operator settings under /api/settings; keys starting with `_` are the service's own."""

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from app.audit.deps import AuditActorDep
from app.auth.deps import AdminPrincipal, AuthFirstRoute, ReadPrincipal
from app.core.deps import PageDep, SessionDep
from app.core.pagination import DEFAULT_LIMIT, encode_cursor
from app.core.responses import errors
from app.core.validators import ID_RULE, SafeId
from app.models.setting import INTERNAL_PREFIX, SettingKey, SettingPage, SettingPublic, SettingWrite
from app.settings import service as settings_store

router = APIRouter(tags=["settings"], route_class=AuthFirstRoute)

# Reading a reserved key is a 404 like any missing key (nothing to probe); writing one is
# refused by the schema, and so by the path's validation.
ReadKey = Annotated[SafeId, Path(description=f"The key: {ID_RULE}.")]
WriteKey = Annotated[
    SettingKey,
    Path(description=f"The key: {ID_RULE}; keys starting with '{INTERNAL_PREFIX}' are reserved."),
]


@router.get(
    "/api/settings",
    response_model=SettingPage,
    responses=errors(401, 403),
    summary="List settings by key",
)
def list_settings(_principal: ReadPrincipal, session: SessionDep, page: PageDep) -> SettingPage:
    rows, last = settings_store.list_settings(
        session=session, limit=page.limit or DEFAULT_LIMIT, after=page.cursor
    )
    return SettingPage(
        items=[SettingPublic.model_validate(row) for row in rows],
        next_cursor=encode_cursor(last) if last else None,
    )


@router.get(
    "/api/settings/{key}",
    response_model=SettingPublic,
    responses=errors(401, 403, 404),
    summary="One setting",
)
def get_setting(key: ReadKey, _principal: ReadPrincipal, session: SessionDep) -> SettingPublic:
    return SettingPublic.model_validate(settings_store.get_setting(session=session, key=key))


@router.put(
    "/api/settings/{key}",
    response_model=SettingPublic,
    responses=errors(400, 401, 403),
    summary="Create or replace a setting",
)
def put_setting(
    key: WriteKey,
    body: SettingWrite,
    _principal: AdminPrincipal,
    actor: AuditActorDep,
    session: SessionDep,
) -> SettingPublic:
    """Audited as `setting.set`."""
    setting = settings_store.put_setting(session=session, key=key, value=body.value, actor=actor)
    return SettingPublic.model_validate(setting)


@router.delete(
    "/api/settings/{key}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(401, 403, 404),
    summary="Delete a setting",
)
def delete_setting(
    key: WriteKey, _principal: AdminPrincipal, actor: AuditActorDep, session: SessionDep
) -> None:
    """Audited as `setting.delete`."""
    settings_store.delete_setting(session=session, key=key, actor=actor)
