"""Where the service's non-Python files live (next to the app package in a checkout or image)."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
STATIC_DIR = PROJECT_ROOT / "static"
TEMPLATES_DIR = PROJECT_ROOT / "templates"
