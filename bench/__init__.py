"""Benchmarks: each bench_*.py module has run(), which prints its figures and baseline."""
