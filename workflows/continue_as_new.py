"""When a long-lived workflow continues-as-new: one rule for threads and flows."""

from __future__ import annotations

from temporalio import workflow


def should_continue_as_new(handled_this_run: int, per_run: int) -> bool:
    """After `per_run` messages in this run, or when the server suggests it (history size
    or event count near its limits): well before Temporal's 10 000-signal / 51 200-event
    hard limits."""
    return handled_this_run >= per_run or workflow.info().is_continue_as_new_suggested()
