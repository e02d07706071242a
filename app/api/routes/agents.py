"""Routes of the agents area (being built)."""

from fastapi import APIRouter

router = APIRouter()
