"""Availability (SPEC §13): exact uptime of agents and miners from their history."""
