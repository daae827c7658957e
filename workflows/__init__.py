"""Deterministic Temporal workflow code only: no I/O, no clocks, no randomness."""
