"""Channel pages: where notifications go (admin changes them, everyone signed in sees them).

A channel's URL is write-only: no page shows it, only its masked form (scheme and host),
and the edit form leaves the field empty (empty keeps the stored URL). "Send test" sends a
message now and lands back on the list with the outcome; the channel keeps the last error.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from app.alerts import channels
from app.alerts.deps import ClockDep
from app.alerts.pages.common import FormDep, FormErrors, PostedForm, not_found_page, quoted, url
from app.alerts.schemas import ChannelCreate, ChannelPublic, ChannelUpdate
from app.audit.deps import AuditActorDep
from app.auth.deps import WebAdmin, WebRead
from app.core.deps import SessionDep, SettingsDep
from app.core.errors import ConflictError, NotFoundError, UnprocessableError
from app.core.templating import render
from app.models.alerts import Channel

router = APIRouter(include_in_schema=False)

ChannelIdPath = Annotated[str, Path(max_length=128)]
Outcome = Annotated[str, Query(max_length=128)]
CHANNEL_FIELDS = ("id", "name", "url", "enabled")


@router.get("/alerts/channels", response_class=HTMLResponse)
def channels_page(
    request: Request,
    _: WebRead,
    session: SessionDep,
    created: Outcome = "",
    deleted: Outcome = "",
    tested: Outcome = "",
) -> HTMLResponse:
    """Every channel (masked), the outcome of the last action, and the create form (admin)."""
    context = _list_context(session)
    context.update(created=created, deleted=deleted, tested=_tested(session, tested))
    return render(request, "pages/alerts/channels.html", context)


@router.post("/alerts/channels", response_class=HTMLResponse, response_model=None)
def create_channel(
    request: Request,
    _: WebAdmin,
    actor: AuditActorDep,
    session: SessionDep,
    clock: ClockDep,
    form: FormDep,
) -> Response:
    """Create a channel (admin; 422 naming `url` unless Apprise reads it; audited)."""
    errors = FormErrors(CHANNEL_FIELDS)
    body: dict[str, Any] = {
        "name": form.get("name"),
        "url": form.get("url"),
        "enabled": form.has("enabled"),
    }
    if form.get("id"):
        body["id"] = form.get("id")
    try:
        data = ChannelCreate.model_validate(body)
    except ValidationError as exc:
        errors.add_validation(exc)
    else:
        try:
            channel = channels.create_channel(session=session, data=data, actor=actor, now=clock())
        except UnprocessableError as exc:
            errors.add_service(exc)
        except ConflictError as exc:
            errors.add("id", exc.detail)
        else:
            return RedirectResponse(url("/alerts/channels", {"created": channel.id}), 303)
    context = _list_context(session)
    # The URL is never sent back, even mistyped: it may hold a password.
    context.update(values=_posted(form), errors=errors.by_field, form_errors=errors.general)
    return render(request, "pages/alerts/channels.html", context, status_code=422)


@router.get("/alerts/channels/{channel_id}", response_class=HTMLResponse)
def channel_page(
    request: Request,
    channel_id: ChannelIdPath,
    _: WebRead,
    session: SessionDep,
    saved: bool = False,
) -> HTMLResponse:
    """One channel: its facts and, for admins, the edit form (the URL left empty)."""
    channel = _find(session, channel_id)
    if channel is None:
        return _not_found(request, channel_id)
    context = _channel_context(channel)
    context["saved"] = saved
    return render(request, "pages/alerts/channel.html", context)


@router.post("/alerts/channels/{channel_id}", response_class=HTMLResponse, response_model=None)
def update_channel(
    request: Request,
    channel_id: ChannelIdPath,
    _: WebAdmin,
    actor: AuditActorDep,
    session: SessionDep,
    clock: ClockDep,
    form: FormDep,
) -> Response:
    """Change the name, the enabled flag and (when one is typed) the URL; admin, audited."""
    channel = _find(session, channel_id)
    if channel is None:
        return _not_found(request, channel_id)
    errors = FormErrors(CHANNEL_FIELDS)
    body: dict[str, Any] = {"name": form.get("name"), "enabled": form.has("enabled")}
    if form.get("url"):
        body["url"] = form.get("url")
    try:
        data = ChannelUpdate.model_validate(body)
    except ValidationError as exc:
        errors.add_validation(exc)
    else:
        try:
            channels.update_channel(
                session=session, channel_id=channel.id, data=data, actor=actor, now=clock()
            )
        except UnprocessableError as exc:
            errors.add_service(exc)
        else:
            return RedirectResponse(url(_channel_url(channel.id), {"saved": "1"}), 303)
    context = _channel_context(channel)
    context.update(values=_posted(form), errors=errors.by_field, form_errors=errors.general)
    return render(request, "pages/alerts/channel.html", context, status_code=422)


@router.post("/alerts/channels/{channel_id}/test", response_class=HTMLResponse, response_model=None)
def test_channel(
    request: Request,
    channel_id: ChannelIdPath,
    _: WebAdmin,
    actor: AuditActorDep,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> Response:
    """Send a test message now (admin; the route runs in the thread pool, the send blocks
    it, not the event loop); the list shows whether it went and, if not, the masked error."""
    try:
        ok, _error = channels.send_channel_test(
            session=session,
            channel_id=channel_id,
            actor=actor,
            now=clock,
            timeout=settings.notify_timeout_seconds,
        )
    except NotFoundError:
        return _not_found(request, channel_id)
    result = "sent" if ok else "failed"
    return RedirectResponse(url("/alerts/channels", {"tested": f"{result}:{channel_id}"}), 303)


@router.get("/alerts/channels/{channel_id}/delete", response_class=HTMLResponse)
def confirm_delete(
    request: Request, channel_id: ChannelIdPath, _: WebAdmin, session: SessionDep
) -> HTMLResponse:
    channel = _find(session, channel_id)
    if channel is None:
        return _not_found(request, channel_id)
    context = _channel_context(channel)
    context["page_title"] = f"Delete channel {channel.name}?"
    return render(request, "pages/alerts/channel_delete.html", context)


@router.post(
    "/alerts/channels/{channel_id}/delete", response_class=HTMLResponse, response_model=None
)
def delete_channel(
    request: Request,
    channel_id: ChannelIdPath,
    _: WebAdmin,
    actor: AuditActorDep,
    session: SessionDep,
    clock: ClockDep,
) -> Response:
    """Delete the channel (admin, audited); rules naming it lose it in the same change."""
    try:
        channels.delete_channel(session=session, channel_id=channel_id, actor=actor, now=clock())
    except NotFoundError:
        return _not_found(request, channel_id)
    return RedirectResponse(url("/alerts/channels", {"deleted": channel_id}), 303)


def _find(session: Session, channel_id: str) -> Channel | None:
    try:
        return channels.get_channel(session=session, channel_id=channel_id)
    except NotFoundError:
        return None


def _channel_url(channel_id: str) -> str:
    return f"/alerts/channels/{quoted(channel_id)}"


def _not_found(request: Request, channel_id: str) -> HTMLResponse:
    return not_found_page(
        request,
        title="Channel not found",
        what="channel",
        missing_id=channel_id,
        back_url="/alerts/channels",
        back_label="All channels",
    )


def _posted(form: PostedForm) -> dict[str, Any]:
    return {"id": form.get("id"), "name": form.get("name"), "enabled": form.has("enabled")}


def _list_context(session: Session) -> dict[str, Any]:
    rows, _ = channels.list_channels(session=session)
    return {
        "section": "alerts",
        "page_title": "Channels",
        "view": "channels",
        "channels": [channels.channel_public(row) for row in rows],
        "channel_url": _channel_url,
        "values": {"id": "", "name": "", "enabled": True},
        "errors": {},
        "form_errors": [],
        "created": "",
        "deleted": "",
        "tested": None,
    }


def _tested(session: Session, outcome: str) -> dict[str, Any] | None:
    """The test just made ("sent:ID" or "failed:ID"), with the channel as it is now."""
    result, _, channel_id = outcome.partition(":")
    if result not in ("sent", "failed"):
        return None
    channel = _find(session, channel_id)
    if channel is None:
        return None
    return {"ok": result == "sent", "channel": channels.channel_public(channel)}


def _channel_context(channel: Channel) -> dict[str, Any]:
    public: ChannelPublic = channels.channel_public(channel)
    return {
        "section": "alerts",
        "page_title": channel.name,
        "view": "channels",
        "channel": public,
        "channel_url": _channel_url(channel.id),
        "values": {"name": channel.name, "enabled": channel.enabled},
        "errors": {},
        "form_errors": [],
        "saved": False,
    }
