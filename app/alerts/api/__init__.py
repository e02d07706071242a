"""The alerts JSON routes."""
