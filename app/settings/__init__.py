"""Operator settings: the key-value store, its API and the editor page."""
