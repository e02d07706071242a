"""HTML pages of the miners area (being built)."""

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
