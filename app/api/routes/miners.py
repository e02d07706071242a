"""Routes of the miners area (being built)."""

from fastapi import APIRouter

router = APIRouter()
