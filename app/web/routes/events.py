"""HTML pages of the events area (being built)."""

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
