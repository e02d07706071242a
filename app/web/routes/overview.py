"""HTML pages of the overview area (being built)."""

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
