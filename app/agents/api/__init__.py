"""JSON routes of the agents: the list, detail and admin CRUD, ingest (heartbeats and
events), the event log."""
