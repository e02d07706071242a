"""Apprise URLs (SPEC §11 "Channels"): is a URL one Apprise can send to, and its masked form.

A channel URL often carries a secret (an SMTP password, a Slack or Telegram token in the
path, an API key in the query), so nothing here ever echoes one: reasons name the scheme,
and mask_url() keeps only the scheme and a real host. Which part of a URL is a host depends
on the service: `json://host/...` has one, `slack://T000/B000/XXXX` and
`tgram://bot-token/chat` put tokens where a host would be. Apprise's own URL templates say
which, so the mask follows them.

Apprise logs through the `apprise` logger, and some of its lines quote a URL or a token it
refused; install_log_masking() puts a filter there (and on urllib3's connection log, which
quotes request paths) that rewrites every record before any handler sees it.
"""

import ipaddress
import logging
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote

import apprise
from apprise.manager_plugins import NotificationManager

MASK = "***"
# A scheme as Apprise reads one; anything else is not an Apprise URL at all.
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]{0,31})://(.*)$", re.DOTALL)
# URL-shaped text inside a log line or an error message.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]{0,31}://[^\s'\"<>]+")
_HOST_NAME = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_\-.]{0,251}[A-Za-z0-9_])?$")
_QUERY_KEY = re.compile(r"^[A-Za-z0-9_+\-.]{1,64}$")
_WHITESPACE = re.compile(r"[\s\x00-\x1f\x7f]")
# How plugins quote the value they refused in an error message.
_QUOTED = re.compile(r"\([^()]*\)|\[[^\[\]]*\]|<[^<>]*>|'[^']*'|\"[^\"]*\"")
_VALUE_START = re.compile(r"[:(\[<{'\"\r\n=]")
# Shorter fragments of a URL are not replaced in free text: they would mangle every word.
MIN_SECRET_LENGTH = 3
MAX_REASON = 240

_plugins = NotificationManager()
_plugins_loaded = False
_plugins_lock = threading.Lock()
# The thread importing the plugins: what it logs meanwhile is masked without them (the
# masking filter looking a scheme up would wait for that very import).
_loading_thread: int | None = None


def load_plugins() -> None:
    """Import Apprise's plugins once, before the first URL is read.

    Apprise imports them lazily, on the first lookup of a scheme, and logs while it does:
    the masking filter, looking a scheme up to mask that very line, would wait for the
    import it is part of. Imported here under a lock, with the importing thread known.
    """
    global _plugins_loaded, _loading_thread
    if _plugins_loaded:
        return
    with _plugins_lock:
        if not _plugins_loaded:
            _loading_thread = threading.get_ident()
            try:
                _plugins.load_modules()
            finally:
                _loading_thread = None
            _plugins_loaded = True


def apprise_url_error(url: str) -> str | None:
    """None when Apprise accepts `url`, else a one-line reason that names the scheme only."""
    load_plugins()
    text = url.strip()
    if not text:
        return "must not be empty"
    if _WHITESPACE.search(text):
        return "must be one URL without spaces or control characters (encode them as %20)"
    match = _SCHEME.match(text)
    if match is None:
        return "not an Apprise URL: expected scheme://… (json://, mailto://, slack://, …)"
    scheme = match.group(1).lower()
    try:
        plugin = instantiate(text)
    except Exception as exc:
        detail = scrub_text(_without_values(str(exc)), [text])
        reason = f"{scheme}:// URL is not valid" + (f": {detail}" if detail else "")
        return reason[:MAX_REASON]
    if plugin is not None:
        return None
    if scheme in _plugins:
        if not _plugins[scheme].enabled:
            return f"{scheme}:// is not available on this server (a library it needs is missing)"
        return f"{scheme}:// URL is not valid: check its host, tokens and options"
    return f"unknown scheme {scheme}:// (not an Apprise service)"


def _without_values(message: str) -> str:
    """A plugin's refusal without the values it quotes: "An invalid PushMe Token … was
    specified", "Invalid ~From~ email specified" (the address after the colon dropped)."""
    words = _QUOTED.sub("…", message)
    return _VALUE_START.split(words, maxsplit=1)[0].strip(" .")


def instantiate(url: str, asset: apprise.AppriseAsset | None = None) -> Any:
    """The Apprise plugin for one URL (None when Apprise cannot use it; raises when the
    plugin refuses its values). Never Apprise.add(url): that splits a string on commas."""
    load_plugins()
    install_log_masking()
    return apprise.Apprise.instantiate(url, asset=asset, suppress_exceptions=False)


def schema_of(url: str) -> str | None:
    match = _SCHEME.match(url.strip())
    return match.group(1).lower() if match else None


def mask_url(url: str) -> str:
    """scheme://[***@]host[:port][/***][?key=***&…]: user, password, tokens and query values
    as ***; the host only where the service has one (else *** too). Never raises."""
    match = _SCHEME.match(url.strip())
    if match is None:
        return MASK
    scheme = match.group(1).lower()
    rest = match.group(2)
    before_query, query_mark, query = rest.partition("?")
    before_query = before_query.partition("#")[0]
    authority, path_mark, path = before_query.partition("/")
    userinfo_mark, host_port = "", authority
    if "@" in authority:
        # The last @ ends the userinfo: a password may hold an unencoded @.
        userinfo_mark, _, host_port = authority.rpartition("@")
    address = _host_and_port(host_port)
    kept = address if address is not None and _is_address(scheme, address[0]) else None
    masked = f"{scheme}://"
    if userinfo_mark:
        masked += f"{MASK}@"
    if kept is not None:
        masked += kept[0] + (f":{kept[1]}" if kept[1] else "")
    elif host_port:
        masked += MASK
    if path_mark and path.strip("/"):
        masked += f"/{MASK}"
    if query_mark and query:
        # Keys help an operator read the URL; they are shown only when the URL parsed
        # cleanly (a password with an unencoded ? would otherwise spill into "keys").
        masked += "?" + (_masked_query(query) if address is not None else MASK)
    return masked


