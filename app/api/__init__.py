"""The JSON API: dependencies in deps.py, one router module per area in routes/."""
