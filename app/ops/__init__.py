"""Operations: probes and /metrics, backup, retention, exports, demo seed, the scheduler
and the schema migrations."""
