"""Routes of the tokens area (being built)."""

from fastapi import APIRouter

router = APIRouter()
