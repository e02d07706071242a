"""Agents: the fleet list and detail, heartbeats, the shown-status rule, status history,
events and the memory series."""
