"""HTML pages of the agents: the agent list and detail, the event log."""
