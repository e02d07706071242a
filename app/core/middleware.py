"""Pure ASGI middleware (no BaseHTTPMiddleware: it would buffer the live streams).

RequestContextMiddleware gives every response, errors and 429s included, a request id and
the security headers, turns an unhandled exception into a JSON 500 that still carries them,
turns RateLimitedError into the compatible 429, and records one log line and the HTTP
metrics per request, labelled by route template.

It also works out, once per request, who the client is and whether it came over HTTPS:
X-Forwarded-For and X-Forwarded-Proto are believed only when the direct peer is one of
PRISM_TRUSTED_PROXIES; anyone else could write them. Routes read the result with
`client_ip(request)` and `is_https(request)`.
"""

import ipaddress
import json
import logging
import re
import time
import uuid
from collections.abc import Iterable
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.ratelimit import RateLimitedError, rate_limited_response
from app.core.telemetry import Metrics

logger = logging.getLogger("prism.access")

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


class ListedOriginsCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, except that an origin not on the list gets no CORS header at all.

    Starlette adds Access-Control-Allow-Credentials (and its preflight headers) to answers
    for any Origin; here only the configured origins see them. Every answer still says
    `Vary: Origin`, so a cache never hands one origin's answer to another.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_headers = Headers(scope=scope)
        origin = request_headers.get("origin")
        if origin is None or self.is_allowed_origin(origin):
            await super().__call__(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and "access-control-request-method" in request_headers:
            refusal = PlainTextResponse(
                "Disallowed CORS origin", status_code=400, headers={"Vary": "Origin"}
            )
            await refusal(scope, receive, send)
            return

        async def send_with_vary(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Vary"] = ", ".join([*headers.getlist("Vary"), "Origin"])
            await send(message)

        await self.app(scope, receive, send_with_vary)


def route_template(scope: Scope) -> str:
    """The matched route's path template, never the raw path (bounded label cardinality)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    if scope.get("app_root_path") is not None and scope.get("path", "").startswith("/static/"):
        return "/static"
    return "unmatched"


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_trusted_proxies(entries: Iterable[str]) -> list[Network]:
    """IPs and CIDRs as networks; ValueError naming the first entry that is neither."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"PRISM_TRUSTED_PROXIES: {entry!r} is not an IP address or CIDR"
            ) from None
    return networks


def client_ip(request: Request) -> str:
    """The real client's address (see the module docstring); 'unknown' without a peer."""
    found = getattr(request.state, "client_ip", None)
    if isinstance(found, str):
        return found
    return request.client.host if request.client else "unknown"


def is_https(request: Request) -> bool:
    """Whether the client reached us over HTTPS, directly or through a trusted proxy."""
    found = getattr(request.state, "https", None)
    if isinstance(found, bool):
        return found
    return request.url.scheme == "https"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        # Read from the app's settings at the first request (main.py passes only metrics).
        self._trusted: list[Network] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        client, https = self._client_and_scheme(scope)
        state = scope.setdefault("state", {})
        state.update(request_id=request_id, client_ip=client, https=https)
        started = time.perf_counter()
        status_holder: dict[str, Any] = {"status": 500, "started": False}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = True
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except RateLimitedError as exc:
            if status_holder["started"]:
                raise
            await rate_limited_response(exc.retry_after)(scope, receive, send_with_headers)
        except Exception:
            logger.exception("unhandled error", extra={"request_id": request_id})
            if status_holder["started"]:
                raise
            body = json.dumps({"detail": "Internal Server Error"}).encode()
            await send_with_headers(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
        finally:
            elapsed = time.perf_counter() - started
            self._record(scope, status_holder["status"], elapsed, request_id, client)

    def _record(
        self, scope: Scope, status: int, elapsed: float, request_id: str, client: str
    ) -> None:
        # The route template, never the raw path or query string: they may carry secrets.
        route = route_template(scope)
        method = scope.get("method", "GET")
        self.metrics.http_requests.labels(method=method, route=route, status=str(status)).inc()
        self.metrics.http_duration.labels(method=method, route=route).observe(elapsed)
        logger.info(
            "%s %s %s %.1fms request_id=%s client=%s",
            method,
            route,
            status,
            elapsed * 1000,
            request_id,
            client,
            extra={
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": round(elapsed * 1000, 1),
                "request_id": request_id,
                "client": client,
            },
        )

    def _client_and_scheme(self, scope: Scope) -> tuple[str, bool]:
        peer_host = scope["client"][0] if scope.get("client") else None
        https = scope.get("scheme") == "https"
        if peer_host is None:
            return "unknown", https
        peer = _address(peer_host)
        trusted = self._trusted_proxies(scope)
        if peer is None or not _within(peer, trusted):
            return peer_host, https
        headers = _joined_headers(scope, b"x-forwarded-for", b"x-forwarded-proto")
        client = _forwarded_client(peer, headers[b"x-forwarded-for"], trusted)
        # The nearest proxy's value is the last one; earlier ones came from further away.
        proto = headers[b"x-forwarded-proto"].split(",")[-1].strip().lower()
        return client, https or proto == "https"

    def _trusted_proxies(self, scope: Scope) -> list[Network]:
        if self._trusted is None:
            app = scope.get("app")
            settings = getattr(getattr(app, "state", None), "settings", None)
            entries = getattr(settings, "trusted_proxies", None) or []
            try:
                self._trusted = parse_trusted_proxies(entries)
            except ValueError as exc:
                logger.error("%s; no proxy is trusted", exc)
                self._trusted = []
        return self._trusted


def _forwarded_client(peer: Address, forwarded_for: str, trusted: list[Network]) -> str:
    """The first address, from the right, that is not one of our proxies."""
    client = peer
    for hop in reversed([part.strip() for part in forwarded_for.split(",") if part.strip()]):
        address = _address(hop)
        if address is None:
            break  # garbage written by someone before our proxies: stop believing
        client = address
        if not _within(address, trusted):
            break
    return str(client)


def _address(text: str) -> Address | None:
    """An IP from a peer or X-Forwarded-For entry (a port or IPv6 brackets are dropped)."""
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; compare them as IPv4.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _within(address: Address, networks: list[Network]) -> bool:
    return any(address in network for network in networks)


def _joined_headers(scope: Scope, *names: bytes) -> dict[bytes, str]:
    """Each named header's values joined with commas (repeated headers are one list)."""
    found: dict[bytes, list[str]] = {name: [] for name in names}
    for name, value in scope.get("headers", []):
        if name in found:
            found[name].append(value.decode("latin-1"))
    return {name: ",".join(values) for name, values in found.items()}


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate = value.decode("latin-1").strip()
            if _VALID_REQUEST_ID.match(candidate):
                return candidate
            break
    return str(uuid.uuid4())
