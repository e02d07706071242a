"""Routes of the events area (being built)."""

from fastapi import APIRouter

router = APIRouter()
