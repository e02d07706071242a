"""Routes of the exports area (being built)."""

from fastapi import APIRouter

router = APIRouter()
