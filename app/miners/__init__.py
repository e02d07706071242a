"""Miners: sample ingest, the newest-sample queries, derived values, tiles, rollups,
series and the chart summaries."""
