"""JSON routes of operations: probes and /metrics, exports, the API docs."""
