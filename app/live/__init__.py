"""Live updates: the in-process broadcaster, the PostgreSQL fan-out between replicas, and
server-sent events."""
