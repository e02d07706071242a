"""Settings pages: the key-value editor and, for admins, API tokens.

Row-level htmx: every setting row is `<tr id="setting-row-KEY">` and every token row
`<tr id="token-row-ID">`; a request aimed at a row (HX-Target) gets that row back in the
mode the URL names (edit form, delete confirmation, saved, deleted). A POST always answers
303 to the URL that shows its outcome, so the same flow works with and without JavaScript:
htmx follows the redirect with its headers and swaps the row it aimed at.
"""

import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from app.audit import queries as audit_queries
from app.audit.deps import AuditActorDep
from app.auth import tokens
from app.auth.deps import LoginRequiredError, WebAdmin, WebRead
from app.auth.tokens import Principal
from app.core.deps import SessionDep
from app.core.errors import NotFoundError, UnprocessableError
from app.core.pagination import decode_cursor, encode_cursor
from app.core.scopes import SCOPES
from app.core.templating import render
from app.core.validators import ID_RULE
from app.models import ApiToken, Setting
from app.models.setting import INTERNAL_PREFIX, MAX_VALUE_LENGTH, SETTING_KEY_PATTERN
from app.settings import service as settings_store

router = APIRouter(include_in_schema=False)

PAGE = "pages/settings/index.html"
ROW = "partials/settings/row.html"
ACCESS_ROW = "partials/settings/token_row.html"
ACCESS_PARTIAL = "partials/settings/tokens.html"
SETTINGS_PER_PAGE = 200
MAX_TOKEN_NAME = 200
_KEY = re.compile(SETTING_KEY_PATTERN)

FormText = Annotated[str, Form()]
TokenId = Annotated[str, Path(max_length=32)]


def setting_row_id(key: str) -> str:
    return f"setting-row-{key}"


def token_row_id(token_id: str) -> str:
    return f"token-row-{token_id}"


def key_error(key: str) -> str | None:
    """Why `key` cannot be a setting key, or None (the API's rules, in words)."""
    if not key:
        return "Enter a key."
    if not _KEY.match(key):
        return f"Use {ID_RULE}."
    if key.startswith(INTERNAL_PREFIX):
        return f"Keys starting with '{INTERNAL_PREFIX}' are reserved for the service."
    return None


def value_error(value: str) -> str | None:
    if len(value) > MAX_VALUE_LENGTH:
        return f"At most {MAX_VALUE_LENGTH:,} characters (this one has {len(value):,})."
    return None


def normalise_value(value: str) -> str:
    # Browsers send textarea line breaks as CRLF: keep the value as the operator typed it.
    return value.replace("\r\n", "\n")


@router.get("/settings", response_class=HTMLResponse)
def settings_page(
    request: Request,
    principal: WebRead,
    session: SessionDep,
    cursor: str | None = None,
    edit: str | None = None,
    show: str | None = None,
    saved: str | None = None,
    deleted: str | None = None,
    revoked: str | None = None,
    show_token: str | None = None,
) -> HTMLResponse:
    """The editor; `edit`, `show`, `saved`, `deleted` (a key), `revoked`, `show_token`
    (a token id) name the row in focus."""
    context = page_context(session, principal, cursor=cursor)
    is_admin = principal.allows("admin")
    if saved:
        _focus_setting(context, session, saved, "view")
        if context["row"] is not None:
            context["flash"] = f"Saved {saved}."
    elif deleted:
        _focus_setting(context, session, deleted, "deleted")
        if context["row"] is None:
            context["flash"] = f"Deleted {deleted}."
    elif edit or show:
        _focus_setting(
            context, session, edit or show or "", "edit" if edit and is_admin else "view"
        )
    if revoked and is_admin:
        _focus_token(context, session, revoked)
        if context["token"] is not None and context["token"].revoked_at is not None:
            context["flash"] = f"Token {context['token'].name} revoked: it no longer works."
    elif show_token and is_admin:
        _focus_token(context, session, show_token)
    return render(request, PAGE, context, partials=partials_for(context))


