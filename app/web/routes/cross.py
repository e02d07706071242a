"""HTML pages of the cross area (being built)."""

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
