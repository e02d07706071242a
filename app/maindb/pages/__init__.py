"""Cross-service pages over the main API database (read-only)."""
