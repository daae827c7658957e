"""Temporal visibility queries (`list_workflows`, `count_workflows`) built from our values."""

from __future__ import annotations


def quoted(value: str) -> str:
    """`value` as a visibility-query string literal: a workflow id or task queue may hold
    quotes or backslashes, which would otherwise end the literal early."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
