"""Routes of the mobile area (being built)."""

from fastapi import APIRouter

router = APIRouter()
