"""Routes of the metric_tiles area (being built)."""

from fastapi import APIRouter

router = APIRouter()
