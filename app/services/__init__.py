"""Use cases as plain functions taking a keyword-only session; no FastAPI imports here."""
