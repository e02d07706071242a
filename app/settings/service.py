"""Key-value settings: the operator's keys through the API, internal `_` keys for the service."""

import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

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


def put_setting(*, session: Session, key: str, value: str) -> Setting:
    """Create or replace an operator setting."""
    _writable(key)
    setting = session.get(Setting, key)
    if setting is None:
        session.add(Setting(key=key, value=value, updated_at=utcnow()))
        try:
            session.commit()
        except IntegrityError:
            session.rollback()  # created concurrently: replace that row instead
        else:
            return get_setting(session=session, key=key)
        setting = get_setting(session=session, key=key)
    setting.value = value
    setting.updated_at = utcnow()
    session.add(setting)
    session.commit()
    return setting


def delete_setting(*, session: Session, key: str) -> None:
    _writable(key)
    session.delete(get_setting(session=session, key=key))
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
