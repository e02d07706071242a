"""Health and alerts (SPEC §11): one evaluator judges every agent and miner; incidents,
silences, channels and a reliable outbox tell people who are not looking."""
