"""What every feature uses and nothing feature-specific: config, database, errors,
time, telemetry, middleware, input and rate limits, pagination, caches, templating."""
