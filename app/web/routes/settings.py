"""HTML pages of the settings area (being built)."""

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
