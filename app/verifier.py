"""The optional external token verifier (PRISM_AUTH_VERIFY_URL, SPEC §2).

Bearer tokens unknown to the console (not stored, not PRISM_ADMIN_TOKEN) are asked about at
`POST {url}/tokens/verify` with the JSON body `{"token": "<token>"}`. The verifier answers:

- 200 `{"active": true, "scope": "read" | "ingest" | "admin", "name"?: str, "id"?: str}`:
  the token is valid with that scope (`id` names it in logs and rate limits);
- 200 `{"active": false}`, or 401, 403, 404: the token is not valid (the caller gets 401);
  an active token with a scope the console does not know grants nothing either;
- anything else (another status, a body not of this shape), a timeout or a refused
  connection: the verifier is unavailable and the caller gets 503 with Retry-After, never 500.

Answers, valid and not valid, are cached for PRISM_AUTH_VERIFY_CACHE_SECONDS (0: not cached)
with at most PRISM_AUTH_VERIFY_CACHE_SIZE entries, keyed by the token's SHA-256, never the
token. A token revoked at the verifier therefore stops working here within that time.
Failures are not cached. Browser sign-in takes console tokens only: a session cookie never
holds the token, so an external token could not be verified again later.
"""

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import httpx

from app.errors import UnavailableError
from app.models.token import SCOPES
from app.services.tokens import Principal

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

    def __init__(self, url: str, *, timeout: float, cache: TtlCache) -> None:
        self.endpoint = url.rstrip("/") + VERIFY_PATH
        self.timeout = timeout
        self.cache = cache

    def verify(self, token: str) -> Principal | None:
        """The principal the verifier vouches for, None when not valid; UnavailableError else."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        hit, cached = self.cache.get(digest)
        if hit:
            principal: Principal | None = cached
            return principal
        principal = self._ask(token, digest)
        self.cache.put(digest, principal)
        return principal

    def _ask(self, token: str, digest: str) -> Principal | None:
        try:
            response = httpx.post(self.endpoint, json={"token": token}, timeout=self.timeout)
        except httpx.HTTPError as exc:
            logger.warning("token verifier unavailable: %s", type(exc).__name__)
            raise UnavailableError(_UNAVAILABLE) from exc
        if response.status_code in _NOT_VALID_STATUSES:
            return None
        answer = _json_object(response) if response.status_code == 200 else None
        if answer is None or not isinstance(answer.get("active"), bool):
            logger.warning("token verifier answered %s unexpectedly", response.status_code)
            raise UnavailableError(_UNAVAILABLE)
        if not answer["active"]:
            return None
        scope = answer.get("scope")
        if scope not in SCOPES:
            logger.warning("token verifier granted an unknown scope; the token is refused")
            return None
        ext_id = answer.get("id")
        name = answer.get("name")
        return Principal(
            token_id="ext:" + (str(ext_id)[:64] if ext_id else digest[:12]),
            name=str(name)[:200] if name else "external token",
            scope=str(scope),
        )


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
                settings.auth_verify_url, timeout=settings.auth_verify_timeout, cache=cache
            )
            app.state.token_verifier = verifier
    return verifier