def _host_and_port(host_port: str) -> tuple[str, str] | None:
    """(host, port) of an authority without userinfo; None when it is not host[:port]."""
    if host_port.startswith("["):
        inside, bracket, after = host_port[1:].partition("]")
        if not bracket:
            return None
        try:
            ipaddress.IPv6Address(inside)
        except ValueError:
            return None
        port = after.removeprefix(":") if after.startswith(":") else after
        if port and not port.isdigit():
            return None
        return f"[{inside}]", port
    host, _, port = host_port.partition(":")
    if not host or not _HOST_NAME.match(host) or (port and not port.isdigit()):
        return None
    return host, port


def _looks_like_host(host: str) -> bool:
    if host.startswith("[") or host.lower() == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    labels = host.split(".")
    return len(labels) > 1 and all(labels) and not labels[-1].isdigit()


def _is_address(scheme: str, host: str) -> bool:
    """Whether the host slot of a `scheme` URL holds a server address rather than a token."""
    if _loading_thread == threading.get_ident():
        return _looks_like_host(host)
    load_plugins()
    if scheme not in _plugins:
        # A native URL (https://hooks.slack.com/...) or an unknown scheme.
        return _looks_like_host(host)
    templates = [str(template) for template in getattr(_plugins[scheme], "templates", ())]
    with_host = [template for template in templates if "{host}" in template]
    if not with_host:
        return False  # slack://T/B/C, tgram://token/chat: the "host" is a token
    if len(with_host) == len(templates):
        return True
    # Both forms exist (ntfy://topic, ntfy://host/topic): only a real-looking host is kept.
    return _looks_like_host(host)


def _masked_query(query: str) -> str:
    parts = []
    for pair in query.partition("#")[0].split("&"):
        key, equals, _value = pair.partition("=")
        name = unquote(key)
        if equals and _QUERY_KEY.match(name):
            parts.append(f"{key}={MASK}")
        elif pair:
            parts.append(MASK)
    return "&".join(dict.fromkeys(parts))


def secret_fragments(url: str) -> list[str]:
    """The parts of `url` that may be secret (userinfo, path segments, query values, a host
    slot holding a token), raw and unquoted, longest first: replaced in free text."""
    match = _SCHEME.match(url.strip())
    if match is None:
        return [url] if len(url) >= MIN_SECRET_LENGTH else []
    scheme, rest = match.group(1).lower(), match.group(2)
    before_query, _, query = rest.partition("?")
    before_query = before_query.partition("#")[0]
    authority, _, path = before_query.partition("/")
    found: list[str] = []
    userinfo, at, host_port = authority.rpartition("@")
    if at:
        found.append(userinfo)
        found.extend(userinfo.split(":", 1))
    address = _host_and_port(host_port)
    if address is None or not _is_address(scheme, address[0]):
        found.append(host_port)
        found.extend(host_port.split(":"))
    found.extend(path.split("/"))
    found.append(path)
    for pair in query.split("&"):
        found.append(pair.partition("=")[2])
    found.append(query)
    fragments = {piece for raw in found for piece in (raw, unquote(raw)) if piece}
    return sorted(
        (piece for piece in fragments if len(piece) >= MIN_SECRET_LENGTH), key=len, reverse=True
    )


def scrub_text(text: str, urls: Iterable[str] = ()) -> str:
    """Free text with every URL in it masked, and every secret fragment of `urls` as ***."""
    for url in urls:
        text = text.replace(url, mask_url(url))
    text = _URL_IN_TEXT.sub(lambda found: mask_url(found.group(0)), text)
    for url in urls:
        for fragment in secret_fragments(url):
            text = text.replace(fragment, MASK)
    return text


# --- Masking the libraries' own log lines --------------------------------------------------

_sending: dict[str, int] = {}
_sending_lock = threading.Lock()
_installed = False
_install_lock = threading.Lock()
# Apprise logs through one logger; urllib3 logs request lines (path and query) at DEBUG.
MASKED_LOGGERS = ("apprise", "urllib3.connectionpool")


class _MaskingFilter(logging.Filter):
    """Rewrites a record's message with URLs masked and the URLs being sent scrubbed."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: let logging report it as usual
            return True
        with _sending_lock:
            active = list(_sending)
        masked = scrub_text(message, active)
        if masked != message or record.args:
            record.msg = masked
            record.args = None
        return True


def install_log_masking() -> None:
    """Put the masking filter on the libraries' loggers (once per process)."""
    global _installed
    if _installed:
        return
    with _install_lock:
        if not _installed:
            for name in MASKED_LOGGERS:
                logging.getLogger(name).addFilter(_MaskingFilter())
            _installed = True


@contextmanager
def sending(url: str) -> Iterator[None]:
    """While inside, log lines of every library scrub the fragments of `url` too."""
    install_log_masking()
    with _sending_lock:
        _sending[url] = _sending.get(url, 0) + 1
    try:
        yield
    finally:
        with _sending_lock:
            _sending[url] -= 1
            if not _sending[url]:
                del _sending[url]
