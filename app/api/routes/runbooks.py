"""Routes of the runbooks area (being built)."""

from fastapi import APIRouter

router = APIRouter()
