"""Reproducible performance measurements with their targets (`python -m benchmarks`)."""
