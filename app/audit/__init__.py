"""The audit log (SPEC §12): every state-changing action, append-only and hash-chained."""
