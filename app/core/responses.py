"""Shared response documentation so /openapi.json lists every status code a route returns."""

from typing import Any

from pydantic import BaseModel


class ErrorDetail(BaseModel):
    detail: str


class FieldError(BaseModel):
    """One entry of FastAPI's validation list (SPEC Appendix A)."""

    type: str
    loc: list[str | int]
    msg: str
    input: Any = None
    ctx: dict[str, Any] | None = None


class InvalidInput(BaseModel):
    """A 422: FastAPI's list of field errors, or one message naming the field (a domain rule)."""

    detail: list[FieldError] | str


class RateLimited(BaseModel):
    """A 429 (SPEC Appendix A): the problem-details body of the earlier service."""

    type: str
    title: str
    status: int
    detail: str


_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "schema": {"type": "integer", "minimum": 0},
    }
}
_MODELS: dict[int, type[BaseModel]] = {422: InvalidInput, 429: RateLimited}
_HEADERS = {429: _RETRY_AFTER, 503: _RETRY_AFTER}

_DESCRIPTIONS = {
    400: "Invalid input (for a JSON body: one that cannot be decoded)",
    401: "Missing or invalid token",
    403: "The token's scope does not allow this",
    404: "Not found",
    409: "Conflict",
    413: "Payload too large",
    422: "Invalid input: the list of field errors, or one message naming the field",
    429: "Too many requests",
    503: "A dependency is unavailable; retry later",
}


def errors(*codes: int, validation: bool = True) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the given error codes: {"detail": str} bodies but 422 and 429.

    422 is documented too (pass validation=False for a route that takes no input): FastAPI
    would document it by itself, but only with its list body, while domain rules such as
    "until: must be later than since" or a bad cursor answer one string naming the field.
    """
    if validation:
        codes = (*codes, 422)
    documented: dict[int | str, dict[str, Any]] = {}
    for code in sorted(set(codes)):
        entry: dict[str, Any] = {
            "model": _MODELS.get(code, ErrorDetail),
            "description": _DESCRIPTIONS.get(code, "Error"),
        }
        if code in _HEADERS:
            entry["headers"] = _HEADERS[code]
        documented[code] = entry
    return documented


def json_errors(*codes: int, validation: bool = True) -> dict[int | str, dict[str, Any]]:
    """errors() for a route whose success body is not JSON (CSV, text, an event stream).

    Their errors are still JSON: the media type is spelled out, or the document would list
    them under the route's own (text/csv...). The schemas are the components that errors()
    registers on the JSON routes.
    """
    documented: dict[int | str, dict[str, Any]] = {}
    for code, doc in errors(*codes, validation=validation).items():
        model = doc.pop("model")
        schema = {"$ref": f"#/components/schemas/{model.__name__}"}
        documented[code] = {**doc, "content": {"application/json": {"schema": schema}}}
    return documented
