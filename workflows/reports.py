"""A child flow's progress to its thread, by local activity (why: activities/signals.py)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.signals import SignalActivities
    from use_cases.flows import ProgressReport
    from use_cases.models import FlowProgress

from workflows.sending import LOCAL_RETRY_THRESHOLD

REPORT_TIMEOUT = timedelta(seconds=10)
# No attempt limit: what no retry changes comes back as "not delivered" (see
# adapters/outbound/temporal_signals.py), the rest fails only while the server is away or
# overloaded, and the report must arrive when it is back. Retries that back off past
# LOCAL_RETRY_THRESHOLD wait on a server timer instead of holding the workflow task.
REPORT_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)


async def report_progress(thread_workflow_id: str, signal: str, progress: FlowProgress) -> bool:
    """True when the thread's open run took `progress`."""
    report = ProgressReport(
        workflow_id=thread_workflow_id,
        signal=signal,
        # The same on every attempt and replay of this call, new for every call (the
        # workflow's seeded random); the server keeps it for the thread run's lifetime.
        request_id=str(workflow.uuid4()),
        progress=progress,
    )
    outcome = await workflow.execute_local_activity_method(
        SignalActivities.report_to_thread,
        report,
        start_to_close_timeout=REPORT_TIMEOUT,
        retry_policy=REPORT_RETRY,
        local_retry_threshold=LOCAL_RETRY_THRESHOLD,
    )
    return outcome.delivered


# What a report carries besides where the flow rests: the stages on the way there and their
# count, and who sends it.
_PASSAGE = {"history", "seq", "reporter"}


def repeats_rest(progress: FlowProgress, told: FlowProgress) -> bool:
    """`progress` rests where `told` rested (the same last stage and note) and changes
    nothing else the thread keeps: stage, facts, approval, answered, failures, tokens."""
    same_rest = _rest(progress) == _rest(told)
    return same_rest and progress.model_dump(exclude=_PASSAGE) == told.model_dump(exclude=_PASSAGE)


def _rest(progress: FlowProgress) -> tuple[str, str] | None:
    last = progress.history[-1] if progress.history else None
    return (last.stage, last.note) if last else None
