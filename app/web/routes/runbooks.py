"""HTML pages of the runbooks area (being built)."""

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