@router.post("/settings", response_model=None)
def add_setting(
    request: Request,
    principal: WebAdmin,
    actor: AuditActorDep,
    session: SessionDep,
    key: FormText = "",
    value: FormText = "",
) -> Response:
    """Add a key; an existing key is refused (edit it in its row instead)."""
    key, value = key.strip(), normalise_value(value)
    errors = {
        name: message
        for name, message in (("key", key_error(key)), ("value", value_error(value)))
        if message
    }
    if "key" not in errors and _existing(session, key) is not None:
        errors["key"] = "This key exists already: edit it in the table."
    if errors:
        context = page_context(session, principal)
        context.update(add_errors=errors, add_values={"key": key, "value": value})
        return render(request, PAGE, context, status_code=422)
    settings_store.put_setting(session=session, key=key, value=value, actor=actor)
    return RedirectResponse(f"/settings?saved={key}", status_code=303)


@router.post("/settings/{key}", response_model=None)
def save_setting(
    request: Request,
    key: str,
    principal: WebAdmin,
    actor: AuditActorDep,
    session: SessionDep,
    value: FormText = "",
) -> Response:
    """Replace the value of an existing key."""
    setting = _existing(session, key)
    if setting is None:
        return _missing(request, key)
    value = normalise_value(value)
    message = value_error(value)
    if message:
        context = page_context(session, principal)
        _focus_setting(context, session, key, "edit")
        context.update(edit_errors={"value": message}, edit_value=value)
        return render(request, PAGE, context, status_code=422, partials=partials_for(context))
    settings_store.put_setting(session=session, key=key, value=value, actor=actor)
    return RedirectResponse(f"/settings?saved={key}", status_code=303)


@router.get("/settings/{key}/delete", response_class=HTMLResponse)
def confirm_delete(
    request: Request, key: str, _principal: WebAdmin, session: SessionDep
) -> HTMLResponse:
    """The confirmation step (a page without JS; the row itself with htmx)."""
    setting = _existing(session, key)
    if setting is None:
        return _missing(request, key)
    context: dict[str, Any] = {
        "section": "settings",
        "page_title": f"Delete {key}?",
        "row": setting,
        "row_key": key,
        "row_mode": "delete",
    }
    return render(
        request,
        "pages/settings/delete.html",
        context,
        partials={setting_row_id(key): ROW},
    )


@router.post("/settings/{key}/delete", response_model=None)
def delete_setting(
    request: Request, key: str, _principal: WebAdmin, actor: AuditActorDep, session: SessionDep
) -> Response:
    if _existing(session, key) is None:
        return _missing(request, key)
    settings_store.delete_setting(session=session, key=key, actor=actor)
    return RedirectResponse(f"/settings?deleted={key}", status_code=303)


@router.get("/settings/tokens/new", response_model=None)
def tokens_anchor(_user: WebRead) -> RedirectResponse:
    """Where a reloaded or bookmarked token form lands: the tokens section (signed in)."""
    return RedirectResponse("/settings#tokens", status_code=303)


@router.post("/settings/tokens/new", response_class=HTMLResponse)
def create_token(
    request: Request,
    principal: WebAdmin,
    actor: AuditActorDep,
    session: SessionDep,
    name: FormText = "",
    scope: FormText = "",
) -> HTMLResponse:
    """Create a token and show its secret in this response only (never stored, never sent again)."""
    name = name.strip()
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = "Enter a name (who or what will use the token)."
    elif len(name) > MAX_TOKEN_NAME:
        errors["name"] = f"At most {MAX_TOKEN_NAME} characters."
    if scope not in SCOPES:
        errors["scope"] = f"Choose one of: {', '.join(SCOPES)}."
    if errors:
        context = page_context(session, principal)
        context.update(token_errors=errors, token_values={"name": name, "scope": scope})
        return render(request, PAGE, context, status_code=422, partials={"tokens": ACCESS_PARTIAL})
    row, plaintext = tokens.create_token(session=session, name=name, scope=scope, actor=actor)
    context = page_context(session, principal)
    context["new_token"] = {"row": row, "secret": plaintext}
    return render(request, PAGE, context, status_code=201, partials={"tokens": ACCESS_PARTIAL})


@router.get("/settings/tokens/{token_id}/revoke", response_class=HTMLResponse)
def confirm_revoke(
    request: Request, token_id: TokenId, principal: WebAdmin, session: SessionDep
) -> HTMLResponse:
    token = _find_token(session, token_id)
    if token is None:
        return _missing(request, token_id, what="token")
    context: dict[str, Any] = {
        "section": "settings",
        "page_title": f"Revoke {token.name}?",
        "token": token,
        "confirm_revoke": True,
        "own_token_id": principal.token_id,
    }
    return render(
        request,
        "pages/settings/revoke.html",
        context,
        partials={token_row_id(token_id): ACCESS_ROW},
    )


