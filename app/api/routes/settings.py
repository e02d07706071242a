"""Routes of the settings area (being built)."""

from fastapi import APIRouter

router = APIRouter()
