"""Routes of the stream area (being built)."""

from fastapi import APIRouter

router = APIRouter()
