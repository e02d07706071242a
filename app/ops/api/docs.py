"""/openapi.json, /docs (Swagger UI) and /redoc (Redoc), served from our own origin.

Public by default, as the earlier service had them (the schema is not a secret);
PRISM_DOCS_PUBLIC=false puts all three behind a read token. Both viewers are npm packages
copied to /static/vendor at set-up, and neither page has an inline script.
"""

from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute, iter_route_contexts

from app.auth.deps import Scope, scopes_of
from app.auth.tokens import scopes_granting
from app.core.deps import EngineDep, SettingsDep
from app.core.limits import document_url_rules
from app.core.middleware import CONTENT_SECURITY_POLICY

# Redoc's bundle (pinned in package.json) writes its styles at run time, never by
# 'unsafe-inline': styled-components creates empty <style> elements and fills them through
# the CSSOM (the hash of the empty string), and perfect-scrollbar adds one fixed stylesheet.
# Its search index runs in a web worker started from a blob: URL. Another Redoc version
# may need other hashes: tests/browser/test_docs.py fails on any CSP violation.
REDOC_STYLE_HASHES = (
    "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",
    "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='",
)
_STRICT_STYLES = "style-src 'self'"


def redoc_content_security_policy() -> str:
    """The strict policy, plus the two things Redoc's bundle needs, on its page only."""
    styles = f"{_STRICT_STYLES} {' '.join(REDOC_STYLE_HASHES)}"
    policy = CONTENT_SECURITY_POLICY.replace(_STRICT_STYLES, styles)
    return f"{policy}; worker-src 'self' blob:"


_READ = Scope("read")


async def docs_access(request: Request, engine: EngineDep, settings: SettingsDep) -> None:
    """Public unless PRISM_DOCS_PUBLIC=false, then a read token (or session) is needed."""
    if not settings.docs_public:
        await _READ(request, engine, settings)


router = APIRouter(include_in_schema=False, dependencies=[Depends(docs_access)])

_SWAGGER_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Prism Console API</title>
  <link rel="icon" href="/static/img/prism.svg" type="image/svg+xml">
  <link rel="stylesheet" href="/static/vendor/swagger-ui/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui" data-openapi-url="/openapi.json"></div>
  <script src="/static/vendor/swagger-ui/swagger-ui-bundle.js"></script>
  <script src="/static/js/swagger-init.js"></script>
</body>
</html>
"""

_REDOC_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Prism Console API</title>
  <link rel="icon" href="/static/img/prism.svg" type="image/svg+xml">
</head>
<body>
  <div id="redoc" data-openapi-url="/openapi.json"></div>
  <script src="/static/vendor/redoc/redoc.standalone.js"></script>
  <script src="/static/js/redoc-init.js"></script>
</body>
</html>
"""


@router.get("/openapi.json")
def openapi_document(request: Request) -> dict[str, Any]:
    document: dict[str, Any] = request.app.openapi()
    return document


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui() -> HTMLResponse:
    return HTMLResponse(_SWAGGER_PAGE)


@router.get("/redoc", response_class=HTMLResponse)
def redoc() -> HTMLResponse:
    return HTMLResponse(
        _REDOC_PAGE, headers={"Content-Security-Policy": redoc_content_security_policy()}
    )


def install_url_rules(app: FastAPI) -> None:
    """Make app.openapi() state the rules the middleware enforces on every URL, and the
    scope each operation needs."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        return document_scopes(app, document_url_rules(build()))

    app.openapi = openapi  # type: ignore[method-assign]


# --- Each operation names its scope, read off the route's own Scope dependencies: the
# document cannot drift from what the route enforces.

PUBLIC_LINE = "No token needed."


def required_scope(route: APIRoute) -> str | None:
    """The scope a route needs: of the Scope dependencies it declares, the one the fewest
    token scopes grant (None: a public route)."""
    required = [scope.required for scope in scopes_of(route.dependant)]
    if not required:
        return None
    return min(required, key=lambda scope: len(scopes_granting(scope)))


def scope_line(required: str | None) -> str:
    """The sentence an operation's description ends with."""
    if required is None:
        return PUBLIC_LINE
    granted = [f"`{scope}`" for scope in scopes_granting(required)]
    tokens = granted[0] if len(granted) == 1 else f"{', '.join(granted[:-1])} or {granted[-1]}"
    return f"Scope: `{required}` (a token with {tokens})."


def document_scopes(app: FastAPI, document: dict[str, Any]) -> dict[str, Any]:
    """State each operation's scope in `document` (in place; idempotent)."""
    paths = document.get("paths", {})
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        operations = paths.get(str(context.path), {})
        line = scope_line(required_scope(route))
        for method in (route.methods or set()) - {"HEAD", "OPTIONS"}:
            operation = operations.get(method.lower())
            if not isinstance(operation, dict):
                continue
            description = operation.get("description", "")
            if line not in description:
                operation["description"] = f"{description}\n\n{line}" if description else line
    return document
