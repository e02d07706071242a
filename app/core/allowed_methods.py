"""OPTIONS, and 405 answers, that name every method of the path asked about.

Starlette tries routes one at a time, and each (method, path) of the API is a route of its
own: a method that no route of a path has got a 405 whose `Allow` listed only the methods
of the first route matching the path (`GET` for `/api/agents/{agent_id}`, which also has
PUT, PATCH and DELETE), and OPTIONS, which no route declares, got that same 405. RFC 9110
says otherwise: OPTIONS asks which methods the target resource supports (a 2xx with
`Allow`, §9.3.7), and a 405's `Allow` lists them all (§15.5.6).

AllowedMethodsMiddleware answers OPTIONS itself (204 with the complete `Allow`, no token
needed, as the 405 it replaces) and completes the `Allow` of every 405. CORS preflights
never reach it: CORSMiddleware, outside it, answers them.
"""

from typing import Any

from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The methods a route can have, in the order `Allow` lists them; OPTIONS is ours.
ROUTE_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(scope: Scope) -> list[str] | None:
    """Every method the path of `scope` has, OPTIONS included; None when no route has the
    path or a mounted app (static files) answers for it."""
    app: Any = scope.get("app")
    routes = getattr(getattr(app, "router", None), "routes", [])
    found = []
    for method in ROUTE_METHODS:
        probe = {**scope, "method": method}
        for route in routes:
            match, _ = route.matches(probe)
            if match is Match.FULL:
                if isinstance(route, Mount):
                    return None  # its own app says which methods it answers
                found.append(method)
                break
    return [*found, "OPTIONS"] if found else None


class AllowedMethodsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            allowed = allowed_methods(scope)
            if allowed is not None:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 204,
                        "headers": [(b"allow", ", ".join(allowed).encode())],
                    }
                )
                await send({"type": "http.response.body", "body": b""})
                return

        async def send_with_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                allowed = allowed_methods(scope)
                if allowed is not None:
                    headers = [
                        (name, value)
                        for name, value in message.get("headers", [])
                        if name.lower() != b"allow"
                    ]
                    headers.append((b"allow", ", ".join(allowed).encode()))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_allow)