@router.post("/settings/tokens/{token_id}/revoke", response_model=None)
def revoke_token(
    request: Request,
    token_id: TokenId,
    principal: WebAdmin,
    actor: AuditActorDep,
    session: SessionDep,
) -> Response:
    """Revoke a token; revoking the one this session signed in with ends the session."""
    try:
        tokens.revoke_token(session=session, token_id=token_id, actor=actor)
    except NotFoundError:
        return _missing(request, token_id, what="token")
    if token_id == principal.token_id:
        # The session stands for that token: it is over. The login redirect (or HX-Redirect
        # for htmx) is the app's one way out to the sign-in page.
        raise LoginRequiredError("/settings")
    return RedirectResponse(f"/settings?revoked={token_id}", status_code=303)


# --- helpers -------------------------------------------------------------------------------


def page_context(
    session: Session, principal: Principal, *, cursor: str | None = None
) -> dict[str, Any]:
    """Everything the settings page shows: one page of settings and, for admins, tokens."""
    page_error = None
    try:
        after = decode_cursor(cursor) if cursor else None
        rows, last = settings_store.list_settings(
            session=session, limit=SETTINGS_PER_PAGE, after=after
        )
    except UnprocessableError:
        page_error = "That page link is not valid any more: showing the first page."
        cursor = None
        rows, last = settings_store.list_settings(session=session, limit=SETTINGS_PER_PAGE)
    is_admin = principal.allows("admin")
    token_rows = tokens.list_tokens(session=session) if is_admin else []
    return {
        "section": "settings",
        "page_title": "Settings",
        "settings": rows,
        "cursor": cursor,
        "next_url": f"/settings?cursor={encode_cursor(last)}" if last else None,
        "first_url": "/settings" if cursor else None,
        "page_error": page_error,
        "tokens": token_rows,
        # Each token's newest audit rows, on its row (SPEC §12: who did what, at a glance).
        "token_actions": audit_queries.recent_by_token(
            session=session, token_ids=[row.id for row in token_rows]
        ),
        "own_token_id": principal.token_id,
        "flash": None,
        "row": None,
        "row_key": None,
        "row_mode": None,
        "token": None,
        "confirm_revoke": False,
        "new_token": None,
        "add_errors": {},
        "add_values": {"key": "", "value": ""},
        "edit_errors": {},
        "edit_value": None,
        "token_errors": {},
        "token_values": {"name": "", "scope": "read"},
    }


def partials_for(context: dict[str, Any]) -> dict[str, str]:
    """The rows in focus, so an htmx request aimed at one gets that row alone."""
    partials = {"tokens": ACCESS_PARTIAL, "settings-table": "partials/settings/table.html"}
    if context["row_key"]:
        partials[setting_row_id(context["row_key"])] = ROW
    if context["token"] is not None:
        partials[token_row_id(context["token"].id)] = ACCESS_ROW
    return partials


def _focus_setting(context: dict[str, Any], session: Session, key: str, mode: str) -> None:
    """Put one row in focus; a key that is not (or no longer) there shows as gone."""
    if not _KEY.match(key):
        return
    row = _existing(session, key)
    context.update(row=row, row_key=key, row_mode=mode if row is not None else "deleted")


def _find_token(session: Session, token_id: str) -> ApiToken | None:
    try:
        return tokens.get_token(session=session, token_id=token_id)
    except NotFoundError:
        return None


def _focus_token(context: dict[str, Any], session: Session, token_id: str) -> None:
    token = _find_token(session, token_id)
    if token is not None:
        context.update(token=token, confirm_revoke=False)


def _existing(session: Session, key: str) -> Setting | None:
    if not _KEY.match(key) or settings_store.is_internal(key):
        return None
    try:
        return settings_store.get_setting(session=session, key=key)
    except NotFoundError:
        return None


def _missing(request: Request, name: str, *, what: str = "setting") -> HTMLResponse:
    """404 page; a request aimed at the row gets the row saying the setting is gone."""
    context = {
        "section": "settings",
        "page_title": f"No such {what}",
        "name": name,
        "what": what,
        "row": None,
        "row_key": name,
        "row_mode": "gone",
    }
    partials = {setting_row_id(name): ROW} if what == "setting" else None
    return render(
        request, "pages/settings/missing.html", context, status_code=404, partials=partials
    )
