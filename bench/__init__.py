"""Benchmarks: `python -m bench` runs them all; each prints one JSON line last.

Every benchmark starts its own embedded Temporal server (SQLite on disk, WAL, as `mailroom up`
does) in a temporary data dir on free ports, and the mailroom parts as subprocesses.
"""
