"""Routes of the health area (being built)."""

from fastapi import APIRouter

router = APIRouter()
