"""HTML pages of the agents area (being built)."""

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
