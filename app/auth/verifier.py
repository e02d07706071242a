"""The optional external token verifier (PRISM_AUTH_VERIFY_URL, alias PRISM_AUTH_BASE_URL).

Bearer tokens unknown to the console (not stored, not PRISM_ADMIN_TOKEN) are asked about at
`POST {url}/tokens/verify` with the JSON body `{"token": "<token>"}`. The verifier answers:

- any 2xx with a JSON object: the token is valid, as the earlier service read it (SPEC
  appendix A: `{"sub": "u-1", "scope": ["ops"], "exp": 0}`), unless the object says
  `"active": false` or its `exp` (unix seconds; 0 or missing means no expiry) has passed.
  `scope` is one scope, a space-separated string (RFC 7662) or a list; `admin` wins, else
  the first scope the console knows; with none it knows (`ops`) or no scope at all, the
  token gets PRISM_AUTH_VERIFY_DEFAULT_SCOPE (`read`; `none` refuses it). `id`, else `sub`,
  names it in logs and rate limits;
- 401, 403, 404, or an `active` or `exp` that cannot be read: the token is not valid (the
  caller gets 401);
- anything else (another status, a body that is not a JSON object), a timeout or a refused
  connection: the verifier is unavailable and the caller gets 503 with Retry-After, never 500.

Answers, valid and not valid, are cached for PRISM_AUTH_VERIFY_CACHE_SECONDS (0: not cached)
with at most PRISM_AUTH_VERIFY_CACHE_SIZE entries, keyed by the token's SHA-256, never the
token; a cached token stops working at its `exp` all the same. A token revoked at the
verifier therefore stops working here within that time. Failures are not cached. Browser
sign-in takes console tokens only: a session cookie never holds the token, so an external
token could not be verified again later.
"""

import hashlib
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import httpx

from app.auth.tokens import Principal
from app.core.errors import UnavailableError
from app.core.scopes import SCOPES

logger = logging.getLogger("prism.auth")

VERIFY_PATH = "/tokens/verify"
_NOT_VALID_STATUSES = frozenset({401, 403, 404})
_UNAVAILABLE = "Token verifier unavailable; retry shortly"


class TtlCache:
    """A thread-safe dict whose entries expire after `ttl` seconds; at most `max_size` kept."""

    def __init__(
        self, *, ttl: float, max_size: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.max_size = max_size
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> tuple[bool, Any]:
        """(True, value) when `key` is cached and fresh, else (False, None)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return False, None
            expires, value = entry
            if self._clock() >= expires:
                del self._entries[key]
                return False, None
            self._entries.move_to_end(key)
            return True, value

    def put(self, key: str, value: Any) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            self._entries[key] = (self._clock() + self.ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_size:
                self._entries.popitem(last=False)


class TokenVerifier:
    """Asks the external verifier about a token, through the cache."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float,
        cache: TtlCache,
        default_scope: str = "read",
        on_cache_hit: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.endpoint = url.rstrip("/") + VERIFY_PATH
        self.timeout = timeout
        self.cache = cache
        self.default_scope = None if default_scope == "none" else default_scope
        self._on_cache_hit = on_cache_hit
        self._clock = clock  # wall clock: `exp` is unix seconds

    def verify(self, token: str) -> Principal | None:
        """The principal the verifier vouches for, None when not valid; UnavailableError else."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        hit, cached = self.cache.get(digest)
        if hit:
            if self._on_cache_hit is not None:
                self._on_cache_hit()
        else:
            cached = self._ask(token, digest)
            self.cache.put(digest, cached)
        principal: Principal | None = cached[0]
        expires: float | None = cached[1]
        if expires is not None and self._clock() >= expires:
            return None
        return principal

    def _ask(self, token: str, digest: str) -> tuple[Principal | None, float | None]:
        """The verifier's answer as (principal or None, expiry in unix seconds or None)."""
        try:
            response = httpx.post(self.endpoint, json={"token": token}, timeout=self.timeout)
        except httpx.HTTPError as exc:
            logger.warning("token verifier unavailable: %s", type(exc).__name__)
            raise UnavailableError(_UNAVAILABLE) from exc
        if response.status_code in _NOT_VALID_STATUSES:
            return None, None
        answer = _json_object(response) if response.is_success else None
        if answer is None:
            logger.warning("token verifier answered %s unexpectedly", response.status_code)
            raise UnavailableError(_UNAVAILABLE)
        active = answer.get("active", True)
        if active is not True:
            if active is not False:
                logger.warning("token verifier answered an unreadable 'active'; token refused")
            return None, None
        try:
            expires = _expiry(answer.get("exp"))
        except ValueError:
            logger.warning("token verifier answered an unreadable 'exp'; token refused")
            return None, None
        scope = _granted_scope(answer.get("scope")) or self.default_scope
        if scope is None:
            logger.warning("token verifier granted no scope the console knows; token refused")
            return None, None
        ext_id = answer.get("id") or answer.get("sub")
        name = answer.get("name") or answer.get("sub")
        principal = Principal(
            token_id="ext:" + (str(ext_id)[:64] if ext_id else digest[:12]),
            name=str(name)[:200] if name else "external token",
            scope=scope,
        )
        return principal, expires


def _expiry(exp: Any) -> float | None:
    """`exp` as unix seconds, None for no expiry (0 or missing); ValueError when unreadable."""
    if isinstance(exp, bool) or not (exp is None or isinstance(exp, int | float)):
        raise ValueError("exp is not a number")
    if not exp:
        return None
    if not math.isfinite(exp) or exp < 0:
        raise ValueError("exp is not a time")
    return float(exp)


def _granted_scope(scope: Any) -> str | None:
    """The console scope named by a verifier's `scope`: admin, then operate, else the first
    known (operate includes read, so it wins over read)."""
    if isinstance(scope, str):
        names = scope.split()
    elif isinstance(scope, list):
        names = [name for name in scope if isinstance(name, str)]
    else:
        names = []
    known = [name for name in names if name in SCOPES]
    for widest in ("admin", "operate"):
        if widest in known:
            return widest
    return known[0] if known else None


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


_create_lock = threading.Lock()


def app_verifier(app: Any) -> TokenVerifier | None:
    """The app's verifier, created on first use; None when PRISM_AUTH_VERIFY_URL is unset."""
    verifier: TokenVerifier | None = getattr(app.state, "token_verifier", None)
    if verifier is not None:
        return verifier
    settings = app.state.settings
    if not settings.auth_verify_url:
        return None
    with _create_lock:
        verifier = getattr(app.state, "token_verifier", None)
        if verifier is None:
            cache = TtlCache(
                ttl=settings.auth_verify_cache_seconds, max_size=settings.auth_verify_cache_size
            )
            verifier = TokenVerifier(
                settings.auth_verify_url,
                timeout=settings.auth_verify_timeout,
                cache=cache,
                default_scope=settings.auth_verify_default_scope,
                on_cache_hit=app.state.metrics.auth_cache_hits.inc,
            )
            app.state.token_verifier = verifier
    return verifier
