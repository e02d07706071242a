"""Secrets never reach the audit log: masking of a row's detail and summary before it is hashed.

Callers pass masked values already (channel URLs through their own masking, no token in
detail); this is the second line: a key that names a secret loses its value, a URL keeps
only its scheme and host, and a console token or a URL password inside any text is cut.
"""

import re
from typing import Any
from urllib.parse import urlsplit

MASK = "***"
# Normalised key (lower case, no "_" or "-") ending in one of these: the value is a secret.
# tokenId, tokenName and the like end otherwise and stay readable.
_SECRET_SUFFIXES = ("token", "password", "passwd", "secret", "cookie", "csrf", "apikey")
_SECRET_PARTS = ("password", "secret", "authorization", "cookie", "csrf", "privatekey")
# Keys whose value is a URL: scheme and host stay, credentials, path and query do not.
_URL_SUFFIXES = ("url", "uri", "dsn")
# Console tokens (prism_ + 43 url-safe characters) anywhere in text.
_CONSOLE_TOKEN = re.compile(r"prism_[A-Za-z0-9_\-]{8,}")
# user:password@ (or a lone user@ token) in a URL written inside some text.
_URL_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://)[^/@\s]+@")
MAX_DEPTH = 8


def is_secret_key(key: str) -> bool:
    normal = key.lower().replace("_", "").replace("-", "")
    return normal.endswith(_SECRET_SUFFIXES) or any(part in normal for part in _SECRET_PARTS)


def _is_url_key(key: str) -> bool:
    return key.lower().replace("_", "").replace("-", "").endswith(_URL_SUFFIXES)


def mask_url(url: str) -> str:
    """scheme://host[:port] kept; user, password, path and query become ***."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        port = parts.port
    except ValueError:
        return MASK
    if not parts.scheme or not host:
        return MASK
    netloc = (f"{MASK}@" if "@" in parts.netloc else "") + host + (f":{port}" if port else "")
    path = f"/{MASK}" if parts.path not in ("", "/") else parts.path
    query = f"?{MASK}" if parts.query else ""
    return f"{parts.scheme}://{netloc}{path}{query}"


def mask_text(text: str) -> str:
    """Free text with console tokens and URL credentials cut out."""
    text = _CONSOLE_TOKEN.sub(f"prism_{MASK}", text)
    return _URL_USERINFO.sub(rf"\g<1>{MASK}@", text)


def mask_value(value: Any, *, key: str | None = None, depth: int = 0) -> Any:
    """A JSON value as the audit log may keep it (see the module docstring)."""
    if key is not None and is_secret_key(key):
        return MASK if value not in (None, "") else value
    if isinstance(value, str):
        if key is not None and _is_url_key(key):
            return mask_url(value)
        return mask_text(value)
    if depth >= MAX_DEPTH:
        return MASK if isinstance(value, dict | list | tuple) else value
    if isinstance(value, dict):
        return {str(k): mask_value(v, key=str(k), depth=depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_value(item, key=key, depth=depth + 1) for item in value]
    return value


def mask_detail(detail: dict[str, Any] | None) -> dict[str, Any] | None:
    if detail is None:
        return None
    masked: dict[str, Any] = mask_value(detail)
    return masked
