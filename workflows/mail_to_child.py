"""A thread's mail to its running child flow, by local activity (why and how it stays
exactly once: use_cases/forwarding.py; the same retries as a child's reports)."""

from __future__ import annotations

from collections.abc import Sequence

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from activities.signals import SignalActivities
    from use_cases.forwarding import MailForward, forward_request_id
    from use_cases.models import NewMessage

from workflows.messages import NEW_MESSAGES
from workflows.reports import REPORT_RETRY, REPORT_TIMEOUT
from workflows.sending import LOCAL_RETRY_THRESHOLD


class ChildClosed(FailureError):
    """The child flow had no open run when the mail came: it may still have taken it
    before it closed (its last report says: workflows/routing.py)."""


async def forward_mail(child_workflow_id: str, messages: Sequence[NewMessage]) -> None:
    """Raises ChildClosed when no run of the child was open to take the mail."""
    forward = MailForward(
        workflow_id=child_workflow_id,
        signal=NEW_MESSAGES,
        # The same on every attempt and replay of this call: the server applies it once
        request_id=forward_request_id(workflow.uuid4(), messages),
        messages=list(messages),
    )
    outcome = await workflow.execute_local_activity_method(
        SignalActivities.forward_to_flow,
        forward,
        start_to_close_timeout=REPORT_TIMEOUT,
        retry_policy=REPORT_RETRY,
        local_retry_threshold=LOCAL_RETRY_THRESHOLD,
    )
    if not outcome.delivered:
        raise ChildClosed(f"{child_workflow_id} had closed")
