"""Key-value settings: the operator's keys through the API, internal `_` keys for the service."""

import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.audit.redact import mask_value
from app.audit.service import Actor, record
from app.core.errors import InvalidCursorError, NotFoundError, UnprocessableError
from app.core.timeutil import utcnow
from app.models import Setting
from app.models.setting import INTERNAL_PREFIX

SETTING_NOT_FOUND = "Setting not found"
SECRET_KEY_SETTING = "_secret_key"  # noqa: S105  (the name of a setting, not a secret)


def is_internal(key: str) -> bool:
    return key.startswith(INTERNAL_PREFIX)


def list_settings(
    *, session: Session, limit: int, after: Sequence[Any] | None = None
) -> tuple[list[Setting], list[Any] | None]:
    """Operator settings by key (internal keys left out); one page and the key to continue."""
    statement = select(Setting).where(
        ~col(Setting.key).startswith(INTERNAL_PREFIX, autoescape=True)
    )
    if after is not None:
        if len(after) != 1 or not isinstance(after[0], str):
            raise InvalidCursorError()
        statement = statement.where(col(Setting.key) > after[0])
    rows = list(session.exec(statement.order_by(col(Setting.key)).limit(limit + 1)).all())
    if len(rows) <= limit:
        return rows, None
    page = rows[:limit]
    return page, [page[-1].key]


def get_setting(*, session: Session, key: str) -> Setting:
    """An operator setting; internal keys are reported missing, so they cannot be probed."""
    setting = None if is_internal(key) else session.get(Setting, key)
    if setting is None:
        raise NotFoundError(SETTING_NOT_FOUND)
    return setting


def put_setting(*, session: Session, key: str, value: str, actor: Actor) -> Setting:
    """Create or replace an operator setting; audited as "setting.set" in its transaction."""
    _writable(key)
    setting = session.get(Setting, key)
    previous = None if setting is None else setting.value
    if setting is None:
        session.add(Setting(key=key, value=value, updated_at=utcnow()))
        try:
            session.flush()
        except IntegrityError:
            session.rollback()  # created concurrently: replace that row instead
        else:
            _audit_set(session, actor, key, value, previous=None)
            session.commit()
            return get_setting(session=session, key=key)
        setting = get_setting(session=session, key=key)
        previous = setting.value
    setting.value = value
    setting.updated_at = utcnow()
    session.add(setting)
    _audit_set(session, actor, key, value, previous=previous)
    session.commit()
    return setting


# How much of a value the audit row keeps (values may hold up to MAX_VALUE_LENGTH).
AUDITED_VALUE_CHARS = 1_000


def _audited(key: str, value: str | None) -> str | None:
    """A value as its audit row shows it: masked under a secret-looking key (smtp.password,
    webhook_url: app/audit/redact.py), shortened when long."""
    if value is None:
        return None
    shown = mask_value(value, key=key)
    text = shown if isinstance(shown, str) else str(shown)
    return text if len(text) <= AUDITED_VALUE_CHARS else text[:AUDITED_VALUE_CHARS] + "…"


def _audit_set(
    session: Session, actor: Actor, key: str, value: str, *, previous: str | None
) -> None:
    record(
        session,
        actor=actor,
        action="setting.set",
        target_type="setting",
        target_id=key,
        summary=f"{'Created' if previous is None else 'Changed'} setting {key}",
        detail={
            "key": key,
            "value": _audited(key, value),
            "previous": _audited(key, previous),
            "created": previous is None,
        },
    )


def delete_setting(*, session: Session, key: str, actor: Actor) -> None:
    """Delete an operator setting; audited as "setting.delete" in its transaction."""
    _writable(key)
    setting = get_setting(session=session, key=key)
    previous = setting.value
    session.delete(setting)
    session.flush()
    record(
        session,
        actor=actor,
        action="setting.delete",
        target_type="setting",
        target_id=key,
        summary=f"Deleted setting {key}",
        detail={"key": key, "previous": _audited(key, previous)},
    )
    session.commit()


def _writable(key: str) -> None:
    if is_internal(key):
        raise UnprocessableError(
            f"key: keys starting with '{INTERNAL_PREFIX}' are reserved for the service"
        )


def get_value(*, session: Session, key: str) -> str | None:
    """The stored value of any key, internal ones included (for the service's own use)."""
    setting = session.get(Setting, key)
    return None if setting is None else setting.value


def get_or_create_secret(*, session: Session, key: str = SECRET_KEY_SETTING) -> str:
    """The secret stored under `key`, generated and committed on first use.

    Replicas starting together may race: the first insert wins and every one of them
    returns the winner's secret, so cookies signed by one replica verify on the others.
    """
    setting = session.get(Setting, key)
    if setting is not None and setting.value:
        return setting.value
    secret = secrets.token_urlsafe(48)
    if setting is None:
        session.add(Setting(key=key, value=secret, updated_at=utcnow()))
    else:
        setting.value, setting.updated_at = secret, utcnow()
        session.add(setting)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        stored = get_value(session=session, key=key)
        if not stored:
            raise
        return stored
    return secret
