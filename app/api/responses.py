"""Shared response documentation so /openapi.json lists every status code a route returns."""

from typing import Any

from pydantic import BaseModel


class ErrorDetail(BaseModel):
    detail: str


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the given error codes, each with the {"detail": str} body."""
    descriptions = {
        400: "Invalid input",
        401: "Missing or invalid token",
        403: "The token's scope does not allow this",
        404: "Not found",
        409: "Conflict",
        413: "Payload too large",
        429: "Too many requests",
        503: "A dependency is unavailable; retry later",
    }
    return {
        code: {"model": ErrorDetail, "description": descriptions.get(code, "Error")}
        for code in codes
    }


AUTH_ERRORS = errors(401, 403)
